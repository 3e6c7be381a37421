// Per-kernel microbenchmarks at CartoonGAN's activation shapes (batch 8: 64x256x256,
// 128x128x128, 256x64x64), cuDNN side by side where it has the op.
//
// Method: warm-up runs, then many timed runs, each preceded by a write of a buffer twice the
// L2 size so that every run starts from a cold cache; the median of the cudaEvent times is
// reported. Bytes moved = the minimum DRAM traffic of the op: every tensor the op must read
// counted once, plus every tensor it writes, once (an elementwise y = f(x) moves 2n floats;
// a fused kernel's L2-served re-reads are not counted). GB/s = bytes / median time. The
// reference is a device-to-device cudaMemcpy moving the same number of bytes (bytes/2 read +
// bytes/2 written), timed the same way in the same run: pct_copy = GB/s / copy GB/s.
//
// Output: one JSON object per line per measurement on stdout, then a human-readable table
// (lines starting with '#').
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "cuda_check.hpp"
#include "kernels/bias.hpp"
#include "kernels/elementwise.hpp"
#include "kernels/instance_norm.hpp"
#include "kernels/instance_norm_nhwc.hpp"
#include "kernels/losses.hpp"
#include "kernels/maxpool.hpp"
#include "kernels/padding.hpp"
#include "optim/adam_impl.hpp"

namespace {

using namespace cgan;

struct Row {
  std::string op, impl, shape;
  double bytes, ms, gbps, copy_gbps;
};

class Bench {
 public:
  Bench() {
    CGAN_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    timer_ = std::make_unique<bench::EventTimer>(stream_);
    flush_ = std::make_unique<bench::L2Flush>();
    copy_ = std::make_unique<bench::CopyBandwidth>();
  }
  ~Bench() {
    copy_.reset();
    flush_.reset();
    timer_.reset();
    cudaStreamDestroy(stream_);
  }
  Bench(const Bench&) = delete;
  Bench& operator=(const Bench&) = delete;
  Stream stream() const { return reinterpret_cast<Stream>(stream_); }
  cudaStream_t cuda_stream() const { return stream_; }

  // Median milliseconds of fn over `runs` cold-cache runs.
  double time_ms(const std::function<void()>& fn, int runs = 25) {
    return timer_->median_ms(fn, 3, runs, [&](int i) { flush_->flush(stream_, i); });
  }

  void record(const std::string& op, const std::string& impl, const std::string& shape,
              double bytes, const std::function<void()>& fn) {
    const double ms = time_ms(fn);
    const double gbps = bytes / (ms * 1e6);
    const double copy =
        copy_->gbps(bytes, stream_, [&](const std::function<void()>& f) { return time_ms(f); });
    rows_.push_back({op, impl, shape, bytes, ms, gbps, copy});
    bench::JsonLine()
        .str("bench", op)
        .str("impl", impl)
        .str("shape", shape)
        .num("bytes", bytes, 0)
        .num("ms", ms, 5)
        .num("gbps", gbps, 1)
        .num("copy_gbps", copy, 1)
        .num("pct_copy", 100.0 * gbps / copy, 1)
        .print();
  }

  void table() const {
    std::printf("# %-22s %-7s %-18s %10s %10s %9s %9s %7s\n", "op", "impl", "shape", "MB",
                "ms", "GB/s", "copyGB/s", "%copy");
    for (const Row& r : rows_)
      std::printf("# %-22s %-7s %-18s %10.1f %10.4f %9.1f %9.1f %6.1f%%\n", r.op.c_str(),
                  r.impl.c_str(), r.shape.c_str(), r.bytes / 1e6, r.ms, r.gbps, r.copy_gbps,
                  100.0 * r.gbps / r.copy_gbps);
  }

