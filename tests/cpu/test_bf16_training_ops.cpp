// The channels-last ops bf16 training needs, on the CPU backend (the reference of their CUDA
// kernels), against the NCHW float32 ops on the same values: inputs are made exactly
// representable in bf16 first, so the only differences are the bf16 outputs' own rounding
// and summation order.
#include <cmath>

#include "cgan/conv.hpp"
#include "cgan/ops.hpp"
#include "common/bf16_test_util.hpp"
#include "common/test_util.hpp"

using namespace cgan;
using namespace cgan::test;

namespace {
Tensor bf16_exact(Tensor t) {
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = bf16_to_float(float_to_bf16(t.f32()[i]));
  return t;
}
Tensor nhwc(const Tensor& nchw, DType dt, Context& cpu) {
  Tensor t = Tensor::empty_cpu(nchw.shape(), dt, Layout::NHWC);
  ops::to_nhwc(t, nchw, cpu);
  return t;
}
std::vector<float> back(const Tensor& h, Context& cpu) {
  Tensor t = Tensor::empty_cpu(h.shape());
  ops::to_nchw(t, h, nullptr, false, cpu);
  return t.to_vector();
}
}  // namespace

TEST_CASE("bf16: NHWC convolution gradients (data and filter) match the float32 ones", "[bf16]") {
  Context cpu;
  struct Case {
    Shape x, w;
    ConvSpec spec;
  };
  const std::vector<Case> cases = {{{2, 6, 9, 7}, {4, 6, 3, 3}, {1, 1, 0, false}},
                                   {{1, 5, 10, 8}, {8, 5, 3, 3}, {2, 1, 0, false}},
                                   {{2, 3, 11, 9}, {5, 3, 7, 7}, {1, 3, 0, false}},
                                   {{2, 6, 5, 4}, {6, 4, 3, 3}, {2, 1, 1, true}}};
  int k = 0;
  for (const Case& c : cases) {
    const std::string tag =
        shape_str(c.x) + " * " + shape_str(c.w) + (c.spec.transposed ? " T" : "");
    const Shape os = conv_output_shape(c.x, c.w, c.spec);
    Tensor x = bf16_exact(random_tensor(c.x, 10 + k)), w = bf16_exact(random_tensor(c.w, 20 + k));
    Tensor dy = bf16_exact(random_tensor(os, 30 + k++));
    // float32 reference
    Tensor dx = Tensor::empty_cpu(c.x), dw = random_tensor(c.w, 40),
           db = random_tensor({os[1]}, 41);
    Tensor dw16 = Tensor::empty_cpu(c.w), db16 = Tensor::empty_cpu({os[1]});
    dw16.copy_from(dw, cpu);
    db16.copy_from(db, cpu);
    conv_backward_data(dx, dy, w, c.spec, cpu);
    conv_backward_filter(dw, &db, dy, x, c.spec, cpu);
    // bf16 NHWC activations, fp32 master gradients
    Tensor xb = nhwc(x, DType::BF16, cpu), wb = nhwc(w, DType::BF16, cpu),
           dyb = nhwc(dy, DType::BF16, cpu);
    Tensor dxb = Tensor::empty_cpu(c.x, DType::BF16, Layout::NHWC);
    conv_backward_data(dxb, dyb, wb, c.spec, cpu);
    conv_backward_filter(dw16, &db16, dyb, xb, c.spec, cpu);
    INFO(tag);
    // d_in: one rounding to bf16 of the same float32 sums.
    CHECK(count_off(back(dxb, cpu), dx.to_vector(), 0x1p-8, 1e-6) == 0);
    // Filter gradient: the same float32 products and sums on the same values: identical.
    CHECK(dw16.to_vector() == dw.to_vector());
    // Bias gradient: double sums in another order.
    CHECK(count_off(db16.to_vector(), db.to_vector(), 1e-6, 1e-7) == 0);
  }
}

TEST_CASE("bf16: NHWC reflection-pad backward and max pooling match the NCHW ops", "[bf16]") {
  Context cpu;
  for (DType dt : {DType::F32, DType::BF16})
    for (const Shape& s : {Shape{2, 5, 7, 9}, Shape{1, 16, 8, 6}}) {
      const std::string tag = std::string(dtype_name(dt)) + " " + shape_str(s);
      INFO(tag);
      // Reflection pad 2: gradient of the padded map back to the input.
      const Shape ps{s[0], s[1], s[2] + 4, s[3] + 4};
      Tensor g = bf16_exact(random_tensor(ps, 1));
      Tensor d = Tensor::empty_cpu(s);
      ops::reflection_pad_backward(d, g, ops::Pad2d::all(2), cpu);
      Tensor dh = Tensor::empty_cpu(s, dt, Layout::NHWC);
      ops::reflection_pad_nhwc_backward(dh, nhwc(g, dt, cpu), 2, cpu);
      CHECK(count_off(back(dh, cpu), d.to_vector(), dt == DType::BF16 ? 0x1p-8 : 1e-6, 1e-7) == 0);
      // Max pooling, with ties (values on a coarse grid) so the first-maximum rule matters.
      Tensor x = random_tensor(s, 2, -2.f, 2.f);
      for (int64_t i = 0; i < x.numel(); ++i) x.f32()[i] = std::round(x.f32()[i] * 2) / 2;
      const Shape os{s[0], s[1], s[2] / 2, s[3] / 2};
      Tensor y = Tensor::empty_cpu(os), yh = Tensor::empty_cpu(os, dt, Layout::NHWC);
      ops::maxpool2x2_forward(y, x, cpu);
      Tensor xh = nhwc(x, dt, cpu);
      ops::maxpool2x2_forward(yh, xh, cpu);
      CHECK(back(yh, cpu) == y.to_vector());
      Tensor gy = bf16_exact(random_tensor(os, 3));
      Tensor dx = Tensor::empty_cpu(s), dxh = Tensor::empty_cpu(s, dt, Layout::NHWC);
      ops::maxpool2x2_backward(dx, gy, x, cpu);
      ops::maxpool2x2_backward(dxh, nhwc(gy, dt, cpu), xh, cpu);
      CHECK(back(dxh, cpu) == dx.to_vector());
    }
}
