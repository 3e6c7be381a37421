#include "kernels/channel_affine3.hpp"

namespace cgan::cpu {

void channel_affine3(float* out, const float* in, kernels::Affine3 f, bool flip, int64_t N,
                     int64_t HW) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < HW; ++i) {
      const float* x = in + n * 3 * HW + i;
      const float v[3] = {x[0], x[HW], x[2 * HW]};  // read all first: out may alias in
      for (int c = 0; c < 3; ++c)
        out[(n * 3 + c) * HW + i] = v[flip ? 2 - c : c] * f.mul[c] + f.add[c];
    }
}

void channel_affine3_backward(float* d_in, const float* d_out, kernels::Affine3 f, bool flip,
                              int64_t N, int64_t HW) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < HW; ++i) {
      const float* g = d_out + n * 3 * HW + i;
      const float v[3] = {g[0] * f.mul[0], g[HW] * f.mul[1], g[2 * HW] * f.mul[2]};
      for (int c = 0; c < 3; ++c) d_in[(n * 3 + (flip ? 2 - c : c)) * HW + i] = v[c];
    }
}

}  // namespace cgan::cpu
