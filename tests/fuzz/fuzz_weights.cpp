// libFuzzer: the weight loaders' name and shape checks. A parsed safetensors file goes into
// a small seed generator, a small discriminator and a conv3_2 VGG (ParameterSet::load), and
// through the architecture recognition cgan_cartoonize uses.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "cgan/context.hpp"
#include "cgan/error.hpp"
#include "cgan/networks.hpp"
#include "cgan/safetensors.hpp"
#include "cgan/vgg.hpp"

namespace {
struct Nets {
  cgan::Context ctx;
  std::unique_ptr<cgan::SeedGenerator> gen;
  std::unique_ptr<cgan::SeedDiscriminator> disc;
  std::unique_ptr<cgan::VGG19Features> vgg;
  Nets() {
    cgan::SeedGenerator::Options g;
    g.features = 2;
    g.residuals = 1;
    gen = std::make_unique<cgan::SeedGenerator>(ctx, g);
    cgan::SeedDiscriminator::Options d;
    d.features = {2, 2, 4, 4};
    disc = std::make_unique<cgan::SeedDiscriminator>(ctx, d);
    cgan::VGG19Features::Options v;
    v.last = cgan::VGG19Features::Layer::Conv3_2;
    vgg = std::make_unique<cgan::VGG19Features>(ctx, v);
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Nets nets;
  const std::vector<unsigned char> bytes(data, data + size);
  cgan::SafeTensors st;
  try {
    st = cgan::parse_safetensors(bytes, "fuzz.safetensors");
  } catch (const cgan::Error&) {
    return 0;
  }
  (void)cgan::recognize_generator_arch(st);
  for (cgan::Module* m : {static_cast<cgan::Module*>(nets.gen.get()),
                          static_cast<cgan::Module*>(nets.disc.get()),
                          static_cast<cgan::Module*>(nets.vgg.get())}) {
    for (bool unexpected_ok : {false, true}) {
      try {
        m->params().load(st, "fuzz.safetensors", unexpected_ok, nets.ctx);
      } catch (const cgan::Error&) {
      }
    }
  }
  return 0;
}
