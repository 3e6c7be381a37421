// CartoonGAN training step time (adversarial step: D step + G step with content loss) at
// batch 8, 256x256 on the GPU (tf32, then bf16 on compute capability 8.0+), with a breakdown per part of the step, the time the loop
// waited for data, and the device memory peak of the caching allocator. One JSON line per
// measurement. Without a GPU: "no CUDA device: ..." and a small CPU figure, exit status 0.
// Compare with bench/pytorch_train_step.py on the same machine.
//
// bench_train_step --device cpu|cuda --size N --batch B [--iters I] [--warmup W] [--no-profile]
// [--precision auto|fp32|tf32|bf16] measures that one case (bf16 training does not exist yet:
// the trainer refuses it with the reason) (bench/ort_cpu_cartoonize.py runs it beside PyTorch on the CPU).
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

void measure(const std::string& device, int size, int batch, int warmup, int iters,
             bool profile = true, Precision precision = Precision::Auto) {
  const fs::path root = fs::path(__FILE__).parent_path().parent_path();
  const fs::path vgg = root.parent_path() / "shared" / "weights" / "vgg19_conv4_4_caffe.safetensors";
  train::TrainConfig c;
  c.photo_dir = (root / "data" / "photos").string();
  c.cartoon_dir = (root / "data" / "cartoons").string();
  c.out_dir = (fs::temp_directory_path() / "cgan_bench_train_step").string();
  c.device = device;
  c.precision = precision;
  c.size = size;
  c.batch = batch;
  c.init_epochs = 0;  // adversarial steps only: the expensive kind
  c.epochs = 1000;
  c.progress = false;
  c.plots = false;
  c.checkpoint_every = c.sample_every = 0;
  c.num_samples = 0;
  c.vgg_random = !fs::exists(vgg);
  if (!c.vgg_random) c.vgg_path = vgg.string();
  std::ostringstream quiet;
  c.log_stream = &quiet;

  // Two passes: unprofiled for the honest step time, profiled (device synchronized between
  // parts, per-op events) for the breakdowns.
  double step_ms = 0;
  train::StepTimings mean{};
  size_t peak = 0;
  OpProfile ops;
  const std::string dev_name = device_description(select_device(device));
  for (int pass = 0; pass < (profile ? 2 : 1); ++pass) {
    c.profile = pass == 1;
    train::Trainer t(c);
    if (pass == 1) t.context().profiler = &ops;
    for (int i = 0; i < warmup; ++i) t.step();
    t.context().synchronize();
    t.context().allocator().reset_peak();
    ops.reset();  // warm-up steps (algorithm choice, first allocations) do not count
    std::vector<double> times;
    for (int i = 0; i < iters; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      t.step();  // ends with a device synchronize (the losses are read back)
      times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      const train::StepTimings& s = t.last_timings();
      if (pass == 1) {
        mean.data += s.data / iters;
        mean.g_forward += s.g_forward / iters;
        mean.d_step += s.d_step / iters;
        mean.g_adv += s.g_adv / iters;
        mean.content += s.content / iters;
        mean.g_backward += s.g_backward / iters;
        mean.total += s.total / iters;
      }
    }
    if (pass == 0) {
      step_ms = bench::median(times);
      peak = t.context().allocator().stats().peak_bytes_in_use;
    }
    t.context().profiler = nullptr;
  }
  bench::JsonLine line;
  line.str("bench", "train_step")
      .str("device", dev_name)
      .str("precision", precision_name(precision))
      .integer("size", size)
      .integer("batch", batch)
      .str("vgg", c.vgg_random ? "random" : "caffe")
      .num("step_ms", step_ms, 2)
      .num("steps_per_s", 1e3 / step_ms, 3)
      .num("images_per_s", batch * 1e3 / step_ms, 2)
      .num("peak_alloc_MiB", double(peak) / (1 << 20), 1)
      .integer("iters", iters);
  if (profile)
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
  if (!profile) return;
  char title[160];
  std::snprintf(title, sizeof title, "train step, %s, %dx%d, batch %d", dev_name.c_str(), size,
                size, batch);
  bench::print_op_breakdown(ops, iters, mean.total, "train_step", title, [&](bench::JsonLine& j) {
    j.str("device", dev_name).integer("size", size).integer("batch", batch);
  });
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc > 1) {  // one explicit case
      std::string device = "cpu";
      int size = 64, batch = 2, iters = 10, warmup = 2;
      bool profile = true;
      Precision precision = Precision::Auto;
      for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
          if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
          return argv[++i];
        };
        if (a == "--device") device = value();
        else if (a == "--size") size = std::stoi(value());
        else if (a == "--batch") batch = std::stoi(value());
        else if (a == "--iters") iters = std::max(1, std::stoi(value()));
        else if (a == "--warmup") warmup = std::stoi(value());
        else if (a == "--no-profile") profile = false;
        else if (a == "--precision") precision = parse_precision(value());
        else throw std::runtime_error("unknown argument " + a);
      }
      measure(device, size, batch, warmup, iters, profile, precision);
      return 0;
    }
    if (!cuda_available()) {
      std::printf("no CUDA device: %s (CPU figure at 64x64, batch 2 instead)\n",
                  cuda_unavailable_reason().c_str());
      measure("cpu", 64, 2, 1, 3);
      return 0;
    }
    // The default (tf32) and, where the GPU has bf16 tensor cores, bf16.
    measure("cuda", 256, 8, 3, 10, true, Precision::TF32);
    if (compute_capability(Device::cuda(0)) >= 80)
      measure("cuda", 256, 8, 3, 10, true, Precision::BF16);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
