#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cgan/data.hpp"
#include "cgan/error.hpp"
#include "cgan/graph.hpp"
#include "cgan/io_util.hpp"
#include "cgan/networks.hpp"
#include "cgan/ops.hpp"
#include "cgan/profile.hpp"
#include "cgan/safetensors.hpp"
#include "cgan/smooth.hpp"
#include "cgan/train.hpp"
#include "cgan/vgg.hpp"
#include "cuda_check.hpp"
#include "train/checkpoint_parse.hpp"
#include "train/optim_adapter.hpp"
#include "train/rng.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace cgan::train {

namespace {

constexpr const char* kCheckpointFormat = "cgan_train_checkpoint";
constexpr int kCheckpointVersion = 1;
constexpr const char* kCsvHeader =
    "step,epoch,phase,d_real,d_smooth,d_fake,g_adv,content,lr_g,lr_d,data_wait_ms,step_ms";

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The fields that define what is trained: a resumed run takes them from the checkpoint.
json config_to_json(const TrainConfig& c) {
  return json{{"photo_dir", c.photo_dir},
              {"cartoon_dir", c.cartoon_dir},
              {"smoothed_dir", c.smoothed_dir},
              {"sample_dir", c.sample_dir},
              {"num_samples", c.num_samples},
              {"size", c.size},
              {"batch", c.batch},
              {"init_epochs", c.init_epochs},
              {"epochs", c.epochs},
              {"lr_g", c.lr_g},
              {"lr_d", c.lr_d},
              {"beta1", c.beta1},
              {"beta2", c.beta2},
              {"adam_eps", c.adam_eps},
              {"lr_decay", c.lr_decay},
              {"content_weight", c.content_weight},
              {"content_layer", c.content_layer},
              {"content_after_relu", c.content_after_relu},
              {"seed", std::to_string(c.seed)},  // string: JSON numbers lose 64-bit precision
              {"arch", c.arch},
              {"g_features", c.g_features},
              {"g_residuals", c.g_residuals},
              {"d_features", c.d_features},
              {"vgg_path", c.vgg_path},
              {"vgg_random", c.vgg_random}};
}

// An integer field of checkpoint metadata, range-checked: a float such as 9.2e19, or a value
// beyond T, must be an error, not an undefined conversion.
template <typename T, typename K>
T json_int(const json& j, const K& key) {
  const json& v = j.at(key);
  CGAN_CHECK(v.is_number_integer(), "checkpoint metadata: '" << key << "' must be an integer, got "
                                                             << v.dump());
  const bool fits = v.is_number_unsigned()
                        ? v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max())
                        : v.get<int64_t>() >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
                              v.get<int64_t>() <= static_cast<int64_t>(std::numeric_limits<T>::max());
  CGAN_CHECK(fits, "checkpoint metadata: '" << key << "' = " << v.dump() << " is out of range");
  return static_cast<T>(v.get<int64_t>());
}

float json_float(const json& j, const char* key) {
  const json& v = j.at(key);
  CGAN_CHECK(v.is_number(), "checkpoint metadata: '" << key << "' must be a number, got " << v.dump());
  const double d = v.get<double>();
  CGAN_CHECK(std::isfinite(d) && std::abs(d) <= std::numeric_limits<float>::max(),
             "checkpoint metadata: '" << key << "' = " << v.dump() << " is out of range");
  return static_cast<float>(d);
}

void config_from_json(TrainConfig& c, const json& j) {
  c.photo_dir = j.at("photo_dir").get<std::string>();
  c.cartoon_dir = j.at("cartoon_dir").get<std::string>();
  c.smoothed_dir = j.at("smoothed_dir").get<std::string>();
  c.sample_dir = j.at("sample_dir").get<std::string>();
  c.num_samples = json_int<int>(j, "num_samples");
  c.size = json_int<int>(j, "size");
  c.batch = json_int<int>(j, "batch");
  c.init_epochs = json_int<int>(j, "init_epochs");
  c.epochs = json_int<int>(j, "epochs");
  c.lr_g = json_float(j, "lr_g");
  c.lr_d = json_float(j, "lr_d");
  c.beta1 = json_float(j, "beta1");
  c.beta2 = json_float(j, "beta2");
  c.adam_eps = json_float(j, "adam_eps");
  c.lr_decay = j.at("lr_decay").get<bool>();
  c.content_weight = json_float(j, "content_weight");
  c.content_layer = j.at("content_layer").get<std::string>();
  c.content_after_relu = j.at("content_after_relu").get<bool>();
  c.seed = std::stoull(j.at("seed").get<std::string>());
  c.arch = j.at("arch").get<std::string>();
  c.g_features = json_int<int>(j, "g_features");
  c.g_residuals = json_int<int>(j, "g_residuals");
  const json& df = j.at("d_features");
  CGAN_CHECK(df.is_array() && df.size() == 4, "checkpoint metadata: 'd_features' must be 4 integers");
  for (size_t k = 0; k < 4; ++k) c.d_features[k] = json_int<int>(df, k);
  c.vgg_path = j.at("vgg_path").get<std::string>();
  c.vgg_random = j.at("vgg_random").get<bool>();
}

void validate(const TrainConfig& c) {
  CGAN_CHECK(!c.out_dir.empty(), "no output folder given (--out DIR)");
  CGAN_CHECK(c.size <= 4096, "image size " << c.size << " is beyond 4096 (the paper trains at 256)");
  CGAN_CHECK(c.batch <= 4096, "batch size " << c.batch << " is beyond 4096 (the paper uses 8)");
  CGAN_CHECK(c.size >= 16 && c.size % 8 == 0,
             "image size must be a multiple of 8 and at least 16 (the generator halves it "
             "twice and VGG pools it three times), got "
                 << c.size);
  CGAN_CHECK(c.batch >= 1, "batch size must be at least 1, got " << c.batch);
  CGAN_CHECK(c.init_epochs >= 0, "init epochs must be >= 0, got " << c.init_epochs);
  CGAN_CHECK(c.epochs >= 0, "adversarial epochs must be >= 0, got " << c.epochs);
  CGAN_CHECK(c.init_epochs + c.epochs >= 1, "nothing to train: init epochs and epochs are both 0");
  CGAN_CHECK(c.lr_g > 0 && c.lr_d > 0, "learning rates must be positive (lr_g " << c.lr_g
                                                                             << ", lr_d " << c.lr_d << ")");
  CGAN_CHECK(c.beta1 >= 0 && c.beta1 < 1 && c.beta2 >= 0 && c.beta2 < 1,
             "Adam betas must be in [0, 1), got (" << c.beta1 << ", " << c.beta2 << ")");
  CGAN_CHECK(c.content_weight >= 0, "content weight must be >= 0, got " << c.content_weight);
  CGAN_CHECK(c.content_layer == "conv4_4" || c.content_layer == "conv3_2",
             "content layer must be conv4_4 or conv3_2, got '" << c.content_layer << "'");
  CGAN_CHECK(c.arch == "seed" || c.arch == "official",
             "generator architecture must be 'seed' or 'official', got '" << c.arch << "'");
  CGAN_CHECK(c.num_samples >= 0, "number of sample photos must be >= 0");
  CGAN_CHECK(c.log_every >= 1, "the loss read-back interval must be >= 1 step, got " << c.log_every);
  CGAN_CHECK(c.checkpoint_every >= 0 && c.sample_every >= 0,
             "checkpoint/sample intervals must be >= 0 (0: only at the end)");
}

