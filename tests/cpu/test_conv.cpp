// Conv2d / ConvTranspose2d on the CPU path against a naive float64 reference: forward values,
// and every gradient against central finite differences of that float64 reference.
#include <cmath>

#include "cgan/conv.hpp"
#include "common/test_util.hpp"

using namespace cgan;

namespace {

struct Case {
  const char* name;
  Shape in, weight;
  ConvSpec spec;
};

// out = conv(x, w) + b in float64, straight from the definition. A transposed conv scatters
// each input pixel through the kernel (PyTorch's definition).
std::vector<double> reference(const std::vector<double>& x, const std::vector<double>& w,
                              const std::vector<double>& b, const Shape& in, const Shape& ws,
                              const ConvSpec& s, const Shape& os) {
  std::vector<double> out(static_cast<size_t>(shape_numel(os)), 0.0);
  const int64_t N = in[0], Ci = in[1], H = in[2], W = in[3], Co = os[1], Ho = os[2], Wo = os[3];
  const int64_t kh = ws[2], kw = ws[3];
  auto O = [&](int64_t n, int64_t c, int64_t y, int64_t xx) -> double& {
    return out[static_cast<size_t>(((n * Co + c) * Ho + y) * Wo + xx)];
  };
  for (int64_t n = 0; n < N; ++n)
    for (int64_t co = 0; co < Co; ++co)
      for (int64_t y = 0; y < Ho; ++y)
        for (int64_t xx = 0; xx < Wo; ++xx) O(n, co, y, xx) = b.empty() ? 0.0 : b[co];
  for (int64_t n = 0; n < N; ++n)
    for (int64_t ci = 0; ci < Ci; ++ci)
      for (int64_t co = 0; co < Co; ++co)
        for (int64_t i = 0; i < kh; ++i)
          for (int64_t j = 0; j < kw; ++j) {
            const double wv = s.transposed ? w[static_cast<size_t>(((ci * Co + co) * kh + i) * kw + j)]
                                           : w[static_cast<size_t>(((co * Ci + ci) * kh + i) * kw + j)];
            if (s.transposed) {
              for (int64_t iy = 0; iy < H; ++iy)
                for (int64_t ix = 0; ix < W; ++ix) {
                  const int64_t oy = iy * s.stride - s.pad + i, ox = ix * s.stride - s.pad + j;
                  if (oy < 0 || oy >= Ho || ox < 0 || ox >= Wo) continue;
                  O(n, co, oy, ox) += wv * x[static_cast<size_t>(((n * Ci + ci) * H + iy) * W + ix)];
                }
            } else {
              for (int64_t oy = 0; oy < Ho; ++oy)
                for (int64_t ox = 0; ox < Wo; ++ox) {
                  const int64_t iy = oy * s.stride - s.pad + i, ix = ox * s.stride - s.pad + j;
                  if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                  O(n, co, oy, ox) += wv * x[static_cast<size_t>(((n * Ci + ci) * H + iy) * W + ix)];
                }
            }
          }
  return out;
}

std::vector<double> to_d(const std::vector<float>& v) { return {v.begin(), v.end()}; }

double dot(const std::vector<double>& a, const std::vector<float>& r) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * r[i];
  return s;
}

// max |analytic - fd| / max |fd|
double fd_check(std::vector<double> p, const std::vector<float>& analytic,
                const std::function<double(const std::vector<double>&)>& loss) {
  const double h = 1e-3;
  std::vector<float> fd(p.size());
  for (size_t i = 0; i < p.size(); ++i) {
    const double keep = p[i];
    p[i] = keep + h;
    const double lp = loss(p);
    p[i] = keep - h;
    const double lm = loss(p);
    p[i] = keep;
    fd[i] = static_cast<float>((lp - lm) / (2 * h));
  }
  return test::max_rel_error(analytic, fd);
}

}  // namespace

