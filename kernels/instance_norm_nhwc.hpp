#pragma once
// Instance normalization of a channels-last (NHWC) map stored as float or bf16, computing in
// fp32: statistics per (n, c) over the H*W rows, then affine + residual + activation fused into
// the same pass that writes the output. The storage type only changes the loads and stores
// (casts in the kernels' prologues and epilogues, 128-bit vectors when C allows), never the
// arithmetic. Statistics, scale, shift and their gradients are fp32 whatever the storage.
#include <cstddef>
#include <cstdint>

#include "cgan/allocator.hpp"  // Stream
#include "cgan/dtype.hpp"      // bf16
#include "kernels/instance_norm.hpp"  // NormAct

namespace cgan::kernels {

// Bytes of device scratch forward and backward need for these sizes (same for both, same for
// float and bf16 storage).
size_t instance_norm_nhwc_workspace_bytes(int64_t N, int64_t HW, int64_t C);

// out[N,HW,C] = act(scale[c] * (in - mean) * rstd + shift[c] + residual), rounded to T.
// mean[N*C], rstd[N*C] (index n*C + c) written, biased variance, rstd = 1/sqrt(var + eps).
// scale/shift [C] or null (1 / 0); residual [N,HW,C] or null. out must not alias in/residual.
// T: float or bf16. pad > 0: out is the map ReflectionPad2d(pad)-ed, [N,H+2p,W+2p,C] with
// H = HW / W (the next convolution's input written directly).
template <typename T>
void instance_norm_nhwc_forward(T* out, float* mean, float* rstd, const T* in,
                                const float* scale, const float* shift, const T* residual,
                                int64_t N, int64_t HW, int64_t C, float eps, NormAct act,
                                float slope, void* workspace, Stream stream, int W = 0,
                                int pad = 0);

// d_in[N,HW,C] overwritten; d_scale[C], d_shift[C] accumulated (+=), either may be null.
// out (the forward output, for the activation mask) is needed only when act != None.
template <typename T>
void instance_norm_nhwc_backward(T* d_in, float* d_scale, float* d_shift, const T* d_out,
                                 const T* in, const float* mean, const float* rstd,
                                 const float* scale, const T* out, int64_t N, int64_t HW,
                                 int64_t C, NormAct act, float slope, void* workspace,
                                 Stream stream);

}  // namespace cgan::kernels

namespace cgan::cpu {
// The reference: same contracts, host memory, statistics and gradient sums in double
// (two-pass), the apply step in float as the kernels do, one rounding to T at the end.
template <typename T>
void instance_norm_nhwc_forward(T* out, float* mean, float* rstd, const T* in,
                                const float* scale, const float* shift, const T* residual,
                                int64_t N, int64_t HW, int64_t C, float eps,
                                kernels::NormAct act, float slope, int W = 0, int pad = 0);
template <typename T>
void instance_norm_nhwc_backward(T* d_in, float* d_scale, float* d_shift, const T* d_out,
                                 const T* in, const float* mean, const float* rstd,
                                 const float* scale, const T* out, int64_t N, int64_t HW,
                                 int64_t C, kernels::NormAct act, float slope);
}  // namespace cgan::cpu
