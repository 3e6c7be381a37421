#include "kernels/act_pad_index.hpp"
#include "kernels/instance_norm.hpp"
#include "kernels/kernel_util.cuh"
#include "kernels/storage.cuh"

// Strategy. Many planes (the usual case: N*C >= 2 waves of SMs): one block per plane does
// everything in one launch -- stats pass (from DRAM), then the plane is read again for the
// centered variance and the output; those re-reads hit L2 because the block just touched
// the plane. Few large planes: each plane is split over several blocks; a partial-statistics
// kernel writes per-chunk (mean, M2) and the apply kernel merges them (Chan et al.) in a fixed
// order, so results stay deterministic. Statistics are two-pass in fp32 (sum, then the sum of
// squared deviations), which stays accurate for planes with a large mean.

namespace cgan::kernels {

namespace {

struct Split {
  int splits;      // blocks per plane
  int64_t chunk;   // elements per block (multiple of 4)
};

Split choose_split(int64_t planes, int64_t hw) {
  const int64_t sms = detail::sm_count();
  Split s{1, hw};
  if (planes >= 2 * sms || hw <= 16384) return s;
  int64_t want = (4 * sms + planes - 1) / planes;  // about four waves of blocks in total
  const int64_t max_by_size = hw / 8192;           // keep chunks large enough to be worth it
  if (want > max_by_size) want = max_by_size;
  if (want > 256) want = 256;
  if (want <= 1) return s;
  int64_t chunk = (hw + want - 1) / want;
  chunk = (chunk + 3) / 4 * 4;
  s.splits = static_cast<int>((hw + chunk - 1) / chunk);
  s.chunk = chunk;
  return s;
}

int block_for(int64_t elems) {
  if (elems >= 16384) return 512;
  if (elems >= 2048) return 256;
  if (elems >= 256) return 128;
  return 64;
}

using detail::act_bwd;
using detail::act_fwd;

__device__ __forceinline__ float4 ld4(const float* p, int64_t i) {
  return *reinterpret_cast<const float4*>(p + i);
}
__device__ __forceinline__ void st4(float* p, int64_t i, float4 v) {
  *reinterpret_cast<float4*>(p + i) = v;
}

// Mean and centered sum of squares of x[begin, end). Every thread of the block gets the
// results. kVec: begin and end are multiples of 4 and x is 16-byte aligned.
// The mean is summed relative to a pivot (the chunk's first element): for planes with a large
// mean (|mean| >> std) a plain fp32 sum of ~1e5 values loses several ulps of the mean, which
// the normalization then divides by the small std.
template <bool kVec>
__device__ void chunk_stats(const float* x, int64_t begin, int64_t end, float* scratch,
                            float& mean, float& m2) {
  const float pivot = x[begin];
  float s[1] = {0.f};
  if (kVec) {
    for (int64_t i = begin + 4 * int64_t(threadIdx.x); i < end; i += 4 * int64_t(blockDim.x)) {
      const float4 v = ld4(x, i);
      s[0] += ((v.x - pivot) + (v.y - pivot)) + ((v.z - pivot) + (v.w - pivot));
    }
  } else {
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) s[0] += x[i] - pivot;
  }
  detail::block_sum<1>(s, scratch);
  const float cnt = float(end - begin);
  mean = pivot + s[0] / cnt;
  float q[1] = {0.f};
  if (kVec) {
    for (int64_t i = begin + 4 * int64_t(threadIdx.x); i < end; i += 4 * int64_t(blockDim.x)) {
      const float4 v = ld4(x, i);
      const float a = v.x - mean, b = v.y - mean, c = v.z - mean, d = v.w - mean;
      q[0] += (a * a + b * b) + (c * c + d * d);
    }
  } else {
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
      const float a = x[i] - mean;
      q[0] += a * a;
    }
  }
  detail::block_sum<1>(q, scratch);
  m2 = q[0];
}

