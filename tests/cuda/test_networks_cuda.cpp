// Whole generators and discriminator at 64x64: CUDA (cuDNN + kernels) against the CPU path,
// forward outputs, input gradients and parameter gradients. TF32 off so both are float32.
//
// ORACLE: the CPU path (checked against float64 PyTorch by the cpu tests), run ON THE GPU's
// BRANCH. A network's gradient is discontinuous where a ReLU / LeakyReLU input is 0: an input
// within rounding of 0 takes different sides on the two devices, and that one flipped mask
// element changes the gradients of every earlier layer by a full element's contribution (the
// emulated run of the seed generator had one such element of 131072: d = 0.58 vs 0.006, d_x
// L2 error 2e-3; test_train_pytorch.cpp measured 1.5% for one VGG ReLU). How many flip
// depends on the GPU, cuDNN's algorithm choice and the CPU's kernels, so a tolerance wide
// enough for them says nothing. Instead both devices run the network op by op
// (tests/common/probe_util.hpp, checked bit-identical to forward()), the GPU first; the CPU
// run replaces the output of each nonsmooth op by the GPU's after recording its own. Each
// comparison is then between the same smooth function on both devices:
//  * every nonsmooth op's output (CPU's own, from the GPU's previous op output) and the
//    network's output: max|cpu - gpu| / max|gpu| <= kStage. Between two probe points there
//    are at most kConvsPerStage convolutions and a norm, from the same input on both
//    devices; kConv = 1e-4 is the single-convolution GPU-vs-CPU tolerance of
//    test_conv_algo_cuda.cpp (cuDNN's measured choice may be FFT or Winograd). A decision
//    the devices took differently moves that output by at most this error, so this also
//    bounds every flipped decision's margin.
//  * d_x and the parameter gradients (max-rel over the flat buffer): the backward runs
//    through every convolution of the network on the same branch, each adding at most kConv
//    relative (first order): kConv * the number of convolutions.
// Compiled with -DCGAN_TEST_OTHER_DEVICE='"cpu"' the test runs the CPU against itself (no
// GPU needed), where everything must agree bit for bit: how the probes and the forcing were
// checked on a machine without a GPU.
#include "cgan/networks.hpp"
#include "common/probe_util.hpp"
#include "common/test_util.hpp"

#ifndef CGAN_TEST_OTHER_DEVICE
#define CGAN_TEST_OTHER_DEVICE "cuda"
#endif

using namespace cgan;
using nn::Tape;
using nn::Var;

namespace {

constexpr double kConv = 1e-4;       // one convolution, GPU vs CPU (test_conv_algo_cuda.cpp)
constexpr int kConvsPerStage = 2;     // convolutions between two probe points, at most

bool self_check() { return std::string(CGAN_TEST_OTHER_DEVICE) == "cpu"; }

struct Result {
  std::vector<float> out, dx, dparams;
  std::vector<Tensor> acts;  // each nonsmooth op's output as this device computed it
};

// The network op by op (probe) with gradients; `force`: replace each nonsmooth op's output by
// these (the other device's) after recording our own.
template <typename Net, typename Probe>
Result run(Net& net, Probe probe, const Tensor& x_cpu, const Tensor& r_cpu,
           const std::vector<Tensor>* force, double tol_forward) {
  Context& ctx = net.ctx();
  Result res;
  test::Branch br;
  br.record = &res.acts;
  br.force = force;
  Tape tape(ctx);
  Var x = nn::input(x_cpu.to(ctx), true);
  Var out = probe(net, tape, x, br);
  res.out = out->value.to_vector(ctx);
  if (!force) {
    // The probe is forward(): bit for bit on the CPU. cuDNN's measured algorithm choice does
    // not promise bitwise repeatable results (seen on the H200: the two differ in the last
    // bits), so there within the whole network's tolerance.
    Tape plain(ctx, false);
    const std::vector<float> fwd =
        net.forward(plain, nn::input(x_cpu.to(ctx)))->value.to_vector(ctx);
    const double e = test::max_rel_error(fwd, res.out);
    INFO("probe vs forward(): max rel. difference " << e);
    if (ctx.is_cuda())
      CHECK(e <= tol_forward);
    else
      CHECK(fwd == res.out);
  }
  net.params().zero_grad(ctx);
  tape.backward(out, r_cpu.to(ctx));
  res.dx = x->grad.to_vector(ctx);
  res.dparams = net.params().grads().to_vector(ctx);
  return res;
}

template <typename Net, typename Options, typename Probe>
void compare(const Options& o, Probe probe, int n_convs, const Shape& in_shape,
             const char* what) {
  Context cpu(Device::cpu()), gpu(self_check() ? Device::cpu() : Device::cuda(0));
  gpu.allow_tf32 = false;
  Net a(cpu, o), b(gpu, o);
  // Same seeded init on both devices. Parameter gradients accumulate onto zeroed buffers
  // (run() zeroes them), so poisoning them would be overwritten; the kernel tests poison outputs.
  const Tensor x = test::random_tensor(in_shape, 5);
  Tape shape_probe(cpu, false);
  const Shape os = a.forward(shape_probe, nn::input(x))->value.shape();
  const Tensor r = test::random_tensor(os, 6);
  const double stage = kConvsPerStage * kConv, whole = n_convs * kConv;
  const Result rg = run(b, probe, x, r, nullptr, whole);
  const Result rc = run(a, probe, x, r, &rg.acts, whole);
  REQUIRE(rc.acts.size() == rg.acts.size());
  double worst_act = 0;
  for (size_t i = 0; i < rg.acts.size(); ++i) {
    const double e = test::max_rel_error(rc.acts[i].to_vector(), rg.acts[i].to_vector());
    INFO(what << ": nonsmooth op " << i << " output, max rel. error " << e);
    CHECK(e <= stage);
    worst_act = std::max(worst_act, e);
  }
  const double eo = test::max_rel_error(rc.out, rg.out), ed = test::max_rel_error(rc.dx, rg.dx),
               ep = test::max_rel_error(rc.dparams, rg.dparams);
  std::cout << "  " << what << " (GPU's branch forced on the CPU): op outputs max rel "
            << worst_act << ", out " << eo << " (bound " << stage << "); d_x max rel " << ed
            << ", params max rel " << ep << " (bound " << whole << "; rel L2 "
            << test::rel_l2_error(rc.dx, rg.dx) << ", "
            << test::rel_l2_error(rc.dparams, rg.dparams)
            << ")" << std::endl;
  CHECK(eo <= stage);
  CHECK(ed <= whole);
  CHECK(ep <= whole);
  if (self_check()) {
    CHECK(eo == 0);
    CHECK(ed == 0);
    CHECK(ep == 0);
  }
}

}  // namespace

