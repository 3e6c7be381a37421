// CPU reference of kernels/act_pad.hpp (and the CPU backend's fused epilogue): the same
// gather as the GPU, element by element. Its unfused twin (bias add, activation, padding) is
// what tests compare it with.
#include "kernels/act_pad.hpp"
#include "kernels/act_pad_index.hpp"
#include "kernels/cpu_parallel.hpp"

namespace cgan::cpu {

using cgan::detail::act_slope;
using cgan::detail::act_slope_grad;
using cgan::detail::map_coords;
using cgan::detail::map_index;
using cgan::detail::pad_reflect;
using cgan::detail::pad_sources;

template <typename T>
void bias_act_pad_forward(T* out, const T* in, const float* bias, int64_t N, int64_t C, int H,
                          int W, int pad, float slope, bool nhwc) {
  const int64_t OH = H + 2 * pad, OW = W + 2 * pad, total = N * C * OH * OW;
  parallel_for(total, 2, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      int64_t n, c, oh, ow;
      map_coords(i, C, OH, OW, nhwc, n, c, oh, ow);
      const int64_t src = map_index(n, c, pad_reflect(int(oh) - pad, H),
                                    pad_reflect(int(ow) - pad, W), C, H, W, nhwc);
      const float z = to_float(in[src]) + (bias ? bias[c] : 0.f);
      out[i] = from_float<T>(act_slope(z, slope));
    }
  });
}

template <typename T>
void bias_act_pad_backward(T* d_in, const T* d_out, const T* out, int64_t N, int64_t C, int H,
                           int W, int pad, float slope, bool nhwc) {
  const int64_t OH = H + 2 * pad, OW = W + 2 * pad, total = N * C * H * W;
  parallel_for(total, 4, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      int64_t n, c, h, w;
      map_coords(i, C, H, W, nhwc, n, c, h, w);
      int rows[3], cols[3];
      const int nr = pad_sources(int(h), H, pad, rows), nc = pad_sources(int(w), W, pad, cols);
      float g = 0.f;
      for (int a = 0; a < nr; ++a)
        for (int k = 0; k < nc; ++k) g += to_float(d_out[map_index(n, c, rows[a], cols[k], C, OH, OW, nhwc)]);
      const float y = to_float(out[map_index(n, c, h + pad, w + pad, C, OH, OW, nhwc)]);
      d_in[i] = from_float<T>(act_slope_grad(g, y, slope));
    }
  });
}

#define CGAN_INSTANTIATE(T)                                                                  \
  template void bias_act_pad_forward<T>(T*, const T*, const float*, int64_t, int64_t, int,   \
                                        int, int, float, bool);                             \
  template void bias_act_pad_backward<T>(T*, const T*, const T*, int64_t, int64_t, int, int, \
                                         int, float, bool);
CGAN_INSTANTIATE(float)
CGAN_INSTANTIATE(bf16)
#undef CGAN_INSTANTIATE

}  // namespace cgan::cpu
