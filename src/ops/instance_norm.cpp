#include "cgan/ops.hpp"
#include "cgan/profile.hpp"
#include "kernels/instance_norm.hpp"
#include "ops/check.hpp"

namespace cgan::ops {

using detail::check_4d;
using detail::check_shape;
using detail::check_tensor;

namespace {
kernels::NormAct to_kernel(Act a) {
  switch (a) {
    case Act::ReLU: return kernels::NormAct::ReLU;
    case Act::LeakyReLU: return kernels::NormAct::LeakyReLU;
    case Act::None: break;
  }
  return kernels::NormAct::None;
}
const float* opt(const Tensor* t) { return t ? t->f32() : nullptr; }
float* opt(Tensor* t) { return t ? t->f32() : nullptr; }
}  // namespace

void instance_norm_forward(Tensor& out, Tensor& mean, Tensor& rstd, const Tensor& in,
                           const Tensor* scale, const Tensor* shift, const Tensor* residual,
                           float eps, Act act, float slope, Context& ctx) {
  const char* op = "instance_norm_forward";
  check_tensor(in, op, "in", ctx);
  check_4d(in, "in", op);
  const int64_t N = in.dim(0), C = in.dim(1), HW = in.dim(2) * in.dim(3);
  check_tensor(out, op, "out", ctx);
  check_shape(out, "out", in.shape(), op);
  check_tensor(mean, op, "mean", ctx);
  check_tensor(rstd, op, "rstd", ctx);
  CGAN_CHECK(mean.numel() == N * C,
             op << ": 'mean' must have N*C = " << N * C << " elements, got " << mean.numel());
  CGAN_CHECK(rstd.numel() == N * C,
             op << ": 'rstd' must have N*C = " << N * C << " elements, got " << rstd.numel());
  if (scale) {
    check_tensor(*scale, op, "scale", ctx);
    CGAN_CHECK(scale->numel() == C, op << ": 'scale' must have C = " << C << " elements, got "
                                       << shape_str(scale->shape()));
  }
  if (shift) {
    check_tensor(*shift, op, "shift", ctx);
    CGAN_CHECK(shift->numel() == C, op << ": 'shift' must have C = " << C << " elements, got "
                                       << shape_str(shift->shape()));
  }
  if (residual) {
    check_tensor(*residual, op, "residual", ctx);
    check_shape(*residual, "residual", in.shape(), op);
  }
  CGAN_CHECK(out.raw() != in.raw(), op << ": 'out' must not alias 'in'");
  CGAN_CHECK(eps > 0.f, op << ": eps must be > 0, got " << eps);
  CGAN_CHECK(HW > 0 || N * C == 0, op << ": empty planes in shape " << shape_str(in.shape()));
  ProfileScope prof(ctx, "norm.fwd");
  if (ctx.is_cuda()) {
    void* ws = ctx.workspace(kernels::instance_norm_workspace_bytes(N, C, HW));
    kernels::instance_norm_forward(out.f32(), mean.f32(), rstd.f32(), in.f32(), opt(scale),
                                   opt(shift), opt(residual), N, C, HW, eps, to_kernel(act),
                                   slope, ws, ctx.stream());
  } else {
    cpu::instance_norm_forward(out.f32(), mean.f32(), rstd.f32(), in.f32(), opt(scale),
                               opt(shift), opt(residual), N, C, HW, eps, to_kernel(act), slope);
  }
}

void instance_norm_backward(Tensor& d_in, Tensor* d_scale, Tensor* d_shift,
                            const Tensor& d_out, const Tensor& in, const Tensor& mean,
                            const Tensor& rstd, const Tensor* scale, const Tensor* out,
                            Act act, float slope, Context& ctx) {
  const char* op = "instance_norm_backward";
  check_tensor(in, op, "in", ctx);
  check_4d(in, "in", op);
  const int64_t N = in.dim(0), C = in.dim(1), HW = in.dim(2) * in.dim(3);
  check_tensor(d_in, op, "d_in", ctx);
  check_shape(d_in, "d_in", in.shape(), op);
  check_tensor(d_out, op, "d_out", ctx);
  check_shape(d_out, "d_out", in.shape(), op);
  check_tensor(mean, op, "mean", ctx);
  check_tensor(rstd, op, "rstd", ctx);
  CGAN_CHECK(mean.numel() == N * C,
             op << ": 'mean' must have N*C = " << N * C << " elements, got " << mean.numel());
  CGAN_CHECK(rstd.numel() == N * C,
             op << ": 'rstd' must have N*C = " << N * C << " elements, got " << rstd.numel());
  const char* names[3] = {"scale", "d_scale", "d_shift"};
  const Tensor* per_c[3] = {scale, d_scale, d_shift};
  for (int i = 0; i < 3; ++i)
    if (per_c[i]) {
      check_tensor(*per_c[i], op, names[i], ctx);
      CGAN_CHECK(per_c[i]->numel() == C, op << ": '" << names[i] << "' must have C = " << C
                                            << " elements, got "
                                            << shape_str(per_c[i]->shape()));
    }
  if (act != Act::None) {
    CGAN_CHECK(out != nullptr, op << ": 'out' (the forward output) is required when the "
                                     "activation is not None");
    check_tensor(*out, op, "out", ctx);
    check_shape(*out, "out", in.shape(), op);
    CGAN_CHECK(act != Act::LeakyReLU || slope > 0.f,
               op << ": LeakyReLU slope must be > 0 (the mask is read from the output), got "
                  << slope);
  }
  CGAN_CHECK(d_in.raw() != d_out.raw() && d_in.raw() != in.raw(),
             op << ": 'd_in' must not alias 'd_out' or 'in'");
  const float* out_p = act != Act::None ? out->f32() : nullptr;
  ProfileScope prof(ctx, "norm.bwd");
  if (ctx.is_cuda()) {
    void* ws = ctx.workspace(kernels::instance_norm_workspace_bytes(N, C, HW));
    kernels::instance_norm_backward(d_in.f32(), opt(d_scale), opt(d_shift), d_out.f32(),
                                    in.f32(), mean.f32(), rstd.f32(), opt(scale), out_p, N, C,
                                    HW, to_kernel(act), slope, ws, ctx.stream());
  } else {
    cpu::instance_norm_backward(d_in.f32(), opt(d_scale), opt(d_shift), d_out.f32(), in.f32(),
                                mean.f32(), rstd.f32(), opt(scale), out_p, N, C, HW,
                                to_kernel(act), slope);
  }
}

}  // namespace cgan::ops
