#include "cgan/graph.hpp"

#include "cgan/error.hpp"
#include "cuda_check.hpp"

namespace cgan {

namespace {
// Serves ctx's tensor allocations from `pool` for one scope.
class PoolScope {
 public:
  PoolScope(Context& ctx, std::shared_ptr<Allocator> pool)
      : ctx_(ctx), previous_(ctx.exchange_allocator(std::move(pool))) {}
  ~PoolScope() { ctx_.exchange_allocator(previous_); }
  PoolScope(const PoolScope&) = delete;
  PoolScope& operator=(const PoolScope&) = delete;

 private:
  Context& ctx_;
  std::shared_ptr<Allocator> previous_;
};
}  // namespace

CudaGraph::CudaGraph(Context& ctx) : ctx_(&ctx) {
  CGAN_CHECK(ctx.is_cuda(), "CudaGraph: CUDA graphs need a CUDA context, got "
                                << ctx.device().str());
  pool_ = std::make_shared<CachingAllocator>(ctx.device());
}

CudaGraph::~CudaGraph() {
  try {
    reset();
  } catch (...) {
  }
}

void CudaGraph::reset() {
  if (!exec_) return;
  // A replay may still be queued: it keeps running after the destroy (as the runtime
  // guarantees), but the pool's blocks must not be reused before it is done.
  CGAN_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(ctx_->stream())));
  CGAN_CUDA_CHECK(cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_)));
  exec_ = nullptr;
}

void CudaGraph::warm_up(const std::function<void()>& work) {
  PoolScope scope(*ctx_, pool_);
  work();
}

void CudaGraph::record(const std::function<void()>& work) {
  reset();
  auto stream = static_cast<cudaStream_t>(ctx_->stream());
  const uint64_t generation = ctx_->workspace_generation();
  const size_t system_before = pool_->stats().num_system_allocations;
  CGAN_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  cudaGraph_t graph = nullptr;
  try {
    PoolScope scope(*ctx_, pool_);
    work();
  } catch (...) {
    (void)cudaStreamEndCapture(stream, &graph);  // leaves the stream usable
    if (graph) cudaGraphDestroy(graph);
    (void)cudaGetLastError();
    throw;
  }
  CGAN_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  // A grown workspace or a fresh pool block was allocated during the recording: it was not
  // a cudaMalloc refused by the runtime only because a cached block happened to fit. Both
  // mean the warm-up did not run the same work.
  const bool moved = ctx_->workspace_generation() != generation;
  const bool grew = pool_->stats().num_system_allocations != system_before;
  if (moved || grew) {
    cudaGraphDestroy(graph);
    CGAN_FAIL("CudaGraph::record: the recorded work "
              << (moved ? "needed a larger workspace" : "allocated beyond the pool")
              << " than its warm-up: warm_up() must run the same work first");
  }
  cudaGraphExec_t exec = nullptr;
  const cudaError_t st = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  CGAN_CUDA_CHECK(st);
  exec_ = exec;
  workspace_generation_ = generation;
}

bool CudaGraph::ready() const {
  return exec_ && ctx_->workspace_generation() == workspace_generation_;
}

void CudaGraph::replay() {
  CGAN_CHECK(ready(), "CudaGraph::replay: nothing recorded, or the context's workspace moved "
                      "since the recording (record again)");
  CGAN_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_),
                                  static_cast<cudaStream_t>(ctx_->stream())));
  ++replays_;
}

}  // namespace cgan
