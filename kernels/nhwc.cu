#include <cuda_bf16.h>

#include "kernels/kernel_util.cuh"
#include "kernels/storage.cuh"
#include "kernels/nhwc.hpp"

// Grid-stride loops over the output, so writes are coalesced; each boundary conversion reads
// a 3-channel image, where the strided side is small. Reflection padding copies whole pixels
// (C contiguous values) as 16-byte vectors when C allows.

namespace cgan::kernels {

namespace {
constexpr int kBlock = 256;

template <typename T>
struct Dev {
  using type = typename detail::DevStorage<T>::type;
};
using detail::argmax4;
using detail::from_f;
using detail::to_f;

template <typename D>
__global__ void to_nhwc_kernel(D* out, const float* in, int64_t C, int64_t HW, int64_t total) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += stride) {
    const int64_t c = i % C, r = i / C, n = r / HW, p = r % HW;
    out[i] = from_f<D>(in[(n * C + c) * HW + p]);
  }
}

template <typename D>
__global__ void to_nchw_kernel(float* out, const D* in, const float* bias, bool tanh_, int64_t C,
                               int64_t HW, int64_t total) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += stride) {
    const int64_t p = i % HW, nc = i / HW, c = nc % C, n = nc / C;
    float v = to_f(in[(n * HW + p) * C + c]) + (bias ? bias[c] : 0.f);
    out[i] = tanh_ ? tanhf(v) : v;
  }
}

template <typename D>
__global__ void bias_nhwc_kernel(D* x, const float* bias, int64_t C, int64_t total) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += stride)
    x[i] = from_f<D>(to_f(x[i]) + bias[i % C]);
}

__device__ __forceinline__ int reflect(int i, int n) {
  if (i < 0) return -i;
  if (i >= n) return 2 * (n - 1) - i;
  return i;
}

// U: the unit copied (a 16-byte vector, or one element); units = C in units.
template <typename U>
__global__ void pad_nhwc_kernel(U* out, const U* in, int H, int W, int64_t units, int pad,
                                int64_t total) {
  const int OH = H + 2 * pad, OW = W + 2 * pad;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += stride) {
    const int64_t u = i % units, pix = i / units;
    const int ow = int(pix % OW);
    const int64_t r = pix / OW;
    const int oh = int(r % OH);
    const int64_t n = r / OH;
    const int h = reflect(oh - pad, H), w = reflect(ow - pad, W);
    out[i] = in[((n * H + h) * W + w) * units + u];
  }
}
// The output positions (along one axis) that read input coordinate h of a reflection pad p,
// ascending: o = i + p for i in {-h, h, 2(n-1) - h} where reflect(i) == h; returns how many
// (1..3). Ascending, so the sums run in the CPU reference's (scatter) order: bit for bit.
__device__ __forceinline__ int reflect_sources(int h, int n, int p, int (&o)[3]) {
  int k = 0;
  if (h > 0 && h <= p) o[k++] = p - h;
  o[k++] = h + p;
  const int i = 2 * (n - 1) - h;
  if (i >= n && i <= n - 1 + p) o[k++] = i + p;
  return k;
}

template <typename D>
__global__ void pad_nhwc_bwd_kernel(D* d_in, const D* d_out, int H, int W, int64_t C, int pad,
                                    int64_t total) {
  const int OH = H + 2 * pad, OW = W + 2 * pad;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += stride) {
    const int64_t c = i % C, pix = i / C;
    const int w = int(pix % W);
    const int64_t r = pix / W;
    const int h = int(r % H);
    const int64_t n = r / H;
    int oh[3], ow[3];
    const int nh = reflect_sources(h, H, pad, oh), nw = reflect_sources(w, W, pad, ow);
    float s = 0.f;
    for (int a = 0; a < nh; ++a)
      for (int b = 0; b < nw; ++b) s += to_f(d_out[((n * OH + oh[a]) * OW + ow[b]) * C + c]);
    d_in[i] = from_f<D>(s);
  }
}

constexpr int kBiasLanes = 32, kBiasRows = 8;  // 256 threads: channels x row lanes
int64_t bias_chunks(int64_t rows) {
  int64_t c = (rows + 1023) / 1024;
  return c < 1 ? 1 : (c > 256 ? 256 : c);
}

// grid (chunks, ceil(C / 32)): part[chunk * C + c] = sum of d_out[r, c] over the chunk's rows.
template <typename D>
__global__ void bias_nhwc_partial(float* part, const D* d_out, int64_t rows, int64_t C,
                                  int64_t chunk) {
  __shared__ float sh[kBiasRows][kBiasLanes];
  const int lane = threadIdx.x % kBiasLanes, row = threadIdx.x / kBiasLanes;
  const int64_t c = int64_t(blockIdx.y) * kBiasLanes + lane;
  const int64_t r0 = blockIdx.x * chunk, r1 = min(rows, r0 + chunk);
  float s = 0.f;
  if (c < C)
    for (int64_t r = r0 + row; r < r1; r += kBiasRows) s += to_f(d_out[r * C + c]);
  sh[row][lane] = s;
  __syncthreads();
  if (row == 0 && c < C) {
    float t = 0.f;
    for (int k = 0; k < kBiasRows; ++k) t += sh[k][lane];
    part[blockIdx.x * C + c] = t;
  }
}

