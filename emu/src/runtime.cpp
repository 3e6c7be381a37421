// The CUDA runtime API over host memory: one emulated device (H100-like limits), device
// allocations tracked so that a wrong cudaMemcpyKind or a host pointer passed to a kernel is
// an error, and streams whose work is deferred until something waits for it.
//
// Every function keeps the toolkit's prototype (cuda_runtime_api.h is included, so names the
// header remaps, such as cudaGetDeviceProperties -> _v2, are remapped here too).
#include <cuda_runtime_api.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include <unistd.h>

#include "cuda_emu/emu.hpp"
#include "state.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define CUDA_EMU_ASAN 1
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#include <sanitizer/common_interface_defs.h>
#endif

namespace cuda_emu::detail {

namespace {

// ---- options ----------------------------------------------------------------------------
Options read_env() {
  Options o;
  if (const char* s = std::getenv("CUDA_EMU_STREAMS")) o.deferred = std::strcmp(s, "immediate") != 0;
  if (const char* s = std::getenv("CUDA_EMU_ORDER")) o.permuted = std::strcmp(s, "linear") != 0;
  if (const char* s = std::getenv("CUDA_EMU_SEED")) o.seed = std::strtoull(s, nullptr, 10);
  if (const char* s = std::getenv("CUDA_EMU_SM_COUNT")) {
    const int n = std::atoi(s);
    if (n > 0) o.sm_count = n;
  }
  if (const char* s = std::getenv("CUDA_EMU_STACK_KB")) {
    const long k = std::atol(s);
    if (k >= 16) o.stack_bytes = size_t(k) * 1024;
  }
  return o;
}

// ---- errors -----------------------------------------------------------------------------
struct ErrorState {
  cudaError_t last = cudaSuccess;     // returned (and cleared) by cudaGetLastError
  cudaError_t sticky = cudaSuccess;   // a faulted kernel: every call fails until reset
  std::string sticky_message;
};
ErrorState& errors() {
  static ErrorState* e = new ErrorState;  // never destroyed: read by the exit check below
  return *e;
}

// A kernel violation that nobody cleared with cudaDeviceReset fails the process, even if the
// program ignored the error codes (or a test caught the exception they became).
void check_at_exit() {
  if (errors().sticky != cudaSuccess) {
    std::fprintf(stderr, "cuda-emu: exiting after a kernel violation (exit status 86): %s\n",
                 errors().sticky_message.c_str());
    std::fflush(stderr);
    _exit(86);
  }
}
struct InstallExitCheck {
  InstallExitCheck() { std::atexit(check_at_exit); }
} install_exit_check;

cudaError_t fail(cudaError_t e, const std::string& message) {
  std::fprintf(stderr, "cuda-emu: %s\n", message.c_str());
  errors().last = e;
  return e;
}
// Every API call starts with this: a sticky error fails everything.
#define CUDA_EMU_STICKY()                                         \
  do {                                                            \
    if (errors().sticky != cudaSuccess) return errors().sticky;   \
  } while (0)

// ---- memory -----------------------------------------------------------------------------
enum class MemKind { Device, Pinned };
struct Allocation {
  size_t bytes;
  MemKind kind;
};
// Never destroyed: device memory a program did not free is released with the process, as a
// CUDA context's is, so it stays reachable (and quiet for LeakSanitizer) until then.
std::map<uintptr_t, Allocation>& allocations() {
  static auto* m = new std::map<uintptr_t, Allocation>;
  return *m;
}
// The allocation containing p, or nullptr.
const std::pair<const uintptr_t, Allocation>* find_alloc(const void* p) {
  auto& m = allocations();
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = m.upper_bound(a);
  if (it == m.begin()) return nullptr;
  --it;
  if (a >= it->first && a < it->first + (it->second.bytes ? it->second.bytes : 1)) return &*it;
  return nullptr;
}
bool range_in(const std::pair<const uintptr_t, Allocation>* al, const void* p, size_t n) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  return al && a + n <= al->first + al->second.bytes;
}

void* host_alloc(size_t bytes) {
  void* p = nullptr;
  if (posix_memalign(&p, 256, bytes ? bytes : 1) != 0) return nullptr;
  // Fresh device memory is garbage on a GPU: NaN bytes make reads of unwritten memory show.
  std::memset(p, 0xFF, bytes);
  return p;
}

// ---- streams and events -----------------------------------------------------------------
struct Op {
  uint64_t seq;
  std::function<void()> run;
};
// A captured graph is the captured stream's work in order: the emulator captures one stream
// at a time, so a chain is the whole dependency structure.
struct Graph {
  std::vector<std::function<void()>> nodes;
};
struct GraphExec {
  std::shared_ptr<const std::vector<std::function<void()>>> nodes;
};
struct Stream {
  unsigned flags = cudaStreamDefault;
  bool legacy = false;
  std::deque<Op> queue;
  uint64_t next_seq = 1;
  // Between cudaStreamBeginCapture and cudaStreamEndCapture: work goes into `capture`
  // instead of running. A call that a GPU refuses during capture invalidates it.
  Graph* capture = nullptr;
  cudaStreamCaptureMode capture_mode = cudaStreamCaptureModeGlobal;
  std::string capture_invalidated_by;  // non-empty: invalidated
};
struct Event {
  unsigned flags = 0;
  Stream* stream = nullptr;  // of the last record
  uint64_t seq = 0;          // of the last record's op in that stream
  uint64_t recorded = 0, completed = 0;  // record generations
  std::chrono::steady_clock::time_point when{};
  bool polled = false;
  bool captured = false;  // last recorded inside a capture that is still open
};

Stream& legacy_stream() {
  static Stream s = [] {
    Stream x;
    x.legacy = true;
    return x;
  }();
  return s;
}
std::set<Stream*>& streams() {
  static auto* s = new std::set<Stream*>;
  return *s;
}
std::set<Event*>& events() {
  static auto* s = new std::set<Event*>;
  return *s;
}
std::set<Graph*>& graphs() {
  static auto* s = new std::set<Graph*>;
  return *s;
}
std::set<GraphExec*>& graph_execs() {
  static auto* s = new std::set<GraphExec*>;
  return *s;
}

cudaError_t resolve(cudaStream_t h, Stream** out, const char* call) {
  if (h == nullptr || h == cudaStreamLegacy || h == cudaStreamPerThread) {
    *out = &legacy_stream();
    return cudaSuccess;
  }
  Stream* s = reinterpret_cast<Stream*>(h);
  if (!streams().count(s))
    return fail(cudaErrorInvalidResourceHandle,
                std::string(call) + ": stream handle is not a live stream (destroyed or never created)");
  *out = s;
  return cudaSuccess;
}

void run_front(Stream& s) {
  Op op = std::move(s.queue.front());
  s.queue.pop_front();
  if (errors().sticky == cudaSuccess) op.run();
}
// Runs s's queued work up to and including op `seq` (all of it for UINT64_MAX).
void flush(Stream& s, uint64_t seq = UINT64_MAX) {
  while (!s.queue.empty() && s.queue.front().seq <= seq) run_front(s);
}
void flush_all() {
  bool more = true;
  while (more) {
    more = false;
    flush(legacy_stream());
    for (Stream* s : streams()) {
      if (!s->queue.empty()) more = true;
      flush(*s);
    }
  }
}
// The legacy default stream waits for all blocking streams and they wait for it. Running
// work early is always a legal schedule, so the ordering is kept by flushing.
void legacy_ordering(Stream& s) {
  if (s.legacy) {
    for (Stream* o : streams())
      if (!(o->flags & cudaStreamNonBlocking)) flush(*o);
  } else if (!(s.flags & cudaStreamNonBlocking)) {
    flush(legacy_stream());
  }
}

cudaError_t enqueue(Stream& s, std::function<void()> fn) {
  if (s.capture) {
    if (!s.capture_invalidated_by.empty()) return cudaErrorStreamCaptureInvalidated;
    s.capture->nodes.push_back(std::move(fn));
    return errors().sticky;
  }
  legacy_ordering(s);
  s.queue.push_back(Op{s.next_seq++, std::move(fn)});
  if (!options().deferred) flush(s);
  return errors().sticky != cudaSuccess ? errors().sticky : cudaSuccess;
}

// A call a GPU refuses while a stream captures in global or thread-local mode, because it
// may synchronize with or allocate behind the captured work (cudaMalloc, cudaFree, cudaMemcpy,
// device synchronization): it fails and invalidates the capture, as on a GPU, so a step that
// synchronizes cannot pass as capturable here. (Both modes are treated alike: one thread.)
cudaError_t refuse_during_capture(const char* call) {
  for (Stream* s : streams())
    if (s->capture && s->capture_mode != cudaStreamCaptureModeRelaxed) {
      if (s->capture_invalidated_by.empty()) s->capture_invalidated_by = call;
      return fail(cudaErrorStreamCaptureUnsupported,
                  std::string(call) + ": not allowed while a stream is being captured into a "
                                      "CUDA graph; the capture is invalidated");
    }
  return cudaSuccess;
}
// A synchronization with a stream that is capturing (its work has not been issued).
cudaError_t refuse_sync_of_capture(Stream& s, const char* call) {
  if (!s.capture) return cudaSuccess;
  if (s.capture_invalidated_by.empty()) s.capture_invalidated_by = call;
  return fail(cudaErrorStreamCaptureUnsupported,
              std::string(call) + ": the stream is being captured into a CUDA graph, its work "
                                  "has not run; the capture is invalidated");
}

std::string ptr_str(const void* p) {
  char b[32];
  std::snprintf(b, sizeof b, "%p", p);
  return b;
}

// Checks one side of a copy: `device` says which kind of memory the cudaMemcpyKind claims
// (`any`: cudaMemcpyDefault, either kind).
cudaError_t check_side(const char* call, const char* side, const void* p, size_t n, bool device,
                       bool any) {
  const auto* al = find_alloc(p);
  const bool is_dev = al && al->second.kind == MemKind::Device;
  if (!any && device != is_dev)
    return fail(cudaErrorInvalidValue, std::string(call) + ": " + side + " " + ptr_str(p) + " is " +
                                           (is_dev ? "device" : "host") +
                                           " memory but the cudaMemcpyKind says " +
                                           (device ? "device" : "host"));
  if (al && !range_in(al, p, n))
    return fail(cudaErrorInvalidValue, std::string(call) + ": " + side + " " + ptr_str(p) + " + " +
                                           std::to_string(n) + " bytes runs past its allocation of " +
                                           std::to_string(al->second.bytes) + " bytes");
  return cudaSuccess;
}
cudaError_t check_copy(const char* call, void* dst, const void* src, size_t n, cudaMemcpyKind k) {
  if (n == 0) return cudaSuccess;
  if (!dst || !src) return fail(cudaErrorInvalidValue, std::string(call) + ": null pointer");
  const bool any = k == cudaMemcpyDefault;
  if (!any && (k < cudaMemcpyHostToHost || k > cudaMemcpyDeviceToDevice))
    return fail(cudaErrorInvalidMemcpyDirection, std::string(call) + ": invalid cudaMemcpyKind");
  const bool dst_dev = k == cudaMemcpyHostToDevice || k == cudaMemcpyDeviceToDevice;
  const bool src_dev = k == cudaMemcpyDeviceToHost || k == cudaMemcpyDeviceToDevice;
  cudaError_t e = check_side(call, "destination", dst, n, dst_dev, any);
  if (e != cudaSuccess) return e;
  return check_side(call, "source", src, n, src_dev, any);
}

std::unordered_map<const void*, int>& func_max_dynamic_smem() {
  static std::unordered_map<const void*, int> m;
  return m;
}
uint64_t& launch_counter() {
  static uint64_t n = 0;
  return n;
}

const char* error_name(cudaError_t e) {
  switch (e) {
#define N(x) case x: return #x;
    N(cudaSuccess) N(cudaErrorInvalidValue) N(cudaErrorMemoryAllocation)
    N(cudaErrorInitializationError) N(cudaErrorLaunchFailure) N(cudaErrorInvalidConfiguration)
    N(cudaErrorInvalidDevice) N(cudaErrorInvalidMemcpyDirection) N(cudaErrorInvalidResourceHandle)
    N(cudaErrorNotReady) N(cudaErrorInvalidDevicePointer) N(cudaErrorNotSupported)
    N(cudaErrorIllegalAddress) N(cudaErrorLaunchOutOfResources) N(cudaErrorInvalidDeviceFunction)
    N(cudaErrorNoDevice) N(cudaErrorUnknown)
#undef N
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureIsolation: return "cudaErrorStreamCaptureIsolation";
    case cudaErrorStreamCaptureUnmatched: return "cudaErrorStreamCaptureUnmatched";
    case cudaErrorIllegalState: return "cudaErrorIllegalState";
    default: return "cudaErrorUnknown";
  }
}
const char* error_string(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorNotSupported: return "operation not supported";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorStreamCaptureIsolation: return "operation would make the legacy stream depend on a capturing blocking stream";
    case cudaErrorStreamCaptureUnmatched: return "capture was not ended in the same stream";
    case cudaErrorIllegalState: return "operation not permitted in the current state";
    default: return "unknown error";
  }
}