struct FwdArgs {
  float* out;
  float* mean;
  float* rstd;
  const float* in;
  const float* scale;
  const float* shift;
  const float* residual;
  int64_t C, hw;
  float eps;
  NormAct act;
  float slope;
  int W, pad;  // pad > 0: out is reflection-padded by pad (rows of W)
};

// y = act((x - mean) * a + shift + residual) over [begin, end) of plane p.
template <bool kVec>
__device__ void chunk_apply_fwd(const FwdArgs& A, int64_t p, int64_t begin, int64_t end,
                                float mean, float rstd) {
  const int64_t c = p % A.C;
  const float a = A.scale ? A.scale[c] * rstd : rstd;
  const float b = A.shift ? A.shift[c] : 0.f;
  const float* x = A.in + p * A.hw;
  const float* r = A.residual ? A.residual + p * A.hw : nullptr;
  if (A.pad > 0) {
    // Each value to its position in the padded map and to the mirror positions that read it.
    const int W = A.W, H = int(A.hw / W), OW = W + 2 * A.pad;
    float* y = A.out + p * int64_t(H + 2 * A.pad) * OW;
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
      float z = (x[i] - mean) * a + b;
      if (r) z += r[i];
      const float v = act_fwd(z, A.act, A.slope);
      int rows[3], cols[3];
      const int nr = cgan::detail::pad_sources(int(i / W), H, A.pad, rows);
      const int nc = cgan::detail::pad_sources(int(i % W), W, A.pad, cols);
      for (int u = 0; u < nr; ++u)
        for (int k = 0; k < nc; ++k) y[int64_t(rows[u]) * OW + cols[k]] = v;
    }
    return;
  }
  float* y = A.out + p * A.hw;
  if (kVec) {
    for (int64_t i = begin + 4 * int64_t(threadIdx.x); i < end; i += 4 * int64_t(blockDim.x)) {
      const float4 v = ld4(x, i);
      float4 z = make_float4((v.x - mean) * a + b, (v.y - mean) * a + b, (v.z - mean) * a + b,
                             (v.w - mean) * a + b);
      if (r) {
        const float4 rv = ld4(r, i);
        z.x += rv.x; z.y += rv.y; z.z += rv.z; z.w += rv.w;
      }
      st4(y, i, make_float4(act_fwd(z.x, A.act, A.slope), act_fwd(z.y, A.act, A.slope),
                            act_fwd(z.z, A.act, A.slope), act_fwd(z.w, A.act, A.slope)));
    }
  } else {
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
      float z = (x[i] - mean) * a + b;
      if (r) z += r[i];
      y[i] = act_fwd(z, A.act, A.slope);
    }
  }
}

template <bool kVec>
__global__ void in_fwd_fused_kernel(FwdArgs A) {
  __shared__ float scratch[32];
  const int64_t p = blockIdx.x;
  float mean, m2;
  chunk_stats<kVec>(A.in + p * A.hw, 0, A.hw, scratch, mean, m2);
  const float rstd = rsqrtf(m2 / float(A.hw) + A.eps);
  if (threadIdx.x == 0) {
    A.mean[p] = mean;
    A.rstd[p] = rstd;
  }
  chunk_apply_fwd<kVec>(A, p, 0, A.hw, mean, rstd);
}

// grid (splits, planes): per-chunk (mean, M2) -> part[(p * splits + s) * 2 + {0,1}]
template <bool kVec>
__global__ void in_fwd_partial_kernel(float* part, const float* in, int64_t hw, int64_t chunk) {
  __shared__ float scratch[32];
  const int64_t p = blockIdx.y, s = blockIdx.x;
  const int64_t begin = s * chunk, end = min(hw, begin + chunk);
  float mean, m2;
  chunk_stats<kVec>(in + p * hw, begin, end, scratch, mean, m2);
  if (threadIdx.x == 0) {
    part[(p * gridDim.x + s) * 2] = mean;
    part[(p * gridDim.x + s) * 2 + 1] = m2;
  }
}

