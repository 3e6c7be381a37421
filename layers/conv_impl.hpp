#pragma once
// Internal: one convolution "geometry" serves Conv2d and ConvTranspose2d. x is the large side
// ([N, cx, hx, wx], the conv input), y the small side ([N, cy, hy, wy], the conv output),
// w [cy, cx, kh, kw]. A transposed conv runs the same three products with roles swapped.
#include <cstddef>
#include <cstdint>

#include "cgan/context.hpp"

namespace cgan::detail {

struct ConvGeom {
  int64_t n = 0, cx = 0, hx = 0, wx = 0, cy = 0, hy = 0, wy = 0, kh = 0, kw = 0;
  int stride = 1, pad = 0;
};

enum class ConvPass { XtoY, YtoX, Filter };

// CPU. XtoY/YtoX overwrite their output; Filter accumulates into dw. Stride-1 3x3 convs with
// enough tiles go by Winograd F(4x4,3x3) in all three passes (layers/conv_winograd.cpp: fused
// AVX-512 kernels for small maps where the CPU has AVX-512F, else OpenBLAS GEMMs over the
// transformed operands); the rest by im2col (or pointwise / y-side lowering) + sgemm.
// plan: the geometry that chooses the algorithm (null: g itself). Exact tiled inference
// (cgan/tiled.hpp) passes the whole map's convolution for a window of it, so that the window
// is computed as the whole map is (conv_forward_window).
void cpu_conv_x2y(float* y, const float* x, const float* w, const ConvGeom& g,
                  const ConvGeom* plan = nullptr);
void cpu_conv_y2x(float* x, const float* y, const float* w, const ConvGeom& g,
                  const ConvGeom* plan = nullptr);
void cpu_conv_filter(float* dw, const float* x, const float* dy, const ConvGeom& g);
// The two lowerings cpu_conv_x2y chooses between: Winograd F(4x4,3x3) (layers/conv_winograd.cpp)
// for stride-1 3x3 convs with >= 16 channels each side and >= 24 output tiles of 4x4 over the
// batch (unless CGAN_CPU_CONV=im2col), im2col (or pointwise / y-side lowering) otherwise. Both
// are exposed for tests and benchmarks.
bool winograd_applicable(const ConvGeom& g);
// band_floats: the transformed input + output held at once (bands of tile rows; tests use
// small values to cut bands inside and across images).
constexpr int64_t kWinogradBandFloats = int64_t(1) << 23;
void cpu_conv_x2y_winograd(float* y, const float* x, const float* w, const ConvGeom& g,
                           int64_t band_floats = kWinogradBandFloats,
                           const ConvGeom* plan = nullptr);
// Without the fused path: the 36 products as OpenBLAS GEMMs over whole transformed operands.
void cpu_conv_x2y_winograd_unfused(float* y, const float* x, const float* w, const ConvGeom& g,
                                   int64_t band_floats = kWinogradBandFloats);
void cpu_conv_y2x_winograd_unfused(float* x, const float* y, const float* w, const ConvGeom& g,
                                   int64_t band_floats = kWinogradBandFloats);
// The fused AVX-512 path (where the CPU has AVX-512F; else the unfused one): per block of 8
// output channels, filter transform, products and output transform while they are in cache.
// band_floats: the packed input transform per band.
constexpr int64_t kWinogradFusedBandFloats = int64_t(3) << 17;  // 1.5 MiB: 256 channels x 32 tiles
bool winograd_fused_available();
void cpu_conv_x2y_winograd_fused(float* y, const float* x, const float* w, const ConvGeom& g,
                                 int64_t band_floats = kWinogradFusedBandFloats);
void cpu_conv_y2x_winograd_fused(float* x, const float* y, const float* w, const ConvGeom& g,
                                 int64_t band_floats = kWinogradFusedBandFloats);
void cpu_conv_x2y_im2col(float* y, const float* x, const float* w, const ConvGeom& g,
                         const ConvGeom* plan = nullptr);
// The input gradient (YtoX) of a Winograd-eligible conv with pad <= 2 as a Winograd conv of y
// (flipped, transposed kernel); cpu_conv_y2x uses it where it applies.
bool winograd_applicable_y2x(const ConvGeom& g);
void cpu_conv_y2x_winograd(float* x, const float* y, const float* w, const ConvGeom& g,
                           int64_t band_floats = kWinogradBandFloats,
                           const ConvGeom* plan = nullptr);
// The filter gradient (accumulated into dw) of a Winograd-eligible conv by Winograd: 36 GEMMs
// [cy, tiles] x [tiles, cx] between the input transform and the adjoint output transform of dy.
bool winograd_applicable_filter(const ConvGeom& g);
void cpu_conv_filter_winograd(float* dw, const float* x, const float* dy, const ConvGeom& g,
                              int64_t band_floats = kWinogradBandFloats);
void cpu_conv_filter_winograd_unfused(float* dw, const float* x, const float* dy,
                                      const ConvGeom& g,
                                      int64_t band_floats = kWinogradBandFloats);
// The fused AVX-512 filter gradient (all tiles in one band; else as unfused).
void cpu_conv_filter_winograd_fused(float* dw, const float* x, const float* dy, const ConvGeom& g);
void cpu_conv_filter_im2col(float* dw, const float* x, const float* dy, const ConvGeom& g);
void cpu_conv_y2x_im2col(float* x, const float* y, const float* w, const ConvGeom& g,
                         const ConvGeom* plan = nullptr);
// Per-thread scratch reused across calls (no fresh pages to fault in per convolution), one
// buffer per slot so that buffers live at once do not alias. Valid until the same slot is
// asked for again on this thread.
enum class ScratchSlot {
  Lowering,  // im2col columns / y-side matrices
  WinogradFilter,
  WinogradFilterAll,  // the fused path's transformed filter for all output channels
  WinogradInput,
  WinogradOutput,
  FlippedKernel,  // the input gradient's kernel
  GemmPad,        // cpu_gemm's padded copies of small products
  Count
};
float* cpu_scratch(ScratchSlot slot, int64_t floats);
// C[m, n] = op(A) * op(B) + beta * C, row-major (OpenBLAS, single-threaded), split over the
// CPU pool; called from inside a pool task it runs serially on that task's thread. With
// OpenBLAS's AVX-512 SkylakeX kernels each element's value does not depend on m, n or its row
// and column (see gemm_serial); with its other x86-64 kernels it may, in the last bits.
void cpu_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
              const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// cuDNN: XtoY = cudnnConvolutionForward (y overwritten), YtoX = BackwardData (x overwritten),
// Filter = BackwardFilter (w accumulated). For Filter, `y` is dy.
void cudnn_conv(ConvPass pass, float* x, float* y, float* w, const ConvGeom& g, Context& ctx);
// The algorithm cudnn_conv uses for this pass and shape in ctx (planning it now, with the
// same buffers, if it is the first use): for benchmarks and diagnostics.
struct ConvAlgoInfo {
  int algo = 0;          // cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t
  size_t workspace = 0;  // bytes
  bool measured = false;  // by cudnnFind*Ex; false: by the _v7 heuristics
};
ConvAlgoInfo cudnn_conv_algo(ConvPass pass, float* x, float* y, float* w, const ConvGeom& g,
                             Context& ctx);
// out[N,C,H,W] += bias[C]; d_bias[C] += sum over N,H,W of d_out.
void cudnn_bias_add(float* out, const float* bias, int64_t n, int64_t c, int64_t h, int64_t w,
                    Context& ctx);
void cudnn_bias_grad(float* d_bias, const float* d_out, int64_t n, int64_t c, int64_t h,
                     int64_t w, Context& ctx);

// Channels-last bf16 convolutions with fp32 accumulation (the bf16 network path): x
// [n, hx, wx, cx], y [n, hy, wy, cy], w [cy, kh, kw, cx], all bf16. XtoY and YtoX (the
// passes inference needs); the output is overwritten.
// cuDNN (NHWC descriptors, CUDNN_DATA_BFLOAT16, float compute, tensor-op math); in the
// emulation build the CPU reference below on the emulated device memory.
void cudnn_conv_nhwc_bf16(ConvPass pass, void* x, void* y, const void* w, const ConvGeom& g,
                          Context& ctx);
// The reference: widen to float NCHW, the float32 CPU convolution (accumulating in fp32 as
// cuDNN does), one rounding of the output to bf16.
void cpu_conv_nhwc_bf16(ConvPass pass, void* x, void* y, const void* w, const ConvGeom& g);
// The filter gradient of a bf16 NHWC convolution, added into dw, a float32 [cy, cx, kh, kw]
// (the parameter's own layout): master gradients stay fp32. cuDNN computes the call's
// gradient (fp32 accumulation) into a bf16 [cy, kh, kw, cx] scratch (its bf16 configuration
// has a bf16 filter), which a kernel widens and adds; the reference accumulates in float.
void cudnn_conv_filter_nhwc_bf16(float* dw, const void* x, const void* y, const ConvGeom& g,
                                 Context& ctx);
void cpu_conv_filter_nhwc_bf16(float* dw, const void* x, const void* y, const ConvGeom& g);

}  // namespace cgan::detail
