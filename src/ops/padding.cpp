#include "cgan/ops.hpp"
#include "cgan/profile.hpp"
#include "kernels/padding.hpp"
#include "ops/check.hpp"

namespace cgan::ops {

using detail::check_4d;
using detail::check_shape;
using detail::check_tensor;

namespace {
struct Dims {
  int64_t planes;
  int H, W;
};

// `small` is the unpadded tensor, `big` the padded one; returns the unpadded geometry.
Dims check_pad(const Tensor& small, const char* small_name, const Tensor& big,
               const char* big_name, Pad2d pad, bool reflect, const char* op,
               const Context& ctx) {
  check_tensor(small, op, small_name, ctx);
  check_tensor(big, op, big_name, ctx);
  check_4d(small, small_name, op);
  CGAN_CHECK(pad.top >= 0 && pad.bottom >= 0 && pad.left >= 0 && pad.right >= 0,
             op << ": padding must be >= 0, got top " << pad.top << " bottom " << pad.bottom
                << " left " << pad.left << " right " << pad.right);
  const int64_t H = small.dim(2), W = small.dim(3);
  if (reflect) {
    CGAN_CHECK(pad.top < H && pad.bottom < H,
               op << ": reflection padding top/bottom (" << pad.top << "/" << pad.bottom
                  << ") must be < the input height " << H);
    CGAN_CHECK(pad.left < W && pad.right < W,
               op << ": reflection padding left/right (" << pad.left << "/" << pad.right
                  << ") must be < the input width " << W);
  }
  const Shape want{small.dim(0), small.dim(1), H + pad.top + pad.bottom,
                   W + pad.left + pad.right};
  check_shape(big, big_name, want, op);
  CGAN_CHECK(small.raw() != big.raw(), op << ": '" << small_name << "' must not alias '"
                                          << big_name << "'");
  return {small.dim(0) * small.dim(1), static_cast<int>(H), static_cast<int>(W)};
}
}  // namespace

void reflection_pad_forward(Tensor& out, const Tensor& in, Pad2d pad, Context& ctx) {
  const Dims d = check_pad(in, "in", out, "out", pad, true, "reflection_pad_forward", ctx);
  ProfileScope prof(ctx, "pad.fwd");
  if (ctx.is_cuda())
    kernels::reflection_pad_forward(out.f32(), in.f32(), d.planes, d.H, d.W, pad.top,
                                    pad.bottom, pad.left, pad.right, ctx.stream());
  else
    cpu::reflection_pad_forward(out.f32(), in.f32(), d.planes, d.H, d.W, pad.top, pad.bottom,
                                pad.left, pad.right);
}

void reflection_pad_backward(Tensor& d_in, const Tensor& d_out, Pad2d pad, Context& ctx) {
  const Dims d =
      check_pad(d_in, "d_in", d_out, "d_out", pad, true, "reflection_pad_backward", ctx);
  ProfileScope prof(ctx, "pad.bwd");
  if (ctx.is_cuda())
    kernels::reflection_pad_backward(d_in.f32(), d_out.f32(), d.planes, d.H, d.W, pad.top,
                                     pad.bottom, pad.left, pad.right, ctx.stream());
  else
    cpu::reflection_pad_backward(d_in.f32(), d_out.f32(), d.planes, d.H, d.W, pad.top,
                                 pad.bottom, pad.left, pad.right);
}

void zero_pad_forward(Tensor& out, const Tensor& in, Pad2d pad, Context& ctx) {
  const Dims d = check_pad(in, "in", out, "out", pad, false, "zero_pad_forward", ctx);
  ProfileScope prof(ctx, "pad.fwd");
  if (ctx.is_cuda())
    kernels::zero_pad_forward(out.f32(), in.f32(), d.planes, d.H, d.W, pad.top, pad.bottom,
                              pad.left, pad.right, ctx.stream());
  else
    cpu::zero_pad_forward(out.f32(), in.f32(), d.planes, d.H, d.W, pad.top, pad.bottom,
                          pad.left, pad.right);
}

void zero_pad_backward(Tensor& d_in, const Tensor& d_out, Pad2d pad, Context& ctx) {
  const Dims d = check_pad(d_in, "d_in", d_out, "d_out", pad, false, "zero_pad_backward", ctx);
  ProfileScope prof(ctx, "pad.bwd");
  if (ctx.is_cuda())
    kernels::zero_pad_backward(d_in.f32(), d_out.f32(), d.planes, d.H, d.W, pad.top,
                               pad.bottom, pad.left, pad.right, ctx.stream());
  else
    cpu::zero_pad_backward(d_in.f32(), d_out.f32(), d.planes, d.H, d.W, pad.top, pad.bottom,
                           pad.left, pad.right);
}

}  // namespace cgan::ops
