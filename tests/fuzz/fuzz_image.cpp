// libFuzzer: image decoding (JPEG via libjpeg-turbo, PNG via libpng, BMP via stb) and the
// PIL-style bicubic resize that follows it in cgan_cartoonize and the trainer's loader.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cgan/error.hpp"
#include "cgan/image.hpp"
#include "cgan/resize.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Time goes to parsing, not to filling large pictures (the product's limit is 2^28).
  cgan::set_max_image_pixels(uint64_t{1} << 22);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // The first byte picks the resize target, the rest is the file.
  const int side = 1 + data[0] % 48;
  const std::vector<unsigned char> bytes(data + 1, data + size);
  try {
    const cgan::Image im = cgan::decode_image(bytes, "fuzz.img");
    const auto [w, h] = cgan::fit_longer_side(im.width, im.height, side);
    const cgan::Image small = cgan::resize_bicubic(im, std::max(w, 1), std::max(h, 1));
    volatile uint8_t sink = small.pixels.empty() ? 0 : small.pixels.back();
    (void)sink;
  } catch (const cgan::Error&) {
  }
  return 0;
}
