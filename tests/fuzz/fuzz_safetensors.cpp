// libFuzzer: safetensors parsing and tensor access (dtype conversion, views).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cgan/error.hpp"
#include "cgan/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<unsigned char> bytes(data, data + size);
  try {
    const cgan::SafeTensors st = cgan::parse_safetensors(bytes, "fuzz.safetensors");
    for (const auto& kv : st.tensors) {
      const cgan::Tensor t = st.f32(kv.first);
      if (t.numel() > 0 && t.numel() < (1 << 20)) {
        volatile float sink = t.to_vector()[static_cast<size_t>(t.numel() - 1)];
        (void)sink;
      }
    }
  } catch (const cgan::Error&) {
  }
  return 0;
}
