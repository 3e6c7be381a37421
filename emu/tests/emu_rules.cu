// The emulator's own tests: for every strictness rule, a kernel (or host sequence) that
// breaks it and its corrected twin. `emu_rules CASE` exits 0 when the emulator behaved as
// required: the broken case detected (violation, error code or visibly wrong result), the
// fixed case run cleanly with the right result. The sanitizer cases (oob, uaf, misaligned)
// abort the process; ctest matches the sanitizer's report for those (emu/tests/CMakeLists.txt).
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cuda_emu/emu.hpp"

#define CK(call)                                                                          \
  do {                                                                                    \
    cudaError_t e_ = (call);                                                              \
    if (e_ != cudaSuccess) {                                                              \
      std::printf("FAIL: %s -> %s (%s)\n", #call, cudaGetErrorName(e_), cudaGetErrorString(e_)); \
      std::exit(1);                                                                       \
    }                                                                                     \
  } while (0)

namespace {

int pass(const char* what) {
  std::printf("OK: %s\n", what);
  return 0;
}
int fail(const std::string& what) {
  std::printf("FAIL: %s\n", what.c_str());
  return 1;
}

// A violation must surface as a failed synchronize whose message contains `needle`.
int expect_violation(const char* needle) {
  const cudaError_t e = cudaDeviceSynchronize();
  const std::string msg = cuda_emu::last_violation();
  cudaDeviceReset();
  if (e == cudaSuccess) return fail("no error reported (expected a violation mentioning '" + std::string(needle) + "')");
  if (msg.find(needle) == std::string::npos) return fail("violation without '" + std::string(needle) + "': " + msg);
  if (msg.find("block (") == std::string::npos || msg.find("kernel '") == std::string::npos)
    return fail("violation does not name kernel and block: " + msg);
  std::printf("DETECTED: %s\n", msg.c_str());
  return 0;
}
int expect_clean() {
  const cudaError_t e = cudaDeviceSynchronize();
  if (e != cudaSuccess) return fail(std::string("unexpected error: ") + cudaGetErrorString(e));
  return 0;
}
int expect_launch_error(cudaError_t want) {
  const cudaError_t e = cudaGetLastError();
  if (e != want)
    return fail(std::string("launch returned ") + cudaGetErrorName(e) + ", expected " + cudaGetErrorName(want));
  std::printf("DETECTED: %s\n", cudaGetErrorName(e));
  return 0;
}

float* dev_floats(size_t n) {
  float* p = nullptr;
  CK(cudaMalloc(&p, n * sizeof(float)));
  return p;
}
std::vector<float> to_host(const float* d, size_t n) {
  std::vector<float> h(n);
  CK(cudaMemcpy(h.data(), d, n * sizeof(float), cudaMemcpyDeviceToHost));
  return h;
}

// ---- barriers --------------------------------------------------------------------------
__global__ void barrier_divergent(float* out, bool broken) {
  __shared__ float s[64];
  s[threadIdx.x] = float(threadIdx.x);
  if (broken && threadIdx.x < 16) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = s[63 - threadIdx.x];
}

__global__ void barrier_exit(float* out, bool broken) {
  __shared__ float s[64];
  if (broken && threadIdx.x == 5) return;
  s[threadIdx.x] = 1.f;
  __syncthreads();
  out[threadIdx.x] = s[(threadIdx.x + 1) % 64];
}

// Divergent trip counts around a barrier in a loop.
__global__ void barrier_loop(float* out, bool broken) {
  const int trips = broken ? 2 + (threadIdx.x & 1) : 2;
  float acc = 0.f;
  for (int i = 0; i < trips; ++i) {
    acc += 1.f;
    __syncthreads();
  }
  out[threadIdx.x] = acc;
}

// ---- warps -----------------------------------------------------------------------------
__device__ float warp_sum_mask(float v, unsigned mask) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(mask, v, o);
  return v;
}
// 48 threads: the second warp is partial; a full mask there names lanes that do not exist.
__global__ void shfl_partial(float* out, bool broken) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int in_warp = min(32, int(blockDim.x) - warp * 32);
  float v = 1.f;
  if (broken) {
    v = warp_sum_mask(v, 0xffffffffu);
  } else if (in_warp == 32) {
    v = warp_sum_mask(v, 0xffffffffu);
  } else {
    // Partial warp: a tree over in_warp lanes with a matching mask.
    const unsigned mask = (1u << in_warp) - 1u;
    for (int o = 16; o > 0; o >>= 1) {
      const float other = __shfl_down_sync(mask, v, o);
      if (lane + o < in_warp) v += other;
    }
    v = __shfl_sync(mask, v, 0);
  }
  out[threadIdx.x] = v;
}

