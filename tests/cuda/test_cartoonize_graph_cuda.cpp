// Inference as a CUDA graph (CartoonizeOptions::cuda_graphs): the same pixels as the eager
// forward pass, image after image of one size (the video case), and again after the batch
// shape changes. Counts the replays so the comparison cannot pass with graphs unused.
// Emulated here: the emulator's capture refuses what a GPU refuses (allocation, host
// synchronization) inside the recorded pass; cuDNN under capture only runs on a GPU.
#include <random>

#include "cgan/cartoonize.hpp"
#include "cgan/device.hpp"
#include "cgan/networks.hpp"
#include "common/test_util.hpp"

using namespace cgan;

namespace {

Image noise_image(int w, int h, uint64_t seed) {
  Image im(w, h);
  std::mt19937_64 rng(seed);
  for (uint8_t& p : im.pixels) p = static_cast<uint8_t>(rng() & 0xFF);
  return im;
}

void check_graph_inference(Precision precision) {
  const std::string dir = test::temp_dir("cartoonize_graph");
  const std::string weights = dir + "/seed.safetensors";
  {
    Context cpu;
    SeedGenerator g(cpu);  // the default architecture, random weights
    g.save(weights, {{"arch", "seed"}});
  }
  Context ctx(Device::cuda(0));
  ctx.deterministic = true;
  CartoonizeOptions o;
  o.precision = precision;
  Cartoonizer eager(weights, o, ctx);
  o.cuda_graphs = true;
  Cartoonizer graph(weights, o, ctx);

  std::vector<std::vector<Image>> batches;
  for (int k = 0; k < 4; ++k) batches.push_back({noise_image(36, 28, 100 + k)});
  for (int k = 0; k < 2; ++k)
    batches.push_back({noise_image(36, 28, 200 + k), noise_image(36, 28, 300 + k)});
  for (const auto& b : batches) {
    const std::vector<Image> want = eager.run(b), got = graph.run(b);
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) CHECK(got[i].pixels == want[i].pixels);
  }
  // One image: eager warm-up, then recorded and replayed (3 replays); two images: a new
  // shape, warm-up, then 1 replay.
  CHECK(eager.graph_replays() == 0);
  CHECK(graph.graph_replays() == 4);
}

}  // namespace

TEST_CASE("cartoonize with CUDA graphs gives the eager pixels, frame after frame", "[cuda]") {
  CGAN_REQUIRE_CUDA();
  SECTION("fp32") { check_graph_inference(Precision::FP32); }
  SECTION("bf16") {
    if (compute_capability(Device::cuda(0)) < 80) {
      test::skip("bf16 needs sm_80 or newer");
      return;
    }
    check_graph_inference(Precision::BF16);
  }
}
