#pragma once
// Deterministic multi-threading for the CPU backend: [0, n) is cut into one contiguous chunk
// per thread and every index is processed by exactly one thread, in order, so a loop whose
// iterations write disjoint outputs gives bit-identical results with any number of threads.
// (Reductions across iterations must stay inside one iteration: split over the output, e.g.
// over channels for a per-channel sum, never over the terms of one sum.)
//
// One owner of all CPU threads: a persistent pool of cpu_threads() - 1 workers (started on
// first use) plus the calling thread. OpenBLAS is set to one thread (layers/conv.cpp) and its
// GEMMs are split over this pool, so the two never oversubscribe the cores or spin against
// each other. A parallel_for inside a task, or while another thread is using the pool, runs
// serially on its caller (no deadlock, no oversubscription).
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace cgan::cpu {

// Threads the CPU backend uses: $CGAN_NUM_THREADS when set (> 0), else the cores this process
// may run on (its affinity mask, so `taskset -c 0` means one).
inline int64_t cpu_threads() {
  static const int64_t n = [] {
    if (const char* e = std::getenv("CGAN_NUM_THREADS"); e && std::atoi(e) > 0)
      return int64_t(std::atoi(e));
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max<int64_t>(1, CPU_COUNT(&set));
    return std::max<int64_t>(1, std::thread::hardware_concurrency());
  }();
  return n;
}

class ThreadPool {
 public:
  static ThreadPool& instance() {
    static ThreadPool pool(static_cast<int>(cpu_threads()) - 1);
    return pool;
  }
  // Runs task(0..tasks-1) on the workers and the calling thread; false (nothing run) when the
  // pool is busy with another caller or this is a nested call: the caller then runs serially.
  bool run(int64_t tasks, const std::function<void(int64_t)>& task) {
    if (in_task() || workers_.empty()) return false;
    std::unique_lock<std::mutex> owner(owner_, std::try_to_lock);
    if (!owner.owns_lock()) return false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      task_ = &task;
      tasks_ = tasks;
      done_ = 0;
      ++generation_;
      ticket_.store((generation_ & 0xffffffffu) << 32);
      done_atomic_.store(0, std::memory_order_relaxed);
      published_.store(generation_, std::memory_order_release);
    }
    wake_.notify_all();  // no system call when every worker is still spinning
    work();
    // The other tasks usually end within microseconds: spin a little before sleeping.
    for (int i = 0; i < kSpin && done_atomic_.load(std::memory_order_acquire) != tasks; ++i)
      spin_pause();
    std::unique_lock<std::mutex> lock(mu_);
    finished_.wait(lock, [&] { return done_ == tasks_; });
    task_ = nullptr;
    return true;
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      stopping_.store(true);
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
  }

 private:
  explicit ThreadPool(int workers) {
    for (int i = 0; i < workers; ++i)
      workers_.emplace_back([this] {
        in_task() = true;  // everything a worker runs is inside the pool
        uint64_t seen = 0;
        for (;;) {
          // Parallel loops come in quick succession (a training step runs thousands): spin
          // ~0.5 ms for the next before sleeping on the condition variable, whose wake-up
          // (a futex system call on each side) costs tens of microseconds in a VM.
          for (int s = 0; s < kSpin && published_.load(std::memory_order_acquire) == seen &&
                          !stopping_.load(std::memory_order_relaxed);
               ++s)
            spin_pause();
          {
            std::unique_lock<std::mutex> lock(mu_);
            wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
            if (stop_) return;
            seen = generation_;
          }
          work();
        }
      });
  }
  static bool& in_task() {
    thread_local bool flag = false;
    return flag;
  }
  // Takes tasks until none is left.
  void work() {
    const bool was = in_task();
    in_task() = true;
    int64_t ran = 0;
    const std::function<void(int64_t)>* task;
    int64_t tasks;
    uint64_t gen;
    {
      std::lock_guard<std::mutex> lock(mu_);
      task = task_;
      tasks = tasks_;
      gen = generation_;
    }
    // A ticket carries its job's generation, so a worker that read a job late can never take
    // a task index of the next job (whose function it does not hold).
    while (task) {
      const uint64_t v = ticket_.fetch_add(1);
      const int64_t t = static_cast<int64_t>(v & 0xffffffffu);
      if ((v >> 32) != (gen & 0xffffffffu) || t >= tasks) break;
      (*task)(t);
      ++ran;
    }
    in_task() = was;
    if (ran == 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    done_ += ran;  // gen is still the current job: it cannot finish without these tasks
    done_atomic_.store(done_, std::memory_order_release);
    if (done_ == tasks_) finished_.notify_all();
  }
  static void spin_pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  static constexpr int kSpin = 10000;  // ~0.5 ms of pause instructions

  std::mutex owner_;  // one caller at a time
  std::mutex mu_;
  std::condition_variable wake_, finished_;
  std::vector<std::thread> workers_;
  const std::function<void(int64_t)>* task_ = nullptr;
  int64_t tasks_ = 0, done_ = 0;
  std::atomic<uint64_t> ticket_{0};  // generation << 32 | next task
  uint64_t generation_ = 0;
  bool stop_ = false;
  // Lock-free mirrors of generation_ / done_ / stop_ for the spinning waits.
  std::atomic<uint64_t> published_{0};
  std::atomic<int64_t> done_atomic_{0};
  std::atomic<bool> stopping_{false};
};

// Calls fn(begin, end) on disjoint ranges covering [0, n), in parallel when worthwhile.
// `work_per_item` is the rough number of scalar operations per index: loops below about
// 2^16 operations per thread run on the calling thread. fn must not throw.
template <class Fn>
void parallel_for(int64_t n, int64_t work_per_item, Fn&& fn) {
  constexpr int64_t kMinWorkPerThread = int64_t(1) << 16;
  const int64_t threads = std::min(
      {cpu_threads(), n, std::max<int64_t>(1, n * work_per_item / kMinWorkPerThread)});
  if (threads > 1) {
    const std::function<void(int64_t)> chunk = [&](int64_t t) {
      fn(n * t / threads, n * (t + 1) / threads);
    };
    if (ThreadPool::instance().run(threads, chunk)) return;
  }
  if (n > 0) fn(int64_t(0), n);
}

}  // namespace cgan::cpu
