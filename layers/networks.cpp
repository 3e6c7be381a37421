#include "cgan/networks.hpp"

#include <cmath>

#include "cgan/vgg.hpp"

namespace cgan {

using nn::Tape;
using nn::Var;
using ops::Act;

// ---- Module -------------------------------------------------------------------------------

void Module::load(const std::string& path, bool allow_unexpected) {
  params_.load(read_safetensors(path), path, allow_unexpected, *ctx_);
}

void Module::save(const std::string& path, const std::map<std::string, std::string>& metadata) {
  write_safetensors(path, params_.state(), metadata, ctx_);
}

GeneratorArch parse_generator_arch(const std::string& s) {
  if (s == "official") return GeneratorArch::Official;
  if (s == "seed") return GeneratorArch::Seed;
  CGAN_FAIL("unknown generator architecture '" << s << "' (expected 'official' or 'seed')");
}

Tensor Generator::infer(const Tensor& x) {
  Tape tape(*ctx_, /*grad_enabled=*/false);
  return forward(tape, nn::input(x))->value;
}

Shape Generator::output_shape(const Shape& in) {
  auto up = [](int64_t v) { return ((v + 1) / 2 + 1) / 2 * 4; };
  return {in[0], in[1], up(in[2]), up(in[3])};
}

const char* generator_arch_name(GeneratorArch arch) {
  return arch == GeneratorArch::Official ? "official" : "seed";
}

std::optional<GeneratorArch> recognize_generator_arch(const SafeTensors& st) {
  if (st.contains("conv01_1.weight") && st.contains("in01_1.scale")) return GeneratorArch::Official;
  if (st.contains("initial.0.weight") && st.contains("last.weight")) return GeneratorArch::Seed;
  return std::nullopt;
}

std::unique_ptr<Generator> make_generator(GeneratorArch arch, Context& ctx,
                                          bool inference_only) {
  if (arch == GeneratorArch::Official) {
    OfficialGenerator::Options o;
    o.inference_only = inference_only;
    return std::make_unique<OfficialGenerator>(ctx, o);
  }
  SeedGenerator::Options o;
  o.inference_only = inference_only;
  return std::make_unique<SeedGenerator>(ctx, o);
}

namespace {
constexpr ConvSpec kSame{1, 1, 0, false};     // 3x3, zero pad 1
constexpr ConvSpec kDown{2, 1, 0, false};     // 3x3 stride 2, zero pad 1
constexpr ConvSpec kUp{2, 1, 1, true};        // transposed 3x3 stride 2, pad 1, output pad 1
constexpr ConvSpec kValid{1, 0, 0, false};    // after an explicit reflection pad
constexpr ConvSpec kSame7{1, 3, 0, false};    // 7x7, zero pad 3

std::string two(int v) { return (v < 10 ? "0" : "") + std::to_string(v); }
}  // namespace

// ---- official generator ----------------------------------------------------------------------

OfficialGenerator::OfficialGenerator(Context& ctx, const Options& o) : Generator(ctx), opt_(o) {
  const int f = o.features;
  auto& ps = params_;
  auto norm = [&](nn::InstanceNorm& in, const std::string& name, int ch) {
    in.eps = o.eps;
    in.declare_affine(ps, name + ".scale", name + ".shift", ch);
  };
  // Declared in the file's (sorted) order only for readability; loading is by name.
  conv01_.declare(ps, "conv01_1", 3, f, 7, kValid);
  conv02_1_.declare(ps, "conv02_1", f, 2 * f, 3, kDown);
  conv02_2_.declare(ps, "conv02_2", 2 * f, 2 * f, 3, kSame);
  conv03_1_.declare(ps, "conv03_1", 2 * f, 4 * f, 3, kDown);
  conv03_2_.declare(ps, "conv03_2", 4 * f, 4 * f, 3, kSame);
  res_conv_.resize(static_cast<size_t>(o.residuals));
  res_in_.resize(static_cast<size_t>(o.residuals));
  for (int r = 0; r < o.residuals; ++r) {
    for (int k = 0; k < 2; ++k) {
      const std::string id = two(4 + r) + "_" + std::to_string(k + 1);
      res_conv_[r][k].declare(ps, "conv" + id, 4 * f, 4 * f, 3, kValid);
      norm(res_in_[r][k], "in" + id, 4 * f);
    }
  }
  deconv01_1_.declare(ps, "deconv01_1", 4 * f, 2 * f, 3, kUp);
  deconv01_2_.declare(ps, "deconv01_2", 2 * f, 2 * f, 3, kSame);
  deconv02_1_.declare(ps, "deconv02_1", 2 * f, f, 3, kUp);
  deconv02_2_.declare(ps, "deconv02_2", f, f, 3, kSame);
  deconv03_1_.declare(ps, "deconv03_1", f, 3, 7, kValid);
  norm(in01_, "in01_1", f);
  norm(in02_, "in02_1", 2 * f);
  norm(in03_, "in03_1", 4 * f);
  norm(in12_, "in12_1", 2 * f);
  norm(in13_, "in13_1", f);
  if (o.skip_cancelled_biases) {  // the convolutions forward() feeds into a norm
    for (nn::Conv* c : {&conv01_, &conv02_2_, &conv03_2_, &deconv01_2_, &deconv02_2_})
      c->cancel_bias(ps);
    for (auto& pair : res_conv_)
      for (nn::Conv& c : pair) c.cancel_bias(ps);
  }
  if (o.inference_only)
    ps.allocate_for_inference(ctx);
  else
    ps.allocate(ctx, o.seed);
}

Var OfficialGenerator::forward(Tape& t, const Var& x) {
  // One op per statement: without a gradient tape each map is freed as soon as the next one
  // exists (temporaries inside one expression would live to its end), so inference holds at
  // most two full-resolution maps.
  auto& ps = params_;
  Var h = nn::reflection_pad(t, x, 3);
  h = conv01_(t, ps, h);
  h = in01_(t, ps, h, Act::ReLU);
  h = conv02_1_(t, ps, h);
  h = conv02_2_(t, ps, h);
  h = in02_(t, ps, h, Act::ReLU);
  h = conv03_1_(t, ps, h);
  h = conv03_2_(t, ps, h);
  h = in03_(t, ps, h, Act::ReLU);
  // fuse_pads: a norm whose output only the next convolution reads writes it padded.
  const bool fuse = opt_.fuse_pads;
  for (size_t r = 0; r < res_conv_.size(); ++r) {
    Var y = nn::reflection_pad(t, h, 1);  // h is also the residual: padded apart
    y = res_conv_[r][0](t, ps, y);
    if (fuse) {
      y = res_in_[r][0](t, ps, y, Act::ReLU, 0, nullptr, 1);
    } else {
      y = res_in_[r][0](t, ps, y, Act::ReLU);
      y = nn::reflection_pad(t, y, 1);
    }
    y = res_conv_[r][1](t, ps, y);
    h = res_in_[r][1](t, ps, y, Act::None, 0, h);
  }
  h = deconv01_1_(t, ps, h);
  h = deconv01_2_(t, ps, h);
  h = in12_(t, ps, h, Act::ReLU);
  h = deconv02_1_(t, ps, h);
  h = deconv02_2_(t, ps, h);
  if (fuse) {
    h = in13_(t, ps, h, Act::ReLU, 0, nullptr, 3);
  } else {
    h = in13_(t, ps, h, Act::ReLU);
    h = nn::reflection_pad(t, h, 3);
  }
  h = deconv03_1_(t, ps, h);
  return nn::tanh(t, h);
}

namespace {
using Step = GeneratorStep;
Step conv_step(const nn::Conv& c, int reflect = 0) {
  Step s;
  s.kind = Step::Kind::Conv;
  s.conv = &c;
  s.reflect = reflect;
  return s;
}
Step norm_step(const nn::InstanceNorm& n, Act act, bool add_residual = false, bool keep = false) {
  Step s;
  s.kind = Step::Kind::Norm;
  s.norm = &n;
  s.act = act;
  s.add_residual = add_residual;
  s.keep = keep;
  return s;
}
Step tanh_step() {
  Step s;
  s.kind = Step::Kind::Tanh;
  return s;
}
}  // namespace

// The same sequence as forward(), step for step.
std::vector<GeneratorStep> OfficialGenerator::steps() const {
  std::vector<Step> v = {conv_step(conv01_, 3), norm_step(in01_, Act::ReLU),
                         conv_step(conv02_1_), conv_step(conv02_2_), norm_step(in02_, Act::ReLU),
                         conv_step(conv03_1_), conv_step(conv03_2_),
                         norm_step(in03_, Act::ReLU, false, true)};
  for (size_t r = 0; r < res_conv_.size(); ++r) {
    v.push_back(conv_step(res_conv_[r][0], 1));
    v.push_back(norm_step(res_in_[r][0], Act::ReLU));
    v.push_back(conv_step(res_conv_[r][1], 1));
    v.push_back(norm_step(res_in_[r][1], Act::None, true, r + 1 < res_conv_.size()));
  }
  for (const Step& s : {conv_step(deconv01_1_), conv_step(deconv01_2_), norm_step(in12_, Act::ReLU),
                        conv_step(deconv02_1_), conv_step(deconv02_2_), norm_step(in13_, Act::ReLU),
                        conv_step(deconv03_1_, 3), tanh_step()})
    v.push_back(s);
  return v;
}

// ---- seed generator -------------------------------------------------------------------------

SeedGenerator::SeedGenerator(Context& ctx, const Options& o) : Generator(ctx), opt_(o) {
  const int f = o.features, c = o.img_channels;
  auto& ps = params_;
  in_.eps = o.eps;
  initial_.declare(ps, "initial.0", c, f, 7, kSame7);
  down_[0].declare(ps, "down_blocks.0", f, 2 * f, 3, kDown);
  down_[1].declare(ps, "down_blocks.1", 2 * f, 2 * f, 3, kSame);
  down_[2].declare(ps, "down_blocks.4", 2 * f, 4 * f, 3, kDown);
  down_[3].declare(ps, "down_blocks.5", 4 * f, 4 * f, 3, kSame);
  res_.resize(static_cast<size_t>(o.residuals));
  for (int r = 0; r < o.residuals; ++r) {
    const std::string p = "res_blocks." + std::to_string(r) + ".block.";
    res_[r][0].declare(ps, p + "0", 4 * f, 4 * f, 3, kSame);
    res_[r][1].declare(ps, p + "3", 4 * f, 4 * f, 3, kSame);
  }
  up_[0].declare(ps, "up_blocks.0", 4 * f, 2 * f, 3, kUp);
  up_[1].declare(ps, "up_blocks.1", 2 * f, 2 * f, 3, kSame);
  up_[2].declare(ps, "up_blocks.4", 2 * f, f, 3, kUp);
  up_[3].declare(ps, "up_blocks.5", f, f, 3, kSame);
  last_.declare(ps, "last", f, c, 7, kSame7);
  if (o.skip_cancelled_biases) {  // the convolutions forward() feeds into a norm
    for (nn::Conv* cv : {&initial_, &down_[1], &down_[3], &up_[1], &up_[3]}) cv->cancel_bias(ps);
    for (auto& pair : res_)
      for (nn::Conv& cv : pair) cv.cancel_bias(ps);
  }
  if (o.inference_only)
    ps.allocate_for_inference(ctx);
  else
    ps.allocate(ctx, o.seed);
}

Var SeedGenerator::forward(Tape& t, const Var& x) {
  auto& ps = params_;  // one op per statement, as in OfficialGenerator::forward
  Var h = initial_(t, ps, x);
  h = in_(t, ps, h, Act::ReLU);
  for (int d = 0; d < 4; d += 2) {
    h = down_[d](t, ps, h);
    h = down_[d + 1](t, ps, h);
    h = in_(t, ps, h, Act::ReLU);
  }
  for (auto& r : res_) {
    Var y = r[0](t, ps, h);
    y = in_(t, ps, y, Act::ReLU);
    y = r[1](t, ps, y);
    h = in_(t, ps, y, Act::None, 0, h);
  }
  for (int u = 0; u < 4; u += 2) {
    h = up_[u](t, ps, h);
    h = up_[u + 1](t, ps, h);
    h = in_(t, ps, h, Act::ReLU);
  }
  h = last_(t, ps, h);
  return nn::tanh(t, h);
}

std::vector<GeneratorStep> SeedGenerator::steps() const {
  std::vector<Step> v = {conv_step(initial_), norm_step(in_, Act::ReLU),
                         conv_step(down_[0]), conv_step(down_[1]), norm_step(in_, Act::ReLU),
                         conv_step(down_[2]), conv_step(down_[3]),
                         norm_step(in_, Act::ReLU, false, true)};
  for (size_t r = 0; r < res_.size(); ++r) {
    v.push_back(conv_step(res_[r][0]));
    v.push_back(norm_step(in_, Act::ReLU));
    v.push_back(conv_step(res_[r][1]));
    v.push_back(norm_step(in_, Act::None, true, r + 1 < res_.size()));
  }
  for (const Step& s : {conv_step(up_[0]), conv_step(up_[1]), norm_step(in_, Act::ReLU),
                        conv_step(up_[2]), conv_step(up_[3]), norm_step(in_, Act::ReLU),
                        conv_step(last_), tanh_step()})
    v.push_back(s);
  return v;
}

// ---- seed discriminator ------------------------------------------------------------------------

SeedDiscriminator::SeedDiscriminator(Context& ctx, const Options& o) : Module(ctx), opt_(o) {
  const auto& f = o.features;
  auto& ps = params_;
  in_.eps = o.eps;
  const ConvSpec s1{1, 0, 0, false}, s2{2, 0, 0, false};  // padding is the reflection pad
  conv_[0].declare(ps, "model.0", o.in_channels, f[0], 3, s1);
  conv_[1].declare(ps, "model.2", f[0], f[1], 3, s2);
  conv_[2].declare(ps, "model.4", f[1], f[2], 3, s1);
  conv_[3].declare(ps, "model.7", f[2], f[2], 3, s2);
  conv_[4].declare(ps, "model.9", f[2], f[3], 3, s1);
  conv_[5].declare(ps, "model.12", f[3], f[3], 3, s1);
  conv_[6].declare(ps, "model.15", f[3], o.out_channels, 3, s1);
  if (o.skip_cancelled_biases)  // the convolutions forward() feeds into a norm
    for (int i : {2, 4, 5}) conv_[i].cancel_bias(ps);
  if (o.fuse_epilogues)  // the convolutions forward() follows with a LeakyReLU
    for (int i : {0, 1, 3}) conv_[i].bias_in_epilogue = true;
  ps.allocate(ctx, o.seed);
}

Var SeedDiscriminator::forward(Tape& t, const Var& x) {
  auto& ps = params_;
  const float a = opt_.slope;
  if (opt_.fuse_epilogues) {
    // Every convolution reads a reflection-padded map; the op before it writes it padded:
    // a fused epilogue (bias + LeakyReLU + pad) or the norm (+ LeakyReLU + pad).
    auto epilogue = [&](int i, const Var& y) {
      const Tensor* b = conv_[i].bias >= 0 ? &ps[conv_[i].bias].value : nullptr;
      return nn::bias_act_pad(t, y, b, a, 1);
    };
    auto norm_pad = [&](const Var& y) { return in_(t, ps, y, Act::LeakyReLU, a, nullptr, 1); };
    Var h = conv_[0](t, ps, nn::reflection_pad(t, x, 1));
    h = conv_[1](t, ps, epilogue(0, h));
    h = conv_[2](t, ps, epilogue(1, h));
    h = conv_[3](t, ps, norm_pad(h));
    h = conv_[4](t, ps, epilogue(3, h));
    h = conv_[5](t, ps, norm_pad(h));
    return conv_[6](t, ps, norm_pad(h));
  }
  auto conv = [&](int i, const Var& v) { return conv_[i](t, ps, nn::reflection_pad(t, v, 1)); };
  Var h = nn::leaky_relu(t, conv(0, x), a);
  h = nn::leaky_relu(t, conv(1, h), a);
  h = in_(t, ps, conv(2, h), Act::LeakyReLU, a);
  h = nn::leaky_relu(t, conv(3, h), a);
  h = in_(t, ps, conv(4, h), Act::LeakyReLU, a);
  h = in_(t, ps, conv(5, h), Act::LeakyReLU, a);
  return conv(6, h);
}

// ---- VGG19 ---------------------------------------------------------------------------------------

VGG19Features::VGG19Features(Context& ctx, const Options& o) : Module(ctx), opt_(o) {
  // torchvision vgg19().features: conv/ReLU pairs, 'M' = max pool (index advances by 1).
  const int cfg[] = {64, 64, -1, 128, 128, -1, 256, 256, 256, 256, -1, 512, 512, 512, 512};
  const size_t n_convs = o.last == Layer::Conv4_4 ? 12 : 6;
  int index = 0, in_ch = 3;
  for (int v : cfg) {
    if (convs_.size() == n_convs) break;
    if (v < 0) {
      pool_after_.back() = true;
      index += 1;
      continue;
    }
    convs_.emplace_back();
    nn::Conv& conv = convs_.back();
    conv.declare(params_, "features." + std::to_string(index), in_ch, v, 3, kSame);
    // Random VGG (smoke tests, no weight file): He init, as torchvision initializes VGG, so
    // activations keep their scale through 16 ReLU layers. PyTorch's default conv init
    // (U(+-1/sqrt(fan_in))) shrinks them ~sqrt(6) per layer, and by conv4_4 the content loss
    // is ~1e-5 with gradients that are rounding noise. Uniform with the He variance 2/fan_in;
    // fan_in rather than torchvision's fan_out, because the forward scale is what matters here.
    params_[conv.weight].bound = static_cast<float>(std::sqrt(6.0 / (in_ch * 9.0)));
    params_[conv.bias].init = nn::Init::Zeros;
    pool_after_.push_back(false);
    in_ch = v;
    index += 2;
  }
  params_.frozen = true;
  params_.allocate(ctx, 0);
}

void VGG19Features::load(const std::string& path, bool allow_unexpected) {
  const SafeTensors st = read_safetensors(path);
  params_.load(st, path, allow_unexpected, *ctx_);
  auto it = st.metadata.find("preprocessing");
  if (it == st.metadata.end() || it->second == "torchvision") {
    opt_.preprocessing = Preprocessing::Torchvision;
  } else if (it->second == "caffe") {
    opt_.preprocessing = Preprocessing::Caffe;
  } else {
    CGAN_FAIL(path << ": unknown __metadata__ preprocessing '" << it->second
                   << "' (expected 'caffe' or 'torchvision')");
  }
}

Var VGG19Features::forward(Tape& t, const Var& x, ChannelOrder order) {
  float mul[3], add[3];
  bool flip;
  if (opt_.preprocessing == Preprocessing::Caffe) {
    // BGR 0..255 minus the mean: v = (x + 1) * 127.5 - mean
    const float mean_bgr[3] = {103.939f, 116.779f, 123.68f};
    for (int c = 0; c < 3; ++c) {
      mul[c] = 127.5f;
      add[c] = 127.5f - mean_bgr[c];
    }
    flip = order == ChannelOrder::RGB;
  } else {
    // RGB [0,1] standardized: v = ((x + 1) / 2 - mean) / std
    const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
    for (int c = 0; c < 3; ++c) {
      mul[c] = 0.5f / sd[c];
      add[c] = (0.5f - mean[c]) / sd[c];
    }
    flip = order == ChannelOrder::BGR;
  }
  // bf16 (params().enable_bf16()): the input affine in float, then the layers on channels-last
  // bf16 maps, the features back in float for the loss.
  const bool b16 = params_.bf16_enabled();
  Var h = nn::channel_affine3(t, b16 && x->value.layout() == Layout::NHWC ? nn::to_nchw(t, x) : x,
                              mul, add, flip);
  if (b16) h = nn::to_nhwc(t, h);
  for (size_t i = 0; i < convs_.size(); ++i) {
    h = convs_[i](t, params_, h);
    if (i + 1 == convs_.size() && !opt_.after_relu) break;
    h = nn::relu(t, h);
    if (pool_after_[i]) h = nn::maxpool2x2(t, h);
  }
  return b16 ? nn::to_nchw(t, h) : h;
}

}  // namespace cgan
