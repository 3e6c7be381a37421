// The bf16 inference path on the CPU backend (the reference the GPU's bf16 path is tested
// against): the boundary conversions and NHWC padding exactly, then whole generators in bf16
// against their fp32 forward: the official Hayao weights on the conformance photos (>= 40 dB,
// the mixed-precision issue's bar) and randomly initialized generators of both architectures.
#include <cmath>

#include "cgan/cartoonize.hpp"
#include "cgan/conv.hpp"
#include "cgan/ops.hpp"
#include "common/conformance_util.hpp"
#include "common/bf16_test_util.hpp"
#include "common/test_util.hpp"

using namespace cgan;
using namespace cgan::test;


TEST_CASE("bf16: NHWC conversions, bias + tanh exit and reflection padding are exact", "[bf16]") {
  Context cpu;
  const Shape s{2, 5, 4, 3};
  Tensor x = random_tensor(s, 1, -2.f, 2.f);
  Tensor h = Tensor::empty_cpu(s, DType::F32, Layout::NHWC);
  ops::to_nhwc(h, x, cpu);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 5; ++c)
      for (int64_t p = 0; p < 12; ++p)
        REQUIRE(h.f32()[(n * 12 + p) * 5 + c] == x.f32()[(n * 5 + c) * 12 + p]);
  Tensor bias = random_tensor({5}, 2);
  Tensor back = Tensor::empty_cpu(s);
  ops::to_nchw(back, h, &bias, true, cpu);
  for (int64_t i = 0; i < x.numel(); ++i)
    REQUIRE(back.f32()[i] == std::tanh(x.f32()[i] + bias.f32()[(i / 12) % 5]));
  // BF16: rounding once on the way in.
  Tensor hb = Tensor::empty_cpu(s, DType::BF16, Layout::NHWC);
  ops::to_nhwc(hb, x, cpu);
  ops::to_nchw(back, hb, nullptr, false, cpu);
  for (int64_t i = 0; i < x.numel(); ++i)
    REQUIRE(back.f32()[i] == bf16_to_float(float_to_bf16(x.f32()[i])));
  // Padding: the NHWC pad of the NHWC map is the NHWC form of the NCHW pad.
  Tensor padded = Tensor::empty_cpu({2, 5, 8, 7}),
         padded_h = Tensor::empty_cpu({2, 5, 8, 7}, DType::F32, Layout::NHWC);
  ops::reflection_pad_forward(padded, x, ops::Pad2d::all(2), cpu);
  ops::reflection_pad_nhwc(padded_h, h, 2, cpu);
  Tensor padded_back = Tensor::empty_cpu({2, 5, 8, 7});
  ops::to_nchw(padded_back, padded_h, nullptr, false, cpu);
  CHECK(padded_back.to_vector() == padded.to_vector());
  CHECK_THROWS_WITH(ops::reflection_pad_nhwc(padded_h, h, 4, cpu), Catch::Contains("< the input"));
}

