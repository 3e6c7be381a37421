#include <algorithm>
#include <array>
#include <cmath>
#include <random>

#include <cstring>

#include "cgan/nn.hpp"
#include "optim/adam_impl.hpp"

namespace cgan::nn {

Var input(const Tensor& value, bool requires_grad) {
  auto n = std::make_shared<Node>();
  n->value = value;
  n->requires_grad = requires_grad;
  return n;
}

namespace {
// An op's output, stored like `like` (its input): F32 NCHW, or the bf16 path's NHWC maps.
Var make_output(const Shape& shape, Context& ctx, bool requires_grad, const Tensor& like) {
  auto n = std::make_shared<Node>();
  n->value = Tensor::empty(shape, ctx, like.dtype(), shape.size() == 4 ? like.layout() : Layout::NCHW);
  n->requires_grad = requires_grad;
  return n;
}
Tensor empty_like(const Tensor& t, Context& ctx) {
  return Tensor::empty(t.shape(), ctx, t.dtype(), t.layout());
}
}  // namespace

// ---- Tape -------------------------------------------------------------------------------

void Tape::record(std::function<void()> backward_fn) {
  if (enabled_) fns_.push_back(std::move(backward_fn));
}

void Tape::backward(const Var& out, const Tensor& d_out) {
  CGAN_CHECK(enabled_, "Tape::backward on a tape recorded with gradients disabled");
  CGAN_CHECK(out && out->requires_grad,
             "Tape::backward: the output does not depend on anything that needs a gradient");
  CGAN_CHECK(d_out.shape() == out->value.shape(),
             "Tape::backward: d_out " << shape_str(d_out.shape()) << " vs output "
                                      << shape_str(out->value.shape()));
  CGAN_CHECK(d_out.dtype() == out->value.dtype() && d_out.layout() == out->value.layout(),
             "Tape::backward: d_out is " << d_out.str() << " but the output is "
                                         << out->value.str());
  out->grad = empty_like(out->value, *ctx_);
  out->grad.copy_from(d_out, *ctx_);
  for (size_t i = fns_.size(); i-- > 0;) {
    fns_[i]();
    fns_[i] = nullptr;  // frees this op's saved activations now, not at the end
  }
  fns_.clear();
}

void Tape::accumulate(Node& n, const std::function<void(Tensor& dst)>& compute) {
  if (!n.grad.defined()) {
    n.grad = empty_like(n.value, *ctx_);
    compute(n.grad);
    return;
  }
  Tensor tmp = empty_like(n.value, *ctx_);
  compute(tmp);
  ops::add_inplace(n.grad, tmp, *ctx_);
}

// ---- ParameterSet ------------------------------------------------------------------------

float default_init_bound(int64_t fan_in) {
  return fan_in > 0 ? static_cast<float>(1.0 / std::sqrt(static_cast<double>(fan_in))) : 0.f;
}

int ParameterSet::add(const std::string& name, const Shape& shape, Init init, float bound) {
  CGAN_CHECK(!allocated(), "ParameterSet::add('" << name << "') after allocate()");
  CGAN_CHECK(!index_.count(name), "ParameterSet: duplicate parameter name '" << name << "'");
  Parameter p;
  p.name = name;
  p.shape = shape;
  p.offset = total_;
  p.init = init;
  p.bound = bound;
  // Keep every view 16-byte aligned so vectorized kernels may use float4 on any parameter.
  total_ += (shape_numel(shape) + 3) / 4 * 4;
  index_[name] = static_cast<int>(params_.size());
  params_.push_back(std::move(p));
  return static_cast<int>(params_.size()) - 1;
}

void ParameterSet::allocate(Context& ctx, uint64_t seed) {
  CGAN_CHECK(!allocated(), "ParameterSet::allocate called twice");
  values_ = Tensor::zeros({std::max<int64_t>(total_, 1)}, ctx);
  grads_ = Tensor::zeros({std::max<int64_t>(total_, 1)}, ctx);
  for (Parameter& p : params_) {
    const int64_t n = shape_numel(p.shape);
    p.value = values_.slice(p.offset, p.offset + n).view(p.shape);
    p.grad = grads_.slice(p.offset, p.offset + n).view(p.shape);
  }
  init_random(seed, ctx);
}

void ParameterSet::allocate_for_inference(Context& ctx) {
  CGAN_CHECK(!allocated(), "ParameterSet::allocate_for_inference after allocate");
  values_ = Tensor::zeros({std::max<int64_t>(total_, 1)}, ctx);
  for (Parameter& p : params_)
    p.value = values_.slice(p.offset, p.offset + shape_numel(p.shape)).view(p.shape);
  frozen = true;
}

void ParameterSet::init_random(uint64_t seed, Context& ctx) {
  CGAN_CHECK(allocated(), "ParameterSet::init_random before allocate()");
  std::mt19937_64 rng(seed);
  std::vector<float> host(static_cast<size_t>(values_.numel()), 0.f);
  for (const Parameter& p : params_) {
    float* dst = host.data() + p.offset;
    const int64_t n = shape_numel(p.shape);
    std::uniform_real_distribution<float> u(-p.bound, p.bound);
    for (int64_t i = 0; i < n; ++i)
      dst[i] = p.init == Init::Ones ? 1.f : p.init == Init::Zeros ? 0.f : u(rng);
  }
  values_.copy_from(Tensor::from_vector(values_.shape(), host), ctx);
  refresh_bf16(ctx);
}

void ParameterSet::enable_bf16(Context& ctx) {
  CGAN_CHECK(allocated(), "ParameterSet::enable_bf16 before allocate()");
  if (bf16_enabled()) return;
  values_bf16_ = Tensor::empty({values_.numel()}, ctx, DType::BF16);
  for (Parameter& p : params_) {
    const int64_t n = shape_numel(p.shape);
    Tensor flat = values_bf16_.slice(p.offset, p.offset + n);
    p.value_bf16 = p.shape.size() == 4 ? flat.view_as(p.shape, Layout::NHWC) : flat.view(p.shape);
  }
  refresh_bf16(ctx);
}

std::vector<FilterSegment> ParameterSet::filter_segments() const {
  std::vector<FilterSegment> v;
  for (const Parameter& p : params_)
    if (p.shape.size() == 4) v.push_back({p.offset, p.shape[0], p.shape[1], p.shape[2], p.shape[3]});
  return v;
}

void ParameterSet::refresh_bf16(Context& ctx) {
  if (!bf16_enabled()) return;
  // The same copy Adam's step writes (optim/adam_impl.hpp), without an update.
  const std::vector<FilterSegment> f = filter_segments();
  std::vector<MirrorSegment> segs;
  for (const FilterSegment& s : f) segs.push_back({s.offset, s.K, s.C, s.R, s.S});
  Bf16Mirror mr;
  mr.out = values_bf16_.data<uint16_t>();
  mr.nseg = static_cast<int>(segs.size());
  if (ctx.is_cuda()) {
    Tensor dev;
    if (!segs.empty()) {
      Tensor host = Tensor::empty_cpu({int64_t(segs.size()) * 10});
      std::memcpy(host.raw(), segs.data(), segs.size() * sizeof(MirrorSegment));
      dev = host.to(ctx);
      mr.segs = dev.data<MirrorSegment>();
    }
    kernels::write_bf16_mirror(values_.f32(), values_.numel(), mr, ctx.stream());
    ctx.synchronize();  // `dev` (the segment table) is freed at scope exit
  } else {
    mr.segs = segs.empty() ? nullptr : segs.data();
    cpu::write_bf16_mirror(values_.f32(), values_.numel(), mr);
  }
}

void ParameterSet::zero_grad(Context& ctx) {
  if (grads_.defined()) grads_.fill(0.f, ctx);
}

void ParameterSet::load(const SafeTensors& st, const std::string& source, bool allow_unexpected,
                        Context& ctx) {
  CGAN_CHECK(allocated(), "ParameterSet::load before allocate()");
  // The first few problems name the tensors; 146 lines for a wrong architecture help nobody.
  constexpr int kShown = 8;
  std::ostringstream problems, rest;
  int count = 0;
  auto problem = [&]() -> std::ostream& { return ++count <= kShown ? problems : rest; };
  for (const Parameter& p : params_) {
    if (!st.contains(p.name)) {
      problem() << "\n  missing tensor '" << p.name << "' (expected shape "
                << shape_str(p.shape) << ")";
    } else if (st.at(p.name).shape() != p.shape) {
      problem() << "\n  tensor '" << p.name << "' has shape "
                << shape_str(st.at(p.name).shape()) << ", expected " << shape_str(p.shape);
    }
  }
  if (!allow_unexpected)
    for (const auto& kv : st.tensors)
      if (!index_.count(kv.first)) {
        problem() << "\n  unexpected tensor '" << kv.first << "' "
                  << shape_str(kv.second.shape());
      }
  if (count)
    CGAN_FAIL(source << ": " << count << " problem(s) loading weights:" << problems.str()
                     << (count > kShown ? "\n  ... and " + std::to_string(count - kShown) +
                                              " more"
                                        : std::string()));
  for (Parameter& p : params_) p.value.copy_from(st.f32(p.name), ctx);
  refresh_bf16(ctx);
}

std::vector<std::pair<std::string, Tensor>> ParameterSet::state() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const Parameter& p : params_) out.emplace_back(p.name, p.value);
  return out;
}