 private:
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<bench::EventTimer> timer_;
  std::unique_ptr<bench::L2Flush> flush_;
  std::unique_ptr<bench::CopyBandwidth> copy_;
  std::vector<Row> rows_;
};

float* dalloc(size_t n, float value = 0.5f) {
  float* p = nullptr;
  CGAN_CUDA_CHECK(cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(float)));
  std::vector<float> h(n);
  for (size_t i = 0; i < n; ++i) h[i] = value * float(int(i % 97) - 48) / 48.f;
  CGAN_CUDA_CHECK(cudaMemcpy(p, h.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  // cudaMemcpy runs on the legacy stream, which the benchmark's non-blocking stream does not
  // wait for (and a pageable copy may return before its DMA lands): finish it here.
  CGAN_CUDA_CHECK(cudaDeviceSynchronize());
  return p;
}

void run_all() {
  Bench b;
  const Stream s = b.stream();
  cudnnHandle_t dnn = nullptr;
  CGAN_CUDNN_CHECK(cudnnCreate(&dnn));
  CGAN_CUDNN_CHECK(cudnnSetStream(dnn, b.cuda_stream()));
  cudnnTensorDescriptor_t xd, bd;
  cudnnActivationDescriptor_t relu_d, tanh_d;
  CGAN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&xd));
  CGAN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&bd));
  CGAN_CUDNN_CHECK(cudnnCreateActivationDescriptor(&relu_d));
  CGAN_CUDNN_CHECK(cudnnCreateActivationDescriptor(&tanh_d));
  CGAN_CUDNN_CHECK(
      cudnnSetActivationDescriptor(relu_d, CUDNN_ACTIVATION_RELU, CUDNN_PROPAGATE_NAN, 0.0));
  CGAN_CUDNN_CHECK(
      cudnnSetActivationDescriptor(tanh_d, CUDNN_ACTIVATION_TANH, CUDNN_PROPAGATE_NAN, 0.0));
  const float one = 1.f, zero = 0.f;

  struct Shape4 {
    int N, C, H, W;
  };
  for (const Shape4 sh : {Shape4{8, 64, 256, 256}, Shape4{8, 128, 128, 128},
                          Shape4{8, 256, 64, 64}}) {
    const int64_t n = int64_t(sh.N) * sh.C * sh.H * sh.W, HW = int64_t(sh.H) * sh.W;
    const std::string tag = std::to_string(sh.N) + "x" + std::to_string(sh.C) + "x" +
                            std::to_string(sh.H) + "x" + std::to_string(sh.W);
    const double F = sizeof(float);
    float *x = dalloc(size_t(n)), *y = dalloc(size_t(n)), *dy = dalloc(size_t(n)),
          *dx = dalloc(size_t(n));
    float *scale = dalloc(size_t(sh.C), 1.f), *shift = dalloc(size_t(sh.C)),
          *dscale = dalloc(size_t(sh.C)), *dshift = dalloc(size_t(sh.C));
    float *mean = dalloc(size_t(sh.N) * sh.C), *rstd = dalloc(size_t(sh.N) * sh.C);
    CGAN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(xd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, sh.N,
                                                sh.C, sh.H, sh.W));
    CGAN_CUDNN_CHECK(
        cudnnSetTensor4dDescriptor(bd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, sh.C, 1, 1));

    b.record("relu_fwd", "cgan", tag, 2 * n * F, [&] { kernels::relu_forward(y, x, n, s); });
    b.record("relu_fwd", "cudnn", tag, 2 * n * F, [&] {
      CGAN_CUDNN_CHECK(cudnnActivationForward(dnn, relu_d, &one, xd, x, &zero, xd, y));
    });
    b.record("relu_bwd", "cgan", tag, 3 * n * F,
             [&] { kernels::relu_backward(dx, dy, y, n, s); });
    b.record("relu_bwd", "cudnn", tag, 4 * n * F, [&] {  // cuDNN also reads x
      CGAN_CUDNN_CHECK(
          cudnnActivationBackward(dnn, relu_d, &one, xd, y, xd, dy, xd, x, &zero, xd, dx));
    });
    b.record("leaky_relu_fwd", "cgan", tag, 2 * n * F,
             [&] { kernels::leaky_relu_forward(y, x, 0.2f, n, s); });
    b.record("leaky_relu_bwd", "cgan", tag, 3 * n * F,
             [&] { kernels::leaky_relu_backward(dx, dy, y, 0.2f, n, s); });
    b.record("tanh_fwd", "cgan", tag, 2 * n * F, [&] { kernels::tanh_forward(y, x, n, s); });
    b.record("tanh_fwd", "cudnn", tag, 2 * n * F, [&] {
      CGAN_CUDNN_CHECK(cudnnActivationForward(dnn, tanh_d, &one, xd, x, &zero, xd, y));
    });
    b.record("add", "cgan", tag, 3 * n * F, [&] { kernels::add(y, x, dy, n, s); });
    b.record("axpy", "cgan", tag, 3 * n * F, [&] { kernels::axpy(y, 0.5f, x, n, s); });
    b.record("scale", "cgan", tag, 2 * n * F, [&] { kernels::scale(y, 0.999f, n, s); });
    b.record("bias_add", "cgan", tag, 2 * n * F,
             [&] { kernels::bias_add_inplace(y, shift, sh.N, sh.C, HW, s); });
    b.record("bias_add", "cudnn", tag, 2 * n * F,
             [&] { CGAN_CUDNN_CHECK(cudnnAddTensor(dnn, &one, bd, shift, &one, xd, y)); });

    void* ws = nullptr;
    const size_t ws_bytes = std::max({kernels::instance_norm_workspace_bytes(sh.N, sh.C, HW),
                                      kernels::bias_backward_workspace_bytes(sh.N, sh.C, HW),
                                      kernels::loss_workspace_bytes(n)});
    CGAN_CUDA_CHECK(cudaMalloc(&ws, ws_bytes));
    b.record("bias_bwd", "cgan", tag, n * F,
             [&] { kernels::bias_backward(dshift, dy, sh.N, sh.C, HW, ws, s); });
    b.record("instance_norm_fwd", "cgan", tag, 2 * n * F, [&] {
      kernels::instance_norm_forward(y, mean, rstd, x, scale, shift, nullptr, sh.N, sh.C, HW,
                                     1e-5f, kernels::NormAct::ReLU, 0.f, ws, s);
    });
    b.record("instance_norm_fwd_res", "cgan", tag, 3 * n * F, [&] {
      kernels::instance_norm_forward(y, mean, rstd, x, scale, shift, dx, sh.N, sh.C, HW, 1e-5f,
                                     kernels::NormAct::None, 0.f, ws, s);
    });
    b.record("instance_norm_bwd", "cgan", tag, 4 * n * F, [&] {
      kernels::instance_norm_backward(dx, dscale, dshift, dy, x, mean, rstd, scale, y, sh.N,
                                      sh.C, HW, kernels::NormAct::ReLU, 0.f, ws, s);
    });
    // Channels-last, F32 and BF16 storage (the bf16 training path's layout). The bytes are the
    // minimum traffic (each map once), so %copy is the fraction of the copy bandwidth reached;
    // the statistics pass re-reads the input on top of that.
    {
      const size_t nhwc_ws = kernels::instance_norm_nhwc_workspace_bytes(sh.N, HW, sh.C);
      void* ws2 = nullptr;
      CGAN_CUDA_CHECK(cudaMalloc(&ws2, nhwc_ws));
      b.record("in_nhwc_f32_fwd_relu", "cgan", tag, 2 * n * F, [&] {
        kernels::instance_norm_nhwc_forward<float>(y, mean, rstd, x, scale, shift, nullptr,
                                                   sh.N, HW, sh.C, 1e-5f,
                                                   kernels::NormAct::ReLU, 0.f, ws2, s);
      });
      b.record("in_nhwc_f32_bwd_relu", "cgan", tag, 4 * n * F, [&] {
        kernels::instance_norm_nhwc_backward<float>(dx, dscale, dshift, dy, x, mean, rstd,
                                                    scale, y, sh.N, HW, sh.C,
                                                    kernels::NormAct::ReLU, 0.f, ws2, s);
      });
      // bf16 maps in the float buffers' first halves (the values do not matter for speed).
      auto* xb = reinterpret_cast<bf16*>(x);
      auto* yb = reinterpret_cast<bf16*>(y);
      auto* dyb = reinterpret_cast<bf16*>(dy);
      auto* dxb = reinterpret_cast<bf16*>(dx);
      const double H2 = 2;
      b.record("in_nhwc_bf16_fwd_relu", "cgan", tag, 2 * n * H2, [&] {
        kernels::instance_norm_nhwc_forward<bf16>(yb, mean, rstd, xb, scale, shift, nullptr,
                                                  sh.N, HW, sh.C, 1e-5f,
                                                  kernels::NormAct::ReLU, 0.f, ws2, s);
      });
      b.record("in_nhwc_bf16_fwd_res", "cgan", tag, 3 * n * H2, [&] {
        kernels::instance_norm_nhwc_forward<bf16>(yb, mean, rstd, xb, scale, shift, dxb, sh.N,
                                                  HW, sh.C, 1e-5f, kernels::NormAct::None, 0.f,
                                                  ws2, s);
      });
      b.record("in_nhwc_bf16_bwd_relu", "cgan", tag, 4 * n * H2, [&] {
        kernels::instance_norm_nhwc_backward<bf16>(dxb, dscale, dshift, dyb, xb, mean, rstd,
                                                   scale, yb, sh.N, HW, sh.C,
                                                   kernels::NormAct::ReLU, 0.f, ws2, s);
      });
      CGAN_CUDA_CHECK(cudaFree(ws2));
    }
    b.record("mse_const_loss", "cgan", tag, 2 * n * F,
             [&] { kernels::mse_const_loss(mean, dx, x, 1.f, 1.f, n, ws, s); });
    b.record("l1_loss", "cgan", tag, 3 * n * F,
             [&] { kernels::l1_loss(mean, dx, x, y, 1.f, n, ws, s); });
    b.record("maxpool2x2_fwd", "cgan", tag, 1.25 * n * F,
             [&] { kernels::maxpool2x2_forward(y, x, int64_t(sh.N) * sh.C, sh.H, sh.W, s); });
    b.record("maxpool2x2_bwd", "cgan", tag, 2.25 * n * F, [&] {
      kernels::maxpool2x2_backward(dx, dy, x, int64_t(sh.N) * sh.C, sh.H, sh.W, s);
    });
    // Reflection pad 3 (the 7x7 convolutions' input): x -> padded y, and back.
    {
      const int64_t P = int64_t(sh.N) * sh.C;
      const int64_t on = P * (sh.H + 6) * (sh.W + 6);
      float* big = dalloc(size_t(on));
      b.record("reflection_pad3_fwd", "cgan", tag, double(n + on) * F, [&] {
        kernels::reflection_pad_forward(big, x, P, sh.H, sh.W, 3, 3, 3, 3, s);
      });
      b.record("reflection_pad3_bwd", "cgan", tag, double(n + on) * F, [&] {
        kernels::reflection_pad_backward(dx, big, P, sh.H, sh.W, 3, 3, 3, 3, s);
      });
      CGAN_CUDA_CHECK(cudaFree(big));
    }
    for (float* p : {x, y, dy, dx, scale, shift, dscale, dshift, mean, rstd})
      CGAN_CUDA_CHECK(cudaFree(p));
    CGAN_CUDA_CHECK(cudaFree(ws));
  }

  // Adam over CartoonGAN's generator parameter count (about 11.1M).
  {
    const int64_t n = 11100000;
    float *p = dalloc(size_t(n)), *g = dalloc(size_t(n)), *m = dalloc(size_t(n), 0.f),
          *v = dalloc(size_t(n), 0.f);
    AdamHyper h{2e-4f, 0.5f, 0.999f, 1e-8f, 0.f, 0, 0u, 0.f};
    AdamHyper* dh = nullptr;
    CGAN_CUDA_CHECK(cudaMalloc(&dh, sizeof h));
    CGAN_CUDA_CHECK(cudaMemcpy(dh, &h, sizeof h, cudaMemcpyHostToDevice));
    CGAN_CUDA_CHECK(cudaDeviceSynchronize());  // see dalloc
    // read p, g, m, v; write p, m, v
    b.record("adam", "cgan", "11.1M", 7.0 * n * sizeof(float),
             [&] { kernels::adam_step(p, m, v, g, n, dh, {}, s); });
    for (float* q : {p, g, m, v}) CGAN_CUDA_CHECK(cudaFree(q));
    CGAN_CUDA_CHECK(cudaFree(dh));
  }
  cudnnDestroyTensorDescriptor(xd);
  cudnnDestroyTensorDescriptor(bd);
  cudnnDestroyActivationDescriptor(relu_d);
  cudnnDestroyActivationDescriptor(tanh_d);
  cudnnDestroy(dnn);
  b.table();
}

}  // namespace

int main() {
  int count = 0;
  const cudaError_t st = cudaGetDeviceCount(&count);
  if (st != cudaSuccess || count == 0) {
    std::printf("no CUDA device: %s\n",
                st != cudaSuccess ? cudaGetErrorString(st) : "no GPU found");
    return 0;
  }
  try {
    cudaDeviceProp prop{};
    CGAN_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    std::printf("# device: %s (sm_%d%d, %d SMs, L2 %d MiB)\n", prop.name, prop.major,
                prop.minor, prop.multiProcessorCount, prop.l2CacheSize >> 20);
    run_all();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_kernels: %s\n", e.what());
    return 1;
  }
  return 0;
}
