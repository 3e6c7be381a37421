#pragma once
// The CartoonGAN networks, with parameter names exactly as the PyTorch state_dict keys so
// weights load and save by name (safetensors).
#include <array>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cgan/image.hpp"
#include "cgan/nn.hpp"

namespace cgan {

// A network: its parameters (one flat buffer) and weight files.
class Module {
 public:
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  nn::ParameterSet& params() { return params_; }
  const nn::ParameterSet& params() const { return params_; }
  Context& ctx() const { return *ctx_; }

  // Loads parameters by name from a safetensors file (see ParameterSet::load for the errors).
  virtual void load(const std::string& path, bool allow_unexpected = false);
  void save(const std::string& path, const std::map<std::string, std::string>& metadata = {});
  void init_random(uint64_t seed) { params_.init_random(seed, *ctx_); }

 protected:
  explicit Module(Context& ctx) : ctx_(&ctx) {}
  Context* ctx_;
  nn::ParameterSet params_;
};

enum class GeneratorArch { Official, Seed };

// One step of a generator written as a straight line (what forward() computes, in order), for
// executors other than the tape: exact tiled inference (cgan/tiled.hpp).
struct GeneratorStep {
  enum class Kind { Conv, Norm, Tanh };
  Kind kind = Kind::Conv;
  int reflect = 0;                          // Conv: reflection padding in front of it
  const nn::Conv* conv = nullptr;           // Conv
  const nn::InstanceNorm* norm = nullptr;   // Norm
  ops::Act act = ops::Act::None;            // Norm: fused activation
  bool add_residual = false;                // Norm: adds the last kept output (before act)
  bool keep = false;                        // Norm: a later norm adds this output
};
GeneratorArch parse_generator_arch(const std::string& s);  // "official" | "seed"

class Generator : public Module {
 public:
  // x: [N,3,H,W] in [-1,1] in channel_order(); output [N,3,H',W'] in [-1,1], same order.
  // H' = 4*ceil(H/4)-ish: each stride-2 conv rounds up, each transposed conv doubles.
  virtual nn::Var forward(nn::Tape& tape, const nn::Var& x) = 0;
  // No-grad forward: keeps no activations.
  Tensor infer(const Tensor& x);
  virtual ChannelOrder channel_order() const = 0;
  static Shape output_shape(const Shape& in);
  // forward() as a list of steps over this generator's parameters (valid while it lives).
  virtual std::vector<GeneratorStep> steps() const = 0;

 protected:
  using Module::Module;
};

// A generator's inference in bf16 (Precision::BF16): channels-last bf16 activations, fp32
// instance-norm statistics and convolution accumulation, bf16 copies of the convolution
// weights made once here from the generator's current parameters (so build it after loading
// them, and again after they change). CUDA: cuDNN bf16 tensor-core convolutions; the CPU
// backend runs it too, slowly (its float32 convolution, outputs rounded to bf16), as the
// reference the GPU is tested against.
class Bf16GeneratorRunner {
 public:
  explicit Bf16GeneratorRunner(Generator& g);
  // As Generator::infer: x [N,3,H,W] F32 NCHW -> F32 NCHW.
  Tensor run(const Tensor& x);

