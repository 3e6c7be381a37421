// Grayscale + Sobel + magnitude + non-maximum suppression + double threshold in one pass:
// each block keeps a gray tile with a 2-pixel halo and the magnitudes with a 1-pixel halo in
// shared memory, so nothing but the final state map goes to global memory.
#include "cuda_check.hpp"
#include "kernels/smooth.hpp"
#include "kernels/smooth_math.hpp"

namespace cgan::kernels {

namespace {

constexpr int kTileW = 32;
constexpr int kTileH = 8;

__global__ void canny_nms_kernel(uint8_t* __restrict__ state, const uint8_t* __restrict__ src,
                                 U8ImageLayout layout, int h, int w, int low, int high,
                                 bool l2) {
  __shared__ int gray[kTileH + 4][kTileW + 4];
  __shared__ int mag[kTileH + 2][kTileW + 2];
  const int x0 = blockIdx.x * kTileW, y0 = blockIdx.y * kTileH;
  const uint8_t* im = src + blockIdx.z * layout.image_stride;
  const int tid = threadIdx.y * kTileW + threadIdx.x;
  constexpr int kThreads = kTileW * kTileH;
  const int64_t off_r = layout.red_channel * layout.channel_stride;
  const int64_t off_g = layout.channel_stride;
  const int64_t off_b = (2 - layout.red_channel) * layout.channel_stride;

  // Clamping each coordinate on load is exactly the Sobel's BORDER_REPLICATE.
  for (int i = tid; i < (kTileH + 4) * (kTileW + 4); i += kThreads) {
    const int ty = i / (kTileW + 4), tx = i % (kTileW + 4);
    const int gy = smooth::clamp_index(y0 - 2 + ty, h);
    const int gx = smooth::clamp_index(x0 - 2 + tx, w);
    const uint8_t* p = im + (int64_t(gy) * w + gx) * layout.pixel_stride;
    gray[ty][tx] = smooth::gray_from_bgr(p[off_b], p[off_g], p[off_r]);
  }
  __syncthreads();

  // cv::Canny treats magnitudes outside the image as 0 (not replicated).
  for (int i = tid; i < (kTileH + 2) * (kTileW + 2); i += kThreads) {
    const int my = i / (kTileW + 2), mx = i % (kTileW + 2);
    const int gy = y0 - 1 + my, gx = x0 - 1 + mx;
    int m = 0;
    if (gy >= 0 && gy < h && gx >= 0 && gx < w) {
      const int dx = smooth::sobel_dx(gray[my][mx], gray[my][mx + 2], gray[my + 1][mx],
                                      gray[my + 1][mx + 2], gray[my + 2][mx], gray[my + 2][mx + 2]);
      const int dy = smooth::sobel_dy(gray[my][mx], gray[my][mx + 1], gray[my][mx + 2],
                                      gray[my + 2][mx], gray[my + 2][mx + 1], gray[my + 2][mx + 2]);
      m = smooth::gradient_magnitude(dx, dy, l2);
    }
    mag[my][mx] = m;
  }
  __syncthreads();

  const int x = x0 + threadIdx.x, y = y0 + threadIdx.y;
  if (x >= w || y >= h) return;
  const int my = threadIdx.y + 1, mx = threadIdx.x + 1;  // gray index is one more
  const int dx = smooth::sobel_dx(gray[my][mx], gray[my][mx + 2], gray[my + 1][mx],
                                  gray[my + 1][mx + 2], gray[my + 2][mx], gray[my + 2][mx + 2]);
  const int dy = smooth::sobel_dy(gray[my][mx], gray[my][mx + 1], gray[my][mx + 2],
                                  gray[my + 2][mx], gray[my + 2][mx + 1], gray[my + 2][mx + 2]);
  state[int64_t(blockIdx.z) * h * w + int64_t(y) * w + x] = smooth::nms_state(
      dx, dy, mag[my - 1][mx - 1], mag[my - 1][mx], mag[my - 1][mx + 1], mag[my][mx - 1],
      mag[my][mx], mag[my][mx + 1], mag[my + 1][mx - 1], mag[my + 1][mx], mag[my + 1][mx + 1],
      low, high);
}

}  // namespace

void smooth_canny_nms(uint8_t* state, const uint8_t* src, const U8ImageLayout& layout, int n,
                      int h, int w, int low, int high, bool l2, Stream stream) {
  if (n == 0 || h == 0 || w == 0) return;
  CGAN_CHECK(n <= 65535 && (h + kTileH - 1) / kTileH <= 65535,
             "smooth_canny_nms: batch " << n << " x " << h << " rows exceeds the grid limits");
  const dim3 grid((w + kTileW - 1) / kTileW, (h + kTileH - 1) / kTileH, n);
  const dim3 block(kTileW, kTileH);
  canny_nms_kernel<<<grid, block, 0, stream>>>(state, src, layout, h, w, low, high, l2);
  CGAN_CUDA_LAUNCH_CHECK();
}

}  // namespace cgan::kernels
