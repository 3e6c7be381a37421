#pragma once
// safetensors (https://huggingface.co/docs/safetensors): 8-byte little-endian header size,
// a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then data.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cgan/tensor.hpp"

namespace cgan {

struct SafeTensors {
  // CPU tensors in the file's dtype (F32, F16 or BF16), in header order.
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::map<std::string, std::string> metadata;

  bool contains(const std::string& name) const;
  // Throws cgan::Error naming the tensor when absent.
  const Tensor& at(const std::string& name) const;
  // The tensor converted to float32 (a copy for F16/BF16, the same storage for F32).
  Tensor f32(const std::string& name) const;
};

// Reads a whole file. Errors (cgan::Error, message names the file): missing/unreadable,
// truncated, header size beyond the file, malformed JSON, unknown dtype, shape/offset
// mismatch, overlapping or out-of-range data, duplicate names.
SafeTensors read_safetensors(const std::string& path);
// The same from bytes in memory; `name` stands for the file in error messages.
SafeTensors parse_safetensors(const std::vector<unsigned char>& bytes, const std::string& name);

// Writes tensors (any device; copied to host via ctx if needed) atomically: the data goes to
// "<path>.tmp-<pid>" which is renamed over `path` only when complete. Duplicate names are an
// error. F32/F16/BF16 are written as they are.
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {},
                       Context* ctx = nullptr);

}  // namespace cgan
