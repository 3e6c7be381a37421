// resize_bicubic against PIL (the official results were resized with PIL's bicubic).
#include <cstdlib>

#include "cgan/resize.hpp"
#include "common/test_util.hpp"

using namespace cgan;

namespace {
Image test_image(int w, int h, uint64_t seed) {
  // Smooth gradients plus noise: exercises both interpolation and clipping.
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> noise(-60, 60);
  Image im(w, h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) {
        const int v = (x * 255 / w + y * 255 / h) / 2 + noise(rng) + (c - 1) * 40;
        im.at(x, y)[c] = static_cast<uint8_t>(std::clamp(v, 0, 255));
      }
  return im;
}
}  // namespace

TEST_CASE("fit_longer_side follows the official test script") {
  CHECK(fit_longer_side(1147, 768, 450) == std::pair<int, int>{450, 301});
  CHECK(fit_longer_side(800, 600, 450) == std::pair<int, int>{450, 337});
  CHECK(fit_longer_side(648, 968, 450) == std::pair<int, int>{301, 450});
  CHECK(fit_longer_side(256, 257, 450) == std::pair<int, int>{448, 450});
  CHECK(fit_longer_side(258, 254, 450) == std::pair<int, int>{450, 443});
  CHECK(fit_longer_side(300, 300, 450) == std::pair<int, int>{450, 450});
}

TEST_CASE("resize_bicubic is bit-exact with PIL Image.resize(BICUBIC)") {
  CGAN_REQUIRE_PYTHON_MODULE("PIL");
  const std::string dir = test::temp_dir("resize");
  struct C { int w, h, ow, oh; };
  const C cases[] = {{1147, 768, 450, 301}, {256, 257, 448, 450}, {97, 61, 33, 40},
                     {40, 30, 123, 71},     {64, 64, 64, 17},     {50, 20, 7, 20},
                     {31, 33, 30, 32}};
  uint64_t seed = 7;
  for (const C& c : cases) {
    const Image src = test_image(c.w, c.h, seed++);
    const std::string in = dir + "/in.png", out = dir + "/out.png";
    write_image(in, src);
    const std::string cmd = test::python() + " " + CGAN_SOURCE_DIR +
                            "/tests/python/pil_resize.py " + in + " " + out + " " +
                            std::to_string(c.ow) + " " + std::to_string(c.oh);
    REQUIRE(std::system(cmd.c_str()) == 0);
    const Image want = read_image(out);
    const Image got = resize_bicubic(src, c.ow, c.oh);
    REQUIRE(got.width == want.width);
    REQUIRE(got.height == want.height);
    int max_diff = 0;
    size_t differ = 0;
    for (size_t i = 0; i < got.pixels.size(); ++i) {
      const int d = std::abs(int(got.pixels[i]) - int(want.pixels[i]));
      max_diff = std::max(max_diff, d);
      differ += d != 0;
    }
    INFO(c.w << "x" << c.h << " -> " << c.ow << "x" << c.oh << ": " << differ
             << " values differ, max " << max_diff);
    CHECK(max_diff == 0);
  }
}
