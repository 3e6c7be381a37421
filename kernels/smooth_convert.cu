// Float tensor <-> 8-bit pixels with the exact rules of tensor_to_images / images_to_tensor.
// The _rn intrinsics keep nvcc from fusing into FMAs, whose single rounding would differ
// from the host's two roundings on a few values.
#include "cuda_check.hpp"
#include "kernels/smooth.hpp"

namespace cgan::kernels {

namespace {

__global__ void f32_to_u8_kernel(uint8_t* __restrict__ dst, const float* __restrict__ src,
                                 int64_t count) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float v = rintf(__fmul_rn(__fadd_rn(__fmul_rn(src[i], 0.5f), 0.5f), 255.0f));
    dst[i] = static_cast<uint8_t>(fminf(fmaxf(v, 0.0f), 255.0f));
  }
}

__global__ void u8_to_f32_kernel(float* __restrict__ dst, const uint8_t* __restrict__ src,
                                 int64_t count) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count;
       i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = __fsub_rn(__fdiv_rn(static_cast<float>(src[i]), 127.5f), 1.0f);
}

int grid_for(int64_t count, int block) {
  const int64_t blocks = (count + block - 1) / block;
  return static_cast<int>(blocks < 65535 * 8 ? blocks : 65535 * 8);
}

}  // namespace

void smooth_f32_to_u8(uint8_t* dst, const float* src, int64_t count, Stream stream) {
  if (count == 0) return;
  f32_to_u8_kernel<<<grid_for(count, 256), 256, 0, stream>>>(dst, src, count);
  CGAN_CUDA_LAUNCH_CHECK();
}

void smooth_u8_to_f32(float* dst, const uint8_t* src, int64_t count, Stream stream) {
  if (count == 0) return;
  u8_to_f32_kernel<<<grid_for(count, 256), 256, 0, stream>>>(dst, src, count);
  CGAN_CUDA_LAUNCH_CHECK();
}

}  // namespace cgan::kernels
