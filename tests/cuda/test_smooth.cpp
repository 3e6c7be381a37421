// Edge smoother on CUDA against the OpenCV CPU path: edge maps and smoothed images identical
// (the whole pipeline is integer arithmetic; the brief allows 1 level, we require 0 and
// report the largest difference), on synthetic, random and real images of many sizes,
// batched, with poisoned outputs; hysteresis over chains that cross many tiles.
#include "common/test_util.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>

#include "cgan/image.hpp"
#include "cgan/smooth.hpp"
#include "kernels/smooth.hpp"
#include "kernels/smooth_math.hpp"

using namespace cgan;
namespace fs = std::filesystem;

namespace {

Image random_image(int w, int h, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Image im(w, h);
  for (uint8_t& v : im.pixels) v = uint8_t(rng() & 255);
  return im;
}

// Blocks, diagonal strokes in several directions and a gradient, plus light noise.
Image synthetic(int w, int h, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const int bx = 5 + int(rng() % 20), by = 5 + int(rng() % 20), sx = 20 + int(rng() % 40);
  Image im(w, h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = im.at(x, y);
      const bool block = ((x / bx) + (y / by)) % 3 == 0;
      const bool stroke = (x + 2 * y) % sx < 2 || (3 * x - y + 100000) % (sx + 7) < 2;
      const int n = int(rng() % 9) - 4;
      p[0] = uint8_t(std::clamp((stroke ? 30 : (block ? 220 : x % 256)) + n, 0, 255));
      p[1] = uint8_t(std::clamp((stroke ? 20 : (block ? 90 : y % 256)) + n, 0, 255));
      p[2] = uint8_t(std::clamp((stroke ? 60 : (block ? 40 : 128)) + n, 0, 255));
    }
  return im;
}

// A 3-pixel serpentine band whose contrast gives weak gradients (between the thresholds)
// along its sides, with a bright strong patch only at its start: the whole snake becomes
// an edge only if hysteresis follows it across every tile, which takes many passes.
// (Checked with cv2.Canny: 300x200 -> 14948 edge pixels, 0 without the patch.)
Image snake(int w, int h) {
  constexpr int kBand = 3, kStep = 8;
  Image im(w, h);
  std::fill(im.pixels.begin(), im.pixels.end(), uint8_t(100));
  auto fill = [&](int x0, int x1, int y0, int y1, uint8_t v) {
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x < x1; ++x) {
        uint8_t* p = im.at(x, y);
        p[0] = p[1] = p[2] = v;
      }
  };
  bool right = true;
  for (int y = 2; y + kBand + 2 < h; y += kStep) {
    fill(2, w - 2, y, y + kBand, 130);
    const int xe = right ? w - 2 - kBand : 2;
    fill(xe, xe + kBand, y, std::min(h - 2, y + kStep + kBand), 130);
    right = !right;
  }
  fill(2, 12, 2, 2 + kBand, 255);
  return im;
}

std::vector<std::string> data_images(size_t max_count) {
  std::vector<std::string> files;
  for (const char* d : {"/data/cartoons", "/data/photos"}) {
    const std::string dir = std::string(CGAN_SOURCE_DIR) + d;
    if (!fs::is_directory(dir)) continue;
    for (const auto& e : fs::directory_iterator(dir))
      if (is_image_path(e.path().string())) files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  if (files.size() > max_count) files.resize(max_count);
  return files;
}

int max_abs_diff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, size_t* count) {
  REQUIRE(a.size() == b.size());
  int m = 0;
  *count = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const int d = std::abs(int(a[i]) - int(b[i]));
    m = std::max(m, d);
    *count += d != 0;
  }
  return m;
}

void compare_cuda_cpu(const std::vector<Image>& in, const SmoothOptions& opt, const std::string& what) {
  Context cpu(Device::cpu());
  Context gpu(Device::cuda(0));
  std::vector<Image> out_cpu, out_gpu;
  edge_smooth(out_cpu, in, opt, cpu);
  edge_smooth(out_gpu, in, opt, gpu);
  const std::vector<EdgeMaps> maps_cpu = edge_maps(in, opt, cpu);
  const std::vector<EdgeMaps> maps_gpu = edge_maps(in, opt, gpu);
  REQUIRE(out_gpu.size() == in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    INFO(what << " image " << i << " (" << in[i].width << "x" << in[i].height << ")");
    size_t n_edges = 0, n_dil = 0, n_px = 0;
    CHECK(max_abs_diff(maps_gpu[i].edges, maps_cpu[i].edges, &n_edges) == 0);
    CHECK(max_abs_diff(maps_gpu[i].dilated, maps_cpu[i].dilated, &n_dil) == 0);
    const int md = max_abs_diff(out_gpu[i].pixels, out_cpu[i].pixels, &n_px);
    INFO("smoothed: " << n_px << " values differ, by at most " << md);
    CHECK(md <= 1);
    CHECK(n_px == 0);
  }
}

}  // namespace

