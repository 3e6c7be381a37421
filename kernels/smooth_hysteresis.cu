// Exact hysteresis: a weak pixel becomes an edge iff it is 8-connected through weak pixels to
// a strong one. Each pass propagates inside 32x32 tiles (shared memory, iterated until the
// tile is stable) using the neighbouring tiles' current state as a read-only halo; passes
// repeat until one changes nothing, which is the same fixed point cv::Canny's stack reaches.
#include "cuda_check.hpp"
#include "kernels/smooth.hpp"
#include "kernels/smooth_math.hpp"

namespace cgan::kernels {

namespace {

constexpr int kTile = 32;
constexpr int kBlockRows = 8;
constexpr int kRowsPerThread = kTile / kBlockRows;
// Passes launched between two host reads of the "changed" flag: fewer host round trips,
// and a pass after the fixed point costs one global read per block.
constexpr int kPassesPerCheck = 8;

__global__ void hysteresis_pass_kernel(uint8_t* state, int h, int w, const int* prev_changed,
                                       int* changed) {
  if (prev_changed && *prev_changed == 0) return;  // an earlier pass already converged
  __shared__ uint8_t s[kTile + 2][kTile + 2];
  const int x0 = blockIdx.x * kTile, y0 = blockIdx.y * kTile;
  uint8_t* st = state + int64_t(blockIdx.z) * h * w;
  const int tid = threadIdx.y * kTile + threadIdx.x;
  for (int i = tid; i < (kTile + 2) * (kTile + 2); i += kTile * kBlockRows) {
    const int ty = i / (kTile + 2), tx = i % (kTile + 2);
    const int gy = y0 - 1 + ty, gx = x0 - 1 + tx;
    // Other blocks may be promoting these halo pixels concurrently; either value is a valid
    // under-approximation of the fixed point, and the pass loop catches up.
    s[ty][tx] = (gy >= 0 && gy < h && gx >= 0 && gx < w)
                    ? static_cast<volatile const uint8_t*>(st)[int64_t(gy) * w + gx]
                    : uint8_t(smooth::kNotEdge);
  }
  __syncthreads();  // the tile is filled by all threads before anyone reads it
  int has_weak = 0;
  for (int r = 0; r < kRowsPerThread; ++r)
    has_weak |= s[threadIdx.y + r * kBlockRows + 1][threadIdx.x + 1] == smooth::kWeak;
  if (!__syncthreads_or(has_weak)) return;  // uniform across the block

  unsigned promoted = 0;  // bit r: this thread's pixel in row r was promoted
  for (;;) {
    int local = 0;
    for (int r = 0; r < kRowsPerThread; ++r) {
      const int ly = threadIdx.y + r * kBlockRows + 1, lx = threadIdx.x + 1;
      if (s[ly][lx] != smooth::kWeak) continue;
      // Reads race with neighbours' promotions in this sweep; values only rise from weak to
      // strong, and the loop ends only after a sweep in which nothing was written.
      const volatile uint8_t(*vs)[kTile + 2] = s;
      const bool touch = vs[ly - 1][lx - 1] == smooth::kStrong || vs[ly - 1][lx] == smooth::kStrong ||
                         vs[ly - 1][lx + 1] == smooth::kStrong || vs[ly][lx - 1] == smooth::kStrong ||
                         vs[ly][lx + 1] == smooth::kStrong || vs[ly + 1][lx - 1] == smooth::kStrong ||
                         vs[ly + 1][lx] == smooth::kStrong || vs[ly + 1][lx + 1] == smooth::kStrong;
      if (touch) {
        s[ly][lx] = smooth::kStrong;
        promoted |= 1u << r;
        local = 1;
      }
    }
    if (!__syncthreads_or(local)) break;
  }
  if (promoted) {
    for (int r = 0; r < kRowsPerThread; ++r) {
      if (!(promoted & (1u << r))) continue;
      const int gy = y0 + threadIdx.y + r * kBlockRows, gx = x0 + threadIdx.x;
      st[int64_t(gy) * w + gx] = smooth::kStrong;  // only in-image pixels can be weak
    }
    *changed = 1;  // every writer stores the same value
  }
}

}  // namespace

int smooth_hysteresis_flag_count() { return kPassesPerCheck; }

void smooth_hysteresis(uint8_t* state, int* flags, int n, int h, int w, Stream stream) {
  if (n == 0 || h == 0 || w == 0) return;
  CGAN_CHECK(n <= 65535 && (h + kTile - 1) / kTile <= 65535,
             "smooth_hysteresis: batch " << n << " x " << h << " rows exceeds the grid limits");
  const dim3 grid((w + kTile - 1) / kTile, (h + kTile - 1) / kTile, n);
  const dim3 block(kTile, kBlockRows);
  // Every pass that reports a change promotes at least one pixel, so this bounds the loop.
  const int64_t max_passes = int64_t(n) * h * w + kPassesPerCheck;
  for (int64_t passes = 0;; passes += kPassesPerCheck) {
    CGAN_CHECK(passes <= max_passes,
               "smooth_hysteresis: no fixed point after " << passes << " passes");
    CGAN_CUDA_CHECK(cudaMemsetAsync(flags, 0, sizeof(int) * kPassesPerCheck, stream));
    for (int k = 0; k < kPassesPerCheck; ++k) {
      hysteresis_pass_kernel<<<grid, block, 0, stream>>>(state, h, w,
                                                         k ? flags + k - 1 : nullptr, flags + k);
      CGAN_CUDA_LAUNCH_CHECK();
    }
    int last_changed = 0;
    CGAN_CUDA_CHECK(cudaMemcpyAsync(&last_changed, flags + kPassesPerCheck - 1, sizeof(int),
                                    cudaMemcpyDeviceToHost, stream));
    CGAN_CUDA_CHECK(cudaStreamSynchronize(stream));
    if (!last_changed) return;
  }
}

}  // namespace cgan::kernels
