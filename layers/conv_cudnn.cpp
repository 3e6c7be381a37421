// cuDNN legacy-API convolutions. Descriptors and the chosen algorithm are made once per
// (pass, geometry, math mode, determinism), bias descriptors once per activation shape, and
// kept in the context's ConvAlgoCache (no global state); workspace comes from ctx.workspace().
//
// Algorithm choice, on the first use of a shape:
//  - default: measured. cudnnFind*AlgorithmEx times the candidates on the call's own buffers
//    (outputs that the pass overwrites anyway; a scratch dw for the accumulating filter pass)
//    with up to kFindWorkspace bytes of scratch, and the fastest usable one wins. If that
//    scratch cannot be had or the search fails, cuDNN's _v7 heuristics decide instead.
//  - ctx.deterministic: the _v7 heuristics' order (stable from run to run, unlike timings),
//    restricted to algorithms cuDNN reports as CUDNN_DETERMINISTIC.
// Usable means: status success, fits the workspace limit of the search, deterministic when
// asked, and no tensor-op math without ctx.allow_tf32 (never fp16 down-conversion).
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "cuda_check.hpp"
#include "kernels/nhwc.hpp"
#include "layers/conv_impl.hpp"

namespace cgan {
namespace detail {

struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  int algo = 0;  // cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t, by pass
  size_t workspace = 0;
  bool measured = false;  // chosen by cudnnFind*Ex (else by the _v7 heuristics)

  ConvPlan() = default;
  ConvPlan(const ConvPlan&) = delete;
  ConvPlan& operator=(const ConvPlan&) = delete;
  ~ConvPlan() {
    // Runs in ~Context: statuses cannot be reported anywhere useful from a destructor.
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
  }
};

// pass, {n, cx, hx, wx, cy, hy, wy, kh, kw}, stride, pad, allow_tf32, deterministic,
// bf16 NHWC (else float NCHW)
using PlanKey = std::tuple<int, std::array<int64_t, 9>, int, int, bool, bool, bool>;

// Descriptors of a bias add / bias gradient: the activation [n,c,h,w] and the bias [1,c,1,1].
struct BiasPlan {
  cudnnTensorDescriptor_t out = nullptr, bias = nullptr;
  BiasPlan() = default;
  BiasPlan(const BiasPlan&) = delete;
  BiasPlan& operator=(const BiasPlan&) = delete;
  ~BiasPlan() {
    if (out) cudnnDestroyTensorDescriptor(out);
    if (bias) cudnnDestroyTensorDescriptor(bias);
  }
};

}  // namespace detail

struct ConvAlgoCache {
  std::mutex mutex;
  std::map<detail::PlanKey, std::unique_ptr<detail::ConvPlan>> plans;
  std::map<std::array<int64_t, 4>, std::unique_ptr<detail::BiasPlan>> bias_plans;
};

ConvAlgoCache& Context::conv_algo_cache() {
  if (!conv_algo_cache_) conv_algo_cache_ = std::make_shared<ConvAlgoCache>();
  return *conv_algo_cache_;
}

