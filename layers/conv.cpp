#include "cgan/conv.hpp"

#include <cblas.h>
#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "cgan/profile.hpp"
#include "kernels/cpu_parallel.hpp"
#include "kernels/nhwc.hpp"
#include "layers/conv_impl.hpp"

namespace cgan {
namespace detail {

float* cpu_scratch(ScratchSlot slot, int64_t floats) {
  thread_local std::vector<float> bufs[static_cast<int>(ScratchSlot::Count)];
  std::vector<float>& b = bufs[static_cast<int>(slot)];
  if (b.size() < static_cast<size_t>(floats)) b.resize(static_cast<size_t>(floats));
  return b.data();
}

namespace {

// CPU convolutions are lowered to GEMMs (OpenBLAS). With t = (i, j) a kernel tap, output pixel
// (oy, ox) of y reads input pixel (iy, ix) = (oy*s - p + i, ox*s - p + j) of x. Two lowerings:
//
//  * of x (im2col, the usual one): col[(c, t)][oy, ox] = x[c][iy, ix] (0 outside), so that
//      y = w[cy, cx*T] * col,   x = col2im(w^T * y),   dw += dy * col^T.
//    The column matrix has cx*T rows of hy*wy pixels; it is built (and consumed) a band of
//    output rows at a time, so that it stays in cache and its size is bounded.
//  * of y ("spread", for convs with few output channels, e.g. the last 7x7 conv to RGB):
//      E[(o, t)][iy, ix] = y[o][oy, ox] (0 where no output reads it), so that, with w_o the
//      [cx, T] weights of output channel o,
//      x = sum_o w_o * E_o,   dw_o += x * E_o^T,   y = gather(Z), Z_o = w_o^T * x,
//    where gather is the adjoint of spread: y[o][oy, ox] = sum_t Z[(o, t)][iy, ix].
//    E has cy*T rows of hx*wx pixels: far smaller than col when cy << cx. Stride 1 only.
// Both compute the same sums (only the order of the additions differs).

// Floor division for a possibly negative numerator (b > 0).
int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// The outputs o in [lo, hi) of one axis whose input o*stride - pad + k lies in [0, in_len).
struct Span {
  int64_t lo, hi;
};
Span tap_span(int64_t k, int64_t pad, int64_t stride, int64_t in_len, int64_t out_len) {
  const int64_t lo = std::max<int64_t>(0, -floor_div(k - pad, stride));  // ceil((pad-k)/s)
  const int64_t hi = std::min<int64_t>(out_len, floor_div(in_len - 1 + pad - k, stride) + 1);
  return {lo, std::max(lo, hi)};
}

// col[(c*kh + i)*kw + j][(oy - oy0)*wy + ox] = x[c][iy][ix] (0 outside), for the output rows
// oy in [oy0, oy1) of one image. Channels are split over the cores (disjoint outputs).
// ld: the row stride of col (default: the band's width, (oy1 - oy0) * wy).
void im2col(float* col, const float* x, const ConvGeom& g, int64_t oy0, int64_t oy1,
            int64_t ld = 0) {
  const int64_t cols = ld ? ld : (oy1 - oy0) * g.wy;
  cpu::parallel_for(g.cx, g.kh * g.kw * cols, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j) {
          float* dst = col + ((c * g.kh + i) * g.kw + j) * cols;
          const float* plane = x + c * g.hx * g.wx;
          const Span xs = tap_span(j, g.pad, g.stride, g.wx, g.wy);
          for (int64_t oy = oy0; oy < oy1; ++oy) {
            float* row = dst + (oy - oy0) * g.wy;
            const int64_t iy = oy * g.stride - g.pad + i;
            if (iy < 0 || iy >= g.hx) {
              std::fill(row, row + g.wy, 0.f);
              continue;
            }
            const float* src = plane + iy * g.wx + xs.lo * g.stride - g.pad + j;
            std::fill(row, row + xs.lo, 0.f);
            for (int64_t ox = xs.lo; ox < xs.hi; ++ox) row[ox] = src[(ox - xs.lo) * g.stride];
            std::fill(row + xs.hi, row + g.wy, 0.f);
          }
        }
  });
}

// The adjoint of im2col: x[c][iy][ix] += col[...] for the output rows in [oy0, oy1).
// Taps in reverse order: an input pixel gets the term of output (oy, ox) through the one tap
// (i, j) = (iy - oy*s + p, ix - ox*s + p), so with i and j descending its terms are added in
// increasing (oy, ox) order, and calls for successive bands of output rows continue that same
// order. Each pixel's sum is then the same for any banding and any window of the map (the
// transposed convs of exact tiled inference, cgan/tiled.hpp, rely on it).
void col2im(float* x, const float* col, const ConvGeom& g, int64_t oy0, int64_t oy1,
            int64_t ld = 0) {
  const int64_t cols = ld ? ld : (oy1 - oy0) * g.wy;
  cpu::parallel_for(g.cx, g.kh * g.kw * cols, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t i = g.kh - 1; i >= 0; --i)
        for (int64_t j = g.kw - 1; j >= 0; --j) {
          const float* src = col + ((c * g.kh + i) * g.kw + j) * cols;
          float* plane = x + c * g.hx * g.wx;
          const Span xs = tap_span(j, g.pad, g.stride, g.wx, g.wy);
          for (int64_t oy = oy0; oy < oy1; ++oy) {
            const int64_t iy = oy * g.stride - g.pad + i;
            if (iy < 0 || iy >= g.hx) continue;
            float* dst = plane + iy * g.wx + xs.lo * g.stride - g.pad + j;
            const float* row = src + (oy - oy0) * g.wy;
            for (int64_t ox = xs.lo; ox < xs.hi; ++ox) dst[(ox - xs.lo) * g.stride] += row[ox];
          }
        }
  });
}

