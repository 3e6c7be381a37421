#include "kernels/bias.hpp"

namespace cgan::cpu {

void bias_add_inplace(float* x, const float* bias, int64_t N, int64_t C, int64_t HW) {
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      float* p = x + (n * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) p[i] += bias[c];
    }
}

void bias_backward(float* d_bias, const float* d_out, int64_t N, int64_t C, int64_t HW) {
  for (int64_t c = 0; c < C; ++c) {
    double s = 0;
    for (int64_t n = 0; n < N; ++n) {
      const float* p = d_out + (n * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) s += p[i];
    }
    d_bias[c] += static_cast<float>(s);
  }
}

}  // namespace cgan::cpu