// Creates the folder and proves it writable before any training work, so a bad --out fails
// in a second and not after the first checkpoint interval.
void ensure_writable_dir(const std::string& dir, const std::string& what) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  CGAN_CHECK(!ec && fs::is_directory(dir), what << " folder '" << dir << "' cannot be created: "
                                                 << (ec ? ec.message() : "not a folder")
                                                 << "; choose another --out");
  const std::string probe = (fs::path(dir) / ".cgan_write_test").string();
  try {
    const char byte = 0;
    write_file_atomic(probe, &byte, 1);
  } catch (const std::exception& e) {
    CGAN_FAIL(what << " folder '" << dir << "' is not writable: " << e.what()
                   << "; choose another --out");
  }
  fs::remove(probe, ec);
}

std::string fmt_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const long t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  return buf;
}

std::string fmt_loss(double v) {
  if (!std::isfinite(v)) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);  // 9 digits: a float round-trips exactly
  return buf;
}

// A losses.csv cell; empty, garbage or out-of-range cells are NaN (not plotted), not errors.
double parse_loss(const std::string& s) {
  try {
    return s.empty() ? std::numeric_limits<double>::quiet_NaN() : std::stod(s);
  } catch (const std::exception&) {
    return std::numeric_limits<double>::quiet_NaN();
  }
}

// Host-to-device staging for the training batches: two pinned buffers used in turn, each with
// the event of the last copy out of it. A pageable upload blocks the host until the copy is
// done (a stream synchronization per tensor); from pinned memory the copy is asynchronous,
// and with two buffers the host may prepare the next step's batch while the device still
// copies (or has not yet reached) the previous one: it runs up to two steps ahead.
class PinnedStaging {
 public:
  PinnedStaging() = default;
  PinnedStaging(const PinnedStaging&) = delete;
  PinnedStaging& operator=(const PinnedStaging&) = delete;
  ~PinnedStaging() {
    for (Slot& s : slots_) {
      if (s.done) {
        cudaEventSynchronize(s.done);  // a copy may still read the buffer
        cudaEventDestroy(s.done);
      }
      if (s.host) cudaFreeHost(s.host);
    }
  }

  // `host` (F32 CPU tensors) on ctx's device, as views of one block filled by one async copy.
  std::vector<Tensor> upload(const std::vector<const Tensor*>& host, Context& ctx) {
    return upload_impl(host, nullptr, ctx);
  }
  // The same into `dst` (device tensors of the same shapes, adjacent in one block, in order):
  // where a CUDA graph reads its inputs.
  void upload_into(const std::vector<const Tensor*>& host, const std::vector<Tensor>& dst,
                   Context& ctx) {
    CGAN_CHECK(dst.size() == host.size(), "batch upload: " << host.size() << " tensors for "
                                                           << dst.size() << " destinations");
    for (size_t i = 0; i < dst.size(); ++i) {
      CGAN_CHECK(dst[i].shape() == host[i]->shape() && dst[i].is_cuda(),
                 "batch upload: " << host[i]->str() << " into " << dst[i].str());
      CGAN_CHECK(i == 0 || dst[i].raw() == static_cast<const char*>(dst[i - 1].raw()) +
                                               dst[i - 1].nbytes(),
                 "batch upload: the destinations must be adjacent");
    }
    upload_impl(host, &dst, ctx);
  }

 private:
  std::vector<Tensor> upload_impl(const std::vector<const Tensor*>& host,
                                  const std::vector<Tensor>* dst, Context& ctx) {
    size_t total = 0;
    for (const Tensor* t : host) {
      CGAN_CHECK(t->defined() && !t->is_cuda() && t->dtype() == DType::F32,
                 "batch upload: expected F32 host tensors, got " << t->str());
      total += t->nbytes();
    }
    Slot& slot = slots_[next_];
    next_ = 1 - next_;
    if (!slot.done) CGAN_CUDA_CHECK(cudaEventCreateWithFlags(&slot.done, cudaEventDisableTiming));
    CGAN_CUDA_CHECK(cudaEventSynchronize(slot.done));  // its last copy has read the buffer
    if (total > slot.bytes) {
      if (slot.host) CGAN_CUDA_CHECK(cudaFreeHost(slot.host));
      slot.host = nullptr;
      slot.bytes = 0;
      CGAN_CUDA_CHECK(cudaHostAlloc(&slot.host, total, cudaHostAllocDefault));
      slot.bytes = total;
    }
    size_t off = 0;
    for (const Tensor* t : host) {
      if (t->nbytes()) std::memcpy(static_cast<char*>(slot.host) + off, t->raw(), t->nbytes());
      off += t->nbytes();
    }
    void* to = nullptr;
    Tensor dev;
    if (dst) {
      to = dst->front().raw();
    } else {
      dev = Tensor::empty({static_cast<int64_t>(total / sizeof(float))}, ctx);
      to = dev.raw();
    }
    {
      ProfileScope prof(ctx, "copy.h2d");
      CGAN_CUDA_CHECK(cudaMemcpyAsync(to, slot.host, total, cudaMemcpyHostToDevice,
                                      static_cast<cudaStream_t>(ctx.stream())));
    }
    CGAN_CUDA_CHECK(cudaEventRecord(slot.done, static_cast<cudaStream_t>(ctx.stream())));
    if (dst) return *dst;
    std::vector<Tensor> out;
    int64_t at = 0;
    for (const Tensor* t : host) {
      out.push_back(dev.slice(at, at + t->numel()).view(t->shape()));
      at += t->numel();
    }
    return out;
  }

  struct Slot {
    void* host = nullptr;
    size_t bytes = 0;
    cudaEvent_t done = nullptr;
  };
  Slot slots_[2];
  int next_ = 0;
};

