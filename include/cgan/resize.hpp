#pragma once
// Image resizing that matches PIL's Image.resize(size, Image.BICUBIC) on 8-bit RGB images:
// separable (horizontal pass first, 8-bit intermediate), Keys cubic with a = -0.5, support
// widened by the scale factor when shrinking (antialiasing), 22-bit fixed-point coefficients
// with PIL's rounding. The official CartoonGAN results were made with it.
#include <utility>

#include "cgan/image.hpp"

namespace cgan {

Image resize_bicubic(const Image& src, int out_width, int out_height);

// The official test script's size rule: the longer side becomes `side` (also when that means
// enlarging), the other one side * ratio truncated to int. Returns {width, height}.
std::pair<int, int> fit_longer_side(int width, int height, int side);

}  // namespace cgan
