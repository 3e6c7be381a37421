#include <cmath>

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

#define CGAN_INSTANTIATE(T)                                                                       \
  template void nchw_to_nhwc<T>(T*, const float*, int64_t, int64_t, int64_t);                     \
  template void nhwc_to_nchw<T>(float*, const T*, const float*, bool, int64_t, int64_t, int64_t); \
  template void bias_add_nhwc<T>(T*, const float*, int64_t, int64_t);                             \
  template void reflection_pad_nhwc<T>(T*, const T*, int64_t, int, int, int64_t, int);
CGAN_INSTANTIATE(float)
CGAN_INSTANTIATE(bf16)
#undef CGAN_INSTANTIATE

}  // namespace cgan::cpu