// E[(o*kh + i)*kw + j][iy][ix] = y[o][oy][ox] (0 where no output reads x[.][iy][ix]), for one
// image. Only used with stride 1, where (iy, ix) <-> (oy, ox) is one-to-one for each tap.
void spread(float* e, const float* y, const ConvGeom& g) {
  const int64_t xhw = g.hx * g.wx;
  std::fill(e, e + g.cy * g.kh * g.kw * xhw, 0.f);
  for (int64_t o = 0; o < g.cy; ++o)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        float* dst = e + ((o * g.kh + i) * g.kw + j) * xhw;
        const Span ys = tap_span(i, g.pad, 1, g.hx, g.hy), xs = tap_span(j, g.pad, 1, g.wx, g.wy);
        for (int64_t oy = ys.lo; oy < ys.hi; ++oy) {
          const float* src = y + (o * g.hy + oy) * g.wy;
          std::copy(src + xs.lo, src + xs.hi, dst + (oy - g.pad + i) * g.wx + xs.lo - g.pad + j);
        }
      }
}

// The adjoint of spread, for the output rows [oy0, oy1): y[o][oy][ox] = sum over taps of
// z[(o, i, j)][iy - iy0][ix], where z holds the input rows [iy0, iy1) those outputs read.
void gather(float* y, const float* z, const ConvGeom& g, int64_t oy0, int64_t oy1, int64_t iy0,
            int64_t iy1) {
  const int64_t zhw = (iy1 - iy0) * g.wx;
  for (int64_t o = 0; o < g.cy; ++o)
    std::fill(y + (o * g.hy + oy0) * g.wy, y + (o * g.hy + oy1) * g.wy, 0.f);
  for (int64_t o = 0; o < g.cy; ++o)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        const float* src = z + ((o * g.kh + i) * g.kw + j) * zhw;
        const Span ys = tap_span(i, g.pad, 1, g.hx, g.hy), xs = tap_span(j, g.pad, 1, g.wx, g.wy);
        for (int64_t oy = std::max(ys.lo, oy0); oy < std::min(ys.hi, oy1); ++oy) {
          float* dst = y + (o * g.hy + oy) * g.wy;
          const float* row = src + (oy - g.pad + i - iy0) * g.wx - g.pad + j;
          for (int64_t ox = xs.lo; ox < xs.hi; ++ox) dst[ox] += row[ox];
        }
      }
}

// A 1x1 stride-1 unpadded conv needs no lowering: the input plane is already the column matrix.
bool is_pointwise(const ConvGeom& g) {
  return g.kh == 1 && g.kw == 1 && g.stride == 1 && g.pad == 0;
}

// Lower y instead of x when that matrix is at least 4x smaller (stride 1 only).
bool lower_y(const ConvGeom& g) {
  return g.stride == 1 && 4 * g.cy * g.hx * g.wx <= g.cx * g.hy * g.wy;
}

// Output rows per band of the column matrix: about kBandFloats floats, at least one row.
constexpr int64_t kBandFloats = int64_t(1) << 22;  // 16 MiB
int64_t band_rows(const ConvGeom& g) {
  const int64_t k = g.cx * g.kh * g.kw;
  return std::clamp<int64_t>(kBandFloats / (k * g.wy), 1, g.hy);
}
// The same for the y-side lowering's matrix: cy * kh * kw rows of the input rows a band of
// output rows reads (kh - 1 more than the band).
int64_t lower_y_band_rows(const ConvGeom& g) {
  const int64_t per_row = g.cy * g.kh * g.kw * g.wx;
  return std::clamp<int64_t>(kBandFloats / per_row - (g.kh - 1), 1, g.hy);
}

float* scratch(int64_t floats) { return cpu_scratch(ScratchSlot::Lowering, floats); }

// Small maps (8x8: 64 pixels) make one GEMM per image short and repack the weights per image:
// lower all images of the batch into one column matrix [K, n * hw] instead, when it is small.
bool batch_images(const ConvGeom& g) {
  const int64_t K = g.cx * g.kh * g.kw, hw = g.hy * g.wy;
  return g.n > 1 && hw < 256 && (K + g.cy) * g.n * hw <= kBandFloats;
}

