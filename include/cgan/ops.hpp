#pragma once
// Tensor-level ops: one API, two backends. Each op runs on the device of `ctx` (all tensors
// must live there), CUDA through the hand-written kernels in kernels/, CPU through the plain
// reference implementations beside them.
//
// Conventions (llm.c style): outputs first, context last. Tensors are contiguous and, unless
// an op says otherwise, F32 and NCHW where 4-D; any other dtype or layout (Tensor::layout())
// is an error naming the op and the tensor, never a reinterpretation. Statistics, parameters
// and their gradients are always F32. Elementwise ops allow out == in (in place).
// Gradients: input gradients (d_in, ...) are OVERWRITTEN; parameter gradients (d_scale,
// d_shift, d_bias) are ACCUMULATED (+=) so a parameter used several times sums its gradients.
#include <cstdint>
#include <vector>

#include "cgan/context.hpp"
#include "cgan/tensor.hpp"

namespace cgan::ops {

// ---- elementwise ---------------------------------------------------------------------
// Any layout, F32 or BF16 storage (float arithmetic, one rounding on store), every operand
// stored alike.
void relu_forward(Tensor& out, const Tensor& in, Context& ctx);
// mask taken from the forward output (out > 0), so the input need not be kept
void relu_backward(Tensor& d_in, const Tensor& d_out, const Tensor& out, Context& ctx);
void leaky_relu_forward(Tensor& out, const Tensor& in, float slope, Context& ctx);
// mask from the forward output: out > 0 <=> in > 0 for slope > 0
void leaky_relu_backward(Tensor& d_in, const Tensor& d_out, const Tensor& out, float slope,
                         Context& ctx);
void tanh_forward(Tensor& out, const Tensor& in, Context& ctx);
void tanh_backward(Tensor& d_in, const Tensor& d_out, const Tensor& out, Context& ctx);

void add(Tensor& out, const Tensor& a, const Tensor& b, Context& ctx);  // out = a + b
void add_inplace(Tensor& a, const Tensor& b, Context& ctx);             // a += b
void axpy(Tensor& y, float alpha, const Tensor& x, Context& ctx);       // y += alpha * x
void scale_inplace(Tensor& a, float alpha, Context& ctx);               // a *= alpha

// ---- instance norm -------------------------------------------------------------------
enum class Act { None, ReLU, LeakyReLU };

// y = act(scale[c] * (x - mean) * rstd + shift[c] (+ residual)), per (n, c) plane of x
// [N,C,H,W], biased variance, rstd = 1/sqrt(var + eps). scale/shift [C] or null (non-affine).
// residual [N,C,H,W] or null: added after the affine transform, before the activation
// (CartoonGAN's residual block: x + IN(conv(...)), with act = None).
// mean/rstd [N*C] are written for the backward.
// Maps (in, out, residual; in the backward also d_in, d_out, out) are F32 NCHW, F32 NHWC or
// BF16 NHWC, all alike; BF16 is only storage: the arithmetic is fp32, rounded once on store.
// pad_out > 0: out is the result ReflectionPad2d(pad_out)-ed, [N,C,H+2p,W+2p], written in the
// same pass (the next convolution's input; the gradient: fold d_out with
// bias_act_pad_backward, then the backward below with act None).
void instance_norm_forward(Tensor& out, Tensor& mean, Tensor& rstd, const Tensor& in,
                           const Tensor* scale, const Tensor* shift, const Tensor* residual,
                           float eps, Act act, float slope, Context& ctx, int pad_out = 0);
// d_in [N,C,H,W] overwritten; d_scale/d_shift [C] accumulated (may be null). `out` is the
// forward output (needed when act != None to rebuild the activation mask). The residual's
// gradient is d_out masked by the activation (== d_out for act None): the caller routes it.
void instance_norm_backward(Tensor& d_in, Tensor* d_scale, Tensor* d_shift,
                            const Tensor& d_out, const Tensor& in, const Tensor& mean,
                            const Tensor& rstd, const Tensor* scale, const Tensor* out,
                            Act act, float slope, Context& ctx);

// Pieces for exact tiled inference (cgan/tiled.hpp), where a map is normalized with the
// statistics of the whole map gathered over its tiles.
// Per (n, c) plane of in [N,C,H,W]: its mean and the sum of squared deviations from it, in
// double (two-pass), returned on the host (mean, m2 resized to N*C).
void plane_moments(std::vector<double>& mean, std::vector<double>& m2, const Tensor& in,
                   Context& ctx);
// instance_norm_forward's output with given statistics mean/rstd [N*C] (not computed from
// `in`). out may be in (in place).
void instance_norm_apply(Tensor& out, const Tensor& in, const Tensor& mean, const Tensor& rstd,
                         const Tensor* scale, const Tensor* shift, const Tensor* residual,
                         Act act, float slope, Context& ctx);

// ---- padding -------------------------------------------------------------------------
struct Pad2d {
  int top = 0, bottom = 0, left = 0, right = 0;
  static Pad2d all(int p) { return {p, p, p, p}; }
};
// PyTorch ReflectionPad2d semantics (edge not repeated); pad < dim on each side.
void reflection_pad_forward(Tensor& out, const Tensor& in, Pad2d pad, Context& ctx);
void reflection_pad_backward(Tensor& d_in, const Tensor& d_out, Pad2d pad, Context& ctx);
void zero_pad_forward(Tensor& out, const Tensor& in, Pad2d pad, Context& ctx);
void zero_pad_backward(Tensor& d_in, const Tensor& d_out, Pad2d pad, Context& ctx);

// ---- bias ----------------------------------------------------------------------------
void bias_add_inplace(Tensor& x, const Tensor& bias, Context& ctx);       // x[N,C,H,W] += b[C]
void bias_backward(Tensor& d_bias, const Tensor& d_out, Context& ctx);    // d_bias[C] += sum

// ---- losses (value and gradient in one pass, deterministic reduction) -----------------
// loss[1] = mean((pred - target)^2); d_pred (may be null) = grad_scale * 2 (pred-target)/n.
void mse_const_loss(Tensor& loss, Tensor* d_pred, const Tensor& pred, float target,
                    float grad_scale, Context& ctx);
// loss[1] = mean|a - b|; d_a (may be null) = grad_scale * sign(a - b) / n (0 where equal).
void l1_loss(Tensor& loss, Tensor* d_a, const Tensor& a, const Tensor& b, float grad_scale,
             Context& ctx);

// ---- pooling -------------------------------------------------------------------------
// 2x2 stride 2, floor (odd trailing row/column dropped, as PyTorch MaxPool2d(2)). F32 NCHW,
// F32 NHWC or BF16 NHWC (all maps alike).
void maxpool2x2_forward(Tensor& out, const Tensor& in, Context& ctx);
// Gradient to the first maximum of each window (row-major), as PyTorch.
void maxpool2x2_backward(Tensor& d_in, const Tensor& d_out, const Tensor& in, Context& ctx);

// ---- per-channel affine with optional channel reversal (VGG input conventions) ----------
// out[n,c] = in[n, flip ? 2-c : c] * mul[c] + add[c], for 3-channel tensors.
void channel_affine3(Tensor& out, const Tensor& in, const float mul[3], const float add[3],
                     bool flip, Context& ctx);
void channel_affine3_backward(Tensor& d_in, const Tensor& d_out, const float mul[3], bool flip,
                              Context& ctx);

// ---- channels-last (the bf16 path; cgan/precision.hpp) --------------------------------
// out (F32 or BF16 NHWC) = in (F32 NCHW), same logical shape [N,C,H,W]; rounded once to bf16.
void to_nhwc(Tensor& out, const Tensor& in, Context& ctx);
// out (F32 NCHW) = f(in + bias[c]) for in F32 or BF16 NHWC; bias [C] or null; f = tanh when
// `tanh`, else identity (the generator's last convolution's bias and tanh, fused).
void to_nchw(Tensor& out, const Tensor& in, const Tensor* bias, bool tanh, Context& ctx);
// ReflectionPad2d(pad) of an F32 or BF16 NHWC map; out the same storage, [N,C,H+2p,W+2p].
void reflection_pad_nhwc(Tensor& out, const Tensor& in, int pad, Context& ctx);
// Its gradient: d_in [N,C,H,W] (overwritten) from d_out [N,C,H+2p,W+2p], same storage.
void reflection_pad_nhwc_backward(Tensor& d_in, const Tensor& d_out, int pad, Context& ctx);

// A convolution's epilogue in one pass (kernels/act_pad.hpp): out [N,C,H+2p,W+2p] =
// ReflectionPad2d(p)(act(in + bias)), act(z) = z > 0 ? z : slope * z (slope 0: ReLU). in: F32
// NCHW, F32 NHWC or BF16 NHWC; out the same storage; bias F32 [C] or null.
void bias_act_pad_forward(Tensor& out, const Tensor& in, const Tensor* bias, float slope, int pad,
                          Context& ctx);
// Its gradient with respect to in (overwritten), from d_out and the forward's out.
void bias_act_pad_backward(Tensor& d_in, const Tensor& d_out, const Tensor& out, float slope,
                           int pad, Context& ctx);

}  // namespace cgan::ops
