#pragma once
// Shared helpers for tests: random inputs, comparisons, and visible skips.
// Test names: no commas or semicolons (ctest discovery splits on them); keep them short.
#include <catch2/catch.hpp>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "cgan/context.hpp"
#include "cgan/device.hpp"
#include "cgan/tensor.hpp"

namespace cgan::test {

// CGAN_REQUIRE_GPU=1 (the GPU check sets it): every skip is a failure, so a GPU run whose CUDA
// runtime did not start, or that lacks the weights or python modules a test needs, cannot pass.
inline bool gpu_required() {
  const char* e = std::getenv("CGAN_REQUIRE_GPU");
  return e && *e && std::string(e) != "0";
}

// Prints the marker ctest's SKIP_REGULAR_EXPRESSION looks for, so the test shows as skipped.
inline void skip(const std::string& why) {
  if (gpu_required()) FAIL("CGAN_REQUIRE_GPU=1, so this may not skip: " << why);
  std::cout << "CGAN_SKIP: " << why << std::endl;
  WARN("skipped: " << why);
}

// For test cases that need a GPU: `CGAN_REQUIRE_CUDA();` at the top.
#define CGAN_REQUIRE_CUDA()                                                            \
  do {                                                                                 \
    if (!::cgan::cuda_available()) {                                                   \
      ::cgan::test::skip("no CUDA device (" + ::cgan::cuda_unavailable_reason() + ")"); \
      return;                                                                          \
    }                                                                                  \
  } while (0)

// Both can be overridden from the environment (the GPU machine keeps them elsewhere).
// CGAN_IGNORE_SHARED=1 makes every test behave as on a machine without ../shared (what a new
// user has; CI runs the cpu tests that way too).
inline bool ignore_shared() {
  const char* e = std::getenv("CGAN_IGNORE_SHARED");
  return e && *e && std::string(e) != "0";
}
inline std::string shared_dir() {
  if (ignore_shared()) return "/nonexistent/CGAN_IGNORE_SHARED";
  const char* e = std::getenv("CGAN_SHARED_DIR");
  return e && *e ? e : CGAN_SHARED_DIR;
}
inline std::string python() {
  const char* e = std::getenv("CGAN_PYTHON");
  return e && *e ? e : CGAN_PYTHON;
}
inline bool have_shared(const std::string& rel) {
  return std::filesystem::exists(shared_dir() + "/" + rel);
}
#define CGAN_REQUIRE_SHARED(rel)                                                 \
  do {                                                                           \
    if (!::cgan::test::have_shared(rel)) {                                       \
      ::cgan::test::skip(std::string("../shared/") + (rel) + " not available" +  \
                         (::cgan::test::ignore_shared() ? " (CGAN_IGNORE_SHARED)" : "")); \
      return;                                                                    \
    }                                                                            \
  } while (0)

// Debian's /usr/bin/python3 with a module (torch, cv2, numpy) available?
inline bool python_has(const std::string& module) {
  const std::string py = python();
  if (py.empty()) return false;
  const std::string cmd = py + " -c 'import " + module + "' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}
#define CGAN_REQUIRE_PYTHON_MODULE(mod)                                                 \
  do {                                                                                  \
    if (!::cgan::test::python_has(mod)) {                                               \
      ::cgan::test::skip(std::string("python3 module '") + (mod) + "' not available"); \
      return;                                                                           \
    }                                                                                   \
  } while (0)

// Runs a shell command (echoed, for the log); its exit status, or -1 if it did not exit.
inline int sh(const std::string& cmd) {
  std::cout << "$ " << cmd << std::endl;
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// A whole file as a string ("" when it cannot be read).
inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A scratch directory unique to the test process, removed at exit by the OS' tmp cleaner.
inline std::string temp_dir(const std::string& tag) {
  namespace fs = std::filesystem;
  static std::mt19937_64 rng(std::random_device{}());
  fs::path p = fs::temp_directory_path() / ("cgan_test_" + tag + "_" + std::to_string(rng()));
  fs::create_directories(p);
  return p.string();
}

inline std::vector<float> random_vector(size_t n, uint64_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

inline Tensor random_tensor(const Shape& s, uint64_t seed, float lo = -1.f, float hi = 1.f) {
  return Tensor::from_vector(s, random_vector(static_cast<size_t>(shape_numel(s)), seed, lo, hi));
}

// max |a-b| / max(max|b|, tiny): a relative error over the whole tensor.
inline double max_rel_error(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double num = 0, den = 1e-30;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return INFINITY;
    num = std::max(num, std::abs(double(a[i]) - double(b[i])));
    den = std::max(den, std::abs(double(b[i])));
  }
  return num / den;
}

// ||a - b||_2 / ||b||_2; infinite if anything is not finite.
inline double rel_l2_error(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double num = 0, den = 1e-300;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return INFINITY;
    const double d = double(a[i]) - double(b[i]);
    num += d * d;
    den += double(b[i]) * double(b[i]);
  }
  return std::sqrt(num / den);
}

}  // namespace cgan::test