template <bool kVec>
__global__ void in_fwd_apply_kernel(FwdArgs A, const float* part, int64_t chunk) {
  const int64_t p = blockIdx.y, s = blockIdx.x;
  const int splits = gridDim.x;
  const float* pp = part + p * splits * 2;
  // Every thread merges the chunk statistics itself (a few dozen values, same order in
  // every block): cheaper than another launch and bit-identical across the plane's blocks.
  // Weighted mean of the chunk means relative to the first one (see chunk_stats: a plain
  // sum of cnt * mean_j for a large mean would cost several ulps).
  const float ref = pp[0];
  float dmean = 0.f;
  for (int j = 0; j < splits; ++j) {
    const float cnt = float(min(A.hw, (j + 1) * chunk) - j * chunk);
    dmean += (pp[2 * j] - ref) * cnt;
  }
  const float mean = ref + dmean / float(A.hw);
  float m2 = 0.f;
  for (int j = 0; j < splits; ++j) {
    const float cnt = float(min(A.hw, (j + 1) * chunk) - j * chunk);
    const float d = pp[2 * j] - mean;
    m2 += pp[2 * j + 1] + cnt * d * d;
  }
  const float rstd = rsqrtf(m2 / float(A.hw) + A.eps);
  if (s == 0 && threadIdx.x == 0) {
    A.mean[p] = mean;
    A.rstd[p] = rstd;
  }
  const int64_t begin = s * chunk, end = min(A.hw, begin + chunk);
  chunk_apply_fwd<kVec>(A, p, begin, end, mean, rstd);
}

// ---- backward ----------------------------------------------------------------------------

struct BwdArgs {
  float* d_in;
  const float* d_out;
  const float* in;
  const float* mean;
  const float* rstd;
  const float* scale;
  const float* out;
  int64_t C, hw;
  NormAct act;
  float slope;
};

// (sum g, sum g * xhat) over [begin, end) of plane p, g = d_out masked by the activation.
template <bool kVec>
__device__ void chunk_sums_bwd(const BwdArgs& A, int64_t p, int64_t begin, int64_t end,
                               float* scratch, float& sg, float& sgx) {
  const float m = A.mean[p], r = A.rstd[p];
  const float* x = A.in + p * A.hw;
  const float* dy = A.d_out + p * A.hw;
  const float* y = A.act != NormAct::None ? A.out + p * A.hw : nullptr;
  float v[2] = {0.f, 0.f};
  if (kVec) {
    for (int64_t i = begin + 4 * int64_t(threadIdx.x); i < end; i += 4 * int64_t(blockDim.x)) {
      const float4 xv = ld4(x, i);
      float4 g = ld4(dy, i);
      if (y) {
        const float4 yv = ld4(y, i);
        g = make_float4(act_bwd(g.x, yv.x, A.act, A.slope), act_bwd(g.y, yv.y, A.act, A.slope),
                        act_bwd(g.z, yv.z, A.act, A.slope), act_bwd(g.w, yv.w, A.act, A.slope));
      }
      v[0] += (g.x + g.y) + (g.z + g.w);
      v[1] += ((g.x * (xv.x - m) + g.y * (xv.y - m)) + (g.z * (xv.z - m) + g.w * (xv.w - m)));
    }
  } else {
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
      const float g = y ? act_bwd(dy[i], y[i], A.act, A.slope) : dy[i];
      v[0] += g;
      v[1] += g * (x[i] - m);
    }
  }
  detail::block_sum<2>(v, scratch);
  sg = v[0];
  sgx = v[1] * r;  // rstd factored out of the loop
}

