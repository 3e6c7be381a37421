// Winograd F(4x4, 3x3) for the CPU's stride-1 3x3 convolutions (16 of the official generator's
// 25, and most of its time). Each 4x4 block of outputs is A^T [ (G g G^T) .* (B^T d B) ] A for
// the 6x6 input patch d, so a layer becomes 36 GEMMs of [cy, cx] x [cx, tiles]: 36 multiplies
// per 16 outputs and channel pair instead of 144 (4x fewer; F(2x2,3x3) gave 2.25x), plus
// transforms linear in the channel count. Interpolation points 0, +-1, +-2 and infinity:
//   B^T = [4  0 -5  0 1 0]   G = [ 1/4     0    0 ]   A^T = [1 1  1 1  1 0]
//         [0 -4 -4  1 1 0]       [-1/6 -1/6 -1/6 ]         [0 1 -1 2 -2 0]
//         [0  4 -4 -1 1 0]       [-1/6  1/6 -1/6 ]         [0 1  1 4  4 0]
//         [0 -2 -1  2 1 0]       [1/24 1/12  1/6 ]         [0 1 -1 8 -8 1]
//         [0  2 -1 -2 1 0]       [1/24 -1/12 1/6 ]
//         [0  4  0 -5 0 1]       [   0    0    1 ]
// The larger coefficients cost accuracy: tests/cpu/test_conv_winograd.cpp bounds the error
// against a float64 direct convolution (a few 1e-6 relative to the largest output).
//
// The transforms run on whole rows of tiles, so that every inner loop is contiguous and
// vectorizes: tile tx reads input columns 4tx - pad + j (j < 6), which are, with the row split
// into 4 phases P_r[k] = row[4k + r - pad], P_j[tx] for j < 4 and P_{j-4}[tx + 1] for j = 4, 5.
// Outputs are written phase by phase the same way and interleaved into the output row.
#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "kernels/cpu_parallel.hpp"
#include "layers/conv_impl.hpp"

