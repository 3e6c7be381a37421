// Uses the installed library: a tensor round trip through safetensors on the best device.
// The umbrella header: every public header must compile from the installed tree alone.
#include <cgan/cgan.hpp>

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : "consumer.safetensors";
  try {
    cgan::Context ctx(cgan::select_device("auto"));
    cgan::Tensor t = cgan::Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6}).to(ctx);
    cgan::write_safetensors(path, {{"x", t}}, {{"who", "consumer"}}, &ctx);
    cgan::SafeTensors back = cgan::read_safetensors(path);
    const auto v = back.at("x").to_vector();
    if (v.size() != 6 || v[5] != 6.0f || back.metadata.at("who") != "consumer") {
      std::printf("consumer: round trip mismatch\n");
      return 1;
    }
    std::printf("consumer OK on %s\n", ctx.device().str().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::printf("consumer failed: %s\n", e.what());
    return 1;
  }
}
