// Edge smoother, CPU path: equal to a direct OpenCV + seed-semantics pipeline written here,
// on synthetic and real images; the integer per-pixel math the CUDA kernels use (an
// emulation of their algorithm) equal to cv::Canny / cv::dilate; bad inputs.
#include "common/test_util.hpp"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <array>
#include <deque>
#include <filesystem>

#include "cgan/image.hpp"
#include "cgan/smooth.hpp"
#include "kernels/smooth_math.hpp"

using namespace cgan;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

cv::Mat as_mat(const Image& im) {
  return cv::Mat(im.height, im.width, CV_8UC3, const_cast<uint8_t*>(im.pixels.data()));
}

// The seed's recipe, step by step, on the BGR image the seed gets from cv2.imread; the blur is
// numpy's: float64 sum of pad * gauss, assigned (truncated) into uint8.
struct Direct {
  Image out;
  cv::Mat edges, dilated;
};
Direct direct_pipeline(const Image& rgb, const SmoothOptions& o) {
  cv::Mat bgr;
  cv::cvtColor(as_mat(rgb), bgr, cv::COLOR_RGB2BGR);
  cv::Mat gray;
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  Direct d;
  cv::Canny(gray, d.edges, o.canny_low, o.canny_high, 3, o.canny_l2_gradient);
  cv::dilate(d.edges, d.dilated, cv::Mat::ones(o.dilate_size, o.dilate_size, CV_8U));
  const int k = o.blur_size, r = k / 2;
  cv::Mat kernel;
  if (o.blur == SmoothBlur::Gaussian) {
    const cv::Mat g = cv::getGaussianKernel(k, 0);  // CV_64F column
    kernel = g * g.t();
  } else {
    kernel = cv::Mat::ones(k, k, CV_64F);
  }
  cv::Mat pad;
  cv::copyMakeBorder(bgr, pad, r, r, r, r, cv::BORDER_REFLECT_101);
  cv::Mat out = bgr.clone();
  for (int y = 0; y < bgr.rows; ++y)
    for (int x = 0; x < bgr.cols; ++x) {
      if (!d.dilated.at<uint8_t>(y, x)) continue;
      for (int c = 0; c < 3; ++c) {
        double sum = 0;
        for (int i = 0; i < k; ++i)
          for (int j = 0; j < k; ++j)
            sum += pad.at<cv::Vec3b>(y + i, x + j)[c] * kernel.at<double>(i, j);
        // Box: the exact mean, floored (a float 1/25 kernel would round unpredictably).
        if (o.blur == SmoothBlur::Box) sum = std::floor(sum / (k * k));
        out.at<cv::Vec3b>(y, x)[c] = static_cast<uint8_t>(sum);  // numpy: truncation
      }
    }
  d.out = Image(rgb.width, rgb.height);
  cv::cvtColor(out, as_mat(d.out), cv::COLOR_BGR2RGB);
  return d;
}

size_t count_diff(const std::vector<uint8_t>& a, const uint8_t* b, size_t n) {
  size_t bad = 0;
  for (size_t i = 0; i < n; ++i) bad += a[i] != b[i];
  return bad;
}

void check_against_direct(const Image& im, const SmoothOptions& o, const std::string& what) {
  INFO(what << " (" << im.width << "x" << im.height << ")");
  Context ctx(Device::cpu());
  const Direct d = direct_pipeline(im, o);
  const Image out = edge_smooth(im, o, ctx);
  const std::vector<EdgeMaps> maps = edge_maps({im}, o, ctx);
  REQUIRE(out.width == im.width);
  REQUIRE(out.height == im.height);
  const size_t plane = size_t(im.width) * im.height;
  CHECK(count_diff(maps[0].edges, d.edges.ptr<uint8_t>(), plane) == 0);
  CHECK(count_diff(maps[0].dilated, d.dilated.ptr<uint8_t>(), plane) == 0);
  CHECK(count_diff(out.pixels, d.out.pixels.data(), plane * 3) == 0);
}