// ---- layers -----------------------------------------------------------------------------

void Conv::declare(ParameterSet& ps, const std::string& name, int in_ch, int out_ch, int k,
                   ConvSpec s, bool with_bias) {
  spec = s;
  // PyTorch computes fan_in from weight.size(1): in_ch for conv, out_ch for a transposed conv.
  const int64_t fan_in = int64_t{s.transposed ? out_ch : in_ch} * k * k;
  const float bound = default_init_bound(fan_in);
  const Shape w = s.transposed ? Shape{in_ch, out_ch, k, k} : Shape{out_ch, in_ch, k, k};
  weight = ps.add(name + ".weight", w, Init::Uniform, bound);
  bias = with_bias ? ps.add(name + ".bias", {out_ch}, Init::Uniform, bound) : -1;
}

void Conv::cancel_bias(ParameterSet& ps) {
  if (bias < 0) return;
  bias_cancelled = true;
  ps[bias].cancelled = true;
}

Var Conv::operator()(Tape& tape, ParameterSet& ps, const Var& x) const {
  Context& ctx = tape.ctx();
  const bool want_params =
      tape.grad_enabled() && tape.param_grads && !ps.frozen && ps.grads().defined();
  const bool need = tape.grad_enabled() && (x->requires_grad || want_params);
  Var out = make_output(conv_output_shape(x->value.shape(), ps[weight].shape, spec), ctx, need,
                        x->value);
  const Parameter& w = ps[weight];
  // b: the bias this convolution adds; b_grad: the bias whose gradient it computes.
  const Parameter* b_grad = bias >= 0 && !bias_cancelled ? &ps[bias] : nullptr;
  const Parameter* b = bias_in_epilogue ? nullptr : b_grad;
  const bool b16 = x->value.dtype() == DType::BF16;
  CGAN_CHECK(!b16 || w.value_bf16.defined(),
             "conv '" << w.name << "': a BF16 input needs the parameters' bf16 copy "
                      << "(ParameterSet::enable_bf16)");
  conv_forward(out->value, x->value, b16 ? w.value_bf16 : w.value, b ? &b->value : nullptr, spec,
               ctx);
  if (!need) return out;
  Var o = out;
  tape.record([&tape, &ps, o, x, want_params, w_i = weight, b_i = b_grad ? bias : -1, spec_ = spec] {
    if (!o->grad.defined()) return;
    Context& c = tape.ctx();
    Parameter& wp = ps[w_i];
    const Tensor& wv = x->value.dtype() == DType::BF16 ? wp.value_bf16 : wp.value;
    if (x->requires_grad)
      tape.accumulate(*x, [&](Tensor& d) { conv_backward_data(d, o->grad, wv, spec_, c); });
    if (want_params)
      conv_backward_filter(wp.grad, b_i >= 0 ? &ps[b_i].grad : nullptr, o->grad, x->value,
                           spec_, c);
  });
  return out;
}

