#pragma once
// Deterministic multi-threading for the CPU references: [0, n) is cut into one contiguous
// chunk per core and every index is processed by exactly one thread, in order, so a loop whose
// iterations write disjoint outputs gives bit-identical results with any number of threads.
// (Reductions across iterations must stay inside one iteration: split over the output, e.g.
// over channels for a per-channel sum, never over the terms of one sum.)
#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <cstdint>
#include <thread>
#include <vector>

namespace cgan::cpu {

// Calls fn(begin, end) on disjoint ranges covering [0, n), in parallel when worthwhile.
// `work_per_item` is the rough number of scalar operations per index: loops below about
// 2^18 operations per thread run on the calling thread, as starting a thread costs tens of
// microseconds. fn must not throw.
// Threads the CPU backend uses: $CGAN_NUM_THREADS when set (> 0), else the cores this process
// may run on (its affinity mask, so `taskset -c 0` means one).
inline int64_t cpu_threads() {
  static const int64_t n = [] {
    if (const char* e = std::getenv("CGAN_NUM_THREADS"); e && std::atoi(e) > 0) return int64_t(std::atoi(e));
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max<int64_t>(1, CPU_COUNT(&set));
    return std::max<int64_t>(1, std::thread::hardware_concurrency());
  }();
  return n;
}

template <class Fn>
void parallel_for(int64_t n, int64_t work_per_item, Fn&& fn) {
  constexpr int64_t kMinWorkPerThread = int64_t(1) << 18;
  const int64_t cores = cpu_threads();
  const int64_t threads =
      std::min({cores, n, std::max<int64_t>(1, n * work_per_item / kMinWorkPerThread)});
  if (threads <= 1) {
    if (n > 0) fn(int64_t(0), n);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(threads - 1));
  for (int64_t t = 1; t < threads; ++t)
    pool.emplace_back([&fn, n, t, threads] { fn(n * t / threads, n * (t + 1) / threads); });
  fn(int64_t(0), n / threads);
  for (std::thread& th : pool) th.join();
}

}  // namespace cgan::cpu
