// Binary dilation of the Canny edges with a size x size square. cv::dilate's default border
// (a constant that never wins the max) means out-of-image pixels are simply ignored.
#include "cuda_check.hpp"
#include "kernels/smooth.hpp"
#include "kernels/smooth_math.hpp"

namespace cgan::kernels {

namespace {

constexpr int kTileW = 32;
constexpr int kTileH = 8;

__global__ void dilate_kernel(uint8_t* __restrict__ edges, uint8_t* __restrict__ dilated,
                              const uint8_t* __restrict__ state, int h, int w, int r) {
  extern __shared__ uint8_t tile[];  // (kTileH + 2r) x (kTileW + 2r): 1 where an edge
  const int tw = kTileW + 2 * r, th = kTileH + 2 * r;
  const int x0 = blockIdx.x * kTileW, y0 = blockIdx.y * kTileH;
  const int64_t plane = int64_t(blockIdx.z) * h * w;
  const int tid = threadIdx.y * kTileW + threadIdx.x;
  for (int i = tid; i < tw * th; i += kTileW * kTileH) {
    const int gy = y0 - r + i / tw, gx = x0 - r + i % tw;
    tile[i] = gy >= 0 && gy < h && gx >= 0 && gx < w &&
              state[plane + int64_t(gy) * w + gx] == smooth::kStrong;
  }
  __syncthreads();
  const int x = x0 + threadIdx.x, y = y0 + threadIdx.y;
  if (x >= w || y >= h) return;
  int any = 0;
  for (int i = 0; i <= 2 * r; ++i) {
    const uint8_t* row = tile + (threadIdx.y + i) * tw + threadIdx.x;
    for (int j = 0; j <= 2 * r; ++j) any |= row[j];
  }
  const int64_t p = plane + int64_t(y) * w + x;
  dilated[p] = any ? 255 : 0;
  if (edges) edges[p] = tile[(threadIdx.y + r) * tw + threadIdx.x + r] ? 255 : 0;
}

}  // namespace

void smooth_dilate(uint8_t* edges, uint8_t* dilated, const uint8_t* state, int n, int h, int w,
                   int size, Stream stream) {
  if (n == 0 || h == 0 || w == 0) return;
  CGAN_CHECK(size >= 1 && size % 2 == 1 && size <= 31,
             "smooth_dilate: size must be odd in 1..31, got " << size);
  CGAN_CHECK(n <= 65535 && (h + kTileH - 1) / kTileH <= 65535,
             "smooth_dilate: batch " << n << " x " << h << " rows exceeds the grid limits");
  const int r = size / 2;
  const dim3 grid((w + kTileW - 1) / kTileW, (h + kTileH - 1) / kTileH, n);
  const dim3 block(kTileW, kTileH);
  const size_t smem = size_t(kTileW + 2 * r) * (kTileH + 2 * r);
  dilate_kernel<<<grid, block, smem, stream>>>(edges, dilated, state, h, w, r);
  CGAN_CUDA_LAUNCH_CHECK();
}

}  // namespace cgan::kernels