// One phase's CUDA graph and the fixed-address tensors it reads and writes.
struct PhaseGraph {
  std::unique_ptr<CudaGraph> graph;
  Tensor inputs;  // photos | cartoons | smoothed, one block (one upload)
  Tensor photos, cartoons, smoothed;
  Tensor losses;  // [content, d_real, d_smooth, d_fake, g_adv]
  bool warmed = false;
  bool failed = false;  // recording failed: this phase runs eagerly
};

// A step queued on the device whose losses have not been read back yet.
struct PendingStep {
  StepLosses losses;  // step, epoch, phase, lr filled; losses after the read
  double data_wait_ms = 0;
  double start = 0;  // when the host began the step (now_s); step_ms at the read: to the next
};

constexpr int64_t kLossSlots = 5;

}  // namespace

namespace detail {

std::vector<std::pair<StepLosses, std::string>> parse_losses_csv(std::istream& in,
                                                                 int64_t before_step) {
  std::map<int64_t, std::pair<StepLosses, std::string>> by_step;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) f.push_back(cell);
    while (f.size() < 12) f.emplace_back();
    StepLosses s;
    try {
      size_t used = 0;
      s.step = std::stoll(f[0], &used);
      if (used != f[0].size()) continue;
      s.epoch = std::stoll(f[1]);
    } catch (...) {
      continue;
    }
    if (s.step < 0 || s.step >= before_step) continue;
    s.adversarial = f[2] == "adversarial";
    s.d_real = parse_loss(f[3]);
    s.d_smooth = parse_loss(f[4]);
    s.d_fake = parse_loss(f[5]);
    s.g_adv = parse_loss(f[6]);
    s.content = parse_loss(f[7]);
    s.lr_g = parse_loss(f[8]);
    s.lr_d = parse_loss(f[9]);
    by_step[s.step] = {s, line};
  }
  std::vector<std::pair<StepLosses, std::string>> out;
  for (auto& kv : by_step) out.push_back(std::move(kv.second));
  return out;
}

TrainConfig config_from_checkpoint_text(const std::string& text) {
  const json meta = json::parse(text);
  TrainConfig c;
  config_from_json(c, meta.at("config"));
  validate(c);
  return c;
}

}  // namespace detail

std::string resolve_vgg_path(const std::string& explicit_path) {
  std::string path = explicit_path;
  std::string origin = "--vgg";
  if (path.empty()) {
    const char* env = std::getenv("CGAN_VGG19");
    if (env && *env) {
      path = env;
      origin = "$CGAN_VGG19";
    }
  }
  const char* how =
      "The content loss needs ImageNet VGG19 weights (safetensors). Get them with\n"
      "  bash scripts/download_vgg19.sh            # timm's vgg19.tv_in1k from the Hugging Face hub\n"
      "then pass --vgg weights/vgg19.tv_in1k.safetensors or set CGAN_VGG19 to that file.\n"
      "(--vgg-random trains with random VGG weights: for smoke tests only.)";
  CGAN_CHECK(!path.empty(), "no VGG19 weights given (neither --vgg nor $CGAN_VGG19 is set).\n" << how);
  CGAN_CHECK(fs::is_regular_file(path),
             "VGG19 weights file '" << path << "' (from " << origin << ") does not exist.\n" << how);
  return path;
}

// ---- Trainer ---------------------------------------------------------------------------

struct Trainer::Impl {
  TrainConfig cfg;
  std::ostream* log = nullptr;
  std::unique_ptr<Context> ctx;
  std::unique_ptr<DataLoader> data;
  std::unique_ptr<Generator> gen;
  std::unique_ptr<SeedDiscriminator> disc;
  std::unique_ptr<VGG19Features> vgg;
  std::unique_ptr<AdamAdapter> adam_g, adam_d;
  Precision precision = Precision::FP32;  // resolved; BF16: channels-last bf16 activations
  ChannelOrder order = ChannelOrder::RGB;
  SmoothOptions smooth;
  int64_t step = 0;  // global steps done
  int64_t spe = 1;   // steps per epoch
  std::vector<StepLosses> history;
  Tensor sample_photos;  // [S,3,size,size] on the device
  PinnedStaging staging;  // CUDA batch uploads
  std::string csv_path;
  StepTimings timings;
  // Losses stay on the device, one row per step, until flush_losses() reads them all.
  Tensor loss_log;  // [loss_log_rows * kLossSlots]
  int64_t loss_log_rows = 1;
  std::vector<PendingStep> pending;
  bool use_graphs = false;
  std::unique_ptr<PhaseGraph> graph_init, graph_adv;
  int64_t graph_replays = 0;  // over both phases

  // Queues one step (fetching its batch); its losses stay on the device.
  void enqueue_step();
  // Reads back the pending steps' losses: history, losses.csv rows, divergence check.
  void flush_losses();
  // The step's work on the device, from the batch to both Adam updates: no host
  // synchronization (unless profiling), so a CUDA graph can record it.
  void compute(bool adversarial, const Tensor& photos, const Tensor& cartoons,
               const Tensor& smoothed, const Tensor& losses);
  // The graph for this phase, made on first use; null for a batch of another shape.
  PhaseGraph* graph_for(bool adversarial, const Batch& b);
  double mark = 0;
  // Time since the previous lap, after the device finished (profile mode only).
  double lap() {
    if (!cfg.profile) return 0;
    ctx->synchronize();
    const double t = now_s(), d = (t - mark) * 1e3;
    mark = t;
    return d;
  }

  int64_t init_steps() const { return int64_t{cfg.init_epochs} * spe; }
  int64_t total() const { return int64_t{cfg.init_epochs + cfg.epochs} * spe; }
  bool adversarial(int64_t s) const { return s >= init_steps(); }

  float lr(float base, int64_t s) const {
    if (!cfg.lr_decay || !adversarial(s)) return base;
    const double adv = double(total() - init_steps());
    return static_cast<float>(base * std::max(0.0, 1.0 - double(s - init_steps()) / adv));
  }

  void say(const std::string& m) const { *log << m << std::endl; }
};

