// Layout and dtype are checked properties: ops reject what they do not take with an error
// naming the op and the tensor; the channels-last instance norm (CPU backend, the reference
// of the CUDA kernels) agrees with the NCHW one on the same values.
#include <catch2/catch.hpp>

#include <cmath>

#include "cgan/ops.hpp"
#include "common/test_util.hpp"

using namespace cgan;
using namespace cgan::test;

namespace {

// NCHW float tensor -> the same logical values in an NHWC tensor of `dtype`.
Tensor to_nhwc(const Tensor& nchw, DType dtype) {
  const int64_t N = nchw.dim(0), C = nchw.dim(1), HW = nchw.dim(2) * nchw.dim(3);
  Tensor t = Tensor::empty_cpu(nchw.shape(), dtype, Layout::NHWC);
  const float* src = nchw.f32();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < HW; ++p) {
        const float v = src[(n * C + c) * HW + p];
        const int64_t i = (n * HW + p) * C + c;
        if (dtype == DType::BF16)
          t.data<bf16>()[i] = from_float<bf16>(v);
        else
          t.data<float>()[i] = v;
      }
  return t;
}

// NHWC tensor (any dtype) -> NCHW float values.
std::vector<float> nchw_values(const Tensor& nhwc) {
  const int64_t N = nhwc.dim(0), C = nhwc.dim(1), HW = nhwc.dim(2) * nhwc.dim(3);
  const std::vector<float> v = nhwc.to_vector();
  std::vector<float> out(v.size());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < HW; ++p) out[(n * C + c) * HW + p] = v[(n * HW + p) * C + c];
  return out;
}

}  // namespace

TEST_CASE("layout: NHWC is a checked property of 4-D tensors", "[layout]") {
  Context cpu;
  Tensor t = Tensor::empty_cpu({2, 3, 4, 5}, DType::F32, Layout::NHWC);
  CHECK(t.layout() == Layout::NHWC);
  CHECK(t.str().find("NHWC") != std::string::npos);
  CHECK_THROWS_WITH(Tensor::empty_cpu({6, 20}, DType::F32, Layout::NHWC),
                    Catch::Contains("must be 4-D"));
  // Flat is fine (no layout), another 4-D shape would silently reorder: an error.
  CHECK(t.view({120}).layout() == Layout::NCHW);
  CHECK(t.view({2, 3, 4, 5}).layout() == Layout::NHWC);
  CHECK_THROWS_WITH(t.view({2, 3, 20, 1}), Catch::Contains("NHWC"));
  CHECK(t.slice(1, 2).layout() == Layout::NHWC);
  Tensor nchw = Tensor::empty_cpu({2, 3, 4, 5});
  CHECK_THROWS_WITH(nchw.copy_from(t, cpu), Catch::Contains("copy_from"));
  CHECK(t.to_cpu(cpu).layout() == Layout::NHWC);
}

TEST_CASE("layout: ops name the op and the tensor when given a layout or dtype they do not take",
          "[layout]") {
  Context cpu;
  Tensor nhwc = Tensor::empty_cpu({1, 4, 3, 3}, DType::F32, Layout::NHWC);
  nhwc.fill(1.f, cpu);
  Tensor nchw = random_tensor({1, 4, 3, 3}, 1);
  Tensor out = Tensor::empty_cpu({1, 4, 3, 3});
  // Elementwise ops take any layout, but every operand alike.
  CHECK_THROWS_WITH(ops::relu_forward(out, nhwc, cpu),
                    Catch::Contains("relu_forward") && Catch::Contains("'out'") &&
                        Catch::Contains("F32 NHWC, got F32 NCHW"));
  Tensor padded = Tensor::empty_cpu({1, 4, 5, 5});
  CHECK_THROWS_WITH(ops::reflection_pad_forward(padded, nhwc, ops::Pad2d::all(1), cpu),
                    Catch::Contains("NHWC"));
  Tensor bias = random_tensor({4}, 2);
  CHECK_THROWS_WITH(ops::bias_add_inplace(nhwc, bias, cpu), Catch::Contains("NHWC"));

  // Instance norm takes NHWC, but all maps alike.
  Tensor mean = Tensor::empty_cpu({4}), rstd = Tensor::empty_cpu({4});
  CHECK_THROWS_WITH(ops::instance_norm_forward(out, mean, rstd, nhwc, nullptr, nullptr, nullptr,
                                               1e-5f, ops::Act::None, 0.f, cpu),
                    Catch::Contains("instance_norm_forward") && Catch::Contains("'out'") &&
                        Catch::Contains("F32 NHWC"));
  Tensor b16 = Tensor::empty_cpu({1, 4, 3, 3}, DType::BF16, Layout::NHWC);
  CHECK_THROWS_WITH(ops::instance_norm_forward(b16, mean, rstd, nhwc, nullptr, nullptr, nullptr,
                                               1e-5f, ops::Act::None, 0.f, cpu),
                    Catch::Contains("'out'") && Catch::Contains("BF16 NHWC"));
  Tensor b16_nchw = Tensor::empty_cpu({1, 4, 3, 3}, DType::BF16);
  CHECK_THROWS_WITH(ops::instance_norm_forward(out, mean, rstd, b16_nchw, nullptr, nullptr,
                                               nullptr, 1e-5f, ops::Act::None, 0.f, cpu),
                    Catch::Contains("BF16 NCHW"));
}

