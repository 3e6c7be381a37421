// GPU vs CPU for the channels-last ops of bf16 training: convolution gradients (data, filter
// into fp32 master gradients, bias), reflection-pad backward, max pooling forward/backward,
// NHWC bias gradient. Under emulation cuDNN is replaced by the CPU convolution (so the
// convolution cases check the glue around it: descriptors' roles, the bf16 filter scratch and
// its widening kernel only on a GPU).
#include <cmath>

#include "cgan/conv.hpp"
#include "common/bf16_test_util.hpp"
#include "cuda/test_kernels_cuda_util.hpp"

using namespace cgan;
using namespace cgan::test;

namespace {
Tensor nhwc(const Tensor& nchw, DType dt, Context& ctx) {
  Tensor t = Tensor::empty(nchw.shape(), ctx, dt, Layout::NHWC);
  ops::to_nhwc(t, nchw.is_cuda() || !ctx.is_cuda() ? nchw : nchw.to(ctx), ctx);
  return t;
}
}  // namespace

TEST_CASE("bf16: CUDA NHWC convolution gradients match the CPU reference", "[cuda]") {
  CGAN_REQUIRE_CUDA();
  Context cpu, gpu(Device::cuda(0));
  struct Case {
    Shape x, w;
    ConvSpec spec;
  };
  const std::vector<Case> cases = {{{2, 16, 9, 7}, {32, 16, 3, 3}, {1, 1, 0, false}},
                                   {{1, 8, 10, 8}, {16, 8, 3, 3}, {2, 1, 0, false}},
                                   {{2, 3, 12, 10}, {16, 3, 7, 7}, {1, 0, 0, false}},
                                   {{2, 32, 5, 4}, {32, 16, 3, 3}, {2, 1, 1, true}}};
  int k = 0;
  for (const Case& c : cases) {
    const std::string tag =
        shape_str(c.x) + " * " + shape_str(c.w) + (c.spec.transposed ? " T" : "");
    INFO(tag);
    const Shape os = conv_output_shape(c.x, c.w, c.spec);
    Tensor x = random_tensor(c.x, 10 + k), w = random_tensor(c.w, 20 + k, -0.3f, 0.3f);
    Tensor dy = random_tensor(os, 30 + k++);
    Tensor xb = nhwc(x, DType::BF16, cpu), wb = nhwc(w, DType::BF16, cpu),
           dyb = nhwc(dy, DType::BF16, cpu);
    Tensor dx = Tensor::empty_cpu(c.x, DType::BF16, Layout::NHWC);
    Tensor dw = random_tensor(c.w, 40), db = random_tensor({os[1]}, 41);
    Tensor gdw = dw.to(gpu), gdb = db.to(gpu);
    conv_backward_data(dx, dyb, wb, c.spec, cpu);
    conv_backward_filter(dw, &db, dyb, xb, c.spec, cpu);
    Tensor gdx = poisoned_as(c.x, DType::BF16, Layout::NHWC, gpu);
    Tensor gxb = xb.to(gpu), gwb = wb.to(gpu), gdyb = dyb.to(gpu);
    conv_backward_data(gdx, gdyb, gwb, c.spec, gpu);
    conv_backward_filter(gdw, &gdb, gdyb, gxb, c.spec, gpu);
    // Both accumulate exact bf16 products in fp32 in different orders; the data gradient is
    // rounded to bf16 on both sides (one ulp apart at most), the filter gradient on the GPU
    // only (cuDNN's bf16 configuration writes a bf16 filter), so it is within 2^-8 of the
    // CPU's fp32 accumulation, relative to the gradient's scale.
    CHECK(count_off(gdx.to_vector(gpu), dx.to_vector(), 0x1p-6, 1e-4) == 0);
    CHECK(count_off(gdw.to_vector(gpu), dw.to_vector(), 0x1p-7, 1e-4) == 0);
    CHECK(count_off(gdb.to_vector(gpu), db.to_vector(), 1e-5, 1e-5) == 0);
  }
}

TEST_CASE("bf16: CUDA NHWC reflection-pad backward and max pooling match the CPU", "[cuda]") {
  CGAN_REQUIRE_CUDA();
  Context cpu, gpu(Device::cuda(0));
  for (DType dt : {DType::F32, DType::BF16})
    for (const Shape& s : {Shape{2, 5, 7, 9}, Shape{1, 16, 8, 6}, Shape{2, 64, 5, 5}}) {
      INFO(dtype_name(dt) << " " << shape_str(s));
      const Shape ps{s[0], s[1], s[2] + 4, s[3] + 4};
      Tensor g = nhwc(random_tensor(ps, 1), dt, cpu), gg = g.to(gpu);
      Tensor d = Tensor::empty_cpu(s, dt, Layout::NHWC), gd = poisoned_as(s, dt, Layout::NHWC, gpu);
      ops::reflection_pad_nhwc_backward(d, g, 2, cpu);
      ops::reflection_pad_nhwc_backward(gd, gg, 2, gpu);
      // Up to 9 terms summed in another order, then (bf16) rounded.
      CHECK(count_off(gd.to_vector(gpu), d.to_vector(), dt == DType::BF16 ? 0x1p-7 : 1e-6, 1e-7) == 0);

      Tensor xr = random_tensor(s, 2, -2.f, 2.f);
      for (int64_t i = 0; i < xr.numel(); ++i) xr.f32()[i] = std::round(xr.f32()[i] * 2) / 2;
      Tensor x = nhwc(xr, dt, cpu), gx = x.to(gpu);
      const Shape os{s[0], s[1], s[2] / 2, s[3] / 2};
      Tensor y = Tensor::empty_cpu(os, dt, Layout::NHWC),
             gy = poisoned_as(os, dt, Layout::NHWC, gpu);
      ops::maxpool2x2_forward(y, x, cpu);
      ops::maxpool2x2_forward(gy, gx, gpu);
      CHECK(gy.to_vector(gpu) == y.to_vector());
      Tensor up = nhwc(random_tensor(os, 3), dt, cpu), gup = up.to(gpu);
      Tensor dx = Tensor::empty_cpu(s, dt, Layout::NHWC),
             gdx = poisoned_as(s, dt, Layout::NHWC, gpu);
      ops::maxpool2x2_backward(dx, up, x, cpu);
      ops::maxpool2x2_backward(gdx, gup, gx, gpu);
      CHECK(gdx.to_vector(gpu) == dx.to_vector());
    }
}
