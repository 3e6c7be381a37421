// Training steps vs an independent PyTorch computation (tests/python/train_step_reference.py):
// two init-phase steps and one adversarial step (D then G) on the same batches from the same
// initial weights with the same Adam: losses and updated parameters must agree to float32
// accuracy.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>

#include "cgan/data.hpp"
#include "cgan/networks.hpp"
#include "cgan/safetensors.hpp"
#include "cgan/train.hpp"
#include "cgan/vgg.hpp"
#include "common/test_util.hpp"
#include "common/train_test_util.hpp"

namespace fs = std::filesystem;
using namespace cgan;

TEST_CASE("training steps match PyTorch (losses and updated parameters)") {
  CGAN_REQUIRE_PYTHON_MODULE("torch");
  const std::string work = test::temp_dir("train_torch");
  train::TrainConfig c = test::tiny_config(work + "/out");
  // 4 photos, batch 2: 2 steps per epoch, so 1 init epoch = steps 0, 1; step 2 is adversarial.
  c.photo_dir = test::subset_dir("photos", 4, "photos4");
  c.size = 32;
  c.batch = 2;
  c.init_epochs = 1;
  c.epochs = 1;
  c.max_steps = 3;
  c.seed = 11;
  c.plots = false;
  c.vgg_random = false;
  if (fs::exists(test::shared_vgg())) {
    c.vgg_path = test::shared_vgg();
  } else {
    // Same random VGG for both sides (torchvision convention: no metadata).
    Context ctx;
    VGG19Features v(ctx);
    v.init_random(3);
    c.vgg_path = work + "/vgg_random.safetensors";
    v.save(c.vgg_path);
  }
  fs::copy_file(c.vgg_path, work + "/vgg.safetensors");

  train::Trainer t(c);
  Context& ctx = t.context();
  const int steps = 3;
  {
    std::vector<std::pair<std::string, Tensor>> init;
    for (auto& kv : t.generator().params().state()) init.emplace_back("generator." + kv.first, kv.second);
    for (auto& kv : t.discriminator().params().state())
      init.emplace_back("discriminator." + kv.first, kv.second);
    nlohmann::json j{{"g_features", c.g_features},   {"g_residuals", c.g_residuals},
                     {"d_features", c.d_features},   {"lr_g", c.lr_g},
                     {"lr_d", c.lr_d},               {"beta1", c.beta1},
                     {"beta2", c.beta2},             {"eps", c.adam_eps},
                     {"content_weight", c.content_weight}, {"content_layer", c.content_layer},
                     {"after_relu", c.content_after_relu}, {"steps", steps},
                     {"init_steps", 2}};
    write_safetensors(work + "/init.safetensors", init, {{"cgan_test", j.dump()}}, &ctx);
  }
  {
    // The trainer's loader is deterministic: an identical loader yields the same batches.
    train::DataOptions o;
    o.photo_dir = c.photo_dir;
    o.cartoon_dir = c.cartoon_dir;
    o.size = c.size;
    o.batch = c.batch;
    o.seed = c.seed;
    train::DataLoader dl(o);
    std::vector<std::pair<std::string, Tensor>> b;
    for (int k = 0; k < steps; ++k) {
      const train::Batch x = dl.make_batch(k / 2, k % 2);
      const std::string p = "step" + std::to_string(k) + ".";
      b.emplace_back(p + "photos", x.photos);
      b.emplace_back(p + "cartoons", x.cartoons);
      b.emplace_back(p + "smoothed", x.smoothed);
    }
    write_safetensors(work + "/batches.safetensors", b);
  }

  std::vector<train::StepLosses> ours;
  for (int k = 0; k < steps; ++k) ours.push_back(t.step());

  const std::string cmd = cgan::test::python() + " " + CGAN_SOURCE_DIR +
                          "/tests/python/train_step_reference.py " + work + " > " + work +
                          "/py.log 2>&1";
  const int rc = std::system(cmd.c_str());
  if (rc != 0) {
    std::ifstream log(work + "/py.log");
    std::stringstream ss;
    ss << log.rdbuf();
    FAIL("reference script failed:\n" << ss.str());
  }
  const SafeTensors ref = read_safetensors(work + "/out.safetensors");

  const std::vector<float> rl = ref.f32("losses").to_vector();
  double worst_loss = 0;
  for (int k = 0; k < steps; ++k) {
    const train::StepLosses& s = ours[static_cast<size_t>(k)];
    const double mine[5] = {s.d_real, s.d_smooth, s.d_fake, s.g_adv, s.content};
    for (int i = 0; i < 5; ++i) {
      const double r = rl[static_cast<size_t>(k * 5 + i)];
      INFO("step " << k << " loss " << i << ": ours " << mine[i] << ", torch " << r);
      CHECK(std::isnan(r) == std::isnan(mine[i]));
      if (std::isnan(r)) continue;
      const double rel = std::abs(mine[i] - r) / std::max(std::abs(r), 1e-6);
      worst_loss = std::max(worst_loss, rel);
      CHECK(rel < 1e-4);
    }
  }
  CHECK(ours[2].adversarial);

  // Parameters after the steps. Adam's first steps move each weight by about lr whatever
  // the gradient's size, so compare the difference against lr. Conv biases that feed a
  // non-affine instance norm have a mathematically zero gradient; Adam turns their rounding
  // noise into +-lr moves in either implementation, so they are excluded (and reported).
  double worst_param = 0, worst_bias_noise = 0;
  std::string worst_name;
  auto compare = [&](Module& m, const std::string& prefix, float lr) {
    for (const auto& p : m.params().list()) {
      const std::vector<float> a = p.value.to_vector(ctx);
      const std::vector<float> b = ref.f32(prefix + p.name).to_vector();
      REQUIRE(a.size() == b.size());
      double d = 0;
      for (size_t i = 0; i < a.size(); ++i) d = std::max(d, double(std::abs(a[i] - b[i])));
      d /= lr;
      const bool cancelled_bias =
          p.name.size() > 5 && p.name.compare(p.name.size() - 5, 5, ".bias") == 0 &&
          p.name != "last.bias" && p.name != "model.0.bias" && p.name != "model.2.bias" &&
          p.name != "model.7.bias" && p.name != "model.15.bias";
      if (cancelled_bias) {
        worst_bias_noise = std::max(worst_bias_noise, d);
        continue;
      }
      if (d > worst_param) {
        worst_param = d;
        worst_name = prefix + p.name;
      }
    }
  };
  compare(t.generator(), "generator.", c.lr_g);
  compare(t.discriminator(), "discriminator.", c.lr_d);
  WARN("PyTorch parity over 3 steps: worst loss rel. error " << worst_loss
       << "; worst parameter difference " << worst_param << " x lr (" << worst_name
       << "); biases before non-affine IN (zero true gradient) differ by up to "
       << worst_bias_noise << " x lr");
  CHECK(worst_param < 0.01);
}