TEST_CASE("cuda smooth: synthetic and random images of many sizes equal the CPU path",
          "[cuda][smooth]") {
  CGAN_REQUIRE_CUDA();
  const SmoothOptions opt;
  const int sizes[][2] = {{256, 256}, {37, 53}, {53, 37}, {1, 1}, {2, 2}, {3, 5}, {1, 40},
                          {40, 1}, {33, 9}, {65, 64}, {301, 200}, {1920, 1080}};
  uint64_t seed = 1;
  for (const auto& s : sizes) {
    compare_cuda_cpu({synthetic(s[0], s[1], seed), random_image(s[0], s[1], seed + 50)}, opt,
                     "size " + std::to_string(s[0]) + "x" + std::to_string(s[1]));
    ++seed;
  }
}

TEST_CASE("cuda smooth: a batch of 8 at 256x256 and mixed sizes in one call", "[cuda][smooth]") {
  CGAN_REQUIRE_CUDA();
  std::vector<Image> batch;
  for (int i = 0; i < 8; ++i) batch.push_back(synthetic(256, 256, 100 + i));
  batch.push_back(synthetic(37, 53, 7));
  batch.push_back(random_image(37, 53, 8));
  batch.push_back(synthetic(256, 256, 9));
  compare_cuda_cpu(batch, SmoothOptions{}, "batch");
}

TEST_CASE("cuda smooth: every option", "[cuda][smooth]") {
  CGAN_REQUIRE_CUDA();
  std::vector<SmoothOptions> variants(7);
  variants[0].canny_low = 50;
  variants[0].canny_high = 150.7;
  variants[1].canny_low = 220;
  variants[1].canny_high = 90;
  variants[2].canny_l2_gradient = true;
  variants[3].dilate_size = 3;
  variants[3].blur_size = 3;
  variants[4].dilate_size = 1;
  variants[4].blur_size = 7;
  variants[5].blur = SmoothBlur::Box;
  variants[6].blur = SmoothBlur::Box;
  variants[6].blur_size = 15;
  variants[6].dilate_size = 31;
  for (size_t v = 0; v < variants.size(); ++v)
    compare_cuda_cpu({synthetic(97, 80, v), synthetic(2, 3, v), random_image(40, 41, v)},
                     variants[v], "variant " + std::to_string(v));
}

TEST_CASE("cuda smooth: hysteresis follows chains across many tiles", "[cuda][smooth]") {
  CGAN_REQUIRE_CUDA();
  SmoothOptions opt;
  Context cpu(Device::cpu());
  for (const auto& s : {std::array<int, 2>{300, 200}, std::array<int, 2>{1000, 70},
                        std::array<int, 2>{77, 300}}) {
    const Image im = snake(s[0], s[1]);
    const EdgeMaps m = edge_maps({im}, opt, cpu)[0];
    // The chain is only an edge through hysteresis: most of its pixels are weak.
    const size_t edge_px = size_t(std::count(m.edges.begin(), m.edges.end(), uint8_t(255)));
    INFO("edge pixels on the CPU: " << edge_px);
    REQUIRE(edge_px > size_t(s[0]) * size_t(s[1]) / 12);
    compare_cuda_cpu({im, im}, opt, "snake");
  }
}

TEST_CASE("cuda smooth: real images", "[cuda][smooth]") {
  CGAN_REQUIRE_CUDA();
  const auto files = data_images(12);
  if (files.empty()) {
    test::skip("no images in data/cartoons or data/photos");
    return;
  }
  std::vector<Image> resized, native;
  for (const auto& f : files) {
    const Image im = read_image(f);
    resized.push_back(resize_cv_linear(im, 256, 256));
    if (native.size() < 3) native.push_back(im);
  }
  compare_cuda_cpu(resized, SmoothOptions{}, "data/ at 256x256");
  compare_cuda_cpu(native, SmoothOptions{}, "data/ at native size");
}

