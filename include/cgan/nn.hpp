#pragma once
// Autograd-lite: reverse mode over the few ops the CartoonGAN networks use.
//
// A forward pass runs on a Tape. Each op computes its output at once and, when a gradient
// will be needed, records a closure that later turns the output's gradient into its inputs'
// gradients (captured tensors are exactly what that backward needs). Tape::backward runs the
// closures in reverse and destroys each one after it ran, so activation memory is released as
// the backward proceeds. A tape with grad disabled records nothing: inference keeps no
// activations beyond what the caller still holds.
//
// Parameters of a module live in ONE flat value buffer and ONE flat gradient buffer; each
// parameter is a view into both, so an optimizer steps over all of them in one launch.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cgan/adam.hpp"  // FilterSegment
#include "cgan/context.hpp"
#include "cgan/conv.hpp"
#include "cgan/ops.hpp"
#include "cgan/safetensors.hpp"
#include "cgan/tensor.hpp"

namespace cgan::nn {

// ---- graph values ---------------------------------------------------------------------
struct Node {
  Tensor value;
  Tensor grad;  // dL/d(value); allocated by the first gradient that reaches this node
  bool requires_grad = false;
};
using Var = std::shared_ptr<Node>;

// A graph input. requires_grad: the backward should produce its gradient (in ->grad).
Var input(const Tensor& value, bool requires_grad = false);

class Tape {
 public:
  explicit Tape(Context& ctx, bool grad_enabled = true) : ctx_(&ctx), enabled_(grad_enabled) {}
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  Context& ctx() const { return *ctx_; }
  bool grad_enabled() const { return enabled_; }
  // false: the backward computes gradients of graph inputs only, no parameter gradients
  // (the discriminator during the generator's step). Set before the forward.
  bool param_grads = true;

  void record(std::function<void()> backward_fn);
  size_t size() const { return fns_.size(); }
  // Seeds out->grad with d_out (copied), runs the recorded closures newest first, then
  // forgets them (releasing what they held). Gradients of inputs and parameters accumulate.
  void backward(const Var& out, const Tensor& d_out);
  // Drops everything recorded without running it.
  void clear() { fns_.clear(); }

  // Adds a gradient into n.grad: `compute(dst)` overwrites dst, which is n.grad itself on the
  // first contribution (no copy) or a temporary that is then added in.
  void accumulate(Node& n, const std::function<void(Tensor& dst)>& compute);

 private:
  Context* ctx_;
  bool enabled_;
  std::vector<std::function<void()>> fns_;
};

// ---- parameters -----------------------------------------------------------------------
enum class Init { Zeros, Ones, Uniform };  // Uniform: U(-bound, bound)

struct Parameter {
  std::string name;  // the PyTorch state_dict key
  Shape shape;
  int64_t offset = 0;  // in floats, into the flat buffers
  Init init = Init::Zeros;
  float bound = 0;
  Tensor value, grad;  // views into ParameterSet::values()/grads()
  // The bf16 copy (ParameterSet::enable_bf16), a view into values_bf16(): BF16, 4-D weights
  // channels-last (an NHWC tensor of the weight's shape), the rest flat like `value`.
  Tensor value_bf16;
  // A bias that a following instance norm cancels (Conv::cancel_bias): not read, no gradient.
  bool cancelled = false;
};

class ParameterSet {
 public:
  // Declares a parameter; returns its index. Only before allocate().
  int add(const std::string& name, const Shape& shape, Init init, float bound = 0);
  // Makes the flat buffers on ctx's device (values initialized per Init with `seed`, grads 0).
  void allocate(Context& ctx, uint64_t seed = 0);
  // For inference with weights about to be load()ed: values 0 (no random init), no gradient
  // buffers (every Parameter::grad undefined) and frozen, so half the memory of allocate().
  void allocate_for_inference(Context& ctx);
  bool allocated() const { return values_.defined(); }

  Parameter& operator[](int i) { return params_.at(static_cast<size_t>(i)); }
  const Parameter& operator[](int i) const { return params_.at(static_cast<size_t>(i)); }
  const std::vector<Parameter>& list() const { return params_; }
  int64_t numel() const { return total_; }
  Tensor& values() { return values_; }
  Tensor& grads() { return grads_; }
  const Tensor& values() const { return values_; }
  const Tensor& grads() const { return grads_; }

