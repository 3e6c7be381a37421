#include "kernels/channel_affine3.hpp"
#include "kernels/kernel_util.cuh"

namespace cgan::kernels {

namespace {
constexpr int kBlock = 256;

// One thread per pixel (all three channels), grid-stride over N * HW pixels.
__global__ void affine3_kernel(float* out, const float* in, Affine3 f, bool flip, int64_t N,
                               int64_t HW) {
  const int64_t total = N * HW;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = t / HW, i = t - n * HW;
    const float* x = in + n * 3 * HW + i;
    const float v0 = x[0], v1 = x[HW], v2 = x[2 * HW];
    float* y = out + n * 3 * HW + i;
    y[0] = (flip ? v2 : v0) * f.mul[0] + f.add[0];
    y[HW] = v1 * f.mul[1] + f.add[1];
    y[2 * HW] = (flip ? v0 : v2) * f.mul[2] + f.add[2];
  }
}

__global__ void affine3_bwd_kernel(float* d_in, const float* d_out, Affine3 f, bool flip,
                                   int64_t N, int64_t HW) {
  const int64_t total = N * HW;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = t / HW, i = t - n * HW;
    const float* g = d_out + n * 3 * HW + i;
    const float g0 = g[0] * f.mul[0], g1 = g[HW] * f.mul[1], g2 = g[2 * HW] * f.mul[2];
    float* d = d_in + n * 3 * HW + i;
    d[0] = flip ? g2 : g0;
    d[HW] = g1;
    d[2 * HW] = flip ? g0 : g2;
  }
}
}  // namespace

void channel_affine3(float* out, const float* in, Affine3 f, bool flip, int64_t N, int64_t HW,
                     Stream stream) {
  const int64_t total = N * HW;
  if (total <= 0) return;
  affine3_kernel<<<detail::grid_for(total, kBlock), kBlock, 0, stream>>>(out, in, f, flip, N,
                                                                          HW);
  CGAN_CUDA_LAUNCH_CHECK();
}

void channel_affine3_backward(float* d_in, const float* d_out, Affine3 f, bool flip, int64_t N,
                              int64_t HW, Stream stream) {
  const int64_t total = N * HW;
  if (total <= 0) return;
  affine3_bwd_kernel<<<detail::grid_for(total, kBlock), kBlock, 0, stream>>>(d_in, d_out, f,
                                                                              flip, N, HW);
  CGAN_CUDA_LAUNCH_CHECK();
}

}  // namespace cgan::kernels
