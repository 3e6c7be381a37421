// CartoonGAN training step time (adversarial step: D step + G step with content loss) at
// batch 8, 256x256 on the GPU, for the seed and the official generator architectures (tf32;
// on compute capability 8.0+ also bf16, eager and as CUDA graphs), with a breakdown per part of the step, the time the loop
// waited for data, and the device memory peak of the caching allocator. One JSON line per
// measurement. Without a GPU: "no CUDA device: ..." and a small CPU figure, exit status 0.
// Compare with bench/pytorch_train_step.py on the same machine.
//
// bench_train_step --device cpu|cuda [--arch seed|official] --size N --batch B [--iters I]
// [--warmup W] [--no-profile] [--precision auto|fp32|tf32|bf16] [--graphs] [--peak-tflops T]
// measures that one case. The step time is the mean over `iters` steps queued back to back
// with one read of the losses at the end (as cgan_train runs); conv_tflop_per_step counts the
// convolutions' arithmetic (Context::conv_flops), floor_share = that at the device's matrix
// rate (--peak-tflops; on an H200 its measured bf16 rate by default) / the step time.
//
// The profiled pass also attaches an OpProfile (cgan/profile.hpp) and prints where the step
// goes per op category, grouped as convolutions / our kernels / data (ms and % of the
// profiled step, '#' table and JSON lines).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "cgan/device.hpp"
#include "cgan/profile.hpp"
#include "cgan/train.hpp"

using namespace cgan;
namespace fs = std::filesystem;

