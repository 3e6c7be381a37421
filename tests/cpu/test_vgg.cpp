// VGG19 features (the content loss's network): parity with an independent PyTorch VGG19 built
// by hand in torchvision's `features.N` layout (tests/python/vgg_ref.py, float64), for both
// input conventions (Caffe weights from ../shared, torchvision-convention random weights),
// both channel orders, conv4_4 and conv3_2, before and after the ReLU, odd sizes. Compared:
// the features and the gradient of sum(features * R) with respect to the [-1,1] input (the
// path the content loss takes back to the generator). Plus loading of full classifier files.
//
// Oracle and tolerances (tests/common/vgg_ref_util.hpp has the derivation): a float32 error
// model, not numbers measured on one machine. Features: every element within 2^-16 of its
// unit's absolute-value scale s = |W| * |h| + |b| of float64 (seen: <= 0.06 of that). Input
// gradient: the exact float64 gradient, except at near-tie decisions (a ReLU pre-activation or a
// max-pool window margin within the model's float32 error), which a float32 engine may take
// either way and which then move one unit's whole gradient path; the reference finds which of
// those near-ties ours took the other way (only those can differ, and only as many as the model
// makes likely: its 1e-6 tail, 4-21 a case) and recomputes the float64 gradient with them. Ours
// must be within tau (relative L2; 5 tau max-norm) of that, tau being 2^-20 times the backward's
// cancellation factor (2.4-8.3e-5 here; seen: <= 0.085 tau). No count of allowed flips tuned on
// one machine: which near-ties flip depends on the CPU's OpenBLAS kernel, the conv algorithm and
// the thread count (issue 23). Checked machine-independent by running under
// OPENBLAS_CORETYPE=Haswell/SkylakeX/Zen/Sandybridge/Prescott, CGAN_CPU_CONV=im2col and
// winograd-unfused, CGAN_NUM_THREADS=1..3: 1 to 5 flips per run (at most 2 in a case), all
// explained, the same verdict everywhere.
#include <algorithm>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "cgan/networks.hpp"
#include "cgan/safetensors.hpp"
#include "cgan/vgg.hpp"
#include "common/test_util.hpp"
#include "common/vgg_ref_util.hpp"

using namespace cgan;
using nn::Tape;
using nn::Var;