TEST_CASE("layout: NHWC instance norm (F32, BF16) agrees with the NCHW path", "[layout]") {
  Context cpu;
  const ops::Act acts[3] = {ops::Act::None, ops::Act::ReLU, ops::Act::LeakyReLU};
  int k = 0;
  for (const Shape& s : {Shape{2, 5, 7, 9}, Shape{1, 16, 12, 11}})
    for (int variant = 0; variant < 3; ++variant) {
      const bool affine = variant != 0, residual = variant == 2;
      const ops::Act act = acts[(k++) % 3];
      const int64_t N = s[0], C = s[1];
      // The NCHW run sees exactly the values the BF16 run sees (inputs rounded to bf16 first),
      // so the only BF16 difference left is the final rounding of its outputs.
      auto bf16_exact = [](Tensor t) {
        for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = to_float(from_float<bf16>(t.f32()[i]));
        return t;
      };
      Tensor x = bf16_exact(random_tensor(s, 10 + k, -1.f, 3.f));
      Tensor res = bf16_exact(random_tensor(s, 20 + k)), dy = bf16_exact(random_tensor(s, 30 + k));
      Tensor scale = random_tensor({C}, 40 + k, 0.5f, 1.5f), shift = random_tensor({C}, 50 + k);
      const Tensor* sc = affine ? &scale : nullptr;
      const Tensor* sh = affine ? &shift : nullptr;

      Tensor out = Tensor::empty_cpu(s), mean = Tensor::empty_cpu({N * C}),
             rstd = Tensor::empty_cpu({N * C});
      ops::instance_norm_forward(out, mean, rstd, x, sc, sh, residual ? &res : nullptr, 1e-5f,
                                 act, 0.2f, cpu);
      Tensor dx = Tensor::empty_cpu(s), dsc = Tensor::zeros({C}, cpu), dsh = Tensor::zeros({C}, cpu);
      ops::instance_norm_backward(dx, affine ? &dsc : nullptr, affine ? &dsh : nullptr, dy, x,
                                  mean, rstd, sc, &out, act, 0.2f, cpu);
      const std::vector<float> ref_out = out.to_vector(), ref_dx = dx.to_vector();
      double out_peak = 0, dx_peak = 0;
      for (float v : ref_out) out_peak = std::max(out_peak, double(std::fabs(v)));
      for (float v : ref_dx) dx_peak = std::max(dx_peak, double(std::fabs(v)));

      for (DType dt : {DType::F32, DType::BF16}) {
        const std::string tag = std::string(dtype_name(dt)) + " " + shape_str(s) + " variant " +
                                std::to_string(variant);
        Tensor xn = to_nhwc(x, dt), rn = to_nhwc(res, dt), dyn = to_nhwc(dy, dt);
        Tensor on = Tensor::empty_cpu(s, dt, Layout::NHWC), m2 = Tensor::empty_cpu({N * C}),
               r2 = Tensor::empty_cpu({N * C});
        ops::instance_norm_forward(on, m2, r2, xn, sc, sh, residual ? &rn : nullptr, 1e-5f, act,
                                   0.2f, cpu);
        // Both compute statistics in double; the NCHW path's apply is float like ours.
        CHECK(max_rel_error(m2.to_vector(), mean.to_vector()) <= 1e-6);
        CHECK(max_rel_error(r2.to_vector(), rstd.to_vector()) <= 1e-6);
        // Then the BF16 output is the float result rounded once: within half a bf16 ulp.
        const double rel = dt == DType::BF16 ? 0x1p-8 : 0.0;
        const std::vector<float> got = nchw_values(on);
        size_t bad = 0;
        for (size_t i = 0; i < got.size(); ++i)
          bad += !(std::fabs(got[i] - ref_out[i]) <= rel * std::fabs(ref_out[i]) + 1e-6 * out_peak);
        INFO("forward " << tag << ": " << bad << " elements out of bounds");
        CHECK(bad == 0);

        // Backward on the reference's own forward results (so the masks are the same).
        Tensor outn = to_nhwc(out, dt);
        Tensor dxn = Tensor::empty_cpu(s, dt, Layout::NHWC), dsc2 = Tensor::zeros({C}, cpu),
               dsh2 = Tensor::zeros({C}, cpu);
        ops::instance_norm_backward(dxn, affine ? &dsc2 : nullptr, affine ? &dsh2 : nullptr, dyn,
                                    xn, mean, rstd, sc, &outn, act, 0.2f, cpu);
        const std::vector<float> gdx = nchw_values(dxn);
        bad = 0;
        // The NCHW backward sums in float chunks (16 lanes of 256): ~1e-6 of the peak.
        for (size_t i = 0; i < gdx.size(); ++i)
          bad += !(std::fabs(gdx[i] - ref_dx[i]) <= rel * std::fabs(ref_dx[i]) + 1e-5 * dx_peak);
        INFO("d_in " << tag << ": " << bad << " elements out of bounds");
        CHECK(bad == 0);
        if (affine) {
          CHECK(max_rel_error(dsc2.to_vector(), dsc.to_vector()) <= 1e-5);
          CHECK(max_rel_error(dsh2.to_vector(), dsh.to_vector()) <= 1e-5);
        }
      }
    }
}
