// GPU vs CPU: instance norm forward/backward over odd shapes, both the one-block-per-plane
// and the split-plane paths, every affine/residual/activation combination.
#include "cuda/test_kernels_cuda_util.hpp"

using namespace cgan;
using namespace cgan::test;

TEST_CASE("kernels: CUDA instance_norm matches the CPU reference", "[kernels][cuda]") {
  CGAN_REQUIRE_CUDA();
  Context cpu, gpu(Device::cuda(0));
  // [1,3,200,200] and [1,2,512,512]: few big planes, split over several blocks.
  // [2,64,32,32]: many planes, fused path. Odd sizes take the scalar path.
  // [1,2,257,263]: split path with an odd plane (scalar loads, a shorter last chunk).
  // [3,100,48,48]: 300 planes (>= 2 waves on 132 SMs): fused path with many blocks.
  const std::vector<Shape> shapes = {{1, 1, 1, 1},      {3, 2, 7, 13},    {1, 3, 3, 5},
                                     {2, 64, 32, 32},   {1, 3, 200, 200}, {1, 2, 512, 512},
                                     {3, 5, 129, 67},   {1, 2, 257, 263}, {3, 100, 48, 48}};
  const ops::Act acts[3] = {ops::Act::None, ops::Act::ReLU, ops::Act::LeakyReLU};
  int k = 0;
  for (const Shape& s : shapes)
    for (int variant = 0; variant < 3; ++variant) {
      const bool affine = variant != 0, residual = variant == 2;
      const ops::Act act = acts[(k++) % 3];
      const int64_t N = s[0], C = s[1];
      const std::string tag = shape_str(s) + " variant " + std::to_string(variant);
      Tensor x = random_tensor(s, 10 + k, -1.f, 3.f);
      Tensor scale = random_tensor({C}, 20 + k, 0.5f, 1.5f), shift = random_tensor({C}, 30 + k);
      Tensor res = random_tensor(s, 40 + k), dy = random_tensor(s, 50 + k);
      Tensor gx = x.to(gpu), gscale = scale.to(gpu), gshift = shift.to(gpu), gres = res.to(gpu),
             gdy = dy.to(gpu);

      Tensor out = Tensor::empty_cpu(s), mean = Tensor::empty_cpu({N * C}),
             rstd = Tensor::empty_cpu({N * C});
      Tensor gout = poisoned(s, gpu), gmean = poisoned({N * C}, gpu), grstd = poisoned({N * C}, gpu);
      ops::instance_norm_forward(out, mean, rstd, x, affine ? &scale : nullptr,
                                 affine ? &shift : nullptr, residual ? &res : nullptr, 1e-5f,
                                 act, 0.2f, cpu);
      ops::instance_norm_forward(gout, gmean, grstd, gx, affine ? &gscale : nullptr,
                                 affine ? &gshift : nullptr, residual ? &gres : nullptr, 1e-5f,
                                 act, 0.2f, gpu);
      // fp32 two-pass on the GPU vs double stats on the CPU: ~1e-6 for 262k-element planes.
      check_close(gout, out, gpu, 1e-5, "forward out " + tag);
      check_close(gmean, mean, gpu, 1e-5, "mean " + tag);
      check_close(grstd, rstd, gpu, 1e-5, "rstd " + tag);

      Tensor dx = Tensor::empty_cpu(s), gdx = poisoned(s, gpu);
      Tensor dsc = random_tensor({C}, 60 + k), dsh = random_tensor({C}, 70 + k);
      Tensor gdsc = dsc.to(gpu), gdsh = dsh.to(gpu);
      // The GPU backward runs on the CPU's forward results so that only the backward differs.
      Tensor gmean_c = mean.to(gpu), grstd_c = rstd.to(gpu), gout_c = out.to(gpu);
      ops::instance_norm_backward(dx, affine ? &dsc : nullptr, affine ? &dsh : nullptr, dy, x,
                                  mean, rstd, affine ? &scale : nullptr, &out, act, 0.2f, cpu);
      ops::instance_norm_backward(gdx, affine ? &gdsc : nullptr, affine ? &gdsh : nullptr, gdy,
                                  gx, gmean_c, grstd_c, affine ? &gscale : nullptr, &gout_c, act,
                                  0.2f, gpu);
      check_close(gdx, dx, gpu, 1e-4, "d_in " + tag);
      if (affine) {
        check_close(gdsc, dsc, gpu, 1e-4, "d_scale " + tag);
        check_close(gdsh, dsh, gpu, 1e-4, "d_shift " + tag);
      }
    }
}

TEST_CASE("kernels: CUDA instance_norm is deterministic and accurate for a large mean",
          "[kernels][cuda]") {
  CGAN_REQUIRE_CUDA();
  Context cpu, gpu(Device::cuda(0));
  // std ~0.058 around 1000 (one float ulp there is 6.1e-5, i.e. 6e-4 of the output range, so
  // the GPU mean must be within ~1 ulp of the CPU's). Split path (vector and scalar loads)
  // and the fused one-block-per-plane path.
  for (const Shape& s : {Shape{1, 2, 300, 300}, Shape{1, 2, 301, 299}, Shape{1, 300, 48, 48}}) {
    const int64_t P = s[0] * s[1];
    const std::string tag = shape_str(s);
    Tensor x = random_tensor(s, 5, 999.9f, 1000.1f);
    Tensor out = Tensor::empty_cpu(s), mean = Tensor::empty_cpu({P}), rstd = Tensor::empty_cpu({P});
    ops::instance_norm_forward(out, mean, rstd, x, nullptr, nullptr, nullptr, 1e-5f,
                               ops::Act::None, 0.f, cpu);
    Tensor gx = x.to(gpu);
    Tensor g1 = poisoned(s, gpu), g2 = poisoned(s, gpu), gm = poisoned({P}, gpu),
           gr = poisoned({P}, gpu);
    ops::instance_norm_forward(g1, gm, gr, gx, nullptr, nullptr, nullptr, 1e-5f, ops::Act::None,
                               0.f, gpu);
    check_close(gr, rstd, gpu, 1e-4, "rstd with mean 1000 " + tag);
    check_close(g1, out, gpu, 1e-3, "out with mean 1000 " + tag);
    ops::instance_norm_forward(g2, gm, gr, gx, nullptr, nullptr, nullptr, 1e-5f, ops::Act::None,
                               0.f, gpu);
    CHECK(g1.to_vector(gpu) == g2.to_vector(gpu));
  }
}
