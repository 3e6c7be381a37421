// The seed's Python recipe (tests/python/seed_edge_smooth.py, cv2 + numpy with its pixel
// loop) against cgan::edge_smooth, bit for bit, on the same files.
#include "common/test_util.hpp"

#include <algorithm>
#include <filesystem>

#include "cgan/image.hpp"
#include "cgan/smooth.hpp"

using namespace cgan;
namespace fs = std::filesystem;

namespace {

std::string seed_script() { return std::string(CGAN_SOURCE_DIR) + "/tests/python/seed_edge_smooth.py"; }

// Runs the seed on `in` and returns its [resized input | smoothed] picture (as RGB).
Image run_seed(const std::string& in, const std::string& out_png, bool resize) {
  const std::string cmd = test::python() + " '" + seed_script() + "' '" + in + "' '" +
                          out_png + "'" + (resize ? "" : " --no-resize");
  INFO(cmd);
  REQUIRE(std::system(cmd.c_str()) == 0);
  return read_image(out_png);
}

Image crop_columns(const Image& im, int x0, int w) {
  Image out(w, im.height);
  for (int y = 0; y < im.height; ++y)
    std::copy(im.at(x0, y), im.at(x0, y) + 3 * w, out.at(0, y));
  return out;
}

size_t count_diff(const Image& a, const Image& b) {
  REQUIRE(a.width == b.width);
  REQUIRE(a.height == b.height);
  size_t n = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) n += a.pixels[i] != b.pixels[i];
  return n;
}

// Strokes and blocks so that plenty of pixels are smoothed, at an odd size.
Image stroke_image(int w, int h) {
  Image im(w, h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = im.at(x, y);
      const bool block = ((x / 23) + (y / 17)) % 2 == 0;
      const bool stroke = (x + 2 * y) % 41 < 2 || (3 * x - y + 1000) % 57 < 3;
      p[0] = stroke ? 20 : (block ? 230 : uint8_t(x * 2));
      p[1] = stroke ? 30 : (block ? 180 : uint8_t(y * 3));
      p[2] = stroke ? 40 : (block ? 60 : 140);
    }
  return im;
}

}  // namespace

TEST_CASE("smooth: equals the seed's Python recipe on PNG files", "[cpu][smooth][python]") {
  CGAN_REQUIRE_PYTHON_MODULE("cv2");
  const std::string dir = test::temp_dir("smooth_py");
  std::vector<std::string> files;
  const std::string cartoons = std::string(CGAN_SOURCE_DIR) + "/data/cartoons";
  if (fs::is_directory(cartoons)) {
    for (const auto& e : fs::directory_iterator(cartoons))
      if (e.path().extension() == ".png") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    if (files.size() > 4) files.resize(4);
  } else {
    WARN("data/cartoons absent: only synthetic images compared");
  }
  // Synthetic: an odd size (resized up by the seed) and an exact 256x256 (no resampling).
  for (const auto& wh : {std::pair<int, int>{137, 91}, std::pair<int, int>{256, 256}}) {
    const std::string p = dir + "/strokes_" + std::to_string(wh.first) + ".png";
    write_image(p, stroke_image(wh.first, wh.second));
    files.push_back(p);
  }
  Context ctx(Device::cpu());
  const SmoothOptions opt;
  for (const std::string& f : files) {
    INFO(f);
    const Image seed = run_seed(f, dir + "/seed.png", true);
    const Image resized = resize_cv_linear(read_image(f), 256, 256);
    const Image ours = side_by_side(resized, edge_smooth(resized, opt, ctx));
    CHECK(count_diff(ours, seed) == 0);
    // The comparison would be empty if nothing were smoothed.
    CHECK(count_diff(crop_columns(seed, 0, 256), crop_columns(seed, 256, 256)) > 100);
  }
}

TEST_CASE("smooth: equals the seed's Python recipe on JPEG-decoded pixels and at native size",
          "[cpu][smooth][python]") {
  CGAN_REQUIRE_PYTHON_MODULE("cv2");
  const std::string dir = test::temp_dir("smooth_py_jpg");
  std::vector<std::string> files;
  const std::string photos = std::string(CGAN_SOURCE_DIR) + "/data/photos";
  if (fs::is_directory(photos))
    for (const auto& e : fs::directory_iterator(photos))
      if (e.path().extension() == ".jpg") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  if (files.size() > 2) files.resize(2);
  if (files.empty()) {
    test::skip("no JPEG photos in data/photos");
    return;
  }
  Context ctx(Device::cpu());
  const SmoothOptions opt;
  for (const std::string& f : files) {
    INFO(f);
    // JPEG decoders (libjpeg in cv2, stb_image here) may differ by a level on some pixels,
    // so the smoother is compared on the pixels cv2 decoded: the seed's left half.
    const Image seed = run_seed(f, dir + "/seed.png", true);
    const Image input = crop_columns(seed, 0, 256);
    CHECK(count_diff(crop_columns(seed, 256, 256), edge_smooth(input, opt, ctx)) == 0);
    // Native size (no resize), on a lossless copy of the pixels we decoded.
    const Image native = read_image(f);
    const std::string png = dir + "/decoded.png";
    write_image(png, native);
    const Image seed_native = run_seed(png, dir + "/seed_native.png", false);
    CHECK(count_diff(crop_columns(seed_native, native.width, native.width),
                     edge_smooth(native, opt, ctx)) == 0);
  }
}