namespace detail {
namespace {

// Scratch for the algorithm search: big enough for the fast FFT/Winograd variants at
// CartoonGAN's training shapes, small next to a GPU's memory.
constexpr size_t kFindWorkspace = size_t(256) << 20;
constexpr int kMaxAlgos = 16;  // more than any pass has

int to_int(int64_t v) {
  CGAN_CHECK(v >= 0 && v <= INT32_MAX, "cuDNN: dimension " << v << " does not fit in int");
  return static_cast<int>(v);
}

// tensor_ops: TF32 allowed for float data, or bf16 data (whose tensor-op math is exact
// products with fp32 accumulation).
bool math_ok(cudnnMathType_t m, bool tensor_ops) {
  switch (m) {
    case CUDNN_DEFAULT_MATH:  // under an FMA descriptor this is FMA
    case CUDNN_FMA_MATH:
      return true;
    case CUDNN_TENSOR_OP_MATH:  // TF32 for float data, bf16 tensor cores for bf16 data
      return tensor_ops;
    default:  // CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION: fp16 down-conversion
      return false;
  }
}

// The first usable entry (cuDNN sorts by time, measured or estimated), or null.
template <typename Perf>
const Perf* choose(const Perf* perfs, int n, const Context& ctx, size_t max_workspace,
                   bool tensor_ops) {
  for (int i = 0; i < n; ++i) {
    const Perf& p = perfs[i];
    if (p.status != CUDNN_STATUS_SUCCESS || p.memory > max_workspace) continue;
    if (!math_ok(p.mathType, tensor_ops)) continue;
    if (ctx.deterministic && p.determinism != CUDNN_DETERMINISTIC) continue;
    return &p;
  }
  return nullptr;
}

// A block from the context's allocator for the duration of the search (the search is
// synchronous, so handing it back at scope exit is safe on the stream-ordered allocator).
class Scratch {
 public:
  Scratch(Allocator& a, size_t bytes) : a_(a), p_(a.allocate(bytes)) {}
  ~Scratch() {
    try {
      a_.deallocate(p_);
    } catch (...) {
    }
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  void* get() const { return p_; }

 private:
  Allocator& a_;
  void* p_;
};

// Scratch for the algorithm search, from the context's own allocator (not a CUDA graph's
// pool during a warm-up: the search runs once). Null when the allocator cannot provide
// `bytes` (the search is then skipped).
std::unique_ptr<Scratch> try_scratch(Context& ctx, size_t bytes) {
  try {
    return std::make_unique<Scratch>(ctx.own_allocator(), bytes);
  } catch (const Error&) {
    return nullptr;
  }
}

const char* pass_name(ConvPass pass) {
  switch (pass) {
    case ConvPass::XtoY:
      return "forward";
    case ConvPass::YtoX:
      return "backward-data";
    case ConvPass::Filter:
      return "backward-filter";
  }
  return "?";
}

[[noreturn]] void no_algorithm(ConvPass pass, const ConvGeom& g, const Context& ctx) {
  CGAN_FAIL("cuDNN: no usable " << pass_name(pass) << " algorithm for the convolution x ["
                                << g.n << "," << g.cx << "," << g.hx << "," << g.wx
                                << "] -> y [" << g.n << "," << g.cy << "," << g.hy << ","
                                << g.wy << "], kernel " << g.kh << "x" << g.kw << " stride "
                                << g.stride << " pad " << g.pad << " (allow_tf32 "
                                << ctx.allow_tf32 << ", deterministic " << ctx.deterministic
                                << ")");
}

// Picks the algorithm of `p` (descriptors already set): a measured search unless
// deterministic, then the heuristics; sets the descriptor's math type to the chosen one's
// when TF32 is allowed (an FMA descriptor stays FMA).
template <typename Perf, typename Find, typename Heuristic>
void select(ConvPlan& p, ConvPass pass, const ConvGeom& g, Context& ctx, bool bf16, Find&& find,
            Heuristic&& heuristic) {
  const bool tensor_ops = ctx.allow_tf32 || bf16;
  auto handle = static_cast<cudnnHandle_t>(ctx.cudnn_handle());
  Perf found[kMaxAlgos];
  const Perf* best = nullptr;
  if (!ctx.deterministic) {
    // The search runs blocking and writes the call's output buffer and scratch from the
    // stream-ordered allocator: let the work queued before it (which may still use those
    // blocks' previous owners, or produce the inputs) finish first. Once per new shape.
    CGAN_CUDA_CHECK(cudaStreamSynchronize(ctx.stream()));
    if (auto ws = try_scratch(ctx, kFindWorkspace)) {
      int n = 0;
      if (find(handle, found, &n, ws->get(), kFindWorkspace) == CUDNN_STATUS_SUCCESS)
        best = choose(found, n, ctx, kFindWorkspace, tensor_ops);
    }
    p.measured = best != nullptr;
  }
  Perf guessed[kMaxAlgos];
  if (!best) {
    int n = 0;
    CGAN_CUDNN_CHECK(heuristic(handle, guessed, &n));
    best = choose(guessed, n, ctx, SIZE_MAX, tensor_ops);
  }
  if (!best) no_algorithm(pass, g, ctx);
  p.algo = static_cast<int>(best->algo);
  if (tensor_ops) CGAN_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, best->mathType));
}

// x, y, w: the call's buffers (see cudnn_conv); the search may overwrite the pass's output.
// bf16: channels-last bf16 tensors and filter ([cy, kh, kw, cx]), float compute.
ConvPlan& plan_for(ConvPass pass, const ConvGeom& g, void* x, void* y, void* w, Context& ctx,
                   bool bf16) {
  auto handle = static_cast<cudnnHandle_t>(ctx.cudnn_handle());
  CGAN_CHECK(handle, "cuDNN convolution needs a CUDA context");
  const PlanKey key{static_cast<int>(pass),
                    {g.n, g.cx, g.hx, g.wx, g.cy, g.hy, g.wy, g.kh, g.kw},
                    g.stride, g.pad, ctx.allow_tf32, ctx.deterministic, bf16};
  ConvAlgoCache& cache = ctx.conv_algo_cache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  auto it = cache.plans.find(key);
  if (it != cache.plans.end()) return *it->second;

  auto p = std::make_unique<ConvPlan>();
  CGAN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
  CGAN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
  CGAN_CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
  CGAN_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
  const cudnnTensorFormat_t fmt = bf16 ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
  const cudnnDataType_t type = bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
  CGAN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, fmt, type, to_int(g.n), to_int(g.cx),
                                              to_int(g.hx), to_int(g.wx)));
  CGAN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, fmt, type, to_int(g.n), to_int(g.cy),
                                              to_int(g.hy), to_int(g.wy)));
  CGAN_CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, type, fmt, to_int(g.cy), to_int(g.cx),
                                              to_int(g.kh), to_int(g.kw)));
  // Accumulation in float for both storages.
  CGAN_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv, g.pad, g.pad, g.stride, g.stride,
                                                   1, 1, CUDNN_CROSS_CORRELATION,
                                                   CUDNN_DATA_FLOAT));
  // FMA math keeps float32 exact; the default lets cuDNN pick TF32 tensor cores (Ampere+);
  // bf16 data runs on tensor cores.
  const cudnnMathType_t math = bf16 ? CUDNN_TENSOR_OP_MATH
                                    : ctx.allow_tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
  CGAN_CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, math));

  ConvPlan& q = *p;
  switch (pass) {
    case ConvPass::XtoY:  // the search writes y, which the forward overwrites anyway
      select<cudnnConvolutionFwdAlgoPerf_t>(
          q, pass, g, ctx, bf16,
          [&](cudnnHandle_t h, cudnnConvolutionFwdAlgoPerf_t* r, int* n, void* ws, size_t b) {
            return cudnnFindConvolutionForwardAlgorithmEx(h, q.x, x, q.w, w, q.conv, q.y, y,
                                                          kMaxAlgos, n, r, ws, b);
          },
          [&](cudnnHandle_t h, cudnnConvolutionFwdAlgoPerf_t* r, int* n) {
            return cudnnGetConvolutionForwardAlgorithm_v7(h, q.x, q.w, q.conv, q.y, kMaxAlgos,
                                                          n, r);
          });
      CGAN_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(
          handle, q.x, q.w, q.conv, q.y, static_cast<cudnnConvolutionFwdAlgo_t>(q.algo),
          &q.workspace));
      break;
    case ConvPass::YtoX:  // the search writes x, which the backward-data overwrites anyway
      select<cudnnConvolutionBwdDataAlgoPerf_t>(
          q, pass, g, ctx, bf16,
          [&](cudnnHandle_t h, cudnnConvolutionBwdDataAlgoPerf_t* r, int* n, void* ws,
              size_t b) {
            return cudnnFindConvolutionBackwardDataAlgorithmEx(h, q.w, w, q.y, y, q.conv, q.x,
                                                               x, kMaxAlgos, n, r, ws, b);
          },
          [&](cudnnHandle_t h, cudnnConvolutionBwdDataAlgoPerf_t* r, int* n) {
            return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, q.w, q.y, q.conv, q.x,
                                                               kMaxAlgos, n, r);
          });
      CGAN_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(
          handle, q.w, q.y, q.conv, q.x, static_cast<cudnnConvolutionBwdDataAlgo_t>(q.algo),
          &q.workspace));
      break;
    case ConvPass::Filter:  // dw accumulates: the search writes a scratch dw instead
      select<cudnnConvolutionBwdFilterAlgoPerf_t>(
          q, pass, g, ctx, bf16,
          [&](cudnnHandle_t h, cudnnConvolutionBwdFilterAlgoPerf_t* r, int* n, void* ws,
              size_t b) {
            auto dw = try_scratch(ctx, static_cast<size_t>(g.cy * g.cx * g.kh * g.kw) *
                                           sizeof(float));
            if (!dw) return CUDNN_STATUS_ALLOC_FAILED;
            return cudnnFindConvolutionBackwardFilterAlgorithmEx(
                h, q.x, x, q.y, y, q.conv, q.w, dw->get(), kMaxAlgos, n, r, ws, b);
          },
          [&](cudnnHandle_t h, cudnnConvolutionBwdFilterAlgoPerf_t* r, int* n) {
            return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, q.x, q.y, q.conv, q.w,
                                                                 kMaxAlgos, n, r);
          });
      CGAN_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(
          handle, q.x, q.y, q.conv, q.w, static_cast<cudnnConvolutionBwdFilterAlgo_t>(q.algo),
          &q.workspace));
      break;
  }
  cache.plans.emplace(key, std::move(p));
  return q;
}

}  // namespace

