#pragma once
// A typed, move-only block of device (or host) memory from a context's caching allocator:
// the RAII handle for kernel scratch space and for code that does not need Tensor shapes.
#include <cstddef>
#include <memory>
#include <utility>

#include "cgan/context.hpp"
#include "cgan/error.hpp"

namespace cgan {

template <typename T>
class Buffer {
 public:
  Buffer() = default;
  Buffer(size_t count, Context& ctx)
      : allocator_(ctx.allocator_ptr()),
        data_(count ? static_cast<T*>(allocator_->allocate(count * sizeof(T))) : nullptr),
        count_(count) {}
  ~Buffer() { reset(); }

  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept
      : allocator_(std::move(o.allocator_)),
        data_(std::exchange(o.data_, nullptr)),
        count_(std::exchange(o.count_, 0)) {}
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      reset();
      allocator_ = std::move(o.allocator_);
      data_ = std::exchange(o.data_, nullptr);
      count_ = std::exchange(o.count_, 0);
    }
    return *this;
  }

  T* data() const { return data_; }
  size_t size() const { return count_; }
  size_t bytes() const { return count_ * sizeof(T); }
  bool empty() const { return count_ == 0; }
  Device device() const { return allocator_ ? allocator_->device() : Device::cpu(); }

  void reset() noexcept {
    if (data_ && allocator_) {
      try {
        allocator_->deallocate(data_);
      } catch (...) {
      }
    }
    data_ = nullptr;
    count_ = 0;
  }

 private:
  std::shared_ptr<Allocator> allocator_;
  T* data_ = nullptr;
  size_t count_ = 0;
};

}  // namespace cgan
