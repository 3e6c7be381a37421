#include "cgan/cartoonize.hpp"

#include "cgan/preprocess.hpp"
#include "cgan/resize.hpp"

namespace cgan {

Cartoonizer::Cartoonizer(const std::string& weights_path, const CartoonizeOptions& opt,
                         Context& ctx)
    : opt_(opt), ctx_(&ctx), gen_(make_generator(opt.arch, ctx)) {
  order_ = opt.order ? *opt.order : gen_->channel_order();
  gen_->load(weights_path);
}

Image Cartoonizer::prepare(const Image& photo) const {
  if (opt_.max_side <= 0) return photo;
  const auto [w, h] = fit_longer_side(photo.width, photo.height, opt_.max_side);
  if (w == photo.width && h == photo.height) return photo;
  return resize_bicubic(photo, w, h);
}

std::vector<Image> Cartoonizer::run(const std::vector<Image>& images) {
  // Bytes cross the bus and the [-1,1] conversion runs on the device (4x less traffic than
  // float tensors converted on the host); same arithmetic as images_to_tensor /
  // tensor_to_images, so the same pixels.
  const Tensor x = preprocess_images(images, order_, *ctx_);
  return postprocess_images(gen_->infer(x), order_, *ctx_);
}

}  // namespace cgan