// OpenBLAS runs single-threaded: our pool (kernels/cpu_parallel.hpp) owns the cores and splits
// each GEMM over them, so OpenBLAS's own threads neither oversubscribe the cores nor spin
// (system time) while our loops run. Looked up at run time: libblas.so.3 is whichever BLAS
// Debian's alternatives select.
void single_threaded_blas() {
  static const bool done = [] {
    using SetThreads = void (*)(int);
    if (auto f = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
      f(1);
    return true;
  }();
  (void)done;
}

void blas_sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0f, a,
              static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

// Specific to OpenBLAS's AVX-512 SkylakeX kernels (what it picks on AVX-512 Intel CPUs; 0.3.21
// measured): products of m*n*k <= 100^3 go to its "small matrix" kernels, which round an
// element differently depending on n and on its column; larger ones to its regular kernels,
// which give every element the same value whatever m, n and its row and column (all four
// transpositions). A small product is therefore run padded past that size with zero rows of
// op(A) (or zero columns of op(B)), whichever copy is smaller, so that with those kernels an
// element does not depend on how a GEMM is split over threads or bands nor on the size of
// the map: exact tiled inference then gives the whole image's bytes (cgan/tiled.hpp). That
// is all it is for, and only there: several of OpenBLAS's kernel sets for other x86-64 CPUs
// (Haswell's and Zen's, which AVX2 CPUs, Intel or AMD, get, and Prescott's; measured) round
// a product depending on its shape, padded or not, so results are the whole map's to float
// rounding only, which is all the tests require (tests/cpu/test_tiled.cpp).
// Cost: nothing at working sizes (no product is that small in a 1536x1152 image, whole or in
// 256-px tiles, nor in a 128x128 training step); at toy sizes up to 1e6 multiply-adds per
// small product: +0.8% arithmetic in a 32x32 training step, +13% in test_tiled.cpp's 8-32 px
// tiles, no time difference measurable (2 cores).
constexpr double kSmallGemm = 100.0 * 100.0 * 100.0;

void gemm_serial(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                 const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0 || k <= 0 || double(m) * double(n) * double(k) > kSmallGemm)
    return blas_sgemm(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
  const int64_t m2 = static_cast<int64_t>(kSmallGemm / double(n * k)) + 1;
  const int64_t n2 = static_cast<int64_t>(kSmallGemm / double(m * k)) + 1;
  const bool rows = m2 * (k + n) <= n2 * (k + m);
  const int64_t pm = rows ? m2 : m, pn = rows ? n : n2;
  // Padded operand: op(A) [pm, k] (stored [k, pm] if ta) or op(B) [k, pn] (stored [pn, k] if tb).
  const int64_t pad_floats = rows ? pm * k : pn * k;
  float* p = cpu_scratch(ScratchSlot::GemmPad, pad_floats + pm * pn);
  float* pc = p + pad_floats;  // C [pm, pn]
  std::fill(p, p + pad_floats + (beta != 0.f ? pm * pn : 0), 0.f);  // beta 0: C is overwritten
  // Copy the r x q block at src (row stride ld) into dst (row stride ldd).
  auto copy = [](float* dst, int64_t ldd, const float* src, int64_t ld, int64_t r, int64_t q) {
    for (int64_t i = 0; i < r; ++i) std::copy(src + i * ld, src + i * ld + q, dst + i * ldd);
  };
  if (rows) {
    if (ta) copy(p, pm, a, lda, k, m);
    else copy(p, k, a, lda, m, k);
  } else {
    if (tb) copy(p, k, b, ldb, n, k);
    else copy(p, pn, b, ldb, k, n);
  }
  if (beta != 0.f) copy(pc, pn, c, ldc, m, n);
  blas_sgemm(ta, tb, pm, pn, k, rows ? p : a, rows ? (ta ? pm : k) : lda, rows ? b : p,
             rows ? ldb : (tb ? k : pn), beta, pc, pn);
  copy(c, ldc, pc, pn, m, n);
}

}  // namespace

// Split along the larger of m and n (blocks of whole 16-wide column groups). Each element is
// still one serial dot product over k.
void cpu_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
              const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  single_threaded_blas();
  if (n >= m) {
    const int64_t groups = (n + 15) / 16;
    cpu::parallel_for(groups, 32 * m * k, [&](int64_t g0, int64_t g1) {
      const int64_t j0 = g0 * 16, j1 = std::min(n, g1 * 16);
      gemm_serial(ta, tb, m, j1 - j0, k, a, lda, tb ? b + j0 * ldb : b + j0, ldb, beta, c + j0,
                  ldc);
    });
  } else {
    const int64_t groups = (m + 15) / 16;
    cpu::parallel_for(groups, 32 * n * k, [&](int64_t g0, int64_t g1) {
      const int64_t i0 = g0 * 16, i1 = std::min(m, g1 * 16);
      gemm_serial(ta, tb, i1 - i0, n, k, ta ? a + i0 : a + i0 * lda, lda, b, ldb, beta,
                  c + i0 * ldc, ldc);
    });
  }
}

void cpu_conv_x2y(float* y, const float* x, const float* w, const ConvGeom& g,
                  const ConvGeom* plan) {
  if (winograd_applicable(plan ? *plan : g))
    return cpu_conv_x2y_winograd(y, x, w, g, kWinogradBandFloats, plan);
  cpu_conv_x2y_im2col(y, x, w, g, plan);
}

