// For the door test: a kernel that exits some lanes and then shuffles with the full mask.
// The program ignores every error code; scripts/cuda_emu_run.sh must still fail, naming the
// kernel, block and thread.
#include <cuda_runtime.h>

#include <cstdio>

__global__ void half_warp_shuffle(float* out) {
  if (threadIdx.x >= 16) return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, float(threadIdx.x), 1);
}

int main() {
  float* d = nullptr;
  cudaMalloc(&d, 32 * sizeof(float));
  half_warp_shuffle<<<1, 32>>>(d);
  cudaDeviceSynchronize();
  std::printf("program finished without checking errors\n");
  return 0;
}
