// Short training runs on data/ at 64x64: the init phase learns, adversarial steps are finite,
// and a run resumed from a mid-run checkpoint is bit-identical to an uninterrupted one.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cgan/networks.hpp"
#include "cgan/train.hpp"
#include "common/test_util.hpp"
#include "common/train_test_util.hpp"

namespace fs = std::filesystem;
using namespace cgan;

namespace {

train::TrainConfig run_config(const std::string& out) {
  train::TrainConfig c = test::tiny_config(out);
  c.size = 64;
  c.batch = 4;
  c.g_features = 16;
  if (fs::exists(test::shared_vgg())) {
    c.vgg_random = false;
    c.vgg_path = test::shared_vgg();
  }
  return c;
}

std::vector<std::string> csv_losses(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> rows;
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    // step .. content: the columns that must match; timings may differ.
    size_t pos = 0;
    for (int i = 0; i < 8; ++i) pos = line.find(',', pos) + 1;
    rows.push_back(line.substr(0, pos - 1));
  }
  return rows;
}

}  // namespace

TEST_CASE("init phase: the content loss decreases on a fixed batch") {
  // 4 photos, batch 4: every step sees the same photos (order and flips vary).
  const std::string out = test::temp_dir("train_init");
  train::TrainConfig c = run_config(out);
  c.photo_dir = test::subset_dir("photos", 4, "photos4");
  c.init_epochs = 24;
  c.epochs = 0;
  c.plots = false;
  train::Trainer t(c);
  const train::TrainResult r = t.run();
  REQUIRE(r.steps_done == 24);
  const auto& h = t.history();
  const int k = 5;
  double first = 0, last = 0;
  for (int i = 0; i < k; ++i) {
    first += h[static_cast<size_t>(i)].content / k;
    last += h[h.size() - 1 - static_cast<size_t>(i)].content / k;
  }
  WARN("content loss: mean of first " << k << " steps " << first << ", of last " << k << " "
                                      << last << " (" << (1 - last / first) * 100
                                      << "% lower), VGG " << (c.vgg_random ? "random" : "caffe"));
  CHECK(last < 0.8 * first);
  CHECK(r.data_wait_seconds >= 0);
}

TEST_CASE("adversarial steps are finite and resume is bit-identical on the CPU") {
  // 30 photos, batch 4: 7 steps per epoch; 1 init + 1 adversarial epoch = 14 steps.
  const std::string full_dir = test::temp_dir("train_full");
  train::TrainConfig c = run_config(full_dir);
  std::vector<float> g_full, d_full;
  {
    train::Trainer t(c);
    const train::TrainResult r = t.run();
    REQUIRE(r.steps_done == 14);
    for (const auto& s : t.history()) {
      CHECK(std::isfinite(s.content));
      if (s.adversarial) {
        CHECK(std::isfinite(s.d_real));
        CHECK(std::isfinite(s.d_smooth));
        CHECK(std::isfinite(s.d_fake));
        CHECK(std::isfinite(s.g_adv));
      }
    }
    CHECK(t.history()[7].adversarial);
    CHECK(!t.history()[6].adversarial);
    g_full = t.generator().params().values().to_vector();
    d_full = t.discriminator().params().values().to_vector();
  }

  // Interrupted after step 9 (two adversarial steps in), then resumed into a new folder.
  const std::string part_dir = test::temp_dir("train_part");
  c = run_config(part_dir);
  c.max_steps = 9;
  {
    train::Trainer t(c);
    REQUIRE(t.run().steps_done == 9);
  }
  const std::string resumed_dir = test::temp_dir("train_resumed");
  train::TrainConfig rc;
  rc.resume_dir = part_dir;
  rc.out_dir = resumed_dir;
  rc.device = "cpu";
  rc.progress = false;
  rc.checkpoint_every = 0;
  rc.sample_every = 0;
  {
    train::Trainer t(rc);
    CHECK(t.global_step() == 9);
    const train::TrainResult r = t.run();
    REQUIRE(r.steps_done == 14);
    CHECK(r.finished);
    CHECK(t.generator().params().values().to_vector() == g_full);
    CHECK(t.discriminator().params().values().to_vector() == d_full);
  }
  const auto a = csv_losses(full_dir + "/losses.csv");
  const auto b = csv_losses(resumed_dir + "/losses.csv");
  REQUIRE(a.size() == 14);
  CHECK(a == b);
  WARN("resumed run: all 14 loss rows identical to the uninterrupted run; last row: " << b.back());

  // The exported generator loads into a fresh network as cgan_cartoonize does.
  Context ctx;
  SeedGenerator::Options go;
  go.features = 16;
  go.residuals = 2;
  SeedGenerator g(ctx, go);
  g.load(resumed_dir + "/generator.safetensors");
  CHECK(g.params().values().to_vector() == g_full);
}