void cpu_conv_x2y_im2col(float* y, const float* x, const float* w, const ConvGeom& g,
                         const ConvGeom* plan) {
  const bool by_y = lower_y(plan ? *plan : g);
  const int64_t T = g.kh * g.kw, K = g.cx * T, hw = g.hy * g.wy, xhw = g.hx * g.wx;
  if (!is_pointwise(g) && !by_y && batch_images(g)) {
    const int64_t cols = g.n * hw;
    float* col = scratch((K + g.cy) * cols);  // col [K, n * hw], then yb [cy, n * hw]
    float* yb = col + K * cols;
    for (int64_t n = 0; n < g.n; ++n) im2col(col + n * hw, x + n * g.cx * xhw, g, 0, g.hy, cols);
    cpu_gemm(false, false, g.cy, cols, K, w, K, col, cols, 0.f, yb, cols);
    cpu::parallel_for(g.n * g.cy, hw, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {  // plane p = (n, o)
        const int64_t n = p / g.cy, o = p % g.cy;
        std::copy(yb + o * cols + n * hw, yb + o * cols + (n + 1) * hw, y + p * hw);
      }
    });
    return;
  }
  for (int64_t n = 0; n < g.n; ++n) {
    const float* xn = x + n * g.cx * xhw;
    float* yn = y + n * g.cy * hw;
    if (is_pointwise(g)) {
      cpu_gemm(false, false, g.cy, hw, K, w, K, xn, hw, 0.f, yn, hw);  // y = w * x
    } else if (by_y) {
      // In bands of output rows, so that z stays ~kBandFloats (the last 7x7 conv to RGB at
      // full resolution would otherwise need 147 floats per pixel).
      const int64_t rows = lower_y_band_rows(g);
      float* z = scratch(g.cy * T * std::min(g.hx, rows + g.kh - 1) * g.wx);
      for (int64_t oy0 = 0; oy0 < g.hy; oy0 += rows) {
        const int64_t oy1 = std::min(g.hy, oy0 + rows);
        const int64_t iy0 = std::clamp<int64_t>(oy0 - g.pad, 0, g.hx);
        const int64_t iy1 = std::clamp<int64_t>(oy1 - 1 - g.pad + g.kh, iy0, g.hx);
        const int64_t px = (iy1 - iy0) * g.wx;
        if (px > 0)
          for (int64_t o = 0; o < g.cy; ++o)  // z_o[T, px] = w_o^T[T, cx] * x[cx, rows iy0..iy1)
            cpu_gemm(true, false, T, px, g.cx, w + o * K, T, xn + iy0 * g.wx, xhw, 0.f,
                     z + o * T * px, px);
        gather(yn, z, g, oy0, oy1, iy0, iy1);
      }
    } else {
      const int64_t rows = band_rows(g);
      float* col = scratch(K * rows * g.wy);
      for (int64_t oy0 = 0; oy0 < g.hy; oy0 += rows) {
        const int64_t oy1 = std::min(g.hy, oy0 + rows), cols = (oy1 - oy0) * g.wy;
        im2col(col, xn, g, oy0, oy1);
        // y[cy, band] = w[cy, K] * col[K, band]
        cpu_gemm(false, false, g.cy, cols, K, w, K, col, cols, 0.f, yn + oy0 * g.wy, hw);
      }
    }
  }
}

void cpu_conv_y2x(float* x, const float* y, const float* w, const ConvGeom& g,
                  const ConvGeom* plan) {
  if (winograd_applicable_y2x(plan ? *plan : g))
    return cpu_conv_y2x_winograd(x, y, w, g, kWinogradBandFloats, plan);
  cpu_conv_y2x_im2col(x, y, w, g, plan);
}

