#pragma once
// Work issued on a context's stream, recorded once into a CUDA graph and replayed: one launch
// instead of hundreds, and no host work between them. What may be recorded: kernels,
// convolutions and asynchronous copies on the context's stream, reading and writing memory
// that stays where it is. What may not (the capture fails, naming the call): allocation from
// the system, host synchronization, reading results back.
//
// Memory: every tensor the recorded work allocates comes from the graph's private pool, so
// its address, baked into the graph, belongs to no one else between replays. The pool is
// filled by warm_up(), an eager run of the same work, which also makes every one-time choice
// (convolution algorithms, workspace size) before the recording; record() then allocates
// only from blocks the pool holds.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "cgan/allocator.hpp"
#include "cgan/context.hpp"

namespace cgan {

class CudaGraph {
 public:
  // ctx must be a CUDA context; the graph replays on its stream.
  explicit CudaGraph(Context& ctx);
  ~CudaGraph();
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  // Runs `work` now, eagerly, with its allocations served by the pool.
  void warm_up(const std::function<void()>& work);
  // Records `work` (nothing runs) and instantiates it. Throws cgan::Error if the work did
  // something a graph cannot hold; the graph is then empty and the stream usable.
  void record(const std::function<void()>& work);
  // Queues one run of the recorded work on the stream.
  void replay();

  // Recorded, and still valid: the context's workspace has not moved since (a graph holds
  // its address; record again otherwise).
  bool ready() const;
  void reset();  // forget the recording (the pool stays)
  int64_t replays() const { return replays_; }
  // The pool: what the recorded work holds at its peak (the step's arena).
  AllocatorStats pool_stats() const { return pool_->stats(); }

 private:
  Context* ctx_;
  std::shared_ptr<CachingAllocator> pool_;
  void* exec_ = nullptr;  // cudaGraphExec_t
  uint64_t workspace_generation_ = 0;
  int64_t replays_ = 0;
};

}  // namespace cgan