TEST_CASE("networks on CUDA match the CPU path at 64x64") {
  if (!self_check()) CGAN_REQUIRE_CUDA();
  auto gen = [](Generator& g, Tape& t, const Var& x, test::Branch& br) {
    return test::probe_generator(g, t, x, br);
  };
  OfficialGenerator::Options og;
  og.seed = 1;
  // convolutions: 5 before the residual blocks, 2 in each, 5 after
  compare<OfficialGenerator>(og, gen, 10 + 2 * og.residuals, {1, 3, 64, 64},
                             "official generator");
  SeedGenerator::Options sg;
  sg.seed = 2;
  compare<SeedGenerator>(sg, gen, 10 + 2 * sg.residuals, {2, 3, 64, 64}, "seed generator");
  SeedDiscriminator::Options sd;
  sd.seed = 3;
  test::DiscProbe dprobe(sd);
  auto disc = [&](SeedDiscriminator& d, Tape& t, const Var& x, test::Branch& br) {
    return dprobe.run(d, t, x, br);
  };
  compare<SeedDiscriminator>(sd, disc, 7, {2, 3, 64, 64}, "seed discriminator");
}

TEST_CASE("convolutions on CUDA match the CPU path (odd shapes, TF32 off)") {
  CGAN_REQUIRE_CUDA();
  Context cpu(Device::cpu()), gpu(Device::cuda(0));
  gpu.allow_tf32 = false;
  struct C { Shape in, w; ConvSpec s; };
  const C cases[] = {{{2, 5, 13, 11}, {7, 5, 3, 3}, {1, 1, 0, false}},
                     {{2, 5, 13, 11}, {7, 5, 3, 3}, {2, 1, 0, false}},
                     {{1, 3, 17, 9}, {4, 3, 7, 7}, {1, 3, 0, false}},
                     {{2, 6, 7, 5}, {6, 4, 3, 3}, {2, 1, 1, true}}};
  uint64_t seed = 10;
  for (const C& c : cases) {
    const Shape os = conv_output_shape(c.in, c.w, c.s);
    const Tensor x = test::random_tensor(c.in, seed++), w = test::random_tensor(c.w, seed++),
                 b = test::random_tensor({os[1]}, seed++), r = test::random_tensor(os, seed++);
    auto go = [&](Context& ctx) {
      Tensor xd = x.to(ctx), wd = w.to(ctx), bd = b.to(ctx), rd = r.to(ctx);
      Tensor out = Tensor::empty(os, ctx), dx = Tensor::empty(c.in, ctx);
      out.fill(NAN, ctx);
      dx.fill(NAN, ctx);
      Tensor dw = Tensor::zeros(c.w, ctx), db = Tensor::zeros({os[1]}, ctx);
      conv_forward(out, xd, wd, &bd, c.s, ctx);
      conv_backward_data(dx, rd, wd, c.s, ctx);
      conv_backward_filter(dw, &db, rd, xd, c.s, ctx);
      return std::vector<std::vector<float>>{out.to_vector(ctx), dx.to_vector(ctx),
                                             dw.to_vector(ctx), db.to_vector(ctx)};
    };
    const auto rc = go(cpu), rg = go(gpu);
    // 1e-4 as in the conv-algorithm test: cuDNN's measured choice may be FFT or Winograd,
    // whose rounding differs from a direct/GEMM convolution by more than 1e-5.
    for (size_t i = 0; i < rc.size(); ++i) CHECK(test::max_rel_error(rg[i], rc[i]) < 1e-4);
  }
}