void death_callback() {
  const std::string pos = current_position();
  if (!pos.empty()) std::fprintf(stderr, "cuda-emu: the error above happened in %s\n", pos.c_str());
}
// UBSan's runtime has its own copy of the death callback that the call below does not reach;
// it is told to abort instead (see __ubsan_default_options), and SIGABRT lands here. So do
// assert() and __trap-like aborts inside kernels.
void on_abort(int) {
  death_callback();
  std::fflush(stderr);
  _exit(134);  // the status of an abort, without a core dump per failed kernel
}
struct InstallDeathCallback {
  InstallDeathCallback() {
#if CUDA_EMU_ASAN || defined(__SANITIZE_THREAD__)
    __sanitizer_set_death_callback(death_callback);
#endif
    std::signal(SIGABRT, on_abort);
  }
} install_death_callback;

}  // namespace

Options& options() {
  static Options o = read_env();
  return o;
}
std::recursive_mutex& device_mutex() {
  static std::recursive_mutex m;
  return m;
}
void set_sticky_error(const std::string& message) {
  std::fprintf(stderr, "%s\n", message.c_str());
  if (errors().sticky == cudaSuccess) {
    errors().sticky = cudaErrorLaunchFailure;
    errors().sticky_message = message;
  }
}
bool has_sticky_error() { return errors().sticky != cudaSuccess; }

