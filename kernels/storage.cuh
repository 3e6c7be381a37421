#pragma once
// Internal, .cu files only: the storage types kernels are templated on (float, bf16) and the
// float conversions at their loads and stores, plus small device functions several kernel
// families share. Host code names bf16 storage cgan::bf16 (cgan/dtype.hpp); kernels see it
// as __nv_bfloat16 through DevStorage.
#include <cuda_bf16.h>

#include "cgan/dtype.hpp"
#include "kernels/instance_norm.hpp"  // NormAct

namespace cgan::kernels::detail {

template <typename T>
struct DevStorage;
template <>
struct DevStorage<float> {
  using type = float;
};
template <>
struct DevStorage<bf16> {
  using type = __nv_bfloat16;
};
static_assert(sizeof(bf16) == sizeof(__nv_bfloat16), "bf16 is __nv_bfloat16's bits");

__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename D>
__device__ __forceinline__ D from_f(float v);
template <>
__device__ __forceinline__ float from_f<float>(float v) { return v; }
template <>
__device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// 16 bytes of D <-> 16 / sizeof(D) floats (4 floats or 8 bf16 per 128-bit access); p 16-byte
// aligned.
template <typename D>
struct Vec16 {
  static constexpr int V = 16 / int(sizeof(D));
  __device__ __forceinline__ static void load(const D* p, float (&f)[V]) {
    const uint4 raw = *reinterpret_cast<const uint4*>(p);
    D v[V];
    memcpy(static_cast<void*>(v), &raw, 16);
#pragma unroll
    for (int k = 0; k < V; ++k) f[k] = to_f(v[k]);
  }
  __device__ __forceinline__ static void store(D* p, const float (&f)[V]) {
    D v[V];
#pragma unroll
    for (int k = 0; k < V; ++k) v[k] = from_f<D>(f[k]);
    uint4 raw;
    memcpy(&raw, v, 16);
    *reinterpret_cast<uint4*>(p) = raw;
  }
};

// The activation fused into instance norm, and its gradient from the output.
__device__ __forceinline__ float act_fwd(float z, NormAct act, float slope) {
  if (act == NormAct::ReLU) return z > 0.f ? z : 0.f;
  if (act == NormAct::LeakyReLU) return z > 0.f ? z : slope * z;
  return z;
}
__device__ __forceinline__ float act_bwd(float g, float y, NormAct act, float slope) {
  if (act == NormAct::ReLU) return y > 0.f ? g : 0.f;
  if (act == NormAct::LeakyReLU) return y > 0.f ? g : slope * g;
  return g;
}

// The first maximum of a 2x2 window in row-major order; NaN wins and stays (PyTorch:
// `val > max || isnan(val)`).
__device__ __forceinline__ int argmax4(float a, float b, float c, float d) {
  int best = 0;
  float m = a;
  if (!isnan(m) && (b > m || isnan(b))) { best = 1; m = b; }
  if (!isnan(m) && (c > m || isnan(c))) { best = 2; m = c; }
  if (!isnan(m) && (d > m || isnan(d))) { best = 3; m = d; }
  return best;
}

}  // namespace cgan::kernels::detail
