// Instance norm on the CPU backend: forward against a double-precision reference, backward
// (input, scale, shift) against central finite differences of that reference, both against
// PyTorch's instance_norm (float64) through python3, and argument errors.
#include <cmath>

#include "cgan/ops.hpp"
#include "cpu/test_kernels_util.hpp"

using namespace cgan;
using namespace cgan::test;

namespace {

struct Case {
  Shape shape;
  bool affine;
  bool residual;
  ops::Act act;
};

const float kEps = 1e-5f;
const float kSlope = 0.2f;

// y = act(scale * (x - mean) / sqrt(var + eps) + shift + residual), all double.
// `params` = [x..., scale..., shift...] so that finite differences cover all three.
VecD ref_forward(const VecD& params, const VecD& res, int64_t N, int64_t C, int64_t HW,
                 bool affine, ops::Act act) {
  const int64_t nx = N * C * HW;
  VecD y(static_cast<size_t>(nx));
  for (int64_t p = 0; p < N * C; ++p) {
    const int64_t c = p % C;
    double s = 0;
    for (int64_t i = 0; i < HW; ++i) s += params[p * HW + i];
    const double mu = s / HW;
    double q = 0;
    for (int64_t i = 0; i < HW; ++i) q += (params[p * HW + i] - mu) * (params[p * HW + i] - mu);
    const double r = 1.0 / std::sqrt(q / HW + kEps);
    const double g = affine ? params[nx + c] : 1.0, b = affine ? params[nx + C + c] : 0.0;
    for (int64_t i = 0; i < HW; ++i) {
      double z = (params[p * HW + i] - mu) * r * g + b;
      if (!res.empty()) z += res[p * HW + i];
      if (act == ops::Act::ReLU) z = z > 0 ? z : 0;
      if (act == ops::Act::LeakyReLU) z = z > 0 ? z : kSlope * z;
      y[p * HW + i] = z;
    }
  }
  return y;
}

const char* act_name(ops::Act a) {
  return a == ops::Act::ReLU ? "relu" : a == ops::Act::LeakyReLU ? "leaky" : "none";
}

}  // namespace

TEST_CASE("kernels: instance_norm forward/backward vs double reference and finite differences",
          "[kernels]") {
  Context ctx;
  const std::vector<Case> cases = {
      {{1, 1, 1, 1}, false, false, ops::Act::None},
      {{1, 1, 1, 1}, true, true, ops::Act::None},
      {{1, 3, 3, 5}, true, false, ops::Act::ReLU},
      {{3, 2, 7, 13}, true, true, ops::Act::None},
      {{3, 2, 7, 13}, false, false, ops::Act::LeakyReLU},
      {{2, 3, 4, 4}, true, false, ops::Act::LeakyReLU},
      {{1, 2, 1, 6}, true, true, ops::Act::ReLU},
  };
  for (const Case& tc : cases) {
    SECTION(shape_str(tc.shape) + (tc.affine ? " affine" : "") +
            (tc.residual ? " residual" : "") + " act " + act_name(tc.act)) {
      const int64_t N = tc.shape[0], C = tc.shape[1], HW = tc.shape[2] * tc.shape[3];
      const uint64_t seed = static_cast<uint64_t>(N * 1000 + C * 100 + HW);
      // An offset mean and a non-unit spread exercise the centering.
      Tensor x = random_tensor(tc.shape, seed, 2.f, 5.f);
      Tensor scale = random_tensor({C}, seed + 1, 0.5f, 1.5f);
      Tensor shift = random_tensor({C}, seed + 2, -0.5f, 0.5f);
      Tensor res = random_tensor(tc.shape, seed + 3);
      Tensor out = Tensor::empty_cpu(tc.shape), mean = Tensor::empty_cpu({N * C}),
             rstd = Tensor::empty_cpu({N * C});
      ops::instance_norm_forward(out, mean, rstd, x, tc.affine ? &scale : nullptr,
                                 tc.affine ? &shift : nullptr, tc.residual ? &res : nullptr,
                                 kEps, tc.act, kSlope, ctx);
      VecD params = to_double(x);
      if (tc.affine) {
        for (float v : scale.to_vector()) params.push_back(v);
        for (float v : shift.to_vector()) params.push_back(v);
      }
      const VecD resd = tc.residual ? to_double(res) : VecD{};
      const FwdD f = [&](const VecD& p) {
        return ref_forward(p, resd, N, C, HW, tc.affine, tc.act);
      };
      const VecD y_ref = f(params);
      const double fwd_err = rel_err(out.to_vector(), y_ref, 1e-3);
      INFO("forward rel err " << fwd_err);
      CHECK(fwd_err < 2e-6);

      // Backward: d_scale/d_shift start non-zero to check that they accumulate.
      Tensor dy = random_tensor(tc.shape, seed + 4);
      Tensor dx = Tensor::empty_cpu(tc.shape);
      Tensor d_scale = Tensor::from_vector({C}, std::vector<float>(size_t(C), 0.25f));
      Tensor d_shift = Tensor::from_vector({C}, std::vector<float>(size_t(C), -0.5f));
      ops::instance_norm_backward(dx, tc.affine ? &d_scale : nullptr,
                                  tc.affine ? &d_shift : nullptr, dy, x, mean, rstd,
                                  tc.affine ? &scale : nullptr, &out, tc.act, kSlope, ctx);
      // ReLU kinks: finite differences are only meaningful away from z == 0. Inputs are
      // continuous random values, so |z| < h happens with probability ~1e-5 per element.
      const VecD g = fd_grad(f, params, to_double(dy));
      const size_t nx = static_cast<size_t>(N * C * HW);
      const VecD gx(g.begin(), g.begin() + long(nx));
      // A 1x1 plane normalizes to exactly 0 whatever x is: its input gradient is 0.
      const double dx_err = rel_err(dx.to_vector(), gx, 1e-3);
      INFO("d_in rel err " << dx_err);
      std::cout << "instance_norm FD " << shape_str(tc.shape) << " act " << act_name(tc.act)
                << ": forward rel err " << fwd_err << ", d_in vs FD " << dx_err;
      CHECK(dx_err < 1e-4);
      if (tc.affine) {
        VecD gs(g.begin() + long(nx), g.begin() + long(nx + C));
        VecD gb(g.begin() + long(nx + C), g.end());
        for (double& v : gs) v += 0.25;
        for (double& v : gb) v -= 0.5;
        const double es = rel_err(d_scale.to_vector(), gs), eb = rel_err(d_shift.to_vector(), gb);
        INFO("d_scale rel err " << es << ", d_shift rel err " << eb);
        std::cout << ", d_scale " << es << ", d_shift " << eb;
        CHECK(es < 1e-4);
        CHECK(eb < 1e-4);
      }
      std::cout << "\n";
    }
  }
}

