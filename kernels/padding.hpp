#pragma once
// 2-D padding of every plane of an NCHW tensor (planes = N*C).
// Output plane size: OH = H + top + bottom, OW = W + left + right.
#include <cstdint>

#include "cgan/allocator.hpp"  // Stream

namespace cgan::kernels {
// out[planes, OH, OW] = in[planes, reflect(oh - top), reflect(ow - left)], in[planes, H, W].
// PyTorch ReflectionPad2d: the edge is not repeated; needs each pad < its dimension.
void reflection_pad_forward(float* out, const float* in, int64_t planes, int H, int W, int top,
                            int bottom, int left, int right, Stream stream);
// d_in[planes, H, W] overwritten with the sum of d_out[planes, OH, OW] over every output
// position that reads it. A gather (each d_in element sums its up to 3x3 sources in a fixed
// order), so the result is deterministic without atomics.
void reflection_pad_backward(float* d_in, const float* d_out, int64_t planes, int H, int W,
                             int top, int bottom, int left, int right, Stream stream);
// out[planes, OH, OW] = in inside, 0 in the border.  in[planes, H, W]
void zero_pad_forward(float* out, const float* in, int64_t planes, int H, int W, int top,
                      int bottom, int left, int right, Stream stream);
// d_in[planes, H, W] = d_out[planes, OH, OW] cropped to the interior.
void zero_pad_backward(float* d_in, const float* d_out, int64_t planes, int H, int W, int top,
                       int bottom, int left, int right, Stream stream);
}  // namespace cgan::kernels

namespace cgan::cpu {
void reflection_pad_forward(float* out, const float* in, int64_t planes, int H, int W, int top,
                            int bottom, int left, int right);
// Scatter-add formulation (the plain reading of the chain rule), independent of the
// gather used on the GPU.
void reflection_pad_backward(float* d_in, const float* d_out, int64_t planes, int H, int W,
                             int top, int bottom, int left, int right);
void zero_pad_forward(float* out, const float* in, int64_t planes, int H, int W, int top,
                      int bottom, int left, int right);
void zero_pad_backward(float* d_in, const float* d_out, int64_t planes, int H, int W, int top,
                       int bottom, int left, int right);
}  // namespace cgan::cpu
