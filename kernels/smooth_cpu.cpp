#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <vector>

#include "kernels/smooth.hpp"
#include "kernels/smooth_math.hpp"

namespace cgan::cpu {

namespace {

// The seed's numpy loop, in exact integer arithmetic: its float64 sum of uint8 * dyadic
// weights is exact, and assigning it to uint8 truncates, i.e. floor(sum / weight_total).
void masked_blur(uint8_t* out, const uint8_t* in, const uint8_t* mask, int h, int w,
                 const SmoothOptions& opt) {
  const int k = opt.blur_size, r = k / 2;
  const bool gauss = opt.blur == SmoothBlur::Gaussian;
  const int total = gauss ? smooth::gaussian_weight_sum(k) * smooth::gaussian_weight_sum(k)
                          : k * k;
  std::vector<int> rows(static_cast<size_t>(k)), cols(static_cast<size_t>(k));
  for (int y = 0; y < h; ++y) {
    for (int i = 0; i < k; ++i) rows[size_t(i)] = smooth::reflect101_index(y - r + i, h);
    for (int x = 0; x < w; ++x) {
      const size_t p = static_cast<size_t>(y) * w + x;
      if (mask[p] == 0) {
        for (int c = 0; c < 3; ++c) out[p * 3 + c] = in[p * 3 + c];
        continue;
      }
      for (int j = 0; j < k; ++j) cols[size_t(j)] = smooth::reflect101_index(x - r + j, w);
      int sum[3] = {0, 0, 0};
      for (int i = 0; i < k; ++i) {
        const int wi = gauss ? smooth::gaussian_weight(k, i) : 1;
        for (int j = 0; j < k; ++j) {
          const int wij = wi * (gauss ? smooth::gaussian_weight(k, j) : 1);
          const uint8_t* q = in + (static_cast<size_t>(rows[size_t(i)]) * w + cols[size_t(j)]) * 3;
          for (int c = 0; c < 3; ++c) sum[c] += wij * q[c];
        }
      }
      for (int c = 0; c < 3; ++c) out[p * 3 + c] = static_cast<uint8_t>(sum[c] / total);
    }
  }
}

}  // namespace

void edge_smooth_u8(uint8_t* out, uint8_t* edges, uint8_t* dilated, const uint8_t* in, int h,
                    int w, int red_channel, const SmoothOptions& opt) {
  validate_smooth_options(opt);
  // OpenCV's Mat header does not write through a const pointer; nothing below modifies it.
  const cv::Mat src(h, w, CV_8UC3, const_cast<uint8_t*>(in));
  cv::Mat gray;
  cv::cvtColor(src, gray, red_channel == 0 ? cv::COLOR_RGB2GRAY : cv::COLOR_BGR2GRAY);
  cv::Mat edge_map;
  cv::Canny(gray, edge_map, opt.canny_low, opt.canny_high, opt.canny_aperture,
            opt.canny_l2_gradient);
  cv::Mat mask;
  cv::dilate(edge_map, mask, cv::Mat::ones(opt.dilate_size, opt.dilate_size, CV_8U));
  // copyTo into a header of the same size and type writes into the caller's buffer.
  if (edges) edge_map.copyTo(cv::Mat(h, w, CV_8U, edges));
  if (dilated) mask.copyTo(cv::Mat(h, w, CV_8U, dilated));
  if (out) masked_blur(out, in, mask.ptr<uint8_t>(), h, w, opt);
}

}  // namespace cgan::cpu
