#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu_parallel.hpp"
#include "kernels/nhwc.hpp"

namespace cgan::cpu {

namespace {
int reflect(int i, int n) {
  if (i < 0) return -i;
  if (i >= n) return 2 * (n - 1) - i;
  return i;
}
}  // namespace

template <typename T>
void nchw_to_nhwc(T* out, const float* in, int64_t N, int64_t C, int64_t HW) {
  parallel_for(N * HW, C, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / HW, p = r % HW;
      for (int64_t c = 0; c < C; ++c) out[r * C + c] = from_float<T>(in[(n * C + c) * HW + p]);
    }
  });
}

template <typename T>
void nhwc_to_nchw(float* out, const T* in, const float* bias, bool tanh, int64_t N, int64_t C,
                  int64_t HW) {
  parallel_for(N * HW, 4 * C, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / HW, p = r % HW;
      for (int64_t c = 0; c < C; ++c) {
        float v = to_float(in[r * C + c]) + (bias ? bias[c] : 0.f);
        out[(n * C + c) * HW + p] = tanh ? std::tanh(v) : v;
      }
    }
  });
}

template <typename T>
void bias_add_nhwc(T* x, const float* bias, int64_t rows, int64_t C) {
  parallel_for(rows, C, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = 0; c < C; ++c)
        x[r * C + c] = from_float<T>(to_float(x[r * C + c]) + bias[c]);
  });
}

template <typename T>
void reflection_pad_nhwc(T* out, const T* in, int64_t N, int H, int W, int64_t C, int pad) {
  const int OH = H + 2 * pad, OW = W + 2 * pad;
  parallel_for(N * OH, int64_t(OW) * C, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / OH;
      const int h = reflect(int(r % OH) - pad, H);
      for (int ow = 0; ow < OW; ++ow) {
        const int w = reflect(ow - pad, W);
        const T* src = in + ((n * H + h) * W + w) * C;
        T* dst = out + (r * OW + ow) * C;
        for (int64_t c = 0; c < C; ++c) dst[c] = src[c];
      }
    }
  });
}

template <typename T>
void reflection_pad_nhwc_backward(T* d_in, const T* d_out, int64_t N, int H, int W, int64_t C,
                                  int pad) {
  const int OH = H + 2 * pad, OW = W + 2 * pad;
  std::vector<float> acc(size_t(H) * W * C);
  for (int64_t n = 0; n < N; ++n) {
    std::fill(acc.begin(), acc.end(), 0.f);
    for (int oh = 0; oh < OH; ++oh)
      for (int ow = 0; ow < OW; ++ow) {
        const int h = reflect(oh - pad, H), w = reflect(ow - pad, W);
        const T* src = d_out + ((n * OH + oh) * OW + ow) * C;
        float* dst = acc.data() + (int64_t(h) * W + w) * C;
        for (int64_t c = 0; c < C; ++c) dst[c] += to_float(src[c]);
      }
    for (size_t i = 0; i < acc.size(); ++i) d_in[n * H * W * C + int64_t(i)] = from_float<T>(acc[i]);
  }
}

template <typename T>
void bias_backward_nhwc(float* d_bias, const T* d_out, int64_t rows, int64_t C) {
  // double sums: the reference's total does not depend on an order
  std::vector<double> s(size_t(C), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < C; ++c) s[size_t(c)] += double(to_float(d_out[r * C + c]));
  for (int64_t c = 0; c < C; ++c) d_bias[c] += float(s[size_t(c)]);
}

namespace {
// Row-major first maximum, NaN wins (kernels/maxpool_cpu.cpp's rule).
int first_max(const float (&v)[4]) {
  int best = 0;
  for (int k = 1; k < 4; ++k)
    if (!std::isnan(v[best]) && (v[k] > v[best] || std::isnan(v[k]))) best = k;
  return best;
}
}  // namespace

template <typename T>
void maxpool2x2_nhwc_forward(T* out, const T* in, int64_t N, int H, int W, int64_t C) {
  const int OH = H / 2, OW = W / 2;
  for (int64_t n = 0; n < N; ++n)
    for (int oh = 0; oh < OH; ++oh)
      for (int ow = 0; ow < OW; ++ow)
        for (int64_t c = 0; c < C; ++c) {
          const T* p[4] = {&in[((n * H + 2 * oh) * W + 2 * ow) * C + c],
                           &in[((n * H + 2 * oh) * W + 2 * ow + 1) * C + c],
                           &in[((n * H + 2 * oh + 1) * W + 2 * ow) * C + c],
                           &in[((n * H + 2 * oh + 1) * W + 2 * ow + 1) * C + c]};
          const float v[4] = {to_float(*p[0]), to_float(*p[1]), to_float(*p[2]), to_float(*p[3])};
          out[((n * OH + oh) * OW + ow) * C + c] = *p[first_max(v)];
        }
}

template <typename T>
void maxpool2x2_nhwc_backward(T* d_in, const T* d_out, const T* in, int64_t N, int H, int W,
                              int64_t C) {
  const int OH = H / 2, OW = W / 2;
  std::fill(d_in, d_in + N * H * W * C, from_float<T>(0.f));
  for (int64_t n = 0; n < N; ++n)
    for (int oh = 0; oh < OH; ++oh)
      for (int ow = 0; ow < OW; ++ow)
        for (int64_t c = 0; c < C; ++c) {
          const int64_t idx[4] = {((n * H + 2 * oh) * W + 2 * ow) * C + c,
                                  ((n * H + 2 * oh) * W + 2 * ow + 1) * C + c,
                                  ((n * H + 2 * oh + 1) * W + 2 * ow) * C + c,
                                  ((n * H + 2 * oh + 1) * W + 2 * ow + 1) * C + c};
          const float v[4] = {to_float(in[idx[0]]), to_float(in[idx[1]]), to_float(in[idx[2]]),
                              to_float(in[idx[3]])};
          d_in[idx[first_max(v)]] = d_out[((n * OH + oh) * OW + ow) * C + c];
        }
}

#define CGAN_INSTANTIATE(T)                                                                       \
  template void nchw_to_nhwc<T>(T*, const float*, int64_t, int64_t, int64_t);                     \
  template void nhwc_to_nchw<T>(float*, const T*, const float*, bool, int64_t, int64_t, int64_t); \
  template void bias_add_nhwc<T>(T*, const float*, int64_t, int64_t);                             \
  template void reflection_pad_nhwc<T>(T*, const T*, int64_t, int, int, int64_t, int);           \
  template void reflection_pad_nhwc_backward<T>(T*, const T*, int64_t, int, int, int64_t, int); \
  template void bias_backward_nhwc<T>(float*, const T*, int64_t, int64_t);                      \
  template void maxpool2x2_nhwc_forward<T>(T*, const T*, int64_t, int, int, int64_t);          \
  template void maxpool2x2_nhwc_backward<T>(T*, const T*, const T*, int64_t, int, int, int64_t);
CGAN_INSTANTIATE(float)
CGAN_INSTANTIATE(bf16)
#undef CGAN_INSTANTIATE

}  // namespace cgan::cpu
