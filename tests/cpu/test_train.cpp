// Trainer: input errors, data pipeline determinism, corrupt images, loss plot.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cgan/data.hpp"
#include "cgan/safetensors.hpp"
#include "cgan/train.hpp"
#include "common/test_util.hpp"
#include "common/train_test_util.hpp"

namespace fs = std::filesystem;
using namespace cgan;
using cgan::test::tiny_config;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace

TEST_CASE("list_images: missing, empty and non-image folders are specific errors") {
  const std::string empty = test::temp_dir("empty");
  std::ofstream(empty + "/notes.txt") << "not an image";
  CHECK_THAT(error_of([&] { train::list_images(empty, "photo"); }),
             Catch::Contains("photo folder '" + empty + "' holds no image"));
  CHECK_THAT(error_of([&] { train::list_images(empty + "/nope", "cartoon"); }),
             Catch::Contains("cartoon folder '" + empty + "/nope' does not exist"));
  // Recursive, sorted.
  const std::string nested = test::temp_dir("nested");
  fs::create_directories(nested + "/b/c");
  fs::copy_file(test::data_dir("photos/p001_bridge.jpg"), nested + "/b/c/x.jpg");
  fs::copy_file(test::data_dir("photos/p002_dragonfly.jpg"), nested + "/a.jpg");
  const auto files = train::list_images(nested, "photo");
  REQUIRE(files.size() == 2);
  CHECK(files[0] == nested + "/a.jpg");
}

TEST_CASE("Trainer: empty cartoon folder fails before any work") {
  const std::string out = test::temp_dir("train_out");
  train::TrainConfig c = tiny_config(out);
  c.cartoon_dir = test::temp_dir("no_cartoons");
  CHECK_THAT(error_of([&] { train::Trainer t(c); }),
             Catch::Contains("cartoon folder '" + c.cartoon_dir + "' holds no image"));
  c = tiny_config(out);
  c.photo_dir = out + "/missing_photos";
  CHECK_THAT(error_of([&] { train::Trainer t(c); }),
             Catch::Contains("photo folder '" + c.photo_dir + "' does not exist"));
}

TEST_CASE("Trainer: output folder that cannot be created or written") {
  const std::string tmp = test::temp_dir("train_out");
  std::ofstream(tmp + "/a_file") << "x";
  train::TrainConfig c = tiny_config(tmp + "/a_file/out");
  CHECK_THAT(error_of([&] { train::Trainer t(c); }),
             Catch::Contains("output folder '" + tmp + "/a_file/out' cannot be created"));
  // /proc/self is a folder in which nobody, root included, can create files.
  if (fs::is_directory("/proc/self")) {
    c = tiny_config("/proc/self");
    CHECK_THAT(error_of([&] { train::Trainer t(c); }),
               Catch::Contains("output folder '/proc/self' is not writable"));
  }
  if (geteuid() != 0) {
    const std::string ro = test::temp_dir("readonly");
    fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec);
    c = tiny_config(ro);
    CHECK_THAT(error_of([&] { train::Trainer t(c); }),
               Catch::Contains("output folder '" + ro + "' is not writable"));
    fs::permissions(ro, fs::perms::owner_all);
  }
}

TEST_CASE("Trainer: VGG weights missing or of the wrong shape") {
  const std::string out = test::temp_dir("train_out");
  train::TrainConfig c = tiny_config(out);
  c.vgg_random = false;
  c.vgg_path.clear();
  unsetenv("CGAN_VGG19");
  const std::string none = error_of([&] { train::Trainer t(c); });
  CHECK_THAT(none, Catch::Contains("no VGG19 weights given"));
  CHECK_THAT(none, Catch::Contains("scripts/download_vgg19.sh"));

  c.vgg_path = out + "/absent.safetensors";
  CHECK_THAT(error_of([&] { train::Trainer t(c); }),
             Catch::Contains("VGG19 weights file '" + c.vgg_path + "' (from --vgg) does not exist"));

  // A VGG file whose first kernel is 5x5 instead of 3x3.
  const int cfg[] = {64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512};
  const int idx[] = {0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25};
  std::vector<std::pair<std::string, Tensor>> ts;
  int cin = 3;
  for (int i = 0; i < 12; ++i) {
    const int k = i == 0 ? 5 : 3;
    ts.emplace_back("features." + std::to_string(idx[i]) + ".weight",
                    test::random_tensor({cfg[i], cin, k, k}, 1 + i, -0.01f, 0.01f));
    ts.emplace_back("features." + std::to_string(idx[i]) + ".bias",
                    test::random_tensor({cfg[i]}, 100 + i));
    cin = cfg[i];
  }
  c.vgg_path = out + "/bad_vgg.safetensors";
  write_safetensors(c.vgg_path, ts);
  const std::string bad = error_of([&] { train::Trainer t(c); });
  CHECK_THAT(bad, Catch::Contains("VGG19 weights '" + c.vgg_path + "' do not fit VGG19"));
  CHECK_THAT(bad, Catch::Contains("tensor 'features.0.weight' has shape [64,3,5,5], expected [64,3,3,3]"));
}

