#pragma once
// Elementwise activations and vector arithmetic. Every buffer is a flat float array of n
// elements; outputs may alias inputs (in-place use) unless stated otherwise.
#include <cstdint>

#include "cgan/allocator.hpp"  // Stream

namespace cgan::kernels {
// out[n] = max(in[n], 0)
void relu_forward(float* out, const float* in, int64_t n, Stream stream);
// d_in[n] = out[n] > 0 ? d_out[n] : 0        d_out[n], out[n] (forward output)
void relu_backward(float* d_in, const float* d_out, const float* out, int64_t n, Stream stream);
// out[n] = in > 0 ? in : slope * in
void leaky_relu_forward(float* out, const float* in, float slope, int64_t n, Stream stream);
// d_in[n] = out > 0 ? d_out : slope * d_out   d_out[n], out[n]
void leaky_relu_backward(float* d_in, const float* d_out, const float* out, float slope,
                         int64_t n, Stream stream);
// out[n] = tanh(in[n])
void tanh_forward(float* out, const float* in, int64_t n, Stream stream);
// d_in[n] = d_out * (1 - out^2)               d_out[n], out[n]
void tanh_backward(float* d_in, const float* d_out, const float* out, int64_t n, Stream stream);
// out[n] = a[n] + b[n]
void add(float* out, const float* a, const float* b, int64_t n, Stream stream);
// y[n] += alpha * x[n]
void axpy(float* y, float alpha, const float* x, int64_t n, Stream stream);
// a[n] *= alpha
void scale(float* a, float alpha, int64_t n, Stream stream);
}  // namespace cgan::kernels

namespace cgan::cpu {
// Same contracts as the CUDA launchers above, on host memory.
void relu_forward(float* out, const float* in, int64_t n);
void relu_backward(float* d_in, const float* d_out, const float* out, int64_t n);
void leaky_relu_forward(float* out, const float* in, float slope, int64_t n);
void leaky_relu_backward(float* d_in, const float* d_out, const float* out, float slope,
                         int64_t n);
void tanh_forward(float* out, const float* in, int64_t n);
void tanh_backward(float* d_in, const float* d_out, const float* out, int64_t n);
void add(float* out, const float* a, const float* b, int64_t n);
void axpy(float* y, float alpha, const float* x, int64_t n);
void scale(float* a, float alpha, int64_t n);
}  // namespace cgan::cpu
