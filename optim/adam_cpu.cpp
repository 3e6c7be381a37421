#include <cmath>

#include "kernels/cpu_parallel.hpp"
#include "optim/adam_impl.hpp"

namespace cgan::cpu {

void adam_step(float* params, float* m, float* v, const float* grads, int64_t n,
               AdamHyper* h) {
  const int t = h->step + 1;
  // As torch: bias corrections in double, then the per-element math in float.
  const double bc1 = 1.0 - std::pow(double(h->beta1), t);
  const double bc2 = 1.0 - std::pow(double(h->beta2), t);
  const float step_size = static_cast<float>(h->lr / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  const float b1 = h->beta1, b2 = h->beta2, eps = h->eps, wd = h->weight_decay;
  // Elementwise: threads over disjoint ranges give the same bits as the serial loop.
  parallel_for(n, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float g = grads[i] + wd * params[i];
      m[i] = b1 * m[i] + (1.f - b1) * g;
      v[i] = b2 * v[i] + (1.f - b2) * g * g;
      const float denom = std::sqrt(v[i]) / bc2_sqrt + eps;
      params[i] -= step_size * m[i] / denom;
    }
  });
  h->step = t;
}

}  // namespace cgan::cpu
