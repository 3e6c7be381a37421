#pragma once
// Probes: the networks' forward() replayed op by op through the public layer API (the same
// calls layers/networks.cpp makes, on the networks' own parameter sets), to read, and where
// wanted to replace, the output of every nonsmooth op (ReLU / LeakyReLU, fused into an
// instance norm or not).
//
// Why: a network's gradient is discontinuous where a ReLU input is 0 or two values of a
// max-pool window are equal. Two float32 implementations put an input within rounding of such
// a point on different sides, and each such flipped decision moves the gradients of every
// earlier layer by a full element's contribution (measured in test_train_pytorch.cpp: 1.5% of
// every generator gradient for one VGG ReLU input of 1.4e-6). So gradients of two
// implementations can only be compared sharply on the same branch. A probe records the
// outputs of one run (Branch::record) and, in the other, replaces each output by the first
// run's (Branch::force) after recording its own: the backward then takes the first run's
// decisions (ReLU / LeakyReLU backward read the op's output, max pool its input, the L1 loss
// the features), and the recorded outputs show how far the two forwards were apart (a
// flipped decision moves an output by at most the forward's error).
#include <array>
#include <string>
#include <vector>

#include "cgan/networks.hpp"
#include "cgan/nn.hpp"
#include "cgan/vgg.hpp"
#include "common/test_util.hpp"

namespace cgan::test {

inline Tensor host_copy(const Tensor& t, Context& ctx) {
  return Tensor::from_vector(t.shape(), t.to_vector(ctx));
}

// What a probe does at each nonsmooth op's output, in call order.
struct Branch {
  std::vector<Tensor>* record = nullptr;       // appends a host copy of the output
  const std::vector<Tensor>* force = nullptr;  // then overwrites it with force[next++]
  size_t next = 0;
  void at(const nn::Var& v, Context& ctx) {
    if (record) record->push_back(host_copy(v->value, ctx));
    if (force) {
      REQUIRE(next < force->size());
      REQUIRE((*force)[next].shape() == v->value.shape());
      v->value.copy_from((*force)[next++], ctx);
    }
  }
  void done() const {
    if (force) REQUIRE(next == force->size());
  }
};

// Generator::forward: steps() is that forward as a straight line.
inline nn::Var probe_generator(Generator& g, nn::Tape& t, const nn::Var& x, Branch& b) {
  nn::Var h = x, kept;
  for (const GeneratorStep& s : g.steps()) {
    if (s.kind == GeneratorStep::Kind::Conv) {
      if (s.reflect) h = nn::reflection_pad(t, h, s.reflect);
      h = (*s.conv)(t, g.params(), h);
    } else if (s.kind == GeneratorStep::Kind::Norm) {
      h = (*s.norm)(t, g.params(), h, s.act, 0.f, s.add_residual ? kept : nullptr);
      if (s.act != ops::Act::None) b.at(h, t.ctx());
      if (s.keep) kept = h;
    } else {
      h = nn::tanh(t, h);
    }
  }
  b.done();
  return h;
}

// SeedDiscriminator::forward, for the options' features (eps and slope: the defaults).
struct DiscProbe {
  nn::ParameterSet dummy;  // declarations only: nn::Conv keeps indices into a parameter set
  nn::Conv conv[7];
  nn::InstanceNorm norm;
  float slope = SeedDiscriminator::Options{}.slope;
  explicit DiscProbe(const SeedDiscriminator::Options& o) {
    const auto& f = o.features;
    const ConvSpec s1{1, 0, 0, false}, s2{2, 0, 0, false};
    conv[0].declare(dummy, "model.0", o.in_channels, f[0], 3, s1);
    conv[1].declare(dummy, "model.2", f[0], f[1], 3, s2);
    conv[2].declare(dummy, "model.4", f[1], f[2], 3, s1);
    conv[3].declare(dummy, "model.7", f[2], f[2], 3, s2);
    conv[4].declare(dummy, "model.9", f[2], f[3], 3, s1);
    conv[5].declare(dummy, "model.12", f[3], f[3], 3, s1);
    conv[6].declare(dummy, "model.15", f[3], o.out_channels, 3, s1);
    if (o.skip_cancelled_biases)  // as SeedDiscriminator's constructor
      for (int k : {2, 4, 5}) conv[k].cancel_bias(dummy);
    norm.eps = o.eps;
    slope = o.slope;
  }
  nn::Var run(SeedDiscriminator& d, nn::Tape& t, const nn::Var& x, Branch& b) {
    auto& ps = d.params();
    auto c = [&](int k, const nn::Var& v) { return conv[k](t, ps, nn::reflection_pad(t, v, 1)); };
    auto at = [&](const nn::Var& v) {
      b.at(v, t.ctx());
      return v;
    };
    const ops::Act lr = ops::Act::LeakyReLU;
    nn::Var h = at(nn::leaky_relu(t, c(0, x), slope));
    h = at(nn::leaky_relu(t, c(1, h), slope));
    h = at(norm(t, ps, c(2, h), lr, slope));
    h = at(nn::leaky_relu(t, c(3, h), slope));
    h = at(norm(t, ps, c(4, h), lr, slope));
    h = at(norm(t, ps, c(5, h), lr, slope));
    b.done();
    return c(6, h);
  }
};

// VGG19Features::forward (the ReLU outputs are the probe points; a max pool reads the ReLU
// output before it, so its argmax follows a forced branch).
struct VggProbe {
  nn::ParameterSet dummy;
  std::vector<nn::Conv> convs;
  std::vector<bool> pool_after;
  bool after_relu;
  explicit VggProbe(const VGG19Features::Options& o) : after_relu(o.after_relu) {
    const size_t n_convs = o.last == VGG19Features::Layer::Conv4_4 ? 12 : 6;
    const int cfg[] = {64, 64, -1, 128, 128, -1, 256, 256, 256, 256, -1, 512, 512, 512, 512};
    int index = 0, in_ch = 3;
    convs.reserve(n_convs);
    for (int v : cfg) {
      if (convs.size() == n_convs) break;
      if (v < 0) {
        pool_after.back() = true;
        ++index;
        continue;
      }
      convs.emplace_back();
      convs.back().declare(dummy, "features." + std::to_string(index), in_ch, v, 3,
                           ConvSpec{1, 1, 0, false});
      pool_after.push_back(false);
      in_ch = v;
      index += 2;
    }
  }
  nn::Var run(VGG19Features& vgg, nn::Tape& t, const nn::Var& x, ChannelOrder order, Branch& b) {
    float mul[3], add[3];
    const bool caffe = vgg.preprocessing() == VGG19Features::Preprocessing::Caffe;
    if (caffe) {
      const float mean_bgr[3] = {103.939f, 116.779f, 123.68f};
      for (int c = 0; c < 3; ++c) {
        mul[c] = 127.5f;
        add[c] = 127.5f - mean_bgr[c];
      }
    } else {
      const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
      for (int c = 0; c < 3; ++c) {
        mul[c] = 0.5f / sd[c];
        add[c] = (0.5f - mean[c]) / sd[c];
      }
    }
    const bool flip = caffe ? order == ChannelOrder::RGB : order == ChannelOrder::BGR;
    nn::Var h = nn::channel_affine3(t, x, mul, add, flip);
    for (size_t i = 0; i < convs.size(); ++i) {
      h = convs[i](t, vgg.params(), h);
      if (i + 1 == convs.size() && !after_relu) break;
      h = nn::relu(t, h);
      b.at(h, t.ctx());
      if (pool_after[i]) h = nn::maxpool2x2(t, h);
    }
    b.done();
    return h;
  }
};

}  // namespace cgan::test