void cudnn_conv(ConvPass pass, float* x, float* y, float* w, const ConvGeom& g, Context& ctx) {
  ConvPlan& p = plan_for(pass, g, x, y, w, ctx, false);
  auto handle = static_cast<cudnnHandle_t>(ctx.cudnn_handle());
  void* ws = p.workspace ? ctx.workspace(p.workspace) : nullptr;
  const float one = 1.0f, zero = 0.0f;
  switch (pass) {
    case ConvPass::XtoY:
      CGAN_CUDNN_CHECK(cudnnConvolutionForward(
          handle, &one, p.x, x, p.w, w, p.conv, static_cast<cudnnConvolutionFwdAlgo_t>(p.algo),
          ws, p.workspace, &zero, p.y, y));
      break;
    case ConvPass::YtoX:
      CGAN_CUDNN_CHECK(cudnnConvolutionBackwardData(
          handle, &one, p.w, w, p.y, y, p.conv,
          static_cast<cudnnConvolutionBwdDataAlgo_t>(p.algo), ws, p.workspace, &zero, p.x, x));
      break;
    case ConvPass::Filter:  // beta = 1: parameter gradients accumulate
      CGAN_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
          handle, &one, p.x, x, p.y, y, p.conv,
          static_cast<cudnnConvolutionBwdFilterAlgo_t>(p.algo), ws, p.workspace, &one, p.w, w));
      break;
  }
}

