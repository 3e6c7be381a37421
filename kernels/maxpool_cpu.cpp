#include <algorithm>
#include <cmath>

#include "kernels/maxpool.hpp"

namespace cgan::cpu {

namespace {
// Index (0..3, row-major) of the window's first maximum; a NaN counts as the maximum.
int argmax4(const float v[4]) {
  int best = 0;
  for (int k = 1; k < 4; ++k)
    if (!std::isnan(v[best]) && (v[k] > v[best] || std::isnan(v[k]))) best = k;
  return best;
}
}  // namespace

void maxpool2x2_forward(float* out, const float* in, int64_t planes, int H, int W) {
  const int OH = H / 2, OW = W / 2;
  for (int64_t p = 0; p < planes; ++p)
    for (int oh = 0; oh < OH; ++oh)
      for (int ow = 0; ow < OW; ++ow) {
        const float* r0 = in + (p * H + 2 * oh) * W + 2 * ow;
        const float v[4] = {r0[0], r0[1], r0[W], r0[W + 1]};
        out[(p * OH + oh) * OW + ow] = v[argmax4(v)];
      }
}

void maxpool2x2_backward(float* d_in, const float* d_out, const float* in, int64_t planes,
                         int H, int W) {
  const int OH = H / 2, OW = W / 2;
  std::fill(d_in, d_in + planes * H * W, 0.f);
  for (int64_t p = 0; p < planes; ++p)
    for (int oh = 0; oh < OH; ++oh)
      for (int ow = 0; ow < OW; ++ow) {
        const int64_t base = (p * H + 2 * oh) * W + 2 * ow;
        const float v[4] = {in[base], in[base + 1], in[base + W], in[base + W + 1]};
        const int k = argmax4(v);
        d_in[base + (k / 2) * W + (k % 2)] = d_out[(p * OH + oh) * OW + ow];
      }
}

}  // namespace cgan::cpu
