// The emulation build's stand-in for layers/conv_cudnn.cpp: cuDNN cannot run without a GPU,
// so CUDA convolutions run the CPU implementation (im2col + sgemm) on the emulated device
// memory, queued on the context's stream like any kernel so that stream order (and the
// emulator's deferred streams) still apply. This checks everything around the convolution
// (layouts, pointers, stream order, the kernels before and after it); it does NOT check our
// cuDNN glue (descriptors, algorithm choice, workspace sizes): see emu/README.md.
#include <cuda_emu/emu.hpp>

#include "cgan/context.hpp"
#include "cuda_check.hpp"
#include "kernels/bias.hpp"
#include "layers/conv_impl.hpp"

namespace cgan {

struct ConvAlgoCache {};

ConvAlgoCache& Context::conv_algo_cache() {
  if (!conv_algo_cache_) conv_algo_cache_ = std::make_shared<ConvAlgoCache>();
  return *conv_algo_cache_;
}

namespace detail {

void cudnn_conv(ConvPass pass, float* x, float* y, float* w, const ConvGeom& g, Context& ctx) {
  CGAN_CUDA_CHECK(cuda_emu::enqueue_host_task(ctx.stream(), "convolution", [=] {
    switch (pass) {
      case ConvPass::XtoY: cpu_conv_x2y(y, x, w, g); break;
      case ConvPass::YtoX: cpu_conv_y2x(x, y, w, g); break;
      case ConvPass::Filter: cpu_conv_filter(w, x, y, g); break;
    }
  }));
}

void cudnn_conv_nhwc_bf16(ConvPass pass, void* x, void* y, const void* w, const ConvGeom& g,
                          Context& ctx) {
  CGAN_CUDA_CHECK(cuda_emu::enqueue_host_task(ctx.stream(), "bf16 NHWC convolution", [=] {
    cpu_conv_nhwc_bf16(pass, x, y, w, g);
  }));
}

void cudnn_conv_filter_nhwc_bf16(float* dw, const void* x, const void* y, const ConvGeom& g,
                                 Context& ctx) {
  CGAN_CUDA_CHECK(cuda_emu::enqueue_host_task(ctx.stream(), "bf16 NHWC filter gradient", [=] {
    cpu_conv_filter_nhwc_bf16(dw, x, y, g);
  }));
}

ConvAlgoInfo cudnn_conv_algo(ConvPass, float*, float*, float*, const ConvGeom&, Context&) {
  return ConvAlgoInfo{};  // no cuDNN algorithm: the CPU path
}

void cudnn_bias_add(float* out, const float* bias, int64_t n, int64_t c, int64_t h, int64_t w,
                    Context& ctx) {
  CGAN_CUDA_CHECK(cuda_emu::enqueue_host_task(ctx.stream(), "conv bias", [=] {
    cpu::bias_add_inplace(out, bias, n, c, h * w);
  }));
}

void cudnn_bias_grad(float* d_bias, const float* d_out, int64_t n, int64_t c, int64_t h,
                     int64_t w, Context& ctx) {
  CGAN_CUDA_CHECK(cuda_emu::enqueue_host_task(ctx.stream(), "conv bias gradient", [=] {
    cpu::bias_backward(d_bias, d_out, n, c, h * w);
  }));
}

}  // namespace detail
}  // namespace cgan
