#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace cgan {

// float32 is what every op computes in. F16/BF16 are storage types: weights stored as F16/BF16
// are read, and the channels-last kernels (kernels/*_nhwc.*) store activations as BF16.
enum class DType : uint8_t { F32, F16, BF16 };

constexpr size_t dtype_size(DType t) { return t == DType::F32 ? 4 : 2; }
const char* dtype_name(DType t);

float half_to_float(uint16_t h);
uint16_t float_to_half(float f);  // round to nearest even
inline float bf16_to_float(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint16_t float_to_bf16(float f);  // round to nearest even (as __float2bfloat16_rn); NaN stays NaN

// One bf16 value as host code holds it: the bit pattern. Same size and alignment as CUDA's
// __nv_bfloat16, which kernels reinterpret it as; arithmetic always happens in float.
struct bf16 {
  uint16_t bits;
};
static_assert(sizeof(bf16) == 2 && alignof(bf16) == 2, "bf16 must match __nv_bfloat16");
inline float to_float(bf16 b) { return bf16_to_float(b.bits); }
inline float to_float(float f) { return f; }
// Storage conversions for code templated on the storage type (float or bf16).
template <typename T>
T from_float(float f);
template <>
inline float from_float<float>(float f) { return f; }
template <>
inline bf16 from_float<bf16>(float f) { return bf16{float_to_bf16(f)}; }

}  // namespace cgan
