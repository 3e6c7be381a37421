#pragma once
// Comparisons against a float64 PyTorch oracle evaluated on cgan's branch (the scripts in
// tests/python use branch.py; the C++ side records cgan's decisions with probe_util.hpp), with
// tolerances calibrated in the same run: stock float32 PyTorch ("torch32") on the same branch,
// measured against the same oracle. Used by test_train_pytorch.cpp and test_networks.cpp; the
// reasoning behind each constant is in test_train_pytorch.cpp's header.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>
#include <nlohmann/json.hpp>

#include "cgan/safetensors.hpp"
#include "common/test_util.hpp"

namespace cgan::test {

constexpr double kU = 0x1p-24;  // float32 unit roundoff
// cgan may be at most kFactor times less accurate than torch32 (Winograd F(4x4,3x3) convolutions
// and OpenBLAS kernels without FMA; measured worst over the simulated machines of issue 23:
// 14.4, test_networks.cpp's discriminator, 1.7 there with CGAN_CPU_CONV=im2col)
constexpr double kFactor = 64;
// ... below a floor of kFloorUlps float32 roundings of the quantity's size, so that a torch32
// result that happens to be exact does not demand exactness.
constexpr double kFloorUlps = 4;

// The bound: kFactor * max(torch32's error, kFloorUlps * u * size).
inline double oracle_bound(double e_t32, double size) {
  return kFactor * std::max(e_t32, kFloorUlps * kU * size);
}

// A float64 array the reference stored as NAME + NAME.lo (two float32).
inline std::vector<double> f64(const SafeTensors& st, const std::string& name) {
  const std::vector<float> hi = st.f32(name).to_vector();
  const std::vector<float> lo = st.f32(name + ".lo").to_vector();
  std::vector<double> r(hi.size());
  for (size_t i = 0; i < hi.size(); ++i) r[i] = double(hi[i]) + double(lo[i]);
  return r;
}

inline double l2(const std::vector<double>& a) {
  double s = 0;
  for (double x : a) s += x * x;
  return std::sqrt(s);
}
inline double l2_diff(const std::vector<float>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < b.size(); ++i) s += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  return std::sqrt(s);
}
inline double max_abs(const std::vector<double>& a) {
  double m = 0;
  for (double x : a) m = std::max(m, std::abs(x));
  return m;
}
inline double max_diff(const std::vector<float>& a, const std::vector<double>& b) {
  double m = 0;
  for (size_t i = 0; i < b.size(); ++i) m = std::max(m, std::abs(double(a[i]) - b[i]));
  return m;
}

// The per-op statistics of branch.record(): every nonsmooth op's output error (cgan's) and
// the largest margin of a decision cgan took differently from float64, both within the bound
// of torch32's input error at that op. Returns {worst fraction of the bound, decisions on the
// other branch, ...}.
struct OpsSummary {
  double worst = 0;  // (error or margin) / bound
  std::string worst_label;
  double worst_margin = 0;  // margin / bound
  int flips = 0;
};
inline OpsSummary check_op_stats(const nlohmann::json& ops) {
  OpsSummary s;
  REQUIRE(ops.size() > 0);
  for (const auto& r : ops) {
    const std::string label = r["label"];
    const double e_t32 = r["e_t32"], e_ours = r["e_ours"], scale = r["scale"],
                 margin = r["margin"];
    const int n_flips = r["flips"];
    const double b = oracle_bound(e_t32, scale);
    INFO(label << " (" << r["n"].get<int>() << " inputs, max |z| " << scale
               << "): ours' output error " << e_ours << ", torch32's input error " << e_t32
               << ", bound " << b << "; " << n_flips
               << " decisions on the other branch than float64, largest margin " << margin);
    REQUIRE(e_t32 >= 0);
    CHECK(e_ours <= b);
    CHECK(margin <= b);
    s.flips += n_flips;
    if (std::max(e_ours, margin) / b > s.worst) {
      s.worst = std::max(e_ours, margin) / b;
      s.worst_label = label;
    }
    s.worst_margin = std::max(s.worst_margin, margin / b);
  }
  return s;
}

}  // namespace cgan::test
