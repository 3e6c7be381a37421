#pragma once
// Elementwise activations and vector arithmetic. Every buffer is a flat array of n elements
// of T (float or bf16 storage; the arithmetic is float, rounded once on store); outputs may
// alias inputs (in-place use) unless stated otherwise.
#include <cstdint>

#include "cgan/allocator.hpp"  // Stream
#include "cgan/dtype.hpp"

namespace cgan::kernels {
// out[n] = max(in[n], 0)
template <typename T>
void relu_forward(T* out, const T* in, int64_t n, Stream stream);
// d_in[n] = out[n] > 0 ? d_out[n] : 0        d_out[n], out[n] (forward output)
template <typename T>
void relu_backward(T* d_in, const T* d_out, const T* out, int64_t n, Stream stream);
// out[n] = in > 0 ? in : slope * in
template <typename T>
void leaky_relu_forward(T* out, const T* in, float slope, int64_t n, Stream stream);
// d_in[n] = out > 0 ? d_out : slope * d_out   d_out[n], out[n]
template <typename T>
void leaky_relu_backward(T* d_in, const T* d_out, const T* out, float slope, int64_t n,
                         Stream stream);
// out[n] = tanh(in[n])
template <typename T>
void tanh_forward(T* out, const T* in, int64_t n, Stream stream);
// d_in[n] = d_out * (1 - out^2)               d_out[n], out[n]
template <typename T>
void tanh_backward(T* d_in, const T* d_out, const T* out, int64_t n, Stream stream);
// out[n] = a[n] + b[n]
template <typename T>
void add(T* out, const T* a, const T* b, int64_t n, Stream stream);
// y[n] += alpha * x[n]
template <typename T>
void axpy(T* y, float alpha, const T* x, int64_t n, Stream stream);
// a[n] *= alpha
template <typename T>
void scale(T* a, float alpha, int64_t n, Stream stream);
}  // namespace cgan::kernels

namespace cgan::cpu {
// Same contracts as the CUDA launchers above, on host memory.
template <typename T>
void relu_forward(T* out, const T* in, int64_t n);
template <typename T>
void relu_backward(T* d_in, const T* d_out, const T* out, int64_t n);
template <typename T>
void leaky_relu_forward(T* out, const T* in, float slope, int64_t n);
template <typename T>
void leaky_relu_backward(T* d_in, const T* d_out, const T* out, float slope, int64_t n);
template <typename T>
void tanh_forward(T* out, const T* in, int64_t n);
template <typename T>
void tanh_backward(T* d_in, const T* d_out, const T* out, int64_t n);
template <typename T>
void add(T* out, const T* a, const T* b, int64_t n);
template <typename T>
void axpy(T* y, float alpha, const T* x, int64_t n);
template <typename T>
void scale(T* a, float alpha, int64_t n);
}  // namespace cgan::cpu
