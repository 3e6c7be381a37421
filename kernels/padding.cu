#include "kernels/kernel_util.cuh"
#include "kernels/padding.hpp"

namespace cgan::kernels {

namespace {
// Rows of all planes go over blockIdx.y (looped when there are more than 65535), columns
// over x, so each thread does one division per row instead of per element.
constexpr int kBlock = 128;

dim3 rows_grid(int64_t rows, int cols) {
  const int64_t gy = rows < 65535 ? rows : 65535;
  return dim3(static_cast<unsigned>((cols + kBlock - 1) / kBlock),
              static_cast<unsigned>(gy < 1 ? 1 : gy));
}

__device__ __forceinline__ int reflect(int i, int n) {
  if (i < 0) i = -i;
  if (i >= n) i = 2 * (n - 1) - i;
  return i;
}

__global__ void reflect_fwd_kernel(float* __restrict__ out, const float* __restrict__ in,
                                   int64_t rows, int H, int W, int OH, int OW, int top,
                                   int left) {
  const int ow = blockIdx.x * blockDim.x + threadIdx.x;
  if (ow >= OW) return;
  const int iw = reflect(ow - left, W);
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const int64_t p = r / OH;
    const int oh = static_cast<int>(r - p * OH);
    out[r * OW + ow] = in[(p * H + reflect(oh - top, H)) * W + iw];
  }
}

// The output rows that read input row h, ascending: the mirror in the top border (h in
// 1..top), the direct one and the mirror in the bottom border (h in H-1-bottom .. H-2).
// Ascending, so the sums run in the CPU reference's (row-major scatter) order: bit for bit.
__device__ __forceinline__ int sources(int h, int H, int top, int bottom, int (&src)[3]) {
  int k = 0;
  if (h >= 1 && h <= top) src[k++] = top - h;
  src[k++] = h + top;
  if (h <= H - 2 && h >= H - 1 - bottom) src[k++] = top + 2 * (H - 1) - h;
  return k;
}

__global__ void reflect_bwd_kernel(float* __restrict__ d_in, const float* __restrict__ d_out,
                                   int64_t rows, int H, int W, int OH, int OW, int top,
                                   int bottom, int left, int right) {
  const int w = blockIdx.x * blockDim.x + threadIdx.x;
  if (w >= W) return;
  int cs[3];
  const int nc = sources(w, W, left, right, cs);
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const int64_t p = r / H;
    const int h = static_cast<int>(r - p * H);
    int rs[3];
    const int nr = sources(h, H, top, bottom, rs);
    const float* plane = d_out + p * OH * OW;
    float acc = 0.f;
    for (int i = 0; i < nr; ++i)
      for (int j = 0; j < nc; ++j) acc += plane[int64_t(rs[i]) * OW + cs[j]];
    d_in[r * W + w] = acc;
  }
}

__global__ void zero_fwd_kernel(float* __restrict__ out, const float* __restrict__ in,
                                int64_t rows, int H, int W, int OH, int OW, int top, int left) {
  const int ow = blockIdx.x * blockDim.x + threadIdx.x;
  if (ow >= OW) return;
  const int iw = ow - left;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const int64_t p = r / OH;
    const int ih = static_cast<int>(r - p * OH) - top;
    const bool inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
    out[r * OW + ow] = inside ? in[(p * H + ih) * W + iw] : 0.f;
  }
}

__global__ void zero_bwd_kernel(float* __restrict__ d_in, const float* __restrict__ d_out,
                                int64_t rows, int H, int W, int OH, int OW, int top, int left) {
  const int w = blockIdx.x * blockDim.x + threadIdx.x;
  if (w >= W) return;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const int64_t p = r / H;
    const int h = static_cast<int>(r - p * H);
    d_in[r * W + w] = d_out[(p * OH + h + top) * OW + w + left];
  }
}
}  // namespace

void reflection_pad_forward(float* out, const float* in, int64_t planes, int H, int W, int top,
                            int bottom, int left, int right, Stream stream) {
  const int OH = H + top + bottom, OW = W + left + right;
  const int64_t rows = planes * OH;
  if (rows <= 0 || OW <= 0) return;
  reflect_fwd_kernel<<<rows_grid(rows, OW), kBlock, 0, stream>>>(out, in, rows, H, W, OH, OW,
                                                                  top, left);
  CGAN_CUDA_LAUNCH_CHECK();
}

void reflection_pad_backward(float* d_in, const float* d_out, int64_t planes, int H, int W,
                             int top, int bottom, int left, int right, Stream stream) {
  const int OH = H + top + bottom, OW = W + left + right;
  const int64_t rows = planes * H;
  if (rows <= 0 || W <= 0) return;
  reflect_bwd_kernel<<<rows_grid(rows, W), kBlock, 0, stream>>>(d_in, d_out, rows, H, W, OH,
                                                                 OW, top, bottom, left, right);
  CGAN_CUDA_LAUNCH_CHECK();
}

void zero_pad_forward(float* out, const float* in, int64_t planes, int H, int W, int top,
                      int bottom, int left, int right, Stream stream) {
  const int OH = H + top + bottom, OW = W + left + right;
  const int64_t rows = planes * OH;
  if (rows <= 0 || OW <= 0) return;
  zero_fwd_kernel<<<rows_grid(rows, OW), kBlock, 0, stream>>>(out, in, rows, H, W, OH, OW, top,
                                                               left);
  CGAN_CUDA_LAUNCH_CHECK();
}

void zero_pad_backward(float* d_in, const float* d_out, int64_t planes, int H, int W, int top,
                       int bottom, int left, int right, Stream stream) {
  const int OH = H + top + bottom, OW = W + left + right;
  const int64_t rows = planes * H;
  if (rows <= 0 || W <= 0) return;
  zero_bwd_kernel<<<rows_grid(rows, W), kBlock, 0, stream>>>(d_in, d_out, rows, H, W, OH, OW,
                                                              top, left);
  CGAN_CUDA_LAUNCH_CHECK();
}

}  // namespace cgan::kernels