namespace cgan::detail {
namespace {

constexpr int kA = 6;       // input patch side (alpha)
constexpr int kM = 4;       // outputs per tile side
constexpr int kXi = kA * kA;  // transformed elements = GEMMs per layer

// Tiles of 4x4 outputs over the batch.
int64_t output_tiles(const ConvGeom& g) {
  return g.n * ((g.hy + kM - 1) / kM) * ((g.wy + kM - 1) / kM);
}

// The conv whose output is g's input gradient: a stride-1 3x3 conv of dy with the kernel
// flipped and transposed (w'[c][o][i][j] = w[o][c][2-i][2-j]) and padding 2 - pad.
ConvGeom flipped_geometry(const ConvGeom& g) {
  ConvGeom t = g;
  t.cx = g.cy;
  t.hx = g.hy;
  t.wx = g.wy;
  t.cy = g.cx;
  t.hy = g.hx;
  t.wy = g.wx;
  t.pad = 2 - g.pad;
  return t;
}

// Calls f(image, first tile row, end tile row, column of its first tile in the band) for the
// pieces of the band [R0, R1) of global tile rows (th per image, tw tiles each), one per image
// it touches.
template <class F>
void for_each_piece(int64_t R0, int64_t R1, int64_t th, int64_t tw, F&& f) {
  for (int64_t R = R0; R < R1;) {
    const int64_t n = R / th, r0 = R % th, r1 = std::min(th, r0 + (R1 - R));
    f(n, r0, r1, (R - R0) * tw);
    R += r1 - r0;
  }
}

// r_a = (G (g0, g1, g2))_a, elementwise over n channels.
inline void filter_g(float* const* __restrict r, const float* __restrict g0,
                     const float* __restrict g1, const float* __restrict g2, int64_t n) {
  float *r0 = r[0], *r1 = r[1], *r2 = r[2], *r3 = r[3], *r4 = r[4], *r5 = r[5];
#pragma GCC ivdep
  for (int64_t c = 0; c < n; ++c) {
    const float a = g0[c], b = g1[c], e = g2[c];
    r0[c] = a * (1.f / 4);
    r1[c] = (a + b + e) * (-1.f / 6);
    r2[c] = (a - b + e) * (-1.f / 6);
    r3[c] = a * (1.f / 24) + b * (1.f / 12) + e * (1.f / 6);
    r4[c] = a * (1.f / 24) - b * (1.f / 12) + e * (1.f / 6);
    r5[c] = e;
  }
}

// v[xi][o][c] = (G w[o][c] G^T)[xi], xi = 6a + b. Vectorized over c: the taps of one output
// channel are first transposed to 9 rows of cx.
void winograd_filter(float* v, const float* w, int64_t cy, int64_t cx) {
  const int64_t oc = cy * cx;
  cpu::parallel_for(cy, cx * 100, [&](int64_t o0, int64_t o1) {
    std::vector<float> buf(static_cast<size_t>((9 + 3 * kA) * cx));
    float* taps = buf.data();          // [9][cx]
    float* t = taps + 9 * cx;          // [6 a][3 j][cx]: G g
    for (int64_t o = o0; o < o1; ++o) {
      const float* wo = w + o * cx * 9;
      for (int64_t c = 0; c < cx; ++c)
        for (int k = 0; k < 9; ++k) taps[k * cx + c] = wo[c * 9 + k];
      for (int j = 0; j < 3; ++j) {  // column j of g: taps j, 3 + j, 6 + j
        float* r[kA];
        for (int a = 0; a < kA; ++a) r[a] = t + (a * 3 + j) * cx;
        filter_g(r, taps + j * cx, taps + (3 + j) * cx, taps + (6 + j) * cx, cx);
      }
      for (int a = 0; a < kA; ++a) {  // row a of G g, times G^T
        float* r[kA];
        for (int b = 0; b < kA; ++b) r[b] = v + (a * kA + b) * oc + o * cx;
        filter_g(r, t + (a * 3) * cx, t + (a * 3 + 1) * cx, t + (a * 3 + 2) * cx, cx);
      }
    }
  });
}

// q_r[k] = in[4k + r] for k < n (in holds 4n floats): one pass, 4x4 transposes.
inline void deinterleave4(float* __restrict q0, float* __restrict q1, float* __restrict q2,
                          float* __restrict q3, const float* __restrict in, int64_t n) {
  int64_t k = 0;
#if defined(__SSE2__)
  for (; k + 4 <= n; k += 4) {
    __m128 a = _mm_loadu_ps(in + 4 * k), b = _mm_loadu_ps(in + 4 * k + 4);
    __m128 c = _mm_loadu_ps(in + 4 * k + 8), d = _mm_loadu_ps(in + 4 * k + 12);
    _MM_TRANSPOSE4_PS(a, b, c, d);
    _mm_storeu_ps(q0 + k, a);
    _mm_storeu_ps(q1 + k, b);
    _mm_storeu_ps(q2 + k, c);
    _mm_storeu_ps(q3 + k, d);
  }
#endif
  for (; k < n; ++k) {
    q0[k] = in[4 * k];
    q1[k] = in[4 * k + 1];
    q2[k] = in[4 * k + 2];
    q3[k] = in[4 * k + 3];
  }
}

// out[4k + r] = q_r[k] for k < n: the inverse of deinterleave4.
inline void interleave4(float* __restrict out, const float* __restrict q0,
                        const float* __restrict q1, const float* __restrict q2,
                        const float* __restrict q3, int64_t n) {
  int64_t k = 0;
#if defined(__SSE2__)
  for (; k + 4 <= n; k += 4) {
    __m128 a = _mm_loadu_ps(q0 + k), b = _mm_loadu_ps(q1 + k);
    __m128 c = _mm_loadu_ps(q2 + k), d = _mm_loadu_ps(q3 + k);
    _MM_TRANSPOSE4_PS(a, b, c, d);
    _mm_storeu_ps(out + 4 * k, a);
    _mm_storeu_ps(out + 4 * k + 4, b);
    _mm_storeu_ps(out + 4 * k + 8, c);
    _mm_storeu_ps(out + 4 * k + 12, d);
  }
#endif
  for (; k < n; ++k) {
    out[4 * k] = q0[k];
    out[4 * k + 1] = q1[k];
    out[4 * k + 2] = q2[k];
    out[4 * k + 3] = q3[k];
  }
}

// d (6 rows of length n) -> B^T d, one output row per call's r[a].
inline void input_rows_bt(float* const* __restrict r, const float* const* __restrict d,
                          int64_t n) {
  const float *d0 = d[0], *d1 = d[1], *d2 = d[2], *d3 = d[3], *d4 = d[4], *d5 = d[5];
  float *r0 = r[0], *r1 = r[1], *r2 = r[2], *r3 = r[3], *r4 = r[4], *r5 = r[5];
#pragma GCC ivdep
  for (int64_t k = 0; k < n; ++k) {
    const float a = d1[k], b = d2[k], c = d3[k], e = d4[k];
    r0[k] = 4 * d0[k] - 5 * b + e;
    r1[k] = e + c - 4 * (a + b);
    r2[k] = e - c + 4 * (a - b);
    r3[k] = e - b + 2 * (c - a);
    r4[k] = e - b - 2 * (c - a);
    r5[k] = 4 * a - 5 * c + d5[k];
  }
}

// Horizontal B^T for one transformed row given as 4 phases p[r][k] (k = 0..tw): writes the 6
// outputs u[b][tx] (tx < tw).
inline void input_cols_bt(float* const* __restrict u, const float* const* __restrict p,
                          int64_t tw) {
  const float *p0 = p[0], *p1 = p[1], *p2 = p[2], *p3 = p[3];
  float *u0 = u[0], *u1 = u[1], *u2 = u[2], *u3 = u[3], *u4 = u[4], *u5 = u[5];
#pragma GCC ivdep
  for (int64_t t = 0; t < tw; ++t) {
    const float d0 = p0[t], d1 = p1[t], d2 = p2[t], d3 = p3[t], d4 = p0[t + 1], d5 = p1[t + 1];
    u0[t] = 4 * d0 - 5 * d2 + d4;
    u1[t] = d4 + d3 - 4 * (d1 + d2);
    u2[t] = d4 - d3 + 4 * (d1 - d2);
    u3[t] = d4 - d2 + 2 * (d3 - d1);
    u4[t] = d4 - d2 - 2 * (d3 - d1);
    u5[t] = 4 * d1 - 5 * d3 + d5;
  }
}

// m (6 arrays of length n) -> A^T m: 4 arrays.
inline void output_at(float* const* __restrict o, const float* const* __restrict m, int64_t n) {
  const float *m0 = m[0], *m1 = m[1], *m2 = m[2], *m3 = m[3], *m4 = m[4], *m5 = m[5];
  float *o0 = o[0], *o1 = o[1], *o2 = o[2], *o3 = o[3];
#pragma GCC ivdep
  for (int64_t k = 0; k < n; ++k) {
    const float s12 = m1[k] + m2[k], d12 = m1[k] - m2[k];
    const float s34 = m3[k] + m4[k], d34 = m3[k] - m4[k];
    o0[k] = m0[k] + s12 + s34;
    o1[k] = d12 + 2 * d34;
    o2[k] = s12 + 4 * s34;
    o3[k] = d12 + 8 * d34 + m5[k];
  }
}

// The input transform of one band of tile rows [r0, r1) of one channel plane:
// u[xi * ustride + (ty - r0) * tw + tx] = (B^T d B)[xi] for the patch at (4ty - pad, 4tx - pad).
// buf: input_buf_floats(...) floats.
int64_t input_buf_floats(int64_t band_rows, int64_t tw) {
  const int64_t np = tw + 1;
  return (kM * band_rows + 2) * 4 * np + kA * 4 * np + 4 * np;
}
void input_transform_plane(float* u, int64_t ustride, const float* plane, const ConvGeom& g,
                           int64_t r0, int64_t r1, int64_t tw, float* buf) {
  const int64_t np = tw + 1;  // phase length: tile tx reads phases at tx and tx + 1
  const int64_t iy0 = kM * r0 - g.pad, rows = kM * (r1 - r0) + 2;
  float* ph = buf;                    // [rows][4 phases][np]: the band's input rows, by phase
  float* bt = ph + rows * 4 * np;     // [6 rows a][4 phases][np]: B^T down the columns
  float* line = bt + kA * 4 * np;     // [4 np]: one zero-padded input row
  // Columns 4k + r - pad for k < np: the row shifted by pad, zeros outside [0, wx).
  const int64_t copy = std::min<int64_t>(g.wx, 4 * np - g.pad);
  for (int64_t i = 0; i < rows; ++i) {
    float* p = ph + i * 4 * np;
    const int64_t iy = iy0 + i;
    if (iy < 0 || iy >= g.hx) {
      std::fill(p, p + 4 * np, 0.f);
      continue;
    }
    std::fill(line, line + 4 * np, 0.f);
    std::copy(plane + iy * g.wx, plane + iy * g.wx + copy, line + g.pad);
    deinterleave4(p, p + np, p + 2 * np, p + 3 * np, line, np);
  }
  for (int64_t ty = r0; ty < r1; ++ty) {
    // Down the columns: all 4 phases at once (they are contiguous, 4 * np long).
    const float* d[kA];
    float* r[kA];
    for (int i = 0; i < kA; ++i) {
      d[i] = ph + (kM * (ty - r0) + i) * 4 * np;
      r[i] = bt + i * 4 * np;
    }
    input_rows_bt(r, d, 4 * np);
    // Across the columns, row a of B^T d gives u[6a + b].
    const int64_t col0 = (ty - r0) * tw;
    for (int a = 0; a < kA; ++a) {
      const float* p[4];
      for (int q = 0; q < 4; ++q) p[q] = bt + (a * 4 + q) * np;
      float* dst[kA];
      for (int b = 0; b < kA; ++b) dst[b] = u + (a * kA + b) * ustride + col0;
      input_cols_bt(dst, p, tw);
    }
  }
}

// The output transform of one band of tile rows [r0, r1) of one output plane: the 4x4 block at
// (4ty, 4tx) = A^T M A, M[xi] = m[xi * mstride + (ty - r0) * tw + tx]. Clipped at hy, wy.
void output_transform_plane(float* plane, const float* m, int64_t mstride, const ConvGeom& g,
                            int64_t r0, int64_t r1, int64_t tw, float* buf) {
  float* ra = buf;                // [4 a][6 b][tw]: A^T down the columns
  float* q = buf + 4 * kA * tw;   // [4 phases][tw]: one output row, by phase
  for (int64_t ty = r0; ty < r1; ++ty) {
    const int64_t col0 = (ty - r0) * tw;
    for (int b = 0; b < kA; ++b) {  // column b: A^T over rows xi = 6k + b
      const float* src[kA];
      for (int k = 0; k < kA; ++k) src[k] = m + (k * kA + b) * mstride + col0;
      float* dst[4];
      for (int a = 0; a < 4; ++a) dst[a] = ra + (a * kA + b) * tw;
      output_at(dst, src, tw);
    }
    for (int a = 0; a < kM; ++a) {
      const int64_t oy = kM * ty + a;
      if (oy >= g.hy) break;
      const float* src[kA];
      for (int b = 0; b < kA; ++b) src[b] = ra + (a * kA + b) * tw;
      float* dst[4] = {q, q + tw, q + 2 * tw, q + 3 * tw};
      output_at(dst, src, tw);
      float* out = plane + oy * g.wy;
      const int64_t full = g.wy / kM;  // tiles whose 4 outputs all lie inside the row
      interleave4(out, q, q + tw, q + 2 * tw, q + 3 * tw, full);
      for (int64_t ox = full * kM; ox < g.wy; ++ox) out[ox] = q[(ox % kM) * tw + ox / kM];
    }
  }
}


// ---- Fused AVX-512 path ------------------------------------------------------------------
// Small maps (training crops: 16x16 is 16 tiles, 8x8 is 4) make the filter the largest operand:
// its transform is 36/9 = 4x the weights (9.4 MB for 256x256 channels), written out and then
// packed again by the GEMM, while the GEMMs themselves are short. The fused path keeps it in
// cache instead: per block of 8 output channels, transform those 8 filters (36 x 8 x cx),
// run the 36 products with a register-blocked kernel over a pre-packed input transform, and
// output-transform the 8 planes, all before the next block. Input transform layout, per
// product xi: panels of 32 tiles, [panel][c][32] (so the kernel reads 2 vectors per channel).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CGAN_WINOGRAD_FUSED 1
constexpr int kRows = 8;     // output channels per block (kernel rows)
constexpr int kPanel = 32;   // tiles per panel (kernel columns: 2 x 16 floats)

// c[r][0..32) = sum_k a[r * lda + k] * b[k * 32 + 0..32) for r < 8.
__attribute__((target("avx512f"))) void fused_kernel_8x32(float* __restrict c, int64_t ldc,
                                                          const float* __restrict a,
                                                          int64_t lda,
                                                          const float* __restrict b,
                                                          int64_t k_len) {
  __m512 acc[kRows][2];
  for (int r = 0; r < kRows; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  const float* ar[kRows];
  for (int r = 0; r < kRows; ++r) ar[r] = a + r * lda;
  for (int64_t k = 0; k < k_len; ++k) {
    const __m512 b0 = _mm512_loadu_ps(b + k * kPanel), b1 = _mm512_loadu_ps(b + k * kPanel + 16);
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      const __m512 av = _mm512_set1_ps(ar[r][k]);
      acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
    }
  }
  for (int r = 0; r < kRows; ++r) {
    _mm512_storeu_ps(c + r * ldc, acc[r][0]);
    _mm512_storeu_ps(c + r * ldc + 16, acc[r][1]);
  }
}

// Row a of G applied to (p, q, s), 16 lanes.
struct G6 {
  __m512 r[kA];
};
__attribute__((target("avx512f"))) inline G6 apply_g(__m512 p, __m512 q, __m512 s) {
  const __m512 q4 = _mm512_set1_ps(1.f / 4), m6 = _mm512_set1_ps(-1.f / 6);
  const __m512 c24 = _mm512_set1_ps(1.f / 24), c12 = _mm512_set1_ps(1.f / 12),
               c6 = _mm512_set1_ps(1.f / 6);
  G6 o;
  o.r[0] = _mm512_mul_ps(p, q4);
  o.r[1] = _mm512_mul_ps(_mm512_add_ps(_mm512_add_ps(p, q), s), m6);
  o.r[2] = _mm512_mul_ps(_mm512_add_ps(_mm512_sub_ps(p, q), s), m6);
  const __m512 ps = _mm512_fmadd_ps(s, c6, _mm512_mul_ps(p, c24));
  o.r[3] = _mm512_fmadd_ps(q, c12, ps);
  o.r[4] = _mm512_fnmadd_ps(q, c12, ps);
  o.r[5] = s;
  return o;
}

// v[xi * ldv_xi + r * ldv + c] = (G w(o0 + r, c) G^T)[xi] for r < rows (zeros for rows <= r <
// 8), c < cin. The 9 taps of (o, c) are at w[o * so + c * sc + k] (k reversed if flipped).
__attribute__((target("avx512f"))) void fused_filter_block(float* v, int64_t ldv_xi,
                                                           int64_t ldv, const float* w,
                                                           int64_t o0, int64_t rows,
                                                           int64_t cin, int64_t so,
                                                           int64_t sc, bool flipped) {
  // The taps of 16 input channels by gathers (measured: 2x256x16x16 forward 1.76 ms with
  // gathers, 1.98 ms with a scalar transpose of the taps first).
  const __m512i lane = _mm512_mullo_epi32(
      _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
      _mm512_set1_epi32(static_cast<int>(sc)));
  for (int64_t r = 0; r < kRows; ++r) {
    if (r >= rows) {
      for (int xi = 0; xi < kXi; ++xi)
        std::fill(v + xi * ldv_xi + r * ldv, v + xi * ldv_xi + r * ldv + cin, 0.f);
      continue;
    }
    const float* wo = w + (o0 + r) * so;
    for (int64_t c = 0; c < cin; c += 16) {
      const int64_t n = std::min<int64_t>(16, cin - c);
      const __mmask16 mask = static_cast<__mmask16>((1u << n) - 1);
      const float* base = wo + c * sc;
      __m512 t[9];
      for (int k = 0; k < 9; ++k)
        t[k] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask, lane,
                                        base + (flipped ? 8 - k : k), 4);
      G6 col[3];  // G g, column j
      for (int j = 0; j < 3; ++j) col[j] = apply_g(t[j], t[3 + j], t[6 + j]);
      for (int a = 0; a < kA; ++a) {
        const G6 row = apply_g(col[0].r[a], col[1].r[a], col[2].r[a]);
        for (int b = 0; b < kA; ++b)
          _mm512_mask_storeu_ps(v + (a * kA + b) * ldv_xi + r * ldv + c, mask, row.r[b]);
      }
    }
  }
}

bool fused_supported() {
  static const bool ok = [] {
    const char* e = std::getenv("CGAN_CPU_CONV");
    if (e && std::string(e) == "winograd-unfused") return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
  }();
  return ok;
}

// Band rows (of n * th tile rows, tw tiles each) for a band budget of max_rows: the largest
// of those that need the fewest 32-tile panels in all, so that little of the kernel's work
// goes to padding tiles.
int64_t fused_band_rows(int64_t rows_all, int64_t tw, int64_t max_rows) {
  int64_t best = 1, best_panels = -1;
  for (int64_t br = 1; br <= max_rows; ++br) {
    const int64_t full = rows_all / br, rest = rows_all % br;
    const int64_t panels = full * ((br * tw + kPanel - 1) / kPanel) +
                           (rest * tw + kPanel - 1) / kPanel;
    if (best_panels < 0 || panels <= best_panels) best = br, best_panels = panels;
  }
  return best;
}

// y = conv(x, w) for the geometry g (stride 1, 3x3), fused as above. The taps of (o, c) are at
// w[o * so + c * sc + k] (k reversed if flipped).
void winograd_fused(float* y, const float* x, const float* w, int64_t so, int64_t sc,
                    bool flipped, const ConvGeom& g, int64_t band_floats) {
  const int64_t th = (g.hy + kM - 1) / kM, tw = (g.wy + kM - 1) / kM;
  const int64_t xhw = g.hx * g.wx, hw = g.hy * g.wy, rows_all = g.n * th;
  // Bands of whole tile rows whose packed input transform is ~band_floats (L2-resident).
  const int64_t max_rows = std::clamp<int64_t>(band_floats / (kXi * g.cx * tw), 1, rows_all);
  const int64_t band_rows = fused_band_rows(rows_all, tw, max_rows);
  const int64_t bands = (rows_all + band_rows - 1) / band_rows;
  const int64_t max_panels = (band_rows * tw + kPanel - 1) / kPanel;
  const int64_t in_buf = input_buf_floats(std::min(band_rows, th), tw);
  const int64_t out_buf = (4 * kA + 4) * tw;
  const int64_t blocks = (g.cy + kRows - 1) / kRows;
  // Strides padded off multiples of 4 KiB: 36 streams that far apart share L1 sets.
  const int64_t v_xi = kRows * g.cx + 16, v_block = kXi * v_xi;
  const int64_t u_xi_max = g.cx * max_panels * kPanel + 16;
  // One band: each block's filter transform is made by the block's task, where it is used.
  // Several: made once for all blocks up front (36 x cy x cx) so that no band repeats it, and
  // the bands run in parallel, each on one thread (the per-band work is too small to split).
  float* v_all = nullptr;
  if (bands > 1) {
    v_all = cpu_scratch(ScratchSlot::WinogradFilterAll, blocks * v_block);
    cpu::parallel_for(blocks, v_block * 4, [&](int64_t b0, int64_t b1) {
      for (int64_t blk = b0; blk < b1; ++blk)
        fused_filter_block(v_all + blk * v_block, v_xi, g.cx, w, blk * kRows,
                           std::min<int64_t>(kRows, g.cy - blk * kRows), g.cx, so, sc, flipped);
    });
  }
  // One band [R0, R1) of tile rows; its parallel_for's run serially inside a band task.
  auto band = [&](int64_t R0, int64_t R1) {
    const int64_t nb = (R1 - R0) * tw;
    const int64_t panels = (nb + kPanel - 1) / kPanel, nbp = panels * kPanel;
    const int64_t s_xi = g.cx * nbp + 16;  // floats per product in u
    float* u = cpu_scratch(ScratchSlot::WinogradInput, kXi * u_xi_max);
    cpu::parallel_for(g.cx, nb * 200, [&](int64_t c0, int64_t c1) {
      float* tmp = cpu_scratch(ScratchSlot::Lowering, kXi * nbp + in_buf);
      float* buf = tmp + kXi * nbp;
      for (int64_t c = c0; c < c1; ++c) {
        for_each_piece(R0, R1, th, tw, [&](int64_t n, int64_t r0, int64_t r1, int64_t col) {
          input_transform_plane(tmp + col, nbp, x + (n * g.cx + c) * xhw, g, r0, r1, tw, buf);
        });
        for (int xi = 0; xi < kXi; ++xi) {
          float* src = tmp + xi * nbp;
          std::fill(src + nb, src + nbp, 0.f);  // padding tiles: zeros, never stored
          for (int64_t p = 0; p < panels; ++p)
            std::copy(src + p * kPanel, src + (p + 1) * kPanel,
                      u + xi * s_xi + (p * g.cx + c) * kPanel);
        }
      }
    });
    cpu::parallel_for(blocks, kXi * 2 * kRows * g.cx * nbp, [&](int64_t b0, int64_t b1) {
      const int64_t m_xi = kRows * nbp + 16;
      float* vbuf = v_all ? nullptr : cpu_scratch(ScratchSlot::WinogradFilter, v_block);
      float* m = cpu_scratch(ScratchSlot::WinogradOutput, kXi * m_xi + out_buf);
      float* obuf = m + kXi * m_xi;
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t o0 = blk * kRows, rows = std::min<int64_t>(kRows, g.cy - o0);
        const float* v = v_all ? v_all + blk * v_block : vbuf;
        if (!v_all)
          fused_filter_block(vbuf, v_xi, g.cx, w, o0, rows, g.cx, so, sc, flipped);
        for (int xi = 0; xi < kXi; ++xi)
          for (int64_t p = 0; p < panels; ++p)
            fused_kernel_8x32(m + xi * m_xi + p * kPanel, nbp, v + xi * v_xi, g.cx,
                              u + xi * s_xi + p * g.cx * kPanel, g.cx);
        for (int64_t r = 0; r < rows; ++r)
          for_each_piece(R0, R1, th, tw, [&](int64_t n, int64_t r0, int64_t r1, int64_t col) {
            output_transform_plane(y + (n * g.cy + o0 + r) * hw, m + r * nbp + col, m_xi, g, r0,
                                   r1, tw, obuf);
          });
      }
    });
  };
  if (bands == 1) return band(0, rows_all);
  cpu::parallel_for(bands, kXi * 2 * g.cy * g.cx * band_rows * tw, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) band(i * band_rows, std::min(rows_all, (i + 1) * band_rows));
  });
}
#endif


