#pragma once
// Helpers for the GPU-vs-CPU kernel tests: every test runs an op on both backends with the
// same random inputs, the GPU outputs poisoned with NaN beforehand so that an element the
// kernel forgets to write shows up as a failure.
#include <cmath>
#include <string>

#include "cgan/ops.hpp"
#include "common/test_util.hpp"

namespace cgan::test {

inline Tensor poisoned(const Shape& s, Context& gpu) {
  Tensor t = Tensor::empty(s, gpu);
  t.fill(NAN, gpu);
  return t;
}

// A GPU tensor whose data starts 4 bytes past a 16-byte boundary: forces the scalar paths.
inline Tensor misaligned(const Tensor& cpu_src, Context& gpu) {
  Tensor big = Tensor::empty({cpu_src.numel() + 1}, gpu);
  Tensor view = big.slice(1, cpu_src.numel() + 1).view(cpu_src.shape());
  view.copy_from(cpu_src, gpu);
  return view;
}

// max |gpu - cpu| / max |cpu| <= tol; NaN anywhere fails.
inline void check_close(const Tensor& gpu_t, const Tensor& cpu_t, Context& gpu, double tol,
                        const std::string& what) {
  const std::vector<float> a = gpu_t.to_vector(gpu), b = cpu_t.to_vector();
  const double err = max_rel_error(a, b);
  INFO(what << ": GPU vs CPU max rel error " << err << " (tolerance " << tol << ")");
  CHECK(err <= tol);
}

}  // namespace cgan::test
