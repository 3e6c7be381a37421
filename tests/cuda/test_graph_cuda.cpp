// cgan::CudaGraph (include/cgan/graph.hpp) on its own: what it records runs only at replay,
// once per replay, on fresh data each time; work that a graph cannot hold (a host
// synchronization, an allocation the warm-up did not make) fails with an Error and leaves
// the context usable, so a caller can fall back to eager work.
#include "cgan/error.hpp"
#include "cgan/graph.hpp"
#include "cgan/ops.hpp"
#include "common/test_util.hpp"

using namespace cgan;

TEST_CASE("CudaGraph: recorded work runs once per replay, reading its inputs anew", "[cuda]") {
  CGAN_REQUIRE_CUDA();
  Context ctx(Device::cuda(0));
  Tensor acc = Tensor::zeros({1000}, ctx);
  Tensor in = Tensor::empty({1000}, ctx);
  CudaGraph g(ctx);
  auto work = [&] {
    Tensor tmp = Tensor::empty({1000}, ctx);  // from the pool
    tmp.copy_from(in, ctx);
    ops::add_inplace(acc, tmp, ctx);
  };
  in.fill(1.f, ctx);
  g.warm_up(work);  // acc = 1
  g.record(work);   // nothing runs
  CHECK(acc.to_vector(ctx)[0] == 1.f);
  REQUIRE(g.ready());
  for (float v : {2.f, 3.f, 4.f}) {
    in.fill(v, ctx);
    g.replay();
  }
  const std::vector<float> got = acc.to_vector(ctx);
  for (float x : got) REQUIRE(x == 10.f);  // 1 + 2 + 3 + 4
  CHECK(g.replays() == 3);
  CHECK(g.pool_stats().bytes_reserved > 0);
}

TEST_CASE("CudaGraph: work a graph cannot hold fails clearly and the context stays usable", "[cuda]") {
  CGAN_REQUIRE_CUDA();
  Context ctx(Device::cuda(0));
  Tensor a = Tensor::zeros({64}, ctx);
  SECTION("a host synchronization") {
    CudaGraph g(ctx);
    auto work = [&] {
      a.fill(2.f, ctx);
      ctx.synchronize();
    };
    g.warm_up(work);
    CHECK_THROWS_AS(g.record(work), Error);
    CHECK_FALSE(g.ready());
  }
  SECTION("an allocation the warm-up did not make") {
    CudaGraph g(ctx);
    CHECK_THROWS_AS(g.record([&] {
      Tensor t = Tensor::empty({1 << 20}, ctx);
      t.fill(1.f, ctx);
    }),
                    Error);
    CHECK_FALSE(g.ready());
  }
  // Eager work on the same stream still runs.
  a.fill(5.f, ctx);
  CHECK(a.to_vector(ctx)[63] == 5.f);
  CHECK_THROWS_WITH(CudaGraph(ctx).replay(), Catch::Contains("nothing recorded"));
}
