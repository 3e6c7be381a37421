// The per-op profiler on a CUDA context: the tiny network step records the same categories
// and call counts as on the CPU (timed by pooled cudaEvents, resolved at the end), the pool
// is reused across steps, host-clock scopes still use the wall clock, and a detached
// profiler records nothing. Skipped without a GPU.
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "cgan/profile.hpp"
#include "common/profile_test_util.hpp"
#include "common/test_util.hpp"

using namespace cgan;

TEST_CASE("profiler on CUDA records the tiny network categories with event timings",
          "[profile][cuda]") {
  CGAN_REQUIRE_CUDA();
  Context ctx(Device::cuda(0));
  test::TinyNet net(ctx);
  Adam adam(net.ps.values(), net.ps.grads(), AdamConfig{}, ctx);
  net.step(ctx, adam);  // warm-up: cuDNN plans, allocations
  ctx.synchronize();

  OpProfile prof;
  ctx.profiler = &prof;
  for (int i = 0; i < 3; ++i) {
    net.step(ctx, adam);
    prof.resolve();  // end of step: the event pool is reused by the next one
  }
  ctx.profiler = nullptr;
  const auto m = test::stats_by_name(prof);
  for (const auto& kv : test::tiny_net_calls()) {
    INFO("category " << kv.first);
    REQUIRE(m.count(kv.first) == 1);
    CHECK(m.at(kv.first).calls == 3 * kv.second);
    CHECK(m.at(kv.first).ms >= 0.0);
  }
  CHECK(m.at("conv.fwd").ms > 0.0);
  REQUIRE(m.count("copy.h2d") == 1);  // the input upload
  CHECK(m.at("copy.h2d").calls == 3);

  const int64_t before = test::stats_by_name(prof).at("conv.fwd").calls;
  net.step(ctx, adam);  // detached
  ctx.synchronize();
  CHECK(test::stats_by_name(prof).at("conv.fwd").calls == before);
}

TEST_CASE("profiler on CUDA host clock scopes and nesting", "[profile][cuda]") {
  CGAN_REQUIRE_CUDA();
  Context ctx(Device::cuda(0));
  OpProfile prof;
  ctx.profiler = &prof;
  Tensor t = Tensor::empty({1 << 20}, ctx);
  {
    ProfileScope wait(ctx, "data.wait", OpProfile::Clock::Host);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    t.fill(1.f, ctx);  // nested: counted in data.wait, not in fill
  }
  t.fill(2.f, ctx);
  ctx.profiler = nullptr;
  const auto m = test::stats_by_name(prof);
  REQUIRE(m.size() == 2);
  CHECK(m.at("data.wait").calls == 1);
  CHECK(m.at("data.wait").ms >= 19.0);
  CHECK(m.at("fill").calls == 1);
  CHECK(m.at("fill").ms > 0.0);
}
