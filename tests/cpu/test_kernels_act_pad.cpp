// The fused convolution epilogue (bias + activation + reflection pad, kernels/act_pad.hpp) on
// the CPU: bit for bit its definition (tests/common/act_pad_test_util.hpp), and bit for bit
// the unfused library ops it replaces (activation, then padding; forward and backward).
#include <cstring>

#include "cgan/ops.hpp"
#include "common/act_pad_test_util.hpp"

using namespace cgan;

TEST_CASE("kernels: fused bias + activation + reflection pad equals its definition bit for bit", "[kernels][cpu]") {
  Context ctx;
  int ran = 0;
  for (const test::ActPadCase& k : test::act_pad_cases()) {
    INFO(k.name());
    const Tensor x = test::act_pad_random(k.shape, k, 1);
    const Tensor bias = test::random_tensor({k.shape[1]}, 2);
    const Tensor* b = k.bias ? &bias : nullptr;
    Tensor out = Tensor::empty(test::act_pad_padded(k), ctx, k.dtype, k.layout);
    ops::bias_act_pad_forward(out, x, b, k.slope, k.pad, ctx);
    REQUIRE(test::act_pad_values(out) == test::act_pad_reference_forward(x, b ? b->f32() : nullptr, k));

    const Tensor d_out = test::act_pad_random(out.shape(), k, 3);
    Tensor d_in = Tensor::empty(k.shape, ctx, k.dtype, k.layout);
    ops::bias_act_pad_backward(d_in, d_out, out, k.slope, k.pad, ctx);
    REQUIRE(test::act_pad_values(d_in) == test::act_pad_reference_backward(d_out, out, k));
    ++ran;
  }
  CHECK(ran == 72);
}

TEST_CASE("kernels: the fused epilogue equals the unfused activation + padding ops (float)", "[kernels][cpu]") {
  Context ctx;
  for (const test::ActPadCase& k : test::act_pad_cases()) {
    if (k.dtype != DType::F32 || k.bias) continue;  // the unfused ops: float, bias in the conv
    INFO(k.name());
    const bool nhwc = k.layout == Layout::NHWC;
    const Tensor x = test::act_pad_random(k.shape, k, 4);
    Tensor fused = Tensor::empty(test::act_pad_padded(k), ctx, k.dtype, k.layout);
    ops::bias_act_pad_forward(fused, x, nullptr, k.slope, k.pad, ctx);
    Tensor act = Tensor::empty(k.shape, ctx, k.dtype, k.layout);
    if (k.slope == 0.f)
      ops::relu_forward(act, x, ctx);
    else
      ops::leaky_relu_forward(act, x, k.slope, ctx);
    Tensor unfused = Tensor::empty(fused.shape(), ctx, k.dtype, k.layout);
    if (nhwc)
      ops::reflection_pad_nhwc(unfused, act, k.pad, ctx);
    else
      ops::reflection_pad_forward(unfused, act, ops::Pad2d::all(k.pad), ctx);
    REQUIRE(std::memcmp(fused.raw(), unfused.raw(), fused.nbytes()) == 0);

    const Tensor d_out = test::act_pad_random(fused.shape(), k, 5);
    Tensor d_fused = Tensor::empty(k.shape, ctx, k.dtype, k.layout);
    ops::bias_act_pad_backward(d_fused, d_out, fused, k.slope, k.pad, ctx);
    Tensor d_act = Tensor::empty(k.shape, ctx, k.dtype, k.layout);
    if (nhwc)
      ops::reflection_pad_nhwc_backward(d_act, d_out, k.pad, ctx);
    else
      ops::reflection_pad_backward(d_act, d_out, ops::Pad2d::all(k.pad), ctx);
    Tensor d_unfused = Tensor::empty(k.shape, ctx, k.dtype, k.layout);
    if (k.slope == 0.f)
      ops::relu_backward(d_unfused, d_act, act, ctx);
    else
      ops::leaky_relu_backward(d_unfused, d_act, act, k.slope, ctx);
    REQUIRE(std::memcmp(d_fused.raw(), d_unfused.raw(), d_fused.nbytes()) == 0);
  }
}

TEST_CASE("kernels: the fused epilogue refuses wrong shapes, storages and pads", "[kernels][cpu]") {
  Context ctx;
  const Tensor x = test::random_tensor({1, 2, 4, 4}, 1);
  Tensor out = Tensor::empty({1, 2, 6, 6}, ctx);
  Tensor small = Tensor::empty({1, 2, 5, 6}, ctx);
  CHECK_THROWS_WITH(ops::bias_act_pad_forward(small, x, nullptr, 0.2f, 1, ctx),
                    Catch::Contains("'out' must have shape [1,2,6,6]"));
  CHECK_THROWS_WITH(ops::bias_act_pad_forward(out, x, nullptr, 0.2f, 4, ctx),
                    Catch::Contains("must be >= 0 and < the map's height"));
  const Tensor wrong_bias = test::random_tensor({3}, 2);
  CHECK_THROWS_WITH(ops::bias_act_pad_forward(out, x, &wrong_bias, 0.2f, 1, ctx),
                    Catch::Contains("bias"));
  Tensor nhwc_out = Tensor::empty({1, 2, 6, 6}, ctx, DType::F32, Layout::NHWC);
  CHECK_THROWS_WITH(ops::bias_act_pad_forward(nhwc_out, x, nullptr, 0.2f, 1, ctx),
                    Catch::Contains("'out' must be F32 NCHW"));
}

TEST_CASE("kernels: instance norm writing its output padded equals the norm then the pad bit for bit", "[kernels][cpu]") {
  Context ctx;
  CHECK(test::check_norm_pad_fusion(ctx) == 72);
}
