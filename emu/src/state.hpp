#pragma once
// Internal state shared by the runtime (runtime.cpp) and the kernel executor (exec.cpp).
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

namespace cuda_emu::detail {

struct Options {
  bool deferred = true;   // stream work runs only when something waits for it
  bool permuted = true;   // block order and thread order between barriers shuffled
  uint64_t seed = 1;
  int sm_count = 132;
  size_t stack_bytes = 256 * 1024;  // per emulated thread
};
Options& options();

// One lock for the whole emulated device: kernels, copies and the bookkeeping run under it.
std::recursive_mutex& device_mutex();

// A violation inside a kernel: printed at once, and the device error becomes sticky
// (cudaErrorLaunchFailure with this message) as a GPU's would after a faulting kernel.
void set_sticky_error(const std::string& message);
bool has_sticky_error();

struct Grid {
  std::string name;        // the kernel expression as written at the launch
  const void* func = nullptr;
  std::string site;        // file:line of the launch
  dim3 grid, block;
  size_t dynamic_smem = 0;
  size_t smem_limit = 48 * 1024;  // static + dynamic, per block
  std::function<void()> body;
  uint64_t launch_index = 0;
};
// Runs every block of the grid on the calling host thread (device_mutex held).
void run_grid(const Grid& g);

// Text naming the kernel, block and thread that run now ("" outside kernels): the sanitizer
// death callback prints it under the sanitizer's report.
std::string current_position();

}  // namespace cuda_emu::detail