__global__ void bias_nhwc_final(float* d_bias, const float* part, int64_t chunks, int64_t C) {
  const int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c >= C) return;
  float t = 0.f;
  for (int64_t k = 0; k < chunks; ++k) t += part[k * C + c];
  d_bias[c] += t;
}

__global__ void add_krsc_kernel(float* dw, const __nv_bfloat16* w16, int64_t C, int64_t RS,
                                int64_t total) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += stride) {
    const int64_t rs = i % RS, kc = i / RS, c = kc % C, k = kc / C;
    dw[i] += __bfloat162float(w16[(k * RS + rs) * C + c]);
  }
}
template <typename D>
__global__ void pool_nhwc_fwd_kernel(D* out, const D* in, int H, int W, int64_t C,
                                     int64_t total) {
  const int OH = H / 2, OW = W / 2;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += stride) {
    const int64_t c = i % C, pix = i / C;
    const int ow = int(pix % OW);
    const int64_t r = pix / OW;
    const int oh = int(r % OH);
    const int64_t n = r / OH;
    const int64_t b = ((n * H + 2 * oh) * W + 2 * ow) * C + c, dx = C, dy = int64_t(W) * C;
    const D v[4] = {in[b], in[b + dx], in[b + dy], in[b + dy + dx]};
    out[i] = v[argmax4(to_f(v[0]), to_f(v[1]), to_f(v[2]), to_f(v[3]))];
  }
}

// One thread per input element: the gradient if it is its window's first maximum, else 0.
template <typename D>
__global__ void pool_nhwc_bwd_kernel(D* d_in, const D* d_out, const D* in, int H, int W,
                                     int64_t C, int64_t total) {
  const int OH = H / 2, OW = W / 2;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += stride) {
    const int64_t c = i % C, pix = i / C;
    const int w = int(pix % W);
    const int64_t r = pix / W;
    const int h = int(r % H);
    const int64_t n = r / H;
    const int oh = h / 2, ow = w / 2;
    float g = 0.f;
    if (oh < OH && ow < OW) {
      const int64_t b = ((n * H + 2 * oh) * W + 2 * ow) * C + c, dx = C, dy = int64_t(W) * C;
      const int k = argmax4(to_f(in[b]), to_f(in[b + dx]), to_f(in[b + dy]), to_f(in[b + dy + dx]));
      if (k == (h % 2) * 2 + (w % 2)) g = to_f(d_out[((n * OH + oh) * OW + ow) * C + c]);
    }
    d_in[i] = from_f<D>(g);
  }
}
}  // namespace

template <typename T>
void maxpool2x2_nhwc_forward(T* out, const T* in, int64_t N, int H, int W, int64_t C,
                             Stream stream) {
  using D = typename Dev<T>::type;
  const int64_t total = N * (H / 2) * (W / 2) * C;
  if (total == 0) return;
  pool_nhwc_fwd_kernel<D><<<detail::grid_for(total, kBlock), kBlock, 0, stream>>>(
      reinterpret_cast<D*>(out), reinterpret_cast<const D*>(in), H, W, C, total);
  CGAN_CUDA_LAUNCH_CHECK();
}

template <typename T>
void maxpool2x2_nhwc_backward(T* d_in, const T* d_out, const T* in, int64_t N, int H, int W,
                              int64_t C, Stream stream) {
  using D = typename Dev<T>::type;
  const int64_t total = N * H * W * C;
  if (total == 0) return;
  pool_nhwc_bwd_kernel<D><<<detail::grid_for(total, kBlock), kBlock, 0, stream>>>(
      reinterpret_cast<D*>(d_in), reinterpret_cast<const D*>(d_out),
      reinterpret_cast<const D*>(in), H, W, C, total);
  CGAN_CUDA_LAUNCH_CHECK();
}

template <typename T>
void reflection_pad_nhwc_backward(T* d_in, const T* d_out, int64_t N, int H, int W, int64_t C,
                                  int pad, Stream stream) {
  using D = typename Dev<T>::type;
  const int64_t total = N * H * W * C;
  if (total == 0) return;
  pad_nhwc_bwd_kernel<D><<<detail::grid_for(total, kBlock), kBlock, 0, stream>>>(
      reinterpret_cast<D*>(d_in), reinterpret_cast<const D*>(d_out), H, W, C, pad, total);
  CGAN_CUDA_LAUNCH_CHECK();
}

size_t bias_backward_nhwc_workspace_bytes(int64_t rows, int64_t C) {
  return size_t(bias_chunks(rows) * C) * sizeof(float);
}

