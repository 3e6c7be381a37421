// Official CartoonGAN conformance: the Hayao weights on the five reference photos, prepared as
// the official script did (longer side 450 with PIL bicubic, BGR, [-1,1]), against the
// published outputs (>= 29 dB each), and against a float64 PyTorch re-implementation on the
// same input tensor (>= 45 dB).
#include <chrono>
#include <cstdlib>

#include "cgan/cartoonize.hpp"
#include "common/conformance_util.hpp"
#include "common/test_util.hpp"

using namespace cgan;

namespace {
const char* kWeights = test::kHayaoWeights;
const char* kDir = test::kHayaoDir;
using test::pixels;
using test::psnr;
}  // namespace

TEST_CASE("official Hayao generator reproduces the published outputs") {
  CGAN_REQUIRE_SHARED(kWeights);
  CGAN_REQUIRE_SHARED(kDir);
  const std::string sh = test::shared_dir();
  Context ctx(Device::cpu());
  CartoonizeOptions opt;
  opt.arch = GeneratorArch::Official;
  opt.max_side = 450;
  Cartoonizer cz(sh + "/" + kWeights, opt, ctx);

  double secs = 0;
  for (const test::ConformanceItem& it : test::hayao_items()) {
    const Image in = cz.prepare(read_image(sh + "/" + kDir + "/input/" + it.input));
    const auto t0 = std::chrono::steady_clock::now();
    const Image out = cz.run({in})[0];
    secs += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const Image want = read_image(sh + "/" + kDir + "/expected/" + it.expected);
    REQUIRE(out.width == want.width);
    REQUIRE(out.height == want.height);
    const double p = psnr(pixels(out), pixels(want));
    std::cout << "  " << it.input << " (" << in.width << "x" << in.height << " -> " << out.width
              << "x" << out.height << "): PSNR " << p << " dB vs expected" << std::endl;
    CHECK(p >= 29.0);
  }
  std::cout << "  CPU: " << 5 / secs << " images/s (" << secs / 5 << " s per image)"
            << std::endl;
}

TEST_CASE("official generator matches a float64 PyTorch reference on the same tensor") {
  CGAN_REQUIRE_SHARED(kWeights);
  CGAN_REQUIRE_SHARED(kDir);
  CGAN_REQUIRE_PYTHON_MODULE("torch");
  const std::string sh = test::shared_dir();
  Context ctx(Device::cpu());
  CartoonizeOptions opt;
  opt.max_side = 450;
  Cartoonizer cz(sh + "/" + kWeights, opt, ctx);
  const Image in = cz.prepare(read_image(sh + "/" + kDir + "/input/in3.png"));
  const Tensor x = images_to_tensor({in}, ChannelOrder::BGR, ctx);
  const Tensor y = cz.generator().infer(x);
  const std::string dir = test::temp_dir("conformance");
  write_safetensors(dir + "/x.safetensors", {{"x", x}});
  const std::string cmd = test::python() + " " + CGAN_SOURCE_DIR +
                          "/tests/python/official_ref.py " + sh + "/" + kWeights + " " + dir +
                          "/x.safetensors " + dir + "/ref.safetensors";
  REQUIRE(std::system(cmd.c_str()) == 0);
  // The reference is float64; compare in the 0..255 output scale, before quantization.
  const auto ref_st = read_safetensors(dir + "/ref.safetensors");
  REQUIRE(ref_st.at("out").shape() == y.shape());
  std::vector<double> a, b;
  const std::vector<float> yv = y.to_vector(), rv = ref_st.f32("out").to_vector();
  for (size_t i = 0; i < yv.size(); ++i) {
    a.push_back((yv[i] * 0.5 + 0.5) * 255.0);
    b.push_back((rv[i] * 0.5 + 0.5) * 255.0);
  }
  const double p = psnr(a, b);
  std::cout << "  in3.png: PSNR " << p << " dB vs float64 PyTorch reference" << std::endl;
  CHECK(p >= 45.0);
}
