#pragma once
// cuda_emu device side: force-included (-include) into every CUDA source that cu2cpp has
// rewritten, so the kernels compile as host C++. Execution-space keywords vanish, the
// built-in index variables read the running emulated thread, and every barrier and
// warp-synchronous intrinsic hands control to the scheduler (emu/src/exec.cpp), which checks
// it against the rules of the hardware before it lets the threads go on.
#include <cuda_runtime.h>

#include <atomic>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <type_traits>

#include "cuda_emu/emu.hpp"

#undef __global__
#undef __device__
#undef __host__
#undef __shared__
#undef __constant__
#undef __managed__
#undef __launch_bounds__
#undef __noinline__
#define __global__
#define __device__
#define __host__
#define __constant__
#define __managed__
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
// cu2cpp rewrites every __shared__ declaration; one left over is a declaration form it does
// not know (namespace scope, several names in one statement): fail loudly.
#define __shared__ static_assert(false, "cuda_emu: unsupported __shared__ declaration");

namespace cuda_emu::detail {

enum class WarpKind { Shfl, ShflUp, ShflDown, ShflXor, Ballot, Any, All, Sync };
// Blocks the calling lane until every lane named in `mask` has made the same call; returns
// this lane's result (the shuffled value's bits, the ballot, ...).
uint64_t warp_op(WarpKind kind, unsigned mask, uint64_t value, int arg, int width,
                 const char* file, int line);
enum class BarrierKind { Plain, Count, And, Or };
int block_barrier(BarrierKind kind, int predicate, const char* file, int line);
void* static_shared(const void* key, size_t bytes, size_t align, const char* name);
void* dynamic_shared();
unsigned active_mask();
[[noreturn]] void trap(const char* what, const char* file, int line);

template <class T>
uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "shuffle of a type over 8 bytes");
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <class T>
T from_bits(uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}

}  // namespace cuda_emu::detail

namespace cuda_emu {
template <class T>
T& static_shared(const void* key, size_t align, const char* name) {
  const size_t a = align > alignof(T) ? align : alignof(T);
  return *static_cast<T*>(detail::static_shared(key, sizeof(T), a, name));
}
inline void* dynamic_shared() { return detail::dynamic_shared(); }
}  // namespace cuda_emu

#define threadIdx (static_cast<const uint3&>(::cuda_emu::detail::g_lane->tid))
#define blockIdx (static_cast<const uint3&>(::cuda_emu::detail::g_block_idx))
#define blockDim (static_cast<const dim3&>(::cuda_emu::detail::g_block_dim))
#define gridDim (static_cast<const dim3&>(::cuda_emu::detail::g_grid_dim))
#define warpSize 32

// ---- barriers ----------------------------------------------------------------------------
inline void __syncthreads(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  ::cuda_emu::detail::block_barrier(::cuda_emu::detail::BarrierKind::Plain, 0, file, line);
}
inline int __syncthreads_count(int p, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return ::cuda_emu::detail::block_barrier(::cuda_emu::detail::BarrierKind::Count, p != 0, file, line);
}
inline int __syncthreads_and(int p, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return ::cuda_emu::detail::block_barrier(::cuda_emu::detail::BarrierKind::And, p != 0, file, line);
}
inline int __syncthreads_or(int p, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return ::cuda_emu::detail::block_barrier(::cuda_emu::detail::BarrierKind::Or, p != 0, file, line);
}
inline void __syncwarp(unsigned mask = 0xffffffffu, const char* file = __builtin_FILE(),
                       int line = __builtin_LINE()) {
  ::cuda_emu::detail::warp_op(::cuda_emu::detail::WarpKind::Sync, mask, 0, 0, 32, file, line);
}
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_system() { std::atomic_thread_fence(std::memory_order_seq_cst); }
[[noreturn]] inline void __trap(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  ::cuda_emu::detail::trap("__trap()", file, line);
}
inline unsigned __activemask() { return ::cuda_emu::detail::active_mask(); }

// ---- warp shuffles and votes ---------------------------------------------------------------
#define CUDA_EMU_SHFL(NAME, KIND)                                                            \
  template <class T>                                                                         \
  inline T NAME(unsigned mask, T v, int arg, int width = 32,                                 \
                const char* file = __builtin_FILE(), int line = __builtin_LINE()) {          \
    return ::cuda_emu::detail::from_bits<T>(::cuda_emu::detail::warp_op(                     \
        ::cuda_emu::detail::WarpKind::KIND, mask, ::cuda_emu::detail::to_bits(v), arg, width, \
        file, line));                                                                        \
  }
CUDA_EMU_SHFL(__shfl_sync, Shfl)
CUDA_EMU_SHFL(__shfl_up_sync, ShflUp)
CUDA_EMU_SHFL(__shfl_down_sync, ShflDown)
CUDA_EMU_SHFL(__shfl_xor_sync, ShflXor)
#undef CUDA_EMU_SHFL
inline unsigned __ballot_sync(unsigned mask, int p, const char* file = __builtin_FILE(),
                              int line = __builtin_LINE()) {
  return unsigned(::cuda_emu::detail::warp_op(::cuda_emu::detail::WarpKind::Ballot, mask,
                                              p != 0, 0, 32, file, line));
}
inline int __any_sync(unsigned mask, int p, const char* file = __builtin_FILE(),
                      int line = __builtin_LINE()) {
  return int(::cuda_emu::detail::warp_op(::cuda_emu::detail::WarpKind::Any, mask, p != 0, 0, 32,
                                         file, line));
}
inline int __all_sync(unsigned mask, int p, const char* file = __builtin_FILE(),
                      int line = __builtin_LINE()) {
  return int(::cuda_emu::detail::warp_op(::cuda_emu::detail::WarpKind::All, mask, p != 0, 0, 32,
                                         file, line));
}

