#pragma once
// Helpers shared by the trainer tests: small networks and temporary data folders.
#include <filesystem>
#include <string>
#include <vector>

#include "cgan/data.hpp"
#include "cgan/train.hpp"
#include "common/test_util.hpp"

namespace cgan::test {

inline std::string data_dir(const std::string& sub) {
  return std::string(CGAN_SOURCE_DIR) + "/data/" + sub;
}

// Copies the first `n` files of data/<sub> into a fresh folder.
inline std::string subset_dir(const std::string& sub, size_t n, const std::string& tag) {
  namespace fs = std::filesystem;
  const std::string dir = temp_dir(tag);
  std::vector<std::string> files = train::list_images(data_dir(sub), sub);
  for (size_t i = 0; i < n && i < files.size(); ++i)
    fs::copy_file(files[i], fs::path(dir) / fs::path(files[i]).filename());
  return dir;
}

// Small widths keep a CPU step well under a second at 32..64 px.
inline train::TrainConfig tiny_config(const std::string& out_dir) {
  train::TrainConfig c;
  c.photo_dir = data_dir("photos");
  c.cartoon_dir = data_dir("cartoons");
  c.out_dir = out_dir;
  c.device = "cpu";
  c.size = 32;
  c.batch = 2;
  c.g_features = 8;
  c.g_residuals = 2;
  c.d_features = {8, 8, 16, 16};
  c.init_epochs = 1;
  c.epochs = 1;
  c.checkpoint_every = 0;
  c.sample_every = 0;
  c.progress = false;
  c.vgg_random = true;
  c.num_samples = 2;
  return c;
}

// The loader options the trainer derives from a config (photos, cartoons, size, batch, seed):
// an identical loader yields the trainer's batches, position by position.
inline train::DataOptions trainer_data_options(const train::TrainConfig& c) {
  train::DataOptions o;
  o.photo_dir = c.photo_dir;
  o.cartoon_dir = c.cartoon_dir;
  o.size = c.size;
  o.batch = c.batch;
  o.seed = c.seed;
  return o;
}

inline std::string shared_vgg() {
  return shared_dir() + "/weights/vgg19_conv4_4_caffe.safetensors";
}

}  // namespace cgan::test
