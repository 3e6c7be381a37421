#include "cgan/adam.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "cgan/profile.hpp"
#include "cuda_check.hpp"
#include "optim/adam_impl.hpp"

namespace cgan {

namespace {
void check_flat(const Tensor& t, const char* name, const Context& ctx) {
  CGAN_CHECK(t.defined(), "Adam: '" << name << "' is undefined");
  CGAN_CHECK(t.dtype() == DType::F32,
             "Adam: '" << name << "' must be F32, got " << dtype_name(t.dtype()));
  CGAN_CHECK(t.device() == ctx.device(), "Adam: '" << name << "' is on " << t.device().str()
                                                   << " but the context is on "
                                                   << ctx.device().str());
}
}  // namespace

Adam::Adam(Tensor params, Tensor grads, AdamConfig config, Context& ctx)
    : params_(std::move(params)),
      grads_(std::move(grads)),
      config_(config),
      device_(ctx.device()),
      stream_(ctx.stream()) {
  check_flat(params_, "params", ctx);
  check_flat(grads_, "grads", ctx);
  CGAN_CHECK(params_.numel() == grads_.numel(),
             "Adam: params has " << params_.numel() << " elements but grads has "
                                 << grads_.numel());
  CGAN_CHECK(config_.lr >= 0.f, "Adam: lr must be >= 0, got " << config_.lr);
  CGAN_CHECK(config_.beta1 >= 0.f && config_.beta1 < 1.f,
             "Adam: beta1 must be in [0,1), got " << config_.beta1);
  CGAN_CHECK(config_.beta2 >= 0.f && config_.beta2 < 1.f,
             "Adam: beta2 must be in [0,1), got " << config_.beta2);
  CGAN_CHECK(config_.eps > 0.f, "Adam: eps must be > 0, got " << config_.eps);
  CGAN_CHECK(config_.weight_decay >= 0.f,
             "Adam: weight_decay must be >= 0, got " << config_.weight_decay);
  m_ = Tensor::zeros(params_.shape(), ctx);
  v_ = Tensor::zeros(params_.shape(), ctx);
  hyper_ = Tensor::empty({int64_t(sizeof(AdamHyper) / sizeof(float))}, ctx);
  upload_hyper(ctx);
}

void Adam::upload_hyper(Context& ctx) {
  AdamHyper h{};
  h.lr = config_.lr;
  h.beta1 = config_.beta1;
  h.beta2 = config_.beta2;
  h.eps = config_.eps;
  h.weight_decay = config_.weight_decay;
  h.step = static_cast<int32_t>(step_);
  h.blocks_done = 0;
  if (device_.is_cuda()) {
    CGAN_CUDA_CHECK(cudaMemcpyAsync(hyper_.raw(), &h, sizeof h, cudaMemcpyHostToDevice,
                                    ctx.stream()));
    ctx.synchronize();  // h is a local
  } else {
    std::memcpy(hyper_.raw(), &h, sizeof h);
  }
}

void Adam::step(Context& ctx) {
  CGAN_CHECK(ctx.device() == device_, "Adam::step: the optimizer lives on " << device_.str()
                                          << " but the context is on " << ctx.device().str());
  CGAN_CHECK(step_ < INT32_MAX, "Adam::step: step counter overflow");
  auto* h = static_cast<AdamHyper*>(hyper_.raw());
  ProfileScope prof(ctx, "adam");
  if (device_.is_cuda())
    kernels::adam_step(params_.f32(), m_.f32(), v_.f32(), grads_.f32(), params_.numel(), h,
                       mirror(), ctx.stream());
  else
    cpu::adam_step(params_.f32(), m_.f32(), v_.f32(), grads_.f32(), params_.numel(), h,
                   mirror());
  ++step_;
}

Bf16Mirror Adam::mirror() const {
  Bf16Mirror mr;
  if (!mirror_.defined()) return mr;
  mr.out = mirror_.data<uint16_t>();
  mr.segs = mirror_nseg_ ? mirror_segs_.data<MirrorSegment>() : nullptr;
  mr.nseg = mirror_nseg_;
  return mr;
}

void Adam::set_bf16_mirror(Tensor mirror, const std::vector<FilterSegment>& filters,
                           Context& ctx) {
  CGAN_CHECK(ctx.device() == device_, "Adam::set_bf16_mirror: the optimizer lives on "
                                          << device_.str() << " but the context is on "
                                          << ctx.device().str());
  CGAN_CHECK(mirror.defined() && mirror.dtype() == DType::BF16 &&
                 mirror.numel() == params_.numel() && mirror.device() == device_,
             "Adam::set_bf16_mirror: the mirror must be BF16 with " << params_.numel()
                 << " elements on " << device_.str() << ", got "
                 << (mirror.defined() ? mirror.str() : std::string("an undefined tensor")));
  std::vector<MirrorSegment> segs;
  for (const FilterSegment& f : filters)
    segs.push_back({f.offset, f.K, f.C, f.R, f.S});
  std::sort(segs.begin(), segs.end(),
            [](const MirrorSegment& a, const MirrorSegment& b) { return a.offset < b.offset; });
  int64_t end = 0;
  for (const MirrorSegment& g : segs) {
    CGAN_CHECK(g.K > 0 && g.C > 0 && g.R > 0 && g.S > 0 && g.offset >= end &&
                   g.offset + g.K * g.C * g.R * g.S <= params_.numel(),
               "Adam::set_bf16_mirror: filter [" << g.K << "," << g.C << "," << g.R << ","
                   << g.S << "] at " << g.offset << " overlaps another or leaves the "
                   << params_.numel() << "-element buffer");
    end = g.offset + g.K * g.C * g.R * g.S;
  }
  mirror_nseg_ = static_cast<int>(segs.size());
  if (!segs.empty()) {
    // MirrorSegment is 5 int64: kept in a float tensor's storage (10 floats each).
    static_assert(sizeof(MirrorSegment) == 10 * sizeof(float), "MirrorSegment size");
    Tensor host = Tensor::empty_cpu({int64_t(segs.size()) * 10});
    std::memcpy(host.raw(), segs.data(), segs.size() * sizeof(MirrorSegment));
    mirror_segs_ = host.to(ctx);
  } else {
    mirror_segs_ = Tensor();
  }
  mirror_ = std::move(mirror);
  refresh_bf16_mirror(ctx);
}

void Adam::refresh_bf16_mirror(Context& ctx) {
  if (!mirror_.defined()) return;
  if (device_.is_cuda())
    kernels::write_bf16_mirror(params_.f32(), params_.numel(), mirror(), ctx.stream());
  else
    cpu::write_bf16_mirror(params_.f32(), params_.numel(), mirror());
}

void Adam::set_lr(float lr) {
  CGAN_CHECK(lr >= 0.f, "Adam::set_lr: lr must be >= 0, got " << lr);
  config_.lr = lr;
  auto* h = static_cast<AdamHyper*>(hyper_.raw());
  if (device_.is_cuda()) {
    // Pageable source: the runtime copies it out before returning, so config_ may change
    // again right away; the write is ordered before later steps on the stream.
    CGAN_CUDA_CHECK(cudaMemcpyAsync(&h->lr, &config_.lr, sizeof(float), cudaMemcpyHostToDevice,
                                    stream_));
  } else {
    h->lr = lr;
  }
}

std::vector<std::pair<std::string, Tensor>> Adam::state_tensors() const {
  return {{"m", m_}, {"v", v_}, {"step", Tensor::from_vector({1}, {float(step_)})}};
}

void Adam::load_state(const std::vector<std::pair<std::string, Tensor>>& state, Context& ctx) {
  auto find = [&](const std::string& name) -> const Tensor& {
    for (const auto& kv : state)
      if (kv.first == name) return kv.second;
    CGAN_FAIL("Adam::load_state: missing entry '" << name << "'");
  };
  const Tensor& m = find("m");
  const Tensor& v = find("v");
  const Tensor& s = find("step");
  CGAN_CHECK(m.dtype() == DType::F32 && m.numel() == m_.numel(),
             "Adam::load_state: 'm' must be F32 with " << m_.numel() << " elements, got "
                                                        << m.str());
  CGAN_CHECK(v.dtype() == DType::F32 && v.numel() == v_.numel(),
             "Adam::load_state: 'v' must be F32 with " << v_.numel() << " elements, got "
                                                        << v.str());
  CGAN_CHECK(s.numel() == 1, "Adam::load_state: 'step' must have 1 element, got " << s.str());
  const float sv = s.to_vector(ctx)[0];
  CGAN_CHECK(sv >= 0.f && sv < 16777216.f && sv == float(int64_t(sv)),
             "Adam::load_state: 'step' must be a non-negative integer, got " << sv);
  m_.copy_from(m, ctx);
  v_.copy_from(v, ctx);
  step_ = static_cast<int64_t>(sv);
  upload_hyper(ctx);
}

}  // namespace cgan
