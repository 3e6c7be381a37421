#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "cgan/allocator.hpp"
#include "cgan/device.hpp"

namespace cgan {

// Per-context cuDNN convolution plans (descriptors + chosen algorithms), defined privately in
// layers/conv_cudnn.cpp.
struct ConvAlgoCache;
// Opt-in per-op timings (cgan/profile.hpp).
class OpProfile;

// Everything device work needs, owned in one place: the device, its stream, the cuBLAS and
// cuDNN handles bound to that stream, the caching allocator and a growable workspace.
// No globals: two contexts are independent. Not copyable, movable only via unique_ptr.
class Context {
 public:
  explicit Context(Device device = Device::cpu());
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // Convenience: select_device(request) then construct.
  static std::unique_ptr<Context> create(const std::string& device_request);

  Device device() const { return device_; }
  bool is_cuda() const { return device_.is_cuda(); }
  Stream stream() const { return stream_; }
  // cublasHandle_t / cudnnHandle_t; opaque here so that users need no CUDA headers. Null on
  // the CPU. cuBLAS is loaded (dlopen) and its handle created, bound to stream(), on the first
  // call: the library itself uses no cuBLAS, and loading libcublasLt costs ~150 MB of RSS.
  void* cublas_handle() const;
  void* cudnn_handle() const { return cudnn_; }
  // Where tensors made with this context get their memory.
  Allocator& allocator() const { return *allocator_; }
  std::shared_ptr<Allocator> allocator_ptr() const { return allocator_; }
  // Serves later tensor allocations from `a` (a CUDA graph's private pool, cgan/graph.hpp)
  // and returns the allocator it replaces. Blocks go back to whichever allocator made them.
  // The workspace keeps the context's own allocator.
  std::shared_ptr<Allocator> exchange_allocator(std::shared_ptr<Allocator> a);
  // The context's own caching allocator, whatever exchange_allocator set: the workspace's,
  // and the one for one-time scratch (algorithm searches), which must stay out of a graph's
  // pool (the pool would keep it cached for good).
  Allocator& own_allocator() const { return *own_allocator_; }

  // Scratch memory valid until the next workspace() call; reuse is stream-ordered.
  void* workspace(size_t bytes);
  size_t workspace_size() const { return workspace_bytes_; }
  // Counts the workspace's moves: work recorded into a CUDA graph holds the workspace's
  // address, so a graph recorded at another generation must be recorded again.
  uint64_t workspace_generation() const { return workspace_generation_; }

  // Waits for all work issued on this context (no-op on CPU).
  void synchronize() const;

  // TF32 tensor-core math for convolutions/GEMMs (on by default as in PyTorch's cuDNN path).
  bool allow_tf32 = true;
  // Convolutions: only algorithms cuDNN reports as deterministic, chosen by its heuristics
  // (not by timing), so repeated runs give bitwise-identical results. Off: the fastest
  // algorithm measured on first use of each shape. Plans are cached per setting of this
  // flag and of allow_tf32, so both may change between convolutions.
  bool deterministic = false;
  // Floating-point operations (2 per multiply-add) of the convolutions issued on this
  // context, counted on the host at dispatch: what a benchmark divides by its time to tell
  // how far a step is from the arithmetic floor. Reset it as you like.
  double conv_flops = 0;
  // Per-op timing (cgan/profile.hpp): null, the default, measures nothing. Not owned; the
  // profiler must outlive its attachment.
  OpProfile* profiler = nullptr;

  // The convolution plan cache of this context, made on first use (layers/conv_cudnn.cpp).
  ConvAlgoCache& conv_algo_cache();

 private:
  Device device_;
  Stream stream_ = nullptr;
  mutable void* cublas_ = nullptr;
  void* cudnn_ = nullptr;
  std::shared_ptr<Allocator> allocator_;
  std::shared_ptr<Allocator> own_allocator_;  // the workspace's
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  uint64_t workspace_generation_ = 0;
  std::shared_ptr<ConvAlgoCache> conv_algo_cache_;  // deleter set where the type is complete
};

}  // namespace cgan