void InstanceNorm::declare_affine(ParameterSet& ps, const std::string& scale_name,
                                  const std::string& shift_name, int channels) {
  scale = ps.add(scale_name, {channels}, Init::Ones);
  shift = ps.add(shift_name, {channels}, Init::Zeros);
}

Var InstanceNorm::operator()(Tape& tape, ParameterSet& ps, const Var& x, ops::Act act,
                             float slope, const Var& residual, int pad_out) const {
  Context& ctx = tape.ctx();
  const bool affine = scale >= 0;
  const bool want_params = affine && tape.grad_enabled() && tape.param_grads && !ps.frozen &&
                           ps.grads().defined();
  const bool need = tape.grad_enabled() &&
                    (x->requires_grad || want_params || (residual && residual->requires_grad));
  const Shape& s = x->value.shape();
  CGAN_CHECK(s.size() == 4, "instance norm: expected [N,C,H,W], got " << shape_str(s));
  Var out = make_output({s[0], s[1], s[2] + 2 * pad_out, s[3] + 2 * pad_out}, ctx, need,
                        x->value);
  Tensor mean = Tensor::empty({s[0] * s[1]}, ctx), rstd = Tensor::empty({s[0] * s[1]}, ctx);
  const Tensor* sc = affine ? &ps[scale].value : nullptr;
  const Tensor* sh = affine ? &ps[shift].value : nullptr;
  ops::instance_norm_forward(out->value, mean, rstd, x->value, sc, sh,
                             residual ? &residual->value : nullptr, eps, act, slope, ctx,
                             pad_out);
  if (!need) return out;
  Var o = out;
  tape.record([&tape, &ps, o, x, residual, mean, rstd, act, slope, want_params, affine,
               sc_i = scale, sh_i = shift, pad_out] {
    if (!o->grad.defined()) return;
    Context& c = tape.ctx();
    const Tensor* scv = affine ? &ps[sc_i].value : nullptr;
    Tensor* dsc = want_params ? &ps[sc_i].grad : nullptr;
    Tensor* dsh = want_params ? &ps[sh_i].grad : nullptr;
    // Padded output: its gradient folded back and through the activation in one pass
    // (bias_act_pad_backward; slope 1 is the identity), then the norm's own backward.
    Tensor dy;
    if (pad_out > 0) {
      dy = empty_like(x->value, c);
      const float s_act = act == ops::Act::ReLU ? 0.f : act == ops::Act::LeakyReLU ? slope : 1.f;
      ops::bias_act_pad_backward(dy, o->grad, o->value, s_act, pad_out, c);
    }
    const Tensor& g = pad_out > 0 ? dy : o->grad;
    const ops::Act g_act = pad_out > 0 ? ops::Act::None : act;
    const Tensor* outp = g_act == ops::Act::None ? nullptr : &o->value;
    auto run = [&](Tensor& d) {
      ops::instance_norm_backward(d, dsc, dsh, g, x->value, mean, rstd, scv, outp, g_act, slope,
                                  c);
    };
    if (x->requires_grad) {
      tape.accumulate(*x, run);
    } else if (want_params) {
      Tensor scratch = empty_like(x->value, c);
      run(scratch);
    }
    if (residual && residual->requires_grad && g_act == ops::Act::None) {
      // The residual's gradient is g itself: taken over as it is (this op is g's only
      // reader, and it is done with it) or added in place, never copied into a temporary.
      // (residual == x: x's gradient was just written above, so this adds.)
      if (!residual->grad.defined())
        residual->grad = g;
      else
        ops::add_inplace(residual->grad, g, c);
    } else if (residual && residual->requires_grad) {
      tape.accumulate(*residual, [&](Tensor& d) {
        if (act == ops::Act::ReLU)
          ops::relu_backward(d, o->grad, o->value, c);
        else
          ops::leaky_relu_backward(d, o->grad, o->value, slope, c);
      });
    }
  });
  return out;
}

