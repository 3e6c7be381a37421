// The reference of the channels-last bf16 convolution: every operand widened to float NCHW,
// the float32 CPU convolution, the output rounded once to bf16. It serves the CPU backend
// (slowly: the CPU computes in fp32, this only keeps bf16 tensors usable there) and stands in
// for cuDNN in the emulation build.
#include <vector>

#include "cgan/dtype.hpp"
#include "cgan/error.hpp"
#include "kernels/cpu_parallel.hpp"
#include "layers/conv_impl.hpp"

namespace cgan::detail {

namespace {
// [n, h, w, c] bf16 -> [n, c, h, w] float
std::vector<float> widen(const bf16* src, int64_t n, int64_t c, int64_t h, int64_t w) {
  std::vector<float> out(size_t(n * c * h * w));
  const int64_t hw = h * w;
  cpu::parallel_for(n * hw, c, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t i = r / hw, p = r % hw;
      for (int64_t k = 0; k < c; ++k) out[size_t((i * c + k) * hw + p)] = to_float(src[r * c + k]);
    }
  });
  return out;
}
// [n, c, h, w] float -> [n, h, w, c] bf16
void narrow(bf16* dst, const std::vector<float>& src, int64_t n, int64_t c, int64_t h, int64_t w) {
  const int64_t hw = h * w;
  cpu::parallel_for(n * hw, c, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t i = r / hw, p = r % hw;
      for (int64_t k = 0; k < c; ++k)
        dst[r * c + k] = from_float<bf16>(src[size_t((i * c + k) * hw + p)]);
    }
  });
}
}  // namespace

void cpu_conv_filter_nhwc_bf16(float* dw, const void* x, const void* y, const ConvGeom& g) {
  const std::vector<float> xf = widen(static_cast<const bf16*>(x), g.n, g.cx, g.hx, g.wx);
  const std::vector<float> yf = widen(static_cast<const bf16*>(y), g.n, g.cy, g.hy, g.wy);
  cpu_conv_filter(dw, xf.data(), yf.data(), g);
}

void cpu_conv_nhwc_bf16(ConvPass pass, void* x, void* y, const void* w, const ConvGeom& g) {
  CGAN_CHECK(pass != ConvPass::Filter, "bf16 NHWC convolution: the filter pass is "
                                       "cpu_conv_filter_nhwc_bf16");
  // w [cy, kh, kw, cx] is an NHWC tensor of logical shape [cy, cx, kh, kw].
  const std::vector<float> wf = widen(static_cast<const bf16*>(w), g.cy, g.cx, g.kh, g.kw);
  if (pass == ConvPass::XtoY) {
    const std::vector<float> xf = widen(static_cast<const bf16*>(x), g.n, g.cx, g.hx, g.wx);
    std::vector<float> yf(size_t(g.n * g.cy * g.hy * g.wy));
    cpu_conv_x2y(yf.data(), xf.data(), wf.data(), g);
    narrow(static_cast<bf16*>(y), yf, g.n, g.cy, g.hy, g.wy);
  } else {
    const std::vector<float> yf = widen(static_cast<const bf16*>(y), g.n, g.cy, g.hy, g.wy);
    std::vector<float> xf(size_t(g.n * g.cx * g.hx * g.wx));
    cpu_conv_y2x(xf.data(), yf.data(), wf.data(), g);
    narrow(static_cast<bf16*>(x), xf, g.n, g.cx, g.hx, g.wx);
  }
}

}  // namespace cgan::detail
