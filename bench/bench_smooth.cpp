// Edge smoother throughput: the CUDA pipeline against OpenCV on all CPU cores (one image per
// thread at a time), in the same run, at 256x256 (batch 8 and 64) and 1920x1080.
// One JSON line per measurement; per-stage GPU times from CUDA events. Without a GPU the CPU
// side still runs and the GPU side prints "no CUDA device: ..." (exit status 0).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.hpp"
#include "cgan/device.hpp"
#include "cgan/smooth.hpp"
#include "cuda_check.hpp"
#include "kernels/smooth.hpp"
#include "kernels/smooth_math.hpp"

using namespace cgan;
namespace fs = std::filesystem;

namespace {

// Flat blocks, strokes and noise: a cartoon-like density of edges.
Image synthetic(int w, int h, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const int bx = 9 + int(rng() % 40), by = 9 + int(rng() % 40), sx = 30 + int(rng() % 60);
  Image im(w, h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = im.at(x, y);
      const bool block = ((x / bx) + (y / by)) % 3 == 0;
      const bool stroke = (x + 2 * y) % sx < 2 || (3 * x - y + 1000000) % (sx + 7) < 2;
      const int n = int(rng() % 7) - 3;
      p[0] = uint8_t(std::clamp((stroke ? 30 : (block ? 220 : x % 256)) + n, 0, 255));
      p[1] = uint8_t(std::clamp((stroke ? 20 : (block ? 90 : y % 256)) + n, 0, 255));
      p[2] = uint8_t(std::clamp((stroke ? 60 : (block ? 40 : 128)) + n, 0, 255));
    }
  return im;
}

// The bundled cartoons resized to the benchmark size when present, else synthetic images.
std::vector<Image> make_batch(int w, int h, int n, std::string& source) {
  std::vector<std::string> files;
  // CMake passes absolute source paths, so __FILE__ locates the repository's data/.
  const fs::path dir = fs::path(__FILE__).parent_path().parent_path() / "data" / "cartoons";
  std::error_code ec;
  if (fs::is_directory(dir, ec))
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (is_image_path(e.path().string())) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  std::vector<Image> out;
  source = files.empty() ? "synthetic" : "data/cartoons";
  for (int i = 0; i < n; ++i) {
    if (files.empty()) {
      out.push_back(synthetic(w, h, uint64_t(i) + 1));
    } else {
      out.push_back(resize_cv_linear(read_image(files[size_t(i) % files.size()]), w, h));
    }
  }
  return out;
}

void cpu_side(const std::vector<Image>& batch, const std::string& size, const std::string& source,
              const SmoothOptions& opt) {
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  const double s = bench::seconds_per_call([&] {
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        Context ctx(Device::cpu());
        for (size_t i = t; i < batch.size(); i += threads) (void)edge_smooth(batch[i], opt, ctx);
      });
    for (auto& th : pool) th.join();
  });
  bench::JsonLine()
      .str("bench", "smooth")
      .str("side", "cpu")
      .str("impl", "opencv")
      .str("size", size)
      .integer("batch", static_cast<long long>(batch.size()))
      .integer("threads", threads)
      .str("images", source)
      .num("ms_per_batch", s * 1e3, 3)
      .num("images_per_s", batch.size() / s, 1)
      .print();
}

