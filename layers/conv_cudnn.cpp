// cuDNN legacy-API convolutions. Descriptors and the chosen algorithm are made once per
// (context, pass, geometry, math mode) and cached; workspace comes from ctx.workspace().
#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "cuda_check.hpp"
#include "layers/conv_impl.hpp"

namespace cgan::detail {
namespace {

int to_int(int64_t v) {
  CGAN_CHECK(v >= 0 && v <= INT32_MAX, "cuDNN: dimension " << v << " does not fit in int");
  return static_cast<int>(v);
}

struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  int algo = 0;  // cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t, by pass
  size_t workspace = 0;

  ConvPlan() = default;
  ConvPlan(const ConvPlan&) = delete;
  ConvPlan& operator=(const ConvPlan&) = delete;
  ~ConvPlan() {
    // Destruction at process exit: statuses cannot be reported anywhere useful.
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
  }
};

using PlanKey = std::tuple<void*, int, int, std::array<int64_t, 9>, int, int, bool>;

// The per-context cache: keyed by the context's cuDNN handle (one per context), so two
// contexts never share plans and a context finds its own without any global state in it.
std::mutex g_mutex;
std::map<PlanKey, std::unique_ptr<ConvPlan>> g_plans;

template <typename Perf>
const Perf& pick(const Perf* perfs, int n, const char* what) {
  for (int i = 0; i < n; ++i)
    if (perfs[i].status == CUDNN_STATUS_SUCCESS) return perfs[i];
  CGAN_FAIL("cuDNN: no usable " << what << " algorithm for this convolution shape");
}

ConvPlan& plan_for(ConvPass pass, const ConvGeom& g, Context& ctx) {
  auto handle = static_cast<cudnnHandle_t>(ctx.cudnn_handle());
  CGAN_CHECK(handle, "cuDNN convolution needs a CUDA context");
  const PlanKey key{handle, ctx.device().index, static_cast<int>(pass),
                    {g.n, g.cx, g.hx, g.wx, g.cy, g.hy, g.wy, g.kh, g.kw},
                    g.stride, g.pad, ctx.allow_tf32};
  std::lock_guard<std::mutex> lock(g_mutex);
  auto it = g_plans.find(key);
  if (it != g_plans.end()) return *it->second;

  auto p = std::make_unique<ConvPlan>();
  CGAN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
  CGAN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
  CGAN_CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
  CGAN_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
  CGAN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT,
                                              to_int(g.n), to_int(g.cx), to_int(g.hx),
                                              to_int(g.wx)));
  CGAN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT,
                                              to_int(g.n), to_int(g.cy), to_int(g.hy),
                                              to_int(g.wy)));
  CGAN_CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW,
                                              to_int(g.cy), to_int(g.cx), to_int(g.kh),
                                              to_int(g.kw)));
  CGAN_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv, g.pad, g.pad, g.stride, g.stride,
                                                   1, 1, CUDNN_CROSS_CORRELATION,
                                                   CUDNN_DATA_FLOAT));
  // FMA math keeps float32 exact; the default lets cuDNN pick TF32 tensor cores (Ampere+).
  const cudnnMathType_t math = ctx.allow_tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
  CGAN_CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, math));

  constexpr int kMax = 16;
  int n = 0;
  switch (pass) {
    case ConvPass::XtoY: {
      cudnnConvolutionFwdAlgoPerf_t perf[kMax];
      CGAN_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle, p->x, p->w, p->conv,
                                                               p->y, kMax, &n, perf));
      const auto& best = pick(perf, n, "forward");
      p->algo = best.algo;
      CGAN_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(handle, p->x, p->w, p->conv,
                                                               p->y, best.algo, &p->workspace));
      break;
    }
    case ConvPass::YtoX: {
      cudnnConvolutionBwdDataAlgoPerf_t perf[kMax];
      CGAN_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, p->w, p->y, p->conv,
                                                                    p->x, kMax, &n, perf));
      const auto& best = pick(perf, n, "backward-data");
      p->algo = best.algo;
      CGAN_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(
          handle, p->w, p->y, p->conv, p->x, best.algo, &p->workspace));
      break;
    }
    case ConvPass::Filter: {
      cudnnConvolutionBwdFilterAlgoPerf_t perf[kMax];
      CGAN_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
          handle, p->x, p->y, p->conv, p->w, kMax, &n, perf));
      const auto& best = pick(perf, n, "backward-filter");
      p->algo = best.algo;
      CGAN_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(
          handle, p->x, p->y, p->conv, p->w, best.algo, &p->workspace));
      break;
    }
  }
  ConvPlan& ref = *p;
  g_plans.emplace(key, std::move(p));
  return ref;
}

}  // namespace

void cudnn_conv(ConvPass pass, float* x, float* y, float* w, const ConvGeom& g, Context& ctx) {
  ConvPlan& p = plan_for(pass, g, ctx);
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
struct TensorDesc {
  cudnnTensorDescriptor_t d = nullptr;
  TensorDesc(int64_t n, int64_t c, int64_t h, int64_t w) {
    CGAN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d));
    const cudnnStatus_t st = cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT,
                                                        to_int(n), to_int(c), to_int(h),
                                                        to_int(w));
    if (st != CUDNN_STATUS_SUCCESS) cudnnDestroyTensorDescriptor(d);
    CGAN_CUDNN_CHECK(st);
  }
  ~TensorDesc() { cudnnDestroyTensorDescriptor(d); }
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
};
}  // namespace

void cudnn_bias_add(float* out, const float* bias, int64_t n, int64_t c, int64_t h, int64_t w,
                    Context& ctx) {
  auto handle = static_cast<cudnnHandle_t>(ctx.cudnn_handle());
  TensorDesc od(n, c, h, w), bd(1, c, 1, 1);
  const float one = 1.0f;
  CGAN_CUDNN_CHECK(cudnnAddTensor(handle, &one, bd.d, bias, &one, od.d, out));
}

void cudnn_bias_grad(float* d_bias, const float* d_out, int64_t n, int64_t c, int64_t h,
                     int64_t w, Context& ctx) {
  auto handle = static_cast<cudnnHandle_t>(ctx.cudnn_handle());
  TensorDesc od(n, c, h, w), bd(1, c, 1, 1);
  const float one = 1.0f;
  CGAN_CUDNN_CHECK(cudnnConvolutionBackwardBias(handle, &one, od.d, d_out, &one, bd.d, d_bias));
}

}  // namespace cgan::detail
