// Stress test of the CPU thread pool (kernels/cpu_parallel.hpp): several caller threads issue
// jobs of random task counts and random task lengths to a pool with 4x as many threads as this
// process has cores, and every task index of every job must run exactly once, while that job is
// live. Oversubscription is what widens the pool's races (a worker descheduled between reading a
// job and claiming a task index); the pool at 89a0767 lost a task index that way and hung in
// well under a second here. A watchdog turns a hang into a failure with a message after 10 s.
//
// CGAN_POOL_STRESS_SECONDS sets the duration (default 24 s, about 30 s with start-up in CI).
// CGAN_NUM_THREADS, if set by the caller, is kept (to stress another thread count).
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/test_util.hpp"
#include "kernels/cpu_parallel.hpp"

namespace {

int process_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

double stress_seconds() {
  const char* e = std::getenv("CGAN_POOL_STRESS_SECONDS");
  return e && std::atof(e) > 0 ? std::atof(e) : 24.0;
}

// Collects failures from any thread (Catch2's assertions are not thread-safe).
struct Failures {
  std::mutex mu;
  std::vector<std::string> messages;
  std::atomic<int64_t> count{0};
  void add(const std::string& m) {
    if (count.fetch_add(1) < 20) {
      std::lock_guard<std::mutex> lock(mu);
      messages.push_back(m);
    }
  }
};

// Busy work of a random length, sometimes giving up the core mid-task: a task that is
// descheduled while it runs is what lets other workers race ahead into the next job.
void busy(uint32_t len, bool yield) {
  volatile uint32_t sink = 0;
  for (uint32_t i = 0; i < len; ++i) sink = sink + i;
  if (yield) std::this_thread::yield();
}

// One caller's persistent job state. The task function checks that the job it is called for is
// the one this caller has live: a stale worker running an index of an ended job is caught,
// not only lost or repeated indices.
struct Caller {
  std::atomic<uint64_t> live_job{0};
  std::vector<std::atomic<int>> counts;
  std::vector<uint32_t> lengths;
  Caller() : counts(4096), lengths(4096) {}
};

class Watchdog {
 public:
  Watchdog(std::atomic<int64_t>& progress, double limit_s) : progress_(progress) {
    thread_ = std::thread([this, limit_s] {
      int64_t last = -1;
      auto since = std::chrono::steady_clock::now();
      while (!stop_.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        const int64_t now_progress = progress_.load();
        const auto now = std::chrono::steady_clock::now();
        if (now_progress != last) {
          last = now_progress;
          since = now;
        } else if (std::chrono::duration<double>(now - since).count() > limit_s) {
          std::fprintf(stderr,
                       "FAILED: thread pool made no progress for %.0f s after %lld completed jobs "
                       "(a lost task index or a lost wake-up: a job never finishes)\n",
                       limit_s, static_cast<long long>(now_progress));
          std::fflush(stderr);
          std::_Exit(1);  // a hung pool cannot be unwound; ctest sees a failure, not a timeout
        }
      }
    });
  }
  ~Watchdog() {
    stop_.store(true);
    thread_.join();
  }

