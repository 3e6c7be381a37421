#include <cuda_bf16.h>

#include <initializer_list>

#include "kernels/act_pad_index.hpp"
#include "kernels/instance_norm_nhwc.hpp"
#include "kernels/kernel_util.cuh"
#include "kernels/storage.cuh"

// Strategy. In NHWC the channels of one pixel are contiguous, so a warp reading consecutive
// addresses covers consecutive channels: each thread owns V channels (one 128-bit vector:
// 8 bf16 or 4 floats) of a slab of channels, and the block's threads are laid out as
// `lanes` channel groups x `rows` pixel rows. A block handles one (image, slab, chunk of
// rows); the rows of an image are split into chunks so that small batches still fill the GPU.
//   forward:  partial  (shifted sum, shifted sum of squares) per (n, chunk, c) -> workspace
//             apply    every block merges the chunks of its channels (fixed order, so every
//                      block of a plane gets bit-identical statistics), then writes
//                      act(scale * (x - mean) * rstd + shift + residual) rounded to T.
//   backward: partial  (sum g, sum g * (x - mean)) per (n, chunk, c), g = d_out masked by
//                      the activation; apply: d_in, and the first chunk's blocks of image 0
//                      add d_scale/d_shift summed over every image and chunk in fixed order.
// Statistics are one pass over the input relative to a pivot (the chunk's first row): x -
// pivot is exact for values within a factor 2 of each other (Sterbenz), so a large mean
// costs nothing, and the forward reads its input twice instead of three times.