// ---- Filter gradient -----------------------------------------------------------------------
// With V = G g G^T, U = B^T d B and Y = A^T (V .* U) A per tile, dL/dV = sum over tiles of
// (A dY A^T) .* U and dL/dg = G^T (dL/dV) G: 36 GEMMs [cy, tiles] x [tiles, cx] between the
// input transform (as in the forward) and the adjoint output transform of dy, then one 6x6 ->
// 3x3 transform per weight.

// o (6 arrays) = A m (4 arrays of length n): the adjoint of output_at.
inline void adjoint_at(float* const* __restrict o, const float* const* __restrict m, int64_t n) {
  const float *m0 = m[0], *m1 = m[1], *m2 = m[2], *m3 = m[3];
  float *o0 = o[0], *o1 = o[1], *o2 = o[2], *o3 = o[3], *o4 = o[4], *o5 = o[5];
#pragma GCC ivdep
  for (int64_t k = 0; k < n; ++k) {
    const float s02 = m0[k] + m2[k], s13 = m1[k] + m3[k];
    const float t02 = m0[k] + 4 * m2[k], t13 = 2 * m1[k] + 8 * m3[k];
    o0[k] = m0[k];
    o1[k] = s02 + s13;
    o2[k] = s02 - s13;
    o3[k] = t02 + t13;
    o4[k] = t02 - t13;
    o5[k] = m3[k];
  }
}

