// CartoonGAN training step time (adversarial step: D step + G step with content loss) at
// batch 8, 256x256 on the GPU, with a breakdown per part of the step, the time the loop
// waited for data, and the device memory peak of the caching allocator. One JSON line per
// measurement. Without a GPU: "no CUDA device: ..." and a small CPU figure, exit status 0.
// Compare with bench/pytorch_train_step.py on the same machine.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "cgan/device.hpp"
#include "cgan/train.hpp"

using namespace cgan;
namespace fs = std::filesystem;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void measure(const std::string& device, int size, int batch, int warmup, int iters) {
  const fs::path root = fs::path(__FILE__).parent_path().parent_path();
  const fs::path vgg = root.parent_path() / "shared" / "weights" / "vgg19_conv4_4_caffe.safetensors";
  train::TrainConfig c;
  c.photo_dir = (root / "data" / "photos").string();
  c.cartoon_dir = (root / "data" / "cartoons").string();
  c.out_dir = (fs::temp_directory_path() / "cgan_bench_train_step").string();
  c.device = device;
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
  // parts) for the breakdown.
  double step_ms = 0, wait_ms = 0;
  train::StepTimings mean{};
  size_t peak = 0;
  for (int pass = 0; pass < 2; ++pass) {
    c.profile = pass == 1;
    train::Trainer t(c);
    for (int i = 0; i < warmup; ++i) t.step();
    t.context().synchronize();
    t.context().allocator().reset_peak();
    std::vector<double> times;
    double wait = 0;
    for (int i = 0; i < iters; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      t.step();  // ends with a device synchronize (the losses are read back)
      times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      const train::StepTimings& s = t.last_timings();
      wait += s.data;
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
      step_ms = median(times);
      peak = t.context().allocator().stats().peak_bytes_in_use;
    }
    (void)wait;
  }
  (void)wait_ms;
  std::printf(
      "{\"bench\":\"train_step\",\"device\":\"%s\",\"size\":%d,\"batch\":%d,\"vgg\":\"%s\","
      "\"step_ms\":%.2f,\"steps_per_s\":%.3f,\"images_per_s\":%.2f,\"peak_alloc_MiB\":%.1f,"
      "\"profiled_ms\":{\"data_wait_and_h2d\":%.2f,\"g_forward\":%.2f,\"d_step\":%.2f,"
      "\"g_adv_through_D\":%.2f,\"content_vgg\":%.2f,\"g_backward_adam\":%.2f,\"total\":%.2f}}\n",
      device_description(select_device(device)).c_str(), size, batch,
      c.vgg_random ? "random" : "caffe", step_ms, 1e3 / step_ms, batch * 1e3 / step_ms,
      double(peak) / (1 << 20), mean.data, mean.g_forward, mean.d_step, mean.g_adv,
      mean.content, mean.g_backward, mean.total);
}

}  // namespace

int main() {
  try {
    if (!cuda_available()) {
      std::printf("no CUDA device: %s (CPU figure at 64x64, batch 2 instead)\n",
                  cuda_unavailable_reason().c_str());
      measure("cpu", 64, 2, 1, 3);
      return 0;
    }
    measure("cuda", 256, 8, 3, 10);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
