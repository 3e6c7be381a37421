// A generator's forward pass in bf16: channels-last bf16 maps, fp32 statistics and
// accumulation, executed from Generator::steps(). The image is converted once on the way in
// and once on the way out (the last convolution's bias and the tanh fused into that pass).
// A convolution followed by an instance norm skips its bias: the norm subtracts the per-
// channel mean, so a per-channel constant cancels exactly. A norm whose output only the next
// convolution reads writes it reflection-padded for that convolution, in the same pass.
#include <utility>

#include "cgan/conv.hpp"
#include "cgan/networks.hpp"
#include "cgan/ops.hpp"

namespace cgan {

Bf16GeneratorRunner::Bf16GeneratorRunner(Generator& g) : gen_(&g), steps_(g.steps()) {
  Context& ctx = g.ctx();
  nn::ParameterSet& ps = g.params();
  for (const GeneratorStep& s : steps_) {
    if (s.kind != GeneratorStep::Kind::Conv) continue;
    const Tensor& w = ps[s.conv->weight].value;
    Tensor wb = Tensor::empty(w.shape(), ctx, DType::BF16, Layout::NHWC);
    ops::to_nhwc(wb, w, ctx);  // [o, i, kh, kw] -> [o, kh, kw, i]
    weights_.push_back(std::move(wb));
  }
}

Tensor Bf16GeneratorRunner::run(const Tensor& x) {
  Context& ctx = gen_->ctx();
  nn::ParameterSet& ps = gen_->params();
  CGAN_CHECK(x.ndim() == 4 && x.dtype() == DType::F32 && x.layout() == Layout::NCHW,
             "bf16 generator: the input must be an F32 NCHW image batch, got " << x.str());
  Tensor h = Tensor::empty(x.shape(), ctx, DType::BF16, Layout::NHWC);
  ops::to_nhwc(h, x, ctx);
  Tensor kept;                       // the output a later norm adds (residual blocks)
  const Tensor* out_bias = nullptr;  // the last conv's bias, applied on the way out
  size_t wi = 0;
  bool h_padded = false;  // the norm before wrote h already padded for this convolution
  for (size_t i = 0; i < steps_.size(); ++i) {
    const GeneratorStep& s = steps_[i];
    switch (s.kind) {
      case GeneratorStep::Kind::Conv: {
        if (s.reflect > 0 && !h_padded) {
          const Shape& hs = h.shape();
          Tensor padded =
              Tensor::empty({hs[0], hs[1], hs[2] + 2 * s.reflect, hs[3] + 2 * s.reflect}, ctx,
                            DType::BF16, Layout::NHWC);
          ops::reflection_pad_nhwc(padded, h, s.reflect, ctx);
          h = std::move(padded);
        }
        const Tensor& w = weights_.at(wi++);
        const Tensor* bias = s.conv->bias >= 0 ? &ps[s.conv->bias].value : nullptr;
        const bool next_norm =
            i + 1 < steps_.size() && steps_[i + 1].kind == GeneratorStep::Kind::Norm;
        const bool next_tanh =
            i + 1 < steps_.size() && steps_[i + 1].kind == GeneratorStep::Kind::Tanh;
        Tensor y = Tensor::empty(conv_output_shape(h.shape(), w.shape(), s.conv->spec), ctx,
                                 DType::BF16, Layout::NHWC);
        conv_forward(y, h, w, next_norm || next_tanh ? nullptr : bias, s.conv->spec, ctx);
        if (next_tanh) out_bias = bias;
        h = std::move(y);
        h_padded = false;
        break;
      }
      case GeneratorStep::Kind::Norm: {
        const nn::InstanceNorm& n = *s.norm;
        const int64_t NC = h.dim(0) * h.dim(1);
        Tensor mean = Tensor::empty({NC}, ctx), rstd = Tensor::empty({NC}, ctx);
        // When only the next convolution reads this output (not kept for a residual), the
        // norm writes it padded for that convolution: no separate padding pass.
        const int pad = i + 1 < steps_.size() && steps_[i + 1].kind == GeneratorStep::Kind::Conv &&
                                !s.keep
                            ? steps_[i + 1].reflect
                            : 0;
        const Shape& hs = h.shape();
        Tensor y = Tensor::empty({hs[0], hs[1], hs[2] + 2 * pad, hs[3] + 2 * pad}, ctx,
                                 DType::BF16, Layout::NHWC);
        const Tensor* sc = n.scale >= 0 ? &ps[n.scale].value : nullptr;
        const Tensor* sh = n.shift >= 0 ? &ps[n.shift].value : nullptr;
        CGAN_CHECK(!s.add_residual || kept.defined(),
                   "bf16 generator: a residual without a kept map");
        ops::instance_norm_forward(y, mean, rstd, h, sc, sh, s.add_residual ? &kept : nullptr,
                                   n.eps, s.act, 0.f, ctx, pad);
        h = std::move(y);
        h_padded = pad > 0;
        if (s.keep) kept = h;
        break;
      }
      case GeneratorStep::Kind::Tanh: {
        Tensor out = Tensor::empty(h.shape(), ctx);
        ops::to_nchw(out, h, out_bias, true, ctx);
        return out;
      }
    }
  }
  CGAN_FAIL("bf16 generator: the steps do not end in tanh");
}

}  // namespace cgan
