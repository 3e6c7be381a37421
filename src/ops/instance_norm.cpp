#include <algorithm>
#include <string>

#include "cgan/ops.hpp"
#include "cgan/profile.hpp"
#include "kernels/instance_norm.hpp"
#include "kernels/instance_norm_nhwc.hpp"
#include "ops/check.hpp"

namespace cgan::ops {

using detail::check_4d;
using detail::check_shape;
using detail::check_storage;
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

// The per-plane statistics [N*C] (any shape: errors give the count) and per-channel
// parameters [C] (errors give the shape) both ops take.
void check_count(const Tensor& t, const char* name, int64_t n, const char* what, const char* op,
                 Context& ctx) {
  check_tensor(t, op, name, ctx);
  const bool per_channel = std::string(what) == "C";
  CGAN_CHECK(t.numel() == n, op << ": '" << name << "' must have " << what << " = " << n
                                << " elements, got "
                                << (per_channel ? shape_str(t.shape()) : std::to_string(t.numel())));
}
// The storages instance_norm_forward/backward accept for the maps (in, out, residual and
// their gradients, all alike): F32 NCHW, F32 NHWC, BF16 NHWC. Returns the one `in` has.
struct MapStorage {
  DType dtype;
  Layout layout;
};
MapStorage map_storage(const Tensor& in, const char* op, Context& ctx) {
  detail::check_map_input(in, op, ctx);
  return {in.dtype(), in.layout()};
}

// The arguments instance_norm_forward and instance_norm_apply share.
void check_norm_args(const char* op, const Tensor& out, const Tensor& mean, const Tensor& rstd,
                     const Tensor& in, const Tensor* scale, const Tensor* shift,
                     const Tensor* residual, Context& ctx, MapStorage st, int pad_out = 0) {
  check_storage(in, op, "in", ctx, st.dtype, st.layout);
  check_4d(in, "in", op);
  const int64_t N = in.dim(0), C = in.dim(1);
  check_storage(out, op, "out", ctx, st.dtype, st.layout);
  CGAN_CHECK(pad_out >= 0 && (pad_out == 0 || (pad_out < in.dim(2) && pad_out < in.dim(3))),
             op << ": reflection padding " << pad_out << " must be >= 0 and < the map's height "
                << in.dim(2) << " and width " << in.dim(3));
  check_shape(out, "out",
              {N, C, in.dim(2) + 2 * pad_out, in.dim(3) + 2 * pad_out}, op);
  check_count(mean, "mean", N * C, "N*C", op, ctx);
  check_count(rstd, "rstd", N * C, "N*C", op, ctx);
  if (scale) check_count(*scale, "scale", C, "C", op, ctx);
  if (shift) check_count(*shift, "shift", C, "C", op, ctx);
  if (residual) {
    check_storage(*residual, op, "residual", ctx, st.dtype, st.layout);
    check_shape(*residual, "residual", in.shape(), op);
  }
}

template <typename T>
T* maybe(const Tensor* t) {
  return t ? t->data<T>() : nullptr;
}

// Channels-last maps, either backend, storage T (float or bf16).
template <typename T>
void forward_nhwc(Tensor& out, Tensor& mean, Tensor& rstd, const Tensor& in, const Tensor* scale,
                  const Tensor* shift, const Tensor* residual, float eps, kernels::NormAct act,
                  float slope, Context& ctx, int pad) {
  const int64_t N = in.dim(0), C = in.dim(1), HW = in.dim(2) * in.dim(3);
  const int W = static_cast<int>(in.dim(3));
  if (N * C * HW == 0) return;
  if (ctx.is_cuda()) {
    void* ws = ctx.workspace(kernels::instance_norm_nhwc_workspace_bytes(N, HW, C));
    kernels::instance_norm_nhwc_forward<T>(out.data<T>(), mean.f32(), rstd.f32(), in.data<T>(),
                                           opt(scale), opt(shift), maybe<T>(residual), N, HW, C,
                                           eps, act, slope, ws, ctx.stream(), W, pad);
  } else {
    cpu::instance_norm_nhwc_forward<T>(out.data<T>(), mean.f32(), rstd.f32(), in.data<T>(),
                                       opt(scale), opt(shift), maybe<T>(residual), N, HW, C, eps,
                                       act, slope, W, pad);
  }
}

template <typename T>
void backward_nhwc(Tensor& d_in, Tensor* d_scale, Tensor* d_shift, const Tensor& d_out,
                   const Tensor& in, const Tensor& mean, const Tensor& rstd, const Tensor* scale,
                   const Tensor* out, kernels::NormAct act, float slope, Context& ctx) {
  const int64_t N = in.dim(0), C = in.dim(1), HW = in.dim(2) * in.dim(3);
  if (N * C * HW == 0) return;
  const T* out_p = act != kernels::NormAct::None ? out->data<T>() : nullptr;
  if (ctx.is_cuda()) {
    void* ws = ctx.workspace(kernels::instance_norm_nhwc_workspace_bytes(N, HW, C));
    kernels::instance_norm_nhwc_backward<T>(d_in.data<T>(), opt(d_scale), opt(d_shift),
                                            d_out.data<T>(), in.data<T>(), mean.f32(),
                                            rstd.f32(), opt(scale), out_p, N, HW, C, act, slope,
                                            ws, ctx.stream());
  } else {
    cpu::instance_norm_nhwc_backward<T>(d_in.data<T>(), opt(d_scale), opt(d_shift),
                                        d_out.data<T>(), in.data<T>(), mean.f32(), rstd.f32(),
                                        opt(scale), out_p, N, HW, C, act, slope);
  }
}
}  // namespace

