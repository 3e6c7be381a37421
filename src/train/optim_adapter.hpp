#pragma once
// Internal: the trainer's view of Adam over a network's flat parameter buffer: lr changes
// and the moments/step count for checkpoints go through this one class.
#include <cstdint>

#include "cgan/adam.hpp"
#include "cgan/context.hpp"
#include "cgan/error.hpp"
#include "cgan/nn.hpp"
#include "cgan/tensor.hpp"

namespace cgan::train {

class AdamAdapter {
 public:
  AdamAdapter(nn::ParameterSet& ps, float lr, float beta1, float beta2, float eps, Context& ctx)
      : ctx_(&ctx), adam_(ps.values(), ps.grads(), AdamConfig{lr, beta1, beta2, eps, 0.f}, ctx) {}

  // set_lr uploads to the device: skip it when nothing changed (the common case).
  void set_lr(float lr) {
    if (lr != adam_.lr()) adam_.set_lr(lr);
  }
  int64_t steps() const { return adam_.step_count(); }
  const Tensor& m() { return adam_.m(); }
  const Tensor& v() { return adam_.v(); }
  void step() { adam_.step(*ctx_); }
  void count_replayed_step() { adam_.count_replayed_step(); }
  void set_host_steps(int64_t steps) { adam_.set_host_step_count(steps); }
  // bf16 training: every step also refreshes the network's bf16 parameter copy.
  void mirror_bf16(nn::ParameterSet& ps) {
    adam_.set_bf16_mirror(ps.values_bf16(), ps.filter_segments(), *ctx_);
  }

  void restore(const Tensor& m, const Tensor& v, int64_t steps) {
    adam_.load_state({{"m", m}, {"v", v},
                      {"step", Tensor::from_vector({1}, {static_cast<float>(steps)})}},
                     *ctx_);
    CGAN_CHECK(adam_.step_count() == steps, "Adam step counter not restored (" << steps << ")");
  }

 private:
  Context* ctx_;
  Adam adam_;
};

}  // namespace cgan::train
