#pragma once
// Index arithmetic of kernels/act_pad.*, shared by the CUDA kernels and the CPU reference.
#include <cstdint>

#ifdef __CUDACC__
#define CGAN_ACT_PAD_FN __host__ __device__ __forceinline__
#else
#define CGAN_ACT_PAD_FN inline
#endif

namespace cgan::detail {

// PyTorch's reflection: -1 -> 1, n -> n - 2.
CGAN_ACT_PAD_FN int pad_reflect(int i, int n) {
  if (i < 0) return -i;
  if (i >= n) return 2 * (n - 1) - i;
  return i;
}

// The padded coordinates (along one axis) that read coordinate h of an axis of length n
// padded by p, ascending: p - h (when 1 <= h <= p), h + p, 2(n - 1) - h + p (when that
// reflects back to h). Returns how many (1..3).
CGAN_ACT_PAD_FN int pad_sources(int h, int n, int p, int (&o)[3]) {
  int k = 0;
  if (h > 0 && h <= p) o[k++] = p - h;
  o[k++] = h + p;
  const int i = 2 * (n - 1) - h;
  if (i >= n && i <= n - 1 + p) o[k++] = i + p;
  return k;
}

// Element (n, c, h, w) of a [N, C, H, W] map stored NCHW or NHWC.
CGAN_ACT_PAD_FN int64_t map_index(int64_t n, int64_t c, int64_t h, int64_t w, int64_t C,
                                  int64_t H, int64_t W, bool nhwc) {
  return nhwc ? ((n * H + h) * W + w) * C + c : ((n * C + c) * H + h) * W + w;
}

// The coordinates of flat index i of such a map.
CGAN_ACT_PAD_FN void map_coords(int64_t i, int64_t C, int64_t H, int64_t W, bool nhwc,
                                int64_t& n, int64_t& c, int64_t& h, int64_t& w) {
  if (nhwc) {
    c = i % C;
    int64_t r = i / C;
    w = r % W;
    r /= W;
    h = r % H;
    n = r / H;
  } else {
    w = i % W;
    int64_t r = i / W;
    h = r % H;
    r /= H;
    c = r % C;
    n = r / C;
  }
}

// slope 0 is ReLU exactly as the unfused op computes it: +0 (not slope * z = -0) below zero.
CGAN_ACT_PAD_FN float act_slope(float z, float slope) {
  return z > 0.f ? z : slope != 0.f ? slope * z : 0.f;
}
CGAN_ACT_PAD_FN float act_slope_grad(float g, float y, float slope) {
  return y > 0.f ? g : slope != 0.f ? slope * g : 0.f;
}

}  // namespace cgan::detail