template <typename T>
void bias_backward_nhwc(float* d_bias, const T* d_out, int64_t rows, int64_t C, void* workspace,
                        Stream stream) {
  using D = typename Dev<T>::type;
  if (rows == 0 || C == 0) return;
  const int64_t chunks = bias_chunks(rows), chunk = (rows + chunks - 1) / chunks;
  float* part = static_cast<float*>(workspace);
  const dim3 grid(static_cast<unsigned>((rows + chunk - 1) / chunk),
                  static_cast<unsigned>((C + kBiasLanes - 1) / kBiasLanes));
  bias_nhwc_partial<D><<<grid, kBiasLanes * kBiasRows, 0, stream>>>(
      part, reinterpret_cast<const D*>(d_out), rows, C, chunk);
  CGAN_CUDA_LAUNCH_CHECK();
  bias_nhwc_final<<<unsigned((C + 255) / 256), 256, 0, stream>>>(d_bias, part, grid.x, C);
  CGAN_CUDA_LAUNCH_CHECK();
}

void add_krsc_bf16_to_kcrs(float* dw, const bf16* w16, int64_t K, int64_t C, int64_t RS,
                           Stream stream) {
  const int64_t total = K * C * RS;
  if (total == 0) return;
  add_krsc_kernel<<<detail::grid_for(total, kBlock), kBlock, 0, stream>>>(
      dw, reinterpret_cast<const __nv_bfloat16*>(w16), C, RS, total);
  CGAN_CUDA_LAUNCH_CHECK();
}

template <typename T>
void nchw_to_nhwc(T* out, const float* in, int64_t N, int64_t C, int64_t HW, Stream stream) {
  using D = typename Dev<T>::type;
  const int64_t total = N * C * HW;
  if (total == 0) return;
  to_nhwc_kernel<D><<<detail::grid_for(total, kBlock), kBlock, 0, stream>>>(
      reinterpret_cast<D*>(out), in, C, HW, total);
  CGAN_CUDA_LAUNCH_CHECK();
}

template <typename T>
void nhwc_to_nchw(float* out, const T* in, const float* bias, bool tanh, int64_t N, int64_t C,
                  int64_t HW, Stream stream) {
  using D = typename Dev<T>::type;
  const int64_t total = N * C * HW;
  if (total == 0) return;
  to_nchw_kernel<D><<<detail::grid_for(total, kBlock), kBlock, 0, stream>>>(
      out, reinterpret_cast<const D*>(in), bias, tanh, C, HW, total);
  CGAN_CUDA_LAUNCH_CHECK();
}

template <typename T>
void bias_add_nhwc(T* x, const float* bias, int64_t rows, int64_t C, Stream stream) {
  using D = typename Dev<T>::type;
  const int64_t total = rows * C;
  if (total == 0) return;
  bias_nhwc_kernel<D><<<detail::grid_for(total, kBlock), kBlock, 0, stream>>>(
      reinterpret_cast<D*>(x), bias, C, total);
  CGAN_CUDA_LAUNCH_CHECK();
}

template <typename T>
void reflection_pad_nhwc(T* out, const T* in, int64_t N, int H, int W, int64_t C, int pad,
                         Stream stream) {
  const int64_t pixels = N * int64_t(H + 2 * pad) * (W + 2 * pad);
  if (pixels * C == 0) return;
  const int64_t row_bytes = C * int64_t(sizeof(T));
  if (row_bytes % 16 == 0 && detail::aligned16(out) && detail::aligned16(in)) {
    const int64_t units = row_bytes / 16, total = pixels * units;
    pad_nhwc_kernel<uint4><<<detail::grid_for(total, kBlock), kBlock, 0, stream>>>(
        reinterpret_cast<uint4*>(out), reinterpret_cast<const uint4*>(in), H, W, units, pad,
        total);
  } else {
    using D = typename Dev<T>::type;
    const int64_t total = pixels * C;
    pad_nhwc_kernel<D><<<detail::grid_for(total, kBlock), kBlock, 0, stream>>>(
        reinterpret_cast<D*>(out), reinterpret_cast<const D*>(in), H, W, C, pad, total);
  }
  CGAN_CUDA_LAUNCH_CHECK();
}

#define CGAN_INSTANTIATE(T)                                                                    \
  template void nchw_to_nhwc<T>(T*, const float*, int64_t, int64_t, int64_t, Stream);          \
  template void nhwc_to_nchw<T>(float*, const T*, const float*, bool, int64_t, int64_t,        \
                                int64_t, Stream);                                              \
  template void bias_add_nhwc<T>(T*, const float*, int64_t, int64_t, Stream);                  \
  template void reflection_pad_nhwc<T>(T*, const T*, int64_t, int, int, int64_t, int, Stream); \
  template void reflection_pad_nhwc_backward<T>(T*, const T*, int64_t, int, int, int64_t, int, \
                                                Stream);                                       \
  template void bias_backward_nhwc<T>(float*, const T*, int64_t, int64_t, void*, Stream);     \
  template void maxpool2x2_nhwc_forward<T>(T*, const T*, int64_t, int, int, int64_t, Stream);  \
  template void maxpool2x2_nhwc_backward<T>(T*, const T*, const T*, int64_t, int, int, int64_t, \
                                            Stream);
CGAN_INSTANTIATE(float)
CGAN_INSTANTIATE(bf16)
#undef CGAN_INSTANTIATE

}  // namespace cgan::kernels
