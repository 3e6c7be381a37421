// GPU training steps against the CPU: same data, same initial weights, TF32 off. Covers the
// device paths of the trainer: host-to-device batches, on-the-fly edge smoothing on the GPU
// (the CPU run smooths in the loader threads), D/G/VGG forward and backward, Adam.
//
// ORACLE: the CPU trainer (checked against float64 PyTorch by test_train_pytorch.cpp), step
// by step AT THE GPU's STATE and, for the gradients, ON THE GPU's BRANCH:
//  * state: before each step the GPU trainer writes a checkpoint and a CPU trainer resumes
//    from it (weights, Adam moments, position in the data). Comparing two free-running
//    trajectories (what this test did before issue 23) cannot be sharp: Adam moves every
//    weight by ~lr whatever its gradient's size, so weights whose gradient is within rounding
//    of 0 drift apart by O(lr) and every later step starts from different weights.
//  * branch: where a ReLU / LeakyReLU input lies within rounding of 0, the devices take
//    different sides, and each flipped decision moves the gradients of every earlier layer by
//    a full element's contribution (1.5% of every generator gradient for one VGG ReLU,
//    test_train_pytorch.cpp). So the step's gradients are recomputed on the CPU through the
//    probes (tests/common/probe_util.hpp: the networks' forward() op by op), with each
//    nonsmooth op's output replaced by the GPU's, recorded by the same probes on the GPU at
//    the same state (checked: their losses are the GPU trainer's, bit for bit).
// TOLERANCES from kConv = 1e-4, the single-convolution GPU-vs-CPU tolerance of
// test_conv_algo_cuda.cpp (cuDNN's measured choice may be FFT or Winograd), first order:
//  * each probed op's output (the CPU's, computed from the GPU's previous op output, at most
//    kConvsPerStage convolutions and a norm away): kConvsPerStage * kConv (max-rel). A
//    flipped decision moves its output by at most this, so it also bounds their margins.
//  * gradients (max-rel over each network's flat buffer) and losses (relative; the CPU
//    trainer's own step, whose flipped decisions move a loss only to second order): kConv
//    per convolution on the longest path (generator + VGG to conv4_4).
//  * Adam: the CPU's Adam on the GPU's gradients from the checkpoint's moments against the
//    GPU's new weights, element-wise: both are within u |P_{k+1}| + 128 u lr of exact
//    arithmetic (test_train_pytorch.cpp derives it), so twice that apart.
// Compiled with -DCGAN_TEST_OTHER_DEVICE='"cpu"' the "GPU" side is a second CPU trainer (no
// GPU needed), where everything must agree bit for bit: how the replay was checked on a
// machine without a GPU.
#include <cmath>
#include <nlohmann/json.hpp>

#include "cgan/adam.hpp"
#include "cgan/networks.hpp"
#include "cgan/ops.hpp"
#include "cgan/safetensors.hpp"
#include "cgan/smooth.hpp"
#include "cgan/train.hpp"
#include "cgan/vgg.hpp"
#include "common/probe_util.hpp"
#include "common/test_util.hpp"
#include "common/train_test_util.hpp"

#ifndef CGAN_TEST_OTHER_DEVICE
#define CGAN_TEST_OTHER_DEVICE "cuda"
#endif

using namespace cgan;

namespace {

constexpr double kConv = 1e-4;      // one convolution, GPU vs CPU (test_conv_algo_cuda.cpp)
constexpr int kConvsPerStage = 2;    // convolutions between two probe points, at most
constexpr double kU = 0x1p-24;       // float32 unit roundoff
constexpr double kAdamUlps = 128;    // test_train_pytorch.cpp

bool self_check() { return std::string(CGAN_TEST_OTHER_DEVICE) == "cpu"; }

float loss_of(const Tensor& pred, float target, Tensor* d, Context& ctx) {
  Tensor l = Tensor::empty({1}, ctx);
  ops::mse_const_loss(l, d, pred, target, 1.f, ctx);
  return l.to_vector(ctx)[0];
}

double rel(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-30); }

}  // namespace

