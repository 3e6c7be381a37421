// Loss curves drawn straight into an RGB image: a log-y chart, one polyline per loss and a
// legend. The labels use a built-in 3x5 pixel font so no text-rendering library is needed.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "cgan/train.hpp"

namespace cgan::train {
namespace {

struct Color {
  uint8_t r, g, b;
};

// 3x5 glyphs, one row per 3-bit number (MSB = left column).
struct Glyph {
  char c;
  uint8_t rows[5];
};
constexpr Glyph kFont[] = {
    {'0', {7, 5, 5, 5, 7}}, {'1', {2, 6, 2, 2, 7}}, {'2', {7, 1, 7, 4, 7}},
    {'3', {7, 1, 7, 1, 7}}, {'4', {5, 5, 7, 1, 1}}, {'5', {7, 4, 7, 1, 7}},
    {'6', {7, 4, 7, 5, 7}}, {'7', {7, 1, 1, 1, 1}}, {'8', {7, 5, 7, 5, 7}},
    {'9', {7, 5, 7, 1, 7}}, {'a', {0, 3, 5, 5, 3}}, {'c', {0, 3, 4, 4, 3}},
    {'d', {1, 3, 5, 5, 3}}, {'e', {0, 7, 7, 4, 3}}, {'f', {3, 4, 6, 4, 4}},
    {'g', {3, 5, 3, 1, 6}}, {'h', {4, 6, 5, 5, 5}}, {'i', {2, 0, 2, 2, 2}},
    {'k', {4, 5, 6, 5, 5}}, {'l', {6, 2, 2, 2, 7}}, {'m', {0, 7, 7, 5, 5}},
    {'n', {0, 6, 5, 5, 5}}, {'o', {0, 2, 5, 5, 2}}, {'p', {0, 6, 5, 6, 4}},
    {'r', {0, 5, 6, 4, 4}}, {'s', {0, 3, 6, 3, 6}}, {'t', {2, 7, 2, 2, 3}},
    {'u', {0, 5, 5, 5, 3}}, {'v', {0, 5, 5, 5, 2}}, {'x', {0, 5, 2, 5, 5}},
    {'y', {5, 5, 3, 1, 6}}, {'_', {0, 0, 0, 0, 7}}, {'-', {0, 0, 7, 0, 0}},
    {'.', {0, 0, 0, 0, 2}},
};

void put(Image& im, int x, int y, Color c) {
  if (x < 0 || y < 0 || x >= im.width || y >= im.height) return;
  uint8_t* p = im.at(x, y);
  p[0] = c.r;
  p[1] = c.g;
  p[2] = c.b;
}

void rect(Image& im, int x0, int y0, int x1, int y1, Color c) {
  for (int y = y0; y <= y1; ++y)
    for (int x = x0; x <= x1; ++x) put(im, x, y, c);
}

// Bresenham, drawn 2 px thick so curves stay visible when the PNG is scaled down.
void line(Image& im, int x0, int y0, int x1, int y1, Color c) {
  const int dx = std::abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
  const int dy = -std::abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
  int err = dx + dy;
  for (;;) {
    put(im, x0, y0, c);
    put(im, x0, y0 + 1, c);
    if (x0 == x1 && y0 == y1) break;
    const int e2 = 2 * err;
    if (e2 >= dy) {
      err += dy;
      x0 += sx;
    }
    if (e2 <= dx) {
      err += dx;
      y0 += sy;
    }
  }
}

// Text at scale 2 (6x10 px per glyph plus 2 px spacing); unknown characters are blank.
int text(Image& im, int x, int y, const std::string& s, Color c) {
  for (char ch : s) {
    for (const Glyph& g : kFont) {
      if (g.c != ch) continue;
      for (int r = 0; r < 5; ++r)
        for (int col = 0; col < 3; ++col)
          if (g.rows[r] & (4 >> col)) rect(im, x + col * 2, y + r * 2, x + col * 2 + 1, y + r * 2 + 1, c);
      break;
    }
    x += 8;
  }
  return x;
}

std::string fmt_steps(double v) {
  char buf[32];
  if (v >= 10000)
    std::snprintf(buf, sizeof buf, "%.0fk", v / 1000);
  else
    std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

}  // namespace

Image plot_losses(const std::vector<StepLosses>& history, int width, int height) {
  width = std::max(width, 320);
  height = std::max(height, 200);
  Image im(width, height);
  std::fill(im.pixels.begin(), im.pixels.end(), uint8_t{255});
  const Color black{0, 0, 0}, grid{220, 220, 220};
  const Color colors[5] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40},
                           {148, 103, 189}};
  const char* names[5] = {"d_real", "d_smooth", "d_fake", "g_adv", "content"};
  auto value = [](const StepLosses& s, int k) {
    const double v[5] = {s.d_real, s.d_smooth, s.d_fake, s.g_adv, s.content};
    return v[k];
  };

