// bf16 training (Precision::BF16: channels-last bf16 activations, fp32 statistics,
// accumulation, master weights and gradients) against fp32 training from the same seed and
// data, step by step: the mixed-precision issue's bar. Every loss finite; the init phase's
// content loss within 2% of the fp32 run's at every step; the adversarial losses within the
// fp32 run's range (the same kinds of values, not the same trajectory: D and G react to
// every difference). On a GPU: the seed architecture at 64x64 for 300 steps. Everywhere
// (emulated here): one bf16 step from the fp32 run's state, every few steps.
#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "cgan/networks.hpp"
#include "cgan/safetensors.hpp"
#include "cgan/train.hpp"
#include "common/test_util.hpp"
#include "common/train_test_util.hpp"

using namespace cgan;

TEST_CASE("a bf16 step from the fp32 run's state computes the fp32 step's losses", "[cuda]") {
  CGAN_REQUIRE_CUDA();
  // At equal weights the only difference is bf16 arithmetic (8-bit significands on the maps,
  // fp32 statistics and sums), not two trajectories drifting apart. The content loss (a mean
  // over every VGG feature of the batch) gets the 2% bar, at every step of both
  // phases (seen: <= 0.25%). The adversarial losses are means over D's few dozen outputs at
  // this size, with no large map to average rounding out, and the issue asks only that they
  // stay in the fp32 run's range: 10% at equal state (seen: <= 2.1%).
  const std::string work = test::temp_dir("train_bf16_state");
  train::TrainConfig c = test::tiny_config(work + "/fp32");
  c.device = "cuda";
  c.precision = Precision::FP32;
  c.plots = false;
  train::Trainer t32(c);
  double worst = 0;
  for (int64_t k = 0; k < t32.total_steps(); k += 3) {
    const std::string ck = work + "/ck" + std::to_string(k) + ".safetensors";
    while (t32.global_step() < k) t32.step();
    t32.save_checkpoint(ck);
    train::TrainConfig rc;
    rc.resume_dir = ck;
    rc.out_dir = test::temp_dir("train_bf16_resumed");
    rc.device = "cuda";
    rc.precision = Precision::BF16;
    rc.progress = false;
    rc.plots = false;
    train::Trainer t16(rc);
    REQUIRE(t16.global_step() == k);
    const train::StepLosses b = t16.step(), a = t32.step();
    const double pairs[5][2] = {{a.content, b.content}, {a.d_real, b.d_real},
                                {a.d_smooth, b.d_smooth}, {a.d_fake, b.d_fake},
                                {a.g_adv, b.g_adv}};
    for (int i = 0; i < (a.adversarial ? 5 : 1); ++i) {
      INFO("step " << k << " loss " << i << ": fp32 " << pairs[i][0] << ", bf16 " << pairs[i][1]);
      REQUIRE(std::isfinite(pairs[i][1]));
      const double r = std::abs(pairs[i][1] - pairs[i][0]) / std::abs(pairs[i][0]);
      worst = std::max(worst, r);
      if (std::getenv("CGAN_TEST_VERBOSE"))
        std::cout << "  step " << k << " loss " << i << " " << 100 * r << "%" << std::endl;
      CHECK(r <= (i == 0 ? 0.02 : 0.10));
    }
  }
  std::cout << "  bf16 step at the fp32 state: losses within " << 100 * worst << "%" << std::endl;
}

#ifndef CGAN_CUDA_EMULATION
// Free-running: two trajectories from the same start. Only on a GPU (300 steps of the seed
// architecture at 64x64); under emulation the same-state test above covers the arithmetic.
TEST_CASE("bf16 training tracks fp32 training from the same seed and data", "[cuda]") {
  CGAN_REQUIRE_CUDA();
  auto config = [](const std::string& dir, Precision p) {
    train::TrainConfig c = test::tiny_config(dir);
    c.device = "cuda";
    c.precision = p;
    c.plots = false;
    c.size = 64;
    c.batch = 4;
    c.g_features = 32;
    c.g_residuals = 4;
    c.d_features = {32, 64, 128, 256};
    c.init_epochs = 20;  // 8 steps per epoch: 160 init steps, then adversarial
    c.epochs = 20;
    c.max_steps = 300;
    return c;
  };
  const std::string work = test::temp_dir("train_bf16");
  train::Trainer t32(config(work + "/fp32", Precision::FP32));
  train::Trainer t16(config(work + "/bf16", Precision::BF16));
  REQUIRE(t16.steps_per_epoch() == t32.steps_per_epoch());
  const int64_t cap = t32.config().max_steps > 0 ? t32.config().max_steps : t32.total_steps();
  const int64_t total = std::min(cap, t32.total_steps());
  std::vector<train::StepLosses> a, b;
  for (int64_t k = 0; k < total; ++k) {
    a.push_back(t32.step());
    b.push_back(t16.step());
  }
  double worst_content = 0;
  double lo[4] = {1e30, 1e30, 1e30, 1e30}, hi[4] = {0, 0, 0, 0};
  auto adv = [](const train::StepLosses& s, int i) {
    return i == 0 ? s.d_real : i == 1 ? s.d_smooth : i == 2 ? s.d_fake : s.g_adv;
  };
  for (size_t k = 0; k < a.size(); ++k) {
    INFO("step " << k);
    REQUIRE(std::isfinite(b[k].content));
    if (!a[k].adversarial) {
      const double r = std::abs(b[k].content - a[k].content) / a[k].content;
      worst_content = std::max(worst_content, r);
      if (std::getenv("CGAN_TEST_VERBOSE"))
        std::cout << "  step " << k << " content fp32 " << a[k].content << " bf16 " << b[k].content
                  << " (" << 100 * r << "%)" << std::endl;
      CHECK(r <= 0.02);
    } else {
      for (int i = 0; i < 4; ++i) {
        REQUIRE(std::isfinite(adv(b[k], i)));
        lo[i] = std::min(lo[i], adv(a[k], i));
        hi[i] = std::max(hi[i], adv(a[k], i));
      }
    }
  }
  std::cout << "  " << a.size() << " steps: init-phase content loss within "
            << 100 * worst_content << "% of fp32" << std::endl;
  // "Within the fp32 run's range": between half its smallest and twice its largest value.
  for (size_t k = 0; k < a.size(); ++k)
    if (a[k].adversarial)
      for (int i = 0; i < 4; ++i) {
        INFO("step " << k << " adversarial loss " << i << ": bf16 " << adv(b[k], i)
                     << ", fp32 range [" << lo[i] << ", " << hi[i] << "]");
        CHECK(adv(b[k], i) >= 0.5 * lo[i]);
        CHECK(adv(b[k], i) <= 2.0 * hi[i]);
      }
  // The weight file is fp32 whatever trained it: the bf16 run's generator loads into an fp32
  // network on the CPU.
  const std::string g16 = work + "/g16.safetensors";
  t16.export_generator(g16);
  const SafeTensors st = read_safetensors(g16);
  for (const auto& kv : st.tensors) CHECK(kv.second.dtype() == DType::F32);
  Context cpu;
  SeedGenerator::Options o;
  o.features = t16.config().g_features;
  o.residuals = t16.config().g_residuals;
  SeedGenerator g(cpu, o);
  g.load(g16);
}
#endif  // CGAN_CUDA_EMULATION