__global__ void shfl_exited(float* out, bool broken) {
  const int lane = threadIdx.x & 31;
  if (lane >= 16) return;
  float v = float(lane);
  v += __shfl_xor_sync(broken ? 0xffffffffu : 0x0000ffffu, v, 1);
  out[threadIdx.x] = v;
}

__global__ void warp_mismatch(float* out, bool broken) {
  const int lane = threadIdx.x & 31;
  float v = float(lane);
  if (broken && lane < 8) {
    v = float(__ballot_sync(0xffffffffu, v > 3.f));
  } else {
    v = __shfl_xor_sync(0xffffffffu, v, 1);
  }
  out[threadIdx.x] = v;
}

// ---- launch limits ---------------------------------------------------------------------
__global__ void touch(float* out) {
  if (threadIdx.x == 0 && blockIdx.x == 0 && blockIdx.y == 0) out[0] = 1.f;
}
__global__ void dyn_smem(float* out, int n) {
  extern __shared__ float dyn[];
  for (int i = threadIdx.x; i < n; i += blockDim.x) dyn[i] = float(i);
  __syncthreads();
  if (threadIdx.x == 0) out[0] = dyn[n - 1];
}
template <int N>
__global__ void static_smem(float* out) {
  __shared__ float big[N];
  for (int i = threadIdx.x; i < N; i += blockDim.x) big[i] = float(i);
  __syncthreads();
  if (threadIdx.x == 0) out[0] = big[N - 1];
}

// ---- memory: sanitizers ------------------------------------------------------------------
__global__ void write_n(float* out, int n, bool broken) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n + (broken ? 1 : 0)) out[i] = 2.f;
}
struct Hidden {
  float* p;
};
__global__ void write_hidden(Hidden h) { h.p[threadIdx.x] = 3.f; }
__global__ void load4(float* out, const float* in) {
  const float4 v = *reinterpret_cast<const float4*>(in);
  out[threadIdx.x] = v.x + v.y + v.z + v.w;
}

// ---- ordering: permuted threads and blocks ------------------------------------------------
__global__ void neighbour(float* out, bool broken) {
  __shared__ float s[128];
  s[threadIdx.x] = float(threadIdx.x);
  if (!broken) __syncthreads();
  out[threadIdx.x] = s[(threadIdx.x + 1) % blockDim.x];
}
// Block b adds its value to what block b-1 wrote: correct only if blocks ran in order.
__global__ void chain(float* out, bool broken) {
  if (threadIdx.x != 0) return;
  const int b = blockIdx.x;
  out[b] = broken ? (b == 0 ? 1.f : out[b - 1] + 1.f) : float(b + 1);
}
__global__ void shared_fresh(float* out) {
  __shared__ float s[32];
  // Block 0 writes, every block reads: other blocks must see the NaN fill, not block 0's data.
  if (blockIdx.x == 0) s[threadIdx.x] = 7.f;
  __syncthreads();
  out[blockIdx.x * 32 + threadIdx.x] = s[threadIdx.x];
}

__global__ void fill_value(float* out, int n, float v) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) out[i] = v;
}
__global__ void add_value(float* out, int n, float v) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] += v;
}

bool all_equal(const std::vector<float>& v, float x) {
  for (float f : v)
    if (!(f == x)) return false;
  return true;
}

using Case = std::function<int(bool broken)>;