  const int left = 58, right = width - 130, top = 12, bottom = height - 34;
  const int pw = right - left;

  // Per pixel column the mean of the steps that fall into it: long runs stay readable.
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  // The history may come from a hand-edited or concatenated losses.csv: steps need not be
  // sorted, and negative ones are ignored rather than indexing before the first column.
  double max_step = 1.0;
  for (const StepLosses& s : history) max_step = std::max(max_step, double(s.step));
  std::vector<std::vector<double>> sum(5, std::vector<double>(static_cast<size_t>(pw) + 1, 0)),
      cnt(5, std::vector<double>(static_cast<size_t>(pw) + 1, 0));
  for (const StepLosses& s : history) {
    if (s.step < 0) continue;
    const size_t col = std::min(static_cast<size_t>(pw),
                                static_cast<size_t>(std::lround(double(s.step) / max_step * pw)));
    for (int k = 0; k < 5; ++k) {
      const double v = value(s, k);
      if (!std::isfinite(v) || v <= 0) continue;
      sum[k][col] += v;
      cnt[k][col] += 1;
    }
  }
  for (int k = 0; k < 5; ++k)
    for (size_t c = 0; c < sum[k].size(); ++c)
      if (cnt[k][c] > 0) {
        const double v = sum[k][c] / cnt[k][c];
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
  if (!(hi > 0)) {
    lo = 0.1;
    hi = 10;
  }
  const double dlo = std::floor(std::log10(lo)), dhi = std::max(dlo + 1, std::ceil(std::log10(hi)));
  auto ypix = [&](double v) {
    const double t = (std::log10(v) - dlo) / (dhi - dlo);
    return static_cast<int>(std::lround(bottom - t * (bottom - top)));
  };

  // Decade grid lines with labels "1e-2", "1e0", ...
  for (double d = dlo; d <= dhi + 1e-9; d += 1) {
    const int y = ypix(std::pow(10.0, d));
    for (int x = left; x <= right; ++x) put(im, x, y, grid);
    text(im, 4, y - 5, "1e" + std::to_string(static_cast<int>(d)), black);
  }
  // Step ticks.
  for (int i = 0; i <= 4; ++i) {
    const int x = left + pw * i / 4;
    for (int y = top; y <= bottom; ++y) put(im, x, y, grid);
    text(im, x - 8, bottom + 6, fmt_steps(max_step * i / 4), black);
  }
  text(im, left + pw / 2 - 16, bottom + 20, "step", black);
  line(im, left, top, left, bottom, black);
  line(im, left, bottom, right, bottom, black);

  for (int k = 0; k < 5; ++k) {
    int px = -1, py = -1;
    for (size_t c = 0; c < sum[k].size(); ++c) {
      if (cnt[k][c] == 0) continue;
      const int x = left + static_cast<int>(c), y = ypix(sum[k][c] / cnt[k][c]);
      if (px >= 0)
        line(im, px, py, x, y, colors[k]);
      else
        put(im, x, y, colors[k]);
      px = x;
      py = y;
    }
  }
  // Legend: a colored box and the loss name per series.
  for (int k = 0; k < 5; ++k) {
    const int y = top + 8 + k * 20;
    rect(im, right + 14, y, right + 26, y + 10, colors[k]);
    text(im, right + 34, y, names[k], black);
  }
  return im;
}

}  // namespace cgan::train
