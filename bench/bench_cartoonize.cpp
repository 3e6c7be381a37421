// Inference speed of the official CartoonGAN generator (cgan::OfficialGenerator::infer):
// 1024x768 single images and 256x256 batches of 8 on the GPU in tf32, fp32 and (compute
// capability 8.0+) bf16 (Bf16GeneratorRunner), and one 256x256 image on the CPU.
// `--precision tf32|fp32|bf16` measures only that one on the GPU. Weights: ../shared's Hayao
// file when present (or the path given as the first argument), else seeded random weights of
// the same shapes (same speed).
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
//
// --sizes [--budget-mib N] [--largest SIDE] [--devices cpu,cuda]: whole-process runs (decode
// the JPEG, cgan::Cartoonizer, encode the PNG: what cgan_cartoonize does) on a photo resized to
// 1024x768, 4096x3072 and 8192x6144: whole where the estimate fits this machine's memory, and
// in exact tiles chosen for a budget of N MiB (default 4096). Each run is a child process (this
// executable with --child), so its peak RSS (wait4's ru_maxrss) is its own; peak device memory
// is the caching allocator's high-water mark.
// Prints time, megapixels/s, peak RSS, and the PSNR of tiled vs whole where both ran.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "bench_util.hpp"
#include "cgan/cartoonize.hpp"
#include "cgan/image.hpp"
#include "cgan/resize.hpp"
#include "cgan/device.hpp"
#include "cgan/networks.hpp"
#include "cgan/profile.hpp"

using namespace cgan;
namespace fs = std::filesystem;

namespace {

struct Row {
  std::string device, shape;
  int batch;
  Precision precision;
  double ms, ms_per_image, images_per_s, peak_mib;
};

std::string weights_path(int argc, char** argv) {
  if (argc > 1 && argv[1][0] != '-') return argv[1];
  const char* env = std::getenv("CGAN_SHARED_DIR");
  const fs::path shared = env && *env ? fs::path(env)
                                      : fs::path(__FILE__).parent_path().parent_path().parent_path() /
                                            "shared";
  const fs::path p = shared / "weights" / "cartoongan_hayao.safetensors";
  return fs::exists(p) ? p.string() : std::string();
}

Row measure(OfficialGenerator& g, const Shape& shape, int warmup, int runs, Precision prec) {
  Context& ctx = g.ctx();
  apply_precision(prec, ctx);
  std::unique_ptr<Bf16GeneratorRunner> bf16;
  if (prec == Precision::BF16) bf16 = std::make_unique<Bf16GeneratorRunner>(g);
  // A fixed pseudo-random pattern in [-1, 1] (timings do not depend on the values).
  std::vector<float> pattern(static_cast<size_t>(shape_numel(shape)));
  for (size_t i = 0; i < pattern.size(); ++i)
    pattern[i] = float(int((i * 2654435761u) % 2001) - 1000) / 1000.0f;
  const Tensor x = Tensor::from_vector(shape, pattern).to(ctx);
  auto run = [&] {
    const Tensor y = bf16 ? bf16->run(x) : g.infer(x);
    ctx.synchronize();
  };
  for (int i = 0; i < warmup; ++i) run();
  ctx.allocator().reset_peak();
  const double med = bench::host_median_ms(run, 0, runs);
  const int n = static_cast<int>(shape[0]);
  Row r{ctx.is_cuda() ? device_description(ctx.device()) : std::string("CPU"),
        std::to_string(shape[3]) + "x" + std::to_string(shape[2]),
        n,
        prec,
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
      .str("precision", precision_name(r.precision))
      .boolean("tf32", r.precision == Precision::TF32)
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
                            ", " + precision_name(r.precision);
  bench::print_op_breakdown(ops, prof_runs, wall / prof_runs, "cartoonize", title,
                            [&](bench::JsonLine& j) {
                              j.str("device", r.device)
                                  .str("shape", r.shape)
                                  .integer("batch", r.batch)
                                  .str("precision", precision_name(r.precision));
                            });
  return r;
}

void table(const std::vector<Row>& rows) {
  std::printf("# %-10s %-5s %-9s %-5s %10s %12s %10s %10s\n", "device", "batch", "size", "prec",
              "ms", "ms/image", "images/s", "peak MiB");
  for (const Row& r : rows)
    std::printf("# %-10s %-5d %-9s %-5s %10.2f %12.2f %10.2f %10.1f\n",
                r.device == "CPU" ? "CPU" : "GPU", r.batch, r.shape.c_str(),
                precision_name(r.precision), r.ms, r.ms_per_image, r.images_per_s, r.peak_mib);
}


// ---- --sizes --------------------------------------------------------------------------------

struct Child {
  int status = -1;
  double seconds = 0, peak_rss_mib = 0;
  std::string out;
};

Child run_child(const std::vector<std::string>& args, const std::string& log) {
  std::vector<char*> av;
  for (const std::string& a : args) av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  std::fflush(stdout);  // or the child inherits (and prints again) what is buffered
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    FILE* f = std::freopen(log.c_str(), "w", stdout);
    if (f) dup2(fileno(stdout), 2);
    execv(av[0], av.data());
    _exit(127);
  }
  Child c;
  struct rusage ru {};
  wait4(pid, &c.status, 0, &ru);
  c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  c.peak_rss_mib = double(ru.ru_maxrss) / 1024.0;  // KiB on Linux
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  c.out = ss.str();
  return c;
}

double psnr_db(const Image& a, const Image& b) {
  if (a.width != b.width || a.height != b.height) return -1;
  double mse = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    const double d = double(a.pixels[i]) - double(b.pixels[i]);
    mse += d * d;
  }
  mse /= double(a.pixels.size());
  return mse == 0 ? 999.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
}

