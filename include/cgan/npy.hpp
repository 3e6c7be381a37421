#pragma once
// NumPy .npy files (format versions 1-3): little-endian float32 ('<f4') or float64 ('<f8'),
// C order. Enough to import per-layer weight dumps.
#include <string>
#include <vector>

#include "cgan/tensor.hpp"

namespace cgan {

// Returns a CPU float32 tensor (float64 data is converted). Throws cgan::Error naming the
// file for a bad magic, a truncated file, a malformed header, big-endian or non-float data,
// Fortran order, or a data size that does not match the shape.
Tensor read_npy(const std::string& path);
// The same from bytes in memory; `name` stands for the file in error messages.
Tensor parse_npy(const std::vector<unsigned char>& bytes, const std::string& name);

}  // namespace cgan
