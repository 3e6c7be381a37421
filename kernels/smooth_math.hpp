#pragma once
// Per-pixel integer math of the edge smoother, shared by the CUDA kernels and the CPU-side
// emulation in the tests, so the bit-exactness against OpenCV can be checked on a machine
// without a GPU. Everything is integer: OpenCV's 8-bit paths are fixed-point, and the seed's
// Gaussian weights are dyadic, so float rounding never enters.
#include <cstdint>

#ifdef __CUDACC__
#define CGAN_SMOOTH_HD __host__ __device__ __forceinline__
#else
#define CGAN_SMOOTH_HD inline
#endif

namespace cgan::smooth {

// cv::cvtColor(BGR2GRAY) on 8-bit data: 15-bit fixed-point weights with round-half-up.
// (Verified over all 2^24 colours against OpenCV 4.6; the 14-bit weights of older OpenCV
// releases differ on ~0.2% of colours.)
CGAN_SMOOTH_HD int gray_from_bgr(int b, int g, int r) {
  return (b * 3735 + g * 19235 + r * 9798 + (1 << 14)) >> 15;
}

CGAN_SMOOTH_HD int clamp_index(int i, int n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }

// np.pad(mode='reflect') / BORDER_REFLECT_101, for any distance outside [0, n): the
// reflection is periodic with period 2n-2 (numpy pads a size-1 axis with its only value).
CGAN_SMOOTH_HD int reflect101_index(int i, int n) {
  if (n == 1) return 0;
  const int period = 2 * n - 2;
  i %= period;
  if (i < 0) i += period;
  return i >= n ? period - i : i;
}

// 3x3 Sobel on a neighbourhood g[row][col] (BORDER_REPLICATE already applied by the caller).
CGAN_SMOOTH_HD int sobel_dx(int g00, int g02, int g10, int g12, int g20, int g22) {
  return (g02 + 2 * g12 + g22) - (g00 + 2 * g10 + g20);
}
CGAN_SMOOTH_HD int sobel_dy(int g00, int g01, int g02, int g20, int g21, int g22) {
  return (g20 + 2 * g21 + g22) - (g00 + 2 * g01 + g02);
}

CGAN_SMOOTH_HD int gradient_magnitude(int dx, int dy, bool l2) {
  return l2 ? dx * dx + dy * dy : (dx < 0 ? -dx : dx) + (dy < 0 ? -dy : dy);
}

// Pixel states after non-maximum suppression / during hysteresis.
enum : uint8_t { kNotEdge = 0, kWeak = 1, kStrong = 2 };

// cv::Canny's non-maximum suppression and double threshold for one pixel. n[r][c] are the
// magnitudes of the 3x3 neighbourhood (0 outside the image), m = n[1][1]. The direction is
// picked with cv::Canny's integer tangent test: tan(22.5deg) in 15-bit fixed point, and
// tan(67.5deg) = tan(22.5deg) + 2. The asymmetric > / >= comparisons are OpenCV's; they
// decide which of two equal maxima survives.
CGAN_SMOOTH_HD uint8_t nms_state(int dx, int dy, int n00, int n01, int n02, int n10, int m,
                                 int n12, int n20, int n21, int n22, int low, int high) {
  if (!(m > low)) return kNotEdge;
  constexpr int kShift = 15;
  constexpr int kTg22 = 13573;  // (int)(0.41421356 * 2^15 + 0.5)
  const int ax = dx < 0 ? -dx : dx;
  const int ay = (dy < 0 ? -dy : dy) << kShift;
  const int tg22x = ax * kTg22;
  bool keep;
  if (ay < tg22x) {
    keep = m > n10 && m >= n12;  // gradient ~horizontal: compare left/right
  } else {
    const int tg67x = tg22x + (ax << (kShift + 1));
    if (ay > tg67x) {
      keep = m > n01 && m >= n21;  // ~vertical: compare above/below
    } else {
      // Diagonal: same signs -> the gradient runs top-left to bottom-right (y down).
      const bool same_sign = (dx ^ dy) >= 0;
      keep = same_sign ? (m > n00 && m > n22) : (m > n02 && m > n20);
    }
  }
  if (!keep) return kNotEdge;
  return m > high ? kStrong : kWeak;
}

// cv::Canny's threshold conversion: L2 compares squared magnitudes; thresholds are floored.
struct CannyThresholds {
  int low;
  int high;
};
inline CannyThresholds canny_int_thresholds(double low, double high, bool l2) {
  if (low > high) {
    const double t = low;
    low = high;
    high = t;
  }
  if (l2) {
    low = low < 32767.0 ? low : 32767.0;
    high = high < 32767.0 ? high : 32767.0;
    if (low > 0) low *= low;
    if (high > 0) high *= high;
  }
  auto floor_int = [](double v) {
    const int i = static_cast<int>(v);
    return i - (static_cast<double>(i) > v ? 1 : 0);
  };
  return {floor_int(low), floor_int(high)};
}

// One row of the separable integer blur weights; the 2-D weight is w[i]*w[j] and the sum of
// all 2-D weights is weight_sum(k)^2. Gaussian rows are cv::getGaussianKernel(k, 0) times
// 1, 4, 16, 64 (OpenCV's fixed tables for k <= 7).
CGAN_SMOOTH_HD int gaussian_weight(int k, int i) {
  switch (k) {
    case 1: return 1;
    case 3: return i == 1 ? 2 : 1;
    case 5: return i == 2 ? 6 : (i == 1 || i == 3 ? 4 : 1);
    default: {  // 7
      const int w7[7] = {2, 7, 14, 18, 14, 7, 2};
      return w7[i];
    }
  }
}
CGAN_SMOOTH_HD int gaussian_weight_sum(int k) {
  return k == 1 ? 1 : (k == 3 ? 4 : (k == 5 ? 16 : 64));
}

}  // namespace cgan::smooth
