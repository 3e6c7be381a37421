#pragma once
// Instance normalization over each (n, c) plane of an NCHW tensor, with an optional
// per-channel affine transform, an optional residual added after it and a fused activation.
#include <cstddef>
#include <cstdint>

#include "cgan/allocator.hpp"  // Stream

namespace cgan::kernels {

enum class NormAct : int { None = 0, ReLU = 1, LeakyReLU = 2 };

// Bytes of device scratch the forward and the backward need for these sizes (same for both).
size_t instance_norm_workspace_bytes(int64_t N, int64_t C, int64_t HW);

// out[N,C,HW] = act(scale[c] * (in - mean) * rstd + shift[c] + residual)
// mean[N*C], rstd[N*C] written (biased variance, rstd = 1/sqrt(var + eps)).
// in[N,C,HW]; scale[C], shift[C] or null (null scale = 1, null shift = 0);
// residual[N,C,HW] or null. workspace: instance_norm_workspace_bytes(N, C, HW) bytes.
// out must not alias in or residual.
// pad > 0: out is the map ReflectionPad2d(pad)-ed, [N,C,H+2p,W+2p] with H = HW / W (the next
// convolution's input written directly: each value also goes to its mirror positions).
void instance_norm_forward(float* out, float* mean, float* rstd, const float* in,
                           const float* scale, const float* shift, const float* residual,
                           int64_t N, int64_t C, int64_t HW, float eps, NormAct act,
                           float slope, void* workspace, Stream stream, int W = 0,
                           int pad = 0);

// d_in[N,C,HW] overwritten; d_scale[C], d_shift[C] accumulated (+=), either may be null.
// d_out[N,C,HW], in[N,C,HW], mean[N*C], rstd[N*C] from the forward; scale[C] or null;
// out[N,C,HW] (forward output) needed only when act != None (activation mask), else null.
void instance_norm_backward(float* d_in, float* d_scale, float* d_shift, const float* d_out,
                            const float* in, const float* mean, const float* rstd,
                            const float* scale, const float* out, int64_t N, int64_t C,
                            int64_t HW, NormAct act, float slope, void* workspace,
                            Stream stream);

// ---- pieces for exact tiled inference (src/tiled.cpp) ----
// The statistics of a map too large to normalize at once are merged from tiles: per plane of
// in[planes, HW], mean[p] and m2[p] = sum of squared deviations from that mean (two-pass, in
// double, so that merging many tiles (Chan et al.) loses nothing a whole-plane pass keeps).
void plane_moments(double* mean, double* m2, const float* in, int64_t planes, int64_t HW,
                   Stream stream);
// The normalization itself with given statistics: out = act(scale[c] * (in - mean[p]) *
// rstd[p] + shift[c] (+ residual)), p = n*C + c. Same arithmetic as instance_norm_forward's
// apply step. out may alias in. Shapes as instance_norm_forward.
void instance_norm_apply(float* out, const float* in, const float* mean, const float* rstd,
                         const float* scale, const float* shift, const float* residual,
                         int64_t N, int64_t C, int64_t HW, NormAct act, float slope,
                         Stream stream);
}  // namespace cgan::kernels


namespace cgan::cpu {
// The fused activation and its gradient from the output, as the CPU references apply them
// (the kernels' twins are in kernels/storage.cuh).
inline float norm_activate(float z, kernels::NormAct act, float slope) {
  if (act == kernels::NormAct::ReLU) return z > 0.f ? z : 0.f;
  if (act == kernels::NormAct::LeakyReLU) return z > 0.f ? z : slope * z;
  return z;
}
inline float norm_act_grad(float g, float y, kernels::NormAct act, float slope) {
  if (act == kernels::NormAct::ReLU) return y > 0.f ? g : 0.f;
  if (act == kernels::NormAct::LeakyReLU) return y > 0.f ? g : slope * g;
  return g;
}

// Same contracts as above, host memory, no workspace. Statistics in double (two-pass).
void instance_norm_forward(float* out, float* mean, float* rstd, const float* in,
                           const float* scale, const float* shift, const float* residual,
                           int64_t N, int64_t C, int64_t HW, float eps,
                           kernels::NormAct act, float slope, int W = 0, int pad = 0);
void instance_norm_backward(float* d_in, float* d_scale, float* d_shift, const float* d_out,
                            const float* in, const float* mean, const float* rstd,
                            const float* scale, const float* out, int64_t N, int64_t C,
                            int64_t HW, kernels::NormAct act, float slope);
// Two-pass in double, like instance_norm_forward's statistics.
void plane_moments(double* mean, double* m2, const float* in, int64_t planes, int64_t HW);
void instance_norm_apply(float* out, const float* in, const float* mean, const float* rstd,
                         const float* scale, const float* shift, const float* residual,
                         int64_t N, int64_t C, int64_t HW, kernels::NormAct act, float slope);
}  // namespace cgan::cpu
