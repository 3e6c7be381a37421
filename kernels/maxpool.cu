#include "kernels/kernel_util.cuh"
#include "kernels/storage.cuh"
#include "kernels/maxpool.hpp"

namespace cgan::kernels {

namespace {
constexpr int kBlock = 128;

dim3 rows_grid(int64_t rows, int cols) {
  const int64_t gy = rows < 65535 ? rows : 65535;
  return dim3(static_cast<unsigned>((cols + kBlock - 1) / kBlock),
              static_cast<unsigned>(gy < 1 ? 1 : gy));
}

using detail::argmax4;

__global__ void maxpool_fwd_kernel(float* __restrict__ out, const float* __restrict__ in,
                                   int64_t rows, int H, int W, int OH, int OW) {
  const int ow = blockIdx.x * blockDim.x + threadIdx.x;
  if (ow >= OW) return;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const int64_t p = r / OH;
    const int oh = static_cast<int>(r - p * OH);
    const float* r0 = in + (p * H + 2 * oh) * W + 2 * ow;
    const float a = r0[0], b = r0[1], c = r0[W], d = r0[W + 1];
    const int k = argmax4(a, b, c, d);
    out[r * OW + ow] = k == 0 ? a : k == 1 ? b : k == 2 ? c : d;
  }
}

// One thread per 2x2 cell of the input (ceil(H/2) x ceil(W/2) cells), so the cells cut by
// floor mode are zeroed by the same pass that writes the gradients.
__global__ void maxpool_bwd_kernel(float* __restrict__ d_in, const float* __restrict__ d_out,
                                   const float* __restrict__ in, int64_t rows, int H, int W,
                                   int OH, int OW, int CH) {
  const int cw = blockIdx.x * blockDim.x + threadIdx.x;
  const int CW = (W + 1) / 2;
  if (cw >= CW) return;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const int64_t p = r / CH;
    const int ch = static_cast<int>(r - p * CH);
    const int64_t base = (p * H + 2 * ch) * W + 2 * cw;
    if (ch < OH && cw < OW) {
      const int k = argmax4(in[base], in[base + 1], in[base + W], in[base + W + 1]);
      const float g = d_out[(p * OH + ch) * OW + cw];
      d_in[base] = k == 0 ? g : 0.f;
      d_in[base + 1] = k == 1 ? g : 0.f;
      d_in[base + W] = k == 2 ? g : 0.f;
      d_in[base + W + 1] = k == 3 ? g : 0.f;
    } else {
      const bool has_right = 2 * cw + 1 < W, has_below = 2 * ch + 1 < H;
      d_in[base] = 0.f;
      if (has_right) d_in[base + 1] = 0.f;
      if (has_below) d_in[base + W] = 0.f;
      if (has_right && has_below) d_in[base + W + 1] = 0.f;
    }
  }
}
}  // namespace

void maxpool2x2_forward(float* out, const float* in, int64_t planes, int H, int W,
                        Stream stream) {
  const int OH = H / 2, OW = W / 2;
  const int64_t rows = planes * OH;
  if (rows <= 0 || OW <= 0) return;
  maxpool_fwd_kernel<<<rows_grid(rows, OW), kBlock, 0, stream>>>(out, in, rows, H, W, OH, OW);
  CGAN_CUDA_LAUNCH_CHECK();
}

void maxpool2x2_backward(float* d_in, const float* d_out, const float* in, int64_t planes,
                         int H, int W, Stream stream) {
  const int OH = H / 2, OW = W / 2, CH = (H + 1) / 2, CW = (W + 1) / 2;
  const int64_t rows = planes * CH;
  if (rows <= 0 || CW <= 0) return;
  maxpool_bwd_kernel<<<rows_grid(rows, CW), kBlock, 0, stream>>>(d_in, d_out, in, rows, H, W,
                                                                  OH, OW, CH);
  CGAN_CUDA_LAUNCH_CHECK();
}

}  // namespace cgan::kernels