Trainer::Trainer(TrainConfig cfg) : impl_(std::make_unique<Impl>()) {
  Impl& I = *impl_;
  I.log = cfg.log_stream ? cfg.log_stream : &std::cerr;

  // A resumed run is defined by its checkpoint; only run control comes from `cfg`.
  std::string resume_file;
  json resume_meta;
  if (!cfg.resume_dir.empty()) {
    resume_file = fs::is_directory(cfg.resume_dir)
                      ? (fs::path(cfg.resume_dir) / "checkpoint.safetensors").string()
                      : cfg.resume_dir;
    CGAN_CHECK(fs::is_regular_file(resume_file),
               "cannot resume: no checkpoint at '" << resume_file << "'");
    SafeTensors head;
    try {
      head = read_safetensors(resume_file);
    } catch (const std::exception& e) {
      CGAN_FAIL("cannot resume from '" << resume_file << "': " << e.what()
                                       << "\n(the checkpoint is damaged: start a new run into "
                                          "another --out folder)");
    }
    auto it = head.metadata.find("cgan_train");
    CGAN_CHECK(it != head.metadata.end(),
               "cannot resume: '" << resume_file << "' is not a cgan_train checkpoint (no "
                                  << "'cgan_train' metadata)");
    try {
      resume_meta = json::parse(it->second);
    } catch (const std::exception& e) {
      CGAN_FAIL("cannot resume: '" << resume_file << "' has malformed metadata: " << e.what());
    }
    CGAN_CHECK(resume_meta.value("format", "") == kCheckpointFormat &&
                   resume_meta.value("version", 0) == kCheckpointVersion,
               "cannot resume: '" << resume_file << "' has an unknown checkpoint format/version");
    config_from_json(cfg, resume_meta.at("config"));
  }
  validate(cfg);
  I.cfg = cfg;

  // Cheap input checks first: folders, VGG file, output folder.
  const ChannelOrder order = cfg.arch == "official" ? ChannelOrder::BGR : ChannelOrder::RGB;
  I.order = order;
  std::string vgg_path;
  if (!cfg.vgg_random) vgg_path = resolve_vgg_path(cfg.vgg_path);
  ensure_writable_dir(cfg.out_dir, "output");
  ensure_writable_dir((fs::path(cfg.out_dir) / "samples").string(), "samples");
  // Temp files of runs killed mid-write (checkpoints are large: ten kills left 385 MB).
  remove_stale_temp_files(cfg.out_dir);
  remove_stale_temp_files((fs::path(cfg.out_dir) / "samples").string());

  I.ctx = Context::create(cfg.device);
  I.precision = apply_precision(cfg.precision, *I.ctx);
  // Every step allocates the same shapes: keep the large host blocks instead of faulting in
  // fresh pages each step.
  I.ctx->allocator().set_cache_large_host_blocks(true);
  {
    // What a step will hold at its peak, checked before anything is allocated: an impossible
    // request fails now with the numbers instead of swapping for minutes. Per pixel of the
    // batch: generator, discriminator and VGG activations kept for the backward, measured on
    // the CPU (the demo's 96x96 batch-4 run: ~1.6 GB resident, ~30 KB per pixel above the
    // fixed ~0.5 GB); 25 KB is used so that only clearly impossible requests are refused.
    const double px = double(cfg.size) * double(cfg.size) * double(cfg.batch);
    const double need = 25e3 * px + 512.0 * 1024 * 1024;
    const uint64_t avail = available_memory_bytes(I.ctx->device());
    auto gib = [](double b) { return std::round(b / (1024.0 * 1024 * 1024) * 10) / 10; };
    CGAN_CHECK(avail == 0 || need <= double(avail),
               "training at " << cfg.size << "x" << cfg.size << ", batch " << cfg.batch
                              << " needs about " << gib(need) << " GiB, and "
                              << device_description(I.ctx->device()) << " has "
                              << gib(double(avail)) << " GiB available: lower --batch or --size");
  }
  DataOptions dopt;
  dopt.photo_dir = cfg.photo_dir;
  dopt.cartoon_dir = cfg.cartoon_dir;
  dopt.smoothed_dir = cfg.smoothed_dir;
  dopt.size = cfg.size;
  dopt.batch = cfg.batch;
  dopt.seed = cfg.seed;
  dopt.threads = std::max(1, cfg.loader_threads);
  dopt.prefetch = std::max(1, cfg.prefetch);
  // On a GPU the whole batch is smoothed there in one call; on the CPU the loader threads
  // do it, off the training loop's critical path.
  dopt.smooth_on_cpu = !I.ctx->is_cuda();
  dopt.smooth = I.smooth;
  dopt.order = order;
  std::ostream* log = I.log;
  dopt.log = [log](const std::string& m) { *log << "warning: " << m << std::endl; };
  I.data = std::make_unique<DataLoader>(dopt);
  I.spe = I.data->steps_per_epoch();

  // Networks. Seeds per network so changing one network's width leaves the other's init.
  Context& ctx = *I.ctx;
  if (cfg.arch == "official") {
    OfficialGenerator::Options o;
    o.features = cfg.g_features;
    o.residuals = cfg.g_residuals;
    o.seed = mix_seed(cfg.seed, 0x47454eull /*"GEN"*/);
    I.gen = std::make_unique<OfficialGenerator>(ctx, o);
  } else {
    SeedGenerator::Options o;
    o.features = cfg.g_features;
    o.residuals = cfg.g_residuals;
    o.seed = mix_seed(cfg.seed, 0x47454eull);
    I.gen = std::make_unique<SeedGenerator>(ctx, o);
  }
  {
    SeedDiscriminator::Options o;
    o.features = cfg.d_features;
    o.seed = mix_seed(cfg.seed, 0x444953ull /*"DIS"*/);
    I.disc = std::make_unique<SeedDiscriminator>(ctx, o);
  }
  {
    VGG19Features::Options o;
    o.last = cfg.content_layer == "conv3_2" ? VGG19Features::Layer::Conv3_2
                                            : VGG19Features::Layer::Conv4_4;
    o.after_relu = cfg.content_after_relu;
    I.vgg = std::make_unique<VGG19Features>(ctx, o);
    if (cfg.vgg_random) {
      I.vgg->init_random(mix_seed(cfg.seed, 0x564747ull /*"VGG"*/));
      I.say(
          "WARNING: --vgg-random: the content loss uses RANDOM VGG19 weights. The result is a "
          "smoke test, not a cartoonizer. Pass --vgg PATH (scripts/download_vgg19.sh) to train "
          "for real.");
    } else {
      try {
        I.vgg->load(vgg_path);
      } catch (const std::exception& e) {
        CGAN_FAIL("VGG19 weights '" << vgg_path << "' do not fit VGG19 features up to "
                                    << cfg.content_layer << " (the content loss): " << e.what()
                                    << "\nGet ImageNet VGG19 weights with: bash "
                                       "scripts/download_vgg19.sh");
      }
    }
  }
  I.adam_g = std::make_unique<AdamAdapter>(I.gen->params(), cfg.lr_g, cfg.beta1, cfg.beta2,
                                           cfg.adam_eps, ctx);
  I.adam_d = std::make_unique<AdamAdapter>(I.disc->params(), cfg.lr_d, cfg.beta1, cfg.beta2,
                                           cfg.adam_eps, ctx);
  if (I.precision == Precision::BF16) {
    // fp32 masters (what Adam updates and checkpoints hold), bf16 copies for the convolutions:
    // Adam's step rewrites G's and D's; VGG19 is frozen, its copy is written once.
    I.gen->params().enable_bf16(ctx);
    I.disc->params().enable_bf16(ctx);
    I.vgg->params().enable_bf16(ctx);
    I.adam_g->mirror_bf16(I.gen->params());
    I.adam_d->mirror_bf16(I.disc->params());
  }

  I.loss_log_rows = std::max(1, cfg.log_every);
  I.loss_log = Tensor::empty({I.loss_log_rows * kLossSlots}, ctx);
  I.use_graphs = cfg.cuda_graphs && ctx.is_cuda();
  if (cfg.cuda_graphs && !ctx.is_cuda())
    I.say("note: --cuda-graphs has no effect on the CPU");
  if (I.use_graphs && cfg.profile) {
    I.use_graphs = false;  // profiling times each part with host synchronizations
    I.say("note: --profile runs the steps eagerly, without CUDA graphs");
  }

  // Fixed sample photos: centre crops at the training size.
  {
    std::vector<std::string> paths;
    if (!cfg.sample_dir.empty())
      paths = list_images(cfg.sample_dir, "sample");
    else
      paths = I.data->photo_paths();
    if (paths.size() > static_cast<size_t>(cfg.num_samples))
      paths.resize(static_cast<size_t>(cfg.num_samples));
    std::vector<Image> ims;
    for (const std::string& p : paths) {
      try {
        ims.push_back(augment(read_image(p), cfg.size, 0.5, 0.5, false));
      } catch (const std::exception& e) {
        I.say(std::string("warning: sample photo skipped: ") + e.what());
      }
    }
    if (!ims.empty()) I.sample_photos = images_to_tensor(ims, order, ctx);
  }

  I.csv_path = (fs::path(cfg.out_dir) / "losses.csv").string();
  if (!resume_file.empty()) {
    const SafeTensors st = read_safetensors(resume_file);
    auto sub = [&](const std::string& prefix) {
      SafeTensors s;
      for (const auto& kv : st.tensors)
        if (kv.first.rfind(prefix, 0) == 0) s.tensors.emplace_back(kv.first.substr(prefix.size()), kv.second);
      return s;
    };
    I.gen->params().load(sub("generator."), resume_file + " (generator)", false, ctx);
    I.disc->params().load(sub("discriminator."), resume_file + " (discriminator)", false, ctx);
    I.adam_g->restore(st.at("adam_g.m"), st.at("adam_g.v"), json_int<int64_t>(resume_meta, "adam_g_steps"));
    I.adam_d->restore(st.at("adam_d.m"), st.at("adam_d.v"), json_int<int64_t>(resume_meta, "adam_d_steps"));
    I.step = json_int<int64_t>(resume_meta, "step");
    CGAN_CHECK(json_int<int64_t>(resume_meta, "steps_per_epoch") == I.spe,
               "cannot resume: the data set changed (" << I.spe << " steps per epoch now, "
                                                       << json_int<int64_t>(resume_meta, "steps_per_epoch")
                                                       << " in the checkpoint)");
    // The loss history up to the checkpoint; rows after it (a run killed later) are dropped
    // so losses.csv stays one row per step.
    const fs::path old_csv = fs::path(resume_file).parent_path() / "losses.csv";
    // One row per step, in step order, whatever the file holds (rows of two runs appended to
    // one folder, hand edits): a later row for a step replaces an earlier one, and rows that
    // do not parse or lie outside [0, step) are dropped.
    std::ifstream in(old_csv);
    const auto by_step = detail::parse_losses_csv(in, I.step);
    std::vector<std::string> rows;
    for (const auto& [losses, row] : by_step) {
      I.history.push_back(losses);
      rows.push_back(row);
    }
    std::string text = std::string(kCsvHeader) + "\n";
    for (const std::string& r : rows) text += r + "\n";
    write_file_atomic(I.csv_path, text.data(), text.size());
    I.say("resuming from " + resume_file + " at step " + std::to_string(I.step) + " (epoch " +
          std::to_string(I.step / I.spe) + ")");
  } else {
    const std::string text = std::string(kCsvHeader) + "\n";
    write_file_atomic(I.csv_path, text.data(), text.size());
  }
  I.data->seek(I.step / I.spe, I.step % I.spe);
}

