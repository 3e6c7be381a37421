#include "kernels/kernel_util.cuh"
#include "kernels/preprocess.hpp"

namespace cgan::kernels {

namespace {
constexpr int kBlock = 256;

__global__ void u8_to_f32_kernel(float* __restrict__ out, const uint8_t* __restrict__ px,
                                 int64_t N, int64_t HW, bool bgr) {
  const int64_t total = N * HW;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = t / HW, i = t - n * HW;
    const uint8_t* p = px + t * 3;
    const float r = __fsub_rn(__fdiv_rn(float(p[0]), 127.5f), 1.0f);
    const float g = __fsub_rn(__fdiv_rn(float(p[1]), 127.5f), 1.0f);
    const float b = __fsub_rn(__fdiv_rn(float(p[2]), 127.5f), 1.0f);
    float* o = out + n * 3 * HW + i;
    o[0] = bgr ? b : r;
    o[HW] = g;
    o[2 * HW] = bgr ? r : b;
  }
}

__device__ __forceinline__ uint8_t to_u8(float v) {
  // Unfused on purpose: identical rounding to the CPU reference and to tensor_to_images.
  const float x = rintf(__fmul_rn(__fadd_rn(__fmul_rn(v, 0.5f), 0.5f), 255.0f));
  if (isnan(x)) return 0;
  return x <= 0.f ? 0 : x >= 255.f ? 255 : static_cast<uint8_t>(x);
}

__global__ void f32_to_u8_kernel(uint8_t* __restrict__ px, const float* __restrict__ in,
                                 int64_t N, int64_t HW, bool bgr) {
  const int64_t total = N * HW;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = t / HW, i = t - n * HW;
    const float* s = in + n * 3 * HW + i;
    const uint8_t c0 = to_u8(s[0]), c1 = to_u8(s[HW]), c2 = to_u8(s[2 * HW]);
    uint8_t* p = px + t * 3;
    p[0] = bgr ? c2 : c0;
    p[1] = c1;
    p[2] = bgr ? c0 : c2;
  }
}
}  // namespace

void u8_hwc_to_f32_nchw(float* out, const uint8_t* pixels, int64_t N, int64_t HW, bool bgr,
                        Stream stream) {
  const int64_t total = N * HW;
  if (total <= 0) return;
  u8_to_f32_kernel<<<detail::grid_for(total, kBlock), kBlock, 0, stream>>>(out, pixels, N, HW,
                                                                            bgr);
  CGAN_CUDA_LAUNCH_CHECK();
}

void f32_nchw_to_u8_hwc(uint8_t* pixels, const float* in, int64_t N, int64_t HW, bool bgr,
                        Stream stream) {
  const int64_t total = N * HW;
  if (total <= 0) return;
  f32_to_u8_kernel<<<detail::grid_for(total, kBlock), kBlock, 0, stream>>>(pixels, in, N, HW,
                                                                            bgr);
  CGAN_CUDA_LAUNCH_CHECK();
}

}  // namespace cgan::kernels