void cpu_conv_y2x_im2col(float* x, const float* y, const float* w, const ConvGeom& g,
                         const ConvGeom* plan) {
  const bool by_y = lower_y(plan ? *plan : g);
  const int64_t T = g.kh * g.kw, K = g.cx * T, hw = g.hy * g.wy, xhw = g.hx * g.wx;
  if (!is_pointwise(g) && !by_y && batch_images(g)) {
    const int64_t cols = g.n * hw;
    float* col = scratch((K + g.cy) * cols);  // col [K, n * hw], then yb [cy, n * hw]
    float* yb = col + K * cols;
    cpu::parallel_for(g.n * g.cy, hw, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {  // plane p = (n, o)
        const int64_t n = p / g.cy, o = p % g.cy;
        std::copy(y + p * hw, y + (p + 1) * hw, yb + o * cols + n * hw);
      }
    });
    cpu_gemm(true, false, K, cols, g.cy, w, K, yb, cols, 0.f, col, cols);  // col = w^T * y
    std::fill(x, x + g.n * g.cx * xhw, 0.f);
    for (int64_t n = 0; n < g.n; ++n) col2im(x + n * g.cx * xhw, col + n * hw, g, 0, g.hy, cols);
    return;
  }
  for (int64_t n = 0; n < g.n; ++n) {
    float* xn = x + n * g.cx * xhw;
    const float* yn = y + n * g.cy * hw;
    if (is_pointwise(g)) {
      cpu_gemm(true, false, K, hw, g.cy, w, K, yn, hw, 0.f, xn, hw);  // x = w^T * y
    } else if (by_y) {
      float* e = scratch(g.cy * T * xhw);
      spread(e, yn, g);
      for (int64_t o = 0; o < g.cy; ++o)  // x[cx, xhw] (+)= w_o[cx, T] * e_o[T, xhw]
        cpu_gemm(false, false, g.cx, xhw, T, w + o * K, T, e + o * T * xhw, xhw, o ? 1.f : 0.f, xn,
             xhw);
    } else {
      std::fill(xn, xn + g.cx * xhw, 0.f);
      const int64_t rows = band_rows(g);
      float* col = scratch(K * rows * g.wy);
      for (int64_t oy0 = 0; oy0 < g.hy; oy0 += rows) {
        const int64_t oy1 = std::min(g.hy, oy0 + rows), cols = (oy1 - oy0) * g.wy;
        // col[K, band] = w^T[K, cy] * y[cy, band]
        cpu_gemm(true, false, K, cols, g.cy, w, K, yn + oy0 * g.wy, hw, 0.f, col, cols);
        col2im(xn, col, g, oy0, oy1);
      }
    }
  }
}

void cpu_conv_filter(float* dw, const float* x, const float* dy, const ConvGeom& g) {
  if (winograd_applicable_filter(g)) return cpu_conv_filter_winograd(dw, x, dy, g);
  cpu_conv_filter_im2col(dw, x, dy, g);
}

void cpu_conv_filter_im2col(float* dw, const float* x, const float* dy, const ConvGeom& g) {
  const int64_t T = g.kh * g.kw, K = g.cx * T, hw = g.hy * g.wy, xhw = g.hx * g.wx;
  for (int64_t n = 0; n < g.n; ++n) {
    const float* xn = x + n * g.cx * xhw;
    const float* dyn = dy + n * g.cy * hw;
    if (is_pointwise(g)) {
      cpu_gemm(false, true, g.cy, K, hw, dyn, hw, xn, hw, 1.f, dw, K);  // dw += dy * x^T
    } else if (lower_y(g)) {
      float* e = scratch(g.cy * T * xhw);
      spread(e, dyn, g);
      for (int64_t o = 0; o < g.cy; ++o)  // dw_o[cx, T] += x[cx, xhw] * e_o^T[xhw, T]
        cpu_gemm(false, true, g.cx, T, xhw, xn, xhw, e + o * T * xhw, xhw, 1.f, dw + o * K, T);
    } else {
      const int64_t rows = band_rows(g);
      float* col = scratch(K * rows * g.wy);
      for (int64_t oy0 = 0; oy0 < g.hy; oy0 += rows) {
        const int64_t oy1 = std::min(g.hy, oy0 + rows), cols = (oy1 - oy0) * g.wy;
        im2col(col, xn, g, oy0, oy1);
        // dw[cy, K] += dy[cy, band] * col^T[band, K]
        cpu_gemm(false, true, g.cy, K, cols, dyn + oy0 * g.wy, hw, col, cols, 1.f, dw, K);
      }
    }
  }
}

}  // namespace detail

namespace {

void check_f32_4d(const Tensor& t, const char* what) {
  CGAN_CHECK(t.defined(), "conv: " << what << " is undefined");
  CGAN_CHECK(t.dtype() == DType::F32 && t.ndim() == 4 && t.layout() == Layout::NCHW,
             "conv: " << what << " must be a 4-D F32 NCHW tensor, got " << t.str());
}

void check_device(const Tensor& t, const char* what, Context& ctx) {
  CGAN_CHECK(t.device() == ctx.device(),
             "conv: " << what << " is on " << t.device().str() << " but the context is on "
                      << ctx.device().str());
}

// Every pass (forward, data, filter gradient) is the same number of multiply-adds.
void count_flops(const detail::ConvGeom& g, Context& ctx) {
  ctx.conv_flops += 2.0 * double(g.n) * double(g.cy) * double(g.hy) * double(g.wy) *
                    double(g.cx) * double(g.kh) * double(g.kw);
}

// The geometry of the underlying (non-transposed) convolution for a layer input/weight.
detail::ConvGeom geometry(const Shape& in, const Shape& weight, const ConvSpec& spec) {
  const Shape out = conv_output_shape(in, weight, spec);
  detail::ConvGeom g;
  const Shape& x = spec.transposed ? out : in;
  const Shape& y = spec.transposed ? in : out;
  g.n = x[0];
  g.cx = x[1];
  g.hx = x[2];
  g.wx = x[3];
  g.cy = y[1];
  g.hy = y[2];
  g.wy = y[3];
  g.kh = weight[2];
  g.kw = weight[3];
  g.stride = spec.stride;
  g.pad = spec.pad;
  return g;
}

void bias_add_cpu(float* out, const float* bias, int64_t n, int64_t c, int64_t hw) {
  cpu::parallel_for(n * c, hw, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {  // plane p = (i, k)
      float* q = out + p * hw;
      const float b = bias[p % c];
      for (int64_t j = 0; j < hw; ++j) q[j] += b;
    }
  });
}