// ---- functional ops -----------------------------------------------------------------------

Var reflection_pad(Tape& tape, const Var& x, int pad) {
  Context& ctx = tape.ctx();
  const Shape& s = x->value.shape();
  CGAN_CHECK(s.size() == 4, "reflection_pad: expected [N,C,H,W], got " << shape_str(s));
  const bool need = tape.grad_enabled() && x->requires_grad;
  Var out = make_output({s[0], s[1], s[2] + 2 * pad, s[3] + 2 * pad}, ctx, need, x->value);
  const bool nhwc = x->value.layout() == Layout::NHWC;
  if (nhwc)
    ops::reflection_pad_nhwc(out->value, x->value, pad, ctx);
  else
    ops::reflection_pad_forward(out->value, x->value, ops::Pad2d::all(pad), ctx);
  if (!need) return out;
  Var xn = x;
  Var o = out;
  tape.record([&tape, o, xn, pad, nhwc] {
    if (!o->grad.defined()) return;
    tape.accumulate(*xn, [&](Tensor& d) {
      if (nhwc)
        ops::reflection_pad_nhwc_backward(d, o->grad, pad, tape.ctx());
      else
        ops::reflection_pad_backward(d, o->grad, ops::Pad2d::all(pad), tape.ctx());
    });
  });
  return out;
}

