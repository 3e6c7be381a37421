#include "cgan/preprocess.hpp"

#include <cstring>

#include "cgan/profile.hpp"
#include "cuda_check.hpp"
#include "kernels/preprocess.hpp"
#include "ops/check.hpp"

namespace cgan {

namespace {
void check_image_tensor(const Tensor& t, const char* name, const char* op, const Context& ctx) {
  ops::detail::check_tensor(t, op, name, ctx);
  ops::detail::check_4d(t, name, op);
  CGAN_CHECK(t.dim(1) == 3, op << ": '" << name << "' must have 3 channels, got shape "
                               << shape_str(t.shape()));
}
}  // namespace

void pixels_to_tensor(Tensor& out, const uint8_t* pixels, ChannelOrder order, Context& ctx) {
  const char* op = "pixels_to_tensor";
  check_image_tensor(out, "out", op, ctx);
  CGAN_CHECK(pixels != nullptr || out.numel() == 0, op << ": null pixel buffer");
  const int64_t N = out.dim(0), HW = out.dim(2) * out.dim(3);
  const bool bgr = order == ChannelOrder::BGR;
  ProfileScope prof(ctx, "preprocess");
  if (!ctx.is_cuda()) {
    cpu::u8_hwc_to_f32_nchw(out.f32(), pixels, N, HW, bgr);
    return;
  }
  const size_t bytes = static_cast<size_t>(N * HW * 3);
  if (bytes == 0) return;
  auto* staged = static_cast<uint8_t*>(ctx.workspace(bytes));
  // `pixels` is pageable memory the caller may free or reuse as soon as we return, and CUDA
  // does not promise that an async copy from pageable memory has read it by then (the
  // emulator's deferred streams caught preprocess_images freeing its buffer first): wait for
  // the copy. The kernel is ordered after it on the stream.
  CGAN_CUDA_CHECK(
      cudaMemcpyAsync(staged, pixels, bytes, cudaMemcpyHostToDevice, ctx.stream()));
  CGAN_CUDA_CHECK(cudaStreamSynchronize(ctx.stream()));
  kernels::u8_hwc_to_f32_nchw(out.f32(), staged, N, HW, bgr, ctx.stream());
}

void tensor_to_pixels(uint8_t* pixels, const Tensor& in, ChannelOrder order, Context& ctx) {
  const char* op = "tensor_to_pixels";
  check_image_tensor(in, "in", op, ctx);
  CGAN_CHECK(pixels != nullptr || in.numel() == 0, op << ": null pixel buffer");
  const int64_t N = in.dim(0), HW = in.dim(2) * in.dim(3);
  const bool bgr = order == ChannelOrder::BGR;
  ProfileScope prof(ctx, "preprocess");
  if (!ctx.is_cuda()) {
    cpu::f32_nchw_to_u8_hwc(pixels, in.f32(), N, HW, bgr);
    return;
  }
  const size_t bytes = static_cast<size_t>(N * HW * 3);
  if (bytes == 0) return;
  auto* staged = static_cast<uint8_t*>(ctx.workspace(bytes));
  kernels::f32_nchw_to_u8_hwc(staged, in.f32(), N, HW, bgr, ctx.stream());
  CGAN_CUDA_CHECK(
      cudaMemcpyAsync(pixels, staged, bytes, cudaMemcpyDeviceToHost, ctx.stream()));
  ctx.synchronize();
}

Tensor preprocess_images(const std::vector<Image>& images, ChannelOrder order, Context& ctx) {
  CGAN_CHECK(!images.empty(), "preprocess_images: no images");
  const int w = images[0].width, h = images[0].height;
  std::vector<uint8_t> all;
  all.reserve(images.size() * static_cast<size_t>(w) * h * 3);
  for (size_t i = 0; i < images.size(); ++i) {
    const Image& im = images[i];
    CGAN_CHECK(im.width == w && im.height == h,
               "preprocess_images: image " << i << " is " << im.width << "x" << im.height
                                           << ", expected " << w << "x" << h);
    CGAN_CHECK(im.pixels.size() == static_cast<size_t>(w) * h * 3,
               "preprocess_images: image " << i << " has " << im.pixels.size()
                                           << " bytes, expected " << size_t(w) * h * 3);
    all.insert(all.end(), im.pixels.begin(), im.pixels.end());
  }
  Tensor out = Tensor::empty({int64_t(images.size()), 3, h, w}, ctx);
  pixels_to_tensor(out, all.data(), order, ctx);
  return out;
}

std::vector<Image> postprocess_images(const Tensor& t, ChannelOrder order, Context& ctx) {
  check_image_tensor(t, "t", "postprocess_images", ctx);
  const int n = static_cast<int>(t.dim(0)), h = static_cast<int>(t.dim(2)),
            w = static_cast<int>(t.dim(3));
  std::vector<uint8_t> all(static_cast<size_t>(n) * h * w * 3);
  tensor_to_pixels(all.data(), t, order, ctx);
  std::vector<Image> out;
  const size_t per = static_cast<size_t>(h) * w * 3;
  for (int i = 0; i < n; ++i) {
    Image im(w, h);
    std::memcpy(im.pixels.data(), all.data() + i * per, per);
    out.push_back(std::move(im));
  }
  return out;
}

}  // namespace cgan