void submit_launch(const char* kernel_name, const void* func, const char* file, int line,
                   const LaunchConfig& cfg, std::function<void()> body,
                   std::vector<std::pair<int, const void*>> pointer_args) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  if (errors().sticky != cudaSuccess) return;
  const std::string where = std::string("launch of kernel '") + kernel_name + "' at " + file + ":" +
                            std::to_string(line) + ": ";
  const dim3 g = cfg.grid, b = cfg.block;
  const uint64_t threads = uint64_t(b.x) * b.y * b.z;
  if (g.x == 0 || g.y == 0 || g.z == 0 || threads == 0) {
    fail(cudaErrorInvalidConfiguration, where + "a grid or block dimension is 0");
    return;
  }
  if (threads > 1024 || b.x > 1024 || b.y > 1024 || b.z > 64) {
    fail(cudaErrorInvalidConfiguration,
         where + "block (" + std::to_string(b.x) + "," + std::to_string(b.y) + "," +
             std::to_string(b.z) + ") exceeds the limits (1024 threads; x, y <= 1024, z <= 64)");
    return;
  }
  if (g.x > 2147483647u || g.y > 65535 || g.z > 65535) {
    fail(cudaErrorInvalidConfiguration,
         where + "grid (" + std::to_string(g.x) + "," + std::to_string(g.y) + "," +
             std::to_string(g.z) + ") exceeds the limits (x < 2^31, y and z <= 65535)");
    return;
  }
  size_t limit = 48 * 1024;
  auto it = func_max_dynamic_smem().find(func);
  if (it != func_max_dynamic_smem().end() && size_t(it->second) > limit) limit = size_t(it->second);
  if (cfg.dynamic_smem > limit) {
    fail(cudaErrorInvalidValue, where + std::to_string(cfg.dynamic_smem) +
                                    " bytes of dynamic shared memory, over the limit of " +
                                    std::to_string(limit) +
                                    (limit == 48 * 1024 ? " (opt in with cudaFuncSetAttribute)" : ""));
    return;
  }
  for (const auto& [index, p] : pointer_args) {
    if (!p) continue;
    const auto* al = find_alloc(p);
    if (!al) {
      fail(cudaErrorInvalidValue, where + "pointer argument " + std::to_string(index) + " (" +
                                      ptr_str(p) + ") is not device memory (host memory or freed)");
      return;
    }
  }
  Stream* s = nullptr;
  if (resolve(cfg.stream, &s, "kernel launch") != cudaSuccess) return;
  auto grid = std::make_shared<Grid>();
  grid->name = kernel_name;
  grid->func = func;
  grid->site = std::string(file) + ":" + std::to_string(line);
  grid->grid = g;
  grid->block = b;
  grid->dynamic_smem = cfg.dynamic_smem;
  grid->smem_limit = limit;
  grid->body = std::move(body);
  grid->launch_index = ++launch_counter();
  enqueue(*s, [grid] { run_grid(*grid); });
}

}  // namespace cuda_emu::detail