template <bool kVec>
__device__ void chunk_apply_bwd(const BwdArgs& A, int64_t p, int64_t begin, int64_t end,
                                float sg, float sgx) {
  const int64_t c = p % A.C;
  const float m = A.mean[p], r = A.rstd[p];
  const float k = (A.scale ? A.scale[c] : 1.f) * r;
  const float mg = sg / float(A.hw), mgx = sgx / float(A.hw);
  const float* x = A.in + p * A.hw;
  const float* dy = A.d_out + p * A.hw;
  const float* y = A.act != NormAct::None ? A.out + p * A.hw : nullptr;
  float* dx = A.d_in + p * A.hw;
  if (kVec) {
    for (int64_t i = begin + 4 * int64_t(threadIdx.x); i < end; i += 4 * int64_t(blockDim.x)) {
      const float4 xv = ld4(x, i);
      float4 g = ld4(dy, i);
      if (y) {
        const float4 yv = ld4(y, i);
        g = make_float4(act_bwd(g.x, yv.x, A.act, A.slope), act_bwd(g.y, yv.y, A.act, A.slope),
                        act_bwd(g.z, yv.z, A.act, A.slope), act_bwd(g.w, yv.w, A.act, A.slope));
      }
      st4(dx, i,
          make_float4(k * (g.x - mg - (xv.x - m) * r * mgx), k * (g.y - mg - (xv.y - m) * r * mgx),
                      k * (g.z - mg - (xv.z - m) * r * mgx), k * (g.w - mg - (xv.w - m) * r * mgx)));
    }
  } else {
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
      const float g = y ? act_bwd(dy[i], y[i], A.act, A.slope) : dy[i];
      dx[i] = k * (g - mg - (x[i] - m) * r * mgx);
    }
  }
}

// One block per plane: sums (kept in part[p*2..] for the parameter gradients), then d_in.
template <bool kVec>
__global__ void in_bwd_fused_kernel(BwdArgs A, float* part) {
  __shared__ float scratch[64];
  const int64_t p = blockIdx.x;
  float sg, sgx;
  chunk_sums_bwd<kVec>(A, p, 0, A.hw, scratch, sg, sgx);
  if (threadIdx.x == 0) {
    part[p * 2] = sg;
    part[p * 2 + 1] = sgx;
  }
  chunk_apply_bwd<kVec>(A, p, 0, A.hw, sg, sgx);
}

template <bool kVec>
__global__ void in_bwd_partial_kernel(BwdArgs A, float* part, int64_t chunk) {
  __shared__ float scratch[64];
  const int64_t p = blockIdx.y, s = blockIdx.x;
  const int64_t begin = s * chunk, end = min(A.hw, begin + chunk);
  float sg, sgx;
  chunk_sums_bwd<kVec>(A, p, begin, end, scratch, sg, sgx);
  if (threadIdx.x == 0) {
    part[(p * gridDim.x + s) * 2] = sg;
    part[(p * gridDim.x + s) * 2 + 1] = sgx;
  }
}

template <bool kVec>
__global__ void in_bwd_apply_kernel(BwdArgs A, const float* part, int64_t chunk) {
  const int64_t p = blockIdx.y, s = blockIdx.x;
  const int splits = gridDim.x;
  float sg = 0.f, sgx = 0.f;
  for (int j = 0; j < splits; ++j) {
    sg += part[(p * splits + j) * 2];
    sgx += part[(p * splits + j) * 2 + 1];
  }
  const int64_t begin = s * chunk, end = min(A.hw, begin + chunk);
  chunk_apply_bwd<kVec>(A, p, begin, end, sg, sgx);
}

// d_shift[c] += sum over n, splits of part[.., 0]; d_scale[c] likewise with part[.., 1].
// Fixed summation order: deterministic.
__global__ void in_param_grad_kernel(float* d_scale, float* d_shift, const float* part,
                                     int64_t N, int64_t C, int splits) {
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < C;
       c += int64_t(gridDim.x) * blockDim.x) {
    float sg = 0.f, sgx = 0.f;
    for (int64_t n = 0; n < N; ++n)
      for (int j = 0; j < splits; ++j) {
        sg += part[((n * C + c) * splits + j) * 2];
        sgx += part[((n * C + c) * splits + j) * 2 + 1];
      }
    if (d_shift) d_shift[c] += sg;
    if (d_scale) d_scale[c] += sgx;
  }
}

