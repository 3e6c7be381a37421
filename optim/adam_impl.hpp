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

namespace kernels {
// One launch over all n elements: params[n], m[n], v[n] updated, grads[n] read;
// hyper: device pointer (read, and its step incremented by the launch's last block).
void adam_step(float* params, float* m, float* v, const float* grads, int64_t n,
               AdamHyper* hyper, Stream stream);
}  // namespace kernels

namespace cpu {
// Same update on host memory; increments hyper->step.
void adam_step(float* params, float* m, float* v, const float* grads, int64_t n,
               AdamHyper* hyper);
}  // namespace cpu

}  // namespace cgan