namespace {

using Layer = VGG19Features::Layer;
using TensorList = std::vector<std::pair<std::string, Tensor>>;

// The torchvision features.N indices and channel widths up to conv4_4.
struct ConvInfo {
  int index, in_ch, out_ch;
};
const std::vector<ConvInfo>& vgg_convs() {
  static const std::vector<ConvInfo> c = {
      {0, 3, 64},     {2, 64, 64},    {5, 64, 128},   {7, 128, 128},
      {10, 128, 256}, {12, 256, 256}, {14, 256, 256}, {16, 256, 256},
      {19, 256, 512}, {21, 512, 512}, {23, 512, 512}, {25, 512, 512}};
  return c;
}

// He-uniform weights (activations keep their scale through 12 ReLU convs) and small biases,
// as PyTorch-layout tensors `features.N.weight/bias`.
TensorList random_vgg_weights(uint64_t seed) {
  TensorList out;
  std::mt19937_64 rng(seed);
  for (const ConvInfo& c : vgg_convs()) {
    const float bound = std::sqrt(6.0f / float(c.in_ch * 9));
    std::uniform_real_distribution<float> dw(-bound, bound), db(-0.05f, 0.05f);
    std::vector<float> w(static_cast<size_t>(c.out_ch) * c.in_ch * 9), b(c.out_ch);
    for (float& v : w) v = dw(rng);
    for (float& v : b) v = db(rng);
    const std::string p = "features." + std::to_string(c.index);
    out.emplace_back(p + ".weight", Tensor::from_vector({c.out_ch, c.in_ch, 3, 3}, w));
    out.emplace_back(p + ".bias", Tensor::from_vector({c.out_ch}, b));
  }
  return out;
}

struct Case {
  Shape shape;
  ChannelOrder order;
};

// Runs `cases` through a VGG19Features (layer, before/after ReLU) loaded from `weights`, and
// through vgg_ref.py; checks each case under the error model; returns the flips it saw.
int parity(const std::string& weights, Layer layer, bool after_relu,
           const std::vector<Case>& cases, VGG19Features::Preprocessing expect) {
  Context ctx;
  VGG19Features::Options o;
  o.last = layer;
  o.after_relu = after_relu;
  VGG19Features vgg(ctx, o);
  vgg.load(weights);
  REQUIRE(vgg.preprocessing() == expect);

  const std::string name = std::string(layer == Layer::Conv4_4 ? "conv4_4" : "conv3_2") +
                           (after_relu ? " after ReLU" : " before ReLU");
  std::vector<test::VggCase> runs;
  for (size_t k = 0; k < cases.size(); ++k) {
    test::VggCase c;
    c.label = name;
    c.order = cases[k].order;
    c.x = test::random_tensor(cases[k].shape, 700 + k);
    Tape tape(ctx);
    Var xv = nn::input(c.x, true);
    Var f = vgg.forward(tape, xv, c.order);
    c.r = test::random_tensor(f->value.shape(), 800 + k);
    tape.backward(f, c.r);
    REQUIRE(xv->grad.defined());
    c.feat = f->value.to_vector();
    c.grad = xv->grad.to_vector();
    runs.push_back(std::move(c));
  }
  // The frozen network got no parameter gradients along the way.
  float gmax = 0;
  for (float g : vgg.params().grads().to_vector()) gmax = std::max(gmax, std::abs(g));
  REQUIRE(gmax == 0.0f);

  std::string conv;
  const std::vector<test::VggVerdict> v =
      test::vgg_reference(weights, layer == Layer::Conv4_4, after_relu, runs, &conv);
  REQUIRE(conv == (expect == VGG19Features::Preprocessing::Caffe ? "caffe" : "torchvision"));
  int flips = 0;
  for (size_t k = 0; k < runs.size(); ++k) {
    test::check_vgg_verdict(v[k], name + " " + shape_str(runs[k].x.shape()) + " " +
                                      test::vgg_order_name(runs[k].order));
    flips += v[k].flips;
  }
  return flips;
}

// Every layer/ReLU option on both shapes and both channel orders (a few combinations only,
// each python call costs a torch import).
void parity_all(const std::string& weights, VGG19Features::Preprocessing expect) {
  const Shape odd{2, 3, 45, 37}, square{1, 3, 64, 64};
  const auto RGB = ChannelOrder::RGB, BGR = ChannelOrder::BGR;
  int flips = parity(weights, Layer::Conv4_4, true,
                     {{odd, RGB}, {odd, BGR}, {square, RGB}, {square, BGR}}, expect);
  flips += parity(weights, Layer::Conv4_4, false, {{odd, BGR}, {square, RGB}}, expect);
  flips += parity(weights, Layer::Conv3_2, true, {{odd, RGB}, {square, BGR}}, expect);
  flips += parity(weights, Layer::Conv3_2, false, {{odd, BGR}, {square, RGB}}, expect);
  // For the log only: each case checked that its flips are near-ties, within the model's cap.
  std::cout << "  near-tie decisions ours took the other way than float64: " << flips
            << std::endl;
}

Tensor flip_channels(const Tensor& x) {
  const std::vector<float> v = x.to_vector();
  std::vector<float> f(v.size());
  const int64_t n = x.dim(0), hw = x.dim(2) * x.dim(3);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < 3; ++c)
      std::copy_n(v.begin() + (i * 3 + c) * hw, hw, f.begin() + (i * 3 + (2 - c)) * hw);
  return Tensor::from_vector(x.shape(), f);
}

}  // namespace