namespace cgan::kernels {

namespace {

constexpr int kThreads = 256;
constexpr int kMaxSplits = 64;

template <typename T>
struct Store {
  using dev = typename detail::DevStorage<T>::type;
  static constexpr int kVec = 16 / int(sizeof(T));
};
using detail::act_bwd;
using detail::act_fwd;
using detail::from_f;
using detail::to_f;

// V consecutive elements <-> V floats; one 16-byte access when V * sizeof(D) == 16.
template <typename D, int V>
__device__ __forceinline__ void load(const D* p, float (&f)[V]) {
  if constexpr (V * sizeof(D) == 16) {
    const uint4 raw = *reinterpret_cast<const uint4*>(p);
    D v[V];
    memcpy(static_cast<void*>(v), &raw, 16);
#pragma unroll
    for (int i = 0; i < V; ++i) f[i] = to_f(v[i]);
  } else {
#pragma unroll
    for (int i = 0; i < V; ++i) f[i] = to_f(p[i]);
  }
}
template <typename D, int V>
__device__ __forceinline__ void store(D* p, const float (&f)[V]) {
  if constexpr (V * sizeof(D) == 16) {
    D v[V];
#pragma unroll
    for (int i = 0; i < V; ++i) v[i] = from_f<D>(f[i]);
    uint4 raw;
    memcpy(&raw, v, 16);
    *reinterpret_cast<uint4*>(p) = raw;
  } else {
#pragma unroll
    for (int i = 0; i < V; ++i) p[i] = from_f<D>(f[i]);
  }
}

// How the work is cut; a pure function of the sizes, the vector width and the SM count, so
// forward, backward and the workspace size agree.
struct Plan {
  int V;            // channels per thread
  int lanes;        // channel groups per block (threads along C)
  int rows;         // pixel rows in flight per block
  int slabs;        // blocks along C
  int splits;       // chunks of rows per image
  int64_t chunk;    // rows per chunk
};

Plan make_plan(int64_t N, int64_t HW, int64_t C, int V) {
  Plan p{};
  p.V = V;
  const int64_t groups = (C + V - 1) / V;
  p.lanes = static_cast<int>(groups < 32 ? groups : 32);
  p.rows = kThreads / p.lanes;
  p.slabs = static_cast<int>((groups + p.lanes - 1) / p.lanes);
  const int64_t blocks = N * p.slabs;
  const int64_t sms = detail::sm_count();
  int64_t want = (4 * sms + blocks - 1) / blocks;     // about four waves in all
  const int64_t by_rows = HW / (8 * int64_t(p.rows));  // at least 8 rows per thread
  if (want > by_rows) want = by_rows;
  if (want > kMaxSplits) want = kMaxSplits;
  if (want < 1) want = 1;
  p.chunk = (HW + want - 1) / want;
  p.splits = static_cast<int>((HW + p.chunk - 1) / p.chunk);
  return p;
}

int vec_width(int64_t C, int v, std::initializer_list<const void*> ptrs) {
  if (C % v != 0) return 1;
  for (const void* q : ptrs)
    if (q && !detail::aligned16(q)) return 1;
  return v;
}

// Per-thread coordinates in the (lanes x rows) block and its channels.
struct Coord {
  int64_t c0;     // first of this thread's V channels
  bool active;    // owns channels (< C)
  int row;        // row lane
};
__device__ __forceinline__ Coord coord(int lanes, int V, int64_t C, int64_t slab) {
  Coord k;
  const int lane = threadIdx.x % lanes;
  k.row = threadIdx.x / lanes;
  k.c0 = (slab * lanes + lane) * V;
  k.active = k.c0 < C && k.row < kThreads / lanes;
  return k;
}

// The (image, slab, chunk) a block handles. The apply kernels walk the grid backwards: blocks
// start roughly in index order, so the chunks the partial kernel read last are still in L2
// when the apply kernel starts on them, and part of the second read of a map too large for
// L2 comes from there instead of DRAM. (A scheduling effect, not a correctness one: any order
// gives the same results.)
struct Tile {
  int64_t n, slab, s;
};
__device__ __forceinline__ Tile tile(bool reversed) {
  if (!reversed) return {int64_t(blockIdx.z), int64_t(blockIdx.y), int64_t(blockIdx.x)};
  return {int64_t(gridDim.z - 1 - blockIdx.z), int64_t(gridDim.y - 1 - blockIdx.y),
          int64_t(gridDim.x - 1 - blockIdx.x)};
}

// Sums K per-channel values over the block's row lanes, in row order (deterministic);
// the results land in sh[k][lane * V + i] (read them after the call, from any thread).
template <int V, int K>
__device__ void reduce_rows(float (&v)[K][V], float* sh, int lanes, int rows) {
  const int lane = threadIdx.x % lanes, row = threadIdx.x / lanes;
  const int width = lanes * V;
  // Tree over rows in shared memory: sh[k][row][lane*V + i].
  for (int k = 0; k < K; ++k)
#pragma unroll
    for (int i = 0; i < V; ++i)
      if (row < rows) sh[(k * rows + row) * width + lane * V + i] = v[k][i];
  __syncthreads();
  for (int step = 1; step < rows; step *= 2) {
    if (row < rows && row % (2 * step) == 0 && row + step < rows)
      for (int k = 0; k < K; ++k)
#pragma unroll
        for (int i = 0; i < V; ++i)
          sh[(k * rows + row) * width + lane * V + i] +=
              sh[(k * rows + row + step) * width + lane * V + i];
    __syncthreads();
  }
}

// ---- forward ----------------------------------------------------------------------------

// grid (splits, slabs, N): part[((n * splits + s) * C + c) * 2 + {0: mean, 1: m2}]
template <typename D, int V>
__global__ void nhwc_stats_partial(float* part, const D* in, int64_t HW, int64_t C,
                                   int64_t chunk, int lanes) {
  extern __shared__ float sh[];
  const int rows = kThreads / lanes;
  const Tile t = tile(false);
  const Coord k = coord(lanes, V, C, t.slab);
  const int64_t n = t.n, s = t.s, splits = gridDim.x;
  const int64_t r0 = s * chunk, r1 = min(HW, r0 + chunk);
  float acc[2][V] = {};
  float pivot[V] = {};
  if (k.active) {
    const D* x = in + n * HW * C + k.c0;
    load<D, V>(x + r0 * C, pivot);
    for (int64_t r = r0 + k.row; r < r1; r += rows) {
      float v[V];
      load<D, V>(x + r * C, v);
#pragma unroll
      for (int i = 0; i < V; ++i) {
        const float d = v[i] - pivot[i];
        acc[0][i] += d;
        acc[1][i] += d * d;
      }
    }
  }
  reduce_rows<V, 2>(acc, sh, lanes, rows);
  if (k.active && k.row == 0) {
    const int lane = threadIdx.x % lanes;
    const float cnt = float(r1 - r0);
    const float* s0 = sh + lane * V;
    const float* s1 = sh + rows * lanes * V + lane * V;
#pragma unroll
    for (int i = 0; i < V; ++i) {
      const float ds = s0[i], dq = s1[i];
      const float m2 = dq - ds * (ds / cnt);
      float* o = part + ((n * splits + s) * C + k.c0 + i) * 2;
      o[0] = pivot[i] + ds / cnt;
      o[1] = m2 > 0.f ? m2 : 0.f;
    }
  }
}

// Merges the chunks of (n, c) in order (Chan et al.); the same arithmetic in every block.
__device__ __forceinline__ void merge_stats(const float* part, int64_t n, int64_t c, int64_t C,
                                            int splits, int64_t HW, int64_t chunk, float& mean,
                                            float& m2) {
  const float ref = part[((n * splits) * C + c) * 2];
  float dmean = 0.f;
  for (int j = 0; j < splits; ++j) {
    const float cnt = float(min(HW, (j + 1) * chunk) - j * chunk);
    dmean += (part[((n * splits + j) * C + c) * 2] - ref) * cnt;
  }
  mean = ref + dmean / float(HW);
  m2 = 0.f;
  for (int j = 0; j < splits; ++j) {
    const float cnt = float(min(HW, (j + 1) * chunk) - j * chunk);
    const float* q = part + ((n * splits + j) * C + c) * 2;
    const float d = q[0] - mean;
    m2 += q[1] + cnt * d * d;
  }
}

struct FwdArgs {
  float* mean;
  float* rstd;
  const float* scale;
  const float* shift;
  const float* part;
  int64_t HW, C, chunk;
  float eps;
  NormAct act;
  float slope;
  int lanes;
  int W, pad;  // pad > 0: out is reflection-padded by pad (rows of W pixels)
};

template <typename D, int V>
__global__ void nhwc_fwd_apply(D* out, const D* in, const D* residual, FwdArgs A) {
  // sh[0][j] = mean, sh[1][j] = a = scale * rstd, sh[2][j] = shift, j = slab channel
  extern __shared__ float sh[];
  const int width = A.lanes * V;
  const Tile t = tile(true);
  const int64_t n = t.n, s = t.s, splits = gridDim.x;
  const int64_t cbase = t.slab * width;
  for (int j = threadIdx.x; j < width; j += blockDim.x) {
    const int64_t c = cbase + j;
    if (c >= A.C) continue;
    float mean, m2;
    merge_stats(A.part, n, c, A.C, int(splits), A.HW, A.chunk, mean, m2);
    const float rstd = rsqrtf(m2 / float(A.HW) + A.eps);
    sh[j] = mean;
    sh[width + j] = A.scale ? A.scale[c] * rstd : rstd;
    sh[2 * width + j] = A.shift ? A.shift[c] : 0.f;
    if (s == 0) {
      A.mean[n * A.C + c] = mean;
      A.rstd[n * A.C + c] = rstd;
    }
  }
  __syncthreads();
  const Coord k = coord(A.lanes, V, A.C, t.slab);
  if (!k.active) return;
  const int rows = kThreads / A.lanes;
  const int j0 = int(k.c0 - cbase);
  float m[V], a[V], b[V];
#pragma unroll
  for (int i = 0; i < V; ++i) {
    m[i] = sh[j0 + i];
    a[i] = sh[width + j0 + i];
    b[i] = sh[2 * width + j0 + i];
  }
  const int64_t r0 = s * A.chunk, r1 = min(A.HW, r0 + A.chunk);
  const int64_t base = n * A.HW * A.C + k.c0;
  const int H = A.pad > 0 ? int(A.HW / A.W) : 0, OW = A.W + 2 * A.pad;
  D* out_n = out + n * int64_t(H + 2 * A.pad) * OW * A.C + k.c0;  // padded output's image n
  for (int64_t r = r0 + k.row; r < r1; r += rows) {
    const int64_t off = base + r * A.C;
    float v[V];
    load<D, V>(in + off, v);
    float res[V] = {};
    if (residual) load<D, V>(residual + off, res);
#pragma unroll
    for (int i = 0; i < V; ++i) v[i] = act_fwd((v[i] - m[i]) * a[i] + b[i] + res[i], A.act, A.slope);
    if (A.pad == 0) {
      store<D, V>(out + off, v);
      continue;
    }
    // The pixel to its padded position and to the mirror positions that read it.
    int ph[3], pw[3];
    const int nr = cgan::detail::pad_sources(int(r / A.W), H, A.pad, ph);
    const int nc = cgan::detail::pad_sources(int(r % A.W), A.W, A.pad, pw);
    for (int u = 0; u < nr; ++u)
      for (int q = 0; q < nc; ++q) store<D, V>(out_n + (int64_t(ph[u]) * OW + pw[q]) * A.C, v);
  }
}

// ---- backward ---------------------------------------------------------------------------

struct BwdArgs {
  const float* mean;
  const float* rstd;
  const float* scale;
  float* part;
  float* d_scale;
  float* d_shift;
  int64_t N, HW, C, chunk;
  NormAct act;
  float slope;
  int lanes;
};

// grid (splits, slabs, N): part[((n * splits + s) * C + c) * 2 + {0: sum g, 1: sum g(x-mean)}]
template <typename D, int V>
__global__ void nhwc_bwd_partial(const D* d_out, const D* in, const D* out, BwdArgs A) {
  extern __shared__ float sh[];
  const int rows = kThreads / A.lanes;
  const Tile t = tile(false);
  const Coord k = coord(A.lanes, V, A.C, t.slab);
  const int64_t n = t.n, s = t.s, splits = gridDim.x;
  const int64_t r0 = s * A.chunk, r1 = min(A.HW, r0 + A.chunk);
  float acc[2][V] = {};
  if (k.active) {
    float m[V];
#pragma unroll
    for (int i = 0; i < V; ++i) m[i] = A.mean[n * A.C + k.c0 + i];
    const int64_t base = n * A.HW * A.C + k.c0;
    for (int64_t r = r0 + k.row; r < r1; r += rows) {
      const int64_t off = base + r * A.C;
      float g[V], x[V];
      load<D, V>(d_out + off, g);
      load<D, V>(in + off, x);
      if (A.act != NormAct::None) {
        float y[V];
        load<D, V>(out + off, y);
#pragma unroll
        for (int i = 0; i < V; ++i) g[i] = act_bwd(g[i], y[i], A.act, A.slope);
      }
#pragma unroll
      for (int i = 0; i < V; ++i) {
        acc[0][i] += g[i];
        acc[1][i] += g[i] * (x[i] - m[i]);
      }
    }
  }
  reduce_rows<V, 2>(acc, sh, A.lanes, rows);
  if (k.active && k.row == 0) {
    const int lane = threadIdx.x % A.lanes;
#pragma unroll
    for (int i = 0; i < V; ++i) {
      float* o = A.part + ((n * splits + s) * A.C + k.c0 + i) * 2;
      o[0] = sh[lane * V + i];
      o[1] = sh[rows * A.lanes * V + lane * V + i];
    }
  }
}

template <typename D, int V>
__global__ void nhwc_bwd_apply(D* d_in, const D* d_out, const D* in, const D* out, BwdArgs A) {
  // sh[0][j] = mean, sh[1][j] = k = scale * rstd, sh[2][j] = mean of g, sh[3][j] = rstd *
  // mean of g * xhat
  extern __shared__ float sh[];
  const int width = A.lanes * V;
  const Tile t = tile(true);
  const int64_t n = t.n, s = t.s, splits = gridDim.x;
  const int64_t cbase = t.slab * width;
  for (int j = threadIdx.x; j < width; j += blockDim.x) {
    const int64_t c = cbase + j;
    if (c >= A.C) continue;
    float sg = 0.f, sgx = 0.f;
    for (int q = 0; q < splits; ++q) {
      sg += A.part[((n * splits + q) * A.C + c) * 2];
      sgx += A.part[((n * splits + q) * A.C + c) * 2 + 1];
    }
    const float r = A.rstd[n * A.C + c];
    sh[j] = A.mean[n * A.C + c];
    sh[width + j] = (A.scale ? A.scale[c] : 1.f) * r;
    sh[2 * width + j] = sg / float(A.HW);
    sh[3 * width + j] = r * (sgx * r) / float(A.HW);
    if (s == 0 && n == 0 && (A.d_scale || A.d_shift)) {
      // Parameter gradients: every image and chunk, in fixed order, by one block per slab.
      float dsc = 0.f, dsh = 0.f;
      for (int64_t nn = 0; nn < A.N; ++nn) {
        const float rr = A.rstd[nn * A.C + c];
        float a = 0.f, b = 0.f;
        for (int q = 0; q < splits; ++q) {
          a += A.part[((nn * splits + q) * A.C + c) * 2];
          b += A.part[((nn * splits + q) * A.C + c) * 2 + 1];
        }
        dsh += a;
        dsc += b * rr;
      }
      if (A.d_scale) A.d_scale[c] += dsc;
      if (A.d_shift) A.d_shift[c] += dsh;
    }
  }
  __syncthreads();
  const Coord k = coord(A.lanes, V, A.C, t.slab);
  if (!k.active) return;
  const int rows = kThreads / A.lanes;
  const int j0 = int(k.c0 - cbase);
  float m[V], kk[V], mg[V], mgx[V];
#pragma unroll
  for (int i = 0; i < V; ++i) {
    m[i] = sh[j0 + i];
    kk[i] = sh[width + j0 + i];
    mg[i] = sh[2 * width + j0 + i];
    mgx[i] = sh[3 * width + j0 + i];
  }
  const int64_t r0 = s * A.chunk, r1 = min(A.HW, r0 + A.chunk);
  const int64_t base = n * A.HW * A.C + k.c0;
  for (int64_t r = r0 + k.row; r < r1; r += rows) {
    const int64_t off = base + r * A.C;
    float g[V], x[V];
    load<D, V>(d_out + off, g);
    load<D, V>(in + off, x);
    if (A.act != NormAct::None) {
      float y[V];
      load<D, V>(out + off, y);
#pragma unroll
      for (int i = 0; i < V; ++i) g[i] = act_bwd(g[i], y[i], A.act, A.slope);
    }
    // d_in = k * (g - mean(g) - (x - mean) * rstd^2 * mean(g * (x - mean)))
#pragma unroll
    for (int i = 0; i < V; ++i) g[i] = kk[i] * (g[i] - mg[i] - (x[i] - m[i]) * mgx[i]);
    store<D, V>(d_in + off, g);
  }
}

size_t shared_bytes(const Plan& p, int K) {
  // reduce_rows: K x rows x (lanes * V); apply prologue: 4 x (lanes * V)
  const size_t a = size_t(K) * p.rows * p.lanes * p.V * sizeof(float);
  const size_t b = size_t(4) * p.lanes * p.V * sizeof(float);
  return a > b ? a : b;
}

template <typename D, int V, typename K>
void set_smem(K kernel, size_t bytes) {
  if (bytes > 48 * 1024)
    CGAN_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(bytes)));
}

