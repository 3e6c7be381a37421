#include <cmath>
#include <vector>

#include "kernels/cpu_parallel.hpp"
#include "kernels/instance_norm.hpp"

namespace cgan::cpu {

using kernels::NormAct;

namespace {
float activate(float z, NormAct act, float slope) {
  if (act == NormAct::ReLU) return z > 0.f ? z : 0.f;
  if (act == NormAct::LeakyReLU) return z > 0.f ? z : slope * z;
  return z;
}
// Derivative of the activation read from its output: y > 0 <=> z > 0 (for slope > 0).
float act_grad(float y, NormAct act, float slope) {
  if (act == NormAct::ReLU) return y > 0.f ? 1.f : 0.f;
  if (act == NormAct::LeakyReLU) return y > 0.f ? 1.f : slope;
  return 1.f;
}
}  // namespace

void instance_norm_forward(float* out, float* mean, float* rstd, const float* in,
                           const float* scale, const float* shift, const float* residual,
                           int64_t N, int64_t C, int64_t HW, float eps, NormAct act,
                           float slope) {
  // Channels are split over the cores; each plane is computed exactly as in a serial loop.
  cpu::parallel_for(C, N * HW * 16, [&](int64_t c0, int64_t c1) {
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t c = c0; c < c1; ++c) {
        const int64_t p = n * C + c;
        const float* x = in + p * HW;
        double s = 0;
        for (int64_t i = 0; i < HW; ++i) s += x[i];
        const double mu = s / double(HW);
        double q = 0;
        for (int64_t i = 0; i < HW; ++i) q += (x[i] - mu) * (x[i] - mu);
        const double var = q / double(HW);
        const float m = static_cast<float>(mu);
        const float r = static_cast<float>(1.0 / std::sqrt(var + double(eps)));
        mean[p] = m;
        rstd[p] = r;
        const float g = scale ? scale[c] : 1.f;
        const float b = shift ? shift[c] : 0.f;
        float* y = out + p * HW;
        const float* res = residual ? residual + p * HW : nullptr;
        for (int64_t i = 0; i < HW; ++i) {
          float z = (x[i] - m) * r * g + b;
          if (res) z += res[i];
          y[i] = activate(z, act, slope);
        }
      }
    }
  });
}

void instance_norm_backward(float* d_in, float* d_scale, float* d_shift, const float* d_out,
                            const float* in, const float* mean, const float* rstd,
                            const float* scale, const float* out, int64_t N, int64_t C,
                            int64_t HW, NormAct act, float slope) {
  // Split over channels (not planes), so that d_scale[c] and d_shift[c] are accumulated by one
  // thread in the serial order n = 0, 1, ...: bit-identical to a serial loop.
  cpu::parallel_for(C, N * HW * 24, [&](int64_t c0, int64_t c1) {
    std::vector<float> g(static_cast<size_t>(HW));
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t c = c0; c < c1; ++c) {
        const int64_t p = n * C + c;
        const float* x = in + p * HW;
        const float* dy = d_out + p * HW;
        const float* y = out ? out + p * HW : nullptr;
        const float m = mean[p], r = rstd[p];
        // dL/dz (before the activation), and the two plane sums the input gradient needs.
        double sum_g = 0, sum_gx = 0;
        for (int64_t i = 0; i < HW; ++i) {
          const float gi = act == NormAct::None ? dy[i] : dy[i] * act_grad(y[i], act, slope);
          g[static_cast<size_t>(i)] = gi;
          sum_g += gi;
          sum_gx += double(gi) * double((x[i] - m) * r);
        }
        if (d_shift) d_shift[c] += static_cast<float>(sum_g);
        if (d_scale) d_scale[c] += static_cast<float>(sum_gx);
        // d_in = scale * rstd * (g - mean(g) - xhat * mean(g * xhat))
        const float k = (scale ? scale[c] : 1.f) * r;
        const float mg = static_cast<float>(sum_g / double(HW));
        const float mgx = static_cast<float>(sum_gx / double(HW));
        float* dx = d_in + p * HW;
        for (int64_t i = 0; i < HW; ++i) {
          const float xhat = (x[i] - m) * r;
          dx[i] = k * (g[static_cast<size_t>(i)] - mg - xhat * mgx);
        }
      }
    }
  });
}

void plane_moments(double* mean, double* m2, const float* in, int64_t planes, int64_t HW) {
  cpu::parallel_for(planes, HW * 4, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const float* x = in + p * HW;
      double s = 0;
      for (int64_t i = 0; i < HW; ++i) s += x[i];
      const double mu = HW > 0 ? s / double(HW) : 0.0;
      double q = 0;
      for (int64_t i = 0; i < HW; ++i) q += (x[i] - mu) * (x[i] - mu);
      mean[p] = mu;
      m2[p] = q;
    }
  });
}

void instance_norm_apply(float* out, const float* in, const float* mean, const float* rstd,
                         const float* scale, const float* shift, const float* residual,
                         int64_t N, int64_t C, int64_t HW, NormAct act, float slope) {
  cpu::parallel_for(N * C, HW * 4, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t c = p % C;
      const float m = mean[p], r = rstd[p];
      const float g = scale ? scale[c] : 1.f;
      const float b = shift ? shift[c] : 0.f;
      const float* x = in + p * HW;
      const float* res = residual ? residual + p * HW : nullptr;
      float* y = out + p * HW;
      for (int64_t i = 0; i < HW; ++i) {  // the arithmetic of instance_norm_forward
        float z = (x[i] - m) * r * g + b;
        if (res) z += res[i];
        y[i] = activate(z, act, slope);
      }
    }
  });
}

}  // namespace cgan::cpu
