// Every distinct convolution of the official CartoonGAN generator at the training size (batch
// 8, 256x256) through cgan's cuDNN path (conv_forward / conv_backward_data /
// conv_backward_filter, no bias): median ms and TFLOP/s, TF32 on and off, with the algorithm
// the per-context cache chose (measured by cudnnFind*Ex, or the heuristics' when that failed).
//
// Method: cudaEvents on the context's stream around each call; 3 warm-up calls (the first
// plans the algorithm), then the median of 20. FLOPs = 2 * N * (spatial size of the small
// side) * Cin * Cout * kh * kw: the multiply-adds of the dense convolution, the same count for
// all three passes (and for a transposed conv, whose small side is its input).
// Output: one JSON object per line, then a '#' table. Without a GPU: "no CUDA device: ...",
// exit status 0.
#include <cuda_runtime.h>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "cgan/conv.hpp"
#include "cgan/device.hpp"
#include "cuda_check.hpp"
#include "layers/conv_impl.hpp"

using namespace cgan;

namespace {

struct ConvCase {
  const char* name;  // the generator's layers with this shape
  int uses;          // how many times one generator forward runs it
  Shape in, weight;
  ConvSpec spec;
};

// Batch 8 at 256x256; explicit reflection pads make the 7x7 and residual inputs larger.
const std::vector<ConvCase>& cases() {
  static const std::vector<ConvCase> c = {
      {"conv01_1", 1, {8, 3, 262, 262}, {64, 3, 7, 7}, {1, 0, 0, false}},
      {"conv02_1", 1, {8, 64, 256, 256}, {128, 64, 3, 3}, {2, 1, 0, false}},
      {"conv02_2,deconv01_2", 2, {8, 128, 128, 128}, {128, 128, 3, 3}, {1, 1, 0, false}},
      {"conv03_1", 1, {8, 128, 128, 128}, {256, 128, 3, 3}, {2, 1, 0, false}},
      {"conv03_2", 1, {8, 256, 64, 64}, {256, 256, 3, 3}, {1, 1, 0, false}},
      {"conv04_1..conv11_2", 16, {8, 256, 66, 66}, {256, 256, 3, 3}, {1, 0, 0, false}},
      {"deconv01_1", 1, {8, 256, 64, 64}, {256, 128, 3, 3}, {2, 1, 1, true}},
      {"deconv02_1", 1, {8, 128, 128, 128}, {128, 64, 3, 3}, {2, 1, 1, true}},
      {"deconv02_2", 1, {8, 64, 256, 256}, {64, 64, 3, 3}, {1, 1, 0, false}},
      {"deconv03_1", 1, {8, 64, 262, 262}, {3, 64, 7, 7}, {1, 0, 0, false}},
  };
  return c;
}

struct Row {
  std::string layer, pass, shape;
  bool tf32;
  double ms, tflops;
  int algo;
  bool measured;
};

std::string shape_text(const ConvCase& c) {
  return shape_str(c.in) + (c.spec.transposed ? " convT " : " conv ") + shape_str(c.weight) +
         " s" + std::to_string(c.spec.stride) + " p" + std::to_string(c.spec.pad);
}

void run_all() {
  std::vector<Row> rows;
  for (bool tf32 : {true, false}) {
    Context ctx(Device::cuda(0));
    ctx.allow_tf32 = tf32;
    bench::EventTimer timer(ctx.stream());
    for (const ConvCase& c : cases()) {
      const Shape os = conv_output_shape(c.in, c.weight, c.spec);
      Tensor x = Tensor::empty(c.in, ctx), w = Tensor::empty(c.weight, ctx);
      Tensor y = Tensor::empty(os, ctx), dx = Tensor::empty(c.in, ctx);
      Tensor dw = Tensor::zeros(c.weight, ctx);
      x.fill(0.5f, ctx);
      w.fill(0.01f, ctx);
      y.fill(0.25f, ctx);
      // The geometry conv.cpp hands to cuDNN: x = the large side, y = the small side.
      const bool t = c.spec.transposed;
      const Shape& big = t ? os : c.in;
      const Shape& small = t ? c.in : os;
      detail::ConvGeom g;
      g.n = big[0];
      g.cx = big[1];
      g.hx = big[2];
      g.wx = big[3];
      g.cy = small[1];
      g.hy = small[2];
      g.wy = small[3];
      g.kh = c.weight[2];
      g.kw = c.weight[3];
      g.stride = c.spec.stride;
      g.pad = c.spec.pad;
      const double flops = 2.0 * g.n * g.hy * g.wy * g.cx * g.cy * g.kh * g.kw;
      Tensor& big_t = t ? y : x;  // a transposed conv's output is the large side
      Tensor& small_t = t ? x : y;
      struct P {
        const char* name;
        detail::ConvPass pass;
        std::function<void()> fn;
      };
      const P passes[] = {
          {"forward", t ? detail::ConvPass::YtoX : detail::ConvPass::XtoY,
           [&] { conv_forward(y, x, w, nullptr, c.spec, ctx); }},
          {"backward_data", t ? detail::ConvPass::XtoY : detail::ConvPass::YtoX,
           [&] { conv_backward_data(dx, y, w, c.spec, ctx); }},
          {"backward_filter", detail::ConvPass::Filter,
           [&] { conv_backward_filter(dw, nullptr, y, x, c.spec, ctx); }},
      };
      for (const P& p : passes) {
        const double ms = timer.median_ms(p.fn);
        // Planned by the warm-up: this only reads the cache.
        const detail::ConvAlgoInfo info =
            detail::cudnn_conv_algo(p.pass, big_t.f32(), small_t.f32(),
                                    p.pass == detail::ConvPass::Filter ? dw.f32() : w.f32(), g,
                                    ctx);
        Row r{c.name, p.name, shape_text(c), tf32, ms, flops / (ms * 1e9), info.algo,
              info.measured};
        bench::JsonLine()
            .str("bench", std::string("conv_") + p.name)
            .str("impl", "cgan")
            .str("layer", c.name)
            .integer("uses", c.uses)
            .str("shape", r.shape)
            .boolean("tf32", tf32)
            .num("ms", ms, 4)
            .num("tflops", r.tflops, 2)
            .integer("algo", info.algo)
            .boolean("algo_measured", info.measured)
            .num("workspace_MiB", double(info.workspace) / (1 << 20), 1)
            .print();
        rows.push_back(r);
      }
    }
  }
  std::printf("# %-20s %-16s %-4s %9s %8s %5s %s\n", "layer", "pass", "tf32", "ms", "TFLOP/s",
              "algo", "shape");
  for (const Row& r : rows)
    std::printf("# %-20s %-16s %-4s %9.3f %8.2f %4d%s %s\n", r.layer.c_str(), r.pass.c_str(),
                r.tf32 ? "on" : "off", r.ms, r.tflops, r.algo, r.measured ? "m" : "h",
                r.shape.c_str());
}

}  // namespace

int main() {
  if (!cuda_available()) {
    std::printf("no CUDA device: %s\n", cuda_unavailable_reason().c_str());
    return 0;
  }
  try {
    std::printf("# device: %s\n", device_description(Device::cuda(0)).c_str());
    run_all();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_conv: %s\n", e.what());
    return 1;
  }
  return 0;
}
