#pragma once
// Edge smoother stages. CUDA launchers work on a batch of N same-size images in one launch
// per stage; the CPU reference works on one image with OpenCV.
#include <cstdint>

#include "cgan/allocator.hpp"  // Stream
#include "cgan/smooth.hpp"

namespace cgan {

// Where channel c of pixel (x, y) of image i lives in an 8-bit colour buffer:
// base[i*image_stride + (y*w + x)*pixel_stride + c*channel_stride].
// Interleaved HWC: {3*H*W, 3, 1}; planar CHW (tensors): {3*H*W, 1, H*W}.
struct U8ImageLayout {
  int64_t image_stride;
  int64_t pixel_stride;
  int64_t channel_stride;
  int red_channel;   // index of R (0 for RGB, 2 for BGR); B is 2 - red_channel
};

namespace kernels {

// Grayscale + 3x3 Sobel + magnitude + non-maximum suppression + double threshold, fused.
// state: [N,H,W] u8 (smooth::kNotEdge / kWeak / kStrong); src: colour, see layout.
void smooth_canny_nms(uint8_t* state, const uint8_t* src, const U8ImageLayout& layout, int n,
                      int h, int w, int low, int high, bool l2, Stream stream);

// Hysteresis: promotes kWeak pixels 8-connected (through kWeak pixels) to a kStrong one,
// exactly, by iterating tile-local propagation passes until a pass changes nothing.
// state: [N,H,W] u8, in/out; flags: [smooth_hysteresis_flag_count()] i32 device scratch.
// Synchronizes the stream once per group of passes to read the "changed" flag.
int smooth_hysteresis_flag_count();
void smooth_hysteresis(uint8_t* state, int* flags, int n, int h, int w, Stream stream);

// edges (nullable): [N,H,W] u8 255 where state == kStrong else 0.
// dilated: [N,H,W] u8, 255 where a kStrong pixel is in the size x size window else 0.
void smooth_dilate(uint8_t* edges, uint8_t* dilated, const uint8_t* state, int n, int h, int w,
                   int size, Stream stream);

// dst = src except where mask != 0: there the blur of the reflect-101 padded src.
// dst, src: colour with the same layout (not aliased); mask: [N,H,W] u8.
void smooth_masked_blur(uint8_t* dst, const uint8_t* src, const uint8_t* mask,
                        const U8ImageLayout& layout, int n, int h, int w, SmoothBlur blur,
                        int size, Stream stream);

// Tensor <-> 8-bit, element-wise: u8 = clamp(nearbyint((x*0.5+0.5)*255), 0, 255)
// (tensor_to_images' rule) and x = u8/127.5 - 1 (images_to_tensor's rule).
// dst/src: [count].
void smooth_f32_to_u8(uint8_t* dst, const float* src, int64_t count, Stream stream);
void smooth_u8_to_f32(float* dst, const uint8_t* src, int64_t count, Stream stream);

}  // namespace kernels

namespace cpu {

// The OpenCV pipeline for one interleaved 8-bit image (cv::cvtColor, cv::Canny, cv::dilate,
// then the masked blur loop). in, out: [H,W,3] with R at `red_channel`; edges, dilated:
// [H,W] u8 0/255 (either may be null). out may be null (maps only).
void edge_smooth_u8(uint8_t* out, uint8_t* edges, uint8_t* dilated, const uint8_t* in, int h,
                    int w, int red_channel, const SmoothOptions& opt);

}  // namespace cpu
}  // namespace cgan
