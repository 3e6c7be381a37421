#pragma once
// Channels-last helpers around the bf16 network path: the conversions at its boundary (an
// NCHW float32 image in; NHWC out to NCHW float32, with the last convolution's bias and the
// tanh fused into that one pass), a per-channel bias add, and reflection padding in NHWC.
// T: float or bf16 storage; arithmetic in float, one rounding on store.
#include <cstddef>
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
// d_in[N,H,W,C] = the sum of d_out[N,H+2p,W+2p,C] over every position that reads it
// (a gather in a fixed order: deterministic).
template <typename T>
void reflection_pad_nhwc_backward(T* d_in, const T* d_out, int64_t N, int H, int W, int64_t C,
                                  int pad, Stream stream);
// d_bias[c] += sum over rows of d_out[rows, C] (fp32 sums in a fixed order: per chunk of
// rows, then the chunks in order). workspace: bias_backward_nhwc_workspace_bytes(rows, C).
size_t bias_backward_nhwc_workspace_bytes(int64_t rows, int64_t C);
template <typename T>
void bias_backward_nhwc(float* d_bias, const T* d_out, int64_t rows, int64_t C, void* workspace,
                        Stream stream);
// 2x2 stride-2 max pooling of in[N,H,W,C] (floor mode), as kernels/maxpool.hpp per channel:
// the first maximum of a window in row-major order, NaN wins.
template <typename T>
void maxpool2x2_nhwc_forward(T* out, const T* in, int64_t N, int H, int W, int64_t C,
                             Stream stream);
// d_in[N,H,W,C] overwritten: d_out to each window's first maximum, zeros elsewhere.
template <typename T>
void maxpool2x2_nhwc_backward(T* d_in, const T* d_out, const T* in, int64_t N, int H, int W,
                              int64_t C, Stream stream);
// dw[k, c, rs] += w16[k, rs, c] (a filter gradient in cuDNN's channels-last bf16 layout added
// into the fp32 master gradient's layout).
void add_krsc_bf16_to_kcrs(float* dw, const bf16* w16, int64_t K, int64_t C, int64_t RS,
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
// Scatter-add formulation (independent of the GPU's gather).
template <typename T>
void reflection_pad_nhwc_backward(T* d_in, const T* d_out, int64_t N, int H, int W, int64_t C,
                                  int pad);
template <typename T>
void bias_backward_nhwc(float* d_bias, const T* d_out, int64_t rows, int64_t C);
template <typename T>
void maxpool2x2_nhwc_forward(T* out, const T* in, int64_t N, int H, int W, int64_t C);
template <typename T>
void maxpool2x2_nhwc_backward(T* d_in, const T* d_out, const T* in, int64_t N, int H, int W,
                              int64_t C);
}  // namespace cgan::cpu