TEST_CASE("training steps on the GPU match the CPU") {
  if (!self_check()) CGAN_REQUIRE_CUDA();
  const std::string photos = test::subset_dir("photos", 4, "photos4");
  const std::string work = test::temp_dir("train_gpu");
  // One random VGG file for the trainers and the probes.
  {
    Context c;
    VGG19Features v(c);
    v.init_random(3);
    v.save(work + "/vgg.safetensors");
  }
  train::TrainConfig cfg = test::tiny_config(work + "/gpu");
  cfg.photo_dir = photos;
  cfg.device = CGAN_TEST_OTHER_DEVICE;
  cfg.size = 64;
  cfg.batch = 2;  // 2 steps per epoch: steps 0, 1 init, 2, 3 adversarial
  cfg.init_epochs = 1;
  cfg.epochs = 1;
  cfg.plots = false;
  cfg.vgg_random = false;
  cfg.vgg_path = work + "/vgg.safetensors";
  const int init_steps = 2, steps = 4;
  train::Trainer gpu(cfg);
  Context& gctx = gpu.context();
  gctx.allow_tf32 = false;
  // cuDNN's deterministic choices: the probes must see the trainer's forward bit for bit
  // (its measured choices are not bitwise repeatable; test_conv_algo_cuda covers them).
  gctx.deterministic = true;
  REQUIRE(gctx.is_cuda() == !self_check());

  VGG19Features::Options vo;  // the trainer's: conv4_4 after its ReLU (tiny_config)
  REQUIRE(cfg.content_layer == "conv4_4");
  vo.after_relu = cfg.content_after_relu;
  VGG19Features vgg_g(gctx, vo);
  vgg_g.load(cfg.vgg_path);
  test::VggProbe vprobe(vo);
  SeedDiscriminator::Options dopt;
  dopt.features = cfg.d_features;
  test::DiscProbe dprobe(dopt);
  train::DataLoader dl(test::trainer_data_options(cfg));  // the trainers' batches
  // convolutions on the longest path: generator (10 + 2 per residual block) + VGG (12)
  const double path_tol = kConv * (10 + 2 * cfg.g_residuals + 12);
  const double stage_tol = kConvsPerStage * kConv;

  double worst_op = 0, worst_grad = 0, worst_loss = 0, worst_adam = 0;
  for (int k = 0; k < steps; ++k) {
    INFO("step " << k);
    const bool adv = k >= init_steps;
    // ---- the CPU trainer at the GPU's state
    const std::string ck = work + "/ck" + std::to_string(k) + ".safetensors";
    gpu.save_checkpoint(ck);
    train::TrainConfig rc;
    rc.resume_dir = ck;
    rc.out_dir = test::temp_dir("train_cpu");
    rc.device = "cpu";
    rc.progress = false;
    rc.plots = false;
    train::Trainer cpu(rc);
    REQUIRE(cpu.global_step() == k);
    Context& cctx = cpu.context();
    VGG19Features vgg_c(cctx, vo);
    vgg_c.load(cfg.vgg_path);

    // ---- the GPU's branch at this state: probes without gradient
    const train::Batch b = dl.make_batch(k / 2, k % 2);
    Tensor smoothed_g;
    if (adv) {
      edge_smooth_batch(smoothed_g, b.cartoons.to(gctx), SmoothOptions{}, gctx, ChannelOrder::RGB);
      CHECK(smoothed_g.to_vector(gctx) == b.smoothed.to_vector());  // integer pipeline
    }
    std::vector<Tensor> gG, gV, gD[4];
    auto probe = [&](std::vector<Tensor>* rec, auto&& run) {
      test::Branch br;
      br.record = rec;
      nn::Tape t(gctx, false);
      return run(t, br)->value;
    };
    const Tensor fake_g = probe(&gG, [&](nn::Tape& t, test::Branch& br) {
      return test::probe_generator(gpu.generator(), t, nn::input(b.photos.to(gctx)), br);
    });
    auto vgg_probe = [&](std::vector<Tensor>* rec, const Tensor& x) {
      return probe(rec, [&](nn::Tape& t, test::Branch& br) {
        return vprobe.run(vgg_g, t, nn::input(x), ChannelOrder::RGB, br);
      });
    };
    const Tensor feat_a = vgg_probe(&gV, fake_g), feat_b = vgg_probe(nullptr, b.photos.to(gctx));
    auto d_probe = [&](std::vector<Tensor>* rec, const Tensor& x) {
      return probe(rec, [&](nn::Tape& t, test::Branch& br) {
        return dprobe.run(gpu.discriminator(), t, nn::input(x), br);
      });
    };
    float d_loss[3] = {0, 0, 0};
    if (adv) {
      const Tensor in[3] = {b.cartoons.to(gctx), smoothed_g, fake_g};
      const float target[3] = {1.f, 0.f, 0.f};
      for (int i = 0; i < 3; ++i)
        d_loss[i] = loss_of(d_probe(&gD[i], in[i]), target[i], nullptr, gctx);
    }
    const std::vector<float> p0_g = gpu.generator().params().values().to_vector(gctx);
    const std::vector<float> p0_d = gpu.discriminator().params().values().to_vector(gctx);

    const train::StepLosses lg = gpu.step();
    const std::vector<float> grad_g = gpu.generator().params().grads().to_vector(gctx);
    const std::vector<float> grad_d = gpu.discriminator().params().grads().to_vector(gctx);
    float g_adv = 0;
    if (adv) g_adv = loss_of(d_probe(&gD[3], fake_g), 1.f, nullptr, gctx);  // D after its update
    {
      // The probes saw what the GPU trainer computed: its losses, bit for bit.
      Tensor l = Tensor::empty({1}, gctx);
      ops::l1_loss(l, nullptr, feat_a, feat_b, 1.f, gctx);
      const float content = l.to_vector(gctx)[0];
      INFO("probes' losses " << content << " " << d_loss[0] << " " << d_loss[1] << " "
                             << d_loss[2] << " " << g_adv << ", the trainer's " << lg.content
                             << " " << lg.d_real << " " << lg.d_smooth << " " << lg.d_fake
                             << " " << lg.g_adv);
      CHECK(content == float(lg.content));
      if (adv) {
        CHECK(d_loss[0] == float(lg.d_real));
        CHECK(d_loss[1] == float(lg.d_smooth));
        CHECK(d_loss[2] == float(lg.d_fake));
        CHECK(g_adv == float(lg.g_adv));
      }
    }

    // ---- the step's gradients on the CPU, on the GPU's branch (the trainer's step, through
    // the probes, with each nonsmooth op's output replaced by the GPU's)
    Generator& G = cpu.generator();
    SeedDiscriminator& D = cpu.discriminator();
    G.params().zero_grad(cctx);
    D.params().zero_grad(cctx);
    std::vector<Tensor> cG, cV, cD[4];
    auto branch = [](std::vector<Tensor>& rec, const std::vector<Tensor>& force) {
      test::Branch br;
      br.record = &rec;
      br.force = &force;
      return br;
    };
    nn::Tape tg(cctx);
    test::Branch bg = branch(cG, gG);
    nn::Var fake = test::probe_generator(G, tg, nn::input(b.photos), bg);
    if (adv) {
      const Tensor smoothed_c = smoothed_g.to_cpu(gctx);
      const Tensor* in[3] = {&b.cartoons, &smoothed_c, &fake->value};
      const float target[3] = {1.f, 0.f, 0.f};
      for (int i = 0; i < 3; ++i) {
        nn::Tape td(cctx);
        test::Branch bd = branch(cD[i], gD[i]);
        nn::Var out = dprobe.run(D, td, nn::input(*in[i]), bd);
        Tensor d = Tensor::empty(out->value.shape(), cctx);
        loss_of(out->value, target[i], &d, cctx);
        td.backward(out, d);
      }
      // G's adversarial term through D after its update: the GPU's new D.
      SeedDiscriminator d_after(cctx, dopt);
      d_after.params().values().copy_from(
          gpu.discriminator().params().values().to_cpu(gctx), cctx);
      nn::Tape ta(cctx);
      ta.param_grads = false;
      test::Branch ba = branch(cD[3], gD[3]);
      nn::Var out = dprobe.run(d_after, ta, fake, ba);
      Tensor d = Tensor::empty(out->value.shape(), cctx);
      loss_of(out->value, 1.f, &d, cctx);
      ta.backward(out, d);
    }
    {
      nn::Tape tv(cctx);
      test::Branch bv = branch(cV, gV);
      nn::Var f = vprobe.run(vgg_c, tv, fake, ChannelOrder::RGB, bv);
      f->value.copy_from(feat_a.to_cpu(gctx), cctx);  // L1's signs from the GPU's features, too
      Tensor d = Tensor::empty(f->value.shape(), cctx), l = Tensor::empty({1}, cctx);
      ops::l1_loss(l, &d, f->value, feat_b.to_cpu(gctx), cfg.content_weight, cctx);
      tv.backward(f, d);
    }
    const Tensor d_fake = fake->grad;
    tg.backward(fake, d_fake);
    const std::vector<float> rg = G.params().grads().to_vector(cctx);
    const std::vector<float> rd = D.params().grads().to_vector(cctx);

    auto ops_close = [&](const char* what, const std::vector<Tensor>& c,
                         const std::vector<Tensor>& g) {
      REQUIRE(c.size() == g.size());
      for (size_t i = 0; i < c.size(); ++i) {
        const double e = test::max_rel_error(c[i].to_vector(), g[i].to_vector());
        INFO(what << " nonsmooth op " << i << " output: max rel. error " << e << ", bound "
                  << stage_tol);
        CHECK(e <= stage_tol);
        worst_op = std::max(worst_op, e);
      }
    };
    ops_close("generator", cG, gG);
    ops_close("VGG", cV, gV);
    for (int i = 0; i < (adv ? 4 : 0); ++i) ops_close("discriminator", cD[i], gD[i]);
    {
      const double eg = test::max_rel_error(rg, grad_g);
      INFO("generator gradients: max rel. error " << eg << ", bound " << path_tol);
      CHECK(eg <= path_tol);
      worst_grad = std::max(worst_grad, eg);
      if (self_check()) CHECK(rg == grad_g);
      if (adv) {
        const double ed = test::max_rel_error(rd, grad_d);
        INFO("discriminator gradients: max rel. error " << ed << ", bound " << path_tol);
        CHECK(ed <= path_tol);
        worst_grad = std::max(worst_grad, ed);
        if (self_check()) CHECK(rd == grad_d);
      }
    }

    // ---- Adam: the CPU's, on the GPU's gradients, from the checkpoint's moments
    const SafeTensors st = read_safetensors(ck);
    const nlohmann::json meta = nlohmann::json::parse(st.metadata.at("cgan_train"));
    auto adam = [&](const char* name, const std::vector<float>& p0, const std::vector<float>& g,
                    Module& after, double lr) {
      const int64_t n = static_cast<int64_t>(p0.size());
      Tensor p = Tensor::from_vector({n}, p0), gt = Tensor::from_vector({n}, g);
      AdamConfig ac;
      ac.lr = static_cast<float>(lr);
      ac.beta1 = cfg.beta1;
      ac.beta2 = cfg.beta2;
      ac.eps = cfg.adam_eps;
      Adam opt(p, gt, ac, cctx);
      const std::string pre = std::string(name) == "generator" ? "adam_g" : "adam_d";
      opt.load_state({{"m", st.f32(pre + ".m")},
                      {"v", st.f32(pre + ".v")},
                      {"step", Tensor::from_vector({1}, {meta.at(pre + "_steps").get<float>()})}},
                     cctx);
      opt.step(cctx);
      const std::vector<float> mine = p.to_vector();
      const std::vector<float> theirs = after.params().values().to_vector(gctx);
      size_t bad = 0;
      double worst = 0;
      for (size_t i = 0; i < mine.size(); ++i) {
        const double bound = 2 * (kU * std::abs(double(theirs[i])) + kAdamUlps * kU * lr);
        const double d = std::abs(double(mine[i]) - double(theirs[i]));
        bad += d > bound;
        worst = std::max(worst, d / bound);
      }
      INFO(name << ": Adam on the GPU's gradients, " << bad << " of " << mine.size()
                << " weights out of bound (worst " << worst << " of it)");
      CHECK(bad == 0);
      if (self_check()) CHECK(mine == theirs);
      worst_adam = std::max(worst_adam, worst);
    };
    adam("generator", p0_g, grad_g, gpu.generator(), lg.lr_g);
    if (adv) adam("discriminator", p0_d, grad_d, gpu.discriminator(), lg.lr_d);

    // ---- losses: the CPU trainer's own step from the same state
    const train::StepLosses lc = cpu.step();
    const double x[5] = {lc.d_real, lc.d_smooth, lc.d_fake, lc.g_adv, lc.content};
    const double y[5] = {lg.d_real, lg.d_smooth, lg.d_fake, lg.g_adv, lg.content};
    for (int i = 0; i < 5; ++i) {
      INFO("loss " << i << ": cpu " << x[i] << ", gpu " << y[i] << ", bound " << path_tol);
      REQUIRE(std::isnan(x[i]) == std::isnan(y[i]));
      if (std::isnan(x[i])) continue;
      CHECK(rel(x[i], y[i]) <= path_tol);
      worst_loss = std::max(worst_loss, rel(x[i], y[i]));
    }
  }
  WARN("GPU vs CPU over " << steps << " steps at the GPU's state: probed op outputs " << worst_op
       << " (bound " << stage_tol << "), gradients on the GPU's branch " << worst_grad
       << ", losses " << worst_loss << " (bound " << path_tol << ") max rel.; Adam "
       << worst_adam << " of its bound");

  // Checkpoint written from the GPU resumes on the CPU.
  gpu.save_checkpoint(gpu.config().out_dir + "/checkpoint.safetensors");
  train::TrainConfig rc;
  rc.resume_dir = gpu.config().out_dir;
  rc.out_dir = test::temp_dir("train_resume_cpu");
  rc.device = "cpu";
  rc.progress = false;
  train::Trainer resumed(rc);
  CHECK(resumed.global_step() == steps);
  CHECK(resumed.generator().params().values().to_vector() ==
        gpu.generator().params().values().to_vector(gctx));
}
