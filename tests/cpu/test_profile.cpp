// The opt-in per-op profiler (cgan/profile.hpp) on the CPU: a tiny network forward + backward
// + Adam records the expected categories and call counts; without a profiler attached
// nothing is recorded; nested scopes count once.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <thread>

#include "cgan/adam.hpp"
#include "cgan/profile.hpp"
#include "common/profile_test_util.hpp"
#include "common/test_util.hpp"

using namespace cgan;
using test::TinyNet;

namespace {
std::map<std::string, OpStat> by_name(OpProfile& p) { return test::stats_by_name(p); }
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

  for (const auto& kv : test::tiny_net_calls()) {
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
