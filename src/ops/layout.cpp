// The channels-last ops of the bf16 path: layout conversions at its boundary, bias add and
// reflection padding in NHWC. Maps are F32 or BF16 NHWC unless said otherwise.
#include "cgan/ops.hpp"
#include "cgan/profile.hpp"
#include "kernels/nhwc.hpp"
#include "ops/check.hpp"

namespace cgan::ops {

using detail::by_storage;
using detail::check_4d;
using detail::check_shape;
using detail::check_storage;
using detail::check_tensor;
using detail::ptr;

namespace {
void check_nhwc_map(const Tensor& t, const char* op, const char* name, const Context& ctx) {
  CGAN_CHECK(t.defined(), op << ": tensor '" << name << "' is undefined");
  CGAN_CHECK(t.layout() == Layout::NHWC && (t.dtype() == DType::F32 || t.dtype() == DType::BF16),
             op << ": '" << name << "' must be F32 or BF16 NHWC, got " << dtype_name(t.dtype())
                << " " << layout_name(t.layout()));
  check_storage(t, op, name, ctx, t.dtype(), Layout::NHWC);
}
}  // namespace

void to_nhwc(Tensor& out, const Tensor& in, Context& ctx) {
  const char* op = "to_nhwc";
  check_tensor(in, op, "in", ctx);
  check_4d(in, "in", op);
  check_nhwc_map(out, op, "out", ctx);
  check_shape(out, "out", in.shape(), op);
  const int64_t N = in.dim(0), C = in.dim(1), HW = in.dim(2) * in.dim(3);
  ProfileScope prof(ctx, "layout");
  by_storage(out, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (ctx.is_cuda())
      kernels::nchw_to_nhwc<T>(ptr<T>(out), in.f32(), N, C, HW, ctx.stream());
    else
      cpu::nchw_to_nhwc<T>(ptr<T>(out), in.f32(), N, C, HW);
  });
}

void to_nchw(Tensor& out, const Tensor& in, const Tensor* bias, bool tanh, Context& ctx) {
  const char* op = "to_nchw";
  check_nhwc_map(in, op, "in", ctx);
  check_tensor(out, op, "out", ctx);
  check_shape(out, "out", in.shape(), op);
  const int64_t N = in.dim(0), C = in.dim(1), HW = in.dim(2) * in.dim(3);
  if (bias) {
    check_tensor(*bias, op, "bias", ctx);
    CGAN_CHECK(bias->numel() == C,
               op << ": 'bias' must have " << C << " elements, got " << bias->numel());
  }
  const float* b = bias ? bias->f32() : nullptr;
  ProfileScope prof(ctx, "layout");
  by_storage(in, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (ctx.is_cuda())
      kernels::nhwc_to_nchw<T>(out.f32(), ptr<T>(in), b, tanh, N, C, HW, ctx.stream());
    else
      cpu::nhwc_to_nchw<T>(out.f32(), ptr<T>(in), b, tanh, N, C, HW);
  });
}

void reflection_pad_nhwc(Tensor& out, const Tensor& in, int pad, Context& ctx) {
  const char* op = "reflection_pad_nhwc";
  check_nhwc_map(in, op, "in", ctx);
  check_storage(out, op, "out", ctx, in.dtype(), Layout::NHWC);
  const int64_t N = in.dim(0), C = in.dim(1), H = in.dim(2), W = in.dim(3);
  CGAN_CHECK(pad >= 0 && pad < H && pad < W, op << ": reflection padding " << pad
                                                << " must be >= 0 and < the input's " << H << "x"
                                                << W);
  check_shape(out, "out", {N, C, H + 2 * pad, W + 2 * pad}, op);
  CGAN_CHECK(out.raw() != in.raw(), op << ": 'out' must not alias 'in'");
  ProfileScope prof(ctx, "pad.fwd");
  by_storage(in, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (ctx.is_cuda())
      kernels::reflection_pad_nhwc<T>(ptr<T>(out), ptr<T>(in), N, int(H), int(W), C, pad,
                                      ctx.stream());
    else
      cpu::reflection_pad_nhwc<T>(ptr<T>(out), ptr<T>(in), N, int(H), int(W), C, pad);
  });
}

void reflection_pad_nhwc_backward(Tensor& d_in, const Tensor& d_out, int pad, Context& ctx) {
  const char* op = "reflection_pad_nhwc_backward";
  check_nhwc_map(d_out, op, "d_out", ctx);
  check_storage(d_in, op, "d_in", ctx, d_out.dtype(), Layout::NHWC);
  const int64_t N = d_in.dim(0), C = d_in.dim(1), H = d_in.dim(2), W = d_in.dim(3);
  CGAN_CHECK(pad >= 0 && pad < H && pad < W, op << ": reflection padding " << pad
                                                << " must be >= 0 and < the input's " << H << "x"
                                                << W);
  check_shape(d_out, "d_out", {N, C, H + 2 * pad, W + 2 * pad}, op);
  CGAN_CHECK(d_out.raw() != d_in.raw(), op << ": 'd_in' must not alias 'd_out'");
  ProfileScope prof(ctx, "pad.bwd");
  by_storage(d_out, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (ctx.is_cuda())
      kernels::reflection_pad_nhwc_backward<T>(ptr<T>(d_in), ptr<T>(d_out), N, int(H), int(W), C,
                                               pad, ctx.stream());
    else
      cpu::reflection_pad_nhwc_backward<T>(ptr<T>(d_in), ptr<T>(d_out), N, int(H), int(W), C,
                                           pad);
  });
}

}  // namespace cgan::ops
