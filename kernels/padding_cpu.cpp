#include <algorithm>

#include "kernels/cpu_parallel.hpp"
#include "kernels/padding.hpp"

namespace cgan::cpu {

namespace {
int reflect(int i, int n) {
  if (i < 0) i = -i;
  if (i >= n) i = 2 * (n - 1) - i;
  return i;
}
}  // namespace

void reflection_pad_forward(float* out, const float* in, int64_t planes, int H, int W, int top,
                            int bottom, int left, int right) {
  const int OH = H + top + bottom, OW = W + left + right;
  parallel_for(planes, OH * OW, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p)
      for (int oh = 0; oh < OH; ++oh)
        for (int ow = 0; ow < OW; ++ow)
          out[(p * OH + oh) * OW + ow] =
              in[(p * H + reflect(oh - top, H)) * W + reflect(ow - left, W)];
  });
}

void reflection_pad_backward(float* d_in, const float* d_out, int64_t planes, int H, int W,
                             int top, int bottom, int left, int right) {
  const int OH = H + top + bottom, OW = W + left + right;
  parallel_for(planes, 2 * OH * OW, [&](int64_t p0, int64_t p1) {  // planes are independent
    std::fill(d_in + p0 * H * W, d_in + p1 * H * W, 0.f);
    for (int64_t p = p0; p < p1; ++p)
      for (int oh = 0; oh < OH; ++oh)
        for (int ow = 0; ow < OW; ++ow)
          d_in[(p * H + reflect(oh - top, H)) * W + reflect(ow - left, W)] +=
              d_out[(p * OH + oh) * OW + ow];
  });
}

void zero_pad_forward(float* out, const float* in, int64_t planes, int H, int W, int top,
                      int bottom, int left, int right) {
  const int OH = H + top + bottom, OW = W + left + right;
  for (int64_t p = 0; p < planes; ++p)
    for (int oh = 0; oh < OH; ++oh)
      for (int ow = 0; ow < OW; ++ow) {
        const int ih = oh - top, iw = ow - left;
        const bool inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
        out[(p * OH + oh) * OW + ow] = inside ? in[(p * H + ih) * W + iw] : 0.f;
      }
}

void zero_pad_backward(float* d_in, const float* d_out, int64_t planes, int H, int W, int top,
                       int bottom, int left, int right) {
  const int OH = H + top + bottom, OW = W + left + right;
  for (int64_t p = 0; p < planes; ++p)
    for (int h = 0; h < H; ++h)
      for (int w = 0; w < W; ++w)
        d_in[(p * H + h) * W + w] = d_out[(p * OH + h + top) * OW + w + left];
}

}  // namespace cgan::cpu