 private:
  Generator* gen_;
  std::vector<GeneratorStep> steps_;
  std::vector<Tensor> weights_;  // per Conv step, BF16 NHWC
};

// The official CartoonGAN generator (see ../shared/README.md): reflection padding around the
// 7x7 convs and inside the residual blocks, affine instance norm `inNN_M.scale/shift`.
class OfficialGenerator final : public Generator {
 public:
  struct Options {
    int features = 64;
    int residuals = 8;
    float eps = 1e-9f;  // the PyTorch port's value (1e-5 in the Lua original)
    uint64_t seed = 0;
    // Inference only, weights to be loaded: no random init, no gradient buffers
    // (ParameterSet::allocate_for_inference).
    bool inference_only = false;
    // A norm whose output only the next convolution reads (after a reflection pad) writes
    // it padded, in the same pass (nn::InstanceNorm's pad_out): no separate pad forward or
    // backward.
    bool fuse_pads = true;
    // Skip the biases of convolutions whose output goes straight into an instance norm: the
    // norm's mean subtraction cancels them exactly, so neither their add nor their gradient
    // (exactly 0) is computed. They stay in the weights (loaded, saved, unchanged by training).
    bool skip_cancelled_biases = true;
  };
  explicit OfficialGenerator(Context& ctx) : OfficialGenerator(ctx, Options{}) {}
  OfficialGenerator(Context& ctx, const Options& o);
  nn::Var forward(nn::Tape& tape, const nn::Var& x) override;
  ChannelOrder channel_order() const override { return ChannelOrder::BGR; }
  std::vector<GeneratorStep> steps() const override;

 private:
  Options opt_;
  nn::Conv conv01_, conv02_1_, conv02_2_, conv03_1_, conv03_2_;
  std::vector<std::array<nn::Conv, 2>> res_conv_;
  std::vector<std::array<nn::InstanceNorm, 2>> res_in_;
  nn::Conv deconv01_1_, deconv01_2_, deconv02_1_, deconv02_2_, deconv03_1_;
  nn::InstanceNorm in01_, in02_, in03_, in12_, in13_;
};

// The seed document's Generator (zero padding, non-affine InstanceNorm2d, eps 1e-5), RGB.
class SeedGenerator final : public Generator {
 public:
  struct Options {
    int img_channels = 3;
    int features = 64;
    int residuals = 8;
    float eps = 1e-5f;
    uint64_t seed = 0;
    bool inference_only = false;  // as OfficialGenerator::Options::inference_only
    bool skip_cancelled_biases = true;  // as OfficialGenerator::Options
  };
  explicit SeedGenerator(Context& ctx) : SeedGenerator(ctx, Options{}) {}
  SeedGenerator(Context& ctx, const Options& o);
  nn::Var forward(nn::Tape& tape, const nn::Var& x) override;
  ChannelOrder channel_order() const override { return ChannelOrder::RGB; }
  std::vector<GeneratorStep> steps() const override;

 private:
  Options opt_;
  nn::Conv initial_, down_[4], up_[4], last_;
  std::vector<std::array<nn::Conv, 2>> res_;
  nn::InstanceNorm in_;
};

// The seed document's PatchGAN discriminator (nn.Sequential `model.*`, reflect padding).
class SeedDiscriminator final : public Module {
 public:
  struct Options {
    int in_channels = 3;
    int out_channels = 1;
    std::array<int, 4> features{32, 64, 128, 256};
    float eps = 1e-5f;
    float slope = 0.2f;
    uint64_t seed = 0;
    bool skip_cancelled_biases = true;  // as OfficialGenerator::Options
    // Each convolution followed by a LeakyReLU gets its bias, the activation and the next
    // convolution's reflection padding in one pass (nn::bias_act_pad), forward and backward;
    // each norm writes its output padded for the next convolution.
    bool fuse_epilogues = true;
  };
  explicit SeedDiscriminator(Context& ctx) : SeedDiscriminator(ctx, Options{}) {}
  SeedDiscriminator(Context& ctx, const Options& o);
  nn::Var forward(nn::Tape& tape, const nn::Var& x);

 private:
  Options opt_;
  nn::Conv conv_[7];
  nn::InstanceNorm in_;
};

// inference_only: see OfficialGenerator::Options.
std::unique_ptr<Generator> make_generator(GeneratorArch arch, Context& ctx,
                                          bool inference_only = false);

struct SafeTensors;
const char* generator_arch_name(GeneratorArch arch);  // "official" | "seed"
// The architecture whose tensor names a weight file holds (official: `conv01_1.weight`,
// `in01_1.scale`; seed: `initial.0.weight`, `last.weight`), or none when neither matches.
std::optional<GeneratorArch> recognize_generator_arch(const SafeTensors& st);

}  // namespace cgan