// r (3 arrays) = G^T d (6 arrays of length n).
inline void filter_gt(float* const* __restrict r, const float* const* __restrict d, int64_t n) {
  const float *d0 = d[0], *d1 = d[1], *d2 = d[2], *d3 = d[3], *d4 = d[4], *d5 = d[5];
  float *r0 = r[0], *r1 = r[1], *r2 = r[2];
#pragma GCC ivdep
  for (int64_t k = 0; k < n; ++k) {
    const float s12 = d1[k] + d2[k], s34 = d3[k] + d4[k];
    r0[k] = d0[k] * (1.f / 4) - s12 * (1.f / 6) + s34 * (1.f / 24);
    r1[k] = (d2[k] - d1[k]) * (1.f / 6) + (d3[k] - d4[k]) * (1.f / 12);
    r2[k] = (s34 - s12) * (1.f / 6) + d5[k];
  }
}

// dw_o[c * 9 + 3i + j] += (G^T dV_c G)[i][j] for c < cx, where dV_c[xi] = dv[xi * xi_stride + c]:
// one output channel's filter gradient from its 36 transformed products, vectorized over c.
// t: (3 * kA + 3) * ld floats (ld >= cx).
void accumulate_filter_gradient(float* dw_o, const float* dv, int64_t xi_stride, int64_t cx,
                                int64_t ld, float* t) {
  float* outj = t + 3 * kA * ld;  // t: [3 i][6 b][ld], outj: [3 j][ld]
  for (int b = 0; b < kA; ++b) {  // G^T down a, column b
    const float* d[kA];
    for (int a = 0; a < kA; ++a) d[a] = dv + (a * kA + b) * xi_stride;
    float* r[3] = {t + b * ld, t + (kA + b) * ld, t + (2 * kA + b) * ld};
    filter_gt(r, d, cx);
  }
  for (int i = 0; i < 3; ++i) {  // row i, times G
    const float* d[kA];
    for (int b = 0; b < kA; ++b) d[b] = t + (i * kA + b) * ld;
    float* r[3] = {outj, outj + ld, outj + 2 * ld};
    filter_gt(r, d, cx);
    float* dwo = dw_o + i * 3;
    for (int64_t c = 0; c < cx; ++c)
      for (int j = 0; j < 3; ++j) dwo[c * 9 + j] += outj[j * ld + c];
  }
}

