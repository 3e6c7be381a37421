// Bias, 2x2 max pooling and the 3-channel affine map on the CPU backend: forward against
// double references, backward against finite differences, and argument errors.
#include <cmath>

#include "cgan/ops.hpp"
#include "cpu/test_kernels_util.hpp"

using namespace cgan;
using namespace cgan::test;

TEST_CASE("kernels: bias add and bias backward (accumulating) vs finite differences", "[kernels]") {
  Context ctx;
  for (const Shape& s : {Shape{1, 1, 1, 1}, Shape{1, 3, 3, 5}, Shape{3, 2, 7, 13}}) {
    SECTION(shape_str(s)) {
      const int64_t N = s[0], C = s[1], HW = s[2] * s[3];
      Tensor x = random_tensor(s, 1), b = random_tensor({C}, 2);
      const VecD x0 = to_double(x);
      ops::bias_add_inplace(x, b, ctx);
      const FwdD f = [&](const VecD& bias) {
        VecD y = x0;
        for (size_t i = 0; i < y.size(); ++i) y[i] += bias[(i / size_t(HW)) % size_t(C)];
        return y;
      };
      CHECK(rel_err(x.to_vector(), f(to_double(b))) < 1e-7);
      Tensor dy = random_tensor(s, 3);
      Tensor db = Tensor::from_vector({C}, std::vector<float>(size_t(C), 1.f));
      ops::bias_backward(db, dy, ctx);
      VecD want = fd_grad(f, to_double(b), to_double(dy));
      for (double& v : want) v += 1.0;
      const double err = rel_err(db.to_vector(), want);
      INFO("d_bias vs FD rel err " << err << " (N=" << N << ")");
      CHECK(err < 1e-6);
    }
  }
  Tensor x = random_tensor({2, 3, 4, 4}, 1), b = random_tensor({4}, 2);
  REQUIRE_THROWS_WITH(ops::bias_add_inplace(x, b, ctx),
                      Catch::Contains("bias_add_inplace: 'bias' must have C = 3 elements"));
}

namespace {
VecD pool_ref(const VecD& x, int64_t P, int H, int W) {
  const int OH = H / 2, OW = W / 2;
  VecD y(size_t(P * OH * OW));
  for (int64_t p = 0; p < P; ++p)
    for (int oh = 0; oh < OH; ++oh)
      for (int ow = 0; ow < OW; ++ow) {
        const size_t b = size_t((p * H + 2 * oh) * W + 2 * ow);
        y[size_t((p * OH + oh) * OW + ow)] =
            std::max(std::max(x[b], x[b + 1]), std::max(x[b + size_t(W)], x[b + size_t(W) + 1]));
      }
  return y;
}
}  // namespace

TEST_CASE("kernels: maxpool2x2 forward/backward vs finite differences, floor mode, ties", "[kernels]") {
  Context ctx;
  for (const Shape& s : {Shape{1, 1, 1, 1}, Shape{1, 1, 2, 2}, Shape{1, 3, 3, 5},
                         Shape{3, 2, 7, 13}, Shape{2, 2, 8, 6}}) {
    SECTION(shape_str(s)) {
      const int64_t P = s[0] * s[1];
      const int H = int(s[2]), W = int(s[3]);
      const Shape os{s[0], s[1], H / 2, W / 2};
      // Distinct values (a shuffled ramp) so that the max is unique and FD is valid.
      std::vector<float> xv(size_t(shape_numel(s)));
      for (size_t i = 0; i < xv.size(); ++i) xv[i] = float((i * 7919) % xv.size()) * 0.01f;
      Tensor x = Tensor::from_vector(s, xv);
      Tensor y = Tensor::empty_cpu(os);
      ops::maxpool2x2_forward(y, x, ctx);
      const FwdD f = [&](const VecD& v) { return pool_ref(v, P, H, W); };
      CHECK(rel_err(y.to_vector(), f(to_double(x))) == 0.0);
      Tensor dy = random_tensor(os, 4);
      Tensor dx = Tensor::from_vector(s, std::vector<float>(xv.size(), NAN));
      ops::maxpool2x2_backward(dx, dy, x, ctx);
      const double err = rel_err(dx.to_vector(), fd_grad(f, to_double(x), to_double(dy), 1e-4));
      INFO("d_in vs FD rel err " << err);
      CHECK(err < 1e-6);
    }
  }
  SECTION("ties go to the first maximum in row-major order, as PyTorch") {
    Tensor x = Tensor::from_vector({1, 1, 2, 2}, {1.f, 3.f, 3.f, 3.f});
    Tensor dy = Tensor::from_vector({1, 1, 1, 1}, {5.f});
    Tensor dx = Tensor::empty_cpu({1, 1, 2, 2});
    ops::maxpool2x2_backward(dx, dy, x, ctx);
    CHECK(dx.to_vector() == std::vector<float>{0.f, 5.f, 0.f, 0.f});
  }
  Tensor x = random_tensor({1, 1, 4, 4}, 1), y = Tensor::empty_cpu({1, 1, 3, 2});
  REQUIRE_THROWS_WITH(ops::maxpool2x2_forward(y, x, ctx),
                      Catch::Contains("maxpool2x2_forward: 'out' must have shape [1,1,2,2]"));
}

TEST_CASE("kernels: channel_affine3 forward/backward (with channel flip) vs finite differences",
          "[kernels]") {
  Context ctx;
  const float mul[3] = {0.5f, -2.f, 1.25f}, add[3] = {0.1f, 0.2f, -0.3f};
  for (const Shape& s : {Shape{1, 3, 1, 1}, Shape{3, 3, 7, 13}})
    for (bool flip : {false, true}) {
      SECTION(shape_str(s) + (flip ? " flip" : "")) {
        const int64_t HW = s[2] * s[3];
        Tensor x = random_tensor(s, 9);
        Tensor y = Tensor::empty_cpu(s);
        ops::channel_affine3(y, x, mul, add, flip, ctx);
        const FwdD f = [&](const VecD& v) {
          VecD r(v.size());
          for (size_t i = 0; i < v.size(); ++i) {
            const size_t n = i / size_t(3 * HW), c = (i / size_t(HW)) % 3, k = i % size_t(HW);
            const size_t src = flip ? 2 - c : c;
            r[i] = v[(n * 3 + src) * size_t(HW) + k] * mul[c] + add[c];
          }
          return r;
        };
        CHECK(rel_err(y.to_vector(), f(to_double(x))) < 1e-6);
        // In place as well.
        Tensor z = random_tensor(s, 9);
        ops::channel_affine3(z, z, mul, add, flip, ctx);
        CHECK(z.to_vector() == y.to_vector());
        Tensor dy = random_tensor(s, 10);
        Tensor dx = Tensor::empty_cpu(s);
        ops::channel_affine3_backward(dx, dy, mul, flip, ctx);
        const double err = rel_err(dx.to_vector(), fd_grad(f, to_double(x), to_double(dy)));
        INFO("d_in vs FD rel err " << err);
        CHECK(err < 1e-6);
      }
    }
  Tensor x4 = random_tensor({1, 4, 2, 2}, 1), y4 = Tensor::empty_cpu({1, 4, 2, 2});
  REQUIRE_THROWS_WITH(ops::channel_affine3(y4, x4, mul, add, false, ctx),
                      Catch::Contains("channel_affine3: 'in' must have 3 channels"));
}