namespace {
// The bias descriptors for an activation shape, made on first use and kept in the context's
// cache (creating and setting two descriptors per conv call and per bias gradient was host
// work on every layer of every step).
const BiasPlan& bias_plan_for(int64_t n, int64_t c, int64_t h, int64_t w, Context& ctx) {
  ConvAlgoCache& cache = ctx.conv_algo_cache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  const std::array<int64_t, 4> key{n, c, h, w};
  auto it = cache.bias_plans.find(key);
  if (it != cache.bias_plans.end()) return *it->second;
  auto p = std::make_unique<BiasPlan>();
  CGAN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->out));
  CGAN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->bias));
  CGAN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->out, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT,
                                              to_int(n), to_int(c), to_int(h), to_int(w)));
  CGAN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1,
                                              to_int(c), 1, 1));
  return *cache.bias_plans.emplace(key, std::move(p)).first->second;
}
}  // namespace

void cudnn_bias_add(float* out, const float* bias, int64_t n, int64_t c, int64_t h, int64_t w,
                    Context& ctx) {
  auto handle = static_cast<cudnnHandle_t>(ctx.cudnn_handle());
  const BiasPlan& p = bias_plan_for(n, c, h, w, ctx);
  const float one = 1.0f;
  CGAN_CUDNN_CHECK(cudnnAddTensor(handle, &one, p.bias, bias, &one, p.out, out));
}

