#include "kernels/fill.hpp"
#include "cuda_check.hpp"

namespace cgan::kernels {

namespace {
__global__ void fill_f32_kernel(float* __restrict__ out, float value, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = value;
}
}  // namespace

void fill_f32(float* out, float value, int64_t n, Stream stream) {
  if (n == 0) return;
  const int block = 256;
  const int64_t blocks = (n + block - 1) / block;
  const int grid = static_cast<int>(blocks < 65535 * 8 ? blocks : 65535 * 8);
  fill_f32_kernel<<<grid, block, 0, stream>>>(out, value, n);
  CGAN_CUDA_LAUNCH_CHECK();
}

}  // namespace cgan::kernels
