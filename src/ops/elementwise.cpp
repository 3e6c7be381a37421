#include "cgan/ops.hpp"
#include "cgan/profile.hpp"
#include "kernels/elementwise.hpp"
#include "ops/check.hpp"

namespace cgan::ops {

using detail::check_same_shape;
using detail::check_tensor;

namespace {
void check_unary(const Tensor& out, const Tensor& in, const char* op, const Context& ctx) {
  check_tensor(out, op, "out", ctx);
  check_tensor(in, op, "in", ctx);
  check_same_shape(out, "out", in, "in", op);
}
void check_bwd(const Tensor& d_in, const Tensor& d_out, const Tensor& out, const char* op,
               const Context& ctx) {
  check_tensor(d_in, op, "d_in", ctx);
  check_tensor(d_out, op, "d_out", ctx);
  check_tensor(out, op, "out", ctx);
  check_same_shape(d_in, "d_in", d_out, "d_out", op);
  check_same_shape(out, "out", d_out, "d_out", op);
}
}  // namespace

void relu_forward(Tensor& out, const Tensor& in, Context& ctx) {
  check_unary(out, in, "relu_forward", ctx);
  ProfileScope prof(ctx, "act.fwd");
  if (ctx.is_cuda())
    kernels::relu_forward(out.f32(), in.f32(), in.numel(), ctx.stream());
  else
    cpu::relu_forward(out.f32(), in.f32(), in.numel());
}

void relu_backward(Tensor& d_in, const Tensor& d_out, const Tensor& out, Context& ctx) {
  check_bwd(d_in, d_out, out, "relu_backward", ctx);
  ProfileScope prof(ctx, "act.bwd");
  if (ctx.is_cuda())
    kernels::relu_backward(d_in.f32(), d_out.f32(), out.f32(), out.numel(), ctx.stream());
  else
    cpu::relu_backward(d_in.f32(), d_out.f32(), out.f32(), out.numel());
}

void leaky_relu_forward(Tensor& out, const Tensor& in, float slope, Context& ctx) {
  check_unary(out, in, "leaky_relu_forward", ctx);
  ProfileScope prof(ctx, "act.fwd");
  if (ctx.is_cuda())
    kernels::leaky_relu_forward(out.f32(), in.f32(), slope, in.numel(), ctx.stream());
  else
    cpu::leaky_relu_forward(out.f32(), in.f32(), slope, in.numel());
}

void leaky_relu_backward(Tensor& d_in, const Tensor& d_out, const Tensor& out, float slope,
                         Context& ctx) {
  check_bwd(d_in, d_out, out, "leaky_relu_backward", ctx);
  CGAN_CHECK(slope > 0.f, "leaky_relu_backward: slope must be > 0 (the mask is read from the "
                          "output), got " << slope);
  ProfileScope prof(ctx, "act.bwd");
  if (ctx.is_cuda())
    kernels::leaky_relu_backward(d_in.f32(), d_out.f32(), out.f32(), slope, out.numel(),
                                 ctx.stream());
  else
    cpu::leaky_relu_backward(d_in.f32(), d_out.f32(), out.f32(), slope, out.numel());
}

void tanh_forward(Tensor& out, const Tensor& in, Context& ctx) {
  check_unary(out, in, "tanh_forward", ctx);
  ProfileScope prof(ctx, "act.fwd");
  if (ctx.is_cuda())
    kernels::tanh_forward(out.f32(), in.f32(), in.numel(), ctx.stream());
  else
    cpu::tanh_forward(out.f32(), in.f32(), in.numel());
}

void tanh_backward(Tensor& d_in, const Tensor& d_out, const Tensor& out, Context& ctx) {
  check_bwd(d_in, d_out, out, "tanh_backward", ctx);
  ProfileScope prof(ctx, "act.bwd");
  if (ctx.is_cuda())
    kernels::tanh_backward(d_in.f32(), d_out.f32(), out.f32(), out.numel(), ctx.stream());
  else
    cpu::tanh_backward(d_in.f32(), d_out.f32(), out.f32(), out.numel());
}

void add(Tensor& out, const Tensor& a, const Tensor& b, Context& ctx) {
  check_tensor(out, "add", "out", ctx);
  check_tensor(a, "add", "a", ctx);
  check_tensor(b, "add", "b", ctx);
  check_same_shape(a, "a", b, "b", "add");
  check_same_shape(out, "out", a, "a", "add");
  ProfileScope prof(ctx, "elementwise");
  if (ctx.is_cuda())
    kernels::add(out.f32(), a.f32(), b.f32(), a.numel(), ctx.stream());
  else
    cpu::add(out.f32(), a.f32(), b.f32(), a.numel());
}

void add_inplace(Tensor& a, const Tensor& b, Context& ctx) {
  check_tensor(a, "add_inplace", "a", ctx);
  check_tensor(b, "add_inplace", "b", ctx);
  check_same_shape(a, "a", b, "b", "add_inplace");
  ProfileScope prof(ctx, "elementwise");
  if (ctx.is_cuda())
    kernels::add(a.f32(), a.f32(), b.f32(), a.numel(), ctx.stream());
  else
    cpu::add(a.f32(), a.f32(), b.f32(), a.numel());
}

void axpy(Tensor& y, float alpha, const Tensor& x, Context& ctx) {
  check_tensor(y, "axpy", "y", ctx);
  check_tensor(x, "axpy", "x", ctx);
  check_same_shape(y, "y", x, "x", "axpy");
  ProfileScope prof(ctx, "elementwise");
  if (ctx.is_cuda())
    kernels::axpy(y.f32(), alpha, x.f32(), y.numel(), ctx.stream());
  else
    cpu::axpy(y.f32(), alpha, x.f32(), y.numel());
}

void scale_inplace(Tensor& a, float alpha, Context& ctx) {
  check_tensor(a, "scale_inplace", "a", ctx);
  ProfileScope prof(ctx, "elementwise");
  if (ctx.is_cuda())
    kernels::scale(a.f32(), alpha, a.numel(), ctx.stream());
  else
    cpu::scale(a.f32(), alpha, a.numel());
}

}  // namespace cgan::ops