TEST_CASE("kernels: instance_norm statistics stay accurate for a large mean", "[kernels]") {
  Context ctx;
  // mean 1000, std ~0.03: a one-pass E[x^2] - E[x]^2 in float would lose everything.
  const Shape s{1, 2, 64, 64};
  Tensor x = random_tensor(s, 7, 999.95f, 1000.05f);
  Tensor out = Tensor::empty_cpu(s), mean = Tensor::empty_cpu({2}), rstd = Tensor::empty_cpu({2});
  ops::instance_norm_forward(out, mean, rstd, x, nullptr, nullptr, nullptr, kEps,
                             ops::Act::None, 0.f, ctx);
  const VecD y_ref = ref_forward(to_double(x), {}, 1, 2, 64 * 64, false, ops::Act::None);
  const double err = rel_err(out.to_vector(), y_ref);
  INFO("rel err " << err);
  CHECK(err < 1e-3);  // the float input itself carries ~6e-5/0.03 = 2e-3... of quantization
}

TEST_CASE("kernels: instance_norm matches torch.nn.functional.instance_norm", "[kernels][python]") {
  CGAN_REQUIRE_PYTHON_MODULE("torch");
  Context ctx;
  const std::vector<Case> cases = {
      {{3, 4, 7, 13}, true, false, ops::Act::None},
      {{1, 3, 1, 2}, true, false, ops::Act::None},  // torch refuses 1x1 planes in training
      {{2, 5, 16, 16}, true, true, ops::Act::ReLU},
      {{3, 2, 9, 5}, false, false, ops::Act::LeakyReLU},
      {{1, 2, 128, 96}, true, false, ops::Act::ReLU},
  };
  const std::string dir = temp_dir("in_torch");
  for (size_t k = 0; k < cases.size(); ++k) {
    const Case& tc = cases[k];
    const int64_t N = tc.shape[0], C = tc.shape[1];
    const uint64_t seed = 500 + k;
    Tensor x = random_tensor(tc.shape, seed, -3.f, 4.f);
    Tensor scale = random_tensor({C}, seed + 1, 0.5f, 1.5f);
    Tensor shift = random_tensor({C}, seed + 2, -0.5f, 0.5f);
    Tensor res = random_tensor(tc.shape, seed + 3);
    Tensor dy = random_tensor(tc.shape, seed + 4);
    std::vector<std::pair<std::string, Tensor>> in = {{"x", x}, {"d_out", dy}};
    if (tc.affine) {
      in.push_back({"scale", scale});
      in.push_back({"shift", shift});
    }
    if (tc.residual) in.push_back({"residual", res});
    const std::string src = dir + "/in" + std::to_string(k) + ".safetensors";
    const std::string dst = dir + "/out" + std::to_string(k) + ".safetensors";
    write_safetensors(src, in,
                      {{"eps", "1e-5"}, {"affine", tc.affine ? "1" : "0"},
                       {"act", act_name(tc.act)}, {"slope", "0.2"}});
    REQUIRE(run_python("kernels_ref.py", "instance_norm " + src + " " + dst));
    const SafeTensors ref = read_safetensors(dst);

    Tensor out = Tensor::empty_cpu(tc.shape), mean = Tensor::empty_cpu({N * C}),
           rstd = Tensor::empty_cpu({N * C});
    ops::instance_norm_forward(out, mean, rstd, x, tc.affine ? &scale : nullptr,
                               tc.affine ? &shift : nullptr, tc.residual ? &res : nullptr,
                               kEps, tc.act, kSlope, ctx);
    Tensor dx = Tensor::empty_cpu(tc.shape);
    Tensor d_scale = Tensor::zeros({C}, ctx), d_shift = Tensor::zeros({C}, ctx);
    ops::instance_norm_backward(dx, tc.affine ? &d_scale : nullptr, tc.affine ? &d_shift : nullptr,
                                dy, x, mean, rstd, tc.affine ? &scale : nullptr, &out, tc.act,
                                kSlope, ctx);
    const double e_out = rel_err(out.to_vector(), st_vec(ref, "out"));
    const double e_mean = rel_err(mean.to_vector(), st_vec(ref, "mean"));
    const double e_rstd = rel_err(rstd.to_vector(), st_vec(ref, "rstd"));
    // d_in is a difference of terms of size |scale * rstd * d_out|; with tiny planes (1x2)
    // it cancels to ~eps/var, so float error is measured against the size of those terms.
    double term = 0;
    {
      const std::vector<float> dyv = dy.to_vector(), rv = rstd.to_vector(), sv = scale.to_vector();
      const int64_t HW = tc.shape[2] * tc.shape[3];
      for (size_t i = 0; i < dyv.size(); ++i) {
        const int64_t p = int64_t(i) / HW;
        term = std::max(term, std::abs(double(dyv[i]) * rv[size_t(p)] *
                                       (tc.affine ? sv[size_t(p % C)] : 1.f)));
      }
    }
    const double e_dx = rel_err(dx.to_vector(), st_vec(ref, "d_in"), term);
    INFO("case " << k << " " << shape_str(tc.shape) << ": out " << e_out << " mean " << e_mean
                 << " rstd " << e_rstd << " d_in " << e_dx);
    std::cout << "instance_norm vs torch " << shape_str(tc.shape) << " act " << act_name(tc.act)
              << ": rel err out " << e_out << " mean " << e_mean << " rstd " << e_rstd
              << " d_in " << e_dx;
    CHECK(e_out < 2e-6);
    CHECK(e_mean < 2e-6);
    CHECK(e_rstd < 2e-6);
    CHECK(e_dx < 2e-5);
    if (tc.affine) {
      const double e_s = rel_err(d_scale.to_vector(), st_vec(ref, "d_scale"));
      const double e_b = rel_err(d_shift.to_vector(), st_vec(ref, "d_shift"));
      std::cout << " d_scale " << e_s << " d_shift " << e_b;
      CHECK(e_s < 2e-5);
      CHECK(e_b < 2e-5);
    }
    std::cout << "\n";
  }
}

