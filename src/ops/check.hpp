#pragma once
// Internal: argument checks shared by the Tensor-level ops. Every failure names the op and
// the tensor so that a caller can tell which argument was wrong.
#include <string>
#include <type_traits>

#include "cgan/context.hpp"
#include "cgan/tensor.hpp"

namespace cgan::ops::detail {

// Defined, on the context's device, stored as `dtype` in `layout`. An op that accepts
// several storages checks its first tensor against the list it supports and every other
// tensor against that one's storage.
inline void check_storage(const Tensor& t, const char* op, const char* name, const Context& ctx,
                          DType dtype, Layout layout) {
  CGAN_CHECK(t.defined(), op << ": tensor '" << name << "' is undefined");
  CGAN_CHECK(t.dtype() == dtype && t.layout() == layout,
             op << ": tensor '" << name << "' must be " << dtype_name(dtype) << " "
                << layout_name(layout) << ", got " << dtype_name(t.dtype()) << " "
                << layout_name(t.layout()));
  CGAN_CHECK(t.device() == ctx.device(), op << ": tensor '" << name << "' is on "
                                            << t.device().str() << " but the context is on "
                                            << ctx.device().str());
}

// The input map of an op that takes F32 NCHW, F32 NHWC or BF16 NHWC (its other maps are then
// checked against this one's storage).
inline void check_map_input(const Tensor& in, const char* op, const Context& ctx) {
  CGAN_CHECK(in.defined(), op << ": tensor 'in' is undefined");
  const bool ok = in.layout() == Layout::NHWC
                      ? (in.dtype() == DType::F32 || in.dtype() == DType::BF16)
                      : in.dtype() == DType::F32;
  CGAN_CHECK(ok, op << ": 'in' is " << dtype_name(in.dtype()) << " " << layout_name(in.layout())
                    << "; this op takes F32 NCHW, F32 NHWC or BF16 NHWC");
  check_storage(in, op, "in", ctx, in.dtype(), in.layout());
}

// Calls f with a null T* for the storage type T of `like` (float, or bf16 for BF16), so one
// generic lambda serves both instantiations of a templated kernel:
//   by_storage(in, [&](auto* tag) { using T = std::remove_pointer_t<decltype(tag)>; ... });
template <class F>
void by_storage(const Tensor& like, F&& f) {
  if (like.dtype() == DType::BF16)
    f(static_cast<bf16*>(nullptr));
  else
    f(static_cast<float*>(nullptr));
}
template <typename T>
T* ptr(const Tensor& t) {
  return t.data<T>();
}

// The default contract of an op: F32, NCHW (or no layout, below 4-D).
inline void check_tensor(const Tensor& t, const char* op, const char* name, const Context& ctx) {
  check_storage(t, op, name, ctx, DType::F32, Layout::NCHW);
}

inline void check_same_shape(const Tensor& a, const char* an, const Tensor& b, const char* bn,
                             const char* op) {
  CGAN_CHECK(a.shape() == b.shape(), op << ": '" << an << "' has shape " << shape_str(a.shape())
                                        << " but '" << bn << "' has shape "
                                        << shape_str(b.shape()));
}

inline void check_4d(const Tensor& t, const char* name, const char* op) {
  CGAN_CHECK(t.ndim() == 4, op << ": '" << name << "' must be 4-D [N,C,H,W], got shape "
                               << shape_str(t.shape()));
}

inline void check_shape(const Tensor& t, const char* name, const Shape& want, const char* op) {
  CGAN_CHECK(t.shape() == want, op << ": '" << name << "' must have shape " << shape_str(want)
                                   << ", got " << shape_str(t.shape()));
}

}  // namespace cgan::ops::detail