void bias_grad_cpu(float* d_bias, const float* d_out, int64_t n, int64_t c, int64_t hw) {
  cpu::parallel_for(c, n * hw, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      double s = 0;  // double: the sum runs over up to millions of pixels
      for (int64_t i = 0; i < n; ++i) {
        const float* p = d_out + (i * c + k) * hw;
        for (int64_t j = 0; j < hw; ++j) s += p[j];
      }
      d_bias[k] += static_cast<float>(s);
    }
  });
}

}  // namespace

Shape conv_output_shape(const Shape& in, const Shape& weight, const ConvSpec& spec) {
  CGAN_CHECK(in.size() == 4 && weight.size() == 4,
             "conv: expected 4-D input and weight, got " << shape_str(in) << " and "
                                                          << shape_str(weight));
  CGAN_CHECK(spec.stride >= 1 && spec.pad >= 0 && spec.output_padding >= 0,
             "conv: invalid stride " << spec.stride << " / pad " << spec.pad);
  CGAN_CHECK(!spec.transposed ? spec.output_padding == 0 : spec.output_padding < spec.stride,
             "conv: output_padding " << spec.output_padding << " needs a transposed conv with "
                                     << "output_padding < stride (" << spec.stride << ")");
  const int64_t cin = spec.transposed ? weight[0] : weight[1];
  const int64_t cout = spec.transposed ? weight[1] : weight[0];
  CGAN_CHECK(in[1] == cin, "conv: input " << shape_str(in) << " has " << in[1]
                                          << " channels but the weight " << shape_str(weight)
                                          << " expects " << cin);
  const int64_t kh = weight[2], kw = weight[3], s = spec.stride, p = spec.pad;
  int64_t ho, wo;
  if (spec.transposed) {
    ho = (in[2] - 1) * s - 2 * p + kh + spec.output_padding;
    wo = (in[3] - 1) * s - 2 * p + kw + spec.output_padding;
  } else {
    CGAN_CHECK(in[2] + 2 * p >= kh && in[3] + 2 * p >= kw,
               "conv: input " << shape_str(in) << " (padded by " << p
                              << ") is smaller than the kernel " << shape_str(weight));
    ho = (in[2] + 2 * p - kh) / s + 1;
    wo = (in[3] + 2 * p - kw) / s + 1;
  }
  CGAN_CHECK(ho > 0 && wo > 0, "conv: empty output for input " << shape_str(in) << " weight "
                                                                << shape_str(weight));
  return {in[0], cout, ho, wo};
}

namespace {

void check_bf16_nhwc(const Tensor& t, const char* what, Context& ctx) {
  CGAN_CHECK(t.defined(), "conv: " << what << " is undefined");
  CGAN_CHECK(t.dtype() == DType::BF16 && t.layout() == Layout::NHWC,
             "conv: the input is BF16 NHWC, so the " << what << " must be too, got " << t.str());
  check_device(t, what, ctx);
}

// The channels-last bf16 convolution (weight: logical [out, in, kh, kw] or, transposed,
// [in, out, kh, kw], stored channels-last like every NHWC tensor).
void conv_forward_nhwc(Tensor& out, const Tensor& in, const Tensor& weight, const Tensor* bias,
                       const ConvSpec& spec, Context& ctx) {
  check_bf16_nhwc(in, "input", ctx);
  check_bf16_nhwc(weight, "weight", ctx);
  check_bf16_nhwc(out, "output", ctx);
  const Shape os = conv_output_shape(in.shape(), weight.shape(), spec);
  CGAN_CHECK(out.shape() == os, "conv_forward: output is " << shape_str(out.shape())
                                                           << ", expected " << shape_str(os));
  if (bias) {
    CGAN_CHECK(bias->numel() == os[1] && bias->dtype() == DType::F32,
               "conv_forward: bias " << bias->str() << " does not match " << os[1]
                                     << " output channels");
    check_device(*bias, "bias", ctx);
  }
  const detail::ConvGeom g = geometry(in.shape(), weight.shape(), spec);
  count_flops(g, ctx);
  const detail::ConvPass pass = spec.transposed ? detail::ConvPass::YtoX : detail::ConvPass::XtoY;
  void* x = spec.transposed ? out.raw() : in.raw();
  void* y = spec.transposed ? in.raw() : out.raw();
  const int64_t rows = os[0] * os[2] * os[3];
  ProfileScope prof(ctx, "conv.fwd");
  if (ctx.is_cuda()) {
    detail::cudnn_conv_nhwc_bf16(pass, x, y, weight.raw(), g, ctx);
    if (bias) kernels::bias_add_nhwc<bf16>(out.data<bf16>(), bias->f32(), rows, os[1], ctx.stream());
  } else {
    detail::cpu_conv_nhwc_bf16(pass, x, y, weight.raw(), g);
    if (bias) cpu::bias_add_nhwc<bf16>(out.data<bf16>(), bias->f32(), rows, os[1]);
  }
}

// conv_forward; plan: the convolution whose algorithm the CPU uses (null: this one).
void conv_forward_as(Tensor& out, const Tensor& in, const Tensor& weight, const Tensor* bias,
                     const ConvSpec& spec, const detail::ConvGeom* plan, Context& ctx) {
  if (in.defined() && in.layout() == Layout::NHWC) {
    CGAN_CHECK(!plan, "conv_forward_window: NHWC tensors are not supported");
    conv_forward_nhwc(out, in, weight, bias, spec, ctx);
    return;
  }
  check_f32_4d(in, "input");
  check_f32_4d(weight, "weight");
  check_f32_4d(out, "output");
  const Shape os = conv_output_shape(in.shape(), weight.shape(), spec);
  CGAN_CHECK(out.shape() == os, "conv_forward: output is " << shape_str(out.shape())
                                                           << ", expected " << shape_str(os));
  for (const Tensor* t : std::initializer_list<const Tensor*>{&out, &in, &weight})
    check_device(*t, "tensor", ctx);
  if (bias) {
    CGAN_CHECK(bias->numel() == os[1] && bias->dtype() == DType::F32,
               "conv_forward: bias " << bias->str() << " does not match " << os[1]
                                     << " output channels");
    check_device(*bias, "bias", ctx);
  }
  const detail::ConvGeom g = geometry(in.shape(), weight.shape(), spec);
  count_flops(g, ctx);
  ProfileScope prof(ctx, "conv.fwd");
  if (ctx.is_cuda()) {
    if (spec.transposed)
      detail::cudnn_conv(detail::ConvPass::YtoX, out.f32(), in.f32(), weight.f32(), g, ctx);
    else
      detail::cudnn_conv(detail::ConvPass::XtoY, in.f32(), out.f32(), weight.f32(), g, ctx);
    if (bias) detail::cudnn_bias_add(out.f32(), bias->f32(), os[0], os[1], os[2], os[3], ctx);
    return;
  }
  if (spec.transposed)
    detail::cpu_conv_y2x(out.f32(), in.f32(), weight.f32(), g, plan);
  else
    detail::cpu_conv_x2y(out.f32(), in.f32(), weight.f32(), g, plan);
  if (bias) bias_add_cpu(out.f32(), bias->f32(), os[0], os[1], os[2] * os[3]);
}

}  // namespace