// One run of --sizes: --child WEIGHTS DEVICE TILE BUDGET_MIB IN OUT.
int child_run(char** a) {
  auto ctx = Context::create(a[1]);
  CartoonizeOptions o;
  o.tile = std::atoi(a[2]);
  o.max_memory = uint64_t(std::atoll(a[3])) << 20;
  Cartoonizer c(a[0], o, *ctx);
  const Image out = c.run({c.prepare(read_image(a[4]))})[0];
  write_image(a[5], out);
  if (ctx->is_cuda())
    std::printf("peak device memory %zu MiB\n", ctx->allocator().stats().peak_bytes_in_use >> 20);
  return 0;
}

int sizes_study(const std::string& weights, int budget_mib, int largest,
                const std::vector<std::string>& devices) {
  const std::string tool = fs::canonical("/proc/self/exe").string();
  const fs::path dir = fs::temp_directory_path() / ("cgan_bench_sizes_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const Image photo = read_image((fs::path(__FILE__).parent_path().parent_path() / "data" /
                                  "photos" / "p001_bridge.jpg").string());
  const uint64_t ram = available_memory_bytes(Device::cpu());
  const uint64_t budget = uint64_t(budget_mib) << 20;
  std::printf("# whole-process runs (%s --child), weights %s\n# machine: %.1f GiB RAM available; tiled "
              "budget %d MiB\n", tool.c_str(), weights.c_str(), double(ram) / (1 << 30), budget_mib);
  std::printf("# %-5s %-10s %-6s %6s %10s %8s %12s %12s %10s\n", "dev", "size", "mode", "tile",
              "s", "MP/s", "peak RSS MiB", "dev peak MiB", "vs whole");
  for (const std::string& dev : devices) {
    if (dev == "cuda" && !cuda_available()) {
      std::printf("# cuda: no CUDA device (%s)\n", cuda_unavailable_reason().c_str());
      continue;
    }
    for (auto [w, h] : {std::pair{1024, 768}, std::pair{4096, 3072}, std::pair{8192, 6144}}) {
      if (std::max(w, h) > largest) continue;
      const std::string input = (dir / ("in_" + std::to_string(w) + ".jpg")).string();
      if (!fs::exists(input)) write_image(input, resize_bicubic(photo, w, h));
      int tile = 0;
      for (int t = 4096; t >= 64 && tile == 0; t -= 64)
        if (Cartoonizer::tiled_bytes(w, h, t) <= budget) tile = t;
      tile = std::min(tile, (std::max(w, h) / 2 + 63) / 64 * 64);  // at least 2 tiles a side
      const uint64_t whole_need = Cartoonizer::whole_bytes(w, h);
      Image whole_out;
      for (const char* mode : {"whole", "tiled"}) {
        const bool tiled = std::string(mode) == "tiled";
        const std::string size = std::to_string(w) + "x" + std::to_string(h);
        if (!tiled && whole_need > 0.9 * double(ram)) {
          std::printf("# %-5s %-10s %-6s: skipped, needs ~%.1f GiB (%.1f GiB available)\n",
                      dev.c_str(), size.c_str(), mode, double(whole_need) / (1 << 30),
                      double(ram) / (1 << 30));
          continue;
        }
        const std::string out = (dir / ("out_" + std::string(mode) + ".png")).string();
        const std::vector<std::string> args = {
            tool, "--child", weights, dev, std::to_string(tiled ? tile : 0),
            std::to_string(tiled ? budget_mib : 0), input, out};
        const Child c = run_child(args, (dir / "log.txt").string());
        if (c.status != 0) {
          std::printf("# %s %s %s: FAILED (status %d)\n%s\n", dev.c_str(), size.c_str(), mode,
                      c.status, c.out.c_str());
          continue;
        }
        double dev_peak = -1;
        if (auto at = c.out.find("peak device memory "); at != std::string::npos)
          dev_peak = std::atof(c.out.c_str() + at + 19);
        double db = -1;
        if (tiled && whole_out.width > 0) db = psnr_db(read_image(out), whole_out);
        if (!tiled) whole_out = read_image(out);
        std::printf("# %-5s %-10s %-6s %6d %10.1f %8.3f %12.0f %12.0f %10s\n", dev.c_str(),
                    size.c_str(), mode, tiled ? tile : 0, c.seconds, w * double(h) / 1e6 / c.seconds,
                    c.peak_rss_mib, dev_peak,
                    db < 0 ? "-" : (std::to_string(int(db)) + " dB").c_str());
        bench::JsonLine j;
        j.str("bench", "cartoonize_sizes")
            .str("device", dev == "cpu" ? "CPU" : device_description(Device::cuda(0)))
            .str("shape", size)
            .str("mode", mode)
            .integer("tile", tiled ? tile : 0)
            .integer("budget_MiB", tiled ? budget_mib : 0)
            .num("s", c.seconds, 2)
            .num("megapixels_per_s", w * double(h) / 1e6 / c.seconds, 4)
            .num("peak_rss_MiB", c.peak_rss_mib, 0)
            .num("peak_device_MiB", dev_peak, 0);
        if (db >= 0) j.num("psnr_vs_whole_dB", db, 1);
        j.print();
        std::fflush(stdout);
      }
    }
  }
  fs::remove_all(dir);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc == 8 && std::string(argv[1]) == "--child") return child_run(argv + 2);
    if (argc > 1 && std::string(argv[1]) == "--sizes") {
      int budget = 4096, largest = 8192;
      std::vector<std::string> devices = {"cpu", "cuda"};
      std::string w;
      for (int i = 2; i + 1 < argc; i += 2) {
        const std::string k = argv[i], v = argv[i + 1];
        if (k == "--budget-mib") budget = std::stoi(v);
        else if (k == "--largest") largest = std::stoi(v);
        else if (k == "--weights") w = v;
        else if (k == "--devices") {
          devices.clear();
          std::stringstream ss(v);
          for (std::string d; std::getline(ss, d, ',');) devices.push_back(d);
        } else throw std::runtime_error("unknown option " + k);
      }
      if (w.empty()) w = weights_path(1, argv);
      if (w.empty()) throw std::runtime_error("--sizes needs weights (../shared or --weights)");
      return sizes_study(w, budget, largest, devices);
    }
    std::vector<Precision> precisions;
    for (int i = 1; i + 1 < argc; ++i)
      if (std::string(argv[i]) == "--precision") precisions.push_back(parse_precision(argv[i + 1]));
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
      if (precisions.empty()) {
        precisions = {Precision::TF32, Precision::FP32};
        if (compute_capability(gpu.device()) >= 80) precisions.push_back(Precision::BF16);
      }
      for (Precision p : precisions) {
        rows.push_back(measure(*g, {1, 3, 768, 1024}, 3, 20, p));
        rows.push_back(measure(*g, {8, 3, 256, 256}, 3, 20, p));
      }
    } else {
      std::printf("no CUDA device: %s\n", cuda_unavailable_reason().c_str());
    }
    Context cpu(Device::cpu());
    auto g = make(cpu);
    rows.push_back(measure(*g, {1, 3, 256, 256}, 1, 3, Precision::FP32));
    table(rows);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cartoonize: %s\n", e.what());
    return 1;
  }
  return 0;
}
