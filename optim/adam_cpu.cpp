#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include <cmath>

#include "cgan/dtype.hpp"
#include "kernels/cpu_parallel.hpp"
#include "optim/adam_impl.hpp"

namespace cgan::cpu {

namespace {

// Subnormal moments flushed to zero while Adam runs (MXCSR FTZ + DAZ, restored after): on x86
// every arithmetic operation on a subnormal takes a microcode assist (~100 cycles), and the
// second moment g*g of the many tiny gradients of a deep generator is subnormal often enough
// that this loop took 20% of a CPU training step. What is lost is below any weight's
// resolution: a subnormal m (< 1.2e-38) moves a parameter by at most lr * m / eps ~ 1e-34.
// (Elsewhere than x86 nothing is changed.)
class FlushSubnormals {
 public:
#if defined(__SSE2__)
  FlushSubnormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040u); }
  ~FlushSubnormals() { _mm_setcsr(saved_); }
#else
  FlushSubnormals() = default;
#endif
  FlushSubnormals(const FlushSubnormals&) = delete;
  FlushSubnormals& operator=(const FlushSubnormals&) = delete;

 private:
  unsigned saved_ = 0;
};

}  // namespace

void write_bf16_mirror(const float* params, int64_t n, Bf16Mirror mr) {
  if (!mr.out) return;
  parallel_for(n, 8, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      mr.out[mirror_index(i, mr.segs, mr.nseg)] = float_to_bf16(params[i]);
  });
}

void adam_step(float* params, float* m, float* v, const float* grads, int64_t n,
               AdamHyper* h, Bf16Mirror mirror) {
  const int t = h->step + 1;
  // As torch: bias corrections in double, then the per-element math in float.
  const double bc1 = 1.0 - std::pow(double(h->beta1), t);
  const double bc2 = 1.0 - std::pow(double(h->beta2), t);
  const float step_size = static_cast<float>(h->lr / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  const float b1 = h->beta1, b2 = h->beta2, eps = h->eps, wd = h->weight_decay;
  // Elementwise: threads over disjoint ranges give the same bits as the serial loop, and the
  // 4-wide loop the same bits as the scalar tail (the same IEEE operations in the same order,
  // as long as the compiler does not contract the tail's a*b+c into FMAs: no -mfma here).
  parallel_for(n, 16, [&](int64_t begin, int64_t end) {
    const FlushSubnormals ftz;
    float* __restrict p = params;
    float* __restrict mm = m;
    float* __restrict vv = v;
    const float* __restrict gg = grads;
    int64_t i = begin;
#if defined(__SSE2__)
    const __m128 B1 = _mm_set1_ps(b1), B1c = _mm_set1_ps(1.f - b1), B2 = _mm_set1_ps(b2),
                 B2c = _mm_set1_ps(1.f - b2), WD = _mm_set1_ps(wd), EPS = _mm_set1_ps(eps),
                 BC2 = _mm_set1_ps(bc2_sqrt), STEP = _mm_set1_ps(step_size);
    for (; i + 4 <= end; i += 4) {
      const __m128 pi = _mm_loadu_ps(p + i);
      const __m128 g = _mm_add_ps(_mm_loadu_ps(gg + i), _mm_mul_ps(WD, pi));
      const __m128 mi = _mm_add_ps(_mm_mul_ps(B1, _mm_loadu_ps(mm + i)), _mm_mul_ps(B1c, g));
      const __m128 vi = _mm_add_ps(_mm_mul_ps(B2, _mm_loadu_ps(vv + i)),
                                   _mm_mul_ps(_mm_mul_ps(B2c, g), g));
      _mm_storeu_ps(mm + i, mi);
      _mm_storeu_ps(vv + i, vi);
      const __m128 denom = _mm_add_ps(_mm_div_ps(_mm_sqrt_ps(vi), BC2), EPS);
      _mm_storeu_ps(p + i, _mm_sub_ps(pi, _mm_div_ps(_mm_mul_ps(STEP, mi), denom)));
    }
#endif
    for (; i < end; ++i) {
      const float g = gg[i] + wd * p[i];
      mm[i] = b1 * mm[i] + (1.f - b1) * g;
      vv[i] = b2 * vv[i] + (1.f - b2) * g * g;
      const float denom = std::sqrt(vv[i]) / bc2_sqrt + eps;
      p[i] -= step_size * mm[i] / denom;
    }
  });
  write_bf16_mirror(params, n, mirror);
  h->step = t;
}

}  // namespace cgan::cpu