namespace {
// Unary ops whose backward needs only the output (relu, leaky relu, tanh).
template <typename Fwd, typename Bwd>
Var unary(Tape& tape, const Var& x, Fwd fwd, Bwd bwd) {
  Context& ctx = tape.ctx();
  const bool need = tape.grad_enabled() && x->requires_grad;
  Var out = make_output(x->value.shape(), ctx, need, x->value);
  fwd(out->value, x->value, ctx);
  if (!need) return out;
  Var o = out;
  tape.record([&tape, o, x, bwd] {
    if (!o->grad.defined()) return;
    tape.accumulate(*x, [&](Tensor& d) { bwd(d, o->grad, o->value, tape.ctx()); });
  });
  return out;
}
}  // namespace

Var relu(Tape& tape, const Var& x) {
  return unary(
      tape, x, [](Tensor& o, const Tensor& i, Context& c) { ops::relu_forward(o, i, c); },
      [](Tensor& d, const Tensor& g, const Tensor& o, Context& c) {
        ops::relu_backward(d, g, o, c);
      });
}

Var leaky_relu(Tape& tape, const Var& x, float slope) {
  return unary(
      tape, x,
      [slope](Tensor& o, const Tensor& i, Context& c) { ops::leaky_relu_forward(o, i, slope, c); },
      [slope](Tensor& d, const Tensor& g, const Tensor& o, Context& c) {
        ops::leaky_relu_backward(d, g, o, slope, c);
      });
}

Var tanh(Tape& tape, const Var& x) {
  return unary(
      tape, x, [](Tensor& o, const Tensor& i, Context& c) { ops::tanh_forward(o, i, c); },
      [](Tensor& d, const Tensor& g, const Tensor& o, Context& c) {
        ops::tanh_backward(d, g, o, c);
      });
}

