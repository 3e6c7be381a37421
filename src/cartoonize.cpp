#include "cgan/cartoonize.hpp"

#include <algorithm>
#include <cmath>

#include "cgan/graph.hpp"
#include "cgan/preprocess.hpp"
#include "cgan/resize.hpp"
#include "cgan/safetensors.hpp"
#include "cgan/tiled.hpp"

namespace cgan {

namespace {

GeneratorArch resolve_arch(const SafeTensors& st, const std::string& path,
                           const std::optional<GeneratorArch>& asked) {
  const auto meta = st.metadata.find("arch");
  if (meta != st.metadata.end()) {
    const GeneratorArch said = parse_generator_arch(meta->second);
    CGAN_CHECK(!asked || *asked == said,
               path << ": its __metadata__ says arch '" << meta->second << "', but arch '"
                    << generator_arch_name(*asked) << "' was asked for: use arch '"
                    << meta->second << "' (--arch " << meta->second
                    << "), or leave it out and the file decides");
    return said;
  }
  if (asked) return *asked;
  if (const auto seen = recognize_generator_arch(st)) return *seen;
  CGAN_FAIL(path << ": not a CartoonGAN generator: no __metadata__ arch, and neither "
                    "'conv01_1.weight' (official) nor 'initial.0.weight' (seed) is in it "
                    "(give a generator file: cgan_train's generator.safetensors, or an official "
                    "one from scripts/download_models.sh)");
}

ChannelOrder resolve_order(const SafeTensors& st, const std::string& path,
                           const std::optional<ChannelOrder>& asked, const Generator& gen) {
  if (asked) return *asked;
  const auto meta = st.metadata.find("channel_order");
  if (meta == st.metadata.end()) return gen.channel_order();
  if (meta->second == "BGR" || meta->second == "bgr") return ChannelOrder::BGR;
  if (meta->second == "RGB" || meta->second == "rgb") return ChannelOrder::RGB;
  CGAN_FAIL(path << ": unknown __metadata__ channel_order '" << meta->second
                 << "' (expected BGR or RGB)");
}

}  // namespace

Cartoonizer::Cartoonizer(const std::string& weights_path, const CartoonizeOptions& opt,
                         Context& ctx)
    : opt_(opt), ctx_(&ctx) {
  precision_ = apply_precision(opt.precision, ctx);
  const SafeTensors st = read_safetensors(weights_path);
  // Damaged weights (NaN/Inf) would give a black or noise image with no other sign.
  for (const auto& kv : st.tensors) {
    const std::vector<float> v = st.f32(kv.first).to_vector();
    const auto bad = std::count_if(v.begin(), v.end(), [](float x) { return !std::isfinite(x); });
    CGAN_CHECK(bad == 0, weights_path << ": tensor '" << kv.first << "' has " << bad << " of "
                                      << v.size() << " values NaN or infinite: the file is damaged");
  }
  arch_ = resolve_arch(st, weights_path, opt.arch);
  gen_ = make_generator(arch_, ctx, /*inference_only=*/true);
  order_ = resolve_order(st, weights_path, opt.order, *gen_);
  try {
    gen_->params().load(st, weights_path, /*allow_unexpected=*/false, ctx);
  } catch (const Error& e) {
    const auto seen = recognize_generator_arch(st);
    if (!seen || *seen == arch_) throw;
    CGAN_FAIL(e.what() << "\n  (these are the " << generator_arch_name(*seen)
                       << " architecture's tensors: use arch '" << generator_arch_name(*seen)
                       << "', e.g. --arch " << generator_arch_name(*seen) << ")");
  }
  if (precision_ == Precision::BF16) bf16_ = std::make_unique<Bf16GeneratorRunner>(*gen_);
}

Image Cartoonizer::prepare(const Image& photo) const {
  if (opt_.max_side <= 0) return photo;
  const auto [w, h] = fit_longer_side(photo.width, photo.height, opt_.max_side);
  if (w == photo.width && h == photo.height) return photo;
  return resize_bicubic(photo, w, h);
}

namespace {
constexpr double kWholeBytesPerPixel = 2400.0;           // ~2.3 GB per megapixel, linear
constexpr double kFixedBytes = 256.0 * 1024 * 1024;     // weights, libraries, scratch
double gib(double bytes) { return std::round(bytes / (1024.0 * 1024 * 1024) * 10) / 10; }
}  // namespace

uint64_t Cartoonizer::whole_bytes(int w, int h, int batch) {
  return static_cast<uint64_t>(kWholeBytesPerPixel * double(w) * double(h) * batch + kFixedBytes);
}

uint64_t Cartoonizer::tiled_bytes(int w, int h, int tile) {
  // Measured with cgan_cartoonize on the CPU at 1024x768 (peak RSS 461 MB with 256-px tiles,
  // 743 MB with 512-px ones: ~370 MB that do not grow, ~1.4 KB per tile pixel). The images
  // stay in memory whole: the decoded input, the prepared copy, the output and its encoder's
  // buffers, about 10 bytes per pixel.
  constexpr double kTiledFixedBytes = 384.0 * 1024 * 1024;
  return static_cast<uint64_t>(kTiledFixedBytes + 10.0 * double(w) * double(h)) +
         tiled_working_bytes(tile);
}

uint64_t Cartoonizer::budget() const {
  if (opt_.max_memory > 0) return opt_.max_memory;
  return static_cast<uint64_t>(0.9 * double(available_memory_bytes(ctx_->device())));
}

int Cartoonizer::tile_side(int w, int h) const {
  if (opt_.tile > 0) return opt_.tile;
  const uint64_t b = budget();
  if (b == 0 || whole_bytes(w, h) <= b) return 0;
  const int longest = std::max(w, h);
  for (int t = (std::min(longest, 4096) + 63) / 64 * 64; t >= 64; t -= 64)
    if (tiled_bytes(w, h, t) <= b) {
      check_tiled_space(*gen_, w, h, opt_.spill_dir);
      return t;
    }
  CGAN_FAIL(w << "x" << h << " does not fit " << gib(double(b)) << " GiB even in 64-pixel tiles"
              << " (that needs about " << gib(double(tiled_bytes(w, h, 64))) << " GiB)"
              << ": allow more memory or use --max-side");
}

std::vector<Image> Cartoonizer::run(const std::vector<Image>& images) {
  if (images.empty()) return {};
  const int w = images[0].width, h = images[0].height;
  const uint64_t b = budget();
  const bool batch_fits = opt_.tile == 0 && (b == 0 || whole_bytes(w, h, int(images.size())) <= b);
  if (!batch_fits) {
    std::vector<Image> out;
    for (const Image& im : images) {
      const int t = tile_side(im.width, im.height);
      if (t == 0) {
        out.push_back(run_whole({im})[0]);
        continue;
      }
      CGAN_CHECK(precision_ != Precision::BF16,
                 im.width << "x" << im.height << " needs tiles here, which bf16 does not do "
                 "yet: use --precision tf32, more --max-memory or a smaller --max-side");
      TiledOptions to;
      to.tile = t;
      to.spill_dir = opt_.spill_dir;
      to.progress = opt_.tile_progress;
      out.push_back(cartoonize_tiled(*gen_, im, order_, to, *ctx_));
    }
    return out;
  }
  return run_whole(images);
}

// One batch shape's recorded forward pass: it reads `in` and writes `out`, both fixed.
struct Cartoonizer::ForwardGraph {
  Shape shape;
  std::unique_ptr<CudaGraph> graph;
  Tensor in;   // where each batch is copied before a replay
  Tensor out;  // allocated by the recorded pass from the graph's pool, held here
  bool warmed = false;
};

Cartoonizer::~Cartoonizer() = default;

Tensor Cartoonizer::forward(const Tensor& x) {
  auto eager = [&](const Tensor& in) { return bf16_ ? bf16_->run(in) : gen_->infer(in); };
  if (!opt_.cuda_graphs || !ctx_->is_cuda()) return eager(x);
  if (!graph_ || graph_->shape != x.shape()) {
    if (graph_) graph_replays_done_ += graph_->graph->replays();
    graph_ = std::make_unique<ForwardGraph>();
    graph_->shape = x.shape();
    graph_->graph = std::make_unique<CudaGraph>(*ctx_);
    graph_->in = Tensor::empty(x.shape(), *ctx_);
  }
  ForwardGraph& g = *graph_;
  g.in.copy_from(x, *ctx_);
  if (!g.graph->ready()) {
    if (!g.warmed) {
      Tensor y;
      g.graph->warm_up([&] { y = eager(g.in); });  // sizes the pool, picks the algorithms
      g.warmed = true;
      return y;
    }
    try {
      g.out = Tensor();  // a re-recording (the workspace moved) reuses the last output's block
      g.graph->record([&] { g.out = eager(g.in); });
    } catch (const std::exception& e) {
      // Not recordable here (it ran nothing): eager from now on, and say why.
      graph_fallback_ = e.what();
      opt_.cuda_graphs = false;
      graph_replays_done_ += g.graph->replays();
      graph_.reset();
      return eager(x);
    }
  }
  g.graph->replay();
  return g.out;
}

const std::string& Cartoonizer::graph_fallback_reason() const { return graph_fallback_; }

int64_t Cartoonizer::graph_replays() const {
  return graph_replays_done_ + (graph_ ? graph_->graph->replays() : 0);
}

std::vector<Image> Cartoonizer::run_whole(const std::vector<Image>& images) {
  // Bytes cross the bus and the [-1,1] conversion runs on the device (4x less traffic than
  // float tensors converted on the host); same arithmetic as images_to_tensor /
  // tensor_to_images, so the same pixels.
  const Tensor x = preprocess_images(images, order_, *ctx_);
  return postprocess_images(forward(x), order_, *ctx_);
}

}  // namespace cgan
