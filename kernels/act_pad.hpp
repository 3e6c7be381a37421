#pragma once
// The discriminator's convolution epilogue in one pass: bias, activation and the reflection
// padding the next convolution reads (out = pad(act(in + bias))), and its backward in one
// pass (d_in = act'(out) * the padding's gradient of d_out). Unfused, that is a bias add, an
// activation and a padding kernel forward, and a padding and an activation kernel backward:
// five passes over the map, two here.
//
// Maps [N,C,H,W] stored NCHW or NHWC (`nhwc`), T = float or bf16 storage: arithmetic in
// float, one rounding on store. The padded map is [N,C,H+2p,W+2p] in the same layout
// (PyTorch ReflectionPad2d, p < H and p < W). Activation: z > 0 ? z : slope * z (LeakyReLU;
// slope 0: ReLU, z > 0 ? z : 0), its gradient taken from the output's sign, as the unfused
// ops do.
#include <cstdint>

#include "cgan/allocator.hpp"  // Stream
#include "cgan/dtype.hpp"

namespace cgan::kernels {
// out[N,C,H+2p,W+2p] = act(in[N,C,reflect(h-p),reflect(w-p)] + bias[c]); bias may be null.
template <typename T>
void bias_act_pad_forward(T* out, const T* in, const float* bias, int64_t N, int64_t C, int H,
                          int W, int pad, float slope, bool nhwc, Stream stream);
// d_in[N,C,H,W] = act'(out[..., h+p, w+p]) * sum of d_out[N,C,H+2p,W+2p] over the positions
// that read (h, w), summed in ascending (row, column) order: deterministic, no atomics.
template <typename T>
void bias_act_pad_backward(T* d_in, const T* d_out, const T* out, int64_t N, int64_t C, int H,
                           int W, int pad, float slope, bool nhwc, Stream stream);
}  // namespace cgan::kernels

namespace cgan::cpu {
template <typename T>
void bias_act_pad_forward(T* out, const T* in, const float* bias, int64_t N, int64_t C, int H,
                          int W, int pad, float slope, bool nhwc);
template <typename T>
void bias_act_pad_backward(T* d_in, const T* d_out, const T* out, int64_t N, int64_t C, int H,
                           int W, int pad, float slope, bool nhwc);
}  // namespace cgan::cpu