void instance_norm_forward(Tensor& out, Tensor& mean, Tensor& rstd, const Tensor& in,
                           const Tensor* scale, const Tensor* shift, const Tensor* residual,
                           float eps, Act act, float slope, Context& ctx, int pad_out) {
  const char* op = "instance_norm_forward";
  const MapStorage st = map_storage(in, op, ctx);
  check_norm_args(op, out, mean, rstd, in, scale, shift, residual, ctx, st, pad_out);
  const int W = in.ndim() == 4 ? static_cast<int>(in.dim(3)) : 0;
  const int64_t N = in.dim(0), C = in.dim(1), HW = in.dim(2) * in.dim(3);
  CGAN_CHECK(out.raw() != in.raw(), op << ": 'out' must not alias 'in'");
  CGAN_CHECK(!residual || out.raw() != residual->raw(), op << ": 'out' must not alias 'residual'");
  CGAN_CHECK(eps > 0.f, op << ": eps must be > 0, got " << eps);
  CGAN_CHECK(HW > 0 || N * C == 0, op << ": empty planes in shape " << shape_str(in.shape()));
  ProfileScope prof(ctx, "norm.fwd");
  if (st.layout == Layout::NHWC) {
    if (st.dtype == DType::BF16)
      forward_nhwc<bf16>(out, mean, rstd, in, scale, shift, residual, eps, to_kernel(act), slope,
                         ctx, pad_out);
    else
      forward_nhwc<float>(out, mean, rstd, in, scale, shift, residual, eps, to_kernel(act),
                          slope, ctx, pad_out);
  } else if (ctx.is_cuda()) {
    void* ws = ctx.workspace(kernels::instance_norm_workspace_bytes(N, C, HW));
    kernels::instance_norm_forward(out.f32(), mean.f32(), rstd.f32(), in.f32(), opt(scale),
                                   opt(shift), opt(residual), N, C, HW, eps, to_kernel(act),
                                   slope, ws, ctx.stream(), W, pad_out);
  } else {
    cpu::instance_norm_forward(out.f32(), mean.f32(), rstd.f32(), in.f32(), opt(scale),
                               opt(shift), opt(residual), N, C, HW, eps, to_kernel(act), slope,
                               W, pad_out);
  }
}

