#include <cuda_bf16.h>

#include "kernels/kernel_util.cuh"
#include "optim/adam_impl.hpp"

namespace cgan::kernels {

namespace {
constexpr int kBlock = 256;

__device__ __forceinline__ void adam_elem(float& p, float& m, float& v, float g, float b1,
                                          float b2, float eps, float wd, float step_size,
                                          float bc2_sqrt) {
  g += wd * p;
  m = b1 * m + (1.f - b1) * g;
  v = b2 * v + (1.f - b2) * g * g;
  p -= step_size * m / (sqrtf(v) / bc2_sqrt + eps);
}

__device__ __forceinline__ void mirror_store(const Bf16Mirror& mr, int64_t i, float p) {
  const __nv_bfloat16 b = __float2bfloat16_rn(p);
  uint16_t bits;
  memcpy(&bits, &b, 2);
  mr.out[mirror_index(i, mr.segs, mr.nseg)] = bits;
}

template <bool kVec>
__global__ void adam_kernel(float* params, float* m, float* v, const float* __restrict__ grads,
                            int64_t n, AdamHyper* h, Bf16Mirror mr) {
  // Read through volatile: the last block rewrites `step` below and the load must not be
  // served from a stale cache line or moved after that point.
  const volatile AdamHyper* hv = h;
  const int t = hv->step + 1;
  const float lr = hv->lr, b1 = hv->beta1, b2 = hv->beta2, eps = hv->eps,
              wd = hv->weight_decay;
  // Per thread, not per element: two powf calls are nothing next to the memory traffic.
  const float bc1 = 1.f - powf(b1, float(t));
  const float bc2 = 1.f - powf(b2, float(t));
  const float step_size = lr / bc1;
  const float bc2_sqrt = sqrtf(bc2);

  const int64_t tid = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int64_t done = 0;
  if (kVec) {
    const int64_t n4 = n >> 2;
    float4* p4 = reinterpret_cast<float4*>(params);
    float4* m4 = reinterpret_cast<float4*>(m);
    float4* v4 = reinterpret_cast<float4*>(v);
    const float4* g4 = reinterpret_cast<const float4*>(grads);
    for (int64_t i = tid; i < n4; i += stride) {
      float4 p = p4[i], mm = m4[i], vv = v4[i];
      const float4 g = g4[i];
      adam_elem(p.x, mm.x, vv.x, g.x, b1, b2, eps, wd, step_size, bc2_sqrt);
      adam_elem(p.y, mm.y, vv.y, g.y, b1, b2, eps, wd, step_size, bc2_sqrt);
      adam_elem(p.z, mm.z, vv.z, g.z, b1, b2, eps, wd, step_size, bc2_sqrt);
      adam_elem(p.w, mm.w, vv.w, g.w, b1, b2, eps, wd, step_size, bc2_sqrt);
      p4[i] = p;
      m4[i] = mm;
      v4[i] = vv;
      if (mr.out) {
        mirror_store(mr, 4 * i, p.x);
        mirror_store(mr, 4 * i + 1, p.y);
        mirror_store(mr, 4 * i + 2, p.z);
        mirror_store(mr, 4 * i + 3, p.w);
      }
    }
    done = n4 << 2;
  }
  for (int64_t i = done + tid; i < n; i += stride) {
    adam_elem(params[i], m[i], v[i], grads[i], b1, b2, eps, wd, step_size, bc2_sqrt);
    if (mr.out) mirror_store(mr, i, params[i]);
  }

  // The last block to finish advances the step counter. Every block has read `step` before
  // it counts itself done, so no block can see the new value.
  __syncthreads();
  if (threadIdx.x == 0) {
    __threadfence();
    const unsigned prev = atomicAdd(&h->blocks_done, 1u);
    if (prev == gridDim.x - 1) {
      // Acquire side of the counter: every other block's reads of `step` (ordered before
      // its increment by its own fence) happen before this write.
      __threadfence();
      h->step = t;
      h->blocks_done = 0;
      __threadfence();
    }
  }
}
__global__ void mirror_kernel(const float* __restrict__ params, int64_t n, Bf16Mirror mr) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += stride)
    mirror_store(mr, i, params[i]);
}
}  // namespace

void write_bf16_mirror(const float* params, int64_t n, Bf16Mirror mirror, Stream stream) {
  if (n == 0 || !mirror.out) return;
  mirror_kernel<<<detail::grid_for(n, kBlock), kBlock, 0, stream>>>(params, n, mirror);
  CGAN_CUDA_LAUNCH_CHECK();
}

void adam_step(float* params, float* m, float* v, const float* grads, int64_t n,
               AdamHyper* hyper, Bf16Mirror mirror, Stream stream) {
  const bool vec = detail::aligned16(params) && detail::aligned16(m) && detail::aligned16(v) &&
                   detail::aligned16(grads);
  // Even for n == 0 the launch runs so that the step counter advances like on the CPU.
  const int grid = detail::grid_for(vec ? (n + 3) / 4 : n, kBlock);
  if (vec)
    adam_kernel<true><<<grid, kBlock, 0, stream>>>(params, m, v, grads, n, hyper, mirror);
  else
    adam_kernel<false><<<grid, kBlock, 0, stream>>>(params, m, v, grads, n, hyper, mirror);
  CGAN_CUDA_LAUNCH_CHECK();
}

}  // namespace cgan::kernels