Var maxpool2x2(Tape& tape, const Var& x) {
  Context& ctx = tape.ctx();
  const Shape& s = x->value.shape();
  CGAN_CHECK(s.size() == 4, "maxpool2x2: expected [N,C,H,W], got " << shape_str(s));
  const bool need = tape.grad_enabled() && x->requires_grad;
  Var out = make_output({s[0], s[1], s[2] / 2, s[3] / 2}, ctx, need, x->value);
  ops::maxpool2x2_forward(out->value, x->value, ctx);
  if (!need) return out;
  Var o = out;
  tape.record([&tape, o, x] {
    if (!o->grad.defined()) return;
    tape.accumulate(*x, [&](Tensor& d) {
      ops::maxpool2x2_backward(d, o->grad, x->value, tape.ctx());
    });
  });
  return out;
}

Var channel_affine3(Tape& tape, const Var& x, const float mul[3], const float add[3], bool flip) {
  Context& ctx = tape.ctx();
  const bool need = tape.grad_enabled() && x->requires_grad;
  Var out = make_output(x->value.shape(), ctx, need, x->value);
  ops::channel_affine3(out->value, x->value, mul, add, flip, ctx);
  if (!need) return out;
  Var o = out;
  const std::array<float, 3> m{mul[0], mul[1], mul[2]};
  tape.record([&tape, o, x, m, flip] {
    if (!o->grad.defined()) return;
    tape.accumulate(*x, [&](Tensor& d) {
      ops::channel_affine3_backward(d, o->grad, m.data(), flip, tape.ctx());
    });
  });
  return out;
}

Var bias_act_pad(Tape& tape, const Var& x, const Tensor* bias, float slope, int pad) {
  Context& ctx = tape.ctx();
  const Shape& s = x->value.shape();
  CGAN_CHECK(s.size() == 4, "bias_act_pad: expected [N,C,H,W], got " << shape_str(s));
  const bool need = tape.grad_enabled() && x->requires_grad;
  Var out = make_output({s[0], s[1], s[2] + 2 * pad, s[3] + 2 * pad}, ctx, need, x->value);
  ops::bias_act_pad_forward(out->value, x->value, bias, slope, pad, ctx);
  if (!need) return out;
  Var o = out;
  tape.record([&tape, o, x, slope, pad] {
    if (!o->grad.defined()) return;
    tape.accumulate(*x, [&](Tensor& d) {
      ops::bias_act_pad_backward(d, o->grad, o->value, slope, pad, tape.ctx());
    });
  });
  return out;
}

Var to_nhwc(Tape& tape, const Var& x, DType dtype) {
  Context& ctx = tape.ctx();
  const bool need = tape.grad_enabled() && x->requires_grad;
  auto out = std::make_shared<Node>();
  out->value = Tensor::empty(x->value.shape(), ctx, dtype, Layout::NHWC);
  out->requires_grad = need;
  ops::to_nhwc(out->value, x->value, ctx);
  if (!need) return out;
  Var o = out;
  tape.record([&tape, o, x] {
    if (!o->grad.defined()) return;
    tape.accumulate(*x, [&](Tensor& d) { ops::to_nchw(d, o->grad, nullptr, false, tape.ctx()); });
  });
  return out;
}

Var to_nchw(Tape& tape, const Var& x) {
  Context& ctx = tape.ctx();
  const bool need = tape.grad_enabled() && x->requires_grad;
  auto out = std::make_shared<Node>();
  out->value = Tensor::empty(x->value.shape(), ctx);
  out->requires_grad = need;
  ops::to_nchw(out->value, x->value, nullptr, false, ctx);
  if (!need) return out;
  Var o = out;
  tape.record([&tape, o, x] {
    if (!o->grad.defined()) return;
    tape.accumulate(*x, [&](Tensor& d) { ops::to_nhwc(d, o->grad, tape.ctx()); });
  });
  return out;
}

}  // namespace cgan::nn
