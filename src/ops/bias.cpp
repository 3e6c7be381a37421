#include "cgan/ops.hpp"
#include "cgan/profile.hpp"
#include "kernels/bias.hpp"
#include "ops/check.hpp"

namespace cgan::ops {

using detail::check_4d;
using detail::check_tensor;

void bias_add_inplace(Tensor& x, const Tensor& bias, Context& ctx) {
  const char* op = "bias_add_inplace";
  check_tensor(x, op, "x", ctx);
  check_tensor(bias, op, "bias", ctx);
  check_4d(x, "x", op);
  const int64_t N = x.dim(0), C = x.dim(1), HW = x.dim(2) * x.dim(3);
  CGAN_CHECK(bias.numel() == C, op << ": 'bias' must have C = " << C << " elements, got shape "
                                   << shape_str(bias.shape()));
  ProfileScope prof(ctx, "bias");
  if (ctx.is_cuda())
    kernels::bias_add_inplace(x.f32(), bias.f32(), N, C, HW, ctx.stream());
  else
    cpu::bias_add_inplace(x.f32(), bias.f32(), N, C, HW);
}

void bias_backward(Tensor& d_bias, const Tensor& d_out, Context& ctx) {
  const char* op = "bias_backward";
  check_tensor(d_bias, op, "d_bias", ctx);
  check_tensor(d_out, op, "d_out", ctx);
  check_4d(d_out, "d_out", op);
  const int64_t N = d_out.dim(0), C = d_out.dim(1), HW = d_out.dim(2) * d_out.dim(3);
  CGAN_CHECK(d_bias.numel() == C, op << ": 'd_bias' must have C = " << C
                                     << " elements, got shape " << shape_str(d_bias.shape()));
  ProfileScope prof(ctx, "bias");
  if (ctx.is_cuda()) {
    void* ws = ctx.workspace(kernels::bias_backward_workspace_bytes(N, C, HW));
    kernels::bias_backward(d_bias.f32(), d_out.f32(), N, C, HW, ws, ctx.stream());
  } else {
    cpu::bias_backward(d_bias.f32(), d_out.f32(), N, C, HW);
  }
}

}  // namespace cgan::ops
