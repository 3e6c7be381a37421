#pragma once
// VGG19 `features` up to conv4_4 (or conv3_2) for CartoonGAN's content loss. Frozen: the
// backward produces input gradients only.
#include "cgan/networks.hpp"

namespace cgan {

class VGG19Features final : public Module {
 public:
  enum class Layer { Conv3_2, Conv4_4 };
  enum class Preprocessing { Torchvision, Caffe };
  struct Options {
    Layer last = Layer::Conv4_4;
    bool after_relu = true;  // features after the layer's ReLU (relu4_4) or before (conv4_4)
    // Until load() reads the file's metadata.
    Preprocessing preprocessing = Preprocessing::Torchvision;
  };
  explicit VGG19Features(Context& ctx) : VGG19Features(ctx, Options{}) {}
  VGG19Features(Context& ctx, const Options& o);

  // Loads `features.N.weight/bias` (other tensors, e.g. a classifier, are ignored). The
  // input convention comes from the file's __metadata__ "preprocessing": "caffe" (BGR,
  // 0..255, minus the BGR mean) or, without it, torchvision's (RGB, [0,1], mean/std).
  void load(const std::string& path, bool allow_unexpected = true) override;
  Preprocessing preprocessing() const { return opt_.preprocessing; }
  void set_preprocessing(Preprocessing p) { opt_.preprocessing = p; }

  // x: [N,3,H,W] in [-1,1] with channels in `order`; converted inside (differentiably).
  nn::Var forward(nn::Tape& tape, const nn::Var& x, ChannelOrder order);

 private:
  Options opt_;
  std::vector<nn::Conv> convs_;   // features.{0,2,5,7,10,12,14,16,19,21,23,25}
  std::vector<bool> pool_after_;  // a 2x2 max pool follows this conv's ReLU
};

}  // namespace cgan