 private:
  std::atomic<int64_t>& progress_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct StressResult {
  int64_t jobs = 0, pool_jobs = 0, serial_jobs = 0, tasks = 0;
  std::vector<std::string> failures;
  int64_t failure_count = 0;
};

// `callers` threads issue jobs until `seconds` have passed. back_to_back: short empty jobs of
// about the pool's size, one after another (what the CPU backend's layers do: a late worker
// meets the next job); otherwise random task counts (1..1024) and lengths (0..~50 us).
StressResult stress(int callers_n, double seconds, bool back_to_back, int64_t threads) {
  using cgan::cpu::ThreadPool;
  std::atomic<int64_t> progress{0}, pool_jobs{0}, serial_jobs{0}, tasks_run{0};
  Failures failures;
  std::vector<std::unique_ptr<Caller>> callers;
  for (int c = 0; c < callers_n; ++c) callers.push_back(std::make_unique<Caller>());
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  {
    Watchdog watchdog(progress, 10.0);
    std::vector<std::thread> threads_v;
    for (int c = 0; c < callers_n; ++c) {
      threads_v.emplace_back([&, c] {
        Caller& me = *callers[c];
        std::mt19937_64 rng(0x5eed + 977 * c + (back_to_back ? 1 : 0));
        uint64_t job = 0;
        while (std::chrono::steady_clock::now() < deadline && failures.count.load() == 0) {
          ++job;
          const uint64_t id = (uint64_t(c + 1) << 48) | job;
          const int mode = back_to_back ? 1 : static_cast<int>(rng() % 4);
          const int64_t tasks = mode == 0   ? 1 + int64_t(rng() % 3)
                                : mode == 1 ? 1 + int64_t(rng() % (2 * threads))
                                : mode == 2 ? 1 + int64_t(rng() % 64)
                                            : 1 + int64_t(rng() % 1024);
          // At most ~0.1 ms of work per job: thousands of jobs a second, as in a training step.
          const uint32_t max_len_choice[4] = {0u, 50u, 500u, 20000u};
          const uint32_t max_len =
              back_to_back ? 0u
                           : std::min<uint32_t>(max_len_choice[rng() % 4], uint32_t(200000 / tasks));
          for (int64_t t = 0; t < tasks; ++t) {
            me.counts[t].store(0, std::memory_order_relaxed);
            me.lengths[t] = max_len ? static_cast<uint32_t>(rng() % (max_len + 1)) : 0u;
          }
          const bool yields = !back_to_back && rng() % 8 == 0;
          me.live_job.store(id, std::memory_order_release);
          const std::function<void(int64_t)> task = [&me, id, tasks, yields, &failures,
                                                     &tasks_run](int64_t t) {
            if (me.live_job.load(std::memory_order_acquire) != id || t < 0 || t >= tasks) {
              std::ostringstream m;
              m << "task " << t << " of job " << std::hex << id << " ran while job "
                << me.live_job.load() << " was live (stale or out-of-range task)";
              failures.add(m.str());
              return;
            }
            busy(me.lengths[t], yields && (t % 3 == 0));
            me.counts[t].fetch_add(1, std::memory_order_relaxed);
            tasks_run.fetch_add(1, std::memory_order_relaxed);
          };
          if (back_to_back || (mode == 3 && rng() % 2 == 0)) {
            // The public entry point: chunks of [0, tasks) through parallel_for.
            cgan::cpu::parallel_for(tasks, 1 << 20, [&](int64_t b, int64_t e) {
              for (int64_t t = b; t < e; ++t) task(t);
            });
            ++pool_jobs;
          } else if (ThreadPool::instance().run(tasks, task)) {
            ++pool_jobs;
          } else {  // another caller holds the pool: run serially, as parallel_for does
            for (int64_t t = 0; t < tasks; ++t) task(t);
            ++serial_jobs;
          }
          me.live_job.store(0, std::memory_order_release);
          for (int64_t t = 0; t < tasks; ++t) {
            const int n = me.counts[t].load(std::memory_order_relaxed);
            if (n != 1) {
              std::ostringstream m;
              m << "job " << std::hex << id << std::dec << " (" << tasks << " tasks): task " << t
                << " ran " << n << " times";
              failures.add(m.str());
              break;
            }
          }
          ++progress;
        }
      });
    }
    for (std::thread& t : threads_v) t.join();
  }
  StressResult r;
  r.jobs = progress.load();
  r.pool_jobs = pool_jobs.load();
  r.serial_jobs = serial_jobs.load();
  r.tasks = tasks_run.load();
  r.failures = failures.messages;
  r.failure_count = failures.count.load();
  return r;
}

}  // namespace

TEST_CASE("thread pool: every task runs exactly once with 4x threads per core and 3 callers",
          "[pool]") {
  const int cores = process_cores();
  if (!std::getenv("CGAN_NUM_THREADS"))
    setenv("CGAN_NUM_THREADS", std::to_string(4 * cores).c_str(), 1);
  const int64_t threads = cgan::cpu::cpu_threads();  // fixed from here on
  INFO("cores " << cores << ", pool threads " << threads);
  REQUIRE(threads >= 2);
  const double seconds = stress_seconds();

  struct Phase {
    const char* name;
    int callers;
    bool back_to_back;
    double share;
  };
  for (const Phase& p : {Phase{"one caller, back-to-back short jobs", 1, true, 1.0 / 3},
                         Phase{"3 callers, random jobs", 3, false, 2.0 / 3}}) {
    const StressResult r = stress(p.callers, seconds * p.share, p.back_to_back, threads);
    INFO(p.name << ": " << r.jobs << " jobs (" << r.pool_jobs << " on the pool, "
                << r.serial_jobs << " serial while the pool was busy), " << r.tasks
                << " tasks");
    for (const std::string& m : r.failures) UNSCOPED_INFO(m);
    CHECK(r.failure_count == 0);
    CHECK(r.pool_jobs >= 100);  // the pool was exercised, not only the serial fallback
    std::printf("thread pool stress, %s: %lld jobs (%lld on the pool), %lld tasks, %lld threads\n",
                p.name, static_cast<long long>(r.jobs), static_cast<long long>(r.pool_jobs),
                static_cast<long long>(r.tasks), static_cast<long long>(threads));
  }
}
