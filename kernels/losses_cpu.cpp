#include <cmath>

#include "kernels/losses.hpp"

namespace cgan::cpu {

void mse_const_loss(float* loss, float* d_pred, const float* pred, float target,
                    float grad_scale, int64_t n) {
  double s = 0;
  const float k = grad_scale * 2.f / static_cast<float>(n);
  for (int64_t i = 0; i < n; ++i) {
    const float d = pred[i] - target;
    s += double(d) * d;
    if (d_pred) d_pred[i] = k * d;
  }
  loss[0] = n > 0 ? static_cast<float>(s / double(n)) : 0.f;
}

void l1_loss(float* loss, float* d_a, const float* a, const float* b, float grad_scale,
             int64_t n) {
  double s = 0;
  const float k = grad_scale / static_cast<float>(n);
  for (int64_t i = 0; i < n; ++i) {
    const float d = a[i] - b[i];
    s += std::fabs(d);
    if (d_a) d_a[i] = d > 0.f ? k : (d < 0.f ? -k : 0.f);
  }
  loss[0] = n > 0 ? static_cast<float>(s / double(n)) : 0.f;
}

}  // namespace cgan::cpu