// The adjoint output transform of one band of tile rows [r0, r1) of one dy plane:
// m[xi * mstride + (ty - r0) * tw + tx] = (A dY A^T)[xi] for the 4x4 block at (4ty, 4tx),
// zeros outside hy x wy. buf: (4 + 6) * 4 * tw + 4 * tw floats.
void adjoint_output_transform_plane(float* m, int64_t mstride, const float* plane,
                                    const ConvGeom& g, int64_t r0, int64_t r1, int64_t tw,
                                    float* buf) {
  const int64_t np = tw;
  float* ph = buf;                  // [4 rows][4 phases][np]
  float* col = ph + 4 * 4 * np;     // [6 a][4 phases][np]
  float* line = col + kA * 4 * np;  // [4 np]
  for (int64_t ty = r0; ty < r1; ++ty) {
    for (int i = 0; i < kM; ++i) {
      float* p = ph + i * 4 * np;
      const int64_t oy = kM * ty + i;
      if (oy >= g.hy) {
        std::fill(p, p + 4 * np, 0.f);
        continue;
      }
      std::fill(line + g.wy, line + 4 * np, 0.f);
      std::copy(plane + oy * g.wy, plane + (oy + 1) * g.wy, line);
      deinterleave4(p, p + np, p + 2 * np, p + 3 * np, line, np);
    }
    const float* src[kM] = {ph, ph + 4 * np, ph + 8 * np, ph + 12 * np};
    float* dst[kA];
    for (int a = 0; a < kA; ++a) dst[a] = col + a * 4 * np;
    adjoint_at(dst, src, 4 * np);  // down the columns, all phases at once
    const int64_t col0 = (ty - r0) * tw;
    for (int a = 0; a < kA; ++a) {
      const float* q[kM];
      for (int r = 0; r < kM; ++r) q[r] = col + (a * 4 + r) * np;
      float* out[kA];
      for (int b = 0; b < kA; ++b) out[b] = m + (a * kA + b) * mstride + col0;
      adjoint_at(out, q, tw);
    }
  }
}

}  // namespace

