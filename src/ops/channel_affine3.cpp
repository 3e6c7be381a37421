#include "cgan/ops.hpp"
#include "cgan/profile.hpp"
#include "kernels/channel_affine3.hpp"
#include "ops/check.hpp"

namespace cgan::ops {

using detail::check_4d;
using detail::check_same_shape;
using detail::check_tensor;

namespace {
void check_3ch(const Tensor& t, const char* name, const char* op) {
  check_4d(t, name, op);
  CGAN_CHECK(t.dim(1) == 3, op << ": '" << name << "' must have 3 channels, got shape "
                               << shape_str(t.shape()));
}
}  // namespace

void channel_affine3(Tensor& out, const Tensor& in, const float mul[3], const float add[3],
                     bool flip, Context& ctx) {
  const char* op = "channel_affine3";
  check_tensor(in, op, "in", ctx);
  check_tensor(out, op, "out", ctx);
  check_3ch(in, "in", op);
  check_same_shape(out, "out", in, "in", op);
  const kernels::Affine3 f{{mul[0], mul[1], mul[2]}, {add[0], add[1], add[2]}};
  const int64_t N = in.dim(0), HW = in.dim(2) * in.dim(3);
  ProfileScope prof(ctx, "affine3");
  if (ctx.is_cuda())
    kernels::channel_affine3(out.f32(), in.f32(), f, flip, N, HW, ctx.stream());
  else
    cpu::channel_affine3(out.f32(), in.f32(), f, flip, N, HW);
}

void channel_affine3_backward(Tensor& d_in, const Tensor& d_out, const float mul[3], bool flip,
                              Context& ctx) {
  const char* op = "channel_affine3_backward";
  check_tensor(d_out, op, "d_out", ctx);
  check_tensor(d_in, op, "d_in", ctx);
  check_3ch(d_out, "d_out", op);
  check_same_shape(d_in, "d_in", d_out, "d_out", op);
  const kernels::Affine3 f{{mul[0], mul[1], mul[2]}, {0.f, 0.f, 0.f}};
  const int64_t N = d_out.dim(0), HW = d_out.dim(2) * d_out.dim(3);
  ProfileScope prof(ctx, "affine3");
  if (ctx.is_cuda())
    kernels::channel_affine3_backward(d_in.f32(), d_out.f32(), f, flip, N, HW, ctx.stream());
  else
    cpu::channel_affine3_backward(d_in.f32(), d_out.f32(), f, flip, N, HW);
}

}  // namespace cgan::ops
