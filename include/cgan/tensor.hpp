#pragma once
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "cgan/context.hpp"
#include "cgan/device.hpp"
#include "cgan/dtype.hpp"
#include "cgan/error.hpp"

namespace cgan {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);

// Memory order of a 4-D activation. The shape is always the logical [N,C,H,W]; the layout
// says how it lies in memory: NCHW (W fastest, the default and the CPU backend's order) or
// NHWC (channels last, C fastest: what tensor-core convolutions read). Only 4-D tensors can
// be NHWC. Every op states the layouts and dtypes it accepts (cgan/ops.hpp) and rejects the
// others with an error naming the op; nothing reinterprets one layout as the other.
enum class Layout : uint8_t { NCHW, NHWC };
const char* layout_name(Layout l);

// Memory block owned by an allocator (or the heap for context-free CPU tensors).
class Storage {
 public:
  Storage(size_t bytes, Device device, std::shared_ptr<Allocator> allocator);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
  std::shared_ptr<Allocator> allocator_;
};

// A dense, contiguous n-d array on one device. Copying a Tensor copies the handle (the
// storage is shared, like a view); copy data explicitly with copy_from()/to().
class Tensor {
 public:
  Tensor() = default;

  // Uninitialized tensor from the context's allocator (on the context's device).
  static Tensor empty(const Shape& shape, Context& ctx, DType dtype = DType::F32,
                      Layout layout = Layout::NCHW);
  // Uninitialized CPU tensor from the heap, no context needed.
  static Tensor empty_cpu(const Shape& shape, DType dtype = DType::F32,
                          Layout layout = Layout::NCHW);
  static Tensor zeros(const Shape& shape, Context& ctx, DType dtype = DType::F32,
                      Layout layout = Layout::NCHW);
  // CPU float32 tensor holding `values` (size must match the shape).
  static Tensor from_vector(const Shape& shape, const std::vector<float>& values);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const;  // negative i counts from the end
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Layout layout() const { return layout_; }
  Device device() const { return storage_ ? storage_->device() : Device::cpu(); }
  bool is_cuda() const { return device().is_cuda(); }

  void* raw() const;
  template <typename T>
  T* data() const { return static_cast<T*>(raw()); }
  float* f32() const;  // checks dtype

  // Same storage, new shape with the same number of elements. An NHWC tensor can only be
  // viewed as its own shape or flat (1-D, where layout means nothing): any other shape would
  // silently reinterpret its memory order.
  Tensor view(const Shape& shape) const;
  // A flat (1-D) tensor's memory seen as `shape` in `layout`, e.g. a block of a flat buffer
  // that holds a filter channels-last. Same storage.
  Tensor view_as(const Shape& shape, Layout layout) const;
  // Items [begin, end) of the first dimension (N for NHWC too), sharing storage.
  Tensor slice(int64_t begin, int64_t end) const;

  // Copies `src` (same numel, dtype and layout, any device) into this tensor, on ctx's stream.
  // H2D/D2H copies are synchronous with respect to the host so the data is usable on return.
  void copy_from(const Tensor& src, Context& ctx);
  // New tensor with the same contents on ctx's device.
  Tensor to(Context& ctx) const;
  // New CPU tensor with the same contents (synchronizes ctx if this is on CUDA).
  Tensor to_cpu(Context& ctx) const;
  // Contents as float32 on the host (converts F16/BF16), in memory order (see layout()).
  std::vector<float> to_vector(Context& ctx) const;
  // Contents converted to float32 (CPU tensors only, no context needed).
  std::vector<float> to_vector() const;
  // Sets every element to `value` (float32 only on CUDA).
  void fill(float value, Context& ctx);

  bool same_shape(const Tensor& o) const { return shape_ == o.shape_; }
  std::string str() const;  // "Tensor[2,3,4] F32 cuda:0", "Tensor[1,8,4,4] BF16 NHWC cpu"

 private:
  std::shared_ptr<Storage> storage_;
  size_t offset_bytes_ = 0;
  Shape shape_;
  DType dtype_ = DType::F32;
  Layout layout_ = Layout::NCHW;
};

}  // namespace cgan