// Tiles per GEMM below this, and the GEMMs are too narrow to beat im2col: measured on one
// core, 2 x 512 x 8x8 (8 tiles) takes 25 ms by Winograd and 13 ms by im2col, while
// 2 x 256 x 16x16 (32 tiles) takes 8.5 ms and 12.3 ms.
constexpr int64_t kMinTiles = 24;

// Whether the fused path runs a Winograd conv of this (output-side) geometry: where its
// packed input transform is at most 2 bands of the default size and cx <= 256. Measured on one
// and two cores (AVX-512, 2 MiB L2; ms fused vs unfused, 1 core): 2x256x16x16 1.8 vs 2.7,
// 2x128x32x32 2.0 vs 2.4; beyond that the filter transform, read back per band, makes it
// slower: 2x256x32x32 6.8 vs 6.4, 1x256x115x87 43 vs 28, 2x512x16x16 17.8 vs 13.6.
bool use_fused(const ConvGeom& g) {
  if (!winograd_fused_available() || g.cx > 256) return false;
  const int64_t tiles = output_tiles(g);
  const int64_t padded = (tiles + 31) / 32 * 32;
  return kXi * g.cx * padded <= 2 * kWinogradFusedBandFloats;
}

bool winograd_applicable(const ConvGeom& g) {
  static const bool disabled = [] {
    const char* e = std::getenv("CGAN_CPU_CONV");
    return e && std::string(e) == "im2col";
  }();
  const int64_t tiles = output_tiles(g);
  return !disabled && g.kh == 3 && g.kw == 3 && g.stride == 1 && g.cx >= 16 && g.cy >= 16 &&
         tiles >= kMinTiles;
}

bool winograd_fused_available() {
#if defined(CGAN_WINOGRAD_FUSED)
  return fused_supported();
#else
  return false;
#endif
}

void cpu_conv_x2y_winograd_fused(float* y, const float* x, const float* w, const ConvGeom& g,
                                 int64_t band_floats) {
#if defined(CGAN_WINOGRAD_FUSED)
  if (fused_supported()) return winograd_fused(y, x, w, g.cx * 9, 9, false, g, band_floats);
#endif
  cpu_conv_x2y_winograd_unfused(y, x, w, g);
}

void cpu_conv_y2x_winograd_fused(float* x, const float* y, const float* w, const ConvGeom& g,
                                 int64_t band_floats) {
  const ConvGeom t = flipped_geometry(g);
#if defined(CGAN_WINOGRAD_FUSED)
  if (fused_supported()) return winograd_fused(x, y, w, 9, g.cx * 9, true, t, band_floats);
#endif
  cpu_conv_y2x_winograd_unfused(x, y, w, g);
}

void cpu_conv_x2y_winograd(float* y, const float* x, const float* w, const ConvGeom& g,
                           int64_t band_floats, const ConvGeom* plan) {
  if (use_fused(plan ? *plan : g)) return cpu_conv_x2y_winograd_fused(y, x, w, g);
  cpu_conv_x2y_winograd_unfused(y, x, w, g, band_floats);
}

