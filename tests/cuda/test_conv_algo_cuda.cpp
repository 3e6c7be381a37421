// cuDNN algorithm selection (layers/conv_cudnn.cpp): measured (cudnnFind*Ex) and deterministic
// (heuristics, CUDNN_DETERMINISTIC only) choices give CPU-equal results, keep the filter
// gradient's accumulation (the search must not write into dw), repeat bitwise when
// deterministic, and live in each context's own cache.
#include <memory>

#include "cgan/conv.hpp"
#include "common/test_util.hpp"

using namespace cgan;

namespace {

struct Case {
  Shape in, w;
  ConvSpec s;
};

// CartoonGAN-like widths (many algorithms apply) and odd sizes.
const Case kCases[] = {{{2, 64, 40, 36}, {64, 64, 3, 3}, {1, 1, 0, false}},
                       {{2, 32, 41, 37}, {64, 32, 3, 3}, {2, 1, 0, false}},
                       {{1, 3, 45, 38}, {16, 3, 7, 7}, {1, 0, 0, false}},
                       {{2, 64, 21, 19}, {64, 32, 3, 3}, {2, 1, 1, true}}};

// out, d_in, d_weight (starting from w0: accumulated), d_bias (starting from b0).
std::vector<std::vector<float>> run(const Case& c, uint64_t seed, Context& ctx) {
  const Shape os = conv_output_shape(c.in, c.w, c.s);
  const Tensor x = test::random_tensor(c.in, seed).to(ctx);
  const Tensor w = test::random_tensor(c.w, seed + 1).to(ctx);
  const Tensor b = test::random_tensor({os[1]}, seed + 2).to(ctx);
  const Tensor r = test::random_tensor(os, seed + 3).to(ctx);
  Tensor dw = test::random_tensor(c.w, seed + 4).to(ctx);
  Tensor db = test::random_tensor({os[1]}, seed + 5).to(ctx);
  Tensor out = Tensor::empty(os, ctx), dx = Tensor::empty(c.in, ctx);
  if (ctx.is_cuda()) {
    out.fill(NAN, ctx);
    dx.fill(NAN, ctx);
  }
  conv_forward(out, x, w, &b, c.s, ctx);
  conv_backward_data(dx, r, w, c.s, ctx);
  conv_backward_filter(dw, &db, r, x, c.s, ctx);
  return {out.to_vector(ctx), dx.to_vector(ctx), dw.to_vector(ctx), db.to_vector(ctx)};
}

const char* kWhat[] = {"out", "d_in", "d_weight (accumulated)", "d_bias (accumulated)"};

}  // namespace

TEST_CASE("conv algorithms: measured and deterministic choices match the CPU") {
  CGAN_REQUIRE_CUDA();
  Context cpu(Device::cpu());
  for (bool det : {false, true}) {
    Context gpu(Device::cuda(0));
    gpu.allow_tf32 = false;
    gpu.deterministic = det;
    uint64_t seed = 100;
    for (const Case& c : kCases) {
      INFO("deterministic " << det << " input " << shape_str(c.in) << " weight "
                            << shape_str(c.w));
      const auto rc = run(c, seed, cpu), rg = run(c, seed, gpu);
      for (size_t i = 0; i < rc.size(); ++i) {
        INFO(kWhat[i]);
        CHECK(test::max_rel_error(rg[i], rc[i]) < 1e-4);  // measured choice may pick FFT/Winograd
      }
      if (det) CHECK(run(c, seed, gpu) == rg);  // bitwise repeatable
      seed += 10;
    }
  }
}

TEST_CASE("conv algorithms: TF32 stays close to float32") {
  CGAN_REQUIRE_CUDA();
  Context cpu(Device::cpu()), gpu(Device::cuda(0));
  gpu.allow_tf32 = true;
  uint64_t seed = 200;
  for (const Case& c : kCases) {
    const auto rc = run(c, seed, cpu), rg = run(c, seed, gpu);
    for (size_t i = 0; i < rc.size(); ++i) {
      INFO(kWhat[i] << " input " << shape_str(c.in));
      CHECK(test::max_rel_error(rg[i], rc[i]) < 1e-2);  // TF32: 10-bit mantissa products
    }
    seed += 10;
  }
}

TEST_CASE("conv algorithms: each context keeps its own plans") {
  CGAN_REQUIRE_CUDA();
  Context cpu(Device::cpu());
  const Case& c = kCases[0];
  const auto ref = run(c, 300, cpu);
  auto a = std::make_unique<Context>(Device::cuda(0));
  Context b(Device::cuda(0));
  a->allow_tf32 = b.allow_tf32 = false;
  b.deterministic = true;  // so that a repeat is bitwise equal
  run(c, 300, *a);
  const auto rb = run(c, 300, b);
  a.reset();  // its plans go with it; b's stay valid
  CHECK(run(c, 300, b) == rb);
  Context fresh(Device::cuda(0));
  fresh.allow_tf32 = false;
  const auto rf = run(c, 300, fresh);
  for (size_t i = 0; i < ref.size(); ++i) CHECK(test::max_rel_error(rf[i], ref[i]) < 1e-4);
}
