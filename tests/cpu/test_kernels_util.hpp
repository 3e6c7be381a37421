#pragma once
// Helpers for the kernel tests: central finite differences in double precision, and a route
// to PyTorch through Debian's python3 (inputs and outputs exchanged as safetensors files).
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cgan/safetensors.hpp"
#include "common/test_util.hpp"

namespace cgan::test {

using VecD = std::vector<double>;
using FwdD = std::function<VecD(const VecD&)>;

inline VecD to_double(const std::vector<float>& v) { return VecD(v.begin(), v.end()); }
inline VecD to_double(const Tensor& t) { return to_double(t.to_vector()); }

// dL/dx of L(x) = sum_i w_i f(x)_i by central differences on a double-precision forward.
// Truncation error is O(h^2 * f''') and rounding error O(eps_double / h); h = 1e-5 keeps
// both below ~1e-9 relative for the smooth ops tested here, far under float tolerances.
inline VecD fd_grad(const FwdD& f, VecD x, const VecD& w, double h = 1e-5) {
  VecD g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double x0 = x[i];
    x[i] = x0 + h;
    const VecD fp = f(x);
    x[i] = x0 - h;
    const VecD fm = f(x);
    x[i] = x0;
    double acc = 0;
    for (size_t j = 0; j < w.size(); ++j) acc += w[j] * (fp[j] - fm[j]);
    g[i] = acc / (2 * h);
  }
  return g;
}

// max |a - b| / max(max |b|, floor): one relative error for a whole tensor.
inline double rel_err(const VecD& a, const VecD& b, double floor = 1e-12) {
  REQUIRE(a.size() == b.size());
  double num = 0, den = floor;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return INFINITY;
    num = std::max(num, std::abs(a[i] - b[i]));
    den = std::max(den, std::abs(b[i]));
  }
  return num / den;
}
inline double rel_err(const std::vector<float>& a, const VecD& b, double floor = 1e-12) {
  return rel_err(to_double(a), b, floor);
}

// Runs tests/python/<script> with arguments; true on exit status 0.
inline bool run_python(const std::string& script, const std::string& args) {
  const std::string cmd = test::python() + " " + CGAN_SOURCE_DIR + "/tests/python/" +
                          script + " " + args;
  return std::system(cmd.c_str()) == 0;
}

inline VecD st_vec(const SafeTensors& st, const std::string& name) {
  return to_double(st.f32(name));
}

}  // namespace cgan::test
