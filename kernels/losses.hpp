#pragma once
// Mean losses with the value and the gradient from one pass over the data. The value is
// reduced in two stages with a block count that depends only on n, so it is bit-identical
// from run to run (and across GPUs).
#include <cstddef>
#include <cstdint>

#include "cgan/allocator.hpp"  // Stream

namespace cgan::kernels {
size_t loss_workspace_bytes(int64_t n);
// loss[1] = mean((pred - target)^2)               pred[n]
// d_pred[n] (or null) = grad_scale * 2 * (pred - target) / n
void mse_const_loss(float* loss, float* d_pred, const float* pred, float target,
                    float grad_scale, int64_t n, void* workspace, Stream stream);
// loss[1] = mean|a - b|                            a[n], b[n]
// d_a[n] (or null) = grad_scale * sign(a - b) / n (0 where a == b)
void l1_loss(float* loss, float* d_a, const float* a, const float* b, float grad_scale,
             int64_t n, void* workspace, Stream stream);
}  // namespace cgan::kernels

namespace cgan::cpu {
// Same contracts; sums in double.
void mse_const_loss(float* loss, float* d_pred, const float* pred, float target,
                    float grad_scale, int64_t n);
void l1_loss(float* loss, float* d_a, const float* a, const float* b, float grad_scale,
             int64_t n);
}  // namespace cgan::cpu
