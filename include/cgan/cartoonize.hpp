#pragma once
// Inference: photos in, cartoons out, with a pretrained generator.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cgan/image.hpp"
#include "cgan/networks.hpp"
#include "cgan/precision.hpp"

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
  // Exact tiled inference (cgan/tiled.hpp, same result as whole): 0 decides per image, whole
  // when the forward pass fits max_memory, else in the largest tiles that fit; > 0 always
  // tiles of this side (>= 16).
  int tile = 0;
  // Memory budget of one forward pass in bytes (host RAM on the CPU, device memory on CUDA);
  // 0: 90% of what the device has available now.
  uint64_t max_memory = 0;
  // Where tiled runs keep their intermediate maps (unlinked files); empty: $TMPDIR or /tmp.
  std::string spill_dir;
  // What the generator computes in (cgan/precision.hpp); the constructor applies it to the
  // context (an Error when the device cannot). BF16 runs whole images only: an image that
  // would need tiles (max_memory, tile) is an Error naming the fix.
  Precision precision = Precision::Auto;
  // Tiled runs: called after every tile with (tiles done, tiles in all) of that image.
  std::function<void(int64_t, int64_t)> tile_progress;
  // CUDA, whole images: the generator's forward pass for one batch shape recorded once into
  // a CUDA graph and replayed for every later batch of that shape (video frames, folders of
  // same-size photos): the first run of a shape is eager, the second records. Same pixels
  // as without. Off by default until it has run on a GPU (the emulator checks it).
  bool cuda_graphs = false;
};

class Cartoonizer {
 public:
  // Loads the generator weights (strict: missing/unexpected/misshaped tensors are errors).
  Cartoonizer(const std::string& weights_path, const CartoonizeOptions& opt, Context& ctx);

  // The image the network sees (resized per max_side).
  Image prepare(const Image& photo) const;
  // Same-size images (already prepared) -> cartoons. The output may be slightly larger than
  // the input when a side is not a multiple of 4 (official behaviour). Runs them in one
  // batch when that fits the memory budget, else one by one, each whole or tiled
  // (tile_side()).
  std::vector<Image> run(const std::vector<Image>& images);

  // Estimated peak bytes of a whole forward pass of `batch` images of w x h (measured on the
  // CPU: bench/cartoonize_bench.cpp; the GPU needs less, the same bound is used).
  static uint64_t whole_bytes(int w, int h, int batch = 1);
  // Estimated peak bytes of a tiled run of one w x h image with tiles of side `tile`.
  static uint64_t tiled_bytes(int w, int h, int tile);
  // The memory budget (max_memory, or 90% of what the device has available; 0: unknown).
  uint64_t budget() const;
  // 0: a w x h image runs whole; else the side of the tiles it runs in. Throws when even the
  // smallest tiles do not fit the budget, or the spill folder's disk cannot hold the maps.
  int tile_side(int w, int h) const;

  ChannelOrder order() const { return order_; }
  Precision precision() const { return precision_; }
  GeneratorArch arch() const { return arch_; }
  // Built for inference (make_generator(..., inference_only=true)): no gradient buffers, frozen.
  Generator& generator() { return *gen_; }
  // Forward passes replayed from a CUDA graph so far (CartoonizeOptions::cuda_graphs).
  int64_t graph_replays() const;
  // Non-empty when recording failed and the passes went back to eager: why.
  const std::string& graph_fallback_reason() const;

  ~Cartoonizer();
  Cartoonizer(const Cartoonizer&) = delete;
  Cartoonizer& operator=(const Cartoonizer&) = delete;

 private:
  struct ForwardGraph;
  std::vector<Image> run_whole(const std::vector<Image>& images);
  Tensor forward(const Tensor& x);
  CartoonizeOptions opt_;
  GeneratorArch arch_ = GeneratorArch::Official;
  ChannelOrder order_ = ChannelOrder::BGR;
  Context* ctx_;
  std::unique_ptr<Generator> gen_;
  Precision precision_ = Precision::FP32;      // resolved
  std::unique_ptr<Bf16GeneratorRunner> bf16_;  // Precision::BF16: the bf16 forward
  std::unique_ptr<ForwardGraph> graph_;        // cuda_graphs: the last batch shape's
  int64_t graph_replays_done_ = 0;             // over all shapes
  std::string graph_fallback_;
};

}  // namespace cgan
