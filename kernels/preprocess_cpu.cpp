#include <cmath>

#include "kernels/preprocess.hpp"

namespace cgan::cpu {

void u8_hwc_to_f32_nchw(float* out, const uint8_t* pixels, int64_t N, int64_t HW, bool bgr) {
  for (int64_t n = 0; n < N; ++n)
    for (int c = 0; c < 3; ++c) {
      const int src = bgr ? 2 - c : c;
      float* dst = out + (n * 3 + c) * HW;
      const uint8_t* px = pixels + n * HW * 3;
      for (int64_t i = 0; i < HW; ++i) dst[i] = px[i * 3 + src] / 127.5f - 1.0f;
    }
}

void f32_nchw_to_u8_hwc(uint8_t* pixels, const float* in, int64_t N, int64_t HW, bool bgr) {
  for (int64_t n = 0; n < N; ++n)
    for (int c = 0; c < 3; ++c) {
      const int dst_c = bgr ? 2 - c : c;
      const float* src = in + (n * 3 + c) * HW;
      uint8_t* px = pixels + n * HW * 3;
      for (int64_t i = 0; i < HW; ++i) {
        // volatile keeps the compiler from fusing the multiply-add (the GPU side uses
        // explicitly unfused _rn intrinsics); both must round identically.
        volatile float t = src[i] * 0.5f;
        volatile float u = t + 0.5f;
        const float x = std::nearbyint(u * 255.0f);
        px[i * 3 + dst_c] = std::isnan(x) ? 0 : x <= 0.f ? 0 : x >= 255.f ? 255 : uint8_t(x);
      }
    }
}

}  // namespace cgan::cpu
