#pragma once
// The official Hayao conformance set (../shared/conformance/official_hayao) and the PSNR
// measure, shared by the CPU (slow) and CUDA conformance tests.
#include <cmath>
#include <vector>

#include "cgan/image.hpp"
#include "common/test_util.hpp"

namespace cgan::test {

constexpr const char* kHayaoWeights = "weights/cartoongan_hayao.safetensors";
constexpr const char* kHayaoDir = "conformance/official_hayao";

struct ConformanceItem {
  const char* input;
  const char* expected;
};
inline const std::vector<ConformanceItem>& hayao_items() {
  static const std::vector<ConformanceItem> items = {{"in1.png", "in1_Hayao.png"},
                                                     {"in3.png", "in3_Hayao.png"},
                                                     {"4--24.jpg", "4--24_Hayao.jpg"},
                                                     {"5--26.jpg", "5--26_Hayao.jpg"},
                                                     {"15--324.jpg", "15--324_Hayao.jpg"}};
  return items;
}

// PSNR in dB on the 0..255 scale; 999 for identical inputs.
inline double psnr(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double mse = 0;
  for (size_t i = 0; i < a.size(); ++i) mse += (a[i] - b[i]) * (a[i] - b[i]);
  mse /= static_cast<double>(a.size());
  return mse == 0 ? 999.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
}

inline std::vector<double> pixels(const Image& im) { return {im.pixels.begin(), im.pixels.end()}; }

}  // namespace cgan::test
