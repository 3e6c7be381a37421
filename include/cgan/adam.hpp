#pragma once
// Adam (Kingma & Ba) over one flat parameter buffer, as torch.optim.Adam (bias-corrected,
// weight_decay added to the gradient, L2 style, not AdamW). One kernel launch per step updates
// every parameter. Learning rate, betas, eps, weight decay and the step counter live in a
// small device-side struct that the kernel reads, and the kernel itself advances the step
// counter, so a step captured in a CUDA graph stays correct when replayed and after set_lr().
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cgan/context.hpp"
#include "cgan/tensor.hpp"

namespace cgan {

struct Bf16Mirror;  // optim/adam_impl.hpp

// A convolution filter [K,C,R,S] (OIHW) inside the flat parameter buffer, starting at
// element `offset`.
struct FilterSegment {
  int64_t offset = 0;
  int64_t K = 0, C = 0, R = 0, S = 0;
};

struct AdamConfig {
  float lr = 2e-4f;
  float beta1 = 0.5f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.f;  // L2: grad += weight_decay * param
};

class Adam {
 public:
  // params and grads: F32 tensors of equal numel on ctx's device (typically the networks'
  // flat parameter and gradient buffers; they are kept by handle, not copied). m and v start
  // at zero. The stream of ctx is remembered for set_lr().
  Adam(Tensor params, Tensor grads, AdamConfig config, Context& ctx);

  // params -= lr * m_hat / (sqrt(v_hat) + eps), on ctx's stream. Does not zero the grads.
  void step(Context& ctx);

  // bf16 compute with fp32 master weights: from now on every step() also writes, in the same
  // launch, each updated parameter rounded to nearest even into `mirror` (BF16, as many
  // elements as params, on ctx's device), which is what bf16 convolutions read. The filters
  // listed are held channels-last there ([K,R,S,C] at the same offset: the layout NHWC
  // convolutions take); every other parameter keeps its flat index. Segments must be disjoint
  // and inside the buffer. Writes the mirror once now from the current parameters.
  void set_bf16_mirror(Tensor mirror, const std::vector<FilterSegment>& filters, Context& ctx);
  // Rewrites the mirror from the parameters (after they changed outside step(), e.g. loaded).
  void refresh_bf16_mirror(Context& ctx);
  const Tensor& bf16_mirror() const { return mirror_; }

  // Takes effect for the next step, also inside an already captured CUDA graph. Issues a
  // 4-byte host-to-device copy on the constructor's stream (so not while that stream is
  // capturing).
  void set_lr(float lr);
  float lr() const { return config_.lr; }
  const AdamConfig& config() const { return config_; }
  // Steps taken through step() (and load_state()); graph replays advance the device-side
  // counter only.
  int64_t step_count() const { return step_; }
  // A replay of a CUDA graph that recorded one step() ran the update again on the device
  // (which counts for itself): the host's count follows.
  void count_replayed_step() { ++step_; }
  // The host's count put back to `steps` after step() calls that never ran on the device
  // (a CUDA graph recording that failed).
  void set_host_step_count(int64_t steps) { step_ = steps; }

  Tensor& params() { return params_; }
  Tensor& grads() { return grads_; }
  Tensor& m() { return m_; }
  Tensor& v() { return v_; }

  // Checkpointing: {"m", m}, {"v", v} (the live tensors) and {"step", F32 CPU [1]}. Write them
  // e.g. with write_safetensors (prefix the names as you like) and give them back to
  // load_state() with the same names.
  std::vector<std::pair<std::string, Tensor>> state_tensors() const;
  // Restores m, v and the step counter; throws naming the missing or mis-shaped entry.
  void load_state(const std::vector<std::pair<std::string, Tensor>>& state, Context& ctx);

 private:
  void upload_hyper(Context& ctx);
  Bf16Mirror mirror() const;

  Tensor params_, grads_, m_, v_;
  Tensor hyper_;  // device (or host) copy of the kernel's hyperparameter struct
  Tensor mirror_;       // BF16 copy of params_, or undefined
  Tensor mirror_segs_;  // the filter segments (MirrorSegment[]) where the kernel reads them
  int mirror_nseg_ = 0;
  AdamConfig config_;
  int64_t step_ = 0;
  Device device_;
  Stream stream_ = nullptr;
};

}  // namespace cgan
