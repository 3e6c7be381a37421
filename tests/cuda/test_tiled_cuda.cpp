// GPU vs CPU: the pieces of exact tiled inference (plane_moments, instance_norm_apply) on odd
// shapes, and a whole tiled run on the device against the CPU's whole-image result.
#include "cuda/test_kernels_cuda_util.hpp"

#include "cgan/networks.hpp"
#include "cgan/preprocess.hpp"
#include "cgan/tiled.hpp"
#include "common/conformance_util.hpp"

using namespace cgan;
using namespace cgan::test;

TEST_CASE("kernels: CUDA plane_moments and instance_norm_apply match the CPU", "[kernels][cuda]") {
  CGAN_REQUIRE_CUDA();
  Context cpu, gpu(Device::cuda(0));
  const std::vector<Shape> shapes = {{1, 1, 1, 1}, {1, 3, 7, 13}, {2, 5, 33, 17}, {1, 64, 40, 24}};
  const ops::Act acts[3] = {ops::Act::None, ops::Act::ReLU, ops::Act::LeakyReLU};
  int k = 0;
  for (const Shape& s : shapes) {
    const int64_t N = s[0], C = s[1], P = N * C;
    Tensor x = random_tensor(s, 100 + k, 2.f, 5.f);  // a mean far from 0
    std::vector<double> m_cpu, q_cpu, m_gpu = {1e300}, q_gpu = {1e300};
    ops::plane_moments(m_cpu, q_cpu, x, cpu);
    ops::plane_moments(m_gpu, q_gpu, x.to(gpu), gpu);
    REQUIRE(m_gpu.size() == size_t(P));
    REQUIRE(q_gpu.size() == size_t(P));
    for (size_t i = 0; i < size_t(P); ++i) {
      INFO(shape_str(s) << " plane " << i);
      CHECK(std::abs(m_gpu[i] - m_cpu[i]) <= 1e-12 * std::abs(m_cpu[i]));
      CHECK(std::abs(q_gpu[i] - q_cpu[i]) <= 1e-9 * std::abs(q_cpu[i]) + 1e-12);
    }
    for (int variant = 0; variant < 3; ++variant, ++k) {
      const bool affine = variant != 0, residual = variant == 2;
      const ops::Act act = acts[k % 3];
      Tensor mean = random_tensor({P}, 200 + k, 2.f, 5.f), rstd = random_tensor({P}, 300 + k, .5f, 2.f);
      Tensor scale = random_tensor({C}, 400 + k), shift = random_tensor({C}, 500 + k);
      Tensor res = random_tensor(s, 600 + k);
      Tensor out = Tensor::empty_cpu(s);
      ops::instance_norm_apply(out, x, mean, rstd, affine ? &scale : nullptr,
                               affine ? &shift : nullptr, residual ? &res : nullptr, act, 0.2f, cpu);
      Tensor gm = mean.to(gpu), gr = rstd.to(gpu), gs = scale.to(gpu), gsh = shift.to(gpu),
             gres = res.to(gpu), gout = poisoned(s, gpu);
      ops::instance_norm_apply(gout, x.to(gpu), gm, gr, affine ? &gs : nullptr,
                               affine ? &gsh : nullptr, residual ? &gres : nullptr, act, 0.2f, gpu);
      check_close(gout, out, gpu, 1e-5, "apply " + shape_str(s) + " variant " + std::to_string(variant));
      // In place, as the tiled executor uses it.
      Tensor gin = x.to(gpu);
      ops::instance_norm_apply(gin, gin, gm, gr, affine ? &gs : nullptr, affine ? &gsh : nullptr,
                               residual ? &gres : nullptr, act, 0.2f, gpu);
      check_close(gin, out, gpu, 1e-5, "apply in place " + shape_str(s));
    }
  }
}

TEST_CASE("tiled: a tiled run on the CUDA device equals the CPU's whole image", "[cuda][tiled]") {
  CGAN_REQUIRE_CUDA();
  Context cpu, gpu(Device::cuda(0));
  SeedGenerator::Options o;
  o.features = 8;
  o.residuals = 1;
  SeedGenerator g_cpu(cpu, o), g_gpu(gpu, o);
  g_cpu.init_random(11);
  g_gpu.params().values().copy_from(g_cpu.params().values(), gpu);
  Image im(37, 26);  // odd sides, 16-px tiles: 3x2 tiles, 1-4 px at the edges of coarse maps
  for (size_t i = 0; i < im.pixels.size(); ++i)
    im.pixels[i] = static_cast<uint8_t>((i * 2654435761u >> 13) % 256 / (1 + (i / 300) % 3));
  const Image ref =
      postprocess_images(g_cpu.infer(preprocess_images({im}, ChannelOrder::RGB, cpu)),
                         ChannelOrder::RGB, cpu)[0];
  TiledOptions opt;
  opt.tile = 16;
  TiledReport rep;
  const Image got = cartoonize_tiled(g_gpu, im, ChannelOrder::RGB, opt, gpu, &rep);
  REQUIRE(got.width == ref.width);
  REQUIRE(got.height == ref.height);
  const double db = psnr(pixels(got), pixels(ref));
  INFO(rep.passes << " passes, " << rep.tiles << " tiles: " << db << " dB");
  CHECK(rep.tiles > rep.passes);
  CHECK(db >= 50.0);
}
