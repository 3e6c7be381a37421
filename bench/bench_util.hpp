#pragma once
// Shared helpers of the bench_* programs (header-only; from .cpp and .cu alike):
//   median()            the middle of a sample (upper middle for an even count)
//   host_median_ms()    wall-clock median of a callable that synchronizes itself
//   seconds_per_call()  repeat a callable until a minimum time has passed
//   EventTimer          cudaEvent median on a stream, with an optional per-run preamble
//   L2Flush             a buffer twice the L2 size, written before a run for a cold cache
//   CopyBandwidth       GB/s of a device-to-device cudaMemcpy of a given size
//   JsonLine            one JSON object per line, with printf-style number precision
//   print_op_breakdown  an OpProfile as a '#' table and JSON lines (ms and % per category)
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cgan/context.hpp"
#include "cgan/profile.hpp"
#include "cuda_check.hpp"

namespace cgan::bench {

template <typename T>
T median(std::vector<T> v) {
  if (v.empty()) return T{};
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// fn must finish its work before returning (synchronize inside it).
inline double host_median_ms(const std::function<void()>& fn, int warmup, int runs) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                     .count());
  }
  return median(ms);
}

// Repeats fn until at least min_s seconds have passed (after one warm-up call); seconds per call.
template <typename F>
double seconds_per_call(F&& fn, double min_s = 0.5) {
  fn();
  int reps = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double s = 0;
  do {
    fn();
    ++reps;
    s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } while (s < min_s);
  return s / reps;
}

// Median of cudaEvent times of fn on `stream`; `before` (if set) runs before each timed run,
// outside the events (a cache flush).
class EventTimer {
 public:
  explicit EventTimer(cudaStream_t stream) : stream_(stream) {
    CGAN_CUDA_CHECK(cudaEventCreate(&start_));
    CGAN_CUDA_CHECK(cudaEventCreate(&stop_));
  }
  ~EventTimer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;

  double median_ms(const std::function<void()>& fn, int warmup = 3, int runs = 20,
                   const std::function<void(int run)>& before = nullptr) {
    for (int i = 0; i < warmup; ++i) fn();
    std::vector<float> t;
    for (int i = 0; i < runs; ++i) {
      if (before) before(i);
      CGAN_CUDA_CHECK(cudaEventRecord(start_, stream_));
      fn();
      CGAN_CUDA_CHECK(cudaEventRecord(stop_, stream_));
      CGAN_CUDA_CHECK(cudaEventSynchronize(stop_));
      float ms = 0;
      CGAN_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
      t.push_back(ms);
    }
    return median(t);
  }

 private:
  cudaStream_t stream_;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

// Writing max(2 x L2, 64 MiB) evicts whatever the previous run left in the L2 cache.
class L2Flush {
 public:
  L2Flush() {
    int dev = 0, l2 = 0;
    CGAN_CUDA_CHECK(cudaGetDevice(&dev));
    CGAN_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dev));
    bytes_ = std::max<size_t>(size_t(l2) * 2, 64u << 20);
    CGAN_CUDA_CHECK(cudaMalloc(&buf_, bytes_));
  }
  ~L2Flush() { cudaFree(buf_); }
  L2Flush(const L2Flush&) = delete;
  L2Flush& operator=(const L2Flush&) = delete;
  void flush(cudaStream_t s, int run) {
    CGAN_CUDA_CHECK(cudaMemsetAsync(buf_, run & 0xff, bytes_, s));
  }

 private:
  void* buf_ = nullptr;
  size_t bytes_ = 0;
};

// GB/s of a D2D cudaMemcpy that moves `bytes` in total (bytes/2 read, bytes/2 written), timed
// by `time_ms` (the caller's method, so the reference is measured like the op).
class CopyBandwidth {
 public:
  CopyBandwidth() = default;
  ~CopyBandwidth() {
    cudaFree(src_);
    cudaFree(dst_);
  }
  CopyBandwidth(const CopyBandwidth&) = delete;
  CopyBandwidth& operator=(const CopyBandwidth&) = delete;

  double gbps(double bytes, cudaStream_t s,
              const std::function<double(const std::function<void()>&)>& time_ms) {
    const size_t half = static_cast<size_t>(bytes / 2);
    if (half > bytes_) {
      cudaFree(src_);
      cudaFree(dst_);
      src_ = dst_ = nullptr;
      bytes_ = 0;
      CGAN_CUDA_CHECK(cudaMalloc(&src_, half));
      CGAN_CUDA_CHECK(cudaMalloc(&dst_, half));
      bytes_ = half;
    }
    const double ms = time_ms([&] {
      CGAN_CUDA_CHECK(cudaMemcpyAsync(dst_, src_, half, cudaMemcpyDeviceToDevice, s));
    });
    return 2.0 * half / (ms * 1e6);
  }

