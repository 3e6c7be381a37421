#pragma once
// Cases of the fused epilogue (kernels/act_pad.hpp) and its plain reference: float64-free,
// written from the definition (reflect, then act(x + b); the gradient as a scatter over the
// padded map in row-major order, then the activation's gradient from the output's sign).
// In float the fused kernels do exactly these operations in this order, so they must agree
// bit for bit; in bf16 they round once at the store, so they must equal the float reference
// rounded to bf16, bit for bit.
#include <cstring>
#include <string>
#include <vector>

#include "cgan/dtype.hpp"
#include "cgan/tensor.hpp"
#include "common/test_util.hpp"

namespace cgan::test {

struct ActPadCase {
  Shape shape;  // [N,C,H,W] unpadded
  int pad;
  float slope;
  bool bias;
  DType dtype;
  Layout layout;
  std::string name() const {
    return shape_str(shape) + " pad " + std::to_string(pad) + " slope " + std::to_string(slope) +
           (bias ? " bias " : " no bias ") + dtype_name(dtype) + " " + layout_name(layout);
  }
};

inline std::vector<ActPadCase> act_pad_cases() {
  std::vector<ActPadCase> v;
  for (const Shape& s : {Shape{2, 5, 7, 9}, Shape{1, 3, 4, 6}, Shape{3, 8, 5, 5}})
    for (int pad : {1, 2})
      for (float slope : {0.2f, 0.f})
        for (bool bias : {true, false})
          for (auto [dt, l] : {std::pair{DType::F32, Layout::NCHW}, std::pair{DType::F32, Layout::NHWC},
                               std::pair{DType::BF16, Layout::NHWC}})
            v.push_back({s, pad, slope, bias, dt, l});
  return v;
}

// A CPU tensor of the case's storage with random values in [-1, 1] (bf16: rounded).
inline Tensor act_pad_random(const Shape& s, const ActPadCase& k, uint64_t seed) {
  const std::vector<float> v = random_vector(size_t(shape_numel(s)), seed);
  Tensor t = Tensor::empty_cpu(s, k.dtype, k.layout);
  for (size_t i = 0; i < v.size(); ++i) {
    if (k.dtype == DType::BF16)
      t.data<bf16>()[i] = from_float<bf16>(v[i]);
    else
      t.f32()[i] = v[i];
  }
  return t;
}

inline float act_pad_at(const Tensor& t, size_t i) {
  return t.dtype() == DType::BF16 ? to_float(t.data<bf16>()[i]) : t.f32()[i];
}

// The reference, in float, as stored values (bf16 cases: rounded to bf16 at the end).
inline std::vector<float> act_pad_reference_forward(const Tensor& x, const float* bias,
                                                    const ActPadCase& k) {
  const int64_t N = k.shape[0], C = k.shape[1], H = k.shape[2], W = k.shape[3];
  const int64_t OH = H + 2 * k.pad, OW = W + 2 * k.pad;
  const bool nhwc = k.layout == Layout::NHWC;
  auto at = [&](int64_t n, int64_t c, int64_t h, int64_t w, int64_t hh, int64_t ww) {
    return nhwc ? ((n * hh + h) * ww + w) * C + c : ((n * C + c) * hh + h) * ww + w;
  };
  auto reflect = [](int64_t i, int64_t n) { return i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i; };
  std::vector<float> out(size_t(N * C * OH * OW));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          const float z = act_pad_at(x, size_t(at(n, c, reflect(oh - k.pad, H),
                                                   reflect(ow - k.pad, W), H, W))) +
                          (bias ? bias[c] : 0.f);
          float y = z > 0.f ? z : k.slope != 0.f ? k.slope * z : 0.f;
          if (k.dtype == DType::BF16) y = to_float(from_float<bf16>(y));
          out[size_t(at(n, c, oh, ow, OH, OW))] = y;
        }
  return out;
}

inline std::vector<float> act_pad_reference_backward(const Tensor& d_out, const Tensor& out,
                                                     const ActPadCase& k) {
  const int64_t N = k.shape[0], C = k.shape[1], H = k.shape[2], W = k.shape[3];
  const int64_t OH = H + 2 * k.pad, OW = W + 2 * k.pad;
  const bool nhwc = k.layout == Layout::NHWC;
  auto at = [&](int64_t n, int64_t c, int64_t h, int64_t w, int64_t hh, int64_t ww) {
    return nhwc ? ((n * hh + h) * ww + w) * C + c : ((n * C + c) * hh + h) * ww + w;
  };
  auto reflect = [](int64_t i, int64_t n) { return i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i; };
  std::vector<float> g(size_t(N * C * H * W), 0.f);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow)
          g[size_t(at(n, c, reflect(oh - k.pad, H), reflect(ow - k.pad, W), H, W))] +=
              act_pad_at(d_out, size_t(at(n, c, oh, ow, OH, OW)));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) {
          float& v = g[size_t(at(n, c, h, w, H, W))];
          const float y = act_pad_at(out, size_t(at(n, c, h + k.pad, w + k.pad, OH, OW)));
          v = y > 0.f ? v : k.slope != 0.f ? k.slope * v : 0.f;
          if (k.dtype == DType::BF16) v = to_float(from_float<bf16>(v));
        }
  return g;
}

