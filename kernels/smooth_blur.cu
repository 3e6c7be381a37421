// The blur applied only where the dilated-edge mask is set, reading a reflect-101 padded
// image (np.pad mode='reflect'). Integer weights and floor division reproduce the seed's
// float64 sum truncated to uint8 exactly (see smooth_math.hpp).
#include "cuda_check.hpp"
#include "kernels/smooth.hpp"
#include "kernels/smooth_math.hpp"

namespace cgan::kernels {

namespace {

__global__ void masked_blur_kernel(uint8_t* __restrict__ dst, const uint8_t* __restrict__ src,
                                   const uint8_t* __restrict__ mask, U8ImageLayout layout, int h,
                                   int w, bool gauss, int k) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= w || y >= h) return;
  const uint8_t* im = src + blockIdx.z * layout.image_stride;
  uint8_t* om = dst + blockIdx.z * layout.image_stride;
  const int64_t cs = layout.channel_stride;
  const int64_t p = (int64_t(y) * w + x) * layout.pixel_stride;
  if (mask[int64_t(blockIdx.z) * h * w + int64_t(y) * w + x] == 0) {
    for (int c = 0; c < 3; ++c) om[p + c * cs] = im[p + c * cs];
    return;
  }
  const int r = k / 2;
  int sum0 = 0, sum1 = 0, sum2 = 0;
  for (int i = 0; i < k; ++i) {
    const int yy = smooth::reflect101_index(y - r + i, h);
    const int wi = gauss ? smooth::gaussian_weight(k, i) : 1;
    for (int j = 0; j < k; ++j) {
      const int xx = smooth::reflect101_index(x - r + j, w);
      const int wij = wi * (gauss ? smooth::gaussian_weight(k, j) : 1);
      const uint8_t* q = im + (int64_t(yy) * w + xx) * layout.pixel_stride;
      sum0 += wij * q[0];
      sum1 += wij * q[cs];
      sum2 += wij * q[2 * cs];
    }
  }
  const int total = gauss ? smooth::gaussian_weight_sum(k) * smooth::gaussian_weight_sum(k) : k * k;
  om[p] = static_cast<uint8_t>(sum0 / total);
  om[p + cs] = static_cast<uint8_t>(sum1 / total);
  om[p + 2 * cs] = static_cast<uint8_t>(sum2 / total);
}

}  // namespace

void smooth_masked_blur(uint8_t* dst, const uint8_t* src, const uint8_t* mask,
                        const U8ImageLayout& layout, int n, int h, int w, SmoothBlur blur,
                        int size, Stream stream) {
  if (n == 0 || h == 0 || w == 0) return;
  CGAN_CHECK(size >= 1 && size % 2 == 1 && size <= 15,
             "smooth_masked_blur: size must be odd in 1..15, got " << size);
  CGAN_CHECK(blur == SmoothBlur::Box || size <= 7,
             "smooth_masked_blur: Gaussian size must be 1, 3, 5 or 7, got " << size);
  const dim3 block(32, 8);
  CGAN_CHECK(n <= 65535 && (h + 7) / 8 <= 65535,
             "smooth_masked_blur: batch " << n << " x " << h << " rows exceeds the grid limits");
  const dim3 grid((w + 31) / 32, (h + 7) / 8, n);
  masked_blur_kernel<<<grid, block, 0, stream>>>(dst, src, mask, layout, h, w,
                                                 blur == SmoothBlur::Gaussian, size);
  CGAN_CUDA_LAUNCH_CHECK();
}

}  // namespace cgan::kernels
