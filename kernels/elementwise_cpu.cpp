#include <cmath>

#include "kernels/cpu_parallel.hpp"
#include "kernels/elementwise.hpp"

namespace cgan::cpu {

// Each loop is split into contiguous chunks over the cores (kernels/cpu_parallel.hpp): every
// element is computed exactly as in a serial loop.

void relu_forward(float* out, const float* in, int64_t n) {
  parallel_for(n, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = in[i] > 0.f ? in[i] : 0.f;
  });
}
void relu_backward(float* d_in, const float* d_out, const float* out, int64_t n) {
  parallel_for(n, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) d_in[i] = out[i] > 0.f ? d_out[i] : 0.f;
  });
}
void leaky_relu_forward(float* out, const float* in, float slope, int64_t n) {
  parallel_for(n, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = in[i] > 0.f ? in[i] : slope * in[i];
  });
}
void leaky_relu_backward(float* d_in, const float* d_out, const float* out, float slope,
                         int64_t n) {
  parallel_for(n, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) d_in[i] = out[i] > 0.f ? d_out[i] : slope * d_out[i];
  });
}
void tanh_forward(float* out, const float* in, int64_t n) {
  parallel_for(n, 20, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = std::tanh(in[i]);
  });
}
void tanh_backward(float* d_in, const float* d_out, const float* out, int64_t n) {
  parallel_for(n, 2, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) d_in[i] = d_out[i] * (1.f - out[i] * out[i]);
  });
}
void add(float* out, const float* a, const float* b, int64_t n) {
  parallel_for(n, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) out[i] = a[i] + b[i];
  });
}
void axpy(float* y, float alpha, const float* x, int64_t n) {
  parallel_for(n, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] += alpha * x[i];
  });
}
void scale(float* a, float alpha, int64_t n) {
  parallel_for(n, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) a[i] *= alpha;
  });
}

}  // namespace cgan::cpu
