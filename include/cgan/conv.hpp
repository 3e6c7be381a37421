#pragma once
// 2-D convolutions (PyTorch semantics): Conv2d and ConvTranspose2d with zero padding, stride,
// output padding (transposed only) and an optional bias. CUDA via cuDNN, CPU via im2col +
// OpenBLAS sgemm. Float32, contiguous NCHW.
//
// Weight layouts are PyTorch's: conv [out, in, kh, kw], transposed conv [in, out, kh, kw].
// Like ops.hpp: input gradients are OVERWRITTEN, parameter gradients are ACCUMULATED (+=).
#include "cgan/context.hpp"
#include "cgan/tensor.hpp"

namespace cgan {

struct ConvSpec {
  int stride = 1;
  int pad = 0;             // zero padding, same on all four sides
  int output_padding = 0;  // transposed only: extra rows/cols on the bottom/right, < stride
  bool transposed = false;
};

// Output shape [N, Cout, Ho, Wo] for an input [N, Cin, H, W]; throws cgan::Error naming the
// shapes when they do not fit together.
Shape conv_output_shape(const Shape& in, const Shape& weight, const ConvSpec& spec);

// out = conv(in, weight) + bias. `out` must already have conv_output_shape(); bias [Cout] or null.
// Also channels-last bf16 (inference): in, weight and out all BF16 NHWC (the weight's logical
// shape as above, stored [out, kh, kw, in], or [in, kh, kw, out] transposed), fp32
// accumulation, bias F32; CUDA through cuDNN's bf16 tensor-core convolutions, the CPU through
// its float32 convolution with the output rounded to bf16 (a reference, not a fast path).
void conv_forward(Tensor& out, const Tensor& in, const Tensor& weight, const Tensor* bias,
                  const ConvSpec& spec, Context& ctx);
// conv_forward for a window of a larger convolution (exact tiled inference, cgan/tiled.hpp):
// `in` is a window, already padded, of what conv_forward would read for an input of shape
// `whole_in` with `whole_spec` (same stride and kind). The CPU computes it as it would compute
// that whole convolution (Winograd F(4x4,3x3) or im2col, fused or not, the same lowering),
// given an output window whose sides lie on the map's grid of 4x4 blocks or at its edges
// (Winograd rounds each block as a whole). Each output is then the whole map's to float
// rounding, and bit for bit where OpenBLAS's products round independently of the matrix shape
// (its AVX-512 SkylakeX kernels; not e.g. its Haswell or Zen ones). CUDA: as conv_forward.
void conv_forward_window(Tensor& out, const Tensor& in, const Tensor& weight, const Tensor* bias,
                         const ConvSpec& spec, const Shape& whole_in, const ConvSpec& whole_spec,
                         Context& ctx);
// d_in (shape of the input) = dL/d_in, overwritten. BF16 NHWC as conv_forward: d_in, d_out,
// weight all BF16 NHWC.
void conv_backward_data(Tensor& d_in, const Tensor& d_out, const Tensor& weight,
                        const ConvSpec& spec, Context& ctx);
// d_weight += dL/d_weight; d_bias (may be null) += dL/d_bias. `in` is the forward input.
// With BF16 NHWC in/d_out, d_weight and d_bias stay F32 (master gradients) with d_weight in
// the parameter's own layout (NCHW-ordered [out, in, kh, kw]).
void conv_backward_filter(Tensor& d_weight, Tensor* d_bias, const Tensor& d_out, const Tensor& in,
                          const ConvSpec& spec, Context& ctx);

}  // namespace cgan
