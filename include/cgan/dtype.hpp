#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace cgan {

// float32 is what every op computes in today; the half types exist so weights stored as
// F16/BF16 can be read and so mixed precision has a place to go later.
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
uint16_t float_to_bf16(float f);  // round to nearest even

}  // namespace cgan
