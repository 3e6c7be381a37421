#pragma once
// Internal: the Adam update kernel, its CPU reference and the hyperparameter struct they read.
#include <cstdint>

#include "cgan/allocator.hpp"  // Stream

namespace cgan {

// Lives in device memory for CUDA (host memory for the CPU reference). 32 bytes.
struct AdamHyper {
  float lr;
  float beta1;
  float beta2;
  float eps;
  float weight_decay;
  int32_t step;          // steps taken; the update uses step + 1 and then stores step + 1
  uint32_t blocks_done;  // CUDA: completion counter of the launch, back to 0 after each step
  float reserved;
};
static_assert(sizeof(AdamHyper) == 32, "AdamHyper is copied as 8 floats");

#ifdef __CUDACC__
#define CGAN_HOST_DEVICE __host__ __device__
#else
#define CGAN_HOST_DEVICE
#endif

// The bf16 copy of the parameters that bf16 compute reads (Adam::set_bf16_mirror). A segment
// is a convolution filter [K,C,R,S] at `offset` of the flat buffer, held channels-last
// [K,R,S,C] at the same offset of the copy; every other parameter keeps its flat index.
struct MirrorSegment {
  int64_t offset, K, C, R, S;
};
struct Bf16Mirror {
  uint16_t* out = nullptr;  // null: no copy
  const MirrorSegment* segs = nullptr;  // sorted by offset, disjoint
  int nseg = 0;
};

// Index in the copy of parameter i (binary search over the segments).
CGAN_HOST_DEVICE inline int64_t mirror_index(int64_t i, const MirrorSegment* segs, int nseg) {
  int lo = 0, hi = nseg;  // first segment with offset > i
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (segs[mid].offset <= i) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0) return i;
  const MirrorSegment& g = segs[lo - 1];
  const int64_t local = i - g.offset, rs = g.R * g.S, per_k = g.C * rs;
  if (local >= g.K * per_k) return i;
  const int64_t k = local / per_k, c = (local % per_k) / rs, r_s = local % rs;
  return g.offset + (k * rs + r_s) * g.C + c;
}

namespace kernels {
// One launch over all n elements: params[n], m[n], v[n] updated, grads[n] read;
// hyper: device pointer (read, and its step incremented by the launch's last block).
// mirror.out (device, n bf16) gets the updated parameters rounded to nearest even.
void adam_step(float* params, float* m, float* v, const float* grads, int64_t n,
               AdamHyper* hyper, Bf16Mirror mirror, Stream stream);
// mirror.out <- bf16(params), no update.
void write_bf16_mirror(const float* params, int64_t n, Bf16Mirror mirror, Stream stream);
}  // namespace kernels

namespace cpu {
// Same update on host memory; increments hyper->step.
void adam_step(float* params, float* m, float* v, const float* grads, int64_t n,
               AdamHyper* hyper, Bf16Mirror mirror = {});
void write_bf16_mirror(const float* params, int64_t n, Bf16Mirror mirror);
}  // namespace cpu

}  // namespace cgan
