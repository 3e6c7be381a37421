#pragma once
// Helpers of the bf16 / channels-last tests (cpu and cuda).
#include <algorithm>
#include <cmath>
#include <vector>

#include "cgan/tensor.hpp"

namespace cgan::test {

// PSNR of generator outputs in [-1, 1] (peak-to-peak 2).
inline double psnr_pm1(const std::vector<float>& a, const std::vector<float>& b) {
  double se = 0;
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) se += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  const double mse = n ? se / double(n) : 0;
  return a.size() != b.size() ? -1 : mse == 0 ? 1e9 : 10 * std::log10(4.0 / mse);
}

// How many elements break |a - b| <= rel |b| + abs_frac * max|b| (NaN breaks it).
inline int count_off(const std::vector<float>& a, const std::vector<float>& b, double rel,
                     double abs_frac) {
  double peak = 0;
  for (float v : b) peak = std::max(peak, double(std::fabs(v)));
  int bad = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    bad += !(std::fabs(double(a[i]) - b[i]) <= rel * std::fabs(b[i]) + abs_frac * peak);
  return bad;
}

// A device tensor of the given storage filled with NaN, so that an element a kernel forgets
// to write shows up.
inline Tensor poisoned_as(const Shape& s, DType dt, Layout l, Context& gpu) {
  Tensor t = Tensor::empty(s, gpu, dt, l);
  Tensor nan = Tensor::empty_cpu(s, dt, l);
  nan.fill(NAN, gpu);
  t.copy_from(nan, gpu);
  return t;
}

}  // namespace cgan::test
