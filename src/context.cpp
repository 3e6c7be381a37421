#include "cgan/context.hpp"

#include <mutex>

#include "cublas_loader.hpp"
#include "cuda_check.hpp"

namespace cgan {

Context::Context(Device device) : device_(device) {
  if (device_.is_cuda()) {
    const int n = cuda_device_count();
    if (device_.index >= n)
      throw NoDeviceError("cannot create a context on " + device_.str() + ": " +
                          (n == 0 ? cuda_unavailable_reason()
                                  : std::to_string(n) + " CUDA device(s) present"));
    CGAN_CUDA_CHECK(cudaSetDevice(device_.index));
    CGAN_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
#ifndef CGAN_CUDA_EMULATION
    cudnnHandle_t dnn = nullptr;
    CGAN_CUDNN_CHECK(cudnnCreate(&dnn));
    cudnn_ = dnn;
    CGAN_CUDNN_CHECK(cudnnSetStream(dnn, stream_));
#endif
  }
  own_allocator_ = std::make_shared<CachingAllocator>(device_);
  allocator_ = own_allocator_;
}

Context::~Context() {
  try {
    conv_algo_cache_.reset();  // cuDNN descriptors, before the handle goes
    if (workspace_) own_allocator_->deallocate(workspace_);
    if (device_.is_cuda()) {
      cudaStreamSynchronize(stream_);
#ifndef CGAN_CUDA_EMULATION
      if (cudnn_) cudnnDestroy(static_cast<cudnnHandle_t>(cudnn_));
      if (cublas_) detail::cublas_api().destroy(static_cast<cublasHandle_t>(cublas_));
#endif
    }
    // Tensors still alive keep the allocator (shared_ptr) and hence memory valid; the stream
    // is destroyed only when this context is.
    own_allocator_->release_cached();
    if (stream_) cudaStreamDestroy(stream_);
  } catch (...) {
  }
}

std::unique_ptr<Context> Context::create(const std::string& device_request) {
  return std::make_unique<Context>(select_device(device_request));
}

void* Context::cublas_handle() const {
#ifndef CGAN_CUDA_EMULATION
  static std::mutex create_mutex;  // two threads asking one context at once: one handle
  std::lock_guard<std::mutex> lock(create_mutex);
  if (device_.is_cuda() && !cublas_) {
    const detail::CublasApi& api = detail::cublas_api();
    CGAN_CUDA_CHECK(cudaSetDevice(device_.index));
    cublasHandle_t blas = nullptr;
    CGAN_CUBLAS_CHECK(api.create(&blas));
    try {
      CGAN_CUBLAS_CHECK(api.set_stream(blas, stream_));
    } catch (...) {
      api.destroy(blas);
      throw;
    }
    cublas_ = blas;
  }
#endif
  return cublas_;
}

void* Context::workspace(size_t bytes) {
  if (bytes <= workspace_bytes_) return workspace_;
  if (workspace_) own_allocator_->deallocate(workspace_);
  workspace_ = nullptr;
  workspace_bytes_ = 0;
  ++workspace_generation_;
  workspace_ = own_allocator_->allocate(bytes);
  workspace_bytes_ = bytes;
  return workspace_;
}

std::shared_ptr<Allocator> Context::exchange_allocator(std::shared_ptr<Allocator> a) {
  CGAN_CHECK(a && a->device() == device_, "Context::exchange_allocator: the allocator must "
                                          "serve this context's device "
                                              << device_.str());
  std::swap(a, allocator_);
  return a;
}

void Context::synchronize() const {
  if (device_.is_cuda()) CGAN_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

}  // namespace cgan
