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

  // Parameters after the steps, as updates from the common start. Adam's first steps move
  // each weight by about lr whatever its gradient's size, so an element whose gradient is
  // within rounding of zero moves by up to +-lr in either implementation: an element-wise
  // bound cannot hold for every element (the conv weights before the residual blocks'
  // non-affine instance norms have such near-cancelling components; which ones depends on the
  // batch). So per tensor: the update difference relative to the update, ||a-b|| / ||b-init||
  // < 1e-2, and at most 1% of the elements more than 0.01 lr apart. Conv biases that feed a
  // non-affine instance norm have a mathematically zero gradient and are all rounding noise:
  // excluded (and reported).
  const SafeTensors init_st = read_safetensors(work + "/init.safetensors");
  double worst_rel = 0, worst_frac = 0, worst_max = 0, worst_bias_noise = 0;
  std::string worst_name;
  auto compare = [&](Module& m, const std::string& prefix, float lr) {
    for (const auto& p : m.params().list()) {
      const std::vector<float> a = p.value.to_vector(ctx);
      const std::vector<float> b = ref.f32(prefix + p.name).to_vector();
      const std::vector<float> a0 = init_st.f32(prefix + p.name).to_vector();
      REQUIRE(a.size() == b.size());
      REQUIRE(a0.size() == b.size());
      double num = 0, den = 0, dmax = 0;
      size_t far = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        const double d = std::abs(double(a[i]) - double(b[i]));
        num += d * d;
        den += (double(b[i]) - a0[i]) * (double(b[i]) - a0[i]);
        dmax = std::max(dmax, d / lr);
        if (d > 0.01 * lr) ++far;
      }
      const bool cancelled_bias =
          p.name.size() > 5 && p.name.compare(p.name.size() - 5, 5, ".bias") == 0 &&
          p.name != "last.bias" && p.name != "model.0.bias" && p.name != "model.2.bias" &&
          p.name != "model.7.bias" && p.name != "model.15.bias";
      if (cancelled_bias) {
        worst_bias_noise = std::max(worst_bias_noise, dmax);
        continue;
      }
      const double rel = std::sqrt(num / std::max(den, 1e-300));
      const double frac = double(far) / double(a.size());
      INFO(prefix << p.name << ": update rel. L2 difference " << rel << ", " << far << " of "
                  << a.size() << " elements > 0.01 lr apart, max " << dmax << " x lr");
      CHECK(rel < 1e-2);
      CHECK(frac <= 0.01);
      worst_frac = std::max(worst_frac, frac);
      worst_max = std::max(worst_max, dmax);
      if (rel > worst_rel) {
        worst_rel = rel;
        worst_name = prefix + p.name;
      }
    }
  };
  compare(t.generator(), "generator.", c.lr_g);
  compare(t.discriminator(), "discriminator.", c.lr_d);
  WARN("PyTorch parity over 3 steps: worst loss rel. error " << worst_loss
       << "; parameter updates: worst rel. L2 difference " << worst_rel << " (" << worst_name
       << "), worst fraction of elements > 0.01 lr apart " << worst_frac
       << ", largest element difference " << worst_max
       << " x lr; biases before non-affine IN (zero true gradient) differ by up to "
       << worst_bias_noise << " x lr");
}