template <typename D, int V>
void forward_impl(D* out, float* mean, float* rstd, const D* in, const float* scale,
                  const float* shift, const D* residual, int64_t N, int64_t HW, int64_t C,
                  float eps, NormAct act, float slope, void* workspace, Stream stream, int W,
                  int pad) {
  const Plan p = make_plan(N, HW, C, V);
  const dim3 grid(p.splits, p.slabs, static_cast<unsigned>(N));
  float* part = static_cast<float*>(workspace);
  const size_t smem = shared_bytes(p, 2);
  set_smem<D, V>(nhwc_stats_partial<D, V>, smem);
  set_smem<D, V>(nhwc_fwd_apply<D, V>, smem);
  nhwc_stats_partial<D, V><<<grid, kThreads, smem, stream>>>(part, in, HW, C, p.chunk, p.lanes);
  CGAN_CUDA_LAUNCH_CHECK();
  FwdArgs A{mean, rstd, scale, shift, part, HW, C, p.chunk, eps, act, slope, p.lanes, W, pad};
  nhwc_fwd_apply<D, V><<<grid, kThreads, smem, stream>>>(out, in, residual, A);
  CGAN_CUDA_LAUNCH_CHECK();
}

template <typename D, int V>
void backward_impl(D* d_in, float* d_scale, float* d_shift, const D* d_out, const D* in,
                   const float* mean, const float* rstd, const float* scale, const D* out,
                   int64_t N, int64_t HW, int64_t C, NormAct act, float slope,
                   void* workspace, Stream stream) {
  const Plan p = make_plan(N, HW, C, V);
  const dim3 grid(p.splits, p.slabs, static_cast<unsigned>(N));
  BwdArgs A{mean, rstd, scale, static_cast<float*>(workspace), d_scale, d_shift, N, HW, C,
            p.chunk, act, slope, p.lanes};
  const size_t smem = shared_bytes(p, 2);
  set_smem<D, V>(nhwc_bwd_partial<D, V>, smem);
  set_smem<D, V>(nhwc_bwd_apply<D, V>, smem);
  nhwc_bwd_partial<D, V><<<grid, kThreads, smem, stream>>>(d_out, in, out, A);
  CGAN_CUDA_LAUNCH_CHECK();
  nhwc_bwd_apply<D, V><<<grid, kThreads, smem, stream>>>(d_in, d_out, in, out, A);
  CGAN_CUDA_LAUNCH_CHECK();
}

