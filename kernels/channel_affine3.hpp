#pragma once
// Per-channel affine map of 3-channel NCHW tensors with optional channel reversal (RGB<->BGR),
// e.g. the VGG input normalization.
#include <cstdint>

#include "cgan/allocator.hpp"  // Stream

namespace cgan::kernels {
struct Affine3 {
  float mul[3];
  float add[3];
};
// out[N,3,HW][c] = in[N,3,HW][flip ? 2-c : c] * mul[c] + add[c]. out may alias in (each
// thread reads all three channels of a pixel before writing).
void channel_affine3(float* out, const float* in, Affine3 f, bool flip, int64_t N, int64_t HW,
                     Stream stream);
// d_in[N,3,HW][flip ? 2-c : c] = d_out[N,3,HW][c] * mul[c] (overwritten; may alias d_out).
void channel_affine3_backward(float* d_in, const float* d_out, Affine3 f, bool flip, int64_t N,
                              int64_t HW, Stream stream);
}  // namespace cgan::kernels

namespace cgan::cpu {
void channel_affine3(float* out, const float* in, kernels::Affine3 f, bool flip, int64_t N,
                     int64_t HW);
void channel_affine3_backward(float* d_in, const float* d_out, kernels::Affine3 f, bool flip,
                              int64_t N, int64_t HW);
}  // namespace cgan::cpu
