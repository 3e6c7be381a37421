#pragma once
// Edge-promoting smoother (CartoonGAN's "edge-smoothed cartoon" data set): Canny edges,
// dilated, then a blur applied only at dilated-edge pixels.
//
// Results equal, pixel for pixel, the seed's Python recipe (cv2 + numpy), which works on
// cv2.imread's BGR images:
//   gray = cvtColor(bgr, BGR2GRAY); edges = Canny(gray, 100, 200); mask = dilate(edges, 5x5)
//   out[y,x,c] = uint8(sum(reflect101_pad(bgr)[y:y+5, x:x+5, c] * gaussian5x5))  (truncated)
// cgan::Image is RGB: the grayscale weights are applied to the right channels, so an RGB
// Image smoothed here equals the seed's output converted back to RGB. Tensors name their
// channel order explicitly.
#include <cstdint>
#include <vector>

#include "cgan/context.hpp"
#include "cgan/image.hpp"
#include "cgan/tensor.hpp"

namespace cgan {

enum class SmoothBlur : uint8_t {
  // cv::getGaussianKernel(blur_size, 0) outer product (the seed). Sizes 1, 3, 5, 7 only:
  // those are OpenCV's exact binomial tables, so the sum is exact and the result is
  // floor(sum), which is what numpy's float64 -> uint8 assignment gives.
  Gaussian,
  // Plain blur_size x blur_size mean, floor(sum / blur_size^2) (what the paper's authors
  // used instead of a Gaussian). Any odd size 1..15.
  Box,
};

struct SmoothOptions {
  // cv::Canny parameters. Thresholds are swapped if low > high, as cv::Canny does.
  double canny_low = 100.0;
  double canny_high = 200.0;
  int canny_aperture = 3;          // Sobel size; only 3 is implemented (cv::Canny's default)
  bool canny_l2_gradient = false;  // false: |dx|+|dy| (cv::Canny's default)
  // Square structuring element of cv::dilate (default border: out-of-image is ignored).
  int dilate_size = 5;             // odd, 1..31
  SmoothBlur blur = SmoothBlur::Gaussian;
  int blur_size = 5;               // odd; reads a reflect-101 padded image (np.pad 'reflect')
};

// Throws cgan::Error naming the offending field.
void validate_smooth_options(const SmoothOptions& opt);

// Smooths every image (sizes may differ) on ctx's device. CUDA processes all images of one
// size as a single batch. `out` is resized to in.size(). Empty images are an error.
void edge_smooth(std::vector<Image>& out, const std::vector<Image>& in, const SmoothOptions& opt,
                 Context& ctx);
Image edge_smooth(const Image& in, const SmoothOptions& opt, Context& ctx);

// The intermediate maps, for tests and debugging: HxW, 0 or 255.
struct EdgeMaps {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> edges;    // Canny output
  std::vector<uint8_t> dilated;  // the mask where the blur is applied
};
std::vector<EdgeMaps> edge_maps(const std::vector<Image>& in, const SmoothOptions& opt,
                                Context& ctx);

// For the trainer: `in` is [N,3,H,W] float32 in [-1,1] on ctx's device, channels in `order`.
// Each image is quantized as a cartoon file would be (round to nearest, clamp to 0..255),
// smoothed, and written back as u8/127.5-1 into `out` ([N,3,H,W] f32 on ctx's device;
// allocated when undefined or of another shape). `out` may be `in`.
void edge_smooth_batch(Tensor& out, const Tensor& in, const SmoothOptions& opt, Context& ctx,
                       ChannelOrder order = ChannelOrder::RGB);

// cv::resize(..., INTER_LINEAR), i.e. what cv2.resize does by default.
Image resize_cv_linear(const Image& in, int width, int height);
// [left | right] horizontally (the seed's np.concatenate(..., 1)); heights must match.
Image side_by_side(const Image& left, const Image& right);

}  // namespace cgan
