#pragma once
// 2x2, stride 2 max pooling of every plane, floor mode (an odd last row/column is dropped),
// as PyTorch's MaxPool2d(2). OH = H / 2, OW = W / 2.
#include <cstdint>

#include "cgan/allocator.hpp"  // Stream

namespace cgan::kernels {
// out[planes, OH, OW] = max of each window of in[planes, H, W]; NaN propagates.
void maxpool2x2_forward(float* out, const float* in, int64_t planes, int H, int W,
                        Stream stream);
// d_in[planes, H, W] overwritten: d_out[planes, OH, OW] goes to the first maximum of each
// window in row-major order, zeros elsewhere (including the dropped row/column).
// in[planes, H, W] is the forward input (the argmax is recomputed, nothing is stored).
void maxpool2x2_backward(float* d_in, const float* d_out, const float* in, int64_t planes,
                         int H, int W, Stream stream);
}  // namespace cgan::kernels

namespace cgan::cpu {
void maxpool2x2_forward(float* out, const float* in, int64_t planes, int H, int W);
void maxpool2x2_backward(float* d_in, const float* d_out, const float* in, int64_t planes,
                         int H, int W);
}  // namespace cgan::cpu