std::map<std::string, Case> cases() {
  std::map<std::string, Case> c;
  c["barrier_divergent"] = [](bool broken) {
    float* d = dev_floats(64);
    barrier_divergent<<<2, 64>>>(d, broken);
    if (broken) return expect_violation("different barriers");
    if (expect_clean()) return 1;
    const auto h = to_host(d, 64);
    for (int i = 0; i < 64; ++i)
      if (h[i] != float(63 - i)) return fail("wrong result");
    return pass("one barrier for all threads");
  };
  c["barrier_exit"] = [](bool broken) {
    float* d = dev_floats(64);
    barrier_exit<<<1, 64>>>(d, broken);
    if (broken) return expect_violation("exited while");
    if (expect_clean()) return 1;
    return all_equal(to_host(d, 64), 1.f) ? pass("no early exit") : fail("wrong result");
  };
  c["barrier_loop"] = [](bool broken) {
    float* d = dev_floats(64);
    barrier_loop<<<1, 64>>>(d, broken);
    if (broken) return expect_violation("exited while");
    if (expect_clean()) return 1;
    return all_equal(to_host(d, 64), 2.f) ? pass("same trip count") : fail("wrong result");
  };
  c["shfl_partial_warp"] = [](bool broken) {
    float* d = dev_floats(48);
    shfl_partial<<<1, 48>>>(d, broken);
    if (broken) return expect_violation("does not exist");
    if (expect_clean()) return 1;
    const auto h = to_host(d, 48);
    for (int i = 0; i < 48; ++i)
      if (h[i] != (i < 32 ? 32.f : 16.f)) return fail("wrong warp sum at " + std::to_string(i) + ": " + std::to_string(h[i]));
    return pass("masks match the partial warp");
  };
  c["shfl_exited_lane"] = [](bool broken) {
    float* d = dev_floats(32);
    CK(cudaMemset(d, 0, 32 * sizeof(float)));
    shfl_exited<<<1, 32>>>(d, broken);
    if (broken) return expect_violation("already exited");
    if (expect_clean()) return 1;
    const auto h = to_host(d, 32);
    for (int i = 0; i < 16; ++i)
      if (h[i] != float(i + (i ^ 1))) return fail("wrong shuffle");
    return pass("mask names only live lanes");
  };
  c["warp_mismatch"] = [](bool broken) {
    float* d = dev_floats(32);
    warp_mismatch<<<1, 32>>>(d, broken);
    if (broken) return expect_violation("but lane");
    if (expect_clean()) return 1;
    const auto h = to_host(d, 32);
    for (int i = 0; i < 32; ++i)
      if (h[i] != float(i ^ 1)) return fail("wrong shuffle");
    return pass("every lane in the same intrinsic");
  };
  c["launch_threads"] = [](bool broken) {
    float* d = dev_floats(1);
    touch<<<1, broken ? 1025 : 1024>>>(d);
    if (broken) return expect_launch_error(cudaErrorInvalidConfiguration);
    return expect_launch_error(cudaSuccess) || expect_clean() ? 1 : pass("1024 threads");
  };
  c["launch_block_z"] = [](bool broken) {
    float* d = dev_floats(1);
    touch<<<1, dim3(1, 1, broken ? 65 : 64)>>>(d);
    if (broken) return expect_launch_error(cudaErrorInvalidConfiguration);
    return expect_launch_error(cudaSuccess) || expect_clean() ? 1 : pass("blockDim.z 64");
  };
  c["launch_grid_y"] = [](bool broken) {
    float* d = dev_floats(1);
    touch<<<dim3(1, broken ? 65536 : 65535), 1>>>(d);
    if (broken) return expect_launch_error(cudaErrorInvalidConfiguration);
    if (expect_launch_error(cudaSuccess) || expect_clean()) return 1;
    return to_host(d, 1)[0] == 1.f ? pass("gridDim.y 65535") : fail("wrong result");
  };
  c["dynamic_smem_limit"] = [](bool broken) {
    float* d = dev_floats(1);
    const int n = broken ? 12289 : 12288;  // floats: 48 KiB + 4 bytes vs exactly 48 KiB
    dyn_smem<<<1, 128, n * sizeof(float)>>>(d, n);
    if (broken) return expect_launch_error(cudaErrorInvalidValue);
    if (expect_launch_error(cudaSuccess) || expect_clean()) return 1;
    return to_host(d, 1)[0] == float(n - 1) ? pass("48 KiB dynamic") : fail("wrong result");
  };
  c["dynamic_smem_optin"] = [](bool broken) {
    float* d = dev_floats(1);
    const int n = 16384;  // 64 KiB: legal only after the opt-in
    if (!broken) CK(cudaFuncSetAttribute(dyn_smem, cudaFuncAttributeMaxDynamicSharedMemorySize, n * 4));
    dyn_smem<<<1, 128, n * sizeof(float)>>>(d, n);
    if (broken) return expect_launch_error(cudaErrorInvalidValue);
    if (expect_launch_error(cudaSuccess) || expect_clean()) return 1;
    return to_host(d, 1)[0] == float(n - 1) ? pass("64 KiB after opt-in") : fail("wrong result");
  };
  c["static_smem_limit"] = [](bool broken) {
    float* d = dev_floats(1);
    if (broken) {
      static_smem<12289><<<1, 128>>>(d);
      return expect_violation("over the limit");
    }
    static_smem<12288><<<1, 128>>>(d);
    if (expect_clean()) return 1;
    return to_host(d, 1)[0] == 12287.f ? pass("48 KiB static") : fail("wrong result");
  };
  c["static_plus_dynamic_smem"] = [](bool broken) {
    float* d = dev_floats(1);
    // 32 KiB static + 16 KiB (+4 bytes when broken) dynamic.
    const size_t dyn = 16 * 1024 + (broken ? 4 : 0);
    static_smem<8192><<<1, 128, dyn>>>(d);
    if (broken) return expect_violation("over the limit");
    if (expect_clean()) return 1;
    return to_host(d, 1)[0] == 8191.f ? pass("32 KiB static + 16 KiB dynamic") : fail("wrong result");
  };
  c["oob"] = [](bool broken) {
    const int n = 1000;
    float* d = dev_floats(n);
    write_n<<<4, 256>>>(d, n, broken);
    if (expect_clean()) return 1;
    return all_equal(to_host(d, n), 2.f) ? pass("in bounds") : fail("wrong result");
  };
  c["use_after_free"] = [](bool broken) {
    float* d = dev_floats(32);
    if (broken) CK(cudaFree(d));
    write_hidden<<<1, 32>>>(Hidden{d});
    if (expect_clean()) return 1;
    return all_equal(to_host(d, 32), 3.f) ? pass("live buffer") : fail("wrong result");
  };
  c["host_pointer_arg"] = [](bool broken) {
    float* d = dev_floats(32);
    std::vector<float> host(32);
    write_n<<<1, 32>>>(broken ? host.data() : d, 32, false);
    if (broken) return expect_launch_error(cudaErrorInvalidValue);
    if (expect_launch_error(cudaSuccess) || expect_clean()) return 1;
    return pass("device pointer argument");
  };
  c["misaligned_float4"] = [](bool broken) {
    float* in = dev_floats(8);
    float* out = dev_floats(1);
    CK(cudaMemset(in, 0, 8 * sizeof(float)));
    load4<<<1, 1>>>(out, broken ? in + 1 : in + 4);
    if (expect_clean()) return 1;
    return to_host(out, 1)[0] == 0.f ? pass("16-byte aligned") : fail("wrong result");
  };
  c["missing_barrier"] = [](bool broken) {
    float* d = dev_floats(128);
    neighbour<<<1, 128>>>(d, broken);
    if (expect_clean()) return 1;
    const auto h = to_host(d, 128);
    int wrong = 0;
    for (int i = 0; i < 128; ++i) wrong += h[i] != float((i + 1) % 128);
    if (broken) {
      if (!wrong) return fail("a missing __syncthreads went unnoticed (thread order not permuted?)");
      std::printf("DETECTED: %d of 128 outputs wrong without the barrier\n", wrong);
      return 0;
    }
    return wrong ? fail("wrong result with the barrier") : pass("barrier present");
  };
  c["block_order"] = [](bool broken) {
    const int n = 64;
    float* d = dev_floats(n);
    chain<<<n, 32>>>(d, broken);
    if (expect_clean()) return 1;
    const auto h = to_host(d, n);
    int wrong = 0;
    for (int i = 0; i < n; ++i) wrong += h[i] != float(i + 1);
    if (broken) {
      if (!wrong) return fail("a dependence on block order went unnoticed");
      std::printf("DETECTED: %d of %d outputs wrong when blocks run out of order\n", wrong, n);
      return 0;
    }
    return wrong ? fail("wrong result") : pass("no inter-block dependence");
  };
  c["shared_fresh_per_block"] = [](bool broken) {
    float* d = dev_floats(4 * 32);
    shared_fresh<<<4, 32>>>(d);
    if (expect_clean()) return 1;
    const auto h = to_host(d, 4 * 32);
    for (int i = 0; i < 32; ++i)
      if (h[i] != 7.f) return fail("block 0 lost its own shared data");
    for (int i = 32; i < 128; ++i)
      if (!std::isnan(h[i])) return fail("a block saw another block's shared memory");
    return pass("each block starts with NaN-filled shared memory");
  };
  c["host_read_before_sync"] = [](bool broken) {
    const int n = 256;
    float* d = dev_floats(n);
    float* pinned = nullptr;
    CK(cudaMallocHost(&pinned, n * sizeof(float)));
    for (int i = 0; i < n; ++i) pinned[i] = -1.f;
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    fill_value<<<2, 64, 0, s>>>(d, n, 5.f);
    CK(cudaMemcpyAsync(pinned, d, n * sizeof(float), cudaMemcpyDeviceToHost, s));
    if (!broken) CK(cudaStreamSynchronize(s));
    const bool right = pinned[0] == 5.f && pinned[n - 1] == 5.f;
    CK(cudaStreamSynchronize(s));
    if (broken) {
      if (right) return fail("a host read before the stream sync saw finished results (streams not deferred?)");
      std::printf("DETECTED: host read before cudaStreamSynchronize saw %g\n", pinned[0]);
      return 0;
    }
    return right ? pass("read after sync") : fail("wrong result after sync");
  };
  // CUDA graphs: the captured work runs only when the graph is launched, once per launch;
  // a synchronizing call inside the capture (here cudaStreamSynchronize) invalidates it.
  c["capture_sync"] = [](bool broken) {
    const int n = 128;
    float* d = dev_floats(n);
    fill_value<<<1, 128>>>(d, n, 0.f);
    CK(cudaDeviceSynchronize());
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    add_value<<<2, 64, 0, s>>>(d, n, 1.f);
    if (broken) {
      const cudaError_t e = cudaStreamSynchronize(s);
      cudaGraph_t g = nullptr;
      const cudaError_t end = cudaStreamEndCapture(s, &g);
      (void)cudaGetLastError();
      if (e == cudaSuccess || end != cudaErrorStreamCaptureInvalidated || g)
        return fail("a synchronize inside a capture was accepted");
      std::printf("DETECTED: %s, then %s\n", cudaGetErrorName(e), cudaGetErrorName(end));
      return 0;
    }
    add_value<<<2, 64, 0, s>>>(d, n, 2.f);
    cudaGraph_t g = nullptr;
    CK(cudaStreamEndCapture(s, &g));
    size_t nodes = 0;
    CK(cudaGraphGetNodes(g, nullptr, &nodes));
    std::vector<float> h(n);
    CK(cudaMemcpy(h.data(), d, n * sizeof(float), cudaMemcpyDeviceToHost));
    if (h[0] != 0.f) return fail("captured work ran at capture time");
    cudaGraphExec_t x = nullptr;
    CK(cudaGraphInstantiate(&x, g, 0));
    for (int k = 0; k < 3; ++k) CK(cudaGraphLaunch(x, s));
    CK(cudaStreamSynchronize(s));
    CK(cudaMemcpy(h.data(), d, n * sizeof(float), cudaMemcpyDeviceToHost));
    CK(cudaGraphExecDestroy(x));
    CK(cudaGraphDestroy(g));
    for (int i = 0; i < n; ++i)
      if (h[i] != 9.f) return fail("three replays of +1,+2 did not give 9");
    return nodes == 2 ? pass("capture ran nothing; 3 replays ran both kernels 3 times")
                      : fail("expected 2 captured nodes");
  };
  c["capture_malloc"] = [](bool broken) {
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    float* d = broken ? nullptr : dev_floats(64);
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    if (broken) {
      const cudaError_t e = cudaMalloc(reinterpret_cast<void**>(&d), 256);
      cudaGraph_t g = nullptr;
      const cudaError_t end = cudaStreamEndCapture(s, &g);
      (void)cudaGetLastError();
      if (e == cudaSuccess || end != cudaErrorStreamCaptureInvalidated)
        return fail("cudaMalloc inside a global-mode capture was accepted");
      std::printf("DETECTED: cudaMalloc during capture: %s\n", cudaGetErrorName(e));
      return 0;
    }
    fill_value<<<1, 64, 0, s>>>(d, 64, 4.f);
    cudaGraph_t g = nullptr;
    CK(cudaStreamEndCapture(s, &g));
    CK(cudaGraphDestroy(g));
    return pass("memory allocated before the capture");
  };
  c["streams_without_event"] = [](bool broken) {
    const int n = 256;
    float* d = dev_floats(n);
    std::vector<float> h(n, -1.f);
    cudaStream_t a, b;
    cudaEvent_t done;
    CK(cudaStreamCreateWithFlags(&a, cudaStreamNonBlocking));
    CK(cudaStreamCreateWithFlags(&b, cudaStreamNonBlocking));
    CK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
    fill_value<<<2, 64, 0, a>>>(d, n, 9.f);
    if (!broken) {
      CK(cudaEventRecord(done, a));
      CK(cudaStreamWaitEvent(b, done, 0));
    }
    CK(cudaMemcpyAsync(h.data(), d, n * sizeof(float), cudaMemcpyDeviceToHost, b));
    CK(cudaStreamSynchronize(b));
    const bool right = all_equal(h, 9.f);
    CK(cudaDeviceSynchronize());
    if (broken) {
      if (right) return fail("a copy on another stream without an event saw the kernel's results");
      std::printf("DETECTED: stream b read before stream a's kernel ran (got %g)\n", h[0]);
      return 0;
    }
    return right ? pass("event orders the streams") : fail("wrong result with the event");
  };
  c["memcpy_kind"] = [](bool broken) {
    float* d = dev_floats(16);
    std::vector<float> h(16, 1.f);
    const cudaError_t e = cudaMemcpy(d, h.data(), 16 * sizeof(float),
                                     broken ? cudaMemcpyDeviceToHost : cudaMemcpyHostToDevice);
    (void)cudaGetLastError();
    if (broken) {
      if (e == cudaSuccess) return fail("a copy with the wrong cudaMemcpyKind succeeded");
      std::printf("DETECTED: %s\n", cudaGetErrorName(e));
      return 0;
    }
    return e == cudaSuccess && all_equal(to_host(d, 16), 1.f) ? pass("right kind") : fail("copy failed");
  };
  c["memcpy_overrun"] = [](bool broken) {
    float* d = dev_floats(16);
    std::vector<float> h(17, 1.f);
    const cudaError_t e = cudaMemcpy(d, h.data(), (broken ? 17 : 16) * sizeof(float), cudaMemcpyHostToDevice);
    (void)cudaGetLastError();
    if (broken) {
      if (e == cudaSuccess) return fail("a copy past the end of a device allocation succeeded");
      std::printf("DETECTED: %s\n", cudaGetErrorName(e));
      return 0;
    }
    return e == cudaSuccess ? pass("within the allocation") : fail("copy failed");
  };
  c["host_deref_device_pointer"] = [](bool broken) {
    float* d = dev_floats(16);
    std::vector<float> h(16);
    try {
      cuda_emu::require_host_pointer(broken ? static_cast<const void*>(d + 3) : h.data(), "test accessor");
    } catch (const std::exception& ex) {
      if (broken) {
        std::printf("DETECTED: %s\n", ex.what());
        return 0;
      }
      return fail(std::string("host pointer rejected: ") + ex.what());
    }
    return broken ? fail("a device pointer passed the host accessor check") : pass("host pointer accepted");
  };
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  auto all = cases();
  if (argc != 3 || !all.count(argv[1]) || (std::strcmp(argv[2], "broken") && std::strcmp(argv[2], "fixed"))) {
    std::printf("usage: emu_rules CASE broken|fixed\ncases:");
    for (auto& [name, fn] : all) std::printf(" %s", name.c_str());
    std::printf("\n");
    return 2;
  }
  return all[argv[1]](std::strcmp(argv[2], "broken") == 0);
}
