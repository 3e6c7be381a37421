// Image preprocessing: uint8 HWC <-> float NCHW, identical to images_to_tensor /
// tensor_to_images, exact round trip, clamping and rounding.
#include "cgan/preprocess.hpp"
#include "cpu/test_kernels_util.hpp"

using namespace cgan;
using namespace cgan::test;

TEST_CASE("kernels: preprocess matches images_to_tensor and round-trips exactly", "[kernels]") {
  Context ctx;
  std::vector<Image> imgs;
  std::mt19937 rng(3);
  for (int i = 0; i < 3; ++i) {
    Image im(7, 5);
    for (auto& p : im.pixels) p = uint8_t(rng() & 255);
    imgs.push_back(im);
  }
  imgs[0].pixels[0] = 0;
  imgs[0].pixels[1] = 255;
  for (ChannelOrder order : {ChannelOrder::RGB, ChannelOrder::BGR}) {
    Tensor a = preprocess_images(imgs, order, ctx);
    Tensor b = images_to_tensor(imgs, order, ctx);
    REQUIRE(a.shape() == Shape{3, 3, 5, 7});
    CHECK(a.to_vector() == b.to_vector());
    const std::vector<Image> back = postprocess_images(a, order, ctx);
    for (size_t i = 0; i < imgs.size(); ++i) CHECK(back[i].pixels == imgs[i].pixels);
  }
  Tensor t = preprocess_images(imgs, ChannelOrder::BGR, ctx);
  CHECK(t.to_vector()[0] == imgs[0].pixels[2] / 127.5f - 1.f);  // channel 0 is blue
}

TEST_CASE("kernels: postprocess clamps, rounds like tensor_to_images and maps NaN to 0", "[kernels]") {
  Context ctx;
  std::vector<float> v(3 * 2 * 4);
  const float probes[8] = {-3.f, 2.f, 0.f, 1.f / 255.f, -1.f, 1.f, NAN, 0.5f};
  for (size_t i = 0; i < v.size(); ++i) v[i] = probes[i % 8] + (i % 3 ? 0.f : 1e-3f);
  Tensor t = Tensor::from_vector({1, 3, 2, 4}, v);
  std::vector<uint8_t> px(24);
  tensor_to_pixels(px.data(), t, ChannelOrder::RGB, ctx);
  for (size_t c = 0; c < 3; ++c)
    for (size_t i = 0; i < 8; ++i) {
      const float x = v[c * 8 + i];
      const uint8_t got = px[i * 3 + c];
      if (std::isnan(x)) {
        CHECK(got == 0);
        continue;
      }
      const float r = std::nearbyint((x * 0.5f + 0.5f) * 255.0f);
      CHECK(int(got) == int(std::clamp(r, 0.f, 255.f)));
    }
  Tensor bad = random_tensor({1, 4, 2, 2}, 1);
  REQUIRE_THROWS_WITH(tensor_to_pixels(px.data(), bad, ChannelOrder::RGB, ctx),
                      Catch::Contains("tensor_to_pixels: 'in' must have 3 channels"));
}