// Shapes in flat colours, thin strokes like handwriting, a gradient and a little noise: the
// kinds of structure cartoons have, so that every NMS sector and hysteresis case occurs.
Image synthetic(int w, int h, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> u8(0, 255);
  Image im(w, h);
  cv::Mat m = as_mat(im);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = im.at(x, y);
      p[0] = uint8_t((x * 255) / std::max(1, w - 1));
      p[1] = uint8_t((y * 255) / std::max(1, h - 1));
      p[2] = 128;
    }
  const int s = std::max(w, h);
  for (int i = 0; i < 6; ++i) {
    const cv::Scalar col(u8(rng), u8(rng), u8(rng));
    const cv::Point a(int(rng() % unsigned(w)), int(rng() % unsigned(h)));
    const cv::Point b(int(rng() % unsigned(w)), int(rng() % unsigned(h)));
    switch (i % 3) {
      case 0: cv::rectangle(m, a, b, col, cv::FILLED); break;
      case 1: cv::circle(m, a, 1 + int(rng() % unsigned(std::max(1, s / 3))), col, cv::FILLED); break;
      default: cv::ellipse(m, a, cv::Size(1 + s / 5, 1 + s / 9), double(rng() % 180), 0, 360, col, 2, cv::LINE_AA);
    }
  }
  for (int i = 0; i < 8; ++i) {  // strokes
    const cv::Point a(int(rng() % unsigned(w)), int(rng() % unsigned(h)));
    const cv::Point b(int(rng() % unsigned(w)), int(rng() % unsigned(h)));
    cv::line(m, a, b, cv::Scalar(u8(rng) / 4, u8(rng) / 4, u8(rng) / 4), 1 + int(rng() % 2),
             i % 2 ? cv::LINE_AA : cv::LINE_8);
  }
  std::normal_distribution<double> noise(0, 6);
  for (uint8_t& v : im.pixels) v = cv::saturate_cast<uint8_t>(v + noise(rng));
  return im;
}

Image random_image(int w, int h, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Image im(w, h);
  for (uint8_t& v : im.pixels) v = uint8_t(rng() & 255);
  return im;
}

std::vector<std::string> image_files(const std::string& dir) {
  std::vector<std::string> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && is_image_path(e.path().string())) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

// The CUDA kernels' algorithm, run on the host with the same per-pixel functions: gray tile
// with replicated borders, magnitude 0 outside, NMS state, then propagation to the fixed
// point (here by BFS: the fixed point is unique) and a window max.
void emulate_gpu_maps(const Image& im, const SmoothOptions& o, std::vector<uint8_t>& edges,
                      std::vector<uint8_t>& dilated) {
  const int w = im.width, h = im.height;
  std::vector<int> gray(size_t(w) * h), mag(size_t(w) * h), gx(gray.size()), gy(gray.size());
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const uint8_t* p = im.at(x, y);  // RGB
      gray[size_t(y) * w + x] = smooth::gray_from_bgr(p[2], p[1], p[0]);
    }
  auto g = [&](int y, int x) {
    return gray[size_t(smooth::clamp_index(y, h)) * w + smooth::clamp_index(x, w)];
  };
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const int dx = smooth::sobel_dx(g(y - 1, x - 1), g(y - 1, x + 1), g(y, x - 1), g(y, x + 1),
                                      g(y + 1, x - 1), g(y + 1, x + 1));
      const int dy = smooth::sobel_dy(g(y - 1, x - 1), g(y - 1, x), g(y - 1, x + 1),
                                      g(y + 1, x - 1), g(y + 1, x), g(y + 1, x + 1));
      const size_t i = size_t(y) * w + x;
      gx[i] = dx;
      gy[i] = dy;
      mag[i] = smooth::gradient_magnitude(dx, dy, o.canny_l2_gradient);
    }
  auto m = [&](int y, int x) {
    return (y < 0 || y >= h || x < 0 || x >= w) ? 0 : mag[size_t(y) * w + x];
  };
  const smooth::CannyThresholds t =
      smooth::canny_int_thresholds(o.canny_low, o.canny_high, o.canny_l2_gradient);
  std::vector<uint8_t> state(gray.size());
  std::deque<std::pair<int, int>> queue;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const size_t i = size_t(y) * w + x;
      state[i] = smooth::nms_state(gx[i], gy[i], m(y - 1, x - 1), m(y - 1, x), m(y - 1, x + 1),
                                   m(y, x - 1), m(y, x), m(y, x + 1), m(y + 1, x - 1),
                                   m(y + 1, x), m(y + 1, x + 1), t.low, t.high);
      if (state[i] == smooth::kStrong) queue.emplace_back(y, x);
    }
  while (!queue.empty()) {
    const auto [y, x] = queue.front();
    queue.pop_front();
    for (int dy = -1; dy <= 1; ++dy)
      for (int dx = -1; dx <= 1; ++dx) {
        const int yy = y + dy, xx = x + dx;
        if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
        uint8_t& s = state[size_t(yy) * w + xx];
        if (s == smooth::kWeak) {
          s = smooth::kStrong;
          queue.emplace_back(yy, xx);
        }
      }
  }
  edges.assign(state.size(), 0);
  for (size_t i = 0; i < state.size(); ++i) edges[i] = state[i] == smooth::kStrong ? 255 : 0;
  dilated.assign(state.size(), 0);
  const int r = o.dilate_size / 2;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      bool any = false;
      for (int yy = std::max(0, y - r); yy <= std::min(h - 1, y + r) && !any; ++yy)
        for (int xx = std::max(0, x - r); xx <= std::min(w - 1, x + r); ++xx)
          any = any || edges[size_t(yy) * w + xx];
      dilated[size_t(y) * w + x] = any ? 255 : 0;
    }
}

