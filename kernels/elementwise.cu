#include "kernels/elementwise.hpp"
#include "kernels/kernel_util.cuh"

namespace cgan::kernels {

namespace {
// Functors rather than lambdas: the build does not enable --extended-lambda.
struct ReluF {
  __device__ float operator()(float x) const { return x > 0.f ? x : 0.f; }
};
struct ReluBwdF {
  __device__ float operator()(float g, float y) const { return y > 0.f ? g : 0.f; }
};
struct LeakyF {
  float slope;
  __device__ float operator()(float x) const { return x > 0.f ? x : slope * x; }
};
struct LeakyBwdF {
  float slope;
  __device__ float operator()(float g, float y) const { return y > 0.f ? g : slope * g; }
};
struct TanhF {
  __device__ float operator()(float x) const { return tanhf(x); }
};
struct TanhBwdF {
  __device__ float operator()(float g, float y) const { return g * (1.f - y * y); }
};
struct AddF {
  __device__ float operator()(float a, float b) const { return a + b; }
};
struct AxpyF {  // (y, x) -> y + alpha x
  float alpha;
  __device__ float operator()(float y, float x) const { return y + alpha * x; }
};
struct ScaleF {
  float alpha;
  __device__ float operator()(float x) const { return x * alpha; }
};

// No __restrict__: out may alias an input (in-place ops). Each element is read and written
// by the same thread, so aliasing is harmless.
template <class F, bool kVec>
__global__ void map1_kernel(float* out, const float* a, int64_t n, F f) {
  const int64_t tid = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int64_t done = 0;
  if (kVec) {
    const int64_t n4 = n >> 2;
    const float4* a4 = reinterpret_cast<const float4*>(a);
    float4* o4 = reinterpret_cast<float4*>(out);
    for (int64_t i = tid; i < n4; i += stride) {
      float4 x = a4[i];
      o4[i] = make_float4(f(x.x), f(x.y), f(x.z), f(x.w));
    }
    done = n4 << 2;
  }
  for (int64_t i = done + tid; i < n; i += stride) out[i] = f(a[i]);
}

template <class F, bool kVec>
__global__ void map2_kernel(float* out, const float* a, const float* b, int64_t n, F f) {
  const int64_t tid = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int64_t done = 0;
  if (kVec) {
    const int64_t n4 = n >> 2;
    const float4* a4 = reinterpret_cast<const float4*>(a);
    const float4* b4 = reinterpret_cast<const float4*>(b);
    float4* o4 = reinterpret_cast<float4*>(out);
    for (int64_t i = tid; i < n4; i += stride) {
      const float4 x = a4[i], y = b4[i];
      o4[i] = make_float4(f(x.x, y.x), f(x.y, y.y), f(x.z, y.z), f(x.w, y.w));
    }
    done = n4 << 2;
  }
  for (int64_t i = done + tid; i < n; i += stride) out[i] = f(a[i], b[i]);
}

constexpr int kBlock = 256;

template <class F>
void map1(float* out, const float* a, int64_t n, F f, Stream stream) {
  if (n <= 0) return;
  // Views at odd offsets cannot use 128-bit accesses; they take the scalar path.
  const bool vec = detail::aligned16(out) && detail::aligned16(a);
  const int grid = detail::grid_for(vec ? (n + 3) / 4 : n, kBlock);
  if (vec)
    map1_kernel<F, true><<<grid, kBlock, 0, stream>>>(out, a, n, f);
  else
    map1_kernel<F, false><<<grid, kBlock, 0, stream>>>(out, a, n, f);
  CGAN_CUDA_LAUNCH_CHECK();
}

template <class F>
void map2(float* out, const float* a, const float* b, int64_t n, F f, Stream stream) {
  if (n <= 0) return;
  const bool vec = detail::aligned16(out) && detail::aligned16(a) && detail::aligned16(b);
  const int grid = detail::grid_for(vec ? (n + 3) / 4 : n, kBlock);
  if (vec)
    map2_kernel<F, true><<<grid, kBlock, 0, stream>>>(out, a, b, n, f);
  else
    map2_kernel<F, false><<<grid, kBlock, 0, stream>>>(out, a, b, n, f);
  CGAN_CUDA_LAUNCH_CHECK();
}
}  // namespace

void relu_forward(float* out, const float* in, int64_t n, Stream stream) {
  map1(out, in, n, ReluF{}, stream);
}
void relu_backward(float* d_in, const float* d_out, const float* out, int64_t n, Stream stream) {
  map2(d_in, d_out, out, n, ReluBwdF{}, stream);
}
void leaky_relu_forward(float* out, const float* in, float slope, int64_t n, Stream stream) {
  map1(out, in, n, LeakyF{slope}, stream);
}
void leaky_relu_backward(float* d_in, const float* d_out, const float* out, float slope,
                         int64_t n, Stream stream) {
  map2(d_in, d_out, out, n, LeakyBwdF{slope}, stream);
}
void tanh_forward(float* out, const float* in, int64_t n, Stream stream) {
  map1(out, in, n, TanhF{}, stream);
}
void tanh_backward(float* d_in, const float* d_out, const float* out, int64_t n, Stream stream) {
  map2(d_in, d_out, out, n, TanhBwdF{}, stream);
}
void add(float* out, const float* a, const float* b, int64_t n, Stream stream) {
  map2(out, a, b, n, AddF{}, stream);
}
void axpy(float* y, float alpha, const float* x, int64_t n, Stream stream) {
  map2(y, y, x, n, AxpyF{alpha}, stream);
}
void scale(float* a, float alpha, int64_t n, Stream stream) {
  map1(a, a, n, ScaleF{alpha}, stream);
}

}  // namespace cgan::kernels
