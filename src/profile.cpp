#include "cgan/profile.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "cuda_check.hpp"

namespace cgan {

namespace {
using SteadyClock = std::chrono::steady_clock;
// Events in the pool before begin() resolves (and so synchronizes) by itself: 4096 ops.
constexpr size_t kMaxEvents = 8192;

bool starts_with(const std::string& s, const char* prefix) {
  return s.compare(0, std::strlen(prefix), prefix) == 0;
}
}  // namespace

const char* op_group(const std::string& category) {
  if (starts_with(category, "conv.")) return "conv";
  if (starts_with(category, "data.") || starts_with(category, "copy.") ||
      category == "preprocess" || category == "smooth")
    return "data";
  return "kernels";
}

struct OpProfile::Impl {
  struct Cat {
    const char* key;  // the pointer first seen, for a fast lookup
    OpStat stat;
  };
  std::vector<Cat> cats;

  // The outermost open scope (inner ones only count depth).
  int depth = 0;
  int open_cat = -1;
  bool open_on_device = false;
  SteadyClock::time_point t0;
  size_t open_event = 0;
  cudaStream_t open_stream = nullptr;

  // Device timings: events [2k, 2k+1] bracket one scope; `used` of them are in flight.
  std::vector<cudaEvent_t> events;
  size_t used = 0;
  int device = -1;
  struct Pending {
    int cat;
    size_t first_event;
  };
  std::vector<Pending> pending;

  int find(const char* key) {
    for (size_t i = 0; i < cats.size(); ++i)
      if (cats[i].key == key) return static_cast<int>(i);
    for (size_t i = 0; i < cats.size(); ++i)
      if (cats[i].stat.name == key) return static_cast<int>(i);
    cats.push_back({key, OpStat{key, 0, 0}});
    return static_cast<int>(cats.size()) - 1;
  }

  void add(int cat, double ms) {
    cats[static_cast<size_t>(cat)].stat.ms += ms;
    ++cats[static_cast<size_t>(cat)].stat.calls;
  }
};

OpProfile::OpProfile() : impl_(std::make_unique<Impl>()) {}

OpProfile::~OpProfile() {
  for (cudaEvent_t e : impl_->events) cudaEventDestroy(e);
}

void OpProfile::begin(Context& ctx, const char* category, Clock clock) {
  Impl& I = *impl_;
  if (I.depth > 0) {
    ++I.depth;
    return;
  }
  CGAN_CHECK(category != nullptr, "OpProfile::begin: null category");
  const int cat = I.find(category);
  if (I.pending.size() == I.pending.capacity())  // end() must not allocate
    I.pending.reserve(std::max<size_t>(64, 2 * I.pending.capacity()));
  if (clock == Clock::Device && ctx.is_cuda()) {
    CGAN_CHECK(I.device < 0 || I.device == ctx.device().index,
               "OpProfile: one profiler per device (events are on cuda:"
                   << I.device << ", the context is on " << ctx.device().str() << ")");
    if (I.used + 2 > I.events.size()) {
      if (I.events.size() >= kMaxEvents) {
        resolve();
      } else {
        CGAN_CUDA_CHECK(cudaSetDevice(ctx.device().index));
        for (int k = 0; k < 2; ++k) {
          cudaEvent_t e = nullptr;
          CGAN_CUDA_CHECK(cudaEventCreate(&e));
          I.events.push_back(e);
        }
      }
    }
    I.device = ctx.device().index;
    const auto stream = static_cast<cudaStream_t>(ctx.stream());
    CGAN_CUDA_CHECK(cudaEventRecord(I.events[I.used], stream));
    I.open_event = I.used;
    I.used += 2;
    I.open_stream = stream;
    I.open_on_device = true;
  } else {
    I.open_on_device = false;
    I.t0 = SteadyClock::now();
  }
  I.open_cat = cat;
  I.depth = 1;
}

void OpProfile::end() noexcept {
  Impl& I = *impl_;
  if (I.depth == 0 || --I.depth > 0) return;
  if (!I.open_on_device) {
    I.add(I.open_cat,
          std::chrono::duration<double, std::milli>(SteadyClock::now() - I.t0).count());
    return;
  }
  if (cudaEventRecord(I.events[I.open_event + 1], I.open_stream) == cudaSuccess)
    I.pending.push_back({I.open_cat, I.open_event});  // capacity reserved by begin()
  else
    (void)cudaGetLastError();  // the op's own error (if any) is reported by the op
}

void OpProfile::resolve() {
  Impl& I = *impl_;
  CGAN_CHECK(I.depth == 0, "OpProfile::resolve inside an open ProfileScope");
  // The pool is free again afterwards even if a query below throws.
  struct Release {
    Impl& impl;
    ~Release() {
      impl.pending.clear();
      impl.used = 0;
    }
  } release{I};
  for (const Impl::Pending& p : I.pending) {
    // Each end event: scopes may have run on different streams (several contexts).
    CGAN_CUDA_CHECK(cudaEventSynchronize(I.events[p.first_event + 1]));
    float ms = 0;
    CGAN_CUDA_CHECK(
        cudaEventElapsedTime(&ms, I.events[p.first_event], I.events[p.first_event + 1]));
    I.add(p.cat, ms);
  }
}

std::vector<OpStat> OpProfile::stats() {
  resolve();
  std::vector<OpStat> out;
  for (const Impl::Cat& c : impl_->cats) out.push_back(c.stat);
  return out;
}

double OpProfile::total_ms() {
  resolve();
  double s = 0;
  for (const Impl::Cat& c : impl_->cats) s += c.stat.ms;
  return s;
}

void OpProfile::reset() {
  Impl& I = *impl_;
  CGAN_CHECK(I.depth == 0, "OpProfile::reset inside an open ProfileScope");
  I.pending.clear();
  I.used = 0;
  I.cats.clear();
}

}  // namespace cgan