// ---- tiled-inference pieces --------------------------------------------------------------

constexpr int kMomentBlock = 256;

// Block-wide double sum by a shared-memory tree (kMomentBlock threads); every thread gets it.
__device__ double block_sum_double(double v, double* sh) {
  __syncthreads();  // sh may still be read by a previous call
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int half = kMomentBlock / 2; half > 0; half >>= 1) {
    if (int(threadIdx.x) < half) sh[threadIdx.x] += sh[threadIdx.x + half];
    __syncthreads();
  }
  return sh[0];
}

// One block per plane (looped past the grid): mean, then the squared deviations from it.
__global__ void plane_moments_kernel(double* mean, double* m2, const float* in, int64_t planes,
                                     int64_t hw) {
  __shared__ double sh[kMomentBlock];
  for (int64_t p = blockIdx.x; p < planes; p += gridDim.x) {
    const float* x = in + p * hw;
    double s = 0;
    for (int64_t i = threadIdx.x; i < hw; i += kMomentBlock) s += x[i];
    const double mu = block_sum_double(s, sh) / double(hw);
    double q = 0;
    for (int64_t i = threadIdx.x; i < hw; i += kMomentBlock) {
      const double d = double(x[i]) - mu;
      q += d * d;
    }
    q = block_sum_double(q, sh);
    if (threadIdx.x == 0) {
      mean[p] = mu;
      m2[p] = q;
    }
  }
}

__global__ void instance_norm_apply_kernel(float* out, const float* in, const float* mean,
                                           const float* rstd, const float* scale,
                                           const float* shift, const float* residual,
                                           int64_t C, int64_t hw, int64_t total, NormAct act,
                                           float slope) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t p = i / hw, c = p % C;
    const float a = scale ? scale[c] * rstd[p] : rstd[p];
    float z = (in[i] - mean[p]) * a + (shift ? shift[c] : 0.f);
    if (residual) z += residual[i];
    out[i] = act_fwd(z, act, slope);
  }
}

}  // namespace

void plane_moments(double* mean, double* m2, const float* in, int64_t planes, int64_t HW,
                   Stream stream) {
  if (planes <= 0 || HW <= 0) return;
  const unsigned grid = static_cast<unsigned>(planes < 65535 ? planes : 65535);
  plane_moments_kernel<<<grid, kMomentBlock, 0, stream>>>(mean, m2, in, planes, HW);
  CGAN_CUDA_LAUNCH_CHECK();
}

void instance_norm_apply(float* out, const float* in, const float* mean, const float* rstd,
                         const float* scale, const float* shift, const float* residual,
                         int64_t N, int64_t C, int64_t HW, NormAct act, float slope,
                         Stream stream) {
  const int64_t total = N * C * HW;
  if (total <= 0) return;
  const int block = 256;
  instance_norm_apply_kernel<<<detail::grid_for(total, block), block, 0, stream>>>(
      out, in, mean, rstd, scale, shift, residual, C, HW, total, act, slope);
  CGAN_CUDA_LAUNCH_CHECK();
}


size_t instance_norm_workspace_bytes(int64_t N, int64_t C, int64_t HW) {
  const int64_t planes = N * C;
  if (planes <= 0 || HW <= 0) return 0;
  const Split s = choose_split(planes, HW);
  return static_cast<size_t>(planes) * s.splits * 2 * sizeof(float);
}