// ---- cuda_emu host API ----------------------------------------------------------------------
namespace cuda_emu {
using namespace detail;

cudaError_t enqueue_host_task(cudaStream_t stream, const char* what, std::function<void()> fn) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  CUDA_EMU_STICKY();
  Stream* s = nullptr;
  if (cudaError_t e = resolve(stream, &s, what); e != cudaSuccess) return e;
  return enqueue(*s, std::move(fn));
}
bool is_device_pointer(const void* p, size_t bytes) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  const auto* al = find_alloc(p);
  return al && al->second.kind == MemKind::Device && range_in(al, p, bytes);
}
void require_host_pointer(const void* p, const char* what) {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  const auto* al = find_alloc(p);
  if (al && al->second.kind == MemKind::Device)
    throw std::logic_error(std::string("cuda-emu: ") + what + ": host code dereferences device pointer " +
                           ptr_str(p) + " (this would crash on a GPU)");
}
void set_sm_count(int n) { options().sm_count = n > 0 ? n : 1; }
int sm_count() { return options().sm_count; }
std::string last_violation() {
  std::lock_guard<std::recursive_mutex> lock(device_mutex());
  return errors().sticky_message;
}
void set_deferred_streams(bool on) { options().deferred = on; }
bool deferred_streams() { return options().deferred; }
void set_permuted_order(bool on) { options().permuted = on; }
void set_seed(uint64_t seed) { options().seed = seed; }
}  // namespace cuda_emu

// ---- the CUDA runtime API -------------------------------------------------------------------
using namespace cuda_emu::detail;
#define LOCK std::lock_guard<std::recursive_mutex> lock_(device_mutex())

// A new stream or event, registered so that a destroyed handle is recognised as one.
template <class Obj, class Handle>
static cudaError_t create_handle(std::set<Obj*>& live, Handle* out, unsigned int flags,
                                 const char* call) {
  LOCK;
  CUDA_EMU_STICKY();
  if (!out) return fail(cudaErrorInvalidValue, std::string(call) + ": null output");
  Obj* o = new Obj;
  o->flags = flags;
  live.insert(o);
  *out = reinterpret_cast<Handle>(o);
  return cudaSuccess;
}

extern "C" {

cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return cudaErrorInvalidValue;
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  if (!device) return cudaErrorInvalidValue;
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
  LOCK;
  CUDA_EMU_STICKY();
  if (device != 0) return fail(cudaErrorInvalidDevice, "cudaSetDevice(" + std::to_string(device) + "): the emulator has one device, 0");
  return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* v) { if (v) *v = CUDART_VERSION; return cudaSuccess; }
cudaError_t cudaRuntimeGetVersion(int* v) { if (v) *v = CUDART_VERSION; return cudaSuccess; }

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (!p) return cudaErrorInvalidValue;
  if (device != 0) return fail(cudaErrorInvalidDevice, "cudaGetDeviceProperties: invalid device");
  std::memset(p, 0, sizeof *p);
  std::snprintf(p->name, sizeof p->name, "cuda-emu (H100-like, %d SMs, CPU emulation)",
                options().sm_count);
  p->totalGlobalMem = size_t(80) << 30;
  p->sharedMemPerBlock = 48 * 1024;
  p->sharedMemPerBlockOptin = 227 * 1024;
  p->sharedMemPerMultiprocessor = 228 * 1024;
  p->regsPerBlock = 65536;
  p->regsPerMultiprocessor = 65536;
  p->warpSize = 32;
  p->maxThreadsPerBlock = 1024;
  p->maxThreadsDim[0] = 1024;
  p->maxThreadsDim[1] = 1024;
  p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 2147483647;
  p->maxGridSize[1] = 65535;
  p->maxGridSize[2] = 65535;
  p->totalConstMem = 64 * 1024;
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = options().sm_count;
  p->maxThreadsPerMultiProcessor = 2048;
  p->maxBlocksPerMultiProcessor = 32;
  p->l2CacheSize = 50 * 1024 * 1024;
  p->memoryBusWidth = 5120;
  p->unifiedAddressing = 1;
  p->concurrentKernels = 1;
  p->asyncEngineCount = 2;
  p->memPitch = size_t(1) << 31;
  p->textureAlignment = 512;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (!value) return cudaErrorInvalidValue;
  if (device != 0) return fail(cudaErrorInvalidDevice, "cudaDeviceGetAttribute: invalid device");
  switch (attr) {
    case cudaDevAttrMultiProcessorCount: *value = options().sm_count; break;
    case cudaDevAttrMaxThreadsPerBlock: *value = 1024; break;
    case cudaDevAttrMaxBlockDimX: case cudaDevAttrMaxBlockDimY: *value = 1024; break;
    case cudaDevAttrMaxBlockDimZ: *value = 64; break;
    case cudaDevAttrMaxGridDimX: *value = 2147483647; break;
    case cudaDevAttrMaxGridDimY: case cudaDevAttrMaxGridDimZ: *value = 65535; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = 48 * 1024; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = 227 * 1024; break;
    case cudaDevAttrWarpSize: *value = 32; break;
    case cudaDevAttrL2CacheSize: *value = 50 * 1024 * 1024; break;
    case cudaDevAttrComputeCapabilityMajor: *value = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *value = 0; break;
    case cudaDevAttrMaxThreadsPerMultiProcessor: *value = 2048; break;
    case cudaDevAttrMemoryPoolsSupported: *value = 1; break;
    case cudaDevAttrUnifiedAddressing: *value = 1; break;
    default:
      return fail(cudaErrorInvalidValue, "cudaDeviceGetAttribute: attribute " +
                                             std::to_string(int(attr)) + " not emulated");
  }
  return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  LOCK;
  CUDA_EMU_STICKY();
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value < 0 || value > 227 * 1024)
      return fail(cudaErrorInvalidValue, "cudaFuncSetAttribute: MaxDynamicSharedMemorySize " +
                                             std::to_string(value) + " over 227 KiB");
    func_max_dynamic_smem()[func] = value;
  }
  return cudaSuccess;
}

