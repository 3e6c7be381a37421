#include "cgan/conv.hpp"

#include <cblas.h>

#include <cstring>
#include <vector>

#include "cgan/profile.hpp"
#include "layers/conv_impl.hpp"

namespace cgan {
namespace detail {
namespace {

// col[(c*kh + i)*kw + j][oy*wy + ox] = x[c][oy*s - p + i][ox*s - p + j] (0 outside).
void im2col(float* col, const float* x, const ConvGeom& g) {
  const int64_t hw = g.hy * g.wy;
  for (int64_t c = 0; c < g.cx; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        float* dst = col + ((c * g.kh + i) * g.kw + j) * hw;
        const float* plane = x + c * g.hx * g.wx;
        for (int64_t oy = 0; oy < g.hy; ++oy) {
          const int64_t iy = oy * g.stride - g.pad + i;
          float* row = dst + oy * g.wy;
          if (iy < 0 || iy >= g.hx) {
            std::memset(row, 0, sizeof(float) * static_cast<size_t>(g.wy));
            continue;
          }
          const float* src = plane + iy * g.wx;
          for (int64_t ox = 0; ox < g.wy; ++ox) {
            const int64_t ix = ox * g.stride - g.pad + j;
            row[ox] = (ix >= 0 && ix < g.wx) ? src[ix] : 0.0f;
          }
        }
      }
}

// The adjoint of im2col: x[c][iy][ix] += col[...] (x must be zeroed by the caller).
void col2im(float* x, const float* col, const ConvGeom& g) {
  const int64_t hw = g.hy * g.wy;
  for (int64_t c = 0; c < g.cx; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        const float* src = col + ((c * g.kh + i) * g.kw + j) * hw;
        float* plane = x + c * g.hx * g.wx;
        for (int64_t oy = 0; oy < g.hy; ++oy) {
          const int64_t iy = oy * g.stride - g.pad + i;
          if (iy < 0 || iy >= g.hx) continue;
          float* dst = plane + iy * g.wx;
          const float* row = src + oy * g.wy;
          for (int64_t ox = 0; ox < g.wy; ++ox) {
            const int64_t ix = ox * g.stride - g.pad + j;
            if (ix >= 0 && ix < g.wx) dst[ix] += row[ox];
          }
        }
      }
}

// A 1x1 stride-1 unpadded conv needs no im2col: the input plane is already the column matrix.
bool is_pointwise(const ConvGeom& g) {
  return g.kh == 1 && g.kw == 1 && g.stride == 1 && g.pad == 0;
}

// The column matrix of a 450x300 image through a 256-channel 3x3 conv is ~80 MB; reusing one
// per-thread buffer avoids mapping and faulting in fresh pages for every convolution.
float* scratch(int64_t floats) {
  thread_local std::vector<float> buf;
  if (buf.size() < static_cast<size_t>(floats)) buf.resize(static_cast<size_t>(floats));
  return buf.data();
}

}  // namespace

void cpu_conv_x2y(float* y, const float* x, const float* w, const ConvGeom& g) {
  const int64_t K = g.cx * g.kh * g.kw, hw = g.hy * g.wy;
  float* col = is_pointwise(g) ? nullptr : scratch(K * hw);
  for (int64_t n = 0; n < g.n; ++n) {
    const float* xn = x + n * g.cx * g.hx * g.wx;
    const float* b = xn;
    if (col) {
      im2col(col, xn, g);
      b = col;
    }
    // y[cy, hw] = w[cy, K] * col[K, hw]
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(g.cy),
                static_cast<int>(hw), static_cast<int>(K), 1.0f, w, static_cast<int>(K), b,
                static_cast<int>(hw), 0.0f, y + n * g.cy * hw, static_cast<int>(hw));
  }
}

void cpu_conv_y2x(float* x, const float* y, const float* w, const ConvGeom& g) {
  const int64_t K = g.cx * g.kh * g.kw, hw = g.hy * g.wy, xs = g.cx * g.hx * g.wx;
  float* col = is_pointwise(g) ? nullptr : scratch(K * hw);
  for (int64_t n = 0; n < g.n; ++n) {
    float* xn = x + n * xs;
    // col[K, hw] = w^T[K, cy] * y[cy, hw]
    float* c = col ? col : xn;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(K),
                static_cast<int>(hw), static_cast<int>(g.cy), 1.0f, w, static_cast<int>(K),
                y + n * g.cy * hw, static_cast<int>(hw), 0.0f, c, static_cast<int>(hw));
    if (col) {
      std::memset(xn, 0, sizeof(float) * static_cast<size_t>(xs));
      col2im(xn, col, g);
    }
  }
}