TEST_CASE("bf16: an NHWC bf16 convolution is the fp32 one on the same values, rounded once",
          "[bf16]") {
  Context cpu;
  for (bool transposed : {false, true}) {
    ConvSpec spec;
    spec.stride = 2;
    spec.pad = 1;
    spec.transposed = transposed;
    spec.output_padding = transposed ? 1 : 0;
    const Shape xs{2, 6, 9, 7}, ws = transposed ? Shape{6, 4, 3, 3} : Shape{4, 6, 3, 3};
    auto bf16_exact = [](Tensor t) {
      for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = bf16_to_float(float_to_bf16(t.f32()[i]));
      return t;
    };
    Tensor x = bf16_exact(random_tensor(xs, 3)), w = bf16_exact(random_tensor(ws, 4));
    Tensor bias = random_tensor({4}, 5);
    const Shape os = conv_output_shape(xs, ws, spec);
    Tensor y = Tensor::empty_cpu(os);
    conv_forward(y, x, w, &bias, spec, cpu);
    Tensor xb = Tensor::empty_cpu(xs, DType::BF16, Layout::NHWC),
           wb = Tensor::empty_cpu(ws, DType::BF16, Layout::NHWC);
    ops::to_nhwc(xb, x, cpu);
    ops::to_nhwc(wb, w, cpu);
    Tensor yb = Tensor::empty_cpu(os, DType::BF16, Layout::NHWC);
    conv_forward(yb, xb, wb, &bias, spec, cpu);
    Tensor got = Tensor::empty_cpu(os);
    ops::to_nchw(got, yb, nullptr, false, cpu);
    // The bias is added after the bf16 rounding of the product: two roundings, each within
    // half an ulp (2^-8 relative) of what it rounds.
    const std::vector<float> a = got.to_vector(), b = y.to_vector();
    int bad = 0;
    for (size_t i = 0; i < a.size(); ++i)
      bad +=
          !(std::fabs(a[i] - b[i]) <=
            0x1p-7 * (std::fabs(b[i]) + std::fabs(bias.f32()[(i / (os[2] * os[3])) % 4])) + 1e-6);
    INFO((transposed ? "transposed" : "conv") << ": " << bad << " outputs off");
    CHECK(bad == 0);
    Tensor wrong = Tensor::empty_cpu(os);
    CHECK_THROWS_WITH(conv_forward(wrong, xb, wb, nullptr, spec, cpu),
                      Catch::Contains("BF16 NHWC"));
  }
}

TEST_CASE("bf16: random generators of both architectures track their fp32 forward", "[bf16]") {
  Context cpu;
  for (GeneratorArch arch : {GeneratorArch::Official, GeneratorArch::Seed}) {
    std::unique_ptr<Generator> g;
    if (arch == GeneratorArch::Official) {
      OfficialGenerator::Options o;
      o.features = 16;
      o.residuals = 2;
      o.seed = 7;
      g = std::make_unique<OfficialGenerator>(cpu, o);
    } else {
      SeedGenerator::Options o;
      o.features = 16;
      o.residuals = 2;
      o.seed = 7;
      g = std::make_unique<SeedGenerator>(cpu, o);
    }
    for (const Shape& s : {Shape{1, 3, 36, 28}, Shape{2, 3, 23, 17}}) {
      Tensor x = random_tensor(s, 11, -1.f, 1.f);
      const Tensor ref = g->infer(x);
      Bf16GeneratorRunner runner(*g);
      const Tensor got = runner.run(x);
      REQUIRE(got.shape() == ref.shape());
      const double p = psnr_pm1(got.to_vector(), ref.to_vector());
      INFO((arch == GeneratorArch::Official ? "official" : "seed")
           << " " << shape_str(s) << ": PSNR " << p << " dB");
      CHECK(p >= 40.0);
    }
  }
}

TEST_CASE(
    "bf16: the official Hayao generator in bf16 within 40 dB of fp32 on the "
    "conformance photos",
    "[bf16]") {
  CGAN_REQUIRE_SHARED(kHayaoWeights);
  CGAN_REQUIRE_SHARED(kHayaoDir);
  const std::string sh = shared_dir();
  Context cpu;
  CartoonizeOptions opt;
  opt.arch = GeneratorArch::Official;
  opt.max_side = 160;  // the CPU's bf16 path is a slow reference; the GPU test runs 450
  Cartoonizer cz(sh + "/" + kHayaoWeights, opt, cpu);
  Bf16GeneratorRunner runner(cz.generator());
  for (const ConformanceItem& it : hayao_items()) {
    const Image in = cz.prepare(read_image(sh + "/" + kHayaoDir + "/input/" + it.input));
    const Tensor x = images_to_tensor({in}, ChannelOrder::BGR, cpu);
    const double p = psnr_pm1(runner.run(x).to_vector(), cz.generator().infer(x).to_vector());
    std::cout << "  " << it.input << " " << in.width << "x" << in.height << ": bf16 vs fp32 " << p
              << " dB" << std::endl;
    CHECK(p >= 40.0);
  }
}