TEST_CASE("kernels: instance_norm rejects bad arguments with specific messages", "[kernels]") {
  Context ctx;
  Tensor x = random_tensor({2, 3, 4, 5}, 1);
  Tensor out = Tensor::empty_cpu({2, 3, 4, 5}), mean = Tensor::empty_cpu({6}),
         rstd = Tensor::empty_cpu({6});
  Tensor flat = random_tensor({6, 20}, 2);
  REQUIRE_THROWS_WITH(ops::instance_norm_forward(out, mean, rstd, flat, nullptr, nullptr, nullptr,
                                                 kEps, ops::Act::None, 0.f, ctx),
                      Catch::Contains("instance_norm_forward: 'in' must be 4-D [N,C,H,W], got "
                                      "shape [6,20]"));
  Tensor bad_scale = random_tensor({4}, 3);
  REQUIRE_THROWS_WITH(ops::instance_norm_forward(out, mean, rstd, x, &bad_scale, nullptr,
                                                 nullptr, kEps, ops::Act::None, 0.f, ctx),
                      Catch::Contains("'scale' must have C = 3 elements, got [4]"));
  Tensor small_mean = Tensor::empty_cpu({5});
  REQUIRE_THROWS_WITH(ops::instance_norm_forward(out, small_mean, rstd, x, nullptr, nullptr,
                                                 nullptr, kEps, ops::Act::None, 0.f, ctx),
                      Catch::Contains("'mean' must have N*C = 6 elements, got 5"));
  Tensor bad_res = random_tensor({2, 3, 5, 4}, 4);
  REQUIRE_THROWS_WITH(ops::instance_norm_forward(out, mean, rstd, x, nullptr, nullptr, &bad_res,
                                                 kEps, ops::Act::None, 0.f, ctx),
                      Catch::Contains("'residual' must have shape [2,3,4,5], got [2,3,5,4]"));
  REQUIRE_THROWS_WITH(ops::instance_norm_forward(out, mean, rstd, x, nullptr, nullptr, nullptr,
                                                 0.f, ops::Act::None, 0.f, ctx),
                      Catch::Contains("eps must be > 0"));
  Tensor dx = Tensor::empty_cpu({2, 3, 4, 5});
  REQUIRE_THROWS_WITH(ops::instance_norm_backward(dx, nullptr, nullptr, x, x, mean, rstd, nullptr,
                                                  nullptr, ops::Act::ReLU, 0.f, ctx),
                      Catch::Contains("'out' (the forward output) is required"));
}
