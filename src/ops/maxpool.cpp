#include "kernels/maxpool.hpp"

#include "cgan/ops.hpp"
#include "cgan/profile.hpp"
#include "kernels/nhwc.hpp"
#include "ops/check.hpp"

namespace cgan::ops {

using detail::by_storage;
using detail::check_4d;
using detail::check_shape;
using detail::check_storage;
using detail::ptr;

namespace {
void check_pool_input(const Tensor& in, const char* op, const Context& ctx) {
  detail::check_map_input(in, op, ctx);
  check_4d(in, "in", op);
}
}  // namespace

void maxpool2x2_forward(Tensor& out, const Tensor& in, Context& ctx) {
  const char* op = "maxpool2x2_forward";
  check_pool_input(in, op, ctx);
  check_storage(out, op, "out", ctx, in.dtype(), in.layout());
  const int64_t N = in.dim(0), C = in.dim(1), H = in.dim(2), W = in.dim(3);
  check_shape(out, "out", {N, C, H / 2, W / 2}, op);
  ProfileScope prof(ctx, "pool.fwd");
  if (in.layout() == Layout::NHWC) {
    by_storage(in, [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      if (ctx.is_cuda())
        kernels::maxpool2x2_nhwc_forward<T>(ptr<T>(out), ptr<T>(in), N, int(H), int(W), C,
                                            ctx.stream());
      else
        cpu::maxpool2x2_nhwc_forward<T>(ptr<T>(out), ptr<T>(in), N, int(H), int(W), C);
    });
    return;
  }
  if (ctx.is_cuda())
    kernels::maxpool2x2_forward(out.f32(), in.f32(), N * C, int(H), int(W), ctx.stream());
  else
    cpu::maxpool2x2_forward(out.f32(), in.f32(), N * C, int(H), int(W));
}

void maxpool2x2_backward(Tensor& d_in, const Tensor& d_out, const Tensor& in, Context& ctx) {
  const char* op = "maxpool2x2_backward";
  check_pool_input(in, op, ctx);
  check_storage(d_in, op, "d_in", ctx, in.dtype(), in.layout());
  check_storage(d_out, op, "d_out", ctx, in.dtype(), in.layout());
  const int64_t N = in.dim(0), C = in.dim(1), H = in.dim(2), W = in.dim(3);
  check_shape(d_in, "d_in", in.shape(), op);
  check_shape(d_out, "d_out", {N, C, H / 2, W / 2}, op);
  CGAN_CHECK(d_in.raw() != in.raw() && d_in.raw() != d_out.raw(),
             op << ": 'd_in' must not alias 'in' or 'd_out'");
  ProfileScope prof(ctx, "pool.bwd");
  if (in.layout() == Layout::NHWC) {
    by_storage(in, [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      if (ctx.is_cuda())
        kernels::maxpool2x2_nhwc_backward<T>(ptr<T>(d_in), ptr<T>(d_out), ptr<T>(in), N, int(H),
                                             int(W), C, ctx.stream());
      else
        cpu::maxpool2x2_nhwc_backward<T>(ptr<T>(d_in), ptr<T>(d_out), ptr<T>(in), N, int(H),
                                         int(W), C);
    });
    return;
  }
  if (ctx.is_cuda())
    kernels::maxpool2x2_backward(d_in.f32(), d_out.f32(), in.f32(), N * C, int(H), int(W),
                                 ctx.stream());
  else
    cpu::maxpool2x2_backward(d_in.f32(), d_out.f32(), in.f32(), N * C, int(H), int(W));
}

}  // namespace cgan::ops