void cpu_conv_filter(float* dw, const float* x, const float* dy, const ConvGeom& g) {
  const int64_t K = g.cx * g.kh * g.kw, hw = g.hy * g.wy;
  float* col = is_pointwise(g) ? nullptr : scratch(K * hw);
  for (int64_t n = 0; n < g.n; ++n) {
    const float* xn = x + n * g.cx * g.hx * g.wx;
    const float* b = xn;
    if (col) {
      im2col(col, xn, g);
      b = col;
    }
    // dw[cy, K] += dy[cy, hw] * col^T[hw, K]
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(g.cy),
                static_cast<int>(K), static_cast<int>(hw), 1.0f, dy + n * g.cy * hw,
                static_cast<int>(hw), b, static_cast<int>(hw), 1.0f, dw, static_cast<int>(K));
  }
}

}  // namespace detail

namespace {

void check_f32_4d(const Tensor& t, const char* what) {
  CGAN_CHECK(t.defined(), "conv: " << what << " is undefined");
  CGAN_CHECK(t.dtype() == DType::F32 && t.ndim() == 4,
             "conv: " << what << " must be a 4-D float32 tensor, got " << t.str());
}

void check_device(const Tensor& t, const char* what, Context& ctx) {
  CGAN_CHECK(t.device() == ctx.device(),
             "conv: " << what << " is on " << t.device().str() << " but the context is on "
                      << ctx.device().str());
}

// The geometry of the underlying (non-transposed) convolution for a layer input/weight.
detail::ConvGeom geometry(const Shape& in, const Shape& weight, const ConvSpec& spec) {
  const Shape out = conv_output_shape(in, weight, spec);
  detail::ConvGeom g;
  const Shape& x = spec.transposed ? out : in;
  const Shape& y = spec.transposed ? in : out;
  g.n = x[0];
  g.cx = x[1];
  g.hx = x[2];
  g.wx = x[3];
  g.cy = y[1];
  g.hy = y[2];
  g.wy = y[3];
  g.kh = weight[2];
  g.kw = weight[3];
  g.stride = spec.stride;
  g.pad = spec.pad;
  return g;
}

void bias_add_cpu(float* out, const float* bias, int64_t n, int64_t c, int64_t hw) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < c; ++k) {
      float* p = out + (i * c + k) * hw;
      for (int64_t j = 0; j < hw; ++j) p[j] += bias[k];
    }
}

void bias_grad_cpu(float* d_bias, const float* d_out, int64_t n, int64_t c, int64_t hw) {
  for (int64_t k = 0; k < c; ++k) {
    double s = 0;  // double: the sum runs over up to millions of pixels
    for (int64_t i = 0; i < n; ++i) {
      const float* p = d_out + (i * c + k) * hw;
      for (int64_t j = 0; j < hw; ++j) s += p[j];
    }
    d_bias[k] += static_cast<float>(s);
  }
}

}  // namespace

Shape conv_output_shape(const Shape& in, const Shape& weight, const ConvSpec& spec) {
  CGAN_CHECK(in.size() == 4 && weight.size() == 4,
             "conv: expected 4-D input and weight, got " << shape_str(in) << " and "
                                                          << shape_str(weight));
  CGAN_CHECK(spec.stride >= 1 && spec.pad >= 0 && spec.output_padding >= 0,
             "conv: invalid stride " << spec.stride << " / pad " << spec.pad);
  CGAN_CHECK(!spec.transposed ? spec.output_padding == 0 : spec.output_padding < spec.stride,
             "conv: output_padding " << spec.output_padding << " needs a transposed conv with "
                                     << "output_padding < stride (" << spec.stride << ")");
  const int64_t cin = spec.transposed ? weight[0] : weight[1];
  const int64_t cout = spec.transposed ? weight[1] : weight[0];
  CGAN_CHECK(in[1] == cin, "conv: input " << shape_str(in) << " has " << in[1]
                                          << " channels but the weight " << shape_str(weight)
                                          << " expects " << cin);
  const int64_t kh = weight[2], kw = weight[3], s = spec.stride, p = spec.pad;
  int64_t ho, wo;
  if (spec.transposed) {
    ho = (in[2] - 1) * s - 2 * p + kh + spec.output_padding;
    wo = (in[3] - 1) * s - 2 * p + kw + spec.output_padding;
  } else {
    CGAN_CHECK(in[2] + 2 * p >= kh && in[3] + 2 * p >= kw,
               "conv: input " << shape_str(in) << " (padded by " << p
                              << ") is smaller than the kernel " << shape_str(weight));
    ho = (in[2] + 2 * p - kh) / s + 1;
    wo = (in[3] + 2 * p - kw) / s + 1;
  }
  CGAN_CHECK(ho > 0 && wo > 0, "conv: empty output for input " << shape_str(in) << " weight "
                                                                << shape_str(weight));
  return {in[0], cout, ho, wo};
}

