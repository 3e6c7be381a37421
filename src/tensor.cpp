#include "cgan/tensor.hpp"

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "cgan/profile.hpp"
#include "cuda_check.hpp"
#ifdef CGAN_CUDA_EMULATION
#include <cuda_emu/emu.hpp>
#endif
#include "kernels/fill.hpp"

namespace cgan {

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? "," : "") << s[i];
  os << "]";
  return os.str();
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) CGAN_CHECK(d >= 0, "negative dimension in shape " << shape_str(s));
  for (int64_t d : s) {
    // Files say what shapes they hold: [2^62, 4] must be an error, not a wrapped count.
    CGAN_CHECK(!__builtin_mul_overflow(n, d, &n),
               "shape " << shape_str(s) << " has more elements than int64 can count");
  }
  return n;
}

Storage::Storage(size_t bytes, Device device, std::shared_ptr<Allocator> allocator)
    : bytes_(bytes), device_(device), allocator_(std::move(allocator)) {
  if (allocator_) {
    data_ = allocator_->allocate(bytes);
  } else {
    CGAN_CHECK(device.is_cpu(), "a CUDA storage needs an allocator");
    const size_t rounded = (bytes + 63) / 64 * 64;
    data_ = std::aligned_alloc(64, rounded ? rounded : 64);
    if (!data_) throw Error("out of host memory allocating " + std::to_string(bytes) + " bytes");
  }
}

Storage::~Storage() {
  if (allocator_) {
    try {
      allocator_->deallocate(data_);
    } catch (...) {
    }
  } else {
    std::free(data_);
  }
}

const char* layout_name(Layout l) { return l == Layout::NHWC ? "NHWC" : "NCHW"; }

namespace {
void check_layout(const Shape& shape, Layout layout) {
  CGAN_CHECK(layout == Layout::NCHW || shape.size() == 4,
             "an NHWC tensor must be 4-D [N,C,H,W], got shape " << shape_str(shape));
}
}  // namespace

Tensor Tensor::empty(const Shape& shape, Context& ctx, DType dtype, Layout layout) {
  check_layout(shape, layout);
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.layout_ = layout;
  t.storage_ = std::make_shared<Storage>(t.nbytes(), ctx.device(), ctx.allocator_ptr());
  return t;
}

Tensor Tensor::empty_cpu(const Shape& shape, DType dtype, Layout layout) {
  check_layout(shape, layout);
  Tensor t;
  t.shape_ = shape;
  t.dtype_ = dtype;
  t.layout_ = layout;
  t.storage_ = std::make_shared<Storage>(t.nbytes(), Device::cpu(), nullptr);
  return t;
}

Tensor Tensor::zeros(const Shape& shape, Context& ctx, DType dtype, Layout layout) {
  Tensor t = empty(shape, ctx, dtype, layout);
  if (ctx.is_cuda()) {
    CGAN_CUDA_CHECK(cudaMemsetAsync(t.raw(), 0, t.nbytes(), ctx.stream()));
  } else {
    std::memset(t.raw(), 0, t.nbytes());
  }
  return t;
}

Tensor Tensor::from_vector(const Shape& shape, const std::vector<float>& values) {
  CGAN_CHECK(shape_numel(shape) == static_cast<int64_t>(values.size()),
             "from_vector: shape " << shape_str(shape) << " needs " << shape_numel(shape)
                                   << " values, got " << values.size());
  Tensor t = empty_cpu(shape);
  // memcpy from an empty vector's null data() is undefined even for 0 bytes (UBSan).
  if (!values.empty()) std::memcpy(t.raw(), values.data(), values.size() * sizeof(float));
  return t;
}

int64_t Tensor::dim(int i) const {
  const int n = ndim();
  if (i < 0) i += n;
  CGAN_CHECK(i >= 0 && i < n, "dim " << i << " out of range for shape " << shape_str(shape_));
  return shape_[static_cast<size_t>(i)];
}

void* Tensor::raw() const {
  CGAN_CHECK(storage_, "use of an undefined tensor");
  void* p = static_cast<char*>(storage_->data()) + offset_bytes_;
#ifdef CGAN_CUDA_EMULATION
  // Host code reaches CPU tensors' memory through here; on a GPU machine a device pointer
  // behind a CPU tensor would crash, so under emulation it is an error.
  if (storage_->device().is_cpu()) cuda_emu::require_host_pointer(p, "Tensor::raw() of a CPU tensor");
#endif
  return p;
}

float* Tensor::f32() const {
  CGAN_CHECK(dtype_ == DType::F32, "expected an F32 tensor, got " << dtype_name(dtype_));
  return data<float>();
}

Tensor Tensor::view(const Shape& shape) const {
  CGAN_CHECK(shape_numel(shape) == numel(),
             "view: cannot view " << shape_str(shape_) << " as " << shape_str(shape));
  Tensor t = *this;
  if (layout_ == Layout::NHWC && shape != shape_) {
    CGAN_CHECK(shape.size() == 1, "view: an NHWC tensor " << shape_str(shape_)
                                      << " can be viewed flat but not as " << shape_str(shape));
    t.layout_ = Layout::NCHW;  // 1-D: no layout
  }
  t.shape_ = shape;
  return t;
}

