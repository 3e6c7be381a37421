#include <cuda_bf16.h>

#include "kernels/act_pad.hpp"
#include "kernels/act_pad_index.hpp"
#include "kernels/kernel_util.cuh"
#include "kernels/storage.cuh"

// One thread per output element, grid-stride: the forward walks the padded map (coalesced
// writes; the border re-reads a neighbour of what the interior reads), the backward the
// unpadded one (each gathers its 1-9 sources in a fixed order).

namespace cgan::kernels {

namespace {
constexpr int kBlock = 256;
using cgan::detail::act_slope;
using cgan::detail::act_slope_grad;
using cgan::detail::map_coords;
using cgan::detail::map_index;
using cgan::detail::pad_reflect;
using cgan::detail::pad_sources;
using detail::from_f;
using detail::to_f;

template <typename D>
__global__ void act_pad_fwd_kernel(D* out, const D* in, const float* bias, int64_t C, int H,
                                   int W, int pad, float slope, bool nhwc, int64_t total) {
  const int64_t OH = H + 2 * pad, OW = W + 2 * pad;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += stride) {
    int64_t n, c, oh, ow;
    map_coords(i, C, OH, OW, nhwc, n, c, oh, ow);
    const int64_t src = map_index(n, c, pad_reflect(int(oh) - pad, H),
                                  pad_reflect(int(ow) - pad, W), C, H, W, nhwc);
    const float z = to_f(in[src]) + (bias ? bias[c] : 0.f);
    out[i] = from_f<D>(act_slope(z, slope));
  }
}

template <typename D>
__global__ void act_pad_bwd_kernel(D* d_in, const D* d_out, const D* out, int64_t C, int H,
                                   int W, int pad, float slope, bool nhwc, int64_t total) {
  const int64_t OH = H + 2 * pad, OW = W + 2 * pad;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += stride) {
    int64_t n, c, h, w;
    map_coords(i, C, H, W, nhwc, n, c, h, w);
    int rows[3], cols[3];
    const int nr = pad_sources(int(h), H, pad, rows), nc = pad_sources(int(w), W, pad, cols);
    float g = 0.f;
    for (int a = 0; a < nr; ++a)
      for (int k = 0; k < nc; ++k) g += to_f(d_out[map_index(n, c, rows[a], cols[k], C, OH, OW, nhwc)]);
    const float y = to_f(out[map_index(n, c, h + pad, w + pad, C, OH, OW, nhwc)]);
    d_in[i] = from_f<D>(act_slope_grad(g, y, slope));
  }
}
}  // namespace

template <typename T>
void bias_act_pad_forward(T* out, const T* in, const float* bias, int64_t N, int64_t C, int H,
                          int W, int pad, float slope, bool nhwc, Stream stream) {
  using D = typename detail::DevStorage<T>::type;
  const int64_t total = N * C * int64_t(H + 2 * pad) * (W + 2 * pad);
  if (total == 0) return;
  act_pad_fwd_kernel<D><<<detail::grid_for(total, kBlock), kBlock, 0, stream>>>(
      reinterpret_cast<D*>(out), reinterpret_cast<const D*>(in), bias, C, H, W, pad, slope,
      nhwc, total);
  CGAN_CUDA_LAUNCH_CHECK();
}

template <typename T>
void bias_act_pad_backward(T* d_in, const T* d_out, const T* out, int64_t N, int64_t C, int H,
                           int W, int pad, float slope, bool nhwc, Stream stream) {
  using D = typename detail::DevStorage<T>::type;
  const int64_t total = N * C * int64_t(H) * W;
  if (total == 0) return;
  act_pad_bwd_kernel<D><<<detail::grid_for(total, kBlock), kBlock, 0, stream>>>(
      reinterpret_cast<D*>(d_in), reinterpret_cast<const D*>(d_out),
      reinterpret_cast<const D*>(out), C, H, W, pad, slope, nhwc, total);
  CGAN_CUDA_LAUNCH_CHECK();
}

#define CGAN_INSTANTIATE(T)                                                                   \
  template void bias_act_pad_forward<T>(T*, const T*, const float*, int64_t, int64_t, int,    \
                                        int, int, float, bool, Stream);                      \
  template void bias_act_pad_backward<T>(T*, const T*, const T*, int64_t, int64_t, int, int,  \
                                         int, float, bool, Stream);
CGAN_INSTANTIATE(float)
CGAN_INSTANTIATE(bf16)
#undef CGAN_INSTANTIATE

}  // namespace cgan::kernels
