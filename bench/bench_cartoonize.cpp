// Inference speed of the official CartoonGAN generator (cgan::OfficialGenerator::infer):
// 1024x768 single images and 256x256 batches of 8 on the GPU, TF32 on and off, and one
// 256x256 image on the CPU. Weights: ../shared's Hayao file when present (or the path given
// as the first argument), else seeded random weights of the same shapes (same speed).
//
// Method: the input tensor is already on the device (no decode, resize or copies); each run
// is infer() + synchronize, timed on the host (so launch and allocation overheads count);
// warm-up runs first (the first one also picks the cuDNN algorithms), then the median of the
// timed runs. peak_alloc_MiB: the caching allocator's high-water mark of bytes in use during
// the timed runs (weights, activations, workspace).
// Output: one JSON object per line per measurement, then a '#' table. Same format as
// bench/pytorch_cartoonize.py, run on the same machine for the side-by-side.
// After each measurement, a few more runs with an OpProfile attached (cgan/profile.hpp) give
// the per-op-category breakdown (convolutions / our kernels / data): a '#' table and
// "cartoonize_ops" / "cartoonize_op_groups" JSON lines.
// Without a GPU: "no CUDA device: ..." then the CPU figure, exit status 0.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "cgan/device.hpp"
#include "cgan/networks.hpp"
#include "cgan/profile.hpp"

using namespace cgan;
namespace fs = std::filesystem;

namespace {

struct Row {
  std::string device, shape;
  int batch;
  bool tf32;
  double ms, ms_per_image, images_per_s, peak_mib;
};

std::string weights_path(int argc, char** argv) {
  if (argc > 1) return argv[1];
  const char* env = std::getenv("CGAN_SHARED_DIR");
  const fs::path shared = env && *env ? fs::path(env)
                                      : fs::path(__FILE__).parent_path().parent_path().parent_path() /
                                            "shared";
  const fs::path p = shared / "weights" / "cartoongan_hayao.safetensors";
  return fs::exists(p) ? p.string() : std::string();
}

Row measure(OfficialGenerator& g, const Shape& shape, int warmup, int runs, bool tf32) {
  Context& ctx = g.ctx();
  ctx.allow_tf32 = tf32;
  // A fixed pseudo-random pattern in [-1, 1] (timings do not depend on the values).
  std::vector<float> pattern(static_cast<size_t>(shape_numel(shape)));
  for (size_t i = 0; i < pattern.size(); ++i)
    pattern[i] = float(int((i * 2654435761u) % 2001) - 1000) / 1000.0f;
  const Tensor x = Tensor::from_vector(shape, pattern).to(ctx);
  auto run = [&] {
    const Tensor y = g.infer(x);
    ctx.synchronize();
  };
  for (int i = 0; i < warmup; ++i) run();
  ctx.allocator().reset_peak();
  const double med = bench::host_median_ms(run, 0, runs);
  const int n = static_cast<int>(shape[0]);
  Row r{ctx.is_cuda() ? device_description(ctx.device()) : std::string("CPU"),
        std::to_string(shape[3]) + "x" + std::to_string(shape[2]),
        n,
        ctx.is_cuda() && tf32,
        med,
        med / n,
        n * 1e3 / med,
        double(ctx.allocator().stats().peak_bytes_in_use) / (1 << 20)};
  bench::JsonLine()
      .str("bench", "cartoonize")
      .str("impl", "cgan")
      .str("device", r.device)
      .str("shape", r.shape)
      .integer("batch", r.batch)
      .boolean("tf32", r.tf32)
      .integer("runs", runs)
      .num("ms", r.ms, 3)
      .num("ms_per_image", r.ms_per_image, 3)
      .num("images_per_s", r.images_per_s, 2)
      .num("peak_alloc_MiB", r.peak_mib, 1)
      .print();

  // Where the time goes: a few more runs with the per-op profiler attached.
  OpProfile ops;
  ctx.profiler = &ops;
  const int prof_runs = std::max(1, std::min(runs, 5));
  double wall = 0;
  for (int i = 0; i < prof_runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    ops.resolve();
    wall += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count();
  }
  ctx.profiler = nullptr;
  const std::string title = r.device + ", " + r.shape + ", batch " + std::to_string(n) +
                            ", tf32 " + (r.tf32 ? "on" : "off");
  bench::print_op_breakdown(ops, prof_runs, wall / prof_runs, "cartoonize", title,
                            [&](bench::JsonLine& j) {
                              j.str("device", r.device)
                                  .str("shape", r.shape)
                                  .integer("batch", r.batch)
                                  .boolean("tf32", r.tf32);
                            });
  return r;
}

void table(const std::vector<Row>& rows) {
  std::printf("# %-10s %-5s %-9s %-5s %10s %12s %10s %10s\n", "device", "batch", "size", "tf32",
              "ms", "ms/image", "images/s", "peak MiB");
  for (const Row& r : rows)
    std::printf("# %-10s %-5d %-9s %-5s %10.2f %12.2f %10.2f %10.1f\n",
                r.device == "CPU" ? "CPU" : "GPU", r.batch, r.shape.c_str(),
                r.tf32 ? "on" : "off", r.ms, r.ms_per_image, r.images_per_s, r.peak_mib);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string weights = weights_path(argc, argv);
    std::printf("# weights: %s\n",
                weights.empty() ? "random (seeded), official shapes" : weights.c_str());
    std::vector<Row> rows;
    auto make = [&](Context& ctx) {
      OfficialGenerator::Options o;
      o.seed = 7;
      auto g = std::make_unique<OfficialGenerator>(ctx, o);
      if (!weights.empty()) g->load(weights);
      return g;
    };
    if (cuda_available()) {
      Context gpu(Device::cuda(0));
      std::printf("# device: %s\n", device_description(gpu.device()).c_str());
      auto g = make(gpu);
      for (bool tf32 : {true, false}) {
        rows.push_back(measure(*g, {1, 3, 768, 1024}, 3, 20, tf32));
        rows.push_back(measure(*g, {8, 3, 256, 256}, 3, 20, tf32));
      }
    } else {
      std::printf("no CUDA device: %s\n", cuda_unavailable_reason().c_str());
    }
    Context cpu(Device::cpu());
    auto g = make(cpu);
    rows.push_back(measure(*g, {1, 3, 256, 256}, 1, 3, false));
    table(rows);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cartoonize: %s\n", e.what());
    return 1;
  }
  return 0;
}
