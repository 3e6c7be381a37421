#include <cuda_bf16.h>

#include "kernels/elementwise.hpp"
#include "kernels/kernel_util.cuh"
#include "kernels/storage.cuh"

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

template <typename T>
struct Dev {
  using type = typename detail::DevStorage<T>::type;
};
using detail::from_f;
using detail::to_f;

// 16 bytes at index i (in 16-byte units) <-> V floats.
template <typename D>
struct Vec {
  static constexpr int V = detail::Vec16<D>::V;
  __device__ __forceinline__ static void load(const D* p, int64_t i, float (&f)[V]) {
    detail::Vec16<D>::load(p + i * V, f);
  }
  __device__ __forceinline__ static void store(D* p, int64_t i, const float (&f)[V]) {
    detail::Vec16<D>::store(p + i * V, f);
  }
};

// No __restrict__: out may alias an input (in-place ops). Each element is read and written
// by the same thread, so aliasing is harmless. Arithmetic in float, one rounding on store.
template <typename D, class F, bool kVec>
__global__ void map1_kernel(D* out, const D* a, int64_t n, F f) {
  const int64_t tid = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int64_t done = 0;
  if (kVec) {
    constexpr int V = Vec<D>::V;
    const int64_t nv = n / V;
    for (int64_t i = tid; i < nv; i += stride) {
      float x[V];
      Vec<D>::load(a, i, x);
#pragma unroll
      for (int k = 0; k < V; ++k) x[k] = f(x[k]);
      Vec<D>::store(out, i, x);
    }
    done = nv * V;
  }
  for (int64_t i = done + tid; i < n; i += stride) out[i] = from_f<D>(f(to_f(a[i])));
}

template <typename D, class F, bool kVec>
__global__ void map2_kernel(D* out, const D* a, const D* b, int64_t n, F f) {
  const int64_t tid = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int64_t done = 0;
  if (kVec) {
    constexpr int V = Vec<D>::V;
    const int64_t nv = n / V;
    for (int64_t i = tid; i < nv; i += stride) {
      float x[V], y[V];
      Vec<D>::load(a, i, x);
      Vec<D>::load(b, i, y);
#pragma unroll
      for (int k = 0; k < V; ++k) x[k] = f(x[k], y[k]);
      Vec<D>::store(out, i, x);
    }
    done = nv * V;
  }
  for (int64_t i = done + tid; i < n; i += stride) out[i] = from_f<D>(f(to_f(a[i]), to_f(b[i])));
}

constexpr int kBlock = 256;

template <typename T, class F>
void map1(T* out_t, const T* a_t, int64_t n, F f, Stream stream) {
  if (n <= 0) return;
  using D = typename Dev<T>::type;
  auto* out = reinterpret_cast<D*>(out_t);
  auto* a = reinterpret_cast<const D*>(a_t);
  constexpr int V = Vec<D>::V;
  // Views at odd offsets cannot use 128-bit accesses; they take the scalar path.
  const bool vec = detail::aligned16(out) && detail::aligned16(a);
  const int grid = detail::grid_for(vec ? (n + V - 1) / V : n, kBlock);
  if (vec)
    map1_kernel<D, F, true><<<grid, kBlock, 0, stream>>>(out, a, n, f);
  else
    map1_kernel<D, F, false><<<grid, kBlock, 0, stream>>>(out, a, n, f);
  CGAN_CUDA_LAUNCH_CHECK();
}

template <typename T, class F>
void map2(T* out_t, const T* a_t, const T* b_t, int64_t n, F f, Stream stream) {
  if (n <= 0) return;
  using D = typename Dev<T>::type;
  auto* out = reinterpret_cast<D*>(out_t);
  auto* a = reinterpret_cast<const D*>(a_t);
  auto* b = reinterpret_cast<const D*>(b_t);
  constexpr int V = Vec<D>::V;
  const bool vec = detail::aligned16(out) && detail::aligned16(a) && detail::aligned16(b);
  const int grid = detail::grid_for(vec ? (n + V - 1) / V : n, kBlock);
  if (vec)
    map2_kernel<D, F, true><<<grid, kBlock, 0, stream>>>(out, a, b, n, f);
  else
    map2_kernel<D, F, false><<<grid, kBlock, 0, stream>>>(out, a, b, n, f);
  CGAN_CUDA_LAUNCH_CHECK();
}
}  // namespace

template <typename T>
void relu_forward(T* out, const T* in, int64_t n, Stream stream) {
  map1(out, in, n, ReluF{}, stream);
}
template <typename T>
void relu_backward(T* d_in, const T* d_out, const T* out, int64_t n, Stream stream) {
  map2(d_in, d_out, out, n, ReluBwdF{}, stream);
}
template <typename T>
void leaky_relu_forward(T* out, const T* in, float slope, int64_t n, Stream stream) {
  map1(out, in, n, LeakyF{slope}, stream);
}
template <typename T>
void leaky_relu_backward(T* d_in, const T* d_out, const T* out, float slope, int64_t n,
                         Stream stream) {
  map2(d_in, d_out, out, n, LeakyBwdF{slope}, stream);
}
template <typename T>
void tanh_forward(T* out, const T* in, int64_t n, Stream stream) {
  map1(out, in, n, TanhF{}, stream);
}
template <typename T>
void tanh_backward(T* d_in, const T* d_out, const T* out, int64_t n, Stream stream) {
  map2(d_in, d_out, out, n, TanhBwdF{}, stream);
}
template <typename T>
void add(T* out, const T* a, const T* b, int64_t n, Stream stream) {
  map2(out, a, b, n, AddF{}, stream);
}
template <typename T>
void axpy(T* y, float alpha, const T* x, int64_t n, Stream stream) {
  map2(y, y, x, n, AxpyF{alpha}, stream);
}
template <typename T>
void scale(T* a, float alpha, int64_t n, Stream stream) {
  map1(a, a, n, ScaleF{alpha}, stream);
}

#define CGAN_INSTANTIATE(T)                                                                  \
  template void relu_forward<T>(T*, const T*, int64_t, Stream);                             \
  template void relu_backward<T>(T*, const T*, const T*, int64_t, Stream);                  \
  template void leaky_relu_forward<T>(T*, const T*, float, int64_t, Stream);                \
  template void leaky_relu_backward<T>(T*, const T*, const T*, float, int64_t, Stream);     \
  template void tanh_forward<T>(T*, const T*, int64_t, Stream);                             \
  template void tanh_backward<T>(T*, const T*, const T*, int64_t, Stream);                  \
  template void add<T>(T*, const T*, const T*, int64_t, Stream);                            \
  template void axpy<T>(T*, float, const T*, int64_t, Stream);                              \
  template void scale<T>(T*, float, int64_t, Stream);
CGAN_INSTANTIATE(float)
CGAN_INSTANTIATE(bf16)
#undef CGAN_INSTANTIATE

}  // namespace cgan::kernels