TEST_CASE("conv forward and gradients match a float64 reference and finite differences") {
  const Case cases[] = {
      {"3x3 s1 p1", {2, 3, 7, 6}, {4, 3, 3, 3}, {1, 1, 0, false}},
      {"3x3 s2 p1 odd", {2, 3, 9, 7}, {5, 3, 3, 3}, {2, 1, 0, false}},
      {"7x7 s1 p3", {1, 2, 8, 9}, {3, 2, 7, 7}, {1, 3, 0, false}},
      {"1x1", {2, 4, 5, 3}, {3, 4, 1, 1}, {1, 0, 0, false}},
      {"3x3 valid", {1, 3, 6, 6}, {2, 3, 3, 3}, {1, 0, 0, false}},
      {"transposed 3x3 s2 p1 op1", {2, 4, 5, 4}, {4, 3, 3, 3}, {2, 1, 1, true}},
      {"transposed 3x3 s2 p1 op0", {1, 3, 4, 5}, {3, 2, 3, 3}, {2, 1, 0, true}},
      {"transposed 3x3 s1 p1", {1, 2, 5, 5}, {2, 3, 3, 3}, {1, 1, 0, true}},
      // Few output channels: the CPU lowers y instead of x (layers/conv.cpp).
      {"7x7 s1 p3 to 1 channel", {2, 8, 7, 6}, {1, 8, 7, 7}, {1, 3, 0, false}},
      {"3x3 valid 12 to 1 channel", {1, 12, 6, 5}, {1, 12, 3, 3}, {1, 0, 0, false}},
      {"transposed 3x3 s1 p1 from 1 channel", {2, 1, 5, 4}, {1, 8, 3, 3}, {1, 1, 0, true}},
  };
  Context ctx(Device::cpu());
  uint64_t seed = 1;
  for (const Case& c : cases) {
    for (bool with_bias : {true, false}) {
      SECTION(std::string(c.name) + (with_bias ? " bias" : " no bias")) {
        const Shape os = conv_output_shape(c.in, c.weight, c.spec);
        const int64_t cout = os[1];
        Tensor x = test::random_tensor(c.in, seed++);
        Tensor w = test::random_tensor(c.weight, seed++);
        Tensor b = test::random_tensor({cout}, seed++);
        Tensor out = Tensor::empty(os, ctx);
        conv_forward(out, x, w, with_bias ? &b : nullptr, c.spec, ctx);
        const std::vector<double> bd = with_bias ? to_d(b.to_vector()) : std::vector<double>{};
        const auto ref = reference(to_d(x.to_vector()), to_d(w.to_vector()), bd, c.in, c.weight,
                                   c.spec, os);
        std::vector<float> ref_f(ref.begin(), ref.end());
        CHECK(test::max_rel_error(out.to_vector(), ref_f) < 1e-5);

        // loss = sum(out * r): d_out = r
        Tensor r = test::random_tensor(os, seed++);
        const std::vector<float> rv = r.to_vector();
        Tensor dx = Tensor::empty(c.in, ctx);
        dx.fill(NAN, ctx);  // overwritten, never read
        conv_backward_data(dx, r, w, c.spec, ctx);
        Tensor dw = Tensor::zeros(c.weight, ctx), db = Tensor::zeros({cout}, ctx);
        conv_backward_filter(dw, with_bias ? &db : nullptr, r, x, c.spec, ctx);

        const auto xd = to_d(x.to_vector()), wd = to_d(w.to_vector());
        CHECK(fd_check(xd, dx.to_vector(), [&](const std::vector<double>& p) {
                return dot(reference(p, wd, bd, c.in, c.weight, c.spec, os), rv);
              }) < 1e-5);
        CHECK(fd_check(wd, dw.to_vector(), [&](const std::vector<double>& p) {
                return dot(reference(xd, p, bd, c.in, c.weight, c.spec, os), rv);
              }) < 1e-5);
        if (with_bias) {
          CHECK(fd_check(bd, db.to_vector(), [&](const std::vector<double>& p) {
                  return dot(reference(xd, wd, p, c.in, c.weight, c.spec, os), rv);
                }) < 1e-5);
          // Parameter gradients accumulate: a second call doubles them.
          const auto dw1 = dw.to_vector();
          conv_backward_filter(dw, &db, r, x, c.spec, ctx);
          const auto dw2 = dw.to_vector();
          for (size_t i = 0; i < dw1.size(); ++i) REQUIRE(dw2[i] == Approx(2 * dw1[i]).margin(1e-5));
        }
      }
    }
  }
}

TEST_CASE("conv output shapes follow PyTorch, bad shapes are named in errors") {
  // The official generator's size rule: 450x301 -> 225x151 -> 113x76 -> 226x152 -> 452x304.
  Shape s{1, 3, 301, 450};
  s = conv_output_shape(s, {8, 3, 3, 3}, {2, 1, 0, false});
  CHECK(s == Shape{1, 8, 151, 225});
  s = conv_output_shape(s, {8, 8, 3, 3}, {2, 1, 0, false});
  CHECK(s == Shape{1, 8, 76, 113});
  s = conv_output_shape(s, {8, 8, 3, 3}, {2, 1, 1, true});
  CHECK(s == Shape{1, 8, 152, 226});
  s = conv_output_shape(s, {8, 8, 3, 3}, {2, 1, 1, true});
  CHECK(s == Shape{1, 8, 304, 452});

  try {
    conv_output_shape({1, 4, 8, 8}, {8, 3, 3, 3}, {});
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("4 channels") && Catch::Contains("[8,3,3,3]"));
  }
  CHECK_THROWS_AS(conv_output_shape({1, 3, 8, 8}, {8, 3, 3, 3}, {1, 1, 1, false}), Error);
  CHECK_THROWS_AS(conv_output_shape({1, 3, 2, 2}, {8, 3, 5, 5}, {}), Error);
}
