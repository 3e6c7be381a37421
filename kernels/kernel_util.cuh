#pragma once
// Internal helpers shared by the kernel families: launch sizing, alignment tests and block
// reductions. Only included from .cu files.
#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>

#include "cuda_check.hpp"

namespace cgan::kernels::detail {

// Streaming multiprocessors of the current device. Asked once per device index and then
// remembered: the answer cannot change while the process runs.
inline int sm_count() {
#ifdef CGAN_CUDA_EMULATION
  // Tests change the emulated device's SM count to reach the split paths: ask every time.
  int n = 1;
  CGAN_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, 0));
  return n < 1 ? 1 : n;
#else
  static std::atomic<int> cached[64] = {};
  int dev = 0;
  CGAN_CUDA_CHECK(cudaGetDevice(&dev));
  if (dev < 0 || dev >= 64) dev = 0;
  int n = cached[dev].load(std::memory_order_relaxed);
  if (n == 0) {
    CGAN_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev));
    if (n < 1) n = 1;
    cached[dev].store(n, std::memory_order_relaxed);
  }
  return n;
#endif
}

// Grid for a grid-stride loop over `work` items: enough blocks to cover the work, capped at
// a few full waves so that every SM stays busy without paying for millions of tiny blocks.
inline int grid_for(int64_t work, int block, int waves = 8) {
  const int64_t need = (work + block - 1) / block;
  const int64_t cap = int64_t(sm_count()) * waves;
  const int64_t g = need < cap ? need : cap;
  return static_cast<int>(g < 1 ? 1 : g);
}

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Sums K values over the whole block; every thread gets the totals. The order of additions
// is fixed by the thread layout, so the result is deterministic. `scratch` holds 32*K floats.
template <int K>
__device__ __forceinline__ void block_sum(float (&v)[K], float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int nwarps = (blockDim.x + 31) >> 5;
#pragma unroll
  for (int k = 0; k < K; ++k) v[k] = warp_sum(v[k]);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) {
#pragma unroll
    for (int k = 0; k < K; ++k) scratch[k * 32 + warp] = v[k];
  }
  __syncthreads();
#pragma unroll
  for (int k = 0; k < K; ++k) {
    float x = lane < nwarps ? scratch[k * 32 + lane] : 0.f;
    v[k] = warp_sum(x);
  }
}

}  // namespace cgan::kernels::detail