Trainer::~Trainer() = default;

const TrainConfig& Trainer::config() const { return impl_->cfg; }
Context& Trainer::context() { return *impl_->ctx; }
Generator& Trainer::generator() { return *impl_->gen; }
SeedDiscriminator& Trainer::discriminator() { return *impl_->disc; }
int64_t Trainer::global_step() const { return impl_->step; }
int64_t Trainer::steps_per_epoch() const { return impl_->spe; }
int64_t Trainer::total_steps() const { return impl_->total(); }
const std::vector<StepLosses>& Trainer::history() const { return impl_->history; }
const StepTimings& Trainer::last_timings() const { return impl_->timings; }

void Trainer::Impl::compute(bool adv, const Tensor& photos, const Tensor& cartoons,
                            const Tensor& smoothed, const Tensor& losses) {
  Context& c = *ctx;
  StepTimings& tm = timings;
  Generator& G = *gen;
  SeedDiscriminator& D = *disc;
  // bf16: the batch in channels-last bf16 for G and D (VGG19 takes float images and converts
  // after its input normalization); D's outputs back to float for the losses.
  const bool b16 = precision == Precision::BF16;
  auto storage = [&](const Tensor& x) {
    if (!b16 || !x.defined()) return x;
    Tensor t = Tensor::empty(x.shape(), c, DType::BF16, Layout::NHWC);
    ops::to_nhwc(t, x, c);
    return t;
  };
  auto d_out = [&](nn::Tape& t, const nn::Var& o) { return b16 ? nn::to_nchw(t, o) : o; };
  // losses: [content, d_real, d_smooth, d_fake, g_adv], written on the device.
  auto loss_slot = [&](int64_t k) { return losses.slice(k, k + 1); };

  // Photo features: constants of this step (no graph).
  tm.data = lap();
  Tensor real_feat;
  double content_ms = 0;
  {
    nn::Tape t(c, /*grad_enabled=*/false);
    real_feat = vgg->forward(t, nn::input(photos), order)->value;
  }
  content_ms += lap();

  // The generated batch, computed once: its detached value feeds D's step, its graph the
  // generator's step.
  G.params().zero_grad(c);
  nn::Tape tape_g(c);
  nn::Var fake = G.forward(tape_g, nn::input(storage(photos)));
  tm.g_forward = lap();

  if (adv) {
    // ---- D step: LSGAN, one forward/backward per input kind (gradients accumulate), so
    // only one of the three activation sets is alive at a time.
    D.params().zero_grad(c);
    auto d_term = [&](const Tensor& x, float target, int64_t slot) {
      nn::Tape t(c);
      nn::Var o = d_out(t, D.forward(t, nn::input(x)));
      Tensor d = Tensor::empty(o->value.shape(), c);
      Tensor loss = loss_slot(slot);
      ops::mse_const_loss(loss, &d, o->value, target, 1.f, c);
      t.backward(o, d);
    };
    d_term(storage(cartoons), 1.f, 1);
    d_term(storage(smoothed), 0.f, 2);
    d_term(fake->value, 0.f, 3);
    adam_d->step();
    tm.d_step = lap();

    // ---- G adversarial term through the updated D; D's parameters get no gradient.
    nn::Tape t(c);
    t.param_grads = false;
    nn::Var o = d_out(t, D.forward(t, fake));
    Tensor d = Tensor::empty(o->value.shape(), c);
    Tensor loss = loss_slot(4);
    ops::mse_const_loss(loss, &d, o->value, 1.f, 1.f, c);
    t.backward(o, d);  // accumulates into fake->grad
    tm.g_adv = lap();
  }

  // ---- content term (both phases): w * L1(VGG(G(p)), VGG(p)).
  {
    nn::Tape t(c);
    nn::Var f = vgg->forward(t, fake, order);
    Tensor d = Tensor::empty(f->value.shape(), c);
    Tensor loss = loss_slot(0);
    ops::l1_loss(loss, &d, f->value, real_feat, cfg.content_weight, c);
    t.backward(f, d);  // accumulates into fake->grad
  }
  tm.content = content_ms + lap();
  // Everything that reached G(p) (adversarial + content) now flows into G's parameters.
  const Tensor d_fake = fake->grad;
  tape_g.backward(fake, d_fake);
  adam_g->step();
}