void check_sizes(int64_t N, int64_t HW, int64_t C, const char* what) {
  CGAN_CHECK(N >= 1 && HW >= 1 && C >= 1 && N <= 65535,
             what << ": unsupported sizes N " << N << " HW " << HW << " C " << C);
}

}  // namespace

size_t instance_norm_nhwc_workspace_bytes(int64_t N, int64_t HW, int64_t C) {
  // Enough for whichever vector width the pointers allow at launch.
  int splits = 1;
  for (int v : {1, 4, 8}) {
    const int s = make_plan(N, HW, C, v).splits;
    splits = s > splits ? s : splits;
  }
  return size_t(N) * splits * C * 2 * sizeof(float);
}

template <typename T>
void instance_norm_nhwc_forward(T* out, float* mean, float* rstd, const T* in,
                                const float* scale, const float* shift, const T* residual,
                                int64_t N, int64_t HW, int64_t C, float eps, NormAct act,
                                float slope, void* workspace, Stream stream, int W, int pad) {
  check_sizes(N, HW, C, "instance_norm_nhwc_forward");
  CGAN_CHECK(pad == 0 || (W > pad && HW % W == 0 && HW / W > pad),
             "instance_norm_nhwc_forward: reflection pad " << pad << " of a map of " << HW
                                                           << " pixels in rows of " << W);
  using D = typename Store<T>::dev;
  static_assert(sizeof(D) == sizeof(T), "storage type size");
  auto* o = reinterpret_cast<D*>(out);
  auto* x = reinterpret_cast<const D*>(in);
  auto* r = reinterpret_cast<const D*>(residual);
  if (vec_width(C, Store<T>::kVec, {out, in, residual}) > 1)
    forward_impl<D, Store<T>::kVec>(o, mean, rstd, x, scale, shift, r, N, HW, C, eps, act,
                                    slope, workspace, stream, W, pad);
  else
    forward_impl<D, 1>(o, mean, rstd, x, scale, shift, r, N, HW, C, eps, act, slope, workspace,
                       stream, W, pad);
}

