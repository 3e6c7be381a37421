#include <cuda_bf16.h>

#include "kernels/kernel_util.cuh"
#include "kernels/nhwc.hpp"

// Grid-stride loops over the output, so writes are coalesced; each boundary conversion reads
// a 3-channel image, where the strided side is small. Reflection padding copies whole pixels
// (C contiguous values) as 16-byte vectors when C allows.

namespace cgan::kernels {

namespace {
constexpr int kBlock = 256;

template <typename T>
struct Dev;
template <>
struct Dev<float> {
  using type = float;
};
template <>
struct Dev<bf16> {
  using type = __nv_bfloat16;
};

__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename D>
__device__ __forceinline__ D from_f(float v);
template <>
__device__ __forceinline__ float from_f<float>(float v) { return v; }
template <>
__device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

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
}  // namespace

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
  template void reflection_pad_nhwc<T>(T*, const T*, int64_t, int, int, int64_t, int, Stream);
CGAN_INSTANTIATE(float)
CGAN_INSTANTIATE(bf16)
#undef CGAN_INSTANTIATE

}  // namespace cgan::kernels
