#include "cgan/allocator.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>

#include "cuda_check.hpp"

namespace cgan {

namespace {
constexpr size_t kMinBlock = 512;
constexpr size_t kSmallLimit = size_t(1) << 20;
// Host blocks from this size on are mapped for themselves, and cached only within the peak in
// use (evict_large_host_blocks): activations of different shapes (two photos of different
// sizes, the layers of one network) would otherwise each keep their own cached blocks, and the
// process's resident memory would be the sum of those instead of what is in use. Transparent
// huge pages, where the kernel grants them (the 2 MiB-aligned inside of a mapping), cut the
// page faults of a fresh block to one per 2 MiB.
constexpr size_t kHostMapLimit = size_t(4) << 20;
constexpr size_t kHugePage = size_t(2) << 20;

bool host_mapped(const Device& d, size_t size) { return !d.is_cuda() && size >= kHostMapLimit; }
size_t host_map_bytes(size_t size) { return (size + kHugePage - 1) / kHugePage * kHugePage; }
}  // namespace

size_t CachingAllocator::round_size(size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes <= kSmallLimit) return (bytes + kMinBlock - 1) / kMinBlock * kMinBlock;
  // Above 1 MiB: round to 1/8 of the next power of two, bounding waste at 12.5%.
  size_t p = kSmallLimit;
  while (p < bytes) p <<= 1;
  const size_t step = p / 8;
  return (bytes + step - 1) / step * step;
}

CachingAllocator::CachingAllocator(Device device) : device_(device) {}

CachingAllocator::~CachingAllocator() {
  // Live blocks at destruction belong to tensors that outlive their context: a usage error,
  // but freeing them here would turn it into use-after-free, so only the cache is freed.
  try {
    release_cached();
  } catch (...) {
  }
}

void* CachingAllocator::system_alloc(size_t bytes) {
  void* p = nullptr;
  if (device_.is_cuda()) {
    CGAN_CUDA_CHECK(cudaSetDevice(device_.index));
    cudaError_t st = cudaMalloc(&p, bytes);
    if (st == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      // Give the cache back and retry once before reporting out-of-memory.
      std::multimap<size_t, void*> cached;
      cached.swap(free_blocks_);
      for (auto& [sz, q] : cached) {
        cudaFree(q);
        stats_.bytes_reserved -= sz;
      }
      st = cudaMalloc(&p, bytes);
    }
    if (st != cudaSuccess) {
      (void)cudaGetLastError();
      throw Error("CUDA out of memory allocating " + std::to_string(bytes) + " bytes (" +
                  std::to_string(stats_.bytes_in_use) + " in use): " + cudaGetErrorString(st));
    }
  } else if (host_mapped(device_, bytes)) {
    p = mmap(nullptr, host_map_bytes(bytes), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
             -1, 0);
    if (p == MAP_FAILED)
      throw Error("out of host memory allocating " + std::to_string(bytes) + " bytes");
    (void)madvise(p, host_map_bytes(bytes), MADV_HUGEPAGE);  // a hint: may be unsupported
  } else {
    p = std::aligned_alloc(64, bytes);
    if (!p) throw Error("out of host memory allocating " + std::to_string(bytes) + " bytes");
  }
  ++stats_.num_system_allocations;
  stats_.bytes_reserved += bytes;
  return p;
}

void CachingAllocator::system_free(void* p, size_t size) {
  if (device_.is_cuda()) {
    CGAN_CUDA_CHECK(cudaFree(p));
  } else if (host_mapped(device_, size)) {
    munmap(p, host_map_bytes(size));
  } else {
    std::free(p);
  }
}

void* CachingAllocator::allocate(size_t bytes) {
  const size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  ++stats_.num_allocations;
  void* p = nullptr;
  auto it = free_blocks_.find(size);
  if (it != free_blocks_.end()) {
    p = it->second;
    free_blocks_.erase(it);
    ++stats_.num_cache_hits;
  } else {
    if (host_mapped(device_, size) && !cache_large_host_) evict_large_host_blocks(size);
    p = system_alloc(size);
  }
  live_blocks_.emplace(p, size);
  stats_.bytes_in_use += size;
  if (stats_.bytes_in_use > stats_.peak_bytes_in_use)
    stats_.peak_bytes_in_use = stats_.bytes_in_use;
  return p;
}

void CachingAllocator::deallocate(void* p) {
  if (!p) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = live_blocks_.find(p);
  if (it == live_blocks_.end()) throw Error("CachingAllocator: freeing an unknown pointer");
  const size_t size = it->second;
  live_blocks_.erase(it);
  stats_.bytes_in_use -= size;
  free_blocks_.emplace(size, p);
}

// Large host blocks stay cached only while what is reserved stays within the high-water mark
// of what was in use: before mapping a new block, cached large blocks (the largest first) are
// unmapped until it fits. So a network whose layers reuse the same sizes (residual blocks)
// reuses their pages, without page faults and zeroing, while resident memory never exceeds
// the peak in use plus the new block.
void CachingAllocator::evict_large_host_blocks(size_t size) {
  const size_t bound = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use + size);
  auto it = free_blocks_.end();
  while (stats_.bytes_reserved + size > bound && it != free_blocks_.begin()) {
    --it;
    if (!host_mapped(device_, it->first)) break;  // sorted by size: no large block left
    system_free(it->second, it->first);
    stats_.bytes_reserved -= it->first;
    it = free_blocks_.erase(it);
  }
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void CachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.peak_bytes_in_use = stats_.bytes_in_use;
}

void CachingAllocator::set_cache_large_host_blocks(bool keep) {
  std::lock_guard<std::mutex> lock(mutex_);
  cache_large_host_ = keep;
}

void CachingAllocator::release_cached() {
  std::lock_guard<std::mutex> lock(mutex_);
  // Cached blocks may still be read by queued kernels: cudaFree waits for the device, so
  // freeing them here is safe even after the owning context's stream is gone.
  for (auto& [size, p] : free_blocks_) {
    system_free(p, size);
    stats_.bytes_reserved -= size;
  }
  free_blocks_.clear();
}

}  // namespace cgan
