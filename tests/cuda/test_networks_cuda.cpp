// Whole generators and discriminator at 64x64: CUDA (cuDNN + kernels) against the CPU path,
// forward outputs, input gradients and parameter gradients. TF32 off so both are float32.
#include "cgan/networks.hpp"
#include "common/test_util.hpp"

using namespace cgan;
using nn::Tape;
using nn::Var;

namespace {

struct Result {
  std::vector<float> out, dx, dparams;
};

template <typename Net>
Result run(Net& net, const Tensor& x_cpu, const Tensor& r_cpu) {
  Context& ctx = net.ctx();
  Tape tape(ctx);
  Var x = nn::input(x_cpu.to(ctx), true);
  Var out = net.forward(tape, x);
  net.params().zero_grad(ctx);
  tape.backward(out, r_cpu.to(ctx));
  return {out->value.to_vector(ctx), x->grad.to_vector(ctx),
          net.params().grads().to_vector(ctx)};
}

template <typename Net, typename Options>
void compare(const Options& o, const Shape& in_shape, const char* what) {
  Context cpu(Device::cpu()), gpu(Device::cuda(0));
  gpu.allow_tf32 = false;
  Net a(cpu, o), b(gpu, o);
  // Same seeded init on both devices. Parameter gradients accumulate onto zeroed buffers
  // (run() zeroes them), so poisoning them would be overwritten; the kernel tests poison outputs.
  const Tensor x = test::random_tensor(in_shape, 5);
  Tape probe(cpu, false);
  const Shape os = a.forward(probe, nn::input(x))->value.shape();
  const Tensor r = test::random_tensor(os, 6);
  const Result rc = run(a, x, r), rg = run(b, x, r);
  // Gradients are compared by relative L2 error, not elementwise: where a ReLU's input lies
  // within rounding of 0 the two devices may take different sides (the emulated run of the
  // seed generator has one such element of 131072 in one layer: d = 0.58 vs 0.006), and that
  // one flipped mask element spreads through every earlier layer (max error 6e-3 of the
  // largest d_x, L2 error 2e-3). A wrong kernel gives L2 errors of order 1.
  const double eo = test::max_rel_error(rg.out, rc.out), ed = test::rel_l2_error(rg.dx, rc.dx),
               ep = test::rel_l2_error(rg.dparams, rc.dparams);
  std::cout << "  " << what << ": out max rel " << eo << ", d_x rel L2 " << ed << ", params rel L2 "
            << ep << " (d_x max rel " << test::max_rel_error(rg.dx, rc.dx) << ")" << std::endl;
  CHECK(eo < 1e-4);
  CHECK(ed < 1e-2);
  CHECK(ep < 1e-2);
}

}  // namespace

TEST_CASE("networks on CUDA match the CPU path at 64x64") {
  CGAN_REQUIRE_CUDA();
  OfficialGenerator::Options og;
  og.seed = 1;
  compare<OfficialGenerator>(og, {1, 3, 64, 64}, "official generator");
  SeedGenerator::Options sg;
  sg.seed = 2;
  compare<SeedGenerator>(sg, {2, 3, 64, 64}, "seed generator");
  SeedDiscriminator::Options sd;
  sd.seed = 3;
  compare<SeedDiscriminator>(sd, {2, 3, 64, 64}, "seed discriminator");
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