  // bf16 compute with fp32 masters: a BF16 copy of every parameter (4-D weights held
  // channels-last, what bf16 NHWC convolutions read), written now from the values and again
  // by every init_random/load. Adam keeps it current through step():
  // adam.set_bf16_mirror(values_bf16(), filter_segments(), ctx).
  void enable_bf16(Context& ctx);
  bool bf16_enabled() const { return values_bf16_.defined(); }
  Tensor& values_bf16() { return values_bf16_; }
  // Rewrites the copy from the values (after they changed other than through Adam).
  void refresh_bf16(Context& ctx);
  // The 4-D weights inside the flat buffer, as Adam's bf16 mirror needs them.
  std::vector<FilterSegment> filter_segments() const;

  // Deterministic PyTorch-default-like init (kaiming-uniform bounds given at add()),
  // from a seeded mt19937_64 in declaration order.
  void init_random(uint64_t seed, Context& ctx);
  void zero_grad(Context& ctx);
  // A frozen set gets no parameter gradients (VGG).
  bool frozen = false;

  // Loads every parameter by name. Throws cgan::Error listing each missing tensor, each
  // wrongly shaped one (expected vs got) and, unless allow_unexpected, each unexpected one.
  // `source` names the file in messages.
  void load(const SafeTensors& st, const std::string& source, bool allow_unexpected,
            Context& ctx);
  // (name, value) pairs in declaration order, ready for write_safetensors.
  std::vector<std::pair<std::string, Tensor>> state() const;

 private:
  std::vector<Parameter> params_;
  std::map<std::string, int> index_;
  int64_t total_ = 0;
  Tensor values_, grads_;
  Tensor values_bf16_;
};

// PyTorch's default Conv2d/ConvTranspose2d init bound: kaiming_uniform(a=sqrt(5)) gives
// 1/sqrt(fan_in) for weights and biases alike.
float default_init_bound(int64_t fan_in);

// ---- layers ---------------------------------------------------------------------------
// Conv2d / ConvTranspose2d with zero padding. Weight `<name>.weight`, bias `<name>.bias`.
struct Conv {
  int weight = -1, bias = -1;
  ConvSpec spec;
  bool bias_cancelled = false;
  // The bias is added by the op that follows (nn::bias_act_pad), fused with its activation:
  // the forward skips it here; its gradient is still computed here, from the output's.
  bool bias_in_epilogue = false;
  void declare(ParameterSet& ps, const std::string& name, int in_ch, int out_ch, int k,
               ConvSpec s, bool with_bias = true);
  // The output goes straight into an instance norm, whose mean subtraction cancels the bias
  // exactly: the forward skips its add and the backward its gradient (which is exactly 0, and
  // stays 0 in the gradient buffer).
  void cancel_bias(ParameterSet& ps);
  Var operator()(Tape& tape, ParameterSet& ps, const Var& x) const;
};

// InstanceNorm2d, optionally affine (`<scale_name>`, `<shift_name>`), fused with an
// activation and an optional residual (added before the activation). pad_out > 0: the output
// is also ReflectionPad2d(pad_out)-ed in the same pass (when the next convolution pads its
// input and nothing else reads the unpadded map).
struct InstanceNorm {
  int scale = -1, shift = -1;
  float eps = 1e-5f;
  void declare_affine(ParameterSet& ps, const std::string& scale_name,
                      const std::string& shift_name, int channels);
  Var operator()(Tape& tape, ParameterSet& ps, const Var& x, ops::Act act = ops::Act::None,
                 float slope = 0, const Var& residual = nullptr, int pad_out = 0) const;
};

// ---- functional ops -------------------------------------------------------------------
Var reflection_pad(Tape& tape, const Var& x, int pad);
Var relu(Tape& tape, const Var& x);
Var leaky_relu(Tape& tape, const Var& x, float slope);
Var tanh(Tape& tape, const Var& x);
Var maxpool2x2(Tape& tape, const Var& x);
Var channel_affine3(Tape& tape, const Var& x, const float mul[3], const float add[3], bool flip);
// ReflectionPad2d(pad)(act(x + bias)), act(z) = z > 0 ? z : slope * z, in one pass forward and
// one backward (ops::bias_act_pad_*): the epilogue of a convolution whose bias it adds
// (Conv::bias_in_epilogue; bias may be null) when the next convolution pads its input. The
// gradient reaches x only; the bias's comes from x's gradient in the convolution's backward.
Var bias_act_pad(Tape& tape, const Var& x, const Tensor* bias, float slope, int pad);
// Layout changes at the bf16 path's boundaries (with their gradients): an F32 NCHW map to an
// NHWC map of `dtype` (F32 or BF16), and an NHWC map back to F32 NCHW.
Var to_nhwc(Tape& tape, const Var& x, DType dtype = DType::BF16);
Var to_nchw(Tape& tape, const Var& x);

}  // namespace cgan::nn
