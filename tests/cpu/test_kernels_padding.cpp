// Reflection and zero padding on the CPU backend: forward against PyTorch's definition,
// backward against finite differences (the ops are linear, so FD is exact up to rounding).
#include "cgan/ops.hpp"
#include "cpu/test_kernels_util.hpp"

using namespace cgan;
using namespace cgan::test;

namespace {
int reflect(int i, int n) { return i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i); }

VecD pad_ref(const VecD& x, int64_t P, int H, int W, ops::Pad2d p, bool refl) {
  const int OH = H + p.top + p.bottom, OW = W + p.left + p.right;
  VecD y(size_t(P * OH * OW));
  for (int64_t q = 0; q < P; ++q)
    for (int oh = 0; oh < OH; ++oh)
      for (int ow = 0; ow < OW; ++ow) {
        int ih = oh - p.top, iw = ow - p.left;
        double v = 0;
        if (refl) {
          v = x[size_t((q * H + reflect(ih, H)) * W + reflect(iw, W))];
        } else if (ih >= 0 && ih < H && iw >= 0 && iw < W) {
          v = x[size_t((q * H + ih) * W + iw)];
        }
        y[size_t((q * OH + oh) * OW + ow)] = v;
      }
  return y;
}
}  // namespace

TEST_CASE("kernels: reflection and zero padding: forward and backward vs finite differences",
          "[kernels]") {
  Context ctx;
  struct Case {
    Shape s;
    ops::Pad2d pad;
  };
  const std::vector<Case> cases = {
      {{1, 1, 1, 1}, {0, 0, 0, 0}},   {{1, 1, 2, 2}, ops::Pad2d::all(1)},
      {{1, 3, 3, 5}, {2, 1, 4, 3}},   {{3, 2, 7, 13}, ops::Pad2d::all(3)},
      {{2, 1, 4, 4}, {3, 3, 3, 3}},   {{1, 2, 5, 1}, {4, 2, 0, 0}},
  };
  for (const Case& tc : cases)
    for (bool refl : {true, false}) {
      SECTION(std::string(refl ? "reflect " : "zero ") + shape_str(tc.s)) {
        const int64_t P = tc.s[0] * tc.s[1];
        const int H = int(tc.s[2]), W = int(tc.s[3]);
        const Shape os{tc.s[0], tc.s[1], H + tc.pad.top + tc.pad.bottom,
                       W + tc.pad.left + tc.pad.right};
        Tensor x = random_tensor(tc.s, 3 + P * H * W);
        Tensor y = Tensor::empty_cpu(os);
        if (refl)
          ops::reflection_pad_forward(y, x, tc.pad, ctx);
        else
          ops::zero_pad_forward(y, x, tc.pad, ctx);
        const FwdD f = [&](const VecD& v) { return pad_ref(v, P, H, W, tc.pad, refl); };
        CHECK(rel_err(y.to_vector(), f(to_double(x))) == 0.0);  // a pure copy
        Tensor dy = random_tensor(os, 5 + P);
        Tensor dx = Tensor::from_vector(tc.s, std::vector<float>(size_t(x.numel()), NAN));
        if (refl)
          ops::reflection_pad_backward(dx, dy, tc.pad, ctx);
        else
          ops::zero_pad_backward(dx, dy, tc.pad, ctx);
        const double err = rel_err(dx.to_vector(), fd_grad(f, to_double(x), to_double(dy)));
        INFO("backward vs FD rel err " << err);
        CHECK(err < 1e-6);
      }
    }
}

TEST_CASE("kernels: padding rejects bad arguments with specific messages", "[kernels]") {
  Context ctx;
  Tensor x = random_tensor({1, 2, 3, 4}, 1);
  Tensor y = Tensor::empty_cpu({1, 2, 9, 10});
  REQUIRE_THROWS_WITH(ops::reflection_pad_forward(y, x, ops::Pad2d::all(3), ctx),
                      Catch::Contains("reflection padding top/bottom (3/3) must be < the input "
                                      "height 3"));
  Tensor y2 = Tensor::empty_cpu({1, 2, 5, 5});
  REQUIRE_THROWS_WITH(ops::zero_pad_forward(y2, x, ops::Pad2d::all(1), ctx),
                      Catch::Contains("zero_pad_forward: 'out' must have shape [1,2,5,6], got "
                                      "[1,2,5,5]"));
  REQUIRE_THROWS_WITH(ops::zero_pad_forward(y2, x, {-1, 0, 0, 0}, ctx),
                      Catch::Contains("padding must be >= 0"));
}
