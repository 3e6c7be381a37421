#pragma once
// Internal: cuBLAS, loaded on first use instead of linked. The library computes nothing with
// cuBLAS (it hands a handle to users who want one), and a linked libcublas pulls libcublasLt
// into every process at start: ~150 MB of resident memory even for a CPU-only run.
#ifndef CGAN_CUDA_EMULATION
#include <cublas_v2.h>

namespace cgan::detail {

struct CublasApi {
  cublasStatus_t (*create)(cublasHandle_t*);
  cublasStatus_t (*destroy)(cublasHandle_t);
  cublasStatus_t (*set_stream)(cublasHandle_t, cudaStream_t);
};

// Loads libcublas.so.<major> once per process: the one already loaded if any, else from the
// folder of the libcudart in use, else by the usual search. Throws cgan::Error naming the library and dlerror() if it cannot.
const CublasApi& cublas_api();

}  // namespace cgan::detail
#endif