void gpu_side(const std::vector<Image>& batch, const std::string& size, const std::string& source,
              const SmoothOptions& opt, Context& ctx) {
  const int n = static_cast<int>(batch.size()), h = batch[0].height, w = batch[0].width;
  const size_t plane = size_t(h) * w, bytes = plane * 3;
  cudaStream_t s = ctx.stream();
  uint8_t *src = nullptr, *dst = nullptr, *state = nullptr, *mask = nullptr;
  int* flags = nullptr;
  CGAN_CUDA_CHECK(cudaMalloc(&src, bytes * n));
  CGAN_CUDA_CHECK(cudaMalloc(&dst, bytes * n));
  CGAN_CUDA_CHECK(cudaMalloc(&state, plane * n));
  CGAN_CUDA_CHECK(cudaMalloc(&mask, plane * n));
  CGAN_CUDA_CHECK(cudaMalloc(&flags, sizeof(int) * kernels::smooth_hysteresis_flag_count()));
  for (int i = 0; i < n; ++i)
    CGAN_CUDA_CHECK(cudaMemcpy(src + bytes * i, batch[size_t(i)].pixels.data(), bytes,
                               cudaMemcpyHostToDevice));
  // Those copies ran on the legacy stream, which `s` (non-blocking) does not wait for.
  CGAN_CUDA_CHECK(cudaDeviceSynchronize());
  const auto t = smooth::canny_int_thresholds(opt.canny_low, opt.canny_high, opt.canny_l2_gradient);
  const U8ImageLayout layout{int64_t(bytes), 3, 1, 0};
  cudaEvent_t ev[5];
  for (auto& e : ev) CGAN_CUDA_CHECK(cudaEventCreate(&e));
  double stage_ms[4] = {0, 0, 0, 0};
  int reps = 0;
  auto run = [&](bool record) {
    if (record) CGAN_CUDA_CHECK(cudaEventRecord(ev[0], s));
    kernels::smooth_canny_nms(state, src, layout, n, h, w, t.low, t.high, opt.canny_l2_gradient, s);
    if (record) CGAN_CUDA_CHECK(cudaEventRecord(ev[1], s));
    kernels::smooth_hysteresis(state, flags, n, h, w, s);
    if (record) CGAN_CUDA_CHECK(cudaEventRecord(ev[2], s));
    kernels::smooth_dilate(nullptr, mask, state, n, h, w, opt.dilate_size, s);
    if (record) CGAN_CUDA_CHECK(cudaEventRecord(ev[3], s));
    kernels::smooth_masked_blur(dst, src, mask, layout, n, h, w, opt.blur, opt.blur_size, s);
    if (record) {
      CGAN_CUDA_CHECK(cudaEventRecord(ev[4], s));
      CGAN_CUDA_CHECK(cudaEventSynchronize(ev[4]));
      for (int k = 0; k < 4; ++k) {
        float ms = 0;
        CGAN_CUDA_CHECK(cudaEventElapsedTime(&ms, ev[k], ev[k + 1]));
        stage_ms[k] += ms;
      }
      ++reps;
    } else {
      CGAN_CUDA_CHECK(cudaStreamSynchronize(s));
    }
  };
  const double kernels_s = bench::seconds_per_call([&] { run(true); });
  // The library call as the tools use it: upload, pipeline, download.
  std::vector<Image> out;
  const double e2e_s = bench::seconds_per_call([&] { edge_smooth(out, batch, opt, ctx); });
  for (auto& e : ev) CGAN_CUDA_CHECK(cudaEventDestroy(e));
  CGAN_CUDA_CHECK(cudaFree(src));
  CGAN_CUDA_CHECK(cudaFree(dst));
  CGAN_CUDA_CHECK(cudaFree(state));
  CGAN_CUDA_CHECK(cudaFree(mask));
  CGAN_CUDA_CHECK(cudaFree(flags));
  bench::JsonLine()
      .str("bench", "smooth")
      .str("side", "gpu")
      .str("impl", "cuda")
      .str("device", device_description(ctx.device()))
      .str("size", size)
      .integer("batch", n)
      .str("images", source)
      .num("ms_per_batch_kernels", kernels_s * 1e3, 3)
      .num("images_per_s_kernels", n / kernels_s, 1)
      .num("ms_per_batch_end_to_end", e2e_s * 1e3, 3)
      .num("images_per_s_end_to_end", n / e2e_s, 1)
      .object("stage_ms")
      .num("gray_sobel_nms", stage_ms[0] / reps, 4)
      .num("hysteresis", stage_ms[1] / reps, 4)
      .num("dilate", stage_ms[2] / reps, 4)
      .num("masked_blur", stage_ms[3] / reps, 4)
      .close()
      .print();
}

}  // namespace

int main() {
  try {
    const SmoothOptions opt;
    struct Config {
      int w, h, batch;
    };
    const Config configs[] = {{256, 256, 8}, {256, 256, 64}, {1920, 1080, 8}};
    const bool gpu = cuda_available();
    std::unique_ptr<Context> ctx;
    if (gpu) ctx = std::make_unique<Context>(Device::cuda(0));
    for (const Config& c : configs) {
      std::string source;
      const std::vector<Image> batch = make_batch(c.w, c.h, c.batch, source);
      const std::string size = std::to_string(c.w) + "x" + std::to_string(c.h);
      cpu_side(batch, size, source, opt);
      if (gpu)
        gpu_side(batch, size, source, opt, *ctx);
      else
        bench::JsonLine()
            .str("bench", "smooth")
            .str("side", "gpu")
            .str("size", size)
            .integer("batch", c.batch)
            .str("skipped", "no CUDA device: " + cuda_unavailable_reason())
            .print();
      std::fflush(stdout);
    }
    if (!gpu) std::printf("no CUDA device: %s\n", cuda_unavailable_reason().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_smooth: %s\n", e.what());
    return 1;
  }
}
