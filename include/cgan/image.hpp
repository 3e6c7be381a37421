#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "cgan/tensor.hpp"

namespace cgan {

// 8-bit interleaved RGB (HWC), row-major, no padding.
struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // width*height*3, R G B per pixel

  Image() = default;
  Image(int w, int h) : width(w), height(h), pixels(static_cast<size_t>(w) * h * 3) {}
  uint8_t* at(int x, int y) { return &pixels[(static_cast<size_t>(y) * width + x) * 3]; }
  const uint8_t* at(int x, int y) const {
    return &pixels[(static_cast<size_t>(y) * width + x) * 3];
  }
};

// JPEG, PNG, BMP (anything stb_image decodes), converted to RGB. Throws cgan::Error with the
// path and the decoder's reason for missing, unreadable or corrupt files.
Image read_image(const std::string& path);
// The same from bytes in memory (JPEG, PNG, BMP); `name` stands for the file in errors.
Image decode_image(const std::vector<unsigned char>& bytes, const std::string& name);
// Images with more pixels are refused before decoding (default 2^28 = 16384^2, ~805 MB RGB).
uint64_t max_image_pixels();
void set_max_image_pixels(uint64_t n);
// Format from the extension: .png, .jpg/.jpeg (quality 95 by default), .bmp. Atomic write.
void write_image(const std::string& path, const Image& img, int jpeg_quality = 95);
bool is_image_path(const std::string& path);  // by extension

// Which channel comes first in a tensor. The official CartoonGAN weights expect BGR.
enum class ChannelOrder { RGB, BGR };

// Images (all the same size) -> float NCHW [N,3,H,W] in [-1,1] on ctx's device.
Tensor images_to_tensor(const std::vector<Image>& images, ChannelOrder order, Context& ctx);
// [N,3,H,W] in [-1,1] (any device) -> images; values are clamped and rounded to nearest.
std::vector<Image> tensor_to_images(const Tensor& t, ChannelOrder order, Context& ctx);

}  // namespace cgan
