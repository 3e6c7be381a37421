#include "cgan/ops.hpp"
#include "cgan/profile.hpp"
#include "kernels/losses.hpp"
#include "ops/check.hpp"

namespace cgan::ops {

using detail::check_same_shape;
using detail::check_tensor;

namespace {
void check_loss_out(const Tensor& loss, Tensor* grad, const Tensor& x, const char* gname,
                    const char* xname, const char* op, const Context& ctx) {
  check_tensor(loss, op, "loss", ctx);
  CGAN_CHECK(loss.numel() == 1,
             op << ": 'loss' must have 1 element, got shape " << shape_str(loss.shape()));
  CGAN_CHECK(x.numel() > 0, op << ": '" << xname << "' is empty");
  if (grad) {
    check_tensor(*grad, op, gname, ctx);
    check_same_shape(*grad, gname, x, xname, op);
  }
}
}  // namespace

void mse_const_loss(Tensor& loss, Tensor* d_pred, const Tensor& pred, float target,
                    float grad_scale, Context& ctx) {
  const char* op = "mse_const_loss";
  check_tensor(pred, op, "pred", ctx);
  check_loss_out(loss, d_pred, pred, "d_pred", "pred", op, ctx);
  float* g = d_pred ? d_pred->f32() : nullptr;
  ProfileScope prof(ctx, "loss");
  if (ctx.is_cuda()) {
    void* ws = ctx.workspace(kernels::loss_workspace_bytes(pred.numel()));
    kernels::mse_const_loss(loss.f32(), g, pred.f32(), target, grad_scale, pred.numel(), ws,
                            ctx.stream());
  } else {
    cpu::mse_const_loss(loss.f32(), g, pred.f32(), target, grad_scale, pred.numel());
  }
}

void l1_loss(Tensor& loss, Tensor* d_a, const Tensor& a, const Tensor& b, float grad_scale,
             Context& ctx) {
  const char* op = "l1_loss";
  check_tensor(a, op, "a", ctx);
  check_tensor(b, op, "b", ctx);
  check_same_shape(a, "a", b, "b", op);
  check_loss_out(loss, d_a, a, "d_a", "a", op, ctx);
  float* g = d_a ? d_a->f32() : nullptr;
  ProfileScope prof(ctx, "loss");
  if (ctx.is_cuda()) {
    void* ws = ctx.workspace(kernels::loss_workspace_bytes(a.numel()));
    kernels::l1_loss(loss.f32(), g, a.f32(), b.f32(), grad_scale, a.numel(), ws, ctx.stream());
  } else {
    cpu::l1_loss(loss.f32(), g, a.f32(), b.f32(), grad_scale, a.numel());
  }
}

}  // namespace cgan::ops