 private:
  void* src_ = nullptr;
  void* dst_ = nullptr;
  size_t bytes_ = 0;
};

// {"key":value,...} built field by field; numbers with a fixed number of decimals (the
// printf "%.Nf" the benchmarks always used).
class JsonLine {
 public:
  JsonLine& str(const char* key, const std::string& v) {
    field(key);
    text_ += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') text_ += '\\';
      text_ += c;
    }
    text_ += '"';
    return *this;
  }
  JsonLine& num(const char* key, double v, int decimals) {
    field(key);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    text_ += buf;
    return *this;
  }
  JsonLine& integer(const char* key, long long v) {
    field(key);
    text_ += std::to_string(v);
    return *this;
  }
  JsonLine& boolean(const char* key, bool v) {
    field(key);
    text_ += v ? "true" : "false";
    return *this;
  }
  // A nested object: fields until the matching close() go inside it.
  JsonLine& object(const char* key) {
    field(key);
    text_ += '{';
    first_ = true;
    return *this;
  }
  JsonLine& close() {
    text_ += '}';
    first_ = false;
    return *this;
  }
  std::string text() const { return text_ + "}"; }
  // The line on stdout, flushed (a long run shows its progress).
  void print() const {
    std::printf("%s\n", text().c_str());
    std::fflush(stdout);
  }

 private:
  void field(const char* key) {
    if (!first_) text_ += ',';
    first_ = false;
    text_ += '"';
    text_ += key;
    text_ += "\":";
  }
  std::string text_ = "{";
  bool first_ = true;
};

// The profiler's totals divided by `steps` (runs: training steps, inferences), as a table
// ('#' lines) and JSON lines:
//   {"bench":"<bench>_ops",<fields>,"category":..,"group":..,"ms":..,"pct":..,"calls":..}
// per category, then one {"bench":"<bench>_op_groups",<fields>,"step_ms":..,"conv_ms":..,
// "kernels_ms":..,"data_ms":..,"unattributed_ms":..} line. `step_ms`: the measured wall time
// of one profiled run, the 100% of the percentages; unattributed = step_ms - the categories
// (host overhead, allocation, launch gaps, unprofiled work). `fields`: a function adding the
// measurement's identifying fields (device, shape, ...) to each JSON line.
inline void print_op_breakdown(OpProfile& prof, int steps, double step_ms,
                               const std::string& bench, const std::string& title,
                               const std::function<void(JsonLine&)>& fields) {
  std::vector<OpStat> stats = prof.stats();
  const double n = std::max(steps, 1);
  std::stable_sort(stats.begin(), stats.end(), [](const OpStat& a, const OpStat& b) {
    const std::string ga = op_group(a.name), gb = op_group(b.name);
    return ga != gb ? ga < gb : a.ms > b.ms;
  });
  std::map<std::string, double> group_ms;
  double sum = 0;
  for (const OpStat& s : stats) {
    group_ms[op_group(s.name)] += s.ms / n;
    sum += s.ms / n;
  }
  const double unattributed = step_ms - sum;
  auto pct = [&](double ms) { return step_ms > 0 ? 100.0 * ms / step_ms : 0.0; };

  std::printf("# op breakdown: %s (mean of %d runs, %.2f ms per run)\n", title.c_str(), steps,
              step_ms);
  std::printf("# %-8s %-16s %10s %7s %10s\n", "group", "category", "ms/run", "%", "calls/run");
  for (const OpStat& s : stats)
    std::printf("# %-8s %-16s %10.3f %6.1f%% %10.1f\n", op_group(s.name), s.name.c_str(),
                s.ms / n, pct(s.ms / n), double(s.calls) / n);
  for (const char* g : {"conv", "kernels", "data"})
    std::printf("# %-8s %-16s %10.3f %6.1f%%\n", g, "(total)", group_ms[g], pct(group_ms[g]));
  std::printf("# %-8s %-16s %10.3f %6.1f%%\n", "other", "(unattributed)", unattributed,
              pct(unattributed));

  for (const OpStat& s : stats) {
    JsonLine j;
    j.str("bench", bench + "_ops");
    if (fields) fields(j);
    j.str("category", s.name)
        .str("group", op_group(s.name))
        .num("ms", s.ms / n, 4)
        .num("pct", pct(s.ms / n), 2)
        .num("calls", double(s.calls) / n, 1)
        .print();
  }
  JsonLine j;
  j.str("bench", bench + "_op_groups");
  if (fields) fields(j);
  j.num("step_ms", step_ms, 3)
      .num("conv_ms", group_ms["conv"], 3)
      .num("kernels_ms", group_ms["kernels"], 3)
      .num("data_ms", group_ms["data"], 3)
      .num("unattributed_ms", unattributed, 3)
      .print();
}

}  // namespace cgan::bench