Tensor Tensor::view_as(const Shape& shape, Layout layout) const {
  CGAN_CHECK(ndim() == 1, "view_as: only a flat tensor can be given a layout, got " << str());
  check_layout(shape, layout);
  Tensor t = view(shape);
  t.layout_ = layout;
  return t;
}

Tensor Tensor::slice(int64_t begin, int64_t end) const {
  CGAN_CHECK(ndim() >= 1 && 0 <= begin && begin <= end && end <= shape_[0],
             "slice [" << begin << "," << end << ") out of range for " << shape_str(shape_));
  const int64_t inner = shape_[0] ? numel() / shape_[0] : 0;
  Tensor t = *this;
  t.shape_[0] = end - begin;
  t.offset_bytes_ += static_cast<size_t>(begin * inner) * dtype_size(dtype_);
  return t;
}

void Tensor::copy_from(const Tensor& src, Context& ctx) {
  CGAN_CHECK(src.numel() == numel() && src.dtype() == dtype() &&
                 (src.layout() == layout() || ndim() != 4 || src.ndim() != 4),
             "copy_from: " << src.str() << " into " << str());
  const size_t n = nbytes();
  if (n == 0) return;
  const bool from_gpu = src.is_cuda(), to_gpu = is_cuda();
  const char* kind_name = from_gpu ? (to_gpu ? "copy.d2d" : "copy.d2h")
                                   : (to_gpu ? "copy.h2d" : "copy.host");
  ProfileScope prof(ctx, kind_name,
                    from_gpu || to_gpu ? OpProfile::Clock::Device : OpProfile::Clock::Host);
  if (!from_gpu && !to_gpu) {
    std::memcpy(raw(), src.raw(), n);
    return;
  }
  CGAN_CHECK(ctx.is_cuda(), "copy_from: a CUDA tensor needs a CUDA context");
  const cudaMemcpyKind kind = from_gpu ? (to_gpu ? cudaMemcpyDeviceToDevice
                                                 : cudaMemcpyDeviceToHost)
                                       : cudaMemcpyHostToDevice;
  CGAN_CUDA_CHECK(cudaMemcpyAsync(raw(), src.raw(), n, kind, ctx.stream()));
  // Pageable host memory: make the host side usable (or reusable) when we return.
  if (kind != cudaMemcpyDeviceToDevice) ctx.synchronize();
}

Tensor Tensor::to(Context& ctx) const {
  Tensor t = empty(shape_, ctx, dtype_, layout_);
  t.copy_from(*this, ctx);
  return t;
}

Tensor Tensor::to_cpu(Context& ctx) const {
  Tensor t = empty_cpu(shape_, dtype_, layout_);
  t.copy_from(*this, ctx);
  return t;
}

std::vector<float> Tensor::to_vector() const {
  CGAN_CHECK(!is_cuda(), "to_vector() without a context needs a CPU tensor; pass the context");
  std::vector<float> v(static_cast<size_t>(numel()));
  const size_t n = v.size();
  if (n == 0) return v;  // an empty vector's data() may be null: no memcpy (UBSan)
  switch (dtype_) {
    case DType::F32: std::memcpy(v.data(), raw(), n * 4); break;
    case DType::F16:
      for (size_t i = 0; i < n; ++i) v[i] = half_to_float(data<uint16_t>()[i]);
      break;
    case DType::BF16:
      for (size_t i = 0; i < n; ++i) v[i] = bf16_to_float(data<uint16_t>()[i]);
      break;
  }
  return v;
}

std::vector<float> Tensor::to_vector(Context& ctx) const {
  if (!is_cuda()) return to_vector();
  return to_cpu(ctx).to_vector();
}

void Tensor::fill(float value, Context& ctx) {
  CGAN_CHECK(dtype_ == DType::F32 || !is_cuda(), "fill: CUDA fill supports F32 only");
  ProfileScope prof(ctx, "fill", is_cuda() ? OpProfile::Clock::Device : OpProfile::Clock::Host);
  const int64_t n = numel();
  if (is_cuda()) {
    CGAN_CHECK(ctx.is_cuda(), "fill: a CUDA tensor needs a CUDA context");
    kernels::fill_f32(f32(), value, n, ctx.stream());
    return;
  }
  switch (dtype_) {
    case DType::F32: std::fill_n(data<float>(), n, value); break;
    case DType::F16: std::fill_n(data<uint16_t>(), n, float_to_half(value)); break;
    case DType::BF16: std::fill_n(data<uint16_t>(), n, float_to_bf16(value)); break;
  }
}

std::string Tensor::str() const {
  std::ostringstream os;
  os << "Tensor" << shape_str(shape_) << " " << dtype_name(dtype_);
  if (layout_ == Layout::NHWC) os << " NHWC";
  os << " " << device().str();
  return os.str();
}

}  // namespace cgan