void instance_norm_backward(Tensor& d_in, Tensor* d_scale, Tensor* d_shift,
                            const Tensor& d_out, const Tensor& in, const Tensor& mean,
                            const Tensor& rstd, const Tensor* scale, const Tensor* out,
                            Act act, float slope, Context& ctx) {
  const char* op = "instance_norm_backward";
  const MapStorage st = map_storage(in, op, ctx);
  check_4d(in, "in", op);
  const int64_t N = in.dim(0), C = in.dim(1), HW = in.dim(2) * in.dim(3);
  check_storage(d_in, op, "d_in", ctx, st.dtype, st.layout);
  check_shape(d_in, "d_in", in.shape(), op);
  check_storage(d_out, op, "d_out", ctx, st.dtype, st.layout);
  check_shape(d_out, "d_out", in.shape(), op);
  check_count(mean, "mean", N * C, "N*C", op, ctx);
  check_count(rstd, "rstd", N * C, "N*C", op, ctx);
  if (scale) check_count(*scale, "scale", C, "C", op, ctx);
  if (d_scale) check_count(*d_scale, "d_scale", C, "C", op, ctx);
  if (d_shift) check_count(*d_shift, "d_shift", C, "C", op, ctx);
  if (act != Act::None) {
    CGAN_CHECK(out != nullptr, op << ": 'out' (the forward output) is required when the "
                                     "activation is not None");
    check_storage(*out, op, "out", ctx, st.dtype, st.layout);
    check_shape(*out, "out", in.shape(), op);
    CGAN_CHECK(act != Act::LeakyReLU || slope > 0.f,
               op << ": LeakyReLU slope must be > 0 (the mask is read from the output), got "
                  << slope);
  }
  CGAN_CHECK(d_in.raw() != d_out.raw() && d_in.raw() != in.raw(),
             op << ": 'd_in' must not alias 'd_out' or 'in'");
  ProfileScope prof(ctx, "norm.bwd");
  if (st.layout == Layout::NHWC) {
    if (st.dtype == DType::BF16)
      backward_nhwc<bf16>(d_in, d_scale, d_shift, d_out, in, mean, rstd, scale, out,
                          to_kernel(act), slope, ctx);
    else
      backward_nhwc<float>(d_in, d_scale, d_shift, d_out, in, mean, rstd, scale, out,
                           to_kernel(act), slope, ctx);
    return;
  }
  const float* out_p = act != Act::None ? out->f32() : nullptr;
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

void plane_moments(std::vector<double>& mean, std::vector<double>& m2, const Tensor& in,
                   Context& ctx) {
  const char* op = "plane_moments";
  check_tensor(in, op, "in", ctx);
  check_4d(in, "in", op);
  const int64_t planes = in.dim(0) * in.dim(1), HW = in.dim(2) * in.dim(3);
  CGAN_CHECK(HW > 0 || planes == 0, op << ": empty planes in shape " << shape_str(in.shape()));
  mean.assign(static_cast<size_t>(planes), 0.0);
  m2.assign(static_cast<size_t>(planes), 0.0);
  ProfileScope prof(ctx, "norm.fwd");
  if (!ctx.is_cuda()) {
    cpu::plane_moments(mean.data(), m2.data(), in.f32(), planes, HW);
    return;
  }
  // Doubles in a float tensor's storage (two floats each): mean[planes] then m2[planes].
  Tensor dev = Tensor::empty({4 * planes}, ctx);
  double* d = reinterpret_cast<double*>(dev.f32());
  kernels::plane_moments(d, d + planes, in.f32(), planes, HW, ctx.stream());
  const Tensor host = dev.to_cpu(ctx);
  const double* h = reinterpret_cast<const double*>(host.f32());
  std::copy(h, h + planes, mean.begin());
  std::copy(h + planes, h + 2 * planes, m2.begin());
}

void instance_norm_apply(Tensor& out, const Tensor& in, const Tensor& mean, const Tensor& rstd,
                         const Tensor* scale, const Tensor* shift, const Tensor* residual,
                         Act act, float slope, Context& ctx) {
  const char* op = "instance_norm_apply";
  check_norm_args(op, out, mean, rstd, in, scale, shift, residual, ctx,
                  {DType::F32, Layout::NCHW});
  const int64_t N = in.dim(0), C = in.dim(1), HW = in.dim(2) * in.dim(3);
  ProfileScope prof(ctx, "norm.fwd");
  if (ctx.is_cuda())
    kernels::instance_norm_apply(out.f32(), in.f32(), mean.f32(), rstd.f32(), opt(scale),
                                 opt(shift), opt(residual), N, C, HW, to_kernel(act), slope,
                                 ctx.stream());
  else
    cpu::instance_norm_apply(out.f32(), in.f32(), mean.f32(), rstd.f32(), opt(scale),
                             opt(shift), opt(residual), N, C, HW, to_kernel(act), slope);
}

}  // namespace cgan::ops