cudaError_t cudaGetLastError(void) {
  LOCK;
  if (errors().sticky != cudaSuccess) return errors().sticky;
  const cudaError_t e = errors().last;
  errors().last = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError(void) {
  LOCK;
  return errors().sticky != cudaSuccess ? errors().sticky : errors().last;
}
const char* cudaGetErrorName(cudaError_t e) { return error_name(e); }
const char* cudaGetErrorString(cudaError_t e) {
  LOCK;
  if (e != cudaSuccess && e == errors().sticky) return errors().sticky_message.c_str();
  return error_string(e);
}

cudaError_t cudaDeviceReset(void) {
  LOCK;
  // Queued work is dropped, as on a GPU; memory stays allocated (tests free it themselves).
  legacy_stream().queue.clear();
  for (Stream* s : streams()) {
    s->queue.clear();
    delete s->capture;
    s->capture = nullptr;
  }
  errors() = ErrorState{};
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize(void) {
  LOCK;
  CUDA_EMU_STICKY();
  if (cudaError_t e = refuse_during_capture("cudaDeviceSynchronize"); e != cudaSuccess) return e;
  flush_all();
  return errors().sticky;
}

// -- memory --
cudaError_t cudaMalloc(void** p, size_t bytes) {
  LOCK;
  CUDA_EMU_STICKY();
  if (cudaError_t e = refuse_during_capture("cudaMalloc"); e != cudaSuccess) return e;
  if (!p) return fail(cudaErrorInvalidValue, "cudaMalloc: null output pointer");
  *p = nullptr;
  if (bytes > (size_t(80) << 30)) return fail(cudaErrorMemoryAllocation, "cudaMalloc: " + std::to_string(bytes) + " bytes: out of memory");
  void* q = host_alloc(bytes);
  if (!q) return fail(cudaErrorMemoryAllocation, "cudaMalloc: out of host memory");
  allocations()[reinterpret_cast<uintptr_t>(q)] = {bytes, MemKind::Device};
  *p = q;
  return cudaSuccess;
}
cudaError_t cudaMallocAsync(void** p, size_t bytes, cudaStream_t stream) {
  LOCK;
  CUDA_EMU_STICKY();
  Stream* s = nullptr;
  if (cudaError_t e = resolve(stream, &s, "cudaMallocAsync"); e != cudaSuccess) return e;
  if (s->capture) return fail(cudaErrorNotSupported, "cudaMallocAsync: memory nodes in captured graphs are not emulated");
  return cudaMalloc(p, bytes);
}
static cudaError_t free_device(void* p, const char* call) {
  if (!p) return cudaSuccess;
  auto& m = allocations();
  auto it = m.find(reinterpret_cast<uintptr_t>(p));
  if (it == m.end() || it->second.kind != MemKind::Device)
    return fail(cudaErrorInvalidValue, std::string(call) + "(" + ptr_str(p) +
                                           "): not the start of a live device allocation (double free?)");
  m.erase(it);
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
  LOCK;
  CUDA_EMU_STICKY();
  if (cudaError_t e = refuse_during_capture("cudaFree"); e != cudaSuccess) return e;
  flush_all();  // cudaFree waits for the device
  return free_device(p, "cudaFree");
}
cudaError_t cudaFreeAsync(void* p, cudaStream_t stream) {
  LOCK;
  CUDA_EMU_STICKY();
  Stream* s = nullptr;
  if (cudaError_t e = resolve(stream, &s, "cudaFreeAsync"); e != cudaSuccess) return e;
  if (s->capture) return fail(cudaErrorNotSupported, "cudaFreeAsync: memory nodes in captured graphs are not emulated");
  if (p && !allocations().count(reinterpret_cast<uintptr_t>(p)))
    return fail(cudaErrorInvalidValue, "cudaFreeAsync(" + ptr_str(p) + "): not a live device allocation");
  return enqueue(*s, [p] { free_device(p, "cudaFreeAsync"); });
}
cudaError_t cudaHostAlloc(void** p, size_t bytes, unsigned int) {
  LOCK;
  CUDA_EMU_STICKY();
  if (cudaError_t e = refuse_during_capture("cudaHostAlloc"); e != cudaSuccess) return e;
  if (!p) return fail(cudaErrorInvalidValue, "cudaHostAlloc: null output pointer");
  void* q = host_alloc(bytes);
  if (!q) return fail(cudaErrorMemoryAllocation, "cudaHostAlloc: out of host memory");
  allocations()[reinterpret_cast<uintptr_t>(q)] = {bytes, MemKind::Pinned};
  *p = q;
  return cudaSuccess;
}
cudaError_t cudaMallocHost(void** p, size_t bytes) { return cudaHostAlloc(p, bytes, 0); }
cudaError_t cudaFreeHost(void* p) {
  LOCK;
  CUDA_EMU_STICKY();
  if (cudaError_t e = refuse_during_capture("cudaFreeHost"); e != cudaSuccess) return e;
  if (!p) return cudaSuccess;
  flush_all();
  auto& m = allocations();
  auto it = m.find(reinterpret_cast<uintptr_t>(p));
  if (it == m.end() || it->second.kind != MemKind::Pinned)
    return fail(cudaErrorInvalidValue, "cudaFreeHost(" + ptr_str(p) + "): not pinned host memory from cudaHostAlloc");
  m.erase(it);
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total) {
  LOCK;
  size_t used = 0;
  for (auto& [a, al] : allocations())
    if (al.kind == MemKind::Device) used += al.bytes;
  if (total) *total = size_t(80) << 30;
  if (free_bytes) *free_bytes = (size_t(80) << 30) - used;
  return cudaSuccess;
}
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* attr, const void* p) {
  LOCK;
  if (!attr) return cudaErrorInvalidValue;
  std::memset(attr, 0, sizeof *attr);
  const auto* al = find_alloc(p);
  attr->type = !al ? cudaMemoryTypeUnregistered
                   : (al->second.kind == MemKind::Device ? cudaMemoryTypeDevice : cudaMemoryTypeHost);
  attr->device = 0;
  attr->devicePointer = al && al->second.kind == MemKind::Device ? const_cast<void*>(p) : nullptr;
  attr->hostPointer = al && al->second.kind == MemKind::Device ? nullptr : const_cast<void*>(p);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind kind) {
  LOCK;
  CUDA_EMU_STICKY();
  if (cudaError_t e = refuse_during_capture("cudaMemcpy"); e != cudaSuccess) return e;
  if (cudaError_t e = check_copy("cudaMemcpy", dst, src, n, kind); e != cudaSuccess) return e;
  // On the legacy stream: after earlier work there and in blocking streams, synchronously.
  Stream& s = legacy_stream();
  enqueue(s, [=] { std::memcpy(dst, src, n); });
  flush(s);
  return errors().sticky;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind kind,
                            cudaStream_t stream) {
  LOCK;
  CUDA_EMU_STICKY();
  Stream* s = nullptr;
  if (cudaError_t e = resolve(stream, &s, "cudaMemcpyAsync"); e != cudaSuccess) return e;
  if (cudaError_t e = check_copy("cudaMemcpyAsync", dst, src, n, kind); e != cudaSuccess) return e;
  // Deferred: the source is read when the stream gets here, not now. A pageable buffer freed
  // before then is a use-after-free under ASan (a GPU may stage it at the call, or not).
  return enqueue(*s, [=] { std::memcpy(dst, src, n); });
}
static cudaError_t check_memset(const char* call, void* p, size_t n) {
  const auto* al = find_alloc(p);
  if (!al || al->second.kind != MemKind::Device)
    return fail(cudaErrorInvalidValue, std::string(call) + "(" + ptr_str(p) + "): not device memory");
  if (!range_in(al, p, n))
    return fail(cudaErrorInvalidValue, std::string(call) + ": " + std::to_string(n) +
                                           " bytes run past the allocation of " + std::to_string(al->second.bytes));
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int value, size_t n, cudaStream_t stream) {
  LOCK;
  CUDA_EMU_STICKY();
  Stream* s = nullptr;
  if (cudaError_t e = resolve(stream, &s, "cudaMemsetAsync"); e != cudaSuccess) return e;
  if (n == 0) return cudaSuccess;
  if (cudaError_t e = check_memset("cudaMemsetAsync", p, n); e != cudaSuccess) return e;
  return enqueue(*s, [=] { std::memset(p, value, n); });
}
cudaError_t cudaMemset(void* p, int value, size_t n) {
  LOCK;
  CUDA_EMU_STICKY();
  if (cudaError_t e = refuse_during_capture("cudaMemset"); e != cudaSuccess) return e;
  return cudaMemsetAsync(p, value, n, nullptr);
}

// -- streams --
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* out, unsigned int flags) {
  return create_handle(streams(), out, flags, "cudaStreamCreate");
}
cudaError_t cudaStreamCreate(cudaStream_t* out) { return cudaStreamCreateWithFlags(out, cudaStreamDefault); }
cudaError_t cudaStreamCreateWithPriority(cudaStream_t* out, unsigned int flags, int) {
  return cudaStreamCreateWithFlags(out, flags);
}
cudaError_t cudaStreamDestroy(cudaStream_t h) {
  LOCK;
  Stream* s = nullptr;
  if (cudaError_t e = resolve(h, &s, "cudaStreamDestroy"); e != cudaSuccess) return e;
  if (s->legacy) return fail(cudaErrorInvalidResourceHandle, "cudaStreamDestroy: the default stream");
  if (s->capture)
    return fail(cudaErrorStreamCaptureUnmatched, "cudaStreamDestroy: the stream is still capturing (end the capture first)");
  // Work already queued still runs (as on a GPU); here, now.
  if (errors().sticky == cudaSuccess) flush(*s);
  for (Event* e : events())
    if (e->stream == s) e->stream = nullptr;
  streams().erase(s);
  delete s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t h) {
  LOCK;
  CUDA_EMU_STICKY();
  Stream* s = nullptr;
  if (cudaError_t e = resolve(h, &s, "cudaStreamSynchronize"); e != cudaSuccess) return e;
  if (cudaError_t e = refuse_sync_of_capture(*s, "cudaStreamSynchronize"); e != cudaSuccess) return e;
  flush(*s);
  return errors().sticky;
}
cudaError_t cudaStreamQuery(cudaStream_t h) {
  LOCK;
  CUDA_EMU_STICKY();
  Stream* s = nullptr;
  if (cudaError_t e = resolve(h, &s, "cudaStreamQuery"); e != cudaSuccess) return e;
  if (cudaError_t e = refuse_sync_of_capture(*s, "cudaStreamQuery"); e != cudaSuccess) return e;
  if (s->queue.empty()) return cudaSuccess;
  flush(*s);  // not done now; done by the next query (the device makes progress)
  return cudaErrorNotReady;
}
cudaError_t cudaLaunchHostFunc(cudaStream_t h, cudaHostFn_t fn, void* user) {
  LOCK;
  CUDA_EMU_STICKY();
  Stream* s = nullptr;
  if (cudaError_t e = resolve(h, &s, "cudaLaunchHostFunc"); e != cudaSuccess) return e;
  return enqueue(*s, [fn, user] { fn(user); });
}

