// cgan_train: train a CartoonGAN generator on a photo folder and a cartoon folder.
//
//   cgan_train --photos data/photos --cartoons data/cartoons --out runs/demo
//              [--vgg vgg19.safetensors] [--size 256] [--batch 8] [--epochs 100] ...
//
// Ctrl-C stops after the current step and writes a checkpoint (exit 130); `--resume runs/demo`
// goes on. A second Ctrl-C stops at once without saving (exit 131). A wrong command line exits
// with 2 before anything is done, any other failure with 1 (see cli_util.hpp).
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>

#include "cgan/device.hpp"
#include "cgan/train.hpp"
#include "cli_util.hpp"

namespace {

std::atomic<bool> g_stop{false};
char g_abort_message[1024] = "\ncgan_train: second Ctrl-C: stopped at once, nothing saved\n";

// Exit statuses: 0 finished, 130 stopped by Ctrl-C after saving a checkpoint, 131 stopped by
// a second Ctrl-C without saving (the last checkpoint on disk is intact), 1 error, 2 a wrong
// command line (nothing done).
constexpr int kExitInterrupted = 130;
constexpr int kExitForced = 131;

// A number option checked on the command line, with the reason in words ("--size: ...").
template <typename T>
CLI::Validator number(const char* kind, std::function<std::string(T)> why) {
  return CLI::Validator(
      [why](std::string& s) -> std::string {
        T v{};
        if (!CLI::detail::lexical_cast(s, v)) return "'" + s + "' is not a number";
        return why(v);
      },
      kind);
}

// The first Ctrl-C only sets a flag: the trainer looks at it between steps and saves before
// returning. A second one (a stuck run) exits at once, saying so: async-signal-safe calls
// only (write, _exit).
extern "C" void on_sigint(int) {
  if (g_stop.exchange(true)) {
    const ssize_t ignored = ::write(2, g_abort_message, std::strlen(g_abort_message));
    (void)ignored;
    ::_exit(kExitForced);
  }
}

}  // namespace

