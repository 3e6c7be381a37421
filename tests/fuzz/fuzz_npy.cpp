// libFuzzer: .npy parsing (header scanner, shapes, float32/float64 data).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cgan/error.hpp"
#include "cgan/npy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<unsigned char> bytes(data, data + size);
  try {
    const cgan::Tensor t = cgan::parse_npy(bytes, "fuzz.npy");
    if (t.numel() > 0) {
      volatile float sink = t.f32()[t.numel() - 1];
      (void)sink;
    }
  } catch (const cgan::Error&) {
  }
  return 0;
}
