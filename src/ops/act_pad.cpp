#include <type_traits>

#include "cgan/ops.hpp"
#include "cgan/profile.hpp"
#include "kernels/act_pad.hpp"
#include "ops/check.hpp"

namespace cgan::ops {

using detail::by_storage;
using detail::check_map_input;
using detail::check_shape;
using detail::check_storage;
using detail::ptr;

namespace {
Shape padded(const Shape& s, int pad) { return {s[0], s[1], s[2] + 2 * pad, s[3] + 2 * pad}; }

void check_geometry(const Tensor& small, const char* op, int pad) {
  CGAN_CHECK(small.ndim() == 4, op << ": expected a 4-D map [N,C,H,W], got " << small.str());
  CGAN_CHECK(pad >= 0 && pad < small.dim(2) && pad < small.dim(3),
             op << ": reflection padding " << pad << " must be >= 0 and < the map's height "
                << small.dim(2) << " and width " << small.dim(3));
}
}  // namespace

void bias_act_pad_forward(Tensor& out, const Tensor& in, const Tensor* bias, float slope, int pad,
                          Context& ctx) {
  const char* op = "bias_act_pad_forward";
  check_map_input(in, op, ctx);
  check_geometry(in, op, pad);
  check_storage(out, op, "out", ctx, in.dtype(), in.layout());
  check_shape(out, "out", padded(in.shape(), pad), op);
  CGAN_CHECK(out.raw() != in.raw(), op << ": 'out' must not alias 'in'");
  if (bias) {
    check_storage(*bias, op, "bias", ctx, DType::F32, Layout::NCHW);
    CGAN_CHECK(bias->numel() == in.dim(1), op << ": bias " << bias->str() << " for "
                                              << in.dim(1) << " channels");
  }
  ProfileScope prof(ctx, "act_pad.fwd");
  const bool nhwc = in.layout() == Layout::NHWC;
  const float* b = bias ? bias->f32() : nullptr;
  const int H = int(in.dim(2)), W = int(in.dim(3));
  by_storage(in, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (ctx.is_cuda())
      kernels::bias_act_pad_forward<T>(ptr<T>(out), ptr<T>(in), b, in.dim(0), in.dim(1), H, W,
                                       pad, slope, nhwc, ctx.stream());
    else
      cpu::bias_act_pad_forward<T>(ptr<T>(out), ptr<T>(in), b, in.dim(0), in.dim(1), H, W, pad,
                                   slope, nhwc);
  });
}

void bias_act_pad_backward(Tensor& d_in, const Tensor& d_out, const Tensor& out, float slope,
                           int pad, Context& ctx) {
  const char* op = "bias_act_pad_backward";
  detail::check_map_input(d_in, op, ctx);
  check_geometry(d_in, op, pad);
  check_storage(d_out, op, "d_out", ctx, d_in.dtype(), d_in.layout());
  check_storage(out, op, "out", ctx, d_in.dtype(), d_in.layout());
  check_shape(d_out, "d_out", padded(d_in.shape(), pad), op);
  check_shape(out, "out", padded(d_in.shape(), pad), op);
  CGAN_CHECK(d_in.raw() != d_out.raw() && d_in.raw() != out.raw(),
             op << ": 'd_in' must not alias 'd_out' or 'out'");
  ProfileScope prof(ctx, "act_pad.bwd");
  const bool nhwc = d_in.layout() == Layout::NHWC;
  const int H = int(d_in.dim(2)), W = int(d_in.dim(3));
  by_storage(d_in, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (ctx.is_cuda())
      kernels::bias_act_pad_backward<T>(ptr<T>(d_in), ptr<T>(d_out), ptr<T>(out), d_in.dim(0),
                                        d_in.dim(1), H, W, pad, slope, nhwc, ctx.stream());
    else
      cpu::bias_act_pad_backward<T>(ptr<T>(d_in), ptr<T>(d_out), ptr<T>(out), d_in.dim(0),
                                    d_in.dim(1), H, W, pad, slope, nhwc);
  });
}

}  // namespace cgan::ops
