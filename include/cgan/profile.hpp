#pragma once
// Opt-in per-op profiler: where a step's time goes, by op category.
//
//   OpProfile prof;
//   ctx.profiler = &prof;          // nullptr (the default): nothing is measured
//   ... forward / backward / Adam ...
//   prof.resolve();                // end of the step: waits for the recorded events
//   for (const OpStat& s : prof.stats()) ...
//
// The library's op dispatch functions open a ProfileScope named after their category
// ("conv.fwd", "norm.bwd", "adam", ...; the list below). With no profiler attached a scope is
// one branch and nothing else. With one attached:
//   CPU context:  the scope's wall time (std::chrono::steady_clock).
//   CUDA context: a pair of pooled cudaEvents recorded on ctx.stream() around the op, no
//                 synchronization; resolve() waits for the last event and adds the elapsed
//                 times. Host-clock scopes (Clock::Host: waiting for the data loader) use the
//                 wall clock on both.
// Scopes nest: only the outermost open scope is timed, so categories never count the same
// time twice (a D2H copy inside "loss" is loss time). The gap between the sum of the
// categories and the step's wall time is host overhead, allocation, launch latency and
// unprofiled work.
//
// One profiler per context (or several contexts on one device), used from one thread; it
// must outlive its attachment (set ctx.profiler = nullptr before destroying it). Do not keep
// it attached while capturing a CUDA graph on the context's stream (the events would be
// captured too).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cgan/context.hpp"

namespace cgan {

// Categories the library records (see src/ops/*.cpp, layers/conv.cpp, optim/adam.cpp,
// src/tensor.cpp, src/smooth.cpp, src/train/trainer.cpp):
//   conv.fwd conv.bwd_data conv.bwd_filter   convolutions incl. their bias (cuDNN / CPU GEMM)
//   norm.fwd norm.bwd                         instance norm (fused activation / residual)
//   act.fwd act.bwd                           relu / leaky relu / tanh
//   pad.fwd pad.bwd                           reflection / zero padding
//   pool.fwd pool.bwd                         2x2 max pooling
//   elementwise                               add / axpy / scale (gradient accumulation)
//   bias                                      standalone bias add / bias gradient
//   affine3                                   per-channel affine on 3 channels (VGG input)
//   loss                                      LSGAN MSE, L1 (value + gradient)
//   adam                                      optimizer steps
//   fill                                      Tensor::fill (zeroing gradients)
//   smooth                                    edge smoothing of a batch
//   preprocess                                uint8 pixels <-> float tensors
//   copy.h2d copy.d2h copy.d2d copy.host      Tensor::copy_from / to / to_vector (host: memcpy)
//   data.wait                                 waiting for the data loader (host clock)
struct OpStat {
  std::string name;
  double ms = 0;      // total over all resolved calls
  int64_t calls = 0;  // outermost scopes resolved
};

// The breakdown group of a category: "conv" (conv.*), "data" (data.*, copy.*, preprocess,
// smooth) or "kernels" (everything else: our own kernels and Adam).
const char* op_group(const std::string& category);

class OpProfile {
 public:
  enum class Clock { Device, Host };

  OpProfile();
  ~OpProfile();
  OpProfile(const OpProfile&) = delete;
  OpProfile& operator=(const OpProfile&) = delete;

  // Waits for the device events recorded so far (no-op on CPU) and adds their times to the
  // totals; the event pool is then reused. Call at the end of a step (stats() calls it too).
  void resolve();
  // Per category in order of first use, after resolve().
  std::vector<OpStat> stats();
  // Sum of all categories' ms, after resolve().
  double total_ms();
  // Forgets the totals (and anything recorded but not resolved).
  void reset();

  // Used by ProfileScope. `category` must outlive the profiler (a string literal).
  void begin(Context& ctx, const char* category, Clock clock);
  void end() noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// RAII timing of one op: `ProfileScope s(ctx, "conv.fwd");`. Does nothing (one branch) when
// ctx.profiler is null.
class ProfileScope {
 public:
  ProfileScope(Context& ctx, const char* category,
               OpProfile::Clock clock = OpProfile::Clock::Device) {
    if (ctx.profiler) {
      ctx.profiler->begin(ctx, category, clock);
      p_ = ctx.profiler;  // after begin(): a begin() that throws leaves nothing to end
    }
  }
  ~ProfileScope() {
    if (p_) p_->end();
  }
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  OpProfile* p_ = nullptr;
};

}  // namespace cgan