void cpu_conv_x2y_winograd_unfused(float* y, const float* x, const float* w, const ConvGeom& g,
                           int64_t band_floats) {
  const int64_t th = (g.hy + kM - 1) / kM, tw = (g.wy + kM - 1) / kM;
  const int64_t xhw = g.hx * g.wx, hw = g.hy * g.wy;
  // Bands of whole tile rows, ~band_floats of transformed input and output together. The
  // images of a batch are one sequence of n * th tile rows, so that small images (training
  // crops: 16x16 maps are 16 tiles) still give the GEMMs enough columns.
  const int64_t per_tile = kXi * (g.cx + g.cy), rows_all = g.n * th;
  const int64_t band_rows =
      std::clamp<int64_t>(band_floats / (per_tile * tw), 1, rows_all);
  const int64_t nb_max = band_rows * tw;
  float* v = cpu_scratch(ScratchSlot::WinogradFilter, kXi * g.cy * g.cx);
  float* u = cpu_scratch(ScratchSlot::WinogradInput, kXi * g.cx * nb_max);
  float* m = cpu_scratch(ScratchSlot::WinogradOutput, kXi * g.cy * nb_max);
  winograd_filter(v, w, g.cy, g.cx);
  // Per-task row buffers: input (input_buf_floats), output [4][6][tw] + [4][tw].
  const int64_t in_buf = input_buf_floats(std::min(band_rows, th), tw);
  const int64_t out_buf = (4 * kA + 4) * tw;
  for (int64_t R0 = 0; R0 < rows_all; R0 += band_rows) {
    const int64_t R1 = std::min(rows_all, R0 + band_rows), nb = (R1 - R0) * tw;
    const int64_t s_in = g.cx * nb, s_out = g.cy * nb;  // strides between the 36 matrices
    cpu::parallel_for(g.cx, nb * 150, [&](int64_t c0, int64_t c1) {
      std::vector<float> buf(static_cast<size_t>(in_buf));
      for (int64_t c = c0; c < c1; ++c)
        for_each_piece(R0, R1, th, tw, [&](int64_t n, int64_t r0, int64_t r1, int64_t col) {
          input_transform_plane(u + c * nb + col, s_in, x + (n * g.cx + c) * xhw, g, r0, r1,
                                tw, buf.data());
        });
    });
    // m[xi] [cy, nb] = v[xi] [cy, cx] * u[xi] [cx, nb]: the 36 products over the pool.
    cpu::parallel_for(kXi, 2 * g.cy * g.cx * nb, [&](int64_t x0, int64_t x1) {
      for (int64_t xi = x0; xi < x1; ++xi)
        cpu_gemm(false, false, g.cy, nb, g.cx, v + xi * g.cy * g.cx, g.cx, u + xi * s_in, nb,
                 0.f, m + xi * s_out, nb);
    });
    cpu::parallel_for(g.cy, nb * 100, [&](int64_t o0, int64_t o1) {
      std::vector<float> buf(static_cast<size_t>(out_buf));
      for (int64_t o = o0; o < o1; ++o)
        for_each_piece(R0, R1, th, tw, [&](int64_t n, int64_t r0, int64_t r1, int64_t col) {
          output_transform_plane(y + (n * g.cy + o) * hw, m + o * nb + col, s_out, g, r0, r1,
                                 tw, buf.data());
        });
    });
  }
}

bool winograd_applicable_y2x(const ConvGeom& g) {
  return winograd_applicable(g) && winograd_applicable(flipped_geometry(g)) && g.pad <= 2;
}

// The input gradient of a stride-1 3x3 conv is a Winograd conv of dy (flipped_geometry).
void cpu_conv_y2x_winograd(float* x, const float* y, const float* w, const ConvGeom& g,
                           int64_t band_floats, const ConvGeom* plan) {
  if (use_fused(flipped_geometry(plan ? *plan : g))) return cpu_conv_y2x_winograd_fused(x, y, w, g);
  cpu_conv_y2x_winograd_unfused(x, y, w, g, band_floats);
}

void cpu_conv_y2x_winograd_unfused(float* x, const float* y, const float* w, const ConvGeom& g,
                           int64_t band_floats) {
  float* flipped = cpu_scratch(ScratchSlot::FlippedKernel, g.cx * g.cy * 9);
  for (int64_t o = 0; o < g.cy; ++o)
    for (int64_t c = 0; c < g.cx; ++c)
      for (int k = 0; k < 9; ++k) flipped[(c * g.cy + o) * 9 + (8 - k)] = w[(o * g.cx + c) * 9 + k];
  cpu_conv_x2y_winograd_unfused(x, y, flipped, flipped_geometry(g), band_floats);
}

}  // namespace cgan::detail

namespace cgan::detail {

bool winograd_applicable_filter(const ConvGeom& g) { return winograd_applicable(g); }

#if defined(CGAN_WINOGRAD_FUSED)
namespace {
// The filter gradient of a small map, fused like the forward: the 36 products per block of 8
// output channels, dV[xi] [8, cx] = dM[xi] [8, tiles] x U[xi]^T [tiles, cx], by the same 8x32
// kernel (rows: output channels of dM, columns: 32-channel panels of U packed [tile][32]),
// and G^T dV G into dw while dV is in cache: the 36 x cy x cx products (9.4 MB for 256
// channels) are never written out. All tiles in one band.
bool use_fused_filter(const ConvGeom& g) {
  if (!winograd_fused_available() || g.cx > 256) return false;
  const int64_t tiles = output_tiles(g);
  const int64_t cxp = (g.cx + kPanel - 1) / kPanel * kPanel;
  return kXi * (cxp + g.cy) * tiles <= 2 * kWinogradFusedBandFloats;
}

void winograd_filter_fused(float* dw, const float* x, const float* dy, const ConvGeom& g) {
  const int64_t th = (g.hy + kM - 1) / kM, tw = (g.wy + kM - 1) / kM;
  const int64_t xhw = g.hx * g.wx, hw = g.hy * g.wy, rows_all = g.n * th, T = rows_all * tw;
  const int64_t cxp = (g.cx + kPanel - 1) / kPanel * kPanel, panels = cxp / kPanel;
  const int64_t blocks = (g.cy + kRows - 1) / kRows;
  // Strides off multiples of 4 KiB (see the forward).
  const int64_t s_u = cxp * T + 16, s_m = g.cy * T + 16, dv_xi = kRows * cxp + 16;
  float* u = cpu_scratch(ScratchSlot::WinogradInput, kXi * s_u);  // [36][panel][T][32]
  // [36][cy][T], and 8 rows more: the last block's kernel rows past cy read zeros there.
  float* m = cpu_scratch(ScratchSlot::WinogradOutput, kXi * s_m + kRows * T);
  std::fill(m + kXi * s_m, m + kXi * s_m + kRows * T, 0.f);
  const int64_t in_buf = input_buf_floats(th, tw), adj_buf = (4 + kA) * 4 * tw + 4 * tw;
  cpu::parallel_for(cxp + g.cy, T * 200, [&](int64_t c0, int64_t c1) {
    float* tmp = cpu_scratch(ScratchSlot::Lowering, kXi * T + std::max(in_buf, adj_buf));
    float* buf = tmp + kXi * T;
    for (int64_t c = c0; c < c1; ++c) {
      if (c < cxp) {
        float* dst = u + (c / kPanel) * T * kPanel + c % kPanel;
        if (c >= g.cx) {  // padding channel: zeros, never stored
          for (int xi = 0; xi < kXi; ++xi)
            for (int64_t t = 0; t < T; ++t) dst[xi * s_u + t * kPanel] = 0.f;
          continue;
        }
        for_each_piece(0, rows_all, th, tw, [&](int64_t n, int64_t r0, int64_t r1, int64_t col) {
          input_transform_plane(tmp + col, T, x + (n * g.cx + c) * xhw, g, r0, r1, tw, buf);
        });
        for (int xi = 0; xi < kXi; ++xi)
          for (int64_t t = 0; t < T; ++t) dst[xi * s_u + t * kPanel] = tmp[xi * T + t];
      } else {
        const int64_t o = c - cxp;
        for_each_piece(0, rows_all, th, tw, [&](int64_t n, int64_t r0, int64_t r1, int64_t col) {
          adjoint_output_transform_plane(m + o * T + col, s_m, dy + (n * g.cy + o) * hw, g, r0,
                                         r1, tw, buf);
        });
      }
    }
  });
  cpu::parallel_for(blocks, kXi * 2 * kRows * cxp * T, [&](int64_t b0, int64_t b1) {
    float* dv = cpu_scratch(ScratchSlot::WinogradFilter, kXi * dv_xi + (3 * kA + 3) * cxp);
    float* t3 = dv + kXi * dv_xi;
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t o0 = blk * kRows, rows = std::min<int64_t>(kRows, g.cy - o0);
      for (int xi = 0; xi < kXi; ++xi)
        for (int64_t p = 0; p < panels; ++p)
          fused_kernel_8x32(dv + xi * dv_xi + p * kPanel, cxp, m + xi * s_m + o0 * T, T,
                            u + xi * s_u + p * T * kPanel, T);
      for (int64_t r = 0; r < rows; ++r)
        accumulate_filter_gradient(dw + (o0 + r) * g.cx * 9, dv + r * cxp, dv_xi, g.cx, cxp, t3);
    }
  });
}
}  // namespace
#endif

