// MSE-to-constant and L1 losses on the CPU backend: value in double, gradient vs finite
// differences, null gradient, and argument errors.
#include <cmath>

#include "cgan/ops.hpp"
#include "cpu/test_kernels_util.hpp"

using namespace cgan;
using namespace cgan::test;

TEST_CASE("kernels: mse_const_loss and l1_loss: values and gradients", "[kernels]") {
  Context ctx;
  for (const Shape& s : {Shape{1}, Shape{3, 5}, Shape{3, 2, 7, 13}}) {
    SECTION(shape_str(s)) {
      const size_t n = size_t(shape_numel(s));
      Tensor p = random_tensor(s, 1, -2.f, 2.f);
      // b differs from a by at least 0.01 so |a-b| is smooth under FD.
      std::vector<float> bv = p.to_vector();
      const std::vector<float> r = random_vector(n, 2, 0.01f, 1.f);
      for (size_t i = 0; i < n; ++i) bv[i] += (i % 2 ? r[i] : -r[i]);
      Tensor b = Tensor::from_vector(s, bv);
      const float target = 0.7f, gs = 1.5f;

      Tensor loss = Tensor::empty_cpu({1}), grad = Tensor::empty_cpu(s);
      ops::mse_const_loss(loss, &grad, p, target, gs, ctx);
      const FwdD mse = [&](const VecD& v) {
        double acc = 0;
        for (double x : v) acc += (x - target) * (x - target);
        return VecD{gs * acc / double(v.size())};
      };
      const VecD pd = to_double(p);
      CHECK(std::abs(loss.to_vector()[0] - mse(pd)[0] / gs) < 1e-6 * (mse(pd)[0] / gs));
      double err = rel_err(grad.to_vector(), fd_grad(mse, pd, {1.0}));
      INFO("mse grad vs FD " << err);
      CHECK(err < 1e-5);

      ops::l1_loss(loss, &grad, p, b, gs, ctx);
      const VecD bd = to_double(b);
      const FwdD l1 = [&](const VecD& v) {
        double acc = 0;
        for (size_t i = 0; i < v.size(); ++i) acc += std::abs(v[i] - bd[i]);
        return VecD{gs * acc / double(v.size())};
      };
      CHECK(std::abs(loss.to_vector()[0] - l1(pd)[0] / gs) < 1e-6 * (l1(pd)[0] / gs));
      err = rel_err(grad.to_vector(), fd_grad(l1, pd, {1.0}, 1e-4));
      INFO("l1 grad vs FD " << err);
      CHECK(err < 1e-5);

      ops::l1_loss(loss, nullptr, p, p, gs, ctx);  // no gradient; zero loss
      CHECK(loss.to_vector()[0] == 0.f);
    }
  }
  SECTION("L1 gradient is 0 where a == b") {
    Tensor a = Tensor::from_vector({3}, {1.f, 2.f, 3.f}), b = Tensor::from_vector({3}, {1.f, 0.f, 4.f});
    Tensor loss = Tensor::empty_cpu({1}), g = Tensor::empty_cpu({3});
    ops::l1_loss(loss, &g, a, b, 3.f, ctx);
    CHECK(g.to_vector() == std::vector<float>{0.f, 1.f, -1.f});
    CHECK(loss.to_vector()[0] == Approx(1.f));
  }
  Tensor a = random_tensor({2, 3}, 1), b = random_tensor({3, 2}, 2), loss = Tensor::empty_cpu({2});
  REQUIRE_THROWS_WITH(ops::mse_const_loss(loss, nullptr, a, 0.f, 1.f, ctx),
                      Catch::Contains("mse_const_loss: 'loss' must have 1 element, got shape [2]"));
  Tensor l1 = Tensor::empty_cpu({1});
  REQUIRE_THROWS_WITH(ops::l1_loss(l1, nullptr, a, b, 1.f, ctx),
                      Catch::Contains("l1_loss: 'a' has shape [2,3] but 'b' has shape [3,2]"));
}
