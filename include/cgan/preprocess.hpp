#pragma once
// 8-bit interleaved images (HWC) <-> float NCHW tensors in [-1, 1], on the context's device.
// Same arithmetic as images_to_tensor / tensor_to_images in image.hpp (identical results):
// forward x / 127.5 - 1, inverse round-to-nearest((x * 0.5 + 0.5) * 255) clamped to [0,255].
#include <cstdint>
#include <vector>

#include "cgan/context.hpp"
#include "cgan/image.hpp"
#include "cgan/tensor.hpp"

namespace cgan {

// out: F32 [N,3,H,W] on ctx's device (allocated by the caller).
// pixels: host memory, N*H*W*3 bytes, R,G,B per pixel. order BGR puts blue in channel 0.
void pixels_to_tensor(Tensor& out, const uint8_t* pixels, ChannelOrder order, Context& ctx);
// pixels: host memory for N*H*W*3 bytes, filled from in: F32 [N,3,H,W] on ctx's device.
// NaN becomes 0. Returns when the bytes are on the host.
void tensor_to_pixels(uint8_t* pixels, const Tensor& in, ChannelOrder order, Context& ctx);

// Convenience over cgan::Image (all images the same size).
Tensor preprocess_images(const std::vector<Image>& images, ChannelOrder order, Context& ctx);
std::vector<Image> postprocess_images(const Tensor& t, ChannelOrder order, Context& ctx);

}  // namespace cgan
