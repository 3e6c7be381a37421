#include "kernels/kernel_util.cuh"
#include "kernels/losses.hpp"

namespace cgan::kernels {

namespace {
constexpr int kBlock = 256;
constexpr int kMaxBlocks = 1024;  // partial sums; the final kernel has one thread per partial

// Depends on n only (not on the GPU) so that the reduction tree, and hence the value, is
// the same everywhere.
int loss_blocks(int64_t n) {
  const int64_t b = (n + 4 * kBlock * 4 - 1) / (4 * kBlock * 4);
  return static_cast<int>(b < 1 ? 1 : (b > kMaxBlocks ? kMaxBlocks : b));
}

struct MseOp {
  float target;
  __device__ float value(float p, float) const {
    const float d = p - target;
    return d * d;
  }
  __device__ float grad(float p, float, float k) const { return k * (p - target); }
};
struct L1Op {
  __device__ float value(float a, float b) const { return fabsf(a - b); }
  __device__ float grad(float a, float b, float k) const {
    const float d = a - b;
    return d > 0.f ? k : (d < 0.f ? -k : 0.f);
  }
};

// b may be null for MseOp (never dereferenced then: kHasB false).
template <class Op, bool kHasB, bool kVec>
__global__ void loss_partial_kernel(float* __restrict__ part, float* __restrict__ grad,
                                    const float* __restrict__ a, const float* __restrict__ b,
                                    int64_t n, float k, Op op) {
  __shared__ float scratch[32];
  const int64_t tid = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  float acc[1] = {0.f};
  int64_t done = 0;
  if (kVec) {
    const int64_t n4 = n >> 2;
    for (int64_t i = tid; i < n4; i += stride) {
      const float4 x = reinterpret_cast<const float4*>(a)[i];
      const float4 y = kHasB ? reinterpret_cast<const float4*>(b)[i] : make_float4(0, 0, 0, 0);
      acc[0] += (op.value(x.x, y.x) + op.value(x.y, y.y)) +
                (op.value(x.z, y.z) + op.value(x.w, y.w));
      if (grad)
        reinterpret_cast<float4*>(grad)[i] =
            make_float4(op.grad(x.x, y.x, k), op.grad(x.y, y.y, k), op.grad(x.z, y.z, k),
                        op.grad(x.w, y.w, k));
    }
    done = n4 << 2;
  }
  for (int64_t i = done + tid; i < n; i += stride) {
    const float y = kHasB ? b[i] : 0.f;
    acc[0] += op.value(a[i], y);
    if (grad) grad[i] = op.grad(a[i], y, k);
  }
  detail::block_sum<1>(acc, scratch);
  if (threadIdx.x == 0) part[blockIdx.x] = acc[0];
}

__global__ void loss_final_kernel(float* __restrict__ loss, const float* __restrict__ part,
                                  int nparts, int64_t n) {
  __shared__ float scratch[32];
  float v[1] = {int(threadIdx.x) < nparts ? part[threadIdx.x] : 0.f};
  detail::block_sum<1>(v, scratch);
  if (threadIdx.x == 0) loss[0] = n > 0 ? static_cast<float>(double(v[0]) / double(n)) : 0.f;
}

template <class Op, bool kHasB>
void run_loss(float* loss, float* grad, const float* a, const float* b, int64_t n, float k,
              Op op, void* workspace, Stream stream) {
  float* part = static_cast<float*>(workspace);
  const int blocks = loss_blocks(n);
  const bool vec = detail::aligned16(a) && (!kHasB || detail::aligned16(b)) &&
                   (!grad || detail::aligned16(grad));
  if (vec)
    loss_partial_kernel<Op, kHasB, true><<<blocks, kBlock, 0, stream>>>(part, grad, a, b, n, k,
                                                                         op);
  else
    loss_partial_kernel<Op, kHasB, false><<<blocks, kBlock, 0, stream>>>(part, grad, a, b, n, k,
                                                                          op);
  CGAN_CUDA_LAUNCH_CHECK();
  loss_final_kernel<<<1, kMaxBlocks, 0, stream>>>(loss, part, blocks, n);
  CGAN_CUDA_LAUNCH_CHECK();
}
}  // namespace

size_t loss_workspace_bytes(int64_t n) { return kMaxBlocks * sizeof(float); }

void mse_const_loss(float* loss, float* d_pred, const float* pred, float target,
                    float grad_scale, int64_t n, void* workspace, Stream stream) {
  const float k = n > 0 ? grad_scale * 2.f / static_cast<float>(n) : 0.f;
  run_loss<MseOp, false>(loss, d_pred, pred, nullptr, n, k, MseOp{target}, workspace, stream);
}

void l1_loss(float* loss, float* d_a, const float* a, const float* b, float grad_scale,
             int64_t n, void* workspace, Stream stream) {
  const float k = n > 0 ? grad_scale / static_cast<float>(n) : 0.f;
  run_loss<L1Op, true>(loss, d_a, a, b, n, k, L1Op{}, workspace, stream);
}

}  // namespace cgan::kernels