void Trainer::Impl::flush_losses() {
  if (pending.empty()) return;
  // The one read of the device per logging interval: every pending step's losses at once.
  const int64_t n = static_cast<int64_t>(pending.size());
  const std::vector<float> lv = loss_log.slice(0, n * kLossSlots).to_vector(*ctx);
  // A step's time: from its start to the next one's (to this read for the last): wall time
  // per step whether the host waited for each step or ran ahead of the device.
  const double read_done = now_s();
  std::ostringstream rows;
  for (int64_t r = 0; r < n; ++r) {
    PendingStep& p = pending[static_cast<size_t>(r)];
    const double end = r + 1 < n ? pending[static_cast<size_t>(r + 1)].start : read_done;
    const double step_ms = (end - p.start) * 1e3;
    StepLosses& out = p.losses;
    const float* v = lv.data() + r * kLossSlots;
    out.content = v[0];
    if (out.adversarial) {
      out.d_real = v[1];
      out.d_smooth = v[2];
      out.d_fake = v[3];
      out.g_adv = v[4];
    }
    history.push_back(out);
    rows << out.step << ',' << out.epoch << ',' << (out.adversarial ? "adversarial" : "init")
         << ',' << fmt_loss(out.d_real) << ',' << fmt_loss(out.d_smooth) << ','
         << fmt_loss(out.d_fake) << ',' << fmt_loss(out.g_adv) << ',' << fmt_loss(out.content)
         << ',' << fmt_loss(out.lr_g) << ',' << fmt_loss(out.lr_d) << ',' << std::fixed
         << std::setprecision(2) << p.data_wait_ms << ',' << step_ms << '\n';
    rows.unsetf(std::ios::fixed);
  }
  pending.clear();
  // Rows appended and flushed per interval: a crash loses at most the rows not yet read
  // back, and a resume rewrites the file up to its checkpoint.
  {
    std::ofstream csv(csv_path, std::ios::app);
    csv << rows.str();
    CGAN_CHECK(csv.good(), "cannot append to '" << csv_path << "'");
  }
  for (size_t i = history.size() - static_cast<size_t>(n); i < history.size(); ++i) {
    const StepLosses& s = history[i];
    // NaN stands for "not computed" only for the init phase's adversarial losses.
    if (s.adversarial)
      for (double v : {s.d_real, s.d_smooth, s.d_fake, s.g_adv})
        CGAN_CHECK(std::isfinite(v),
                   "training diverged at step " << s.step << ": an adversarial loss is not finite");
    CGAN_CHECK(std::isfinite(s.content),
               "training diverged at step " << s.step << ": content loss is not finite");
  }
}


