// GPU vs CPU: channels-last instance norm, F32 and BF16 storage, through the ops API (so the
// layout/dtype dispatch is exercised too). Shapes reach the vector and scalar paths, one and
// several channel slabs, one and several row chunks per image.
#include <algorithm>
#include <cmath>

#include "cuda/test_kernels_cuda_util.hpp"

using namespace cgan;
using namespace cgan::test;

namespace {

// A CPU NHWC tensor of `dtype` holding uniform values in [lo, hi) (rounded once to the dtype).
Tensor random_nhwc(const Shape& s, DType dtype, uint64_t seed, float lo = -1.f, float hi = 1.f) {
  const std::vector<float> v = random_vector(size_t(shape_numel(s)), seed, lo, hi);
  Tensor t = Tensor::empty_cpu(s, dtype, Layout::NHWC);
  for (size_t i = 0; i < v.size(); ++i) {
    if (dtype == DType::BF16)
      t.data<bf16>()[i] = from_float<bf16>(v[i]);
    else
      t.data<float>()[i] = v[i];
  }
  return t;
}

Tensor poisoned_like(const Tensor& cpu_t, Context& gpu) {
  Tensor t = Tensor::empty(cpu_t.shape(), gpu, cpu_t.dtype(), cpu_t.layout());
  Tensor nan = Tensor::empty_cpu(cpu_t.shape(), cpu_t.dtype(), cpu_t.layout());
  nan.fill(NAN, gpu);
  t.copy_from(nan, gpu);
  return t;
}

// Per element: |gpu - cpu| <= rel * |cpu| + abs_frac * max|cpu|. NaN fails.
// For BF16 storage both sides round their own fp32 result once; two roundings of values
// within d of each other differ by at most d + one bf16 ulp (<= 2^-7 |value|), hence rel.
void check_elementwise(const Tensor& gpu_t, const Tensor& cpu_t, Context& gpu, double rel,
                       double abs_frac, const std::string& what) {
  const std::vector<float> a = gpu_t.to_vector(gpu), b = cpu_t.to_vector();
  REQUIRE(a.size() == b.size());
  double peak = 0;
  for (float v : b) peak = std::max(peak, double(std::fabs(v)));
  size_t bad = 0, first = a.size();
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double err = std::fabs(double(a[i]) - double(b[i]));
    const double lim = rel * std::fabs(double(b[i])) + abs_frac * peak;
    if (!(err <= lim)) {
      if (first == a.size()) first = i;
      ++bad;
    }
    worst = std::max(worst, err / (lim > 0 ? lim : 1));
  }
  INFO(what << ": " << bad << " of " << a.size() << " elements out of bounds (rel " << rel
            << ", abs " << abs_frac << " x max " << peak << "), worst err/limit " << worst
            << (bad ? ", first at " + std::to_string(first) + ": gpu " +
                          std::to_string(a[first]) + " cpu " + std::to_string(b[first])
                    : std::string()));
  CHECK(bad == 0);
}

}  // namespace

