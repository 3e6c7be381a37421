#include "cgan/ops.hpp"
#include "cgan/profile.hpp"
#include "kernels/maxpool.hpp"
#include "ops/check.hpp"

namespace cgan::ops {

using detail::check_4d;
using detail::check_shape;
using detail::check_tensor;

void maxpool2x2_forward(Tensor& out, const Tensor& in, Context& ctx) {
  const char* op = "maxpool2x2_forward";
  check_tensor(in, op, "in", ctx);
  check_tensor(out, op, "out", ctx);
  check_4d(in, "in", op);
  const int64_t H = in.dim(2), W = in.dim(3);
  check_shape(out, "out", {in.dim(0), in.dim(1), H / 2, W / 2}, op);
  ProfileScope prof(ctx, "pool.fwd");
  if (ctx.is_cuda())
    kernels::maxpool2x2_forward(out.f32(), in.f32(), in.dim(0) * in.dim(1), int(H), int(W),
                                ctx.stream());
  else
    cpu::maxpool2x2_forward(out.f32(), in.f32(), in.dim(0) * in.dim(1), int(H), int(W));
}

void maxpool2x2_backward(Tensor& d_in, const Tensor& d_out, const Tensor& in, Context& ctx) {
  const char* op = "maxpool2x2_backward";
  check_tensor(in, op, "in", ctx);
  check_tensor(d_in, op, "d_in", ctx);
  check_tensor(d_out, op, "d_out", ctx);
  check_4d(in, "in", op);
  const int64_t H = in.dim(2), W = in.dim(3);
  check_shape(d_in, "d_in", in.shape(), op);
  check_shape(d_out, "d_out", {in.dim(0), in.dim(1), H / 2, W / 2}, op);
  CGAN_CHECK(d_in.raw() != in.raw() && d_in.raw() != d_out.raw(),
             op << ": 'd_in' must not alias 'in' or 'd_out'");
  ProfileScope prof(ctx, "pool.bwd");
  if (ctx.is_cuda())
    kernels::maxpool2x2_backward(d_in.f32(), d_out.f32(), in.f32(), in.dim(0) * in.dim(1),
                                 int(H), int(W), ctx.stream());
  else
    cpu::maxpool2x2_backward(d_in.f32(), d_out.f32(), in.f32(), in.dim(0) * in.dim(1), int(H),
                             int(W));
}

}  // namespace cgan::ops
