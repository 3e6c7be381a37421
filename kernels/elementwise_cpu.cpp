#include <cmath>

#include "kernels/cpu_parallel.hpp"
#include "kernels/elementwise.hpp"

namespace cgan::cpu {

// Each loop is split into contiguous chunks over the cores (kernels/cpu_parallel.hpp): every
// element is computed exactly as in a serial loop. For float storage the conversions are the
// identity, so the float loops compile as before.

namespace {
template <typename T, class F>
void map1(T* out, const T* a, int64_t n, int64_t work, F f) {
  parallel_for(n, work, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = from_float<T>(f(to_float(a[i])));
  });
}
template <typename T, class F>
void map2(T* out, const T* a, const T* b_, int64_t n, int64_t work, F f) {
  parallel_for(n, work, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = from_float<T>(f(to_float(a[i]), to_float(b_[i])));
  });
}
}  // namespace

template <typename T>
void relu_forward(T* out, const T* in, int64_t n) {
  map1(out, in, n, 1, [](float x) { return x > 0.f ? x : 0.f; });
}
template <typename T>
void relu_backward(T* d_in, const T* d_out, const T* out, int64_t n) {
  map2(d_in, d_out, out, n, 1, [](float g, float y) { return y > 0.f ? g : 0.f; });
}
template <typename T>
void leaky_relu_forward(T* out, const T* in, float slope, int64_t n) {
  map1(out, in, n, 1, [slope](float x) { return x > 0.f ? x : slope * x; });
}
template <typename T>
void leaky_relu_backward(T* d_in, const T* d_out, const T* out, float slope, int64_t n) {
  map2(d_in, d_out, out, n, 1, [slope](float g, float y) { return y > 0.f ? g : slope * g; });
}
template <typename T>
void tanh_forward(T* out, const T* in, int64_t n) {
  map1(out, in, n, 20, [](float x) { return std::tanh(x); });
}
template <typename T>
void tanh_backward(T* d_in, const T* d_out, const T* out, int64_t n) {
  map2(d_in, d_out, out, n, 2, [](float g, float y) { return g * (1.f - y * y); });
}
template <typename T>
void add(T* out, const T* a, const T* b, int64_t n) {
  map2(out, a, b, n, 1, [](float x, float y) { return x + y; });
}
template <typename T>
void axpy(T* y, float alpha, const T* x, int64_t n) {
  map2(y, y, x, n, 1, [alpha](float a, float b) { return a + alpha * b; });
}
template <typename T>
void scale(T* a, float alpha, int64_t n) {
  map1(a, a, n, 1, [alpha](float x) { return x * alpha; });
}

#define CGAN_INSTANTIATE(T)                                                         \
  template void relu_forward<T>(T*, const T*, int64_t);                            \
  template void relu_backward<T>(T*, const T*, const T*, int64_t);                 \
  template void leaky_relu_forward<T>(T*, const T*, float, int64_t);               \
  template void leaky_relu_backward<T>(T*, const T*, const T*, float, int64_t);    \
  template void tanh_forward<T>(T*, const T*, int64_t);                            \
  template void tanh_backward<T>(T*, const T*, const T*, int64_t);                 \
  template void add<T>(T*, const T*, const T*, int64_t);                           \
  template void axpy<T>(T*, float, const T*, int64_t);                             \
  template void scale<T>(T*, float, int64_t);
CGAN_INSTANTIATE(float)
CGAN_INSTANTIATE(bf16)
#undef CGAN_INSTANTIATE

}  // namespace cgan::cpu