inline std::vector<float> act_pad_values(const Tensor& t) {
  std::vector<float> v(size_t(t.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = act_pad_at(t, i);
  return v;
}

inline Shape act_pad_padded(const ActPadCase& k) {
  return {k.shape[0], k.shape[1], k.shape[2] + 2 * k.pad, k.shape[3] + 2 * k.pad};
}

}  // namespace cgan::test

#include "cgan/ops.hpp"

namespace cgan::test {

// instance_norm_forward with pad_out against the norm then the padding op, on ctx: the same
// stored values (the padding copies them), so bit for bit; and the backward through the fold
// (bias_act_pad_backward) + the norm without activation against the padding's backward + the
// norm with it: bit for bit in float. Every storage, odd sizes, pads 1-2, each activation,
// with and without affine and residual.
inline int check_norm_pad_fusion(Context& ctx) {
  int ran = 0;
  for (auto [dt, l] : {std::pair{DType::F32, Layout::NCHW}, std::pair{DType::F32, Layout::NHWC},
                       std::pair{DType::BF16, Layout::NHWC}})
    for (const Shape& s : {Shape{2, 5, 7, 9}, Shape{1, 8, 4, 6}})
      for (int pad : {1, 2})
        for (ops::Act act : {ops::Act::None, ops::Act::ReLU, ops::Act::LeakyReLU})
          for (bool extras : {false, true}) {
            const ActPadCase k{s, pad, 0.2f, false, dt, l};
            INFO(k.name() << " act " << int(act) << (extras ? " affine+residual" : ""));
            const Tensor x = act_pad_random(s, k, 21).to(ctx);
            const Tensor res = act_pad_random(s, k, 22).to(ctx);
            const Tensor scale = random_tensor({s[1]}, 23).to(ctx);
            const Tensor shift = random_tensor({s[1]}, 24).to(ctx);
            const Tensor* sc = extras ? &scale : nullptr;
            const Tensor* sh = extras ? &shift : nullptr;
            const Tensor* rs = extras ? &res : nullptr;
            const Shape ps = act_pad_padded(k);
            Tensor mean = Tensor::empty({s[0] * s[1]}, ctx), rstd = Tensor::empty({s[0] * s[1]}, ctx);
            Tensor fused = Tensor::empty(ps, ctx, dt, l);
            ops::instance_norm_forward(fused, mean, rstd, x, sc, sh, rs, 1e-5f, act, 0.2f, ctx, pad);
            Tensor y = Tensor::empty(s, ctx, dt, l), unfused = Tensor::empty(ps, ctx, dt, l);
            Tensor mean2 = Tensor::empty({s[0] * s[1]}, ctx), rstd2 = Tensor::empty({s[0] * s[1]}, ctx);
            ops::instance_norm_forward(y, mean2, rstd2, x, sc, sh, rs, 1e-5f, act, 0.2f, ctx);
            if (l == Layout::NHWC)
              ops::reflection_pad_nhwc(unfused, y, pad, ctx);
            else
              ops::reflection_pad_forward(unfused, y, ops::Pad2d::all(pad), ctx);
            const Tensor a = fused.to_cpu(ctx), b = unfused.to_cpu(ctx);
            REQUIRE(std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0);

            if (dt != DType::F32) {  // bf16: the unfused backward rounds once more
              ++ran;
              continue;
            }
            const Tensor d_out = act_pad_random(ps, k, 25).to(ctx);
            const float s_act = act == ops::Act::ReLU ? 0.f : act == ops::Act::LeakyReLU ? 0.2f : 1.f;
            Tensor dy = Tensor::empty(s, ctx, dt, l), dx_f = Tensor::empty(s, ctx, dt, l);
            ops::bias_act_pad_backward(dy, d_out, fused, s_act, pad, ctx);
            ops::instance_norm_backward(dx_f, nullptr, nullptr, dy, x, mean, rstd, sc, nullptr,
                                        ops::Act::None, 0.f, ctx);
            Tensor d_y = Tensor::empty(s, ctx, dt, l), dx_u = Tensor::empty(s, ctx, dt, l);
            if (l == Layout::NHWC)
              ops::reflection_pad_nhwc_backward(d_y, d_out, pad, ctx);
            else
              ops::reflection_pad_backward(d_y, d_out, ops::Pad2d::all(pad), ctx);
            ops::instance_norm_backward(dx_u, nullptr, nullptr, d_y, x, mean2, rstd2, sc, &y, act,
                                        0.2f, ctx);
            const Tensor c = dx_f.to_cpu(ctx), d = dx_u.to_cpu(ctx);
            REQUIRE(std::memcmp(c.raw(), d.raw(), c.nbytes()) == 0);
            ++ran;
          }
  return ran;
}

}  // namespace cgan::test
