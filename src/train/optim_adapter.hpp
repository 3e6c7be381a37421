#pragma once
// Internal: the trainer's view of Adam over a network's flat parameter buffer. Everything the
// trainer needs (lr changes, the moments and step count for checkpoints) goes through this
// one class so the optimizer behind it can change without touching the training loop.
#include <cmath>
#include <cstdint>
#include <vector>

#include "cgan/context.hpp"
#include "cgan/error.hpp"
#include "cgan/nn.hpp"
#include "cgan/tensor.hpp"

#if __has_include("cgan/adam.hpp")
#include "cgan/adam.hpp"
#define CGAN_TRAIN_HAVE_ADAM 1
#else
#define CGAN_TRAIN_HAVE_ADAM 0
#endif

namespace cgan::train {

class AdamAdapter {
 public:
  AdamAdapter(nn::ParameterSet& ps, float lr, float beta1, float beta2, float eps, Context& ctx)
      : ps_(&ps), ctx_(&ctx), lr_(lr), b1_(beta1), b2_(beta2), eps_(eps) {
    m_ = Tensor::zeros({ps.values().numel()}, ctx);
    v_ = Tensor::zeros({ps.values().numel()}, ctx);
  }
  void set_lr(float lr) { lr_ = lr; }
  int64_t steps() const { return t_; }
  const Tensor& m() const { return m_; }
  const Tensor& v() const { return v_; }

  void restore(const Tensor& m, const Tensor& v, int64_t steps) {
    CGAN_CHECK(m.numel() == m_.numel() && v.numel() == v_.numel(),
               "Adam state has " << m.numel() << " moments, the network has " << m_.numel()
                                 << " parameter slots");
    m_.copy_from(m, *ctx_);
    v_.copy_from(v, *ctx_);
    t_ = steps;
  }

  // PyTorch's Adam (no weight decay, no amsgrad), float32 arithmetic.
  void step() {
    ++t_;
    CGAN_CHECK(!ctx_->is_cuda(), "the trainer's fallback Adam runs on the CPU only");
    float* p = ps_->values().f32();
    const float* g = ps_->grads().f32();
    float* m = m_.f32();
    float* v = v_.f32();
    const float bc1 = 1.f - std::pow(b1_, static_cast<float>(t_));
    const float bc2 = 1.f - std::pow(b2_, static_cast<float>(t_));
    const float step_size = lr_ / bc1;
    const float bc2_sqrt = std::sqrt(bc2);
    const int64_t n = m_.numel();
    for (int64_t i = 0; i < n; ++i) {
      m[i] = b1_ * m[i] + (1.f - b1_) * g[i];
      v[i] = b2_ * v[i] + (1.f - b2_) * g[i] * g[i];
      const float denom = std::sqrt(v[i]) / bc2_sqrt + eps_;
      p[i] -= step_size * (m[i] / denom);
    }
  }

 private:
  nn::ParameterSet* ps_;
  Context* ctx_;
  float lr_, b1_, b2_, eps_;
  int64_t t_ = 0;
  Tensor m_, v_;
};

}  // namespace cgan::train