TEST_CASE("vgg: Caffe weights match a hand-built PyTorch VGG19 (features and input gradient)") {
  CGAN_REQUIRE_SHARED("weights/vgg19_conv4_4_caffe.safetensors");
  CGAN_REQUIRE_PYTHON_MODULE("torch");
  parity_all(test::shared_dir() + "/weights/vgg19_conv4_4_caffe.safetensors",
             VGG19Features::Preprocessing::Caffe);
}

TEST_CASE("vgg: torchvision-convention weights match a hand-built PyTorch VGG19") {
  CGAN_REQUIRE_PYTHON_MODULE("torch");
  const std::string dir = test::temp_dir("vgg_tv");
  write_safetensors(dir + "/w.safetensors", random_vgg_weights(51));  // no metadata
  parity_all(dir + "/w.safetensors", VGG19Features::Preprocessing::Torchvision);
}

TEST_CASE("vgg: the two channel orders see the same image") {
  // x read as RGB is the same picture as flip(x) read as BGR: identical features and
  // channel-flipped input gradients, for both conventions.
  Context ctx;
  const std::string dir = test::temp_dir("vgg_order");
  for (const char* conv : {"torchvision", "caffe"}) {
    INFO(conv);
    std::map<std::string, std::string> meta;
    if (std::string(conv) == "caffe") meta["preprocessing"] = "caffe";
    write_safetensors(dir + "/w.safetensors", random_vgg_weights(52), meta);
    VGG19Features::Options o;
    o.last = Layer::Conv3_2;
    VGG19Features vgg(ctx, o);
    vgg.load(dir + "/w.safetensors");
    const Tensor x = test::random_tensor({1, 3, 21, 18}, 53);
    Tape t1(ctx), t2(ctx);
    Var a = nn::input(x, true), b = nn::input(flip_channels(x), true);
    Var fa = vgg.forward(t1, a, ChannelOrder::RGB);
    Var fb = vgg.forward(t2, b, ChannelOrder::BGR);
    CHECK(fa->value.to_vector() == fb->value.to_vector());
    const Tensor r = test::random_tensor(fa->value.shape(), 54);
    t1.backward(fa, r);
    t2.backward(fb, r);
    CHECK(flip_channels(a->grad).to_vector() == b->grad.to_vector());
  }
}

