#pragma once
// cuda_emu host API: what the rewritten launches call, plus the few controls tests need.
// The CUDA runtime API itself (cudaMalloc, cudaMemcpyAsync, streams, events, ...) is declared
// by the toolkit's own cuda_runtime.h and implemented by libcuda_emu over host memory.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace cuda_emu {

struct LaunchConfig {
  dim3 grid, block;
  size_t dynamic_smem;
  cudaStream_t stream;
};
inline LaunchConfig make_config(dim3 grid, dim3 block, size_t dynamic_smem = 0,
                                cudaStream_t stream = nullptr) {
  return {grid, block, dynamic_smem, stream};
}

namespace detail {
// The registers of the emulated thread that runs now (set by the scheduler at each switch).
struct Lane {
  uint3 tid;
};
extern Lane* g_lane;
extern uint3 g_block_idx;
extern dim3 g_block_dim;
extern dim3 g_grid_dim;

// Checks the launch and queues it on cfg.stream; `body` runs once per emulated thread.
// `pointer_args` are the kernel's raw pointer parameters, checked to be device memory.
void submit_launch(const char* kernel_name, const void* func, const char* file, int line,
                   const LaunchConfig& cfg, std::function<void()> body,
                   std::vector<std::pair<int, const void*>> pointer_args);

template <class T>
void collect_pointer(std::vector<std::pair<int, const void*>>& out, int index, const T& v) {
  if constexpr (std::is_pointer_v<T>) out.emplace_back(index, static_cast<const void*>(v));
}
template <class Tuple, size_t... I>
std::vector<std::pair<int, const void*>> pointer_params(const Tuple& t, std::index_sequence<I...>) {
  std::vector<std::pair<int, const void*>> out;
  (collect_pointer(out, int(I), std::get<I>(t)), ...);
  return out;
}
}  // namespace detail

// kernel<<<cfg>>>(args...), as written by cu2cpp. The parameters are converted to the kernel's
// parameter types once, at launch (as CUDA does), and every emulated thread gets its own copy.
template <class... P, class... A>
void launch(const char* kernel_name, const char* file, int line, void (*kernel)(P...),
            const LaunchConfig& cfg, A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "kernel launched with the wrong number of arguments");
  auto params = std::make_shared<std::tuple<std::decay_t<P>...>>(std::forward<A>(args)...);
  auto ptrs = detail::pointer_params(*params, std::index_sequence_for<P...>{});
  detail::submit_launch(kernel_name, reinterpret_cast<const void*>(kernel), file, line, cfg,
                        [kernel, params]() { std::apply(kernel, *params); }, std::move(ptrs));
}

// Host work ordered on a stream like a kernel (runs when the stream reaches it): the
// emulation build's convolutions run the CPU code this way, on emulated device memory.
cudaError_t enqueue_host_task(cudaStream_t stream, const char* what, std::function<void()> fn);

// True when [p, p + bytes) lies inside one live emulated device allocation.
bool is_device_pointer(const void* p, size_t bytes = 1);
// Throws std::logic_error naming `what` if p points into emulated device memory: host code
// must never dereference a device pointer (it would crash on a GPU).
void require_host_pointer(const void* p, const char* what);

// The SM count the emulated device reports (default 132, or CUDA_EMU_SM_COUNT).
void set_sm_count(int n);
int sm_count();

// The message of the last violation found in a kernel ("" when none); the sticky error it
// caused stays until cudaDeviceReset().
std::string last_violation();

// Strictness switches (defaults from the environment; see emu/README.md).
void set_deferred_streams(bool on);  // CUDA_EMU_STREAMS=deferred|immediate (default deferred)
bool deferred_streams();
void set_permuted_order(bool on);    // CUDA_EMU_ORDER=permuted|linear (default permuted)
void set_seed(uint64_t seed);        // CUDA_EMU_SEED (default 1)

}  // namespace cuda_emu
