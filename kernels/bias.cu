#include "kernels/bias.hpp"
#include "kernels/kernel_util.cuh"

namespace cgan::kernels {

namespace {
constexpr int kBlock = 256;

// grid.y runs over planes (looped past 65535), grid.x over the plane's elements.
template <bool kVec>
__global__ void bias_add_kernel(float* x, const float* __restrict__ bias, int64_t planes,
                                int64_t C, int64_t HW) {
  for (int64_t p = blockIdx.y; p < planes; p += gridDim.y) {
    const float b = bias[p % C];
    float* xp = x + p * HW;
    if (kVec) {
      float4* x4 = reinterpret_cast<float4*>(xp);
      for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < HW / 4;
           i += int64_t(gridDim.x) * blockDim.x) {
        float4 v = x4[i];
        v.x += b; v.y += b; v.z += b; v.w += b;
        x4[i] = v;
      }
    } else {
      for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < HW;
           i += int64_t(gridDim.x) * blockDim.x)
        xp[i] += b;
    }
  }
}

struct Split {
  int splits;
  int64_t chunk;  // multiple of 4
};
Split bias_split(int64_t planes, int64_t hw) {
  const int64_t sms = detail::sm_count();
  int64_t want = (2 * sms + planes - 1) / planes;
  const int64_t by_size = hw / 4096;
  if (want > by_size) want = by_size;
  if (want > 256) want = 256;
  if (want < 1) want = 1;
  int64_t chunk = ((hw + want - 1) / want + 3) / 4 * 4;
  return {static_cast<int>((hw + chunk - 1) / chunk), chunk};
}

// grid (splits, planes): part[p * splits + s] = sum of chunk s of plane p.
template <bool kVec>
__global__ void plane_sum_kernel(float* __restrict__ part, const float* __restrict__ x,
                                 int64_t HW, int64_t chunk) {
  __shared__ float scratch[32];
  const int64_t p = blockIdx.y, s = blockIdx.x;
  const int64_t begin = s * chunk, end = min(HW, begin + chunk);
  const float* xp = x + p * HW;
  float v[1] = {0.f};
  if (kVec) {
    for (int64_t i = begin + 4 * int64_t(threadIdx.x); i < end; i += 4 * int64_t(blockDim.x)) {
      const float4 q = *reinterpret_cast<const float4*>(xp + i);
      v[0] += (q.x + q.y) + (q.z + q.w);
    }
  } else {
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) v[0] += xp[i];
  }
  detail::block_sum<1>(v, scratch);
  if (threadIdx.x == 0) part[p * gridDim.x + s] = v[0];
}

__global__ void channel_sum_kernel(float* __restrict__ d_bias, const float* __restrict__ part,
                                   int64_t N, int64_t C, int splits) {
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < C;
       c += int64_t(gridDim.x) * blockDim.x) {
    float s = 0.f;
    for (int64_t n = 0; n < N; ++n)
      for (int j = 0; j < splits; ++j) s += part[(n * C + c) * splits + j];
    d_bias[c] += s;
  }
}
}  // namespace

void bias_add_inplace(float* x, const float* bias, int64_t N, int64_t C, int64_t HW,
                      Stream stream) {
  const int64_t planes = N * C;
  if (planes <= 0 || HW <= 0) return;
  const bool vec = HW % 4 == 0 && detail::aligned16(x);
  const int64_t per_plane = vec ? HW / 4 : HW;
  // Enough blocks in x to cover a plane, at most enough to fill the GPU in total.
  int64_t gx = (per_plane + kBlock - 1) / kBlock;
  const int64_t gy = planes < 65535 ? planes : 65535;
  const int64_t cap = (int64_t(detail::sm_count()) * 8 + gy - 1) / gy;
  if (gx > cap) gx = cap;
  if (gx < 1) gx = 1;
  const dim3 grid(static_cast<unsigned>(gx), static_cast<unsigned>(gy));
  if (vec)
    bias_add_kernel<true><<<grid, kBlock, 0, stream>>>(x, bias, planes, C, HW);
  else
    bias_add_kernel<false><<<grid, kBlock, 0, stream>>>(x, bias, planes, C, HW);
  CGAN_CUDA_LAUNCH_CHECK();
}

size_t bias_backward_workspace_bytes(int64_t N, int64_t C, int64_t HW) {
  const int64_t planes = N * C;
  if (planes <= 0 || HW <= 0) return 0;
  return static_cast<size_t>(planes) * bias_split(planes, HW).splits * sizeof(float);
}

void bias_backward(float* d_bias, const float* d_out, int64_t N, int64_t C, int64_t HW,
                   void* workspace, Stream stream) {
  const int64_t planes = N * C;
  if (C <= 0) return;
  if (planes <= 0 || HW <= 0) return;  // nothing to add
  CGAN_CHECK(planes <= 65535 * int64_t(65535), "bias_backward: too many planes");
  const Split s = bias_split(planes, HW);
  const bool vec = HW % 4 == 0 && detail::aligned16(d_out);
  float* part = static_cast<float*>(workspace);
  const int block = s.chunk >= 8192 ? 512 : s.chunk >= 1024 ? 256 : 64;
  // planes can exceed gridDim.y's limit only for absurd shapes; split them over launches.
  for (int64_t p0 = 0; p0 < planes; p0 += 65535) {
    const int64_t np = planes - p0 < 65535 ? planes - p0 : 65535;
    const dim3 grid(static_cast<unsigned>(s.splits), static_cast<unsigned>(np));
    if (vec)
      plane_sum_kernel<true><<<grid, block, 0, stream>>>(part + p0 * s.splits,
                                                          d_out + p0 * HW, HW, s.chunk);
    else
      plane_sum_kernel<false><<<grid, block, 0, stream>>>(part + p0 * s.splits,
                                                           d_out + p0 * HW, HW, s.chunk);
    CGAN_CUDA_LAUNCH_CHECK();
  }
  const int grid = static_cast<int>((C + 127) / 128);
  channel_sum_kernel<<<grid, 128, 0, stream>>>(d_bias, part, N, C, s.splits);
  CGAN_CUDA_LAUNCH_CHECK();
}

}  // namespace cgan::kernels
