// A self-contained CUDA program for scripts/cuda_emu_run.sh (and for nvcc: it is plain CUDA).
// Sums 1..n three ways -- warp shuffles, a dynamic-shared-memory tree, global atomics -- on
// two streams ordered by an event, and checks the results on the host.
//   scripts/cuda_emu_run.sh emu/examples/block_reduce.cu [n]
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#define CK(call)                                                                        \
  do {                                                                                  \
    cudaError_t e_ = (call);                                                            \
    if (e_ != cudaSuccess) {                                                            \
      std::fprintf(stderr, "%s failed: %s\n", #call, cudaGetErrorString(e_));           \
      return 1;                                                                         \
    }                                                                                   \
  } while (0)

template <typename T>
__device__ __forceinline__ T warp_reduce(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  return v;
}

template <int kBlock>
__global__ void __launch_bounds__(kBlock) sum_shuffle(unsigned long long* out, const int* in, int n) {
  __shared__ unsigned long long partial[kBlock / 32];
  unsigned long long v = 0;
  for (int i = blockIdx.x * kBlock + threadIdx.x; i < n; i += gridDim.x * kBlock) v += in[i];
  v = warp_reduce(v);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x / 32] = v;
  __syncthreads();
  if (threadIdx.x < 32) {
    v = threadIdx.x < kBlock / 32 ? partial[threadIdx.x] : 0;
    v = warp_reduce(v);
    if (threadIdx.x == 0) atomicAdd(out, v);
  }
}

__global__ void sum_tree(unsigned long long* out, const int* in, int n) {
  extern __shared__ unsigned long long tree[];
  unsigned long long v = 0;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) v += in[i];
  tree[threadIdx.x] = v;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) tree[threadIdx.x] += tree[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) atomicAdd(out, tree[0]);
}

__global__ void iota(int* x, int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) x[i] = i + 1;
}

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 100003;
  int* d_in = nullptr;
  unsigned long long* d_out = nullptr;
  CK(cudaMalloc(&d_in, n * sizeof(int)));
  CK(cudaMalloc(&d_out, 2 * sizeof(unsigned long long)));
  cudaStream_t a, b;
  cudaEvent_t ready;
  CK(cudaStreamCreateWithFlags(&a, cudaStreamNonBlocking));
  CK(cudaStreamCreateWithFlags(&b, cudaStreamNonBlocking));
  CK(cudaEventCreate(&ready));
  CK(cudaMemsetAsync(d_out, 0, 2 * sizeof(unsigned long long), a));
  iota<<<64, 256, 0, a>>>(d_in, n);
  CK(cudaGetLastError());
  CK(cudaEventRecord(ready, a));
  CK(cudaStreamWaitEvent(b, ready, 0));
  sum_shuffle<256><<<32, 256, 0, a>>>(d_out, d_in, n);
  CK(cudaGetLastError());
  sum_tree<<<16, 128, 128 * sizeof(unsigned long long), b>>>(d_out + 1, d_in, n);
  CK(cudaGetLastError());
  std::vector<unsigned long long> h(2);
  CK(cudaStreamSynchronize(b));
  CK(cudaStreamSynchronize(a));
  CK(cudaMemcpy(h.data(), d_out, 2 * sizeof(unsigned long long), cudaMemcpyDeviceToHost));
  const unsigned long long want = (unsigned long long)n * (n + 1) / 2;
  std::printf("n=%d sum: shuffle %llu, tree %llu, expected %llu\n", n, h[0], h[1], want);
  CK(cudaFree(d_in));
  CK(cudaFree(d_out));
  CK(cudaStreamDestroy(a));
  CK(cudaStreamDestroy(b));
  CK(cudaEventDestroy(ready));
  return h[0] == want && h[1] == want ? 0 : 1;
}
