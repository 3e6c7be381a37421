#pragma once
// 8-bit interleaved images <-> float NCHW in [-1, 1]. The arithmetic is exactly that of
// cgan::images_to_tensor / tensor_to_images (x / 127.5 - 1; round-to-nearest-even of
// (x * 0.5 + 0.5) * 255 clamped to [0, 255]), so both routes give identical bytes.
#include <cstdint>

#include "cgan/allocator.hpp"  // Stream

namespace cgan::kernels {
// out[N,3,HW] from pixels[N,HW,3] (R,G,B per pixel); bgr: out channel 0 is blue.
void u8_hwc_to_f32_nchw(float* out, const uint8_t* pixels, int64_t N, int64_t HW, bool bgr,
                        Stream stream);
// pixels[N,HW,3] from in[N,3,HW]; NaN becomes 0.
void f32_nchw_to_u8_hwc(uint8_t* pixels, const float* in, int64_t N, int64_t HW, bool bgr,
                        Stream stream);
}  // namespace cgan::kernels

namespace cgan::cpu {
void u8_hwc_to_f32_nchw(float* out, const uint8_t* pixels, int64_t N, int64_t HW, bool bgr);
void f32_nchw_to_u8_hwc(uint8_t* pixels, const float* in, int64_t N, int64_t HW, bool bgr);
}  // namespace cgan::cpu
