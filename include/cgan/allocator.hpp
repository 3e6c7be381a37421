#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include "cgan/device.hpp"

struct CUstream_st;  // cudaStream_t without pulling CUDA headers into users' code
namespace cgan {
using Stream = CUstream_st*;

struct AllocatorStats {
  size_t bytes_in_use = 0;       // handed out and not yet returned
  size_t peak_bytes_in_use = 0;  // high-water mark of bytes_in_use
  size_t bytes_reserved = 0;     // obtained from the system (in use + cached)
  size_t num_allocations = 0;    // allocate() calls
  size_t num_cache_hits = 0;     // allocate() calls served from the cache
  size_t num_system_allocations = 0;
};

// Owns memory of one device. Blocks carry their rounded size so a returned block can be
// reused for any request that rounds to the same size.
class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* p) = 0;
  virtual Device device() const = 0;
  virtual AllocatorStats stats() const = 0;
  virtual void reset_peak() = 0;
  // Returns cached (unused) blocks to the system.
  virtual void release_cached() = 0;
  // Whether freed host blocks of 4 MiB and more are all kept for reuse (default: only within
  // the peak in use, returned to the system beyond it). A training loop, which allocates the
  // same shapes every step, turns it on: fresh pages cost a page fault and zeroing each.
  virtual void set_cache_large_host_blocks(bool keep) { (void)keep; }
};

// A caching allocator. Host blocks of 4 MiB and more are mapped per block and cached only while
// all reserved memory stays within the peak in use (unless set_cache_large_host_blocks(true):
// then always), so that resident memory follows the peak of what is in use. For
// CUDA it is stream-ordered: all work that uses its blocks is
// issued on one stream, so a block freed on the host may be handed out again at once —
// the stream serializes the old user's kernels before the new user's.
class CachingAllocator final : public Allocator {
 public:
  explicit CachingAllocator(Device device);
  ~CachingAllocator() override;
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  void* allocate(size_t bytes) override;
  void deallocate(void* p) override;
  Device device() const override { return device_; }
  AllocatorStats stats() const override;
  void reset_peak() override;
  void release_cached() override;
  void set_cache_large_host_blocks(bool keep) override;

  // Sizes are rounded up to this granularity (and to powers of two above 1 MiB / 8) so that
  // blocks are reusable across slightly different shapes.
  static size_t round_size(size_t bytes);

 private:
  void* system_alloc(size_t bytes);
  void evict_large_host_blocks(size_t size);
  void system_free(void* p, size_t size);

  Device device_;
  mutable std::mutex mutex_;
  std::multimap<size_t, void*> free_blocks_;  // size -> block
  std::map<void*, size_t> live_blocks_;       // block -> size
  AllocatorStats stats_;
  bool cache_large_host_ = false;
};

}  // namespace cgan