TEST_CASE("kernels: CUDA NHWC instance_norm (F32 and BF16 storage) matches the CPU reference",
          "[kernels][cuda]") {
  CGAN_REQUIRE_CUDA();
  Context cpu, gpu(Device::cuda(0));
  // [N,C,H,W] logical. C = 8, 64, 40: 128-bit paths (bf16 x8, float x4), one slab.
  // C = 256: 32 lanes, two slabs for F32. C = 3 and 12: scalar paths (12 is a float4 path
  // but not a bf16x8 one). [1,8,97,101]: several row chunks per image (split statistics).
  const std::vector<Shape> shapes = {{1, 8, 5, 7},   {2, 64, 9, 11},  {3, 3, 11, 13},
                                     {1, 40, 13, 9}, {2, 256, 4, 5},  {2, 12, 7, 6},
                                     {1, 8, 97, 101}};
  const ops::Act acts[3] = {ops::Act::None, ops::Act::ReLU, ops::Act::LeakyReLU};
  int k = 0;
  for (DType dtype : {DType::F32, DType::BF16})
    for (const Shape& s : shapes)
      for (int variant = 0; variant < 3; ++variant) {
        const bool affine = variant != 0, residual = variant == 2;
        const ops::Act act = acts[(k++) % 3];
        const int64_t N = s[0], C = s[1];
        const bool b16 = dtype == DType::BF16;
        const std::string tag = std::string(dtype_name(dtype)) + " NHWC " + shape_str(s) +
                                " variant " + std::to_string(variant);
        // fp32 differences (see test_kernels_instance_norm.cpp for the NCHW twin): chains of
        // at most a few dozen additions per thread, a row tree and the chunk merge.
        const double fwd_abs = 1e-5, bwd_abs = 1e-4;
        const double rel = b16 ? 0x1p-7 : 0.0;

        Tensor x = random_nhwc(s, dtype, 10 + k, -1.f, 3.f);
        Tensor scale = random_tensor({C}, 20 + k, 0.5f, 1.5f), shift = random_tensor({C}, 30 + k);
        Tensor res = random_nhwc(s, dtype, 40 + k), dy = random_nhwc(s, dtype, 50 + k);
        Tensor gx = x.to(gpu), gscale = scale.to(gpu), gshift = shift.to(gpu),
               gres = res.to(gpu), gdy = dy.to(gpu);
        REQUIRE(gx.layout() == Layout::NHWC);
        REQUIRE(gx.dtype() == dtype);

        Tensor out = Tensor::empty_cpu(s, dtype, Layout::NHWC);
        Tensor mean = Tensor::empty_cpu({N * C}), rstd = Tensor::empty_cpu({N * C});
        Tensor gout = poisoned_like(out, gpu), gmean = poisoned({N * C}, gpu),
               grstd = poisoned({N * C}, gpu);
        ops::instance_norm_forward(out, mean, rstd, x, affine ? &scale : nullptr,
                                   affine ? &shift : nullptr, residual ? &res : nullptr, 1e-5f,
                                   act, 0.2f, cpu);
        ops::instance_norm_forward(gout, gmean, grstd, gx, affine ? &gscale : nullptr,
                                   affine ? &gshift : nullptr, residual ? &gres : nullptr,
                                   1e-5f, act, 0.2f, gpu);
        check_elementwise(gout, out, gpu, rel, fwd_abs, "forward out " + tag);
        check_close(gmean, mean, gpu, fwd_abs, "mean " + tag);
        check_close(grstd, rstd, gpu, fwd_abs, "rstd " + tag);

        Tensor dx = Tensor::empty_cpu(s, dtype, Layout::NHWC), gdx = poisoned_like(dx, gpu);
        Tensor dsc = random_tensor({C}, 60 + k), dsh = random_tensor({C}, 70 + k);
        Tensor gdsc = dsc.to(gpu), gdsh = dsh.to(gpu);
        // The GPU backward runs on the CPU's forward results so that only the backward differs.
        Tensor gmean_c = mean.to(gpu), grstd_c = rstd.to(gpu), gout_c = out.to(gpu);
        ops::instance_norm_backward(dx, affine ? &dsc : nullptr, affine ? &dsh : nullptr, dy, x,
                                    mean, rstd, affine ? &scale : nullptr, &out, act, 0.2f, cpu);
        ops::instance_norm_backward(gdx, affine ? &gdsc : nullptr, affine ? &gdsh : nullptr, gdy,
                                    gx, gmean_c, grstd_c, affine ? &gscale : nullptr, &gout_c,
                                    act, 0.2f, gpu);
        check_elementwise(gdx, dx, gpu, rel, bwd_abs, "d_in " + tag);
        if (affine) {
          check_close(gdsc, dsc, gpu, bwd_abs, "d_scale " + tag);
          check_close(gdsh, dsh, gpu, bwd_abs, "d_shift " + tag);
        }
      }
}

TEST_CASE("kernels: CUDA NHWC instance_norm is deterministic and exact for a large mean",
          "[kernels][cuda]") {
  CGAN_REQUIRE_CUDA();
  Context cpu, gpu(Device::cuda(0));
  // std ~0.058 around 1000: the shifted statistics must not lose the small spread. F32 only:
  // BF16 cannot hold such values to better than 4 (its spacing at 1000).
  for (const Shape& s : {Shape{1, 8, 61, 67}, Shape{2, 3, 31, 29}}) {
    const int64_t P = s[0] * s[1];
    Tensor x = random_nhwc(s, DType::F32, 5, 999.9f, 1000.1f);
    Tensor out = Tensor::empty_cpu(s, DType::F32, Layout::NHWC);
    Tensor mean = Tensor::empty_cpu({P}), rstd = Tensor::empty_cpu({P});
    ops::instance_norm_forward(out, mean, rstd, x, nullptr, nullptr, nullptr, 1e-5f,
                               ops::Act::None, 0.f, cpu);
    Tensor gx = x.to(gpu);
    Tensor g1 = poisoned_like(out, gpu), g2 = poisoned_like(out, gpu), gm = poisoned({P}, gpu),
           gr = poisoned({P}, gpu);
    ops::instance_norm_forward(g1, gm, gr, gx, nullptr, nullptr, nullptr, 1e-5f, ops::Act::None,
                               0.f, gpu);
    ops::instance_norm_forward(g2, gm, gr, gx, nullptr, nullptr, nullptr, 1e-5f, ops::Act::None,
                               0.f, gpu);
    // Inputs carry 6.1e-5 of absolute rounding (one ulp at 1000) on both sides alike; the
    // normalized output spans about +-1.7, so 1e-3 of it is several of those ulps / std.
    check_close(g1, out, gpu, 1e-3, "large mean " + shape_str(s));
    const std::vector<float> a = g1.to_vector(gpu), b = g2.to_vector(gpu);
    CHECK(std::equal(a.begin(), a.end(), b.begin()));
  }
}
