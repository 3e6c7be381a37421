#pragma once
// A tiny network step for the profiler tests (tests/cpu/test_profile.cpp and
// tests/cuda/test_profile_cuda.cpp).
#include <map>
#include <string>

#include "cgan/adam.hpp"
#include "cgan/nn.hpp"
#include "cgan/profile.hpp"
#include "common/test_util.hpp"

namespace cgan::test {

// pad -> conv 3x3 -> instance norm + ReLU -> conv 3x3 stride 2 -> leaky ReLU -> maxpool
// -> tanh -> LSGAN loss; backward; Adam.
struct TinyNet {
  nn::ParameterSet ps;
  nn::Conv c1, c2;
  nn::InstanceNorm norm;

  explicit TinyNet(Context& ctx) {
    c1.declare(ps, "c1", 3, 4, 3, ConvSpec{1, 0, 0, false});
    c2.declare(ps, "c2", 4, 4, 3, ConvSpec{2, 1, 0, false});
    norm.declare_affine(ps, "n.weight", "n.bias", 4);
    ps.allocate(ctx, 3);
  }

  void step(Context& ctx, Adam& adam) {
    ps.zero_grad(ctx);
    nn::Tape tape(ctx);
    const Tensor host = test::random_tensor({2, 3, 12, 12}, 5);
    nn::Var x = nn::input(ctx.is_cuda() ? host.to(ctx) : host, true);
    nn::Var h = nn::reflection_pad(tape, x, 1);
    h = c1(tape, ps, h);
    h = norm(tape, ps, h, ops::Act::ReLU);
    h = c2(tape, ps, h);
    h = nn::leaky_relu(tape, h, 0.2f);
    h = nn::maxpool2x2(tape, h);
    h = nn::tanh(tape, h);
    Tensor loss = Tensor::empty({1}, ctx);
    Tensor d = Tensor::empty(h->value.shape(), ctx);
    ops::mse_const_loss(loss, &d, h->value, 1.f, 1.f, ctx);
    tape.backward(h, d);
    adam.step(ctx);
  }
};

inline std::map<std::string, OpStat> stats_by_name(OpProfile& p) {
  std::map<std::string, OpStat> m;
  for (const OpStat& s : p.stats()) m[s.name] = s;
  return m;
}

// Outermost scopes per category in one TinyNet::step (copies aside).
inline const std::map<std::string, int64_t>& tiny_net_calls() {
  static const std::map<std::string, int64_t> calls = {
      {"pad.fwd", 1},          {"pad.bwd", 1},  {"conv.fwd", 2},
      {"conv.bwd_data", 2},    // c2's input and c1's input (x needs a gradient)
      {"conv.bwd_filter", 2},  {"norm.fwd", 1}, {"norm.bwd", 1},
      {"act.fwd", 2},          // leaky ReLU, tanh (the ReLU is fused into the norm)
      {"act.bwd", 2},          {"pool.fwd", 1}, {"pool.bwd", 1},
      {"loss", 1},             {"adam", 1},     {"fill", 1},  // zero_grad
  };
  return calls;
}

}  // namespace cgan::test