TEST_CASE("Trainer: bad settings are named") {
  const std::string out = test::temp_dir("train_out");
  train::TrainConfig c = tiny_config(out);
  c.size = 30;
  CHECK_THAT(error_of([&] { train::Trainer t(c); }), Catch::Contains("multiple of 8"));
  c = tiny_config(out);
  c.content_layer = "conv5_1";
  CHECK_THAT(error_of([&] { train::Trainer t(c); }),
             Catch::Contains("content layer must be conv4_4 or conv3_2, got 'conv5_1'"));
  c = tiny_config(out);
  c.resume_dir = out + "/nothing_here";
  CHECK_THAT(error_of([&] { train::Trainer t(c); }), Catch::Contains("cannot resume: no checkpoint at"));
}

TEST_CASE("DataLoader: batches are a pure function of seed and position") {
  train::DataOptions o;
  o.photo_dir = test::data_dir("photos");
  o.cartoon_dir = test::data_dir("cartoons");
  o.size = 32;
  o.batch = 3;
  o.seed = 5;
  o.threads = 2;
  o.prefetch = 3;
  train::DataLoader a(o), b(o);
  CHECK(a.steps_per_epoch() == 10);
  // Threaded, in order, crossing an epoch boundary; vs synchronous construction.
  a.seek(0, 8);
  for (int i = 0; i < 4; ++i) {
    const train::Batch x = a.next();
    const int64_t e = (8 + i) / 10, s = (8 + i) % 10;
    CHECK(x.epoch == e);
    CHECK(x.step == s);
    const train::Batch y = b.make_batch(e, s);
    CHECK(x.photos.to_vector() == y.photos.to_vector());
    CHECK(x.cartoons.to_vector() == y.cartoons.to_vector());
    REQUIRE(x.smoothed_ready);
    CHECK(x.smoothed.to_vector() == y.smoothed.to_vector());
  }
  // Epochs differ in order; another seed differs.
  CHECK(b.make_batch(0, 0).photos.to_vector() != b.make_batch(1, 0).photos.to_vector());
  o.seed = 6;
  train::DataLoader c(o);
  CHECK(c.make_batch(0, 0).photos.to_vector() != b.make_batch(0, 0).photos.to_vector());
  CHECK(a.stats().batches == 4);
}

TEST_CASE("Trainer: a corrupt image among good ones is reported once and skipped") {
  const std::string photos = test::subset_dir("photos", 5, "photos5");
  {
    std::ofstream f(photos + "/zz_corrupt.jpg", std::ios::binary);
    f << "\xFF\xD8\xFF\xE0 this is not really a JPEG";
  }
  const std::string out = test::temp_dir("train_out");
  train::TrainConfig c = tiny_config(out);
  c.photo_dir = photos;
  c.batch = 3;  // 6 files -> 2 steps per epoch; every file is drawn each epoch
  c.init_epochs = 2;
  c.epochs = 1;
  c.loader_threads = 2;
  std::ostringstream log;
  c.log_stream = &log;
  train::Trainer t(c);
  const train::TrainResult r = t.run();
  CHECK(r.finished);
  CHECK(r.steps_done == 6);
  CHECK(r.skipped_images == 1);
  const std::string text = log.str();
  const std::string msg = "skipping unreadable image '" + photos + "/zz_corrupt.jpg'";
  CHECK_THAT(text, Catch::Contains(msg));
  CHECK(text.find(msg) == text.rfind(msg));  // once, although drawn in three epochs
  CHECK(fs::exists(r.generator_path));
  CHECK(fs::exists(r.plot_png));
  CHECK(fs::exists(r.last_sample_png));
  for (const auto& s : t.history()) CHECK(std::isfinite(s.content));
}

TEST_CASE("plot_losses: axes and colored curves and legend") {
  std::vector<train::StepLosses> h;
  for (int i = 0; i < 300; ++i) {
    train::StepLosses s;
    s.step = i;
    s.content = 50.0 / (1 + i * 0.05);
    s.adversarial = i >= 100;
    const double nan = std::nan("");
    s.d_real = s.adversarial ? 0.5 : nan;
    s.d_smooth = s.adversarial ? 0.2 : nan;
    s.d_fake = s.adversarial ? 0.1 : nan;
    s.g_adv = s.adversarial ? 0.9 : nan;
    h.push_back(s);
  }
  const Image im = train::plot_losses(h, 600, 300);
  REQUIRE(im.width == 600);
  REQUIRE(im.height == 300);
  auto count = [&](uint8_t r, uint8_t g, uint8_t b) {
    int n = 0;
    for (size_t i = 0; i < im.pixels.size(); i += 3)
      n += im.pixels[i] == r && im.pixels[i + 1] == g && im.pixels[i + 2] == b;
    return n;
  };
  CHECK(count(148, 103, 189) > 300);  // content curve + legend box
  CHECK(count(31, 119, 180) > 150);   // d_real
  CHECK(count(0, 0, 0) > 500);        // axes and text
  // Empty history still draws a valid chart.
  CHECK(train::plot_losses({}).width == 900);
}
