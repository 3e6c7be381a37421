// The opt-in per-op profiler (cgan/profile.hpp) on the CPU: a tiny network forward + backward
// + Adam records the expected categories and call counts; without a profiler attached
// nothing is recorded; nested scopes count once.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <thread>

#include "cgan/adam.hpp"
#include "cgan/nn.hpp"
#include "cgan/profile.hpp"
#include "common/test_util.hpp"

using namespace cgan;

namespace {

std::map<std::string, OpStat> by_name(OpProfile& p) {
  std::map<std::string, OpStat> m;
  for (const OpStat& s : p.stats()) m[s.name] = s;
  return m;
}

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
    nn::Var x = nn::input(test::random_tensor({2, 3, 12, 12}, 5), true);
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

}  // namespace

TEST_CASE("profiler records the op categories of a tiny network step", "[profile]") {
  Context ctx(Device::cpu());
  TinyNet net(ctx);
  Adam adam(net.ps.values(), net.ps.grads(), AdamConfig{}, ctx);
  OpProfile prof;
  ctx.profiler = &prof;
  net.step(ctx, adam);
  ctx.profiler = nullptr;
  const auto m = by_name(prof);

  const std::map<std::string, int64_t> expected_calls = {
      {"pad.fwd", 1},          {"pad.bwd", 1},  {"conv.fwd", 2},
      {"conv.bwd_data", 2},    // c2's input and c1's input (x needs a gradient)
      {"conv.bwd_filter", 2},  {"norm.fwd", 1}, {"norm.bwd", 1},
      {"act.fwd", 2},          // leaky ReLU, tanh (the ReLU is fused into the norm)
      {"act.bwd", 2},          {"pool.fwd", 1}, {"pool.bwd", 1},
      {"loss", 1},             {"adam", 1},     {"fill", 1},  // zero_grad
  };
  for (const auto& kv : expected_calls) {
    INFO("category " << kv.first);
    REQUIRE(m.count(kv.first) == 1);
    CHECK(m.at(kv.first).calls == kv.second);
    CHECK(m.at(kv.first).ms >= 0.0);
  }
  // Tape::backward copies the seed gradient: a host copy on the CPU.
  REQUIRE(m.count("copy.host") == 1);
  CHECK(m.at("copy.host").calls >= 1);
  // Nothing from the GPU side on a CPU context.
  for (const char* none : {"copy.h2d", "copy.d2h", "copy.d2d", "smooth", "data.wait"})
    CHECK(m.count(none) == 0);

  double sum = 0;
  for (const auto& kv : m) sum += kv.second.ms;
  CHECK(prof.total_ms() == Approx(sum));
  CHECK(sum > 0.0);

  // Totals accumulate over steps; reset() forgets them.
  ctx.profiler = &prof;
  net.step(ctx, adam);
  ctx.profiler = nullptr;
  CHECK(by_name(prof).at("conv.fwd").calls == 4);
  prof.reset();
  CHECK(prof.stats().empty());
  CHECK(prof.total_ms() == 0.0);
}

TEST_CASE("profiler detached records nothing", "[profile]") {
  Context ctx(Device::cpu());
  REQUIRE(ctx.profiler == nullptr);  // off by default
  TinyNet net(ctx);
  Adam adam(net.ps.values(), net.ps.grads(), AdamConfig{}, ctx);
  OpProfile prof;  // exists, but is not attached
  net.step(ctx, adam);
  CHECK(prof.stats().empty());
  CHECK(prof.total_ms() == 0.0);

  // Attached to another context: this one's ops still record nothing.
  Context other(Device::cpu());
  other.profiler = &prof;
  net.step(ctx, adam);
  CHECK(prof.stats().empty());
  other.profiler = nullptr;
}

TEST_CASE("profiler nested scopes count once in the outermost category", "[profile]") {
  Context ctx(Device::cpu());
  OpProfile prof;
  ctx.profiler = &prof;
  {
    ProfileScope outer(ctx, "data.wait", OpProfile::Clock::Host);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    {
      ProfileScope inner(ctx, "conv.fwd");
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  {
    ProfileScope again(ctx, "conv.fwd");
  }
  ctx.profiler = nullptr;
  const auto m = by_name(prof);
  REQUIRE(m.size() == 2);
  CHECK(m.at("data.wait").calls == 1);
  CHECK(m.at("data.wait").ms >= 24.0);  // the inner scope's time stays in the outer one
  CHECK(m.at("conv.fwd").calls == 1);   // only the un-nested scope
  CHECK(m.at("conv.fwd").ms < 5.0);
  // Categories are found by name, not only by pointer.
  const std::string name = "conv.fwd";
  ctx.profiler = &prof;
  { ProfileScope s(ctx, name.c_str()); }
  ctx.profiler = nullptr;
  CHECK(by_name(prof).at("conv.fwd").calls == 2);
  CHECK(by_name(prof).size() == 2);
}

TEST_CASE("profiler groups categories into conv kernels and data", "[profile]") {
  CHECK(std::string(op_group("conv.fwd")) == "conv");
  CHECK(std::string(op_group("conv.bwd_filter")) == "conv");
  CHECK(std::string(op_group("norm.bwd")) == "kernels");
  CHECK(std::string(op_group("adam")) == "kernels");
  CHECK(std::string(op_group("data.wait")) == "data");
  CHECK(std::string(op_group("copy.h2d")) == "data");
  CHECK(std::string(op_group("smooth")) == "data");
  CHECK(std::string(op_group("preprocess")) == "data");
}
