#pragma once
// CartoonGAN training (Chen et al., CVPR 2018), usable from C++ code; tools/cgan_train is a
// thin command line over it.
//
// Phases: an initialization phase (generator only, content loss only), then adversarial
// training. Per adversarial step the generated batch G(photo) is computed ONCE and used by
//   D step: LSGAN, D(cartoon) -> 1, D(edge-smoothed cartoon) -> 0, D(G(photo) detached) -> 0;
//   G step: LSGAN, D(G(photo)) -> 1 through the updated, frozen D (input gradients only)
//           + w * L1(VGG_l(G(photo)), VGG_l(photo)).
// Adam (betas 0.5, 0.999) for each network.
//
// Outputs under out_dir: checkpoint.safetensors (+ .json), generator.safetensors (the format
// cgan_cartoonize loads), losses.csv, losses.png, samples/step_NNNNNNN.png.
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "cgan/context.hpp"
#include "cgan/image.hpp"
#include "cgan/precision.hpp"
#include "cgan/tensor.hpp"

namespace cgan {
class Generator;
class SeedDiscriminator;
class VGG19Features;
}  // namespace cgan

namespace cgan::train {

struct TrainConfig {
  // ---- data ----
  std::string photo_dir, cartoon_dir;
  std::string smoothed_dir;  // empty: smooth the cartoons on the fly
  std::string sample_dir;    // fixed photos for sample grids; empty: the first photos
  int num_samples = 4;
  int size = 256;
  int batch = 8;
  int loader_threads = 2;
  int prefetch = 4;

  // ---- schedule and losses ----
  int init_epochs = 10;
  int epochs = 100;  // adversarial epochs
  float lr_g = 2e-4f, lr_d = 2e-4f;
  float beta1 = 0.5f, beta2 = 0.999f, adam_eps = 1e-8f;
  bool lr_decay = false;  // linear decay to 0 over the adversarial phase
  float content_weight = 10.f;
  std::string content_layer = "conv4_4";  // or "conv3_2"
  bool content_after_relu = true;         // VGG features after the layer's ReLU
  uint64_t seed = 0;

  // ---- networks ----
  std::string arch = "seed";  // "seed" (default, from scratch) or "official"
  int g_features = 64, g_residuals = 8;      // widths, for small test networks
  std::array<int, 4> d_features{32, 64, 128, 256};
  std::string vgg_path;   // empty: $CGAN_VGG19
  bool vgg_random = false;  // smoke tests only: seeded random VGG weights

  // ---- run control (not part of a checkpoint's identity) ----
  std::string out_dir;
  std::string device = "auto";  // auto | cpu | cuda | cuda:N
  // What the networks compute in (cgan/precision.hpp). Checkpoints are fp32 whatever it is.
  Precision precision = Precision::Auto;
  int64_t checkpoint_every = 1000;  // steps; 0: only at the end
  int64_t sample_every = 500;       // steps; 0: only at the end
  int64_t max_steps = -1;           // stop after this many steps in total (smoke runs)
  std::string resume_dir;           // a previous out_dir or a checkpoint file
  bool progress = true;             // progress line on `log_stream`
  bool plots = true;                // losses.png at each epoch end
  std::ostream* log_stream = nullptr;  // default std::cerr
  // Set (e.g. from a SIGINT handler) to stop between steps after saving a checkpoint.
  const std::atomic<bool>* stop = nullptr;
  // Synchronize the device between the parts of a step and time them (StepTimings); costs
  // a little overlap, so off unless measuring.
  bool profile = false;
  // Steps between reads of the losses from the device (losses.csv still gets one row per
  // step; a divergence is reported at the read). Reads also happen whenever progress is
  // printed, a checkpoint, sample or plot is written, and at the end.
  int log_every = 20;
  // CUDA: each phase's step recorded once into a CUDA graph and replayed (the first step of
  // a phase runs eagerly to size the step's memory pool, the second is recorded). Off by
  // default until it has run on a GPU (the emulator checks it; cgan/graph.hpp).
  bool cuda_graphs = false;
};

// Wall-clock milliseconds of the parts of the last step (TrainConfig::profile).
struct StepTimings {
  double data = 0;        // waiting for the loader + host-to-device copies (+ GPU smoothing)
  double g_forward = 0;   // G(photo)
  double d_step = 0;      // D forward/backward on real, smoothed, fake + Adam
  double g_adv = 0;       // D forward/backward (input gradient only) for G's adversarial term
  double content = 0;     // VGG features of photo and G(photo), backward to G(photo)
  double g_backward = 0;  // G backward + Adam
  double total = 0;
};

// NaN where a loss is not computed (the D and adversarial losses in the init phase).
struct StepLosses {
  int64_t step = 0;  // global step this was (0-based)
  int64_t epoch = 0;
  bool adversarial = false;
  double d_real = 0, d_smooth = 0, d_fake = 0, g_adv = 0, content = 0;
  double lr_g = 0, lr_d = 0;
};

struct TrainResult {
  int64_t steps_done = 0;    // global step count at the end
  int64_t steps_run = 0;     // steps run by this call
  bool interrupted = false;  // stopped by TrainConfig::stop
  bool finished = false;     // all epochs done
  double seconds = 0;
  double data_wait_seconds = 0;  // time the loop blocked waiting for the data loader
  int64_t skipped_images = 0;
  std::string checkpoint_path, generator_path, losses_csv, plot_png, last_sample_png;
};

// Validates the configuration, lists the data folders, resolves and loads VGG19 and builds
// the networks (or restores them from resume_dir) — every input error surfaces here, before
// any training work. Throws cgan::Error with a specific message.
class Trainer {
 public:
  explicit Trainer(TrainConfig cfg);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Runs until all epochs are done, max_steps is reached, or *stop is set; then writes a
  // checkpoint and the generator.
  TrainResult run();
  // One step at the current position (fetching its batch), its losses read back (one
  // synchronization); appends its losses.csv row.
  StepLosses step();
  // The same without reading the losses back: the step is queued on the device and the host
  // goes on (up to two steps ahead: batches go up through two pinned buffers in turn). Its losses
  // reach history() and losses.csv at the next read_losses() or step(). For throughput.
  void queue_step();
  void read_losses();
  // CUDA graph replays so far (TrainConfig::cuda_graphs), over both phases.
  int64_t graph_replays() const;
  // The graphs' private memory pools (the step arena), summed over the live ones (the init
  // phase's is released when the adversarial phase starts): bytes
  // reserved and the peak in use. Zero without graphs.
  AllocatorStats graph_pool_stats() const;

  void save_checkpoint(const std::string& path);
  void export_generator(const std::string& path);
  Image sample_grid();  // rows of photo | generated, for the fixed sample photos

  const TrainConfig& config() const;
  Context& context();
  Generator& generator();
  SeedDiscriminator& discriminator();
  int64_t global_step() const;
  int64_t steps_per_epoch() const;
  int64_t total_steps() const;  // (init_epochs + epochs) * steps_per_epoch
  const std::vector<StepLosses>& history() const;
  const StepTimings& last_timings() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The VGG19 weights file: `explicit_path`, else $CGAN_VGG19. Throws cgan::Error explaining
// how to get the weights (scripts/download_vgg19.sh) when neither is set or the file is
// missing.
std::string resolve_vgg_path(const std::string& explicit_path);

// Draws a line chart of the losses (log y axis, one colored polyline per loss, a legend).
Image plot_losses(const std::vector<StepLosses>& history, int width = 900, int height = 420);

}  // namespace cgan::train
