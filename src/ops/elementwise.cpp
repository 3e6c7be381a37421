// Elementwise ops: any layout (they do not care where a value lies), F32 or BF16 storage,
// every operand alike; the storage of the first operand named decides.
#include "cgan/ops.hpp"
#include "cgan/profile.hpp"
#include "kernels/elementwise.hpp"
#include "ops/check.hpp"

namespace cgan::ops {

using detail::check_same_shape;
using detail::by_storage;
using detail::check_storage;
using detail::ptr;

namespace {
// The storage `t` has, if an elementwise op takes it; every other operand is checked against it.
void check_first(const Tensor& t, const char* op, const char* name, const Context& ctx) {
  CGAN_CHECK(t.defined(), op << ": tensor '" << name << "' is undefined");
  CGAN_CHECK(t.dtype() == DType::F32 || t.dtype() == DType::BF16,
             op << ": tensor '" << name << "' must be F32 or BF16, got " << dtype_name(t.dtype()));
  check_storage(t, op, name, ctx, t.dtype(), t.layout());
}
void check_like(const Tensor& t, const Tensor& first, const char* op, const char* name,
                const Context& ctx) {
  check_storage(t, op, name, ctx, first.dtype(), first.layout());
}
void check_unary(const Tensor& out, const Tensor& in, const char* op, const Context& ctx) {
  check_first(in, op, "in", ctx);
  check_like(out, in, op, "out", ctx);
  check_same_shape(out, "out", in, "in", op);
}
void check_bwd(const Tensor& d_in, const Tensor& d_out, const Tensor& out, const char* op,
               const Context& ctx) {
  check_first(d_out, op, "d_out", ctx);
  check_like(d_in, d_out, op, "d_in", ctx);
  check_like(out, d_out, op, "out", ctx);
  check_same_shape(d_in, "d_in", d_out, "d_out", op);
  check_same_shape(out, "out", d_out, "d_out", op);
}

}  // namespace

void relu_forward(Tensor& out, const Tensor& in, Context& ctx) {
  check_unary(out, in, "relu_forward", ctx);
  ProfileScope prof(ctx, "act.fwd");
  by_storage(in, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (ctx.is_cuda())
      kernels::relu_forward(ptr<T>(out), ptr<T>(in), in.numel(), ctx.stream());
    else
      cpu::relu_forward(ptr<T>(out), ptr<T>(in), in.numel());
  });
}

void relu_backward(Tensor& d_in, const Tensor& d_out, const Tensor& out, Context& ctx) {
  check_bwd(d_in, d_out, out, "relu_backward", ctx);
  ProfileScope prof(ctx, "act.bwd");
  by_storage(d_out, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (ctx.is_cuda())
      kernels::relu_backward(ptr<T>(d_in), ptr<T>(d_out), ptr<T>(out), out.numel(), ctx.stream());
    else
      cpu::relu_backward(ptr<T>(d_in), ptr<T>(d_out), ptr<T>(out), out.numel());
  });
}

void leaky_relu_forward(Tensor& out, const Tensor& in, float slope, Context& ctx) {
  check_unary(out, in, "leaky_relu_forward", ctx);
  ProfileScope prof(ctx, "act.fwd");
  by_storage(in, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (ctx.is_cuda())
      kernels::leaky_relu_forward(ptr<T>(out), ptr<T>(in), slope, in.numel(), ctx.stream());
    else
      cpu::leaky_relu_forward(ptr<T>(out), ptr<T>(in), slope, in.numel());
  });
}

void leaky_relu_backward(Tensor& d_in, const Tensor& d_out, const Tensor& out, float slope,
                         Context& ctx) {
  check_bwd(d_in, d_out, out, "leaky_relu_backward", ctx);
  CGAN_CHECK(slope > 0.f, "leaky_relu_backward: slope must be > 0 (the mask is read from the "
                          "output), got " << slope);
  ProfileScope prof(ctx, "act.bwd");
  by_storage(d_out, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (ctx.is_cuda())
      kernels::leaky_relu_backward(ptr<T>(d_in), ptr<T>(d_out), ptr<T>(out), slope, out.numel(),
                                   ctx.stream());
    else
      cpu::leaky_relu_backward(ptr<T>(d_in), ptr<T>(d_out), ptr<T>(out), slope, out.numel());
  });
}

void tanh_forward(Tensor& out, const Tensor& in, Context& ctx) {
  check_unary(out, in, "tanh_forward", ctx);
  ProfileScope prof(ctx, "act.fwd");
  by_storage(in, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (ctx.is_cuda())
      kernels::tanh_forward(ptr<T>(out), ptr<T>(in), in.numel(), ctx.stream());
    else
      cpu::tanh_forward(ptr<T>(out), ptr<T>(in), in.numel());
  });
}

void tanh_backward(Tensor& d_in, const Tensor& d_out, const Tensor& out, Context& ctx) {
  check_bwd(d_in, d_out, out, "tanh_backward", ctx);
  ProfileScope prof(ctx, "act.bwd");
  by_storage(d_out, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (ctx.is_cuda())
      kernels::tanh_backward(ptr<T>(d_in), ptr<T>(d_out), ptr<T>(out), out.numel(), ctx.stream());
    else
      cpu::tanh_backward(ptr<T>(d_in), ptr<T>(d_out), ptr<T>(out), out.numel());
  });
}

void add(Tensor& out, const Tensor& a, const Tensor& b, Context& ctx) {
  check_first(a, "add", "a", ctx);
  check_like(b, a, "add", "b", ctx);
  check_like(out, a, "add", "out", ctx);
  check_same_shape(a, "a", b, "b", "add");
  check_same_shape(out, "out", a, "a", "add");
  ProfileScope prof(ctx, "elementwise");
  by_storage(a, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (ctx.is_cuda())
      kernels::add(ptr<T>(out), ptr<T>(a), ptr<T>(b), a.numel(), ctx.stream());
    else
      cpu::add(ptr<T>(out), ptr<T>(a), ptr<T>(b), a.numel());
  });
}

void add_inplace(Tensor& a, const Tensor& b, Context& ctx) {
  check_first(a, "add_inplace", "a", ctx);
  check_like(b, a, "add_inplace", "b", ctx);
  check_same_shape(a, "a", b, "b", "add_inplace");
  ProfileScope prof(ctx, "elementwise");
  by_storage(a, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (ctx.is_cuda())
      kernels::add(ptr<T>(a), ptr<T>(a), ptr<T>(b), a.numel(), ctx.stream());
    else
      cpu::add(ptr<T>(a), ptr<T>(a), ptr<T>(b), a.numel());
  });
}

void axpy(Tensor& y, float alpha, const Tensor& x, Context& ctx) {
  check_first(y, "axpy", "y", ctx);
  check_like(x, y, "axpy", "x", ctx);
  check_same_shape(y, "y", x, "x", "axpy");
  ProfileScope prof(ctx, "elementwise");
  by_storage(y, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (ctx.is_cuda())
      kernels::axpy(ptr<T>(y), alpha, ptr<T>(x), y.numel(), ctx.stream());
    else
      cpu::axpy(ptr<T>(y), alpha, ptr<T>(x), y.numel());
  });
}

void scale_inplace(Tensor& a, float alpha, Context& ctx) {
  check_first(a, "scale_inplace", "a", ctx);
  ProfileScope prof(ctx, "elementwise");
  by_storage(a, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    if (ctx.is_cuda())
      kernels::scale(ptr<T>(a), alpha, a.numel(), ctx.stream());
    else
      cpu::scale(ptr<T>(a), alpha, a.numel());
  });
}

}  // namespace cgan::ops