void check_emulation(const Image& im, const SmoothOptions& o, const std::string& what) {
  INFO(what << " (" << im.width << "x" << im.height << ")");
  const Direct d = direct_pipeline(im, o);
  std::vector<uint8_t> edges, dilated;
  emulate_gpu_maps(im, o, edges, dilated);
  const size_t plane = size_t(im.width) * im.height;
  CHECK(count_diff(edges, d.edges.ptr<uint8_t>(), plane) == 0);
  CHECK(count_diff(dilated, d.dilated.ptr<uint8_t>(), plane) == 0);
}

const int kSizes[][2] = {{256, 256}, {37, 53}, {53, 37}, {1, 1}, {2, 2}, {3, 5}, {1, 40},
                         {40, 1}, {2, 9}, {65, 64}, {301, 200}};

}  // namespace

TEST_CASE("smooth: BGR2GRAY fixed point equals OpenCV for all colours", "[cpu][smooth]") {
  // Every (b, g, r) triple once: a 4096x4096 image.
  cv::Mat bgr(4096, 4096, CV_8UC3);
  for (int i = 0; i < (1 << 24); ++i) {
    cv::Vec3b& p = bgr.at<cv::Vec3b>(i >> 12, i & 4095);
    p = cv::Vec3b(uint8_t(i & 255), uint8_t((i >> 8) & 255), uint8_t(i >> 16));
  }
  cv::Mat gray;
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  size_t bad = 0;
  for (int i = 0; i < (1 << 24); ++i) {
    const cv::Vec3b p = bgr.at<cv::Vec3b>(i >> 12, i & 4095);
    bad += gray.at<uint8_t>(i >> 12, i & 4095) != smooth::gray_from_bgr(p[0], p[1], p[2]);
  }
  CHECK(bad == 0);
}

TEST_CASE("smooth: reflect padding equals numpy's np.pad(mode='reflect')", "[cpu][smooth]") {
  // np.pad(np.arange(n), (3, 3), mode='reflect') printed by numpy 1.24.
  const std::vector<std::vector<int>> expected = {{0, 0, 0, 0, 0, 0, 0},
                                                  {1, 0, 1, 0, 1, 0, 1, 0},
                                                  {1, 2, 1, 0, 1, 2, 1, 0, 1},
                                                  {3, 2, 1, 0, 1, 2, 3, 2, 1, 0}};
  for (int n = 1; n <= 4; ++n) {
    std::vector<int> got;
    for (int i = -3; i < n + 3; ++i) got.push_back(smooth::reflect101_index(i, n));
    CHECK(got == expected[size_t(n - 1)]);
  }
  // And OpenCV's BORDER_REFLECT_101, which the direct pipeline below pads with.
  for (int n = 1; n <= 9; ++n)
    for (int i = -7; i < n + 7; ++i)
      CHECK(smooth::reflect101_index(i, n) == cv::borderInterpolate(i, n, cv::BORDER_REFLECT_101));
}

TEST_CASE("smooth: Gaussian integer weights are getGaussianKernel(k, 0)", "[cpu][smooth]") {
  for (int k : {1, 3, 5, 7}) {
    const cv::Mat g = cv::getGaussianKernel(k, 0);
    for (int i = 0; i < k; ++i)
      CHECK(g.at<double>(i) * smooth::gaussian_weight_sum(k) == double(smooth::gaussian_weight(k, i)));
  }
}