void conv_forward(Tensor& out, const Tensor& in, const Tensor& weight, const Tensor* bias,
                  const ConvSpec& spec, Context& ctx) {
  conv_forward_as(out, in, weight, bias, spec, nullptr, ctx);
}

void conv_forward_window(Tensor& out, const Tensor& in, const Tensor& weight, const Tensor* bias,
                         const ConvSpec& spec, const Shape& whole_in, const ConvSpec& whole_spec,
                         Context& ctx) {
  CGAN_CHECK(whole_spec.transposed == spec.transposed && whole_spec.stride == spec.stride,
             "conv_forward_window: the window's and the whole map's convolutions differ");
  const detail::ConvGeom plan = geometry(whole_in, weight.shape(), whole_spec);
  conv_forward_as(out, in, weight, bias, spec, &plan, ctx);
}

void conv_backward_data(Tensor& d_in, const Tensor& d_out, const Tensor& weight,
                        const ConvSpec& spec, Context& ctx) {
  if (d_out.defined() && d_out.layout() == Layout::NHWC) {
    check_bf16_nhwc(d_out, "d_out", ctx);
    check_bf16_nhwc(d_in, "d_in", ctx);
    check_bf16_nhwc(weight, "weight", ctx);
    const Shape os = conv_output_shape(d_in.shape(), weight.shape(), spec);
    CGAN_CHECK(d_out.shape() == os, "conv_backward_data: d_out is "
                                        << shape_str(d_out.shape()) << ", expected "
                                        << shape_str(os));
    const detail::ConvGeom g = geometry(d_in.shape(), weight.shape(), spec);
    count_flops(g, ctx);
    ProfileScope prof(ctx, "conv.bwd_data");
    // The transposed conv's input gradient is a forward conv of d_out (roles as in the
    // float path below).
    const detail::ConvPass pass = spec.transposed ? detail::ConvPass::XtoY : detail::ConvPass::YtoX;
    void* x = spec.transposed ? d_out.raw() : d_in.raw();
    void* y = spec.transposed ? d_in.raw() : d_out.raw();
    if (ctx.is_cuda())
      detail::cudnn_conv_nhwc_bf16(pass, x, y, weight.raw(), g, ctx);
    else
      detail::cpu_conv_nhwc_bf16(pass, x, y, weight.raw(), g);
    return;
  }
  check_f32_4d(d_in, "d_in");
  check_f32_4d(d_out, "d_out");
  check_f32_4d(weight, "weight");
  const Shape os = conv_output_shape(d_in.shape(), weight.shape(), spec);
  CGAN_CHECK(d_out.shape() == os, "conv_backward_data: d_out is " << shape_str(d_out.shape())
                                                                  << ", expected "
                                                                  << shape_str(os));
  for (const Tensor* t : std::initializer_list<const Tensor*>{&d_in, &d_out, &weight})
    check_device(*t, "tensor", ctx);
  const detail::ConvGeom g = geometry(d_in.shape(), weight.shape(), spec);
  count_flops(g, ctx);
  ProfileScope prof(ctx, "conv.bwd_data");
  if (ctx.is_cuda()) {
    if (spec.transposed)
      detail::cudnn_conv(detail::ConvPass::XtoY, d_out.f32(), d_in.f32(), weight.f32(), g, ctx);
    else
      detail::cudnn_conv(detail::ConvPass::YtoX, d_in.f32(), d_out.f32(), weight.f32(), g, ctx);
    return;
  }
  if (spec.transposed)
    detail::cpu_conv_x2y(d_in.f32(), d_out.f32(), weight.f32(), g);
  else
    detail::cpu_conv_y2x(d_in.f32(), d_out.f32(), weight.f32(), g);
}