TEST_CASE("cuda smooth: tensor entry point equals the CPU, outputs poisoned", "[cuda][smooth]") {
  CGAN_REQUIRE_CUDA();
  Context cpu(Device::cpu());
  Context gpu(Device::cuda(0));
  const std::vector<Image> imgs = {synthetic(77, 45, 1), synthetic(77, 45, 2),
                                   random_image(77, 45, 3)};
  for (ChannelOrder order : {ChannelOrder::RGB, ChannelOrder::BGR}) {
    // Values off the 8-bit grid too, and out of range, to exercise quantization and clamping.
    Tensor host = images_to_tensor(imgs, order, cpu);
    std::vector<float> v = host.to_vector();
    std::mt19937_64 rng(5);
    for (float& x : v) x += float(int(rng() % 7) - 3) * 0.0013f;
    v[0] = -1.7f;
    v[1] = 1.3f;
    host = Tensor::from_vector(host.shape(), v);
    Tensor want;
    edge_smooth_batch(want, host, SmoothOptions{}, cpu, order);
    Tensor dev = host.to(gpu);
    Tensor got = Tensor::empty(host.shape(), gpu);
    got.fill(NAN, gpu);
    edge_smooth_batch(got, dev, SmoothOptions{}, gpu, order);
    CHECK(got.to_vector(gpu) == want.to_vector());
    edge_smooth_batch(dev, dev, SmoothOptions{}, gpu, order);  // in place
    CHECK(dev.to_vector(gpu) == want.to_vector());
  }
}

TEST_CASE("cuda smooth: stage launchers write every output element", "[cuda][smooth]") {
  CGAN_REQUIRE_CUDA();
  Context gpu(Device::cuda(0));
  Context cpu(Device::cpu());
  const int n = 3, h = 45, w = 71;
  const size_t plane = size_t(h) * w, bytes = plane * 3;
  std::vector<Image> imgs;
  for (int i = 0; i < n; ++i) imgs.push_back(synthetic(w, h, 20 + i));
  // Byte buffers as f32 tensors (the Tensor API has no u8); NaN fill is the poison.
  auto bytes_tensor = [&](size_t nbytes) {
    Tensor t = Tensor::empty({int64_t((nbytes + 3) / 4)}, gpu);
    t.fill(NAN, gpu);
    return t;
  };
  Tensor host_src = Tensor::empty_cpu({int64_t((bytes * n + 3) / 4)});
  for (int i = 0; i < n; ++i)
    std::memcpy(host_src.data<uint8_t>() + bytes * i, imgs[size_t(i)].pixels.data(), bytes);
  Tensor src = host_src.to(gpu);
  Tensor state = bytes_tensor(plane * n), flags = bytes_tensor(sizeof(int) * 64);
  Tensor edges = bytes_tensor(plane * n), dil = bytes_tensor(plane * n), out = bytes_tensor(bytes * n);
  REQUIRE(kernels::smooth_hysteresis_flag_count() <= 64);
  const SmoothOptions opt;
  const auto t = smooth::canny_int_thresholds(opt.canny_low, opt.canny_high, false);
  const U8ImageLayout layout{int64_t(bytes), 3, 1, 0};
  kernels::smooth_canny_nms(state.data<uint8_t>(), src.data<uint8_t>(), layout, n, h, w, t.low,
                            t.high, false, gpu.stream());
  kernels::smooth_hysteresis(state.data<uint8_t>(), flags.data<int>(), n, h, w, gpu.stream());
  kernels::smooth_dilate(edges.data<uint8_t>(), dil.data<uint8_t>(), state.data<uint8_t>(), n, h,
                         w, opt.dilate_size, gpu.stream());
  kernels::smooth_masked_blur(out.data<uint8_t>(), src.data<uint8_t>(), dil.data<uint8_t>(),
                              layout, n, h, w, opt.blur, opt.blur_size, gpu.stream());
  const Tensor e = edges.to_cpu(gpu), d = dil.to_cpu(gpu), o = out.to_cpu(gpu);
  for (int i = 0; i < n; ++i) {
    std::vector<uint8_t> ec(plane), dc(plane), oc(bytes);
    cpu::edge_smooth_u8(oc.data(), ec.data(), dc.data(), imgs[size_t(i)].pixels.data(), h, w, 0,
                        opt);
    CHECK(std::memcmp(ec.data(), e.data<uint8_t>() + plane * i, plane) == 0);
    CHECK(std::memcmp(dc.data(), d.data<uint8_t>() + plane * i, plane) == 0);
    CHECK(std::memcmp(oc.data(), o.data<uint8_t>() + bytes * i, bytes) == 0);
  }
}
