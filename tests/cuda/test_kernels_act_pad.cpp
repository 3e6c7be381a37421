// The fused convolution epilogue on the GPU against the CPU (kernels/act_pad.hpp): bit for
// bit (the same float operations in the same order, no products to contract into FMAs), every
// case of tests/common/act_pad_test_util.hpp, outputs poisoned with NaN before the launch.
#include <cstring>

#include "cgan/device.hpp"
#include "cgan/ops.hpp"
#include "common/act_pad_test_util.hpp"
#include "common/bf16_test_util.hpp"

using namespace cgan;

TEST_CASE("kernels: CUDA fused bias + activation + reflection pad equals the CPU bit for bit", "[kernels][cuda]") {
  CGAN_REQUIRE_CUDA();
  Context cpu, gpu(Device::cuda(0));
  int ran = 0;
  for (const test::ActPadCase& k : test::act_pad_cases()) {
    INFO(k.name());
    const Tensor x = test::act_pad_random(k.shape, k, 7);
    const Tensor bias = test::random_tensor({k.shape[1]}, 8);
    const Tensor bias_gpu = bias.to(gpu);
    Tensor out = Tensor::empty(test::act_pad_padded(k), cpu, k.dtype, k.layout);
    ops::bias_act_pad_forward(out, x, k.bias ? &bias : nullptr, k.slope, k.pad, cpu);
    Tensor out_gpu = test::poisoned_as(out.shape(), k.dtype, k.layout, gpu);
    ops::bias_act_pad_forward(out_gpu, x.to(gpu), k.bias ? &bias_gpu : nullptr, k.slope, k.pad, gpu);
    const Tensor got = out_gpu.to_cpu(gpu);
    REQUIRE(std::memcmp(got.raw(), out.raw(), out.nbytes()) == 0);

    const Tensor d_out = test::act_pad_random(out.shape(), k, 9);
    Tensor d_in = Tensor::empty(k.shape, cpu, k.dtype, k.layout);
    ops::bias_act_pad_backward(d_in, d_out, out, k.slope, k.pad, cpu);
    Tensor d_in_gpu = test::poisoned_as(k.shape, k.dtype, k.layout, gpu);
    ops::bias_act_pad_backward(d_in_gpu, d_out.to(gpu), out_gpu, k.slope, k.pad, gpu);
    const Tensor got_d = d_in_gpu.to_cpu(gpu);
    REQUIRE(std::memcmp(got_d.raw(), d_in.raw(), d_in.nbytes()) == 0);
    ++ran;
  }
  CHECK(ran == 72);
}

TEST_CASE("kernels: CUDA instance norm writing its output padded equals the norm then the pad bit for bit", "[kernels][cuda]") {
  CGAN_REQUIRE_CUDA();
  Context gpu(Device::cuda(0));
  CHECK(test::check_norm_pad_fusion(gpu) == 72);
}