template <typename T>
void instance_norm_nhwc_backward(T* d_in, float* d_scale, float* d_shift, const T* d_out,
                                 const T* in, const float* mean, const float* rstd,
                                 const float* scale, const T* out, int64_t N, int64_t HW,
                                 int64_t C, NormAct act, float slope, void* workspace,
                                 Stream stream) {
  check_sizes(N, HW, C, "instance_norm_nhwc_backward");
  CGAN_CHECK(act == NormAct::None || out, "instance_norm_nhwc_backward: the activation's mask "
                                          "needs the forward output");
  using D = typename Store<T>::dev;
  auto* dx = reinterpret_cast<D*>(d_in);
  auto* dy = reinterpret_cast<const D*>(d_out);
  auto* x = reinterpret_cast<const D*>(in);
  auto* y = reinterpret_cast<const D*>(act == NormAct::None ? nullptr : out);
  if (vec_width(C, Store<T>::kVec, {d_in, d_out, in, y}) > 1)
    backward_impl<D, Store<T>::kVec>(dx, d_scale, d_shift, dy, x, mean, rstd, scale, y, N, HW,
                                     C, act, slope, workspace, stream);
  else
    backward_impl<D, 1>(dx, d_scale, d_shift, dy, x, mean, rstd, scale, y, N, HW, C, act,
                        slope, workspace, stream);
}

#define CGAN_INSTANTIATE(T)                                                                  \
  template void instance_norm_nhwc_forward<T>(T*, float*, float*, const T*, const float*,    \
                                              const float*, const T*, int64_t, int64_t,      \
                                              int64_t, float, NormAct, float, void*, Stream, \
                                              int, int);                                    \
  template void instance_norm_nhwc_backward<T>(T*, float*, float*, const T*, const T*,       \
                                               const float*, const float*, const float*,     \
                                               const T*, int64_t, int64_t, int64_t, NormAct, \
                                               float, void*, Stream);
CGAN_INSTANTIATE(float)
CGAN_INSTANTIATE(bf16)
#undef CGAN_INSTANTIATE

}  // namespace cgan::kernels
