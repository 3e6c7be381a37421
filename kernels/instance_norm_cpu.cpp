#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu_parallel.hpp"
#include "kernels/instance_norm.hpp"

namespace cgan::cpu {

using kernels::NormAct;

namespace {
// Plane sums of the backward: 16 independent float partial sums over chunks of 256 elements
// (16 per lane), each chunk then added into a double total. One running sum would be a
// dependency chain the compiler may not reorder (4 cycles per element); float lanes vectorize,
// and the chunks keep their rounding at float precision of 16 terms. Fixed order: the same
// result for any thread count.
constexpr int kLanes = 16;
constexpr int64_t kChunk = 256;
template <class Term>
double plane_reduce(int64_t n, Term term) {
  double total = 0;
  int64_t i = 0;
  for (; i + kChunk <= n; i += kChunk) {
    float acc[kLanes] = {};
    for (int64_t k = 0; k < kChunk; k += kLanes)
      for (int j = 0; j < kLanes; ++j) acc[j] += term(i + k + j);
    double s = 0;
    for (int j = 0; j < kLanes; ++j) s += double(acc[j]);
    total += s;
  }
  for (; i < n; ++i) total += double(term(i));
  return total;
}
// Mean and variance in double throughout (8 independent double partial sums): the forward's
// statistics and plane_moments (the exact statistics of tiled inference) must agree with each
// other and with the CUDA kernels to double precision, so that tiled and whole-image outputs
// stay byte-identical.
constexpr int kDoubleLanes = 8;
double plane_sum_exact(const float* x, int64_t n) {
  double acc[kDoubleLanes] = {};
  int64_t i = 0;
  for (; i + kDoubleLanes <= n; i += kDoubleLanes)
    for (int j = 0; j < kDoubleLanes; ++j) acc[j] += double(x[i + j]);
  for (; i < n; ++i) acc[0] += double(x[i]);
  double s = 0;
  for (int j = 0; j < kDoubleLanes; ++j) s += acc[j];
  return s;
}
double plane_sq_dev_exact(const float* x, int64_t n, double mu) {
  double acc[kDoubleLanes] = {};
  int64_t i = 0;
  for (; i + kDoubleLanes <= n; i += kDoubleLanes)
    for (int j = 0; j < kDoubleLanes; ++j) {
      const double d = double(x[i + j]) - mu;
      acc[j] += d * d;
    }
  for (; i < n; ++i) acc[0] += (double(x[i]) - mu) * (double(x[i]) - mu);
  double s = 0;
  for (int j = 0; j < kDoubleLanes; ++j) s += acc[j];
  return s;
}
// sum of g and of g * (x - m) * r
void plane_sums_g(double& sum_g, double& sum_gx, const float* g, const float* x, float m, float r,
                  int64_t n) {
  sum_g = plane_reduce(n, [g](int64_t i) { return g[i]; });
  sum_gx = plane_reduce(n, [g, x, m, r](int64_t i) { return g[i] * ((x[i] - m) * r); });
}

}  // namespace

void instance_norm_forward(float* out, float* mean, float* rstd, const float* in,
                           const float* scale, const float* shift, const float* residual,
                           int64_t N, int64_t C, int64_t HW, float eps, NormAct act,
                           float slope, int W, int pad) {
  const int H = pad > 0 ? int(HW / W) : 0, OW = W + 2 * pad;
  const int64_t out_plane = pad > 0 ? int64_t(H + 2 * pad) * OW : HW;
  // Channels are split over the cores; each plane is computed exactly as in a serial loop.
  cpu::parallel_for(C, N * HW * 16, [&](int64_t c0, int64_t c1) {
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t c = c0; c < c1; ++c) {
        const int64_t p = n * C + c;
        const float* x = in + p * HW;
        const double mu = plane_sum_exact(x, HW) / double(HW);
        const double var = plane_sq_dev_exact(x, HW, mu) / double(HW);
        const float m = static_cast<float>(mu);
        const float r = static_cast<float>(1.0 / std::sqrt(var + double(eps)));
        mean[p] = m;
        rstd[p] = r;
        const float g = scale ? scale[c] : 1.f;
        const float b = shift ? shift[c] : 0.f;
        float* y = out + p * out_plane;
        const float* res = residual ? residual + p * HW : nullptr;
        if (pad > 0) {
          // Row by row into the padded plane's interior (the same loop as unpadded), the
          // border columns copied from their mirrors, then the border rows from theirs.
          for (int h = 0; h < H; ++h) {
            float* yr = y + int64_t(h + pad) * OW + pad;
            const float* xr = x + int64_t(h) * W;
            const float* rr = res ? res + int64_t(h) * W : nullptr;
            for (int w = 0; w < W; ++w) {
              float z = (xr[w] - m) * r * g + b;
              if (rr) z += rr[w];
              yr[w] = norm_activate(z, act, slope);
            }
            for (int k = 1; k <= pad; ++k) {
              yr[-k] = yr[k];
              yr[W - 1 + k] = yr[W - 1 - k];
            }
          }
          for (int k = 1; k <= pad; ++k) {
            std::copy_n(y + int64_t(pad + k) * OW, OW, y + int64_t(pad - k) * OW);
            std::copy_n(y + int64_t(pad + H - 1 - k) * OW, OW, y + int64_t(pad + H - 1 + k) * OW);
          }
          continue;
        }
        for (int64_t i = 0; i < HW; ++i) {
          float z = (x[i] - m) * r * g + b;
          if (res) z += res[i];
          y[i] = norm_activate(z, act, slope);
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
        float* gp = g.data();  // one loop per activation: the branch stays out of the loop
        if (act == NormAct::ReLU)
          for (int64_t i = 0; i < HW; ++i) gp[i] = y[i] > 0.f ? dy[i] : 0.f;
        else if (act == NormAct::LeakyReLU)
          for (int64_t i = 0; i < HW; ++i) gp[i] = y[i] > 0.f ? dy[i] : dy[i] * slope;
        else
          std::copy(dy, dy + HW, gp);
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
      const double mu = HW > 0 ? plane_sum_exact(x, HW) / double(HW) : 0.0;
      mean[p] = mu;
      m2[p] = plane_sq_dev_exact(x, HW, mu);
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
        y[i] = norm_activate(z, act, slope);
      }
    }
  });
}

}  // namespace cgan::cpu
