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
// Plane sums in double over 8 independent partial sums (a single running sum is one long
// dependency chain that the compiler may not reorder: 4 cycles per element), then added in a
// fixed order: the same result for any thread count.
constexpr int kLanes = 8;
double plane_sum(const float* x, int64_t n) {
  double acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += double(x[i + j]);
  for (; i < n; ++i) acc[0] += double(x[i]);
  double s = 0;
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  return s;
}
// sum of (x - mu)^2
double plane_sq_dev(const float* x, int64_t n, double mu) {
  double acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) {
      const double d = double(x[i + j]) - mu;
      acc[j] += d * d;
    }
  for (; i < n; ++i) acc[0] += (double(x[i]) - mu) * (double(x[i]) - mu);
  double s = 0;
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  return s;
}
// sum of g and of g * (x - m) * r
void plane_sums_g(double& sum_g, double& sum_gx, const float* g, const float* x, float m, float r,
                  int64_t n) {
  double a[kLanes] = {}, b[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) {
      a[j] += double(g[i + j]);
      b[j] += double(g[i + j]) * double((x[i + j] - m) * r);
    }
  for (; i < n; ++i) {
    a[0] += double(g[i]);
    b[0] += double(g[i]) * double((x[i] - m) * r);
  }
  sum_g = sum_gx = 0;
  for (int j = 0; j < kLanes; ++j) {
    sum_g += a[j];
    sum_gx += b[j];
  }
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
        const double mu = plane_sum(x, HW) / double(HW);
        const double var = plane_sq_dev(x, HW, mu) / double(HW);
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
        for (int64_t i = 0; i < HW; ++i)
          g[static_cast<size_t>(i)] =
              act == NormAct::None ? dy[i] : dy[i] * act_grad(y[i], act, slope);
        double sum_g, sum_gx;
        plane_sums_g(sum_g, sum_gx, g.data(), x, m, r, HW);
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
      const double mu = HW > 0 ? plane_sum(x, HW) / double(HW) : 0.0;
      mean[p] = mu;
      m2[p] = plane_sq_dev(x, HW, mu);
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
