// Elementwise ops on the CPU backend: forward against double formulas, backward against
// central finite differences of a double forward, in-place use, and argument errors.
#include <cmath>

#include "cgan/ops.hpp"
#include "cpu/test_kernels_util.hpp"

using namespace cgan;
using namespace cgan::test;

namespace {
// Inputs kept at least 0.05 away from 0 so that finite differences never straddle the kink
// of (leaky) ReLU.
std::vector<float> away_from_zero(size_t n, uint64_t seed) {
  std::vector<float> v = random_vector(n, seed, -2.f, 2.f);
  for (float& x : v)
    if (std::abs(x) < 0.05f) x = x < 0 ? -0.05f - x : 0.05f + x;
  return v;
}

struct Unary {
  const char* name;
  std::function<double(double)> f;
  std::function<void(Tensor&, const Tensor&, Context&)> fwd;
  std::function<void(Tensor&, const Tensor&, const Tensor&, Context&)> bwd;
};
}  // namespace

TEST_CASE("kernels: elementwise activations: forward and backward vs finite differences", "[kernels]") {
  Context ctx;
  const float slope = 0.2f;
  const std::vector<Unary> ops_list = {
      {"relu", [](double x) { return x > 0 ? x : 0.0; },
       [](Tensor& o, const Tensor& i, Context& c) { ops::relu_forward(o, i, c); },
       [](Tensor& d, const Tensor& g, const Tensor& y, Context& c) { ops::relu_backward(d, g, y, c); }},
      {"leaky_relu", [slope](double x) { return x > 0 ? x : double(slope) * x; },
       [slope](Tensor& o, const Tensor& i, Context& c) { ops::leaky_relu_forward(o, i, slope, c); },
       [slope](Tensor& d, const Tensor& g, const Tensor& y, Context& c) {
         ops::leaky_relu_backward(d, g, y, slope, c);
       }},
      {"tanh", [](double x) { return std::tanh(x); },
       [](Tensor& o, const Tensor& i, Context& c) { ops::tanh_forward(o, i, c); },
       [](Tensor& d, const Tensor& g, const Tensor& y, Context& c) { ops::tanh_backward(d, g, y, c); }},
  };
  for (const Shape& shape : {Shape{1}, Shape{3, 5}, Shape{3, 2, 7, 13}, Shape{1, 1, 1, 1}}) {
    for (const Unary& u : ops_list) {
      SECTION(std::string(u.name) + " " + shape_str(shape)) {
        const size_t n = static_cast<size_t>(shape_numel(shape));
        Tensor x = Tensor::from_vector(shape, away_from_zero(n, 11 + n));
        Tensor y = Tensor::empty_cpu(shape);
        u.fwd(y, x, ctx);
        VecD want(n);
        const VecD xd = to_double(x);
        for (size_t i = 0; i < n; ++i) want[i] = u.f(xd[i]);
        CHECK(rel_err(y.to_vector(), want) < 1e-6);

        Tensor dy = random_tensor(shape, 99 + n);
        Tensor dx = Tensor::empty_cpu(shape);
        u.bwd(dx, dy, y, ctx);
        const FwdD fd = [&](const VecD& v) {
          VecD r(v.size());
          for (size_t i = 0; i < v.size(); ++i) r[i] = u.f(v[i]);
          return r;
        };
        const VecD g = fd_grad(fd, xd, to_double(dy));
        const double err = rel_err(dx.to_vector(), g);
        INFO(u.name << " backward rel err " << err);
        CHECK(err < 1e-5);
      }
    }
  }
}

TEST_CASE("kernels: elementwise arithmetic and in-place use", "[kernels]") {
  Context ctx;
  const Shape s{3, 5, 7};
  Tensor a = random_tensor(s, 1), b = random_tensor(s, 2);
  const std::vector<float> av = a.to_vector(), bv = b.to_vector();
  Tensor out = Tensor::empty_cpu(s);
  ops::add(out, a, b, ctx);
  for (size_t i = 0; i < av.size(); ++i) REQUIRE(out.to_vector()[i] == av[i] + bv[i]);

  Tensor y = random_tensor(s, 3);
  const std::vector<float> y0 = y.to_vector();
  ops::axpy(y, -0.75f, a, ctx);
  for (size_t i = 0; i < av.size(); ++i)
    REQUIRE(y.to_vector()[i] == Approx(y0[i] - 0.75f * av[i]).margin(1e-6));

  Tensor c = random_tensor(s, 4);
  const std::vector<float> c0 = c.to_vector();
  ops::add_inplace(c, b, ctx);
  ops::scale_inplace(c, 3.f, ctx);
  for (size_t i = 0; i < av.size(); ++i)
    REQUIRE(c.to_vector()[i] == Approx((c0[i] + bv[i]) * 3.f).margin(1e-6));

  // out == in for activations
  Tensor r = random_tensor(s, 5);
  const std::vector<float> r0 = r.to_vector();
  ops::relu_forward(r, r, ctx);
  for (size_t i = 0; i < r0.size(); ++i) REQUIRE(r.to_vector()[i] == std::max(r0[i], 0.f));
}

TEST_CASE("kernels: elementwise ops reject bad arguments with specific messages", "[kernels]") {
  Context ctx;
  Tensor a = random_tensor({2, 3}, 1), b = random_tensor({3, 2}, 2), out = Tensor::empty_cpu({2, 3});
  REQUIRE_THROWS_WITH(ops::add(out, a, b, ctx),
                      Catch::Contains("add: 'a' has shape [2,3] but 'b' has shape [3,2]"));
  Tensor wrong = Tensor::empty_cpu({6});
  REQUIRE_THROWS_WITH(ops::relu_forward(wrong, a, ctx),
                      Catch::Contains("relu_forward: 'out' has shape [6] but 'in' has shape [2,3]"));
  Tensor half = Tensor::empty_cpu({2, 3}, DType::F16);
  REQUIRE_THROWS_WITH(ops::tanh_forward(half, a, ctx),
                      Catch::Contains("tanh_forward: tensor 'out' must be F32 NCHW, got F16"));
  Tensor undefined;
  REQUIRE_THROWS_WITH(ops::scale_inplace(undefined, 2.f, ctx),
                      Catch::Contains("scale_inplace: tensor 'a' is undefined"));
  REQUIRE_THROWS_WITH(ops::leaky_relu_backward(out, a, a, 0.f, ctx),
                      Catch::Contains("slope must be > 0"));
}
