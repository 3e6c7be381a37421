// Fusions against the unfused path, on the CPU (tests/common/fusion_test_util.hpp).
#include "common/fusion_test_util.hpp"

using namespace cgan;

TEST_CASE("cancelled biases: skipped and gradient-free, bit for bit the unfused network with them at 0", "[cpu]") {
  Context ctx;
  SECTION("fp32") { test::check_networks_cancelled_bias_fusion(ctx, false); }
  SECTION("bf16") { test::check_networks_cancelled_bias_fusion(ctx, true); }
}

TEST_CASE("discriminator epilogues (bias + LeakyReLU + pad in one op) are the unfused ops bit for bit", "[cpu]") {
  Context ctx;
  test::check_discriminator_epilogue_fusion(ctx);
}

TEST_CASE("official generator: norms writing padded outputs are the norms then the pads bit for bit", "[cpu]") {
  Context ctx;
  test::check_official_pad_fusion(ctx);
}