namespace {

struct Case {
  std::string device = "cpu";
  std::string arch = "seed";
  int size = 64, batch = 2, warmup = 3, iters = 10;
  bool profile = true;
  bool graphs = false;
  Precision precision = Precision::Auto;
  double peak_tflops = 0;  // the device's dense matrix rate; 0: H200's measured bf16 rate on an H200
};

void measure(const Case& k) {
  const fs::path root = fs::path(__FILE__).parent_path().parent_path();
  const fs::path vgg = root.parent_path() / "shared" / "weights" / "vgg19_conv4_4_caffe.safetensors";
  train::TrainConfig c;
  c.photo_dir = (root / "data" / "photos").string();
  c.cartoon_dir = (root / "data" / "cartoons").string();
  c.out_dir = (fs::temp_directory_path() / "cgan_bench_train_step").string();
  c.device = k.device;
  c.precision = k.precision;
  c.arch = k.arch;
  c.size = k.size;
  c.batch = k.batch;
  c.init_epochs = 0;  // adversarial steps only: the expensive kind
  c.epochs = 1000;
  c.progress = false;
  c.plots = false;
  c.checkpoint_every = c.sample_every = 0;
  c.num_samples = 0;
  c.cuda_graphs = k.graphs;
  c.log_every = std::max(1, k.iters);
  c.vgg_random = !fs::exists(vgg);
  if (!c.vgg_random) c.vgg_path = vgg.string();
  std::ostringstream quiet;
  c.log_stream = &quiet;
  // A graph needs two steps before its first replay (one eager warm-up, one recording).
  const int warmup = k.graphs ? std::max(k.warmup, 3) : k.warmup;

  // Two passes: unprofiled for the honest step time, profiled (device synchronized between
  // parts, per-op events, no graphs) for the breakdowns.
  double step_ms = 0, flop_per_step = 0;
  train::StepTimings mean{};
  size_t peak = 0, arena = 0;
  int64_t replays = 0;
  OpProfile ops;
  const std::string dev_name = device_description(select_device(k.device));
  for (int pass = 0; pass < (k.profile ? 2 : 1); ++pass) {
    c.profile = pass == 1;
    train::Trainer t(c);
    if (pass == 1) t.context().profiler = &ops;
    for (int i = 0; i < warmup; ++i) t.step();
    t.context().synchronize();
    t.context().allocator().reset_peak();
    t.context().conv_flops = 0;
    ops.reset();  // warm-up steps (algorithm choice, first allocations) do not count
    if (pass == 0) {
      // Steady state: the steps queued back to back, the losses read once at the end (what
      // cgan_train does between its reads), so host work overlaps the device's.
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < k.iters; ++i) t.queue_step();
      t.read_losses();
      step_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                    .count() / k.iters;
      flop_per_step = t.context().conv_flops / k.iters;
      peak = t.context().allocator().stats().peak_bytes_in_use;
      arena = t.graph_pool_stats().bytes_reserved;
      replays = t.graph_replays();
    } else {
      for (int i = 0; i < k.iters; ++i) {
        t.step();
        const train::StepTimings& s = t.last_timings();
        mean.data += s.data / k.iters;
        mean.g_forward += s.g_forward / k.iters;
        mean.d_step += s.d_step / k.iters;
        mean.g_adv += s.g_adv / k.iters;
        mean.content += s.content / k.iters;
        mean.g_backward += s.g_backward / k.iters;
        mean.total += s.total / k.iters;
      }
    }
    t.context().profiler = nullptr;
  }
  // The arithmetic floor: the step's convolution FLOPs at the dense matrix rate.
  double peak_tflops = k.peak_tflops;
  const char* peak_source = "--peak-tflops";
  if (peak_tflops <= 0 && dev_name.find("H200") != std::string::npos) {
    peak_tflops = 798;  // bf16 matrix rate measured on an H200 (../shared/gpu-results)
    peak_source = "H200 bf16 matrix rate measured (../shared/gpu-results)";
  }
  bench::JsonLine line;
  line.str("bench", "train_step")
      .str("device", dev_name)
      .str("arch", k.arch)
      .str("precision", precision_name(k.precision))
      .str("graphs", k.graphs ? "yes" : "no")
      .integer("size", k.size)
      .integer("batch", k.batch)
      .str("vgg", c.vgg_random ? "random" : "caffe")
      .num("step_ms", step_ms, 2)
      .num("steps_per_s", 1e3 / step_ms, 3)
      .num("images_per_s", k.batch * 1e3 / step_ms, 2)
      .num("conv_tflop_per_step", flop_per_step / 1e12, 4)
      .num("achieved_tflops", flop_per_step / (step_ms * 1e9), 2)
      .num("peak_alloc_MiB", double(peak + arena) / (1 << 20), 1)
      .num("graph_arena_MiB", double(arena) / (1 << 20), 1)
      .integer("graph_replays", replays)
      .integer("iters", k.iters);
  if (peak_tflops > 0) {
    const double floor_ms = flop_per_step / (peak_tflops * 1e9);
    line.num("floor_ms", floor_ms, 2)
        .num("floor_share", floor_ms / step_ms, 3)
        .num("peak_tflops", peak_tflops, 0)
        .str("peak_source", peak_source);
  }
  if (k.profile)
    line.object("profiled_ms")
      .num("data_wait_and_h2d", mean.data, 2)
      .num("g_forward", mean.g_forward, 2)
      .num("d_step", mean.d_step, 2)
      .num("g_adv_through_D", mean.g_adv, 2)
      .num("content_vgg", mean.content, 2)
      .num("g_backward_adam", mean.g_backward, 2)
      .num("total", mean.total, 2)
      .close();
  line.print();
  if (!k.profile) return;
  char title[200];
  std::snprintf(title, sizeof title, "train step, %s arch, %s, %dx%d, batch %d", k.arch.c_str(),
                dev_name.c_str(), k.size, k.size, k.batch);
  bench::print_op_breakdown(ops, k.iters, mean.total, "train_step", title, [&](bench::JsonLine& j) {
    j.str("device", dev_name).str("arch", k.arch).integer("size", k.size).integer("batch", k.batch);
  });
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc > 1) {  // one explicit case
      Case k;
      for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
          if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
          return argv[++i];
        };
        if (a == "--device") k.device = value();
        else if (a == "--arch") k.arch = value();
        else if (a == "--size") k.size = std::stoi(value());
        else if (a == "--batch") k.batch = std::stoi(value());
        else if (a == "--iters") k.iters = std::max(1, std::stoi(value()));
        else if (a == "--warmup") k.warmup = std::stoi(value());
        else if (a == "--no-profile") k.profile = false;
        else if (a == "--graphs") k.graphs = true;
        else if (a == "--precision") k.precision = parse_precision(value());
        else if (a == "--peak-tflops") k.peak_tflops = std::stod(value());
        else throw std::runtime_error("unknown argument " + a);
      }
      measure(k);
      return 0;
    }
    if (!cuda_available()) {
      std::printf("no CUDA device: %s (CPU figure at 64x64, batch 2 instead)\n",
                  cuda_unavailable_reason().c_str());
      Case k;
      k.warmup = 1;
      k.iters = 3;
      measure(k);
      return 0;
    }
    // Both architectures at batch 8, 256x256: tf32 (the default), and where the GPU has bf16
    // tensor cores, bf16 eager and bf16 replayed as CUDA graphs.
    const bool bf16 = compute_capability(Device::cuda(0)) >= 80;
    for (const char* arch : {"seed", "official"}) {
      Case k;
      k.device = "cuda";
      k.arch = arch;
      k.size = 256;
      k.batch = 8;
      k.precision = Precision::TF32;
      k.profile = k.arch == "seed";  // the per-op breakdown once per precision, seed only
      measure(k);
      if (!bf16) continue;
      k.precision = Precision::BF16;
      measure(k);
      k.graphs = true;
      k.profile = false;  // the profiled pass runs eagerly: it would repeat the line above
      measure(k);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
