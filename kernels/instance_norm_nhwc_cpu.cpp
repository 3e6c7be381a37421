#include <cmath>
#include <vector>

#include "kernels/act_pad_index.hpp"
#include "kernels/cpu_parallel.hpp"
#include "kernels/instance_norm_nhwc.hpp"

namespace cgan::cpu {

using kernels::NormAct;


template <typename T>
void instance_norm_nhwc_forward(T* out, float* mean, float* rstd, const T* in, const float* scale,
                                const float* shift, const T* residual, int64_t N, int64_t HW,
                                int64_t C, float eps, NormAct act, float slope, int W,
                                int pad) {
  const int H = pad > 0 ? int(HW / W) : 0, OW = W + 2 * pad;
  parallel_for(N, 8 * HW * C, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      const T* x = in + n * HW * C;
      std::vector<double> sum(C, 0.0), sq(C, 0.0);
      for (int64_t r = 0; r < HW; ++r)
        for (int64_t c = 0; c < C; ++c) sum[c] += double(to_float(x[r * C + c]));
      for (int64_t c = 0; c < C; ++c) sum[c] /= double(HW);
      for (int64_t r = 0; r < HW; ++r)
        for (int64_t c = 0; c < C; ++c) {
          const double d = double(to_float(x[r * C + c])) - sum[c];
          sq[c] += d * d;
        }
      std::vector<float> m(C), a(C), b(C);
      for (int64_t c = 0; c < C; ++c) {
        m[c] = float(sum[c]);
        const float rs = float(1.0 / std::sqrt(sq[c] / double(HW) + double(eps)));
        mean[n * C + c] = m[c];
        rstd[n * C + c] = rs;
        a[c] = scale ? scale[c] * rs : rs;
        b[c] = shift ? shift[c] : 0.f;
      }
      for (int64_t r = 0; r < HW; ++r) {
        // pad > 0: the pixel to its padded position and the mirror positions that read it.
        int ph[3] = {0, 0, 0}, pw[3] = {0, 0, 0};
        const int nr = pad > 0 ? cgan::detail::pad_sources(int(r / W), H, pad, ph) : 1;
        const int nc = pad > 0 ? cgan::detail::pad_sources(int(r % W), W, pad, pw) : 1;
        for (int64_t c = 0; c < C; ++c) {
          const int64_t i = n * HW * C + r * C + c;
          float z = (to_float(in[i]) - m[c]) * a[c] + b[c];
          if (residual) z += to_float(residual[i]);
          const T v = from_float<T>(norm_activate(z, act, slope));
          if (pad == 0) {
            out[i] = v;
            continue;
          }
          for (int u = 0; u < nr; ++u)
            for (int q = 0; q < nc; ++q)
              out[((n * (H + 2 * pad) + ph[u]) * OW + pw[q]) * C + c] = v;
        }
      }
    }
  });
}

template <typename T>
void instance_norm_nhwc_backward(T* d_in, float* d_scale, float* d_shift, const T* d_out,
                                 const T* in, const float* mean, const float* rstd,
                                 const float* scale, const T* out, int64_t N, int64_t HW, int64_t C,
                                 NormAct act, float slope) {
  // sg[n*C + c] = sum g, sgx[n*C + c] = sum g * (x - mean), in double
  std::vector<double> sg(N * C, 0.0), sgx(N * C, 0.0);
  auto grad = [&](int64_t i) {
    const float g = to_float(d_out[i]);
    return act == NormAct::None ? g : norm_act_grad(g, to_float(out[i]), act, slope);
  };
  parallel_for(N, 12 * HW * C, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      for (int64_t r = 0; r < HW; ++r)
        for (int64_t c = 0; c < C; ++c) {
          const int64_t i = n * HW * C + r * C + c;
          const double g = grad(i);
          sg[n * C + c] += g;
          sgx[n * C + c] += g * (double(to_float(in[i])) - double(mean[n * C + c]));
        }
      for (int64_t r = 0; r < HW; ++r)
        for (int64_t c = 0; c < C; ++c) {
          const int64_t i = n * HW * C + r * C + c;
          const double rs = rstd[n * C + c];
          const double k = (scale ? scale[c] : 1.0) * rs;
          const double xm = double(to_float(in[i])) - double(mean[n * C + c]);
          const double v = k * (grad(i) - sg[n * C + c] / double(HW) -
                                xm * rs * rs * sgx[n * C + c] / double(HW));
          d_in[i] = from_float<T>(float(v));
        }
    }
  });
  for (int64_t c = 0; c < C; ++c) {
    double dsc = 0, dsh = 0;
    for (int64_t n = 0; n < N; ++n) {
      dsh += sg[n * C + c];
      dsc += sgx[n * C + c] * rstd[n * C + c];
    }
    if (d_scale) d_scale[c] += float(dsc);
    if (d_shift) d_shift[c] += float(dsh);
  }
}

template void instance_norm_nhwc_forward<float>(float*, float*, float*, const float*, const float*,
                                                const float*, const float*, int64_t, int64_t,
                                                int64_t, float, NormAct, float, int, int);
template void instance_norm_nhwc_forward<bf16>(bf16*, float*, float*, const bf16*, const float*,
                                               const float*, const bf16*, int64_t, int64_t, int64_t,
                                               float, NormAct, float, int, int);
template void instance_norm_nhwc_backward<float>(float*, float*, float*, const float*, const float*,
                                                 const float*, const float*, const float*,
                                                 const float*, int64_t, int64_t, int64_t, NormAct,
                                                 float);
template void instance_norm_nhwc_backward<bf16>(bf16*, float*, float*, const bf16*, const bf16*,
                                                const float*, const float*, const float*,
                                                const bf16*, int64_t, int64_t, int64_t, NormAct,
                                                float);

}  // namespace cgan::cpu