void Trainer::Impl::enqueue_step() {
  Context& c = *ctx;
  if (static_cast<int64_t>(pending.size()) >= loss_log_rows) flush_losses();
  const double t0 = now_s();
  mark = t0;
  timings = StepTimings{};
  const double wait0 = data->stats().wait_seconds;
  Batch b;
  {
    ProfileScope prof(c, "data.wait", OpProfile::Clock::Host);
    b = data->next();
  }
  PendingStep p;
  p.data_wait_ms = (data->stats().wait_seconds - wait0) * 1e3;
  StepLosses& out = p.losses;
  out.step = step;
  out.epoch = step / spe;
  out.adversarial = adversarial(step);
  out.lr_g = lr(cfg.lr_g, step);
  out.lr_d = lr(cfg.lr_d, step);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  out.d_real = out.d_smooth = out.d_fake = out.g_adv = nan;
  const bool adv = out.adversarial;
  // Learning rates are device values the step (and its graph) reads: set before the step.
  adam_g->set_lr(static_cast<float>(out.lr_g));
  if (adv) adam_d->set_lr(static_cast<float>(out.lr_d));

  std::vector<const Tensor*> host{&b.photos};
  if (adv) {
    host.push_back(&b.cartoons);
    if (b.smoothed_ready) host.push_back(&b.smoothed);
  }
  PhaseGraph* pg = use_graphs ? graph_for(adv, b) : nullptr;
  Tensor photos, cartoons, smoothed, losses;
  if (pg) {
    // The batch goes where the graph reads it.
    std::vector<Tensor> dst{pg->photos};
    if (adv) {
      dst.push_back(pg->cartoons);
      if (b.smoothed_ready) dst.push_back(pg->smoothed);
    }
    staging.upload_into(host, dst, c);
    photos = pg->photos;
    cartoons = pg->cartoons;
    smoothed = pg->smoothed;
    losses = pg->losses;
  } else if (c.is_cuda()) {
    // Photos, cartoons and (when the loader read them) smoothed cartoons leave through one
    // pinned buffer in one asynchronous copy, at the start of the step, so no upload waits
    // for queued work; the init phase sends the photos only.
    std::vector<Tensor> dev = staging.upload(host, c);
    photos = dev[0];
    if (adv) cartoons = dev[1];
    if (dev.size() > 2) smoothed = dev[2];
    losses = Tensor::empty({kLossSlots}, c);
  } else {
    photos = b.photos;
    cartoons = b.cartoons;
    if (b.smoothed_ready) smoothed = b.smoothed;
    losses = Tensor::empty({kLossSlots}, c);
  }
  // Smoothing on the device synchronizes (its hysteresis loop reads a flag back), so it runs
  // first, outside any graph, while the stream holds little but the upload.
  if (adv && !b.smoothed_ready) edge_smooth_batch(smoothed, cartoons, smooth, c, order);

  auto work = [&, adv] { compute(adv, photos, cartoons, smoothed, losses); };
  if (!pg) {
    work();
  } else if (pg->graph->ready()) {
    pg->graph->replay();
    ++graph_replays;
    // The replayed Adam launches advanced the device-side step counters; keep the host's.
    adam_g->count_replayed_step();
    if (adv) adam_d->count_replayed_step();
  } else if (!pg->warmed) {
    pg->graph->warm_up(work);  // sizes the pool, picks the algorithms
    pg->warmed = true;
  } else {
    // Adam's host counters advance while recording, for the replay right after it; a
    // recording that fails ran nothing, so they go back.
    const int64_t steps_g = adam_g->steps(), steps_d = adam_d->steps();
    try {
      pg->graph->record(work);
      pg->graph->replay();
      ++graph_replays;
    } catch (const std::exception& e) {
      adam_g->set_host_steps(steps_g);
      adam_d->set_host_steps(steps_d);
      pg->failed = true;
      pg->graph.reset();  // and its pool
      say(std::string("warning: this phase's step could not be recorded as a CUDA graph (") +
          e.what() + "); it runs eagerly");
      work();
    }
  }
  // This step's losses join the interval's rows on the device (no host synchronization).
  const int64_t row = static_cast<int64_t>(pending.size());
  loss_log.slice(row * kLossSlots, (row + 1) * kLossSlots).copy_from(losses, c);
  if (cfg.profile) {
    timings.g_backward = lap();
    if (c.profiler) c.profiler->resolve();  // the step's device events, all complete now
  }
  timings.total = (now_s() - t0) * 1e3;
  p.start = t0;
  pending.push_back(p);
  ++step;
}

PhaseGraph* Trainer::Impl::graph_for(bool adv, const Batch& b) {
  std::unique_ptr<PhaseGraph>& slot = adv ? graph_adv : graph_init;
  const Shape shape = b.photos.shape();
  if (slot && (slot->photos.shape() != shape || slot->failed)) return nullptr;  // eager
  if (!slot) {
    Context& c = *ctx;
    // Training never goes back to the init phase: its graph and pool go.
    if (adv) graph_init.reset();
    slot = std::make_unique<PhaseGraph>();
    slot->graph = std::make_unique<CudaGraph>(c);
    const int64_t n = shape_numel(shape);
    slot->inputs = Tensor::empty({adv ? 3 * n : n}, c);
    slot->photos = slot->inputs.slice(0, n).view(shape);
    if (adv) {
      slot->cartoons = slot->inputs.slice(n, 2 * n).view(shape);
      slot->smoothed = slot->inputs.slice(2 * n, 3 * n).view(shape);
    }
    slot->losses = Tensor::empty({kLossSlots}, c);
  }
  return slot.get();
}

int64_t Trainer::graph_replays() const { return impl_->graph_replays; }

AllocatorStats Trainer::graph_pool_stats() const {
  const Impl& I = *impl_;
  AllocatorStats sum;
  for (const PhaseGraph* g : {I.graph_init.get(), I.graph_adv.get()}) {
    if (!g || !g->graph) continue;
    const AllocatorStats s = g->graph->pool_stats();
    sum.bytes_reserved += s.bytes_reserved;
    sum.peak_bytes_in_use += s.peak_bytes_in_use;
    sum.bytes_in_use += s.bytes_in_use;
  }
  return sum;
}

void Trainer::queue_step() { impl_->enqueue_step(); }
void Trainer::read_losses() { impl_->flush_losses(); }

StepLosses Trainer::step() {
  Impl& I = *impl_;
  I.enqueue_step();
  I.flush_losses();
  return I.history.back();
}

void Trainer::save_checkpoint(const std::string& path) {
  Impl& I = *impl_;
  I.flush_losses();  // queued steps checked and in losses.csv before a checkpoint says so
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (auto& kv : I.gen->params().state()) tensors.emplace_back("generator." + kv.first, kv.second);
  for (auto& kv : I.disc->params().state())
    tensors.emplace_back("discriminator." + kv.first, kv.second);
  // Adam moments over the flat parameter buffers (parameter declaration order).
  tensors.emplace_back("adam_g.m", I.adam_g->m());
  tensors.emplace_back("adam_g.v", I.adam_g->v());
  tensors.emplace_back("adam_d.m", I.adam_d->m());
  tensors.emplace_back("adam_d.v", I.adam_d->v());
  const int64_t epoch = I.step / I.spe;
  json meta{{"format", kCheckpointFormat},
            {"version", kCheckpointVersion},
            {"step", I.step},
            {"epoch", epoch},
            {"step_in_epoch", I.step % I.spe},
            {"steps_per_epoch", I.spe},
            {"phase", I.adversarial(I.step) ? "adversarial" : "init"},
            {"adam_g_steps", I.adam_g->steps()},
            {"adam_d_steps", I.adam_d->steps()},
            // The data order, crops and flips are drawn from mt19937_64 generators seeded by
            // mix_seed(seed, purpose, epoch, position): the seed and the position ARE the
            // complete RNG state, nothing else is consumed during training.
            {"rng",
             {{"generator", "mt19937_64"},
              {"scheme", "splitmix64(seed, purpose, epoch, position)"},
              {"seed", std::to_string(I.cfg.seed)},
              {"next_epoch", epoch},
              {"next_step_in_epoch", I.step % I.spe}}},
            {"config", config_to_json(I.cfg)}};
  const std::string text = meta.dump();
  write_safetensors(path, tensors, {{"cgan_train", text}}, I.ctx.get());
  // A readable copy beside it (the safetensors metadata is the one that is used).
  const std::string pretty = meta.dump(2) + "\n";
  write_file_atomic(fs::path(path).replace_extension(".json").string(), pretty.data(), pretty.size());
}