TEST_CASE("smooth: CPU path equals the direct OpenCV pipeline on synthetic images",
          "[cpu][smooth]") {
  const SmoothOptions o;
  uint64_t seed = 1;
  for (const auto& s : kSizes) {
    check_against_direct(synthetic(s[0], s[1], seed), o, "synthetic " + std::to_string(seed));
    check_against_direct(random_image(s[0], s[1], seed + 100), o, "noise");
    ++seed;
  }
  // Flat image: no edges at all, output == input.
  Image flat(31, 17);
  std::fill(flat.pixels.begin(), flat.pixels.end(), uint8_t(77));
  Context ctx(Device::cpu());
  CHECK(edge_smooth(flat, o, ctx).pixels == flat.pixels);
}

TEST_CASE("smooth: every option against the direct pipeline", "[cpu][smooth]") {
  std::vector<SmoothOptions> variants;
  SmoothOptions o;
  o.canny_low = 50;
  o.canny_high = 150.7;
  variants.push_back(o);
  o = {};
  o.canny_low = 220;  // swapped, as cv::Canny allows
  o.canny_high = 90;
  variants.push_back(o);
  o = {};
  o.canny_l2_gradient = true;
  variants.push_back(o);
  o = {};
  o.dilate_size = 3;
  o.blur_size = 3;
  variants.push_back(o);
  o = {};
  o.dilate_size = 1;
  o.blur_size = 7;
  variants.push_back(o);
  o = {};
  o.blur = SmoothBlur::Box;
  variants.push_back(o);
  o.blur_size = 9;
  o.dilate_size = 7;
  variants.push_back(o);
  for (size_t v = 0; v < variants.size(); ++v)
    for (const auto& s : {std::array<int, 2>{96, 80}, std::array<int, 2>{37, 53},
                          std::array<int, 2>{2, 3}})
      check_against_direct(synthetic(s[0], s[1], 40 + v), variants[v],
                           "variant " + std::to_string(v));
}

TEST_CASE("smooth: the CUDA kernels' integer math equals cv::Canny and cv::dilate",
          "[cpu][smooth]") {
  SmoothOptions o;
  uint64_t seed = 7;
  for (const auto& s : kSizes) {
    check_emulation(synthetic(s[0], s[1], seed), o, "synthetic");
    check_emulation(random_image(s[0], s[1], seed), o, "noise");
    ++seed;
  }
  SmoothOptions l2;
  l2.canny_l2_gradient = true;
  l2.canny_low = 30;
  l2.canny_high = 90.5;
  SmoothOptions low;
  low.canny_low = 10;
  low.canny_high = 40;  // long weak chains: hysteresis matters
  low.dilate_size = 7;
  for (int i = 0; i < 4; ++i) {
    check_emulation(synthetic(120 + i, 77, 300 + i), l2, "L2");
    check_emulation(synthetic(120 + i, 77, 400 + i), low, "low thresholds");
  }
}

void check_real_images(const std::vector<std::string>& files) {
  const SmoothOptions o;
  size_t n = 0;
  for (const std::string& f : files) {
    const Image im = read_image(f);
    check_against_direct(resize_cv_linear(im, 256, 256), o, f + " at 256x256");
    if (n % 4 == 0) check_against_direct(im, o, f + " at native size");
    if (n % 3 == 0) check_emulation(im, o, f + " emulated CUDA maps");
    ++n;
  }
}

TEST_CASE("smooth: real images in data/", "[cpu][smooth]") {
  std::vector<std::string> files;
  for (const char* d : {"/data/cartoons", "/data/photos"}) {
    const auto f = image_files(std::string(CGAN_SOURCE_DIR) + d);
    files.insert(files.end(), f.begin(), f.end());
  }
  if (files.empty()) {
    test::skip(std::string("no images in ") + CGAN_SOURCE_DIR + "/data/{cartoons,photos}");
    return;
  }
  check_real_images(files);
}

TEST_CASE("smooth: conformance photos in ../shared", "[cpu][smooth]") {
  CGAN_REQUIRE_SHARED("conformance/official_hayao/input");
  const auto files = image_files(test::shared_dir() + "/conformance/official_hayao/input");
  REQUIRE(!files.empty());
  check_real_images(files);
}

