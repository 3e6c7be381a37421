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

// The pool's protocol. A job is (task function, task count, generation); the caller publishes it
// under mu_ and runs tasks itself too. Every claim of a task index goes through one atomic word,
// ticket_ = (generation & 0xffffffff) << 32 | next unclaimed index, and is a compare-exchange of
// that word from a value whose generation is the claimant's and whose index is below its task
// count, to the same value plus one. Why that suffices:
//  * exactly once: an index is claimed by the one compare-exchange that moves the word past it,
//    and the word only moves forward within a job; the next job starts it again at index 0
//    with another generation;
//  * never stale: a thread holds (function, count, generation) read together under mu_. A claim
//    succeeds only while the word still carries that generation and an unclaimed index, i.e.
//    while the job is live (a job ends only after all its indices were claimed and their tasks
//    counted done), so the function it then calls is still the caller's. A thread that read a
//    job and was descheduled until after that job ended sees another generation in the word
//    and claims nothing: it can neither take nor consume an index of the next job. (The pool
//    at 89a0767 claimed by fetch_add and checked the generation afterwards: a late worker's
//    increment consumed index 0 of the next job without running it, and that job never ended.)
//  * every claimed task is counted: done_ is added to under mu_ by the thread that ran the tasks,
//    before the job can end (it cannot end without them), and the caller waits for
//    done_ == tasks_ under the same mutex, so no count is lost or attributed to another job;
//  * no lost wake-up: workers sleep on wake_ with the predicate generation_ != seen and the
//    caller on finished_ with done_ == tasks_, both read under mu_ and changed under mu_.
// Generations repeat their low 32 bits only after 2^32 jobs: a thread would have to stay
// descheduled between reading a job and its first claim for four billion jobs.
// The spinning (workers for the next job, the caller for the last tasks) only shortens waits:
// every decision is taken on the state under mu_ or by the compare-exchange.
class ThreadPool {
 public:
  static ThreadPool& instance() {
    static ThreadPool pool(static_cast<int>(cpu_threads()) - 1);
    return pool;
  }
  // Runs task(0..tasks-1) on the workers and the calling thread; false (nothing run) when the
  // pool is busy with another caller, this is a nested call, or tasks is outside
  // [1, 2^32): the caller then runs serially.
  bool run(int64_t tasks, const std::function<void(int64_t)>& task) {
    if (in_task() || workers_.empty() || tasks < 1 || tasks > kMaxTasks) return false;
    std::unique_lock<std::mutex> owner(owner_, std::try_to_lock);
    if (!owner.owns_lock()) return false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      task_ = &task;
      tasks_ = tasks;
      done_ = 0;
      ++generation_;
      ticket_.store((generation_ & 0xffffffffu) << 32, std::memory_order_relaxed);
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
  // Claims and runs tasks of the current job until none is left (see the protocol above).
  void work() {
    const bool was = in_task();
    in_task() = true;
    int64_t ran = 0;
    const std::function<void(int64_t)>* task;
    uint64_t tasks, tag;
    {
      std::lock_guard<std::mutex> lock(mu_);
      task = task_;
      tasks = static_cast<uint64_t>(tasks_);
      tag = (generation_ & 0xffffffffu) << 32;
    }
    if (task) {
      uint64_t v = ticket_.load(std::memory_order_relaxed);
      for (;;) {
        if ((v & ~uint64_t(0xffffffffu)) != tag || (v & 0xffffffffu) >= tasks) break;
        // Acquire pairs with the caller's release of mu_ after publishing: the claimant sees
        // the job's inputs as the caller left them. On failure v is reloaded and re-checked.
        if (ticket_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel,
                                          std::memory_order_relaxed)) {
          (*task)(static_cast<int64_t>(v & 0xffffffffu));
          ++ran;
          v = ticket_.load(std::memory_order_relaxed);
        }
      }
    }
    in_task() = was;
    if (ran == 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    done_ += ran;  // still this thread's job: it cannot end before these tasks are counted
    done_atomic_.store(done_, std::memory_order_release);
    if (done_ == tasks_) finished_.notify_all();
  }
  static void spin_pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  static constexpr int kSpin = 10000;  // ~0.5 ms of pause instructions
  static constexpr int64_t kMaxTasks = 0xffffffffLL;  // the ticket's index field

  std::mutex owner_;  // one caller at a time
  std::mutex mu_;
  std::condition_variable wake_, finished_;
  std::vector<std::thread> workers_;
  const std::function<void(int64_t)>* task_ = nullptr;
  int64_t tasks_ = 0, done_ = 0;
  std::atomic<uint64_t> ticket_{0};  // generation << 32 | next unclaimed task
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
