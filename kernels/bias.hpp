#pragma once
// Per-channel bias of NCHW tensors (planes of HW elements).
#include <cstddef>
#include <cstdint>

#include "cgan/allocator.hpp"  // Stream

namespace cgan::kernels {
// x[N, C, HW] += bias[C]
void bias_add_inplace(float* x, const float* bias, int64_t N, int64_t C, int64_t HW,
                      Stream stream);
size_t bias_backward_workspace_bytes(int64_t N, int64_t C, int64_t HW);
// d_bias[C] += sum over n and hw of d_out[N, C, HW]. Two stages (per-plane partial sums,
// then a fixed-order sum per channel): deterministic.
// workspace: bias_backward_workspace_bytes(N, C, HW) bytes.
void bias_backward(float* d_bias, const float* d_out, int64_t N, int64_t C, int64_t HW,
                   void* workspace, Stream stream);
}  // namespace cgan::kernels

namespace cgan::cpu {
void bias_add_inplace(float* x, const float* bias, int64_t N, int64_t C, int64_t HW);
// Sums in double.
void bias_backward(float* d_bias, const float* d_out, int64_t N, int64_t C, int64_t HW);
}  // namespace cgan::cpu