TEST_CASE("smooth: batch of mixed sizes and the tensor entry point", "[cpu][smooth]") {
  Context ctx(Device::cpu());
  const SmoothOptions o;
  std::vector<Image> in = {synthetic(64, 48, 1), synthetic(37, 53, 2), synthetic(64, 48, 3)};
  std::vector<Image> out;
  edge_smooth(out, in, o, ctx);
  REQUIRE(out.size() == 3);
  for (size_t i = 0; i < in.size(); ++i)
    CHECK(out[i].pixels == edge_smooth(in[i], o, ctx).pixels);
  edge_smooth(in, in, o, ctx);  // aliasing in and out is allowed
  CHECK(in[1].pixels == out[1].pixels);

  const std::vector<Image> same = {synthetic(40, 30, 5), synthetic(40, 30, 6)};
  std::vector<Image> expect;
  edge_smooth(expect, same, o, ctx);
  for (ChannelOrder order : {ChannelOrder::RGB, ChannelOrder::BGR}) {
    const Tensor t = images_to_tensor(same, order, ctx);
    Tensor r;
    edge_smooth_batch(r, t, o, ctx, order);
    REQUIRE(r.shape() == t.shape());
    const std::vector<Image> back = tensor_to_images(r, order, ctx);
    for (size_t i = 0; i < same.size(); ++i) CHECK(back[i].pixels == expect[i].pixels);
    Tensor inplace = images_to_tensor(same, order, ctx);
    edge_smooth_batch(inplace, inplace, o, ctx, order);
    CHECK(inplace.to_vector() == r.to_vector());
  }
}

TEST_CASE("smooth: resize and side-by-side helpers", "[cpu][smooth]") {
  const Image im = synthetic(90, 61, 9);
  const Image r = resize_cv_linear(im, 256, 256);
  cv::Mat expect;
  cv::resize(as_mat(im), expect, cv::Size(256, 256));
  REQUIRE(r.width == 256);
  CHECK(count_diff(r.pixels, expect.ptr<uint8_t>(), r.pixels.size()) == 0);
  const Image sbs = side_by_side(im, im);
  CHECK(sbs.width == 180);
  CHECK(std::equal(im.at(0, 5), im.at(0, 5) + 270, sbs.at(0, 5)));
  CHECK(std::equal(im.at(0, 5), im.at(0, 5) + 270, sbs.at(90, 5)));
}

TEST_CASE("smooth: bad inputs and options give specific errors", "[cpu][smooth]") {
  Context ctx(Device::cpu());
  const Image good = synthetic(8, 8, 1);
  SmoothOptions o;
  std::vector<Image> out;
  CHECK_THROWS_WITH(edge_smooth(out, {good, Image()}, o, ctx),
                    Contains("image 1 is empty"));
  Image broken(4, 4);
  broken.pixels.resize(10);
  CHECK_THROWS_WITH(edge_smooth(out, {broken}, o, ctx), Contains("holds 10 bytes"));
  o.canny_aperture = 5;
  CHECK_THROWS_WITH(edge_smooth(good, o, ctx), Contains("canny_aperture"));
  o = {};
  o.dilate_size = 4;
  CHECK_THROWS_WITH(edge_smooth(good, o, ctx), Contains("dilate_size"));
  o = {};
  o.blur_size = 9;
  CHECK_THROWS_WITH(edge_smooth(good, o, ctx), Contains("Gaussian blur_size"));
  o = {};
  o.blur = SmoothBlur::Box;
  o.blur_size = 17;
  CHECK_THROWS_WITH(edge_smooth(good, o, ctx), Contains("box blur_size"));
  o = {};
  o.canny_low = -1;
  CHECK_THROWS_WITH(edge_smooth(good, o, ctx), Contains("thresholds"));
  o = {};
  Tensor t;
  CHECK_THROWS_WITH(edge_smooth_batch(t, Tensor::empty_cpu({2, 4, 8, 8}), o, ctx),
                    Contains("[N,3,H,W]"));
  CHECK_THROWS_WITH(edge_smooth_batch(t, Tensor::empty_cpu({2, 3, 8, 8}, DType::F16), o, ctx),
                    Contains("f32"));
  CHECK_THROWS_WITH(edge_smooth_batch(t, Tensor(), o, ctx), Contains("undefined"));
  CHECK_THROWS_WITH(resize_cv_linear(good, 0, 5), Contains("positive"));
  CHECK_THROWS_WITH(side_by_side(good, synthetic(8, 9, 1)), Contains("heights differ"));
}