void instance_norm_forward(float* out, float* mean, float* rstd, const float* in,
                           const float* scale, const float* shift, const float* residual,
                           int64_t N, int64_t C, int64_t HW, float eps, NormAct act,
                           float slope, void* workspace, Stream stream, int W, int pad) {
  const int64_t planes = N * C;
  if (planes <= 0 || HW <= 0) return;
  CGAN_CHECK(pad == 0 || (W > pad && HW % W == 0 && HW / W > pad),
             "instance_norm_forward: reflection pad " << pad << " of a map of " << HW
                                                      << " elements in rows of " << W);
  const FwdArgs A{out, mean, rstd, in, scale, shift, residual, C, HW, eps, act, slope, W, pad};
  const bool vec = HW % 4 == 0 && detail::aligned16(out) && detail::aligned16(in) &&
                   (!residual || detail::aligned16(residual));
  const Split s = choose_split(planes, HW);
  if (s.splits == 1) {
    const int block = block_for(vec ? HW / 4 : HW);
    if (vec)
      in_fwd_fused_kernel<true><<<static_cast<unsigned>(planes), block, 0, stream>>>(A);
    else
      in_fwd_fused_kernel<false><<<static_cast<unsigned>(planes), block, 0, stream>>>(A);
    CGAN_CUDA_LAUNCH_CHECK();
    return;
  }
  float* part = static_cast<float*>(workspace);
  const dim3 grid(static_cast<unsigned>(s.splits), static_cast<unsigned>(planes));
  const int block = block_for(vec ? s.chunk / 4 : s.chunk);
  if (vec)
    in_fwd_partial_kernel<true><<<grid, block, 0, stream>>>(part, in, HW, s.chunk);
  else
    in_fwd_partial_kernel<false><<<grid, block, 0, stream>>>(part, in, HW, s.chunk);
  CGAN_CUDA_LAUNCH_CHECK();
  if (vec)
    in_fwd_apply_kernel<true><<<grid, block, 0, stream>>>(A, part, s.chunk);
  else
    in_fwd_apply_kernel<false><<<grid, block, 0, stream>>>(A, part, s.chunk);
  CGAN_CUDA_LAUNCH_CHECK();
}

void instance_norm_backward(float* d_in, float* d_scale, float* d_shift, const float* d_out,
                            const float* in, const float* mean, const float* rstd,
                            const float* scale, const float* out, int64_t N, int64_t C,
                            int64_t HW, NormAct act, float slope, void* workspace,
                            Stream stream) {
  const int64_t planes = N * C;
  if (planes <= 0 || HW <= 0) return;
  const BwdArgs A{d_in, d_out, in, mean, rstd, scale, out, C, HW, act, slope};
  const bool vec = HW % 4 == 0 && detail::aligned16(d_in) && detail::aligned16(d_out) &&
                   detail::aligned16(in) && (act == NormAct::None || detail::aligned16(out));
  float* part = static_cast<float*>(workspace);
  const Split s = choose_split(planes, HW);
  if (s.splits == 1) {
    const int block = block_for(vec ? HW / 4 : HW);
    if (vec)
      in_bwd_fused_kernel<true><<<static_cast<unsigned>(planes), block, 0, stream>>>(A, part);
    else
      in_bwd_fused_kernel<false><<<static_cast<unsigned>(planes), block, 0, stream>>>(A, part);
    CGAN_CUDA_LAUNCH_CHECK();
  } else {
    const dim3 grid(static_cast<unsigned>(s.splits), static_cast<unsigned>(planes));
    const int block = block_for(vec ? s.chunk / 4 : s.chunk);
    if (vec)
      in_bwd_partial_kernel<true><<<grid, block, 0, stream>>>(A, part, s.chunk);
    else
      in_bwd_partial_kernel<false><<<grid, block, 0, stream>>>(A, part, s.chunk);
    CGAN_CUDA_LAUNCH_CHECK();
    if (vec)
      in_bwd_apply_kernel<true><<<grid, block, 0, stream>>>(A, part, s.chunk);
    else
      in_bwd_apply_kernel<false><<<grid, block, 0, stream>>>(A, part, s.chunk);
    CGAN_CUDA_LAUNCH_CHECK();
  }
  if (d_scale || d_shift) {
    const int block = 128;
    const int grid = static_cast<int>((C + block - 1) / block);
    in_param_grad_kernel<<<grid, block, 0, stream>>>(d_scale, d_shift, part, N, C, s.splits);
    CGAN_CUDA_LAUNCH_CHECK();
  }
}

}  // namespace cgan::kernels