// ---- atomics (threads of the emulator never run at the same time: plain read-modify-write) --
template <class T> inline T atomicAdd(T* p, T v) { T o = *p; *p = o + v; return o; }
template <class T> inline T atomicSub(T* p, T v) { T o = *p; *p = o - v; return o; }
template <class T> inline T atomicExch(T* p, T v) { T o = *p; *p = v; return o; }
template <class T> inline T atomicMin(T* p, T v) { T o = *p; *p = v < o ? v : o; return o; }
template <class T> inline T atomicMax(T* p, T v) { T o = *p; *p = v > o ? v : o; return o; }
template <class T> inline T atomicAnd(T* p, T v) { T o = *p; *p = o & v; return o; }
template <class T> inline T atomicOr(T* p, T v) { T o = *p; *p = o | v; return o; }
template <class T> inline T atomicXor(T* p, T v) { T o = *p; *p = o ^ v; return o; }
template <class T> inline T atomicCAS(T* p, T cmp, T v) { T o = *p; if (o == cmp) *p = v; return o; }
inline unsigned atomicInc(unsigned* p, unsigned lim) { unsigned o = *p; *p = o >= lim ? 0 : o + 1; return o; }
inline unsigned atomicDec(unsigned* p, unsigned lim) { unsigned o = *p; *p = (o == 0 || o > lim) ? lim : o - 1; return o; }

// ---- math intrinsics -----------------------------------------------------------------------
// The fast-math intrinsics get the accurate host function: the emulator checks logic, and a
// test that passes only with the fast approximation's exact rounding is wrong anyway.
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __log2f(float x) { return std::log2(x); }
inline float __powf(float a, float b) { return std::pow(a, b); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanf(float x) { return std::tan(x); }
inline float exp10f(float x) { return std::pow(10.0f, x); }
inline float __exp10f(float x) { return std::pow(10.0f, x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : (x != x ? 0.f : x)); }
inline float __fadd_rn(float a, float b) { volatile float r = a + b; return r; }
inline float __fsub_rn(float a, float b) { volatile float r = a - b; return r; }
inline float __fmul_rn(float a, float b) { volatile float r = a * b; return r; }
inline float __fdiv_rn(float a, float b) { volatile float r = a / b; return r; }
inline float __frcp_rn(float a) { volatile float r = 1.0f / a; return r; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline double __dadd_rn(double a, double b) { volatile double r = a + b; return r; }
inline double __dmul_rn(double a, double b) { volatile double r = a * b; return r; }
inline int __float2int_rn(float x) { return int(std::nearbyint(x)); }
inline int __float2int_rz(float x) { return int(x); }
inline int __float2int_rd(float x) { return int(std::floor(x)); }
inline int __float2int_ru(float x) { return int(std::ceil(x)); }
inline unsigned __float2uint_rn(float x) { return unsigned(std::nearbyint(x)); }
inline unsigned __float2uint_rz(float x) { return unsigned(x); }
inline float __int2float_rn(int x) { return float(x); }
inline int __float_as_int(float x) { int i; std::memcpy(&i, &x, 4); return i; }
inline unsigned __float_as_uint(float x) { unsigned i; std::memcpy(&i, &x, 4); return i; }
inline float __int_as_float(int i) { float x; std::memcpy(&x, &i, 4); return x; }
inline float __uint_as_float(unsigned i) { float x; std::memcpy(&x, &i, 4); return x; }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(unsigned(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline unsigned __brev(unsigned x) {
  unsigned r = 0;
  for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
  return r;
}
template <class T> inline T __ldg(const T* p) { return *p; }
inline long long clock64() { return static_cast<long long>(__builtin_ia32_rdtsc()); }
inline void __nanosleep(unsigned) {}

// CUDA's min/max overloads for every arithmetic pair (common type, as the usual conversions).
template <class A, class B, class = std::enable_if_t<std::is_arithmetic_v<A> && std::is_arithmetic_v<B>>>
inline std::common_type_t<A, B> min(A a, B b) {
  using C = std::common_type_t<A, B>;
  return C(b) < C(a) ? C(b) : C(a);
}
template <class A, class B, class = std::enable_if_t<std::is_arithmetic_v<A> && std::is_arithmetic_v<B>>>
inline std::common_type_t<A, B> max(A a, B b) {
  using C = std::common_type_t<A, B>;
  return C(a) < C(b) ? C(b) : C(a);
}
// CUDA's device math has the classification functions in the global namespace.
using std::isfinite;
using std::isinf;
using std::isnan;
using std::signbit;

// The toolkit declares these kernel-pointer templates for nvcc only.
template <class T>
inline cudaError_t cudaFuncSetAttribute(T* entry, cudaFuncAttribute attr, int value) {
  return ::cudaFuncSetAttribute(reinterpret_cast<const void*>(entry), attr, value);
}