void conv_forward(Tensor& out, const Tensor& in, const Tensor& weight, const Tensor* bias,
                  const ConvSpec& spec, Context& ctx) {
  check_f32_4d(in, "input");
  check_f32_4d(weight, "weight");
  check_f32_4d(out, "output");
  const Shape os = conv_output_shape(in.shape(), weight.shape(), spec);
  CGAN_CHECK(out.shape() == os, "conv_forward: output is " << shape_str(out.shape())
                                                           << ", expected " << shape_str(os));
  for (const Tensor* t : std::initializer_list<const Tensor*>{&out, &in, &weight})
    check_device(*t, "tensor", ctx);
  if (bias) {
    CGAN_CHECK(bias->numel() == os[1] && bias->dtype() == DType::F32,
               "conv_forward: bias " << bias->str() << " does not match " << os[1]
                                     << " output channels");
    check_device(*bias, "bias", ctx);
  }
  const detail::ConvGeom g = geometry(in.shape(), weight.shape(), spec);
  ProfileScope prof(ctx, "conv.fwd");
  if (ctx.is_cuda()) {
    if (spec.transposed)
      detail::cudnn_conv(detail::ConvPass::YtoX, out.f32(), in.f32(), weight.f32(), g, ctx);
    else
      detail::cudnn_conv(detail::ConvPass::XtoY, in.f32(), out.f32(), weight.f32(), g, ctx);
    if (bias) detail::cudnn_bias_add(out.f32(), bias->f32(), os[0], os[1], os[2], os[3], ctx);
    return;
  }
  if (spec.transposed)
    detail::cpu_conv_y2x(out.f32(), in.f32(), weight.f32(), g);
  else
    detail::cpu_conv_x2y(out.f32(), in.f32(), weight.f32(), g);
  if (bias) bias_add_cpu(out.f32(), bias->f32(), os[0], os[1], os[2] * os[3]);
}

void conv_backward_data(Tensor& d_in, const Tensor& d_out, const Tensor& weight,
                        const ConvSpec& spec, Context& ctx) {
  check_f32_4d(d_in, "d_in");
  check_f32_4d(d_out, "d_out");
  check_f32_4d(weight, "weight");
  const Shape os = conv_output_shape(d_in.shape(), weight.shape(), spec);
  CGAN_CHECK(d_out.shape() == os, "conv_backward_data: d_out is " << shape_str(d_out.shape())
                                                                  << ", expected "
                                                                  << shape_str(os));
  for (const Tensor* t : std::initializer_list<const Tensor*>{&d_in, &d_out, &weight})
    check_device(*t, "tensor", ctx);
  const detail::ConvGeom g = geometry(d_in.shape(), weight.shape(), spec);
  ProfileScope prof(ctx, "conv.bwd_data");
  if (ctx.is_cuda()) {
    if (spec.transposed)
      detail::cudnn_conv(detail::ConvPass::XtoY, d_out.f32(), d_in.f32(), weight.f32(), g, ctx);
    else
      detail::cudnn_conv(detail::ConvPass::YtoX, d_in.f32(), d_out.f32(), weight.f32(), g, ctx);
    return;
  }
  if (spec.transposed)
    detail::cpu_conv_x2y(d_in.f32(), d_out.f32(), weight.f32(), g);
  else
    detail::cpu_conv_y2x(d_in.f32(), d_out.f32(), weight.f32(), g);
}

void conv_backward_filter(Tensor& d_weight, Tensor* d_bias, const Tensor& d_out, const Tensor& in,
                          const ConvSpec& spec, Context& ctx) {
  check_f32_4d(d_weight, "d_weight");
  check_f32_4d(d_out, "d_out");
  check_f32_4d(in, "input");
  const Shape os = conv_output_shape(in.shape(), d_weight.shape(), spec);
  CGAN_CHECK(d_out.shape() == os, "conv_backward_filter: d_out is "
                                      << shape_str(d_out.shape()) << ", expected "
                                      << shape_str(os));
  for (const Tensor* t : std::initializer_list<const Tensor*>{&d_weight, &d_out, &in})
    check_device(*t, "tensor", ctx);
  if (d_bias) {
    CGAN_CHECK(d_bias->numel() == os[1] && d_bias->dtype() == DType::F32,
               "conv_backward_filter: d_bias " << d_bias->str() << " does not match " << os[1]
                                               << " output channels");
    check_device(*d_bias, "d_bias", ctx);
  }
  const detail::ConvGeom g = geometry(in.shape(), d_weight.shape(), spec);
  // For a transposed conv the forward input plays the role of dy and d_out that of x.
  const Tensor& x = spec.transposed ? d_out : in;
  const Tensor& dy = spec.transposed ? in : d_out;
  ProfileScope prof(ctx, "conv.bwd_filter");
  if (ctx.is_cuda()) {
    detail::cudnn_conv(detail::ConvPass::Filter, x.f32(), dy.f32(), d_weight.f32(), g, ctx);
    if (d_bias) detail::cudnn_bias_grad(d_bias->f32(), d_out.f32(), os[0], os[1], os[2], os[3], ctx);
    return;
  }
  detail::cpu_conv_filter(d_weight.f32(), x.f32(), dy.f32(), g);
  if (d_bias) bias_grad_cpu(d_bias->f32(), d_out.f32(), os[0], os[1], os[2] * os[3]);
}

}  // namespace cgan