TEST_CASE("vgg: a full classifier file loads as is") {
  // torchvision's complete vgg19 state_dict: features up to features.34 (conv5_x) and a
  // classifier. Only features.0..25 are used; the rest is ignored, and the metadata still
  // selects the convention. (The classifier tensors are small stand-ins: their shapes do not
  // matter to a loader that must ignore them.)
  Context ctx;
  const std::string dir = test::temp_dir("vgg_full");
  TensorList plain = random_vgg_weights(61);
  TensorList full = plain;
  for (int idx : {28, 30, 32, 34}) {
    const std::string p = "features." + std::to_string(idx);
    full.emplace_back(p + ".weight", Tensor::zeros({512, 512, 3, 3}, ctx));
    full.emplace_back(p + ".bias", Tensor::zeros({512}, ctx));
  }
  for (int idx : {0, 3, 6}) {
    const std::string p = "classifier." + std::to_string(idx);
    full.emplace_back(p + ".weight", Tensor::zeros({8, 16}, ctx));
    full.emplace_back(p + ".bias", Tensor::zeros({8}, ctx));
  }
  write_safetensors(dir + "/plain.safetensors", plain);
  write_safetensors(dir + "/full.safetensors", full, {{"preprocessing", "caffe"}});

  for (Layer layer : {Layer::Conv4_4, Layer::Conv3_2}) {
    VGG19Features::Options o;
    o.last = layer;
    VGG19Features a(ctx, o), b(ctx, o);
    a.load(dir + "/plain.safetensors");
    REQUIRE_NOTHROW(b.load(dir + "/full.safetensors"));
    CHECK(a.preprocessing() == VGG19Features::Preprocessing::Torchvision);
    CHECK(b.preprocessing() == VGG19Features::Preprocessing::Caffe);
    CHECK(a.params().values().to_vector() == b.params().values().to_vector());
    // Same weights: with the convention forced equal, the same features.
    b.set_preprocessing(VGG19Features::Preprocessing::Torchvision);
    const Tensor x = test::random_tensor({1, 3, 19, 23}, 62);
    Tape ta(ctx, false), tb(ctx, false);
    CHECK(a.forward(ta, nn::input(x), ChannelOrder::RGB)->value.to_vector() ==
          b.forward(tb, nn::input(x), ChannelOrder::RGB)->value.to_vector());
  }

  // Extra tensors are tolerated, missing ones are not.
  TensorList lacking = full;
  lacking.erase(lacking.begin() + 23);  // features.25.bias
  REQUIRE(lacking[22].first == "features.25.weight");
  write_safetensors(dir + "/lacking.safetensors", lacking);
  VGG19Features v(ctx);
  try {
    v.load(dir + "/lacking.safetensors");
    FAIL("expected an error");
  } catch (const Error& e) {
    INFO(e.what());
    CHECK_THAT(std::string(e.what()), Catch::Contains("missing tensor 'features.25.bias'"));
    CHECK_THAT(std::string(e.what()), Catch::Contains("lacking.safetensors"));
  }
  // An unknown convention is an error naming the file and the value.
  write_safetensors(dir + "/odd.safetensors", plain, {{"preprocessing", "imagenet"}});
  try {
    v.load(dir + "/odd.safetensors");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("odd.safetensors"));
    CHECK_THAT(std::string(e.what()), Catch::Contains("'imagenet'"));
  }
}

TEST_CASE("vgg: init_random keeps the activation scale to conv4_4 (smoke tests get a real loss)") {
  // Without a weight file the trainer and the tests use VGG19Features::init_random. With
  // PyTorch's default conv init the conv4_4 features of a [-1,1] image are ~1e-3 of the
  // input's scale and the content loss ~1e-5: gradients of rounding noise. He init keeps the
  // RMS within an order of magnitude of the first layer's.
  Context ctx;
  VGG19Features::Options o;
  o.after_relu = false;
  VGG19Features vgg(ctx, o);
  vgg.init_random(3);
  // Biases start at zero; weights span their He bound.
  for (const auto& p : vgg.params().list()) {
    const std::vector<float> v = p.value.to_vector();
    float vmax = 0;
    for (float x : v) vmax = std::max(vmax, std::abs(x));
    INFO(p.name << " max|w| " << vmax);
    if (p.shape.size() == 1) {
      CHECK(vmax == 0.0f);
    } else {
      const double he = std::sqrt(6.0 / double(p.shape[1] * 9));
      CHECK(vmax <= he);
      CHECK(vmax > 0.9 * he);
    }
  }
  const auto rms = [](const Tensor& t) {
    double s = 0;
    const std::vector<float> v = t.to_vector();
    for (float x : v) s += double(x) * x;
    return std::sqrt(s / double(v.size()));
  };
  Tape tape(ctx, /*grad_enabled=*/false);
  const Tensor a = test::random_tensor({2, 3, 48, 40}, 61);
  const Tensor b = test::random_tensor({2, 3, 48, 40}, 62);
  const double fa = rms(vgg.forward(tape, nn::input(a), ChannelOrder::RGB)->value);
  const double fb = rms(vgg.forward(tape, nn::input(b), ChannelOrder::RGB)->value);
  INFO("conv4_4 RMS " << fa << ", " << fb << " (input RMS " << rms(a) << ")");
  CHECK(fa > 0.1);
  CHECK(fa < 100);
  CHECK(fb > 0.1);
}