void conv_backward_filter(Tensor& d_weight, Tensor* d_bias, const Tensor& d_out, const Tensor& in,
                          const ConvSpec& spec, Context& ctx) {
  if (in.defined() && in.layout() == Layout::NHWC) {
    // bf16 activations, fp32 master gradients (d_weight in the parameter's own layout).
    check_bf16_nhwc(in, "input", ctx);
    check_bf16_nhwc(d_out, "d_out", ctx);
    check_f32_4d(d_weight, "d_weight");
    check_device(d_weight, "d_weight", ctx);
    const Shape os = conv_output_shape(in.shape(), d_weight.shape(), spec);
    CGAN_CHECK(d_out.shape() == os, "conv_backward_filter: d_out is "
                                        << shape_str(d_out.shape()) << ", expected "
                                        << shape_str(os));
    if (d_bias) {
      CGAN_CHECK(d_bias->numel() == os[1] && d_bias->dtype() == DType::F32,
                 "conv_backward_filter: d_bias " << d_bias->str() << " does not match " << os[1]
                                                 << " output channels");
      check_device(*d_bias, "d_bias", ctx);
    }
    const detail::ConvGeom g = geometry(in.shape(), d_weight.shape(), spec);
    count_flops(g, ctx);
    const Tensor& x = spec.transposed ? d_out : in;
    const Tensor& dy = spec.transposed ? in : d_out;
    const int64_t rows = os[0] * os[2] * os[3];
    ProfileScope prof(ctx, "conv.bwd_filter");
    if (ctx.is_cuda()) {
      detail::cudnn_conv_filter_nhwc_bf16(d_weight.f32(), x.raw(), dy.raw(), g, ctx);
      if (d_bias) {
        void* ws = ctx.workspace(kernels::bias_backward_nhwc_workspace_bytes(rows, os[1]));
        kernels::bias_backward_nhwc<bf16>(d_bias->f32(), d_out.data<bf16>(), rows, os[1], ws,
                                          ctx.stream());
      }
    } else {
      detail::cpu_conv_filter_nhwc_bf16(d_weight.f32(), x.raw(), dy.raw(), g);
      if (d_bias) cpu::bias_backward_nhwc<bf16>(d_bias->f32(), d_out.data<bf16>(), rows, os[1]);
    }
    return;
  }
  check_f32_4d(d_weight, "d_weight");
  check_f32_4d(d_out, "d_out");
  check_f32_4d(in, "input");
  const Shape os = conv_output_shape(in.shape(), d_weight.shape(), spec);
  CGAN_CHECK(d_out.shape() == os, "conv_backward_filter: d_out is "
                                      << shape_str(d_out.shape()) << ", expected "
                                      << shape_str(os));
  for (const Tensor* t : std::initializer_list<const Tensor*>{&d_weight, &d_out, &in})
    check_device(*t, "tensor", ctx);
  if (d_bias) {
    CGAN_CHECK(d_bias->numel() == os[1] && d_bias->dtype() == DType::F32,
               "conv_backward_filter: d_bias " << d_bias->str() << " does not match " << os[1]
                                               << " output channels");
    check_device(*d_bias, "d_bias", ctx);
  }
  const detail::ConvGeom g = geometry(in.shape(), d_weight.shape(), spec);
  count_flops(g, ctx);
  // For a transposed conv the forward input plays the role of dy and d_out that of x.
  const Tensor& x = spec.transposed ? d_out : in;
  const Tensor& dy = spec.transposed ? in : d_out;
  ProfileScope prof(ctx, "conv.bwd_filter");
  if (ctx.is_cuda()) {
    detail::cudnn_conv(detail::ConvPass::Filter, x.f32(), dy.f32(), d_weight.f32(), g, ctx);
    if (d_bias) detail::cudnn_bias_grad(d_bias->f32(), d_out.f32(), os[0], os[1], os[2], os[3], ctx);
    return;
  }
  detail::cpu_conv_filter(d_weight.f32(), x.f32(), dy.f32(), g);
  if (d_bias) bias_grad_cpu(d_bias->f32(), d_out.f32(), os[0], os[1], os[2] * os[3]);
}

}  // namespace cgan