int main(int argc, char** argv) {
  using cgan_tools::at_least;
  using cgan_tools::existing_folder;
  CLI::App app{"Train a CartoonGAN generator (photo -> cartoon)", "cgan_train"};
  cgan::train::TrainConfig c;
  std::string arch = "seed", precision = "auto";
  bool verbose = false;
  const auto positive = number<double>("POSITIVE", [](double v) {
    return v > 0 ? std::string() : "must be positive, got " + std::to_string(v);
  });
  app.add_option("--photos", c.photo_dir, "folder of photos (searched recursively)")
      ->check(existing_folder());
  app.add_option("--cartoons", c.cartoon_dir, "folder of cartoon images (searched recursively)")
      ->check(existing_folder());
  app.add_option("--smoothed", c.smoothed_dir,
                 "precomputed edge-smoothed cartoons (same relative names); default: smooth on the fly")
      ->check(existing_folder());
  app.add_option("--out", c.out_dir, "output folder (checkpoints, samples, losses)")->required();
  app.add_option("--device", c.device, "auto, cpu, cuda or cuda:N")
      ->check(cgan_tools::device_name())->capture_default_str();
  app.add_option("--precision", precision, cgan_tools::precision_help(true))
      ->check(cgan_tools::precision_name())->capture_default_str();
  app.add_option("--size", c.size, "training image size (square crops)")
      ->check(number<long long>("INT", [](long long v) -> std::string {
        if (v > 4096) return std::to_string(v) + " is beyond 4096 (the paper trains at 256)";
        if (v < 16 || v % 8 != 0)
          return "must be a multiple of 8 and at least 16 (the generator halves it twice and "
                 "VGG pools it three times), got " + std::to_string(v);
        return std::string();
      }))
      ->capture_default_str();
  app.add_option("--batch", c.batch, "batch size")
      ->check(number<long long>("INT", [](long long v) -> std::string {
        if (v > 4096) return std::to_string(v) + " is beyond 4096 (the paper uses 8)";
        if (v < 1) return "must be at least 1, got " + std::to_string(v);
        return std::string();
      }))
      ->capture_default_str();
  auto* o_init = app.add_option("--init-epochs", c.init_epochs,
                                "initialization-phase epochs (content loss only)")
                     ->check(at_least(0))
                     ->capture_default_str();
  auto* o_epochs = app.add_option("--epochs", c.epochs, "adversarial epochs")
                       ->check(at_least(0))
                       ->capture_default_str();
  app.add_option("--lr-g", c.lr_g, "generator learning rate")->check(positive)->capture_default_str();
  app.add_option("--lr-d", c.lr_d, "discriminator learning rate")->check(positive)->capture_default_str();
  app.add_flag("--lr-decay", c.lr_decay, "decay both learning rates linearly to 0 over the adversarial phase");
  app.add_option("--content-weight", c.content_weight, "weight w of the content loss")
      ->check(number<double>("NONNEGATIVE", [](double v) {
        return v >= 0 ? std::string() : "must be at least 0, got " + std::to_string(v);
      }))
      ->capture_default_str();
  app.add_option("--content-layer", c.content_layer, "VGG19 layer of the content loss")
      ->check(CLI::IsMember({"conv4_4", "conv3_2"}))
      ->capture_default_str();
  app.add_option("--vgg", c.vgg_path, "VGG19 weights (.safetensors); default $CGAN_VGG19");
  app.add_flag("--vgg-random", c.vgg_random, "random VGG19 weights: smoke tests ONLY");
  app.add_option("--seed", c.seed, "random seed (initialization, data order, crops)")
      ->capture_default_str();
  app.add_option("--checkpoint-every", c.checkpoint_every, "steps between checkpoints (0: end only)")
      ->check(at_least(0))
      ->capture_default_str();
  app.add_option("--sample-every", c.sample_every, "steps between sample grids (0: end only)")
      ->check(at_least(0))
      ->capture_default_str();
  app.add_option("--samples", c.sample_dir, "fixed photos for the sample grids; default: the first photos")
      ->check(existing_folder());
  app.add_option("--resume", c.resume_dir, "continue from a checkpoint (an earlier --out folder)")
      ->check(CLI::Validator(
          [](std::string& s) -> std::string {
            std::error_code ec;
            return std::filesystem::exists(s, ec)
                       ? std::string()
                       : "'" + s + "' does not exist: give the --out folder of an earlier run "
                                   "(or its checkpoint.safetensors)";
          },
          "DIR"));
  app.add_option("--max-steps", c.max_steps, "stop after this many steps in total (smoke runs)")
      ->check(at_least(0));
  app.add_option("--arch", arch, "generator: the seed document's (trains from scratch) or the official one")
      ->check(CLI::IsMember({"seed", "official"}))
      ->capture_default_str();
  app.add_option("--loader-threads", c.loader_threads, "image decoding threads")
      ->check(at_least(1))
      ->capture_default_str();
  app.add_flag("--cuda-graphs", c.cuda_graphs,
               "CUDA: record each phase's step into a CUDA graph once and replay it (not yet "
               "run on a GPU: off by default)");
  app.add_option("--log-every", c.log_every,
                 "steps between reads of the losses from the device (losses.csv keeps one row per step)")
      ->check(at_least(1))
      ->capture_default_str();
  app.add_flag("--no-progress", [&c](int64_t) { c.progress = false; }, "no progress line");
  cgan_tools::setup(app, verbose,
                    "cgan_train also exits with 130 when stopped by Ctrl-C after saving a "
                    "checkpoint, 131 when a second Ctrl-C stopped it at once (the last "
                    "checkpoint stays intact).");
  if (const int rc = cgan_tools::parse(app, argc, argv, verbose); rc >= 0) return rc;
  c.arch = arch;
  c.precision = cgan::parse_precision(precision);

  if (c.resume_dir.empty()) {
    if (c.photo_dir.empty() || c.cartoon_dir.empty())
      return cgan_tools::usage_error(app, "--photos DIR and --cartoons DIR are required (or "
                                          "--resume DIR to continue a run)");
  } else if (o_init->count() || o_epochs->count()) {
    std::cerr << "note: --resume takes the training configuration from the checkpoint; "
                 "--init-epochs/--epochs are ignored\n";
  }

  c.stop = &g_stop;
  std::snprintf(g_abort_message, sizeof g_abort_message,
                "\ncgan_train: second Ctrl-C: stopped at once without saving; the last "
                "checkpoint in %s is intact (resume with --resume %s)\n",
                c.out_dir.c_str(), c.out_dir.c_str());
  std::signal(SIGINT, on_sigint);
  try {
    cgan::train::Trainer trainer(c);
    const auto& cfg = trainer.config();
    std::cerr << "cgan_train: " << cgan::device_description(trainer.context().device()) << ", "
              << cfg.arch << " generator, " << cfg.size << "x" << cfg.size << ", batch "
              << cfg.batch << ", " << trainer.steps_per_epoch() << " steps/epoch, "
              << cfg.init_epochs << " init + " << cfg.epochs << " adversarial epochs ("
              << trainer.total_steps() << " steps)\n";
    const cgan::train::TrainResult r = trainer.run();
    std::cout << (r.interrupted ? "interrupted" : r.finished ? "finished" : "stopped") << " at step "
              << r.steps_done << "/" << trainer.total_steps() << ": " << r.steps_run
              << " steps in " << r.seconds << " s, waited " << r.data_wait_seconds
              << " s for data";
    if (r.skipped_images) std::cout << ", " << r.skipped_images << " unreadable image(s) skipped";
    std::cout << "\n  generator:  " << r.generator_path << "\n  checkpoint: " << r.checkpoint_path
              << " (continue with --resume " << cfg.out_dir << ")\n  losses:     "
              << r.losses_csv << ", " << r.plot_png << "\n";
    if (!r.last_sample_png.empty()) std::cout << "  samples:    " << r.last_sample_png << "\n";
    return r.interrupted ? kExitInterrupted : cgan_tools::kExitOk;
  } catch (const std::exception& e) {
    return cgan_tools::report(e);
  }
}
