#include "cgan/resize.hpp"

#include <cmath>
#include <cstdint>
#include <vector>

#include "cgan/error.hpp"

namespace cgan {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // PIL's fixed point for 8-bit images

double bicubic(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

// Per output index: the first input index and integer weights for the inputs from there.
struct Taps {
  std::vector<int> first, count;
  std::vector<int32_t> weights;  // [out_size * ksize]
  int ksize = 0;
};

Taps precompute(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = 2.0 * filterscale;
  Taps t;
  t.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(static_cast<size_t>(out_size));
  t.count.resize(static_cast<size_t>(out_size));
  t.weights.assign(static_cast<size_t>(out_size) * t.ksize, 0);
  std::vector<double> k(static_cast<size_t>(t.ksize));
  for (int o = 0; o < out_size; ++o) {
    const double center = (o + 0.5) * scale;
    // PIL rounds with (int)(v + 0.5), i.e. truncation toward zero; reproduce it exactly.
    int lo = static_cast<int>(center - support + 0.5);
    if (lo < 0) lo = 0;
    int hi = static_cast<int>(center + support + 0.5);
    if (hi > in_size) hi = in_size;
    const int n = hi - lo;
    double sum = 0;
    for (int i = 0; i < n; ++i) {
      k[static_cast<size_t>(i)] = bicubic((i + lo - center + 0.5) / filterscale);
      sum += k[static_cast<size_t>(i)];
    }
    for (int i = 0; i < n; ++i) {
      const double w = sum != 0.0 ? k[static_cast<size_t>(i)] / sum : k[static_cast<size_t>(i)];
      const double f = w * (1 << kPrecisionBits);
      t.weights[static_cast<size_t>(o) * t.ksize + i] =
          static_cast<int32_t>(w < 0 ? -0.5 + f : 0.5 + f);
    }
    t.first[static_cast<size_t>(o)] = lo;
    t.count[static_cast<size_t>(o)] = n;
  }
  return t;
}

uint8_t clip8(int32_t acc) {
  const int32_t v = acc >> kPrecisionBits;  // arithmetic shift: floor, as PIL
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// One pass along rows (horizontal) or columns (vertical) of an RGB image.
Image pass(const Image& in, int out_w, int out_h, const Taps& t, bool horizontal) {
  Image out(out_w, out_h);
  for (int y = 0; y < out_h; ++y)
    for (int x = 0; x < out_w; ++x) {
      const int o = horizontal ? x : y;
      const int32_t* k = &t.weights[static_cast<size_t>(o) * t.ksize];
      const int lo = t.first[static_cast<size_t>(o)], n = t.count[static_cast<size_t>(o)];
      int32_t acc[3] = {1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1),
                        1 << (kPrecisionBits - 1)};
      for (int i = 0; i < n; ++i) {
        const uint8_t* p = horizontal ? in.at(lo + i, y) : in.at(x, lo + i);
        for (int c = 0; c < 3; ++c) acc[c] += p[c] * k[i];
      }
      uint8_t* q = out.at(x, y);
      for (int c = 0; c < 3; ++c) q[c] = clip8(acc[c]);
    }
  return out;
}

}  // namespace

Image resize_bicubic(const Image& src, int out_width, int out_height) {
  CGAN_CHECK(src.width > 0 && src.height > 0, "resize_bicubic: empty source image");
  CGAN_CHECK(out_width > 0 && out_height > 0,
             "resize_bicubic: invalid target size " << out_width << "x" << out_height);
  // PIL skips a pass whose size does not change; so do we (the result is the same except
  // for the intermediate rounding, which PIL does not do either).
  Image cur = src;
  if (out_width != src.width)
    cur = pass(cur, out_width, src.height, precompute(src.width, out_width), true);
  if (out_height != src.height)
    cur = pass(cur, out_width, out_height, precompute(src.height, out_height), false);
  return cur;
}

std::pair<int, int> fit_longer_side(int width, int height, int side) {
  CGAN_CHECK(width > 0 && height > 0 && side > 0,
             "fit_longer_side: invalid sizes " << width << "x" << height << " -> " << side);
  const double ratio = width * 1.0 / height;
  if (ratio > 1) return {side, static_cast<int>(side * 1.0 / ratio)};
  return {static_cast<int>(side * ratio), side};
}

}  // namespace cgan