void cpu_conv_filter_winograd_fused(float* dw, const float* x, const float* dy, const ConvGeom& g) {
#if defined(CGAN_WINOGRAD_FUSED)
  if (fused_supported()) return winograd_filter_fused(dw, x, dy, g);
#endif
  cpu_conv_filter_winograd_unfused(dw, x, dy, g);
}

void cpu_conv_filter_winograd(float* dw, const float* x, const float* dy, const ConvGeom& g,
                              int64_t band_floats) {
#if defined(CGAN_WINOGRAD_FUSED)
  if (use_fused_filter(g)) return winograd_filter_fused(dw, x, dy, g);
#endif
  cpu_conv_filter_winograd_unfused(dw, x, dy, g, band_floats);
}

void cpu_conv_filter_winograd_unfused(float* dw, const float* x, const float* dy,
                                      const ConvGeom& g, int64_t band_floats) {
  const int64_t th = (g.hy + kM - 1) / kM, tw = (g.wy + kM - 1) / kM;
  const int64_t xhw = g.hx * g.wx, hw = g.hy * g.wy, rows_all = g.n * th;
  const int64_t per_tile = kXi * (g.cx + g.cy);
  const int64_t band_rows = std::clamp<int64_t>(band_floats / (per_tile * tw), 1, rows_all);
  const int64_t nb_max = band_rows * tw, oc = g.cy * g.cx;
  float* u = cpu_scratch(ScratchSlot::WinogradInput, kXi * g.cx * nb_max);
  float* m = cpu_scratch(ScratchSlot::WinogradOutput, kXi * g.cy * nb_max);
  float* dv = cpu_scratch(ScratchSlot::WinogradFilter, kXi * oc);  // [36][cy][cx]
  const int64_t in_buf = input_buf_floats(std::min(band_rows, th), tw);
  const int64_t adj_buf = (4 + kA) * 4 * tw + 4 * tw;
  for (int64_t R0 = 0; R0 < rows_all; R0 += band_rows) {
    const int64_t R1 = std::min(rows_all, R0 + band_rows), nb = (R1 - R0) * tw;
    const int64_t s_in = g.cx * nb, s_out = g.cy * nb;
    cpu::parallel_for(g.cx + g.cy, nb * 150, [&](int64_t c0, int64_t c1) {
      float* buf = cpu_scratch(ScratchSlot::Lowering, std::max(in_buf, adj_buf));
      for (int64_t c = c0; c < c1; ++c)
        for_each_piece(R0, R1, th, tw, [&](int64_t n, int64_t r0, int64_t r1, int64_t col) {
          if (c < g.cx)
            input_transform_plane(u + c * nb + col, s_in, x + (n * g.cx + c) * xhw, g, r0, r1,
                                  tw, buf);
          else
            adjoint_output_transform_plane(m + (c - g.cx) * nb + col, s_out,
                                           dy + (n * g.cy + c - g.cx) * hw, g, r0, r1, tw, buf);
        });
    });
    // dv[xi] [cy, cx] (+)= m[xi] [cy, nb] * u[xi]^T [nb, cx]
    const float beta = R0 == 0 ? 0.f : 1.f;
    cpu::parallel_for(kXi, 2 * oc * nb, [&](int64_t x0, int64_t x1) {
      for (int64_t xi = x0; xi < x1; ++xi)
        cpu_gemm(false, true, g.cy, g.cx, nb, m + xi * s_out, nb, u + xi * s_in, nb, beta,
                 dv + xi * oc, g.cx);
    });
  }
  // dw[o][c] += G^T dv[o][c] G, vectorized over c.
  cpu::parallel_for(g.cy, g.cx * 200, [&](int64_t o0, int64_t o1) {
    float* t = cpu_scratch(ScratchSlot::FlippedKernel, (3 * kA + 3) * g.cx);
    for (int64_t o = o0; o < o1; ++o)
      accumulate_filter_gradient(dw + o * g.cx * 9, dv + o * g.cx, oc, g.cx, g.cx, t);
  });
}

}  // namespace cgan::detail
