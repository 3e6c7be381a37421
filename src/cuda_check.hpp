#pragma once
// Internal: status checks for CUDA runtime, cuBLAS and cuDNN calls. Each failure becomes a
// cgan::Error carrying the call text, file, line and the library's status string.
#include <cuda_runtime.h>
#ifndef CGAN_CUDA_EMULATION  // the emulation build has no cuBLAS or cuDNN (emu/README.md)
#include <cublas_v2.h>
#include <cudnn.h>
#endif

#include "cgan/error.hpp"

#ifndef CGAN_CUDA_EMULATION
namespace cgan::detail {
const char* cublas_status_string(cublasStatus_t s);
}
#endif

#define CGAN_CUDA_CHECK(call)                                                              \
  do {                                                                                     \
    cudaError_t cgan_st_ = (call);                                                         \
    if (cgan_st_ != cudaSuccess) {                                                         \
      (void)cudaGetLastError(); /* clear a sticky-free error so later calls are clean */   \
      ::cgan::detail::throw_error("CUDA error", #call, __FILE__, __LINE__,                 \
                                  std::string(cudaGetErrorName(cgan_st_)) + ": " +         \
                                      cudaGetErrorString(cgan_st_));                       \
    }                                                                                      \
  } while (0)

// After a kernel launch: launch-configuration errors show up here.
#define CGAN_CUDA_LAUNCH_CHECK() CGAN_CUDA_CHECK(cudaGetLastError())

#ifndef CGAN_CUDA_EMULATION
#define CGAN_CUBLAS_CHECK(call)                                                            \
  do {                                                                                     \
    cublasStatus_t cgan_st_ = (call);                                                      \
    if (cgan_st_ != CUBLAS_STATUS_SUCCESS)                                                 \
      ::cgan::detail::throw_error("cuBLAS error", #call, __FILE__, __LINE__,               \
                                  ::cgan::detail::cublas_status_string(cgan_st_));         \
  } while (0)

#define CGAN_CUDNN_CHECK(call)                                                             \
  do {                                                                                     \
    cudnnStatus_t cgan_st_ = (call);                                                       \
    if (cgan_st_ != CUDNN_STATUS_SUCCESS)                                                  \
      ::cgan::detail::throw_error("cuDNN error", #call, __FILE__, __LINE__,                \
                                  cudnnGetErrorString(cgan_st_));                          \
  } while (0)
#endif  // CGAN_CUDA_EMULATION
