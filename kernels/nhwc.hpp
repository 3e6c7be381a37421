#pragma once
// Channels-last helpers around the bf16 network path: the conversions at its boundary (an
// NCHW float32 image in; NHWC out to NCHW float32, with the last convolution's bias and the
// tanh fused into that one pass), a per-channel bias add, and reflection padding in NHWC.
// T: float or bf16 storage; arithmetic in float, one rounding on store.
#include <cstdint>

#include "cgan/allocator.hpp"  // Stream
#include "cgan/dtype.hpp"

namespace cgan::kernels {
// out[N,HW,C] (T) = in[N,C,HW] (float)
template <typename T>
void nchw_to_nhwc(T* out, const float* in, int64_t N, int64_t C, int64_t HW, Stream stream);
// out[N,C,HW] (float) = f(in[N,HW,C] + bias[c]), f = tanh or identity; bias may be null.
template <typename T>
void nhwc_to_nchw(float* out, const T* in, const float* bias, bool tanh, int64_t N, int64_t C,
                  int64_t HW, Stream stream);
// x[rows, C] += bias[c] (rows = N*H*W), in place.
template <typename T>
void bias_add_nhwc(T* x, const float* bias, int64_t rows, int64_t C, Stream stream);
// out[N, H+2p, W+2p, C] = in[N, reflect(h - p), reflect(w - p), C] (PyTorch ReflectionPad2d,
// the same pad p on every side; p < H and p < W).
template <typename T>
void reflection_pad_nhwc(T* out, const T* in, int64_t N, int H, int W, int64_t C, int pad,
                         Stream stream);
}  // namespace cgan::kernels

namespace cgan::cpu {
template <typename T>
void nchw_to_nhwc(T* out, const float* in, int64_t N, int64_t C, int64_t HW);
template <typename T>
void nhwc_to_nchw(float* out, const T* in, const float* bias, bool tanh, int64_t N, int64_t C,
                  int64_t HW);
template <typename T>
void bias_add_nhwc(T* x, const float* bias, int64_t rows, int64_t C);
template <typename T>
void reflection_pad_nhwc(T* out, const T* in, int64_t N, int H, int W, int64_t C, int pad);
}  // namespace cgan::cpu
