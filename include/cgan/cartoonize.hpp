#pragma once
// Inference: photos in, cartoons out, with a pretrained generator.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cgan/image.hpp"
#include "cgan/networks.hpp"

namespace cgan {

struct CartoonizeOptions {
  // Unset: the weight file's __metadata__ "arch" ("official" | "seed"), else the architecture
  // its tensor names belong to. Set and contradicted by the metadata: an error.
  std::optional<GeneratorArch> arch;
  // Channel order the weights expect. Unset: the file's __metadata__ "channel_order" ("BGR" |
  // "RGB"), else the architecture's (BGR official, RGB seed).
  std::optional<ChannelOrder> order;
  // Longer side resized to this (PIL bicubic, official rule); 0 keeps the size.
  int max_side = 0;
};

class Cartoonizer {
 public:
  // Loads the generator weights (strict: missing/unexpected/misshaped tensors are errors).
  Cartoonizer(const std::string& weights_path, const CartoonizeOptions& opt, Context& ctx);

  // The image the network sees (resized per max_side).
  Image prepare(const Image& photo) const;
  // Same-size images (already prepared) -> cartoons. The output may be slightly larger than
  // the input when a side is not a multiple of 4 (official behaviour).
  std::vector<Image> run(const std::vector<Image>& images);

  ChannelOrder order() const { return order_; }
  GeneratorArch arch() const { return arch_; }
  Generator& generator() { return *gen_; }

 private:
  CartoonizeOptions opt_;
  GeneratorArch arch_ = GeneratorArch::Official;
  ChannelOrder order_ = ChannelOrder::BGR;
  Context* ctx_;
  std::unique_ptr<Generator> gen_;
};

}  // namespace cgan
