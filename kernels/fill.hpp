#pragma once
#include <cstdint>

#include "cgan/allocator.hpp"  // Stream

namespace cgan::kernels {
// out[0..n) = value  // out: [n] f32, device memory
void fill_f32(float* out, float value, int64_t n, Stream stream);
}  // namespace cgan::kernels