// -- events --
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* out, unsigned int flags) {
  return create_handle(events(), out, flags, "cudaEventCreate");
}
cudaError_t cudaEventCreate(cudaEvent_t* out) { return cudaEventCreateWithFlags(out, cudaEventDefault); }
static cudaError_t resolve_event(cudaEvent_t h, Event** out, const char* call) {
  Event* e = reinterpret_cast<Event*>(h);
  if (!h || !events().count(e))
    return fail(cudaErrorInvalidResourceHandle, std::string(call) + ": not a live event (destroyed or never created)");
  *out = e;
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t h) {
  LOCK;
  Event* e = nullptr;
  if (cudaError_t st = resolve_event(h, &e, "cudaEventDestroy"); st != cudaSuccess) return st;
  // Queued records of this event still reference it: run them first.
  if (e->stream && errors().sticky == cudaSuccess) flush(*e->stream, e->seq);
  events().erase(e);
  delete e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t h, cudaStream_t stream) {
  LOCK;
  CUDA_EMU_STICKY();
  Event* e = nullptr;
  if (cudaError_t st = resolve_event(h, &e, "cudaEventRecord"); st != cudaSuccess) return st;
  Stream* s = nullptr;
  if (cudaError_t st = resolve(stream, &s, "cudaEventRecord"); st != cudaSuccess) return st;
  if (s->capture) {
    // Inside a graph a record only orders work; it is not observable from the host.
    e->captured = true;
    return enqueue(*s, [] {});
  }
  // An earlier record still queued on another stream must not complete this one later.
  if (e->stream && e->stream != s) flush(*e->stream, e->seq);
  const uint64_t gen = ++e->recorded;
  e->stream = s;
  e->seq = s->next_seq;
  e->polled = false;
  return enqueue(*s, [e, gen] {
    if (!events().count(e)) return;
    e->completed = gen;
    e->when = std::chrono::steady_clock::now();
  });
}
static void complete_event(Event* e) {
  if (e->completed < e->recorded && e->stream) flush(*e->stream, e->seq);
}
cudaError_t cudaEventSynchronize(cudaEvent_t h) {
  LOCK;
  CUDA_EMU_STICKY();
  Event* e = nullptr;
  if (cudaError_t st = resolve_event(h, &e, "cudaEventSynchronize"); st != cudaSuccess) return st;
  if (e->captured) return fail(cudaErrorStreamCaptureUnsupported, "cudaEventSynchronize: the event was recorded inside an open stream capture");
  complete_event(e);
  return errors().sticky;
}
cudaError_t cudaEventQuery(cudaEvent_t h) {
  LOCK;
  CUDA_EMU_STICKY();
  Event* e = nullptr;
  if (cudaError_t st = resolve_event(h, &e, "cudaEventQuery"); st != cudaSuccess) return st;
  if (e->captured) return fail(cudaErrorStreamCaptureUnsupported, "cudaEventQuery: the event was recorded inside an open stream capture");
  if (e->completed >= e->recorded) return cudaSuccess;
  complete_event(e);  // not ready this time; the next query sees it done
  return cudaErrorNotReady;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t h, unsigned int) {
  LOCK;
  CUDA_EMU_STICKY();
  Event* e = nullptr;
  if (cudaError_t st = resolve_event(h, &e, "cudaStreamWaitEvent"); st != cudaSuccess) return st;
  Stream* s = nullptr;
  if (cudaError_t st = resolve(stream, &s, "cudaStreamWaitEvent"); st != cudaSuccess) return st;
  if (s->capture || e->captured) {
    if (s->capture && e->captured) return cudaSuccess;  // ordered already: one captured stream
    return fail(cudaErrorStreamCaptureIsolation,
                "cudaStreamWaitEvent: joins a capturing stream and another one; the emulator "
                "captures a single stream");
  }
  // The wait is for the record made before this call.
  Stream* src = e->stream;
  const uint64_t seq = e->seq;
  if (!src || src == s) return cudaSuccess;
  return enqueue(*s, [src, seq] {
    if (streams().count(src) || src == &legacy_stream()) flush(*src, seq);
  });
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  LOCK;
  CUDA_EMU_STICKY();
  Event *a = nullptr, *b = nullptr;
  if (cudaError_t st = resolve_event(start, &a, "cudaEventElapsedTime"); st != cudaSuccess) return st;
  if (cudaError_t st = resolve_event(end, &b, "cudaEventElapsedTime"); st != cudaSuccess) return st;
  if (!ms) return fail(cudaErrorInvalidValue, "cudaEventElapsedTime: null output");
  if ((a->flags | b->flags) & cudaEventDisableTiming)
    return fail(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: an event was created with cudaEventDisableTiming");
  if (!a->recorded || !b->recorded)
    return fail(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: an event was never recorded");
  if (a->completed < a->recorded || b->completed < b->recorded) {
    errors().last = cudaErrorNotReady;
    return cudaErrorNotReady;
  }
  *ms = std::chrono::duration<float, std::milli>(b->when - a->when).count();
  return cudaSuccess;
}

// -- graphs (stream capture of one stream; nodes replay in capture order) --
cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode) {
  LOCK;
  CUDA_EMU_STICKY();
  Stream* s = nullptr;
  if (cudaError_t e = resolve(stream, &s, "cudaStreamBeginCapture"); e != cudaSuccess) return e;
  if (s->legacy)
    return fail(cudaErrorStreamCaptureUnsupported, "cudaStreamBeginCapture: the legacy default stream cannot be captured");
  if (s->capture) return fail(cudaErrorIllegalState, "cudaStreamBeginCapture: the stream is already capturing");
  for (Stream* o : streams())
    if (o->capture)
      return fail(cudaErrorNotSupported, "cudaStreamBeginCapture: the emulator captures one stream at a time");
  s->capture = new Graph;
  s->capture_mode = mode;
  s->capture_invalidated_by.clear();
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* out) {
  LOCK;
  CUDA_EMU_STICKY();
  Stream* s = nullptr;
  if (cudaError_t e = resolve(stream, &s, "cudaStreamEndCapture"); e != cudaSuccess) return e;
  if (!s->capture) return fail(cudaErrorIllegalState, "cudaStreamEndCapture: the stream is not capturing");
  if (!out) return fail(cudaErrorInvalidValue, "cudaStreamEndCapture: null output");
  Graph* g = s->capture;
  s->capture = nullptr;
  for (Event* e : events()) e->captured = false;
  *out = nullptr;
  if (!s->capture_invalidated_by.empty()) {
    delete g;
    return fail(cudaErrorStreamCaptureInvalidated,
                "cudaStreamEndCapture: the capture was invalidated by " + s->capture_invalidated_by);
  }
  graphs().insert(g);
  *out = reinterpret_cast<cudaGraph_t>(g);
  return cudaSuccess;
}
cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status) {
  LOCK;
  Stream* s = nullptr;
  if (cudaError_t e = resolve(stream, &s, "cudaStreamIsCapturing"); e != cudaSuccess) return e;
  if (!status) return fail(cudaErrorInvalidValue, "cudaStreamIsCapturing: null output");
  *status = !s->capture ? cudaStreamCaptureStatusNone
            : s->capture_invalidated_by.empty() ? cudaStreamCaptureStatusActive
                                                : cudaStreamCaptureStatusInvalidated;
  return cudaSuccess;
}
cudaError_t cudaGraphGetNodes(cudaGraph_t graph, cudaGraphNode_t* nodes, size_t* count) {
  LOCK;
  Graph* g = reinterpret_cast<Graph*>(graph);
  if (!graphs().count(g)) return fail(cudaErrorInvalidResourceHandle, "cudaGraphGetNodes: not a live graph");
  if (!count) return fail(cudaErrorInvalidValue, "cudaGraphGetNodes: null count");
  if (nodes) return fail(cudaErrorNotSupported, "cudaGraphGetNodes: node handles are not emulated (pass nullptr to count)");
  *count = g->nodes.size();
  return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* out, cudaGraph_t graph, unsigned long long) {
  LOCK;
  CUDA_EMU_STICKY();
  Graph* g = reinterpret_cast<Graph*>(graph);
  if (!out) return fail(cudaErrorInvalidValue, "cudaGraphInstantiate: null output");
  if (!graphs().count(g)) return fail(cudaErrorInvalidResourceHandle, "cudaGraphInstantiate: not a live graph");
  auto* x = new GraphExec;
  x->nodes = std::make_shared<const std::vector<std::function<void()>>>(g->nodes);
  graph_execs().insert(x);
  *out = reinterpret_cast<cudaGraphExec_t>(x);
  return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  LOCK;
  CUDA_EMU_STICKY();
  GraphExec* x = reinterpret_cast<GraphExec*>(exec);
  if (!graph_execs().count(x)) return fail(cudaErrorInvalidResourceHandle, "cudaGraphLaunch: not a live executable graph");
  Stream* s = nullptr;
  if (cudaError_t e = resolve(stream, &s, "cudaGraphLaunch"); e != cudaSuccess) return e;
  // One queued op; the node list is shared, so destroying the executable graph before the
  // stream reaches it is safe (as on a GPU).
  auto nodes = x->nodes;
  return enqueue(*s, [nodes] {
    for (const auto& n : *nodes) {
      if (errors().sticky != cudaSuccess) return;
      n();
    }
  });
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  LOCK;
  GraphExec* x = reinterpret_cast<GraphExec*>(exec);
  if (!graph_execs().erase(x)) return fail(cudaErrorInvalidResourceHandle, "cudaGraphExecDestroy: not a live executable graph");
  delete x;
  return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  LOCK;
  Graph* g = reinterpret_cast<Graph*>(graph);
  if (!graphs().erase(g)) return fail(cudaErrorInvalidResourceHandle, "cudaGraphDestroy: not a live graph");
  delete g;
  return cudaSuccess;
}

}  // extern "C"

// Sanitizer defaults for every program linked with the emulator (the environment still
// overrides them): UBSan reports with a stack and aborts, so the position of the emulated
// thread is printed (on_abort above).
extern "C" const char* __ubsan_default_options() {
  return "print_stacktrace=1:halt_on_error=1:abort_on_error=1";
}
