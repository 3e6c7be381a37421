// CPU reference of kernels/act_pad.hpp, and the CPU backend's fused epilogue. Loops run along
// contiguous rows (NCHW: a row of a plane; NHWC: the channels of a pixel) with the reflection
// resolved per row or per pixel, not per element; every element is computed with the same
// float operations in the same order as the GPU kernels (the borders of an NCHW row are
// copies of the values their mirror positions computed), so GPU and CPU agree bit for bit.
#include <algorithm>
#include <vector>

#include "kernels/act_pad.hpp"
#include "kernels/act_pad_index.hpp"
#include "kernels/cpu_parallel.hpp"

namespace cgan::cpu {

using cgan::detail::act_slope;
using cgan::detail::act_slope_grad;
using cgan::detail::pad_reflect;
using cgan::detail::pad_sources;

namespace {
// Per coordinate of an axis of length n padded by p: its 1-3 padded sources, ascending.
struct Sources {
  std::vector<int> at;  // 3 per coordinate
  std::vector<int> count;
  Sources(int n, int p) : at(size_t(3 * n)), count(size_t(n)) {
    for (int i = 0; i < n; ++i) {
      int o[3];
      count[size_t(i)] = pad_sources(i, n, p, o);
      for (int k = 0; k < count[size_t(i)]; ++k) at[size_t(3 * i + k)] = o[k];
    }
  }
};
}  // namespace

template <typename T>
void bias_act_pad_forward(T* out, const T* in, const float* bias, int64_t N, int64_t C, int H,
                          int W, int pad, float slope, bool nhwc) {
  const int OH = H + 2 * pad, OW = W + 2 * pad;
  if (!nhwc) {
    // One padded row of one plane per item: the interior from its source row, then the
    // border columns copied from their mirrors.
    parallel_for(N * C * OH, OW, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int64_t plane = r / OH;
        const int oh = int(r % OH);
        const float add = bias ? bias[plane % C] : 0.f;
        const T* src = in + (plane * H + pad_reflect(oh - pad, H)) * W;
        T* dst = out + r * OW;
        for (int w = 0; w < W; ++w) dst[pad + w] = from_float<T>(act_slope(to_float(src[w]) + add, slope));
        for (int k = 1; k <= pad; ++k) {
          dst[pad - k] = dst[pad + k];
          dst[pad + W - 1 + k] = dst[pad + W - 1 - k];
        }
      }
    });
    return;
  }
  // One padded pixel per item: its C channels from the source pixel.
  parallel_for(N * OH * OW, C, [&](int64_t b, int64_t e) {
    for (int64_t pix = b; pix < e; ++pix) {
      const int ow = int(pix % OW);
      const int64_t r = pix / OW;
      const int oh = int(r % OH);
      const int64_t n = r / OH;
      const T* src = in + ((n * H + pad_reflect(oh - pad, H)) * W + pad_reflect(ow - pad, W)) * C;
      T* dst = out + pix * C;
      for (int64_t c = 0; c < C; ++c)
        dst[c] = from_float<T>(act_slope(to_float(src[c]) + (bias ? bias[c] : 0.f), slope));
    }
  });
}

template <typename T>
void bias_act_pad_backward(T* d_in, const T* d_out, const T* out, int64_t N, int64_t C, int H,
                           int W, int pad, float slope, bool nhwc) {
  const int64_t OH = H + 2 * pad, OW = W + 2 * pad;
  const Sources rows(H, pad), cols(W, pad);
  if (!nhwc) {
    parallel_for(N * C * H, 4 * W, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int64_t plane = r / H;
        const int h = int(r % H);
        const int nr = rows.count[size_t(h)];
        const T* g_plane = d_out + plane * OH * OW;
        const T* y_row = out + (plane * OH + h + pad) * OW + pad;
        T* dst = d_in + r * W;
        // Columns read once (nc == 1, at w + pad): the sum over the source rows in a loop the
        // compiler vectorizes, with the general loop's operations (from 0, in row order).
        const T* r0 = g_plane + int64_t(rows.at[size_t(3 * h)]) * OW + pad;
        const T* r1 = nr > 1 ? g_plane + int64_t(rows.at[size_t(3 * h + 1)]) * OW + pad : nullptr;
        const int lo = pad + 1, hi = W - 1 - pad;  // [lo, hi): no mirror reads these columns
        if (nr <= 2)
          for (int w = lo; w < hi; ++w) {
            float g = 0.f;
            g += to_float(r0[w]);
            if (r1) g += to_float(r1[w]);
            dst[w] = from_float<T>(act_slope_grad(g, to_float(y_row[w]), slope));
          }
        for (int w = 0; w < W; ++w) {
          if (nr <= 2 && w >= lo && w < hi) continue;
          const int nc = cols.count[size_t(w)];
          float g = 0.f;
          for (int a = 0; a < nr; ++a) {
            const T* g_row = g_plane + int64_t(rows.at[size_t(3 * h + a)]) * OW;
            for (int k = 0; k < nc; ++k) g += to_float(g_row[cols.at[size_t(3 * w + k)]]);
          }
          dst[w] = from_float<T>(act_slope_grad(g, to_float(y_row[w]), slope));
        }
      }
    });
    return;
  }
  parallel_for(N * H * W, 4 * C, [&](int64_t b, int64_t e) {
    std::vector<float> g(static_cast<size_t>(C));
    for (int64_t pix = b; pix < e; ++pix) {
      const int w = int(pix % W);
      const int64_t r = pix / W;
      const int h = int(r % H);
      const int64_t n = r / H;
      const int nr = rows.count[size_t(h)], nc = cols.count[size_t(w)];
      std::fill(g.begin(), g.end(), 0.f);
      for (int a = 0; a < nr; ++a)
        for (int k = 0; k < nc; ++k) {
          const T* src = d_out + ((n * OH + rows.at[size_t(3 * h + a)]) * OW +
                                  cols.at[size_t(3 * w + k)]) * C;
          for (int64_t c = 0; c < C; ++c) g[size_t(c)] += to_float(src[c]);
        }
      const T* y = out + ((n * OH + h + pad) * OW + w + pad) * C;
      T* dst = d_in + pix * C;
      for (int64_t c = 0; c < C; ++c)
        dst[c] = from_float<T>(act_slope_grad(g[size_t(c)], to_float(y[c]), slope));
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
