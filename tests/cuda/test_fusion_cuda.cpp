// Fusions against the unfused path, on the GPU (tests/common/fusion_test_util.hpp).
// Deterministic convolution algorithms: both networks must run the same arithmetic.
#include "cgan/device.hpp"
#include "common/fusion_test_util.hpp"

using namespace cgan;

TEST_CASE("cancelled biases on the GPU: skipped and gradient-free, bit for bit the unfused network with them at 0", "[cuda]") {
  CGAN_REQUIRE_CUDA();
  Context ctx(Device::cuda(0));
  ctx.deterministic = true;
  SECTION("fp32") { test::check_networks_cancelled_bias_fusion(ctx, false); }
  SECTION("bf16") {
    if (compute_capability(ctx.device()) < 80) {
      test::skip("bf16 needs sm_80 or newer");
      return;
    }
    test::check_networks_cancelled_bias_fusion(ctx, true);
  }
}

TEST_CASE("discriminator epilogues on the GPU are the unfused ops bit for bit", "[cuda]") {
  CGAN_REQUIRE_CUDA();
  Context ctx(Device::cuda(0));
  ctx.deterministic = true;
  test::check_discriminator_epilogue_fusion(ctx);
}

TEST_CASE("official generator on the GPU: norms writing padded outputs are the norms then the pads bit for bit", "[cuda]") {
  CGAN_REQUIRE_CUDA();
  Context ctx(Device::cuda(0));
  ctx.deterministic = true;
  test::check_official_pad_fusion(ctx);
}