void cudnn_bias_grad(float* d_bias, const float* d_out, int64_t n, int64_t c, int64_t h,
                     int64_t w, Context& ctx) {
  auto handle = static_cast<cudnnHandle_t>(ctx.cudnn_handle());
  const BiasPlan& p = bias_plan_for(n, c, h, w, ctx);
  const float one = 1.0f;
  CGAN_CUDNN_CHECK(cudnnConvolutionBackwardBias(handle, &one, p.out, d_out, &one, p.bias, d_bias));
}

ConvAlgoInfo cudnn_conv_algo(ConvPass pass, float* x, float* y, float* w, const ConvGeom& g,
                             Context& ctx) {
  const ConvPlan& p = plan_for(pass, g, x, y, w, ctx, false);
  return {p.algo, p.workspace, p.measured};
}

void cudnn_conv_filter_nhwc_bf16(float* dw, const void* x, const void* y, const ConvGeom& g,
                                 Context& ctx) {
  const int64_t per_k = g.cx * g.kh * g.kw;
  // The call's gradient (beta 0) in bf16, from the context's allocator (stream-ordered, so
  // handing it back right after the launches is safe).
  Scratch dw16(ctx.allocator(), size_t(g.cy * per_k) * 2);
  ConvPlan& p = plan_for(ConvPass::Filter, g, const_cast<void*>(x), const_cast<void*>(y),
                         dw16.get(), ctx, true);
  auto handle = static_cast<cudnnHandle_t>(ctx.cudnn_handle());
  void* ws = p.workspace ? ctx.workspace(p.workspace) : nullptr;
  const float one = 1.0f, zero = 0.0f;
  CGAN_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
      handle, &one, p.x, x, p.y, y, p.conv, static_cast<cudnnConvolutionBwdFilterAlgo_t>(p.algo),
      ws, p.workspace, &zero, p.w, dw16.get()));
  kernels::add_krsc_bf16_to_kcrs(dw, static_cast<const bf16*>(dw16.get()), g.cy, g.cx,
                                 g.kh * g.kw, ctx.stream());
}

void cudnn_conv_nhwc_bf16(ConvPass pass, void* x, void* y, const void* w, const ConvGeom& g,
                          Context& ctx) {
  // The search reads w and writes the pass's output only.
  ConvPlan& p = plan_for(pass, g, x, y, const_cast<void*>(w), ctx, true);
  auto handle = static_cast<cudnnHandle_t>(ctx.cudnn_handle());
  void* ws = p.workspace ? ctx.workspace(p.workspace) : nullptr;
  const float one = 1.0f, zero = 0.0f;  // float scaling factors for bf16 data (float compute)
  if (pass == ConvPass::XtoY)
    CGAN_CUDNN_CHECK(cudnnConvolutionForward(
        handle, &one, p.x, x, p.w, w, p.conv, static_cast<cudnnConvolutionFwdAlgo_t>(p.algo), ws,
        p.workspace, &zero, p.y, y));
  else
    CGAN_CUDNN_CHECK(cudnnConvolutionBackwardData(
        handle, &one, p.w, w, p.y, y, p.conv, static_cast<cudnnConvolutionBwdDataAlgo_t>(p.algo),
        ws, p.workspace, &zero, p.x, x));
}

}  // namespace detail
}  // namespace cgan