void Trainer::export_generator(const std::string& path) {
  Impl& I = *impl_;
  I.flush_losses();  // the queued steps checked for divergence first
  I.gen->save(path, {{"arch", I.cfg.arch},
                     {"channel_order", I.order == ChannelOrder::BGR ? "BGR" : "RGB"},
                     {"trained_steps", std::to_string(I.step)},
                     {"image_size", std::to_string(I.cfg.size)}});
}

Image Trainer::sample_grid() {
  Impl& I = *impl_;
  CGAN_CHECK(I.sample_photos.defined(), "no sample photos");
  const Tensor out = I.gen->infer(I.sample_photos);
  const std::vector<Image> in = tensor_to_images(I.sample_photos, I.order, *I.ctx);
  const std::vector<Image> gen = tensor_to_images(out, I.order, *I.ctx);
  const int s = I.cfg.size, gap = 4;
  const int ow = gen[0].width, oh = gen[0].height;
  Image grid(s + gap + ow, static_cast<int>(in.size()) * (std::max(s, oh) + gap) - gap);
  std::fill(grid.pixels.begin(), grid.pixels.end(), uint8_t{255});
  int y0 = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    for (int y = 0; y < s; ++y)
      for (int x = 0; x < s; ++x) std::copy_n(in[i].at(x, y), 3, grid.at(x, y0 + y));
    for (int y = 0; y < oh; ++y)
      for (int x = 0; x < ow; ++x) std::copy_n(gen[i].at(x, y), 3, grid.at(s + gap + x, y0 + y));
    y0 += std::max(s, oh) + gap;
  }
  return grid;
}

TrainResult Trainer::run() {
  Impl& I = *impl_;
  const TrainConfig& cfg = I.cfg;
  TrainResult r;
  const fs::path out(cfg.out_dir);
  r.checkpoint_path = (out / "checkpoint.safetensors").string();
  r.generator_path = (out / "generator.safetensors").string();
  r.losses_csv = I.csv_path;
  r.plot_png = (out / "losses.png").string();

  int64_t end = I.total();
  if (cfg.max_steps >= 0) end = std::min(end, cfg.max_steps);
  const bool tty = cfg.progress && (I.log == &std::cerr ? isatty(STDERR_FILENO) != 0
                                                        : I.log == &std::cout && isatty(STDOUT_FILENO) != 0);
  const double t_start = now_s();
  const double wait_start = I.data->stats().wait_seconds;
  double rate = 0;  // steps/s, exponential moving average
  double last_iter = 0;
  double last_print = 0;
  int64_t first = I.step;
  bool announced_adv = I.adversarial(I.step) && I.step > 0;

  auto write_sample = [&] {
    if (!I.sample_photos.defined()) return;
    char name[64];
    std::snprintf(name, sizeof name, "step_%07lld.png", static_cast<long long>(I.step));
    r.last_sample_png = (out / "samples" / name).string();
    write_image(r.last_sample_png, sample_grid());
  };

  while (I.step < end) {
    if (cfg.stop && cfg.stop->load()) {
      r.interrupted = true;
      break;
    }
    if (!announced_adv && I.adversarial(I.step)) {
      announced_adv = true;
      if (tty) *I.log << "\n";
      I.say("initialization phase done: adversarial training starts at step " +
            std::to_string(I.step));
    }
    I.enqueue_step();
    // Steps/s from the wall time between iterations, which includes the waits for the device
    // at the loss reads (timing the enqueue alone would count only the host's share).
    const double t_iter = now_s();
    if (last_iter > 0) {
      const double dt = t_iter - last_iter;
      rate = rate == 0 ? 1.0 / dt : 0.9 * rate + 0.1 / dt;
    }
    last_iter = t_iter;
    ++r.steps_run;

    // The losses come back once per interval, or when something below needs them.
    const bool last = I.step == end;
    const bool save = cfg.checkpoint_every > 0 && I.step % cfg.checkpoint_every == 0;
    const bool sample = cfg.sample_every > 0 && I.step % cfg.sample_every == 0;
    const bool plot = cfg.plots && I.step % I.spe == 0;
    const double now = now_s();
    const bool print = cfg.progress && (last || now - last_print > (tty ? 0.5 : 10) ||
                                        r.steps_run <= 3);
    if (!(last || save || sample || plot || print ||
          static_cast<int64_t>(I.pending.size()) >= I.loss_log_rows))
      continue;
    I.flush_losses();
    const StepLosses& s = I.history.back();

    if (print) {
      last_print = now;
      std::ostringstream line;
      line << (s.adversarial ? "[adversarial]" : "[init]") << " epoch " << s.epoch + 1 << "/"
           << cfg.init_epochs + cfg.epochs << " step " << I.step << "/" << end << "  "
           << std::fixed << std::setprecision(2) << rate << " it/s  ETA "
           << fmt_duration(double(end - I.step) / rate) << std::setprecision(4)
           << "  content " << s.content;
      if (s.adversarial) line << "  D " << s.d_real + s.d_smooth + s.d_fake << "  G_adv " << s.g_adv;
      if (tty)
        *I.log << "\r" << line.str() << "\033[K" << std::flush;
      else
        *I.log << line.str() << std::endl;
    }

    if (cfg.checkpoint_every > 0 && I.step % cfg.checkpoint_every == 0 && I.step < end) {
      save_checkpoint(r.checkpoint_path);
      export_generator(r.generator_path);
    }
    if (cfg.sample_every > 0 && I.step % cfg.sample_every == 0 && I.step < end) write_sample();
    if (cfg.plots && I.step % I.spe == 0) write_image(r.plot_png, plot_losses(I.history));
  }
  I.flush_losses();  // an interrupted run's last steps
  if (tty) *I.log << "\n";

  save_checkpoint(r.checkpoint_path);
  export_generator(r.generator_path);
  write_sample();
  if (cfg.plots) write_image(r.plot_png, plot_losses(I.history));

  r.steps_done = I.step;
  r.finished = I.step >= I.total();
  r.seconds = now_s() - t_start;
  const DataStats ds = I.data->stats();
  r.data_wait_seconds = ds.wait_seconds - wait_start;
  r.skipped_images = ds.skipped_images;
  (void)first;
  return r;
}

}  // namespace cgan::train
