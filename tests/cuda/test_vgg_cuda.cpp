// VGG19 features on CUDA against the CPU path and the float64 PyTorch reference: features and
// the input gradient of sum(features * R), TF32 off, odd size, both channel orders, both
// conventions.
//
// Oracle (tests/common/vgg_ref_util.hpp): GPU and CPU are both float32 engines that round
// differently (cuDNN's algorithms against our Winograd / OpenBLAS), so a ReLU or max-pool
// decision at a near-tie may come out differently on the two, and the input gradients then
// differ by one unit's whole gradient path (the H200 run of issue 23: caffe/BGR, 3.49e-2 of the
// largest entry; the CPU path's flip of a conv2_2 pool window under OpenBLAS's Zen kernels, which
// OPENBLAS_CORETYPE=Zen reproduces to 5 digits). A direct GPU-vs-CPU gradient check is therefore
// only sharp where both took the same decisions. So each engine is checked against the float64 reference under the error model
// (features within 2^-16 s per element; gradient within tau of the float64 gradient with that
// engine's own near-tie decisions, which must all be near-ties), and:
//  * features GPU vs CPU directly, within 2 * 2^-16 s per element (no decisions involved);
//  * gradients GPU vs CPU directly, within 2 tau, where the two took the same near-tie decisions
//    (the usual case); where they did not, the log names the decisions.
#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "cgan/safetensors.hpp"
#include "cgan/vgg.hpp"
#include "common/test_util.hpp"
#include "common/vgg_ref_util.hpp"

using namespace cgan;
using nn::Tape;
using nn::Var;

namespace {

// He-uniform random weights for features.0..25 (kept O(1) through the 12 ReLU convs).
std::vector<std::pair<std::string, Tensor>> random_weights(uint64_t seed) {
  const int idx[] = {0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25};
  const int out[] = {64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512};
  std::vector<std::pair<std::string, Tensor>> t;
  std::mt19937_64 rng(seed);
  int in = 3;
  for (int i = 0; i < 12; ++i) {
    const float bound = std::sqrt(6.0f / float(in * 9));
    std::uniform_real_distribution<float> dw(-bound, bound), db(-0.05f, 0.05f);
    std::vector<float> w(static_cast<size_t>(out[i]) * in * 9), b(out[i]);
    for (float& v : w) v = dw(rng);
    for (float& v : b) v = db(rng);
    const std::string p = "features." + std::to_string(idx[i]);
    t.emplace_back(p + ".weight", Tensor::from_vector({out[i], in, 3, 3}, w));
    t.emplace_back(p + ".bias", Tensor::from_vector({out[i]}, b));
    in = out[i];
  }
  return t;
}

std::pair<std::vector<float>, std::vector<float>> run(VGG19Features& vgg, const Tensor& x,
                                                      const Tensor& r, ChannelOrder order) {
  Context& ctx = vgg.ctx();
  Tape tape(ctx);
  Var xv = nn::input(x.to(ctx), true);
  Var f = vgg.forward(tape, xv, order);
  tape.backward(f, r.to(ctx));
  return {f->value.to_vector(ctx), xv->grad.to_vector(ctx)};
}

}  // namespace

TEST_CASE("vgg cuda: features and input gradients match the CPU path") {
  CGAN_REQUIRE_CUDA();
  CGAN_REQUIRE_PYTHON_MODULE("torch");
  const std::string dir = test::temp_dir("vgg_cuda");
  Context cpu(Device::cpu()), gpu(Device::cuda(0));
  gpu.allow_tf32 = false;
  for (const char* conv : {"torchvision", "caffe"}) {
    std::map<std::string, std::string> meta;
    if (std::string(conv) == "caffe") meta["preprocessing"] = "caffe";
    write_safetensors(dir + "/w.safetensors", random_weights(71), meta);
    VGG19Features a(cpu), b(gpu);
    a.load(dir + "/w.safetensors");
    b.load(dir + "/w.safetensors");
    const Tensor x = test::random_tensor({2, 3, 45, 37}, 72);
    Tape probe(cpu, false);
    const Tensor r =
        test::random_tensor(a.forward(probe, nn::input(x), ChannelOrder::RGB)->value.shape(), 73);
    // Cases 2k (CPU) and 2k+1 (GPU) for the two channel orders.
    std::vector<test::VggCase> cases;
    for (ChannelOrder order : {ChannelOrder::RGB, ChannelOrder::BGR}) {
      for (VGG19Features* v : {&a, &b}) {
        test::VggCase c;
        c.label = std::string(conv) + (v == &a ? " cpu" : " gpu");
        c.x = x;
        c.r = r;
        c.order = order;
        std::tie(c.feat, c.grad) = run(*v, x, r, order);
        cases.push_back(std::move(c));
      }
    }
    std::string pre;
    const std::vector<test::VggVerdict> v =
        test::vgg_reference(dir + "/w.safetensors", true, true, cases, &pre);
    REQUIRE(pre == conv);
    for (size_t k = 0; k < cases.size(); k += 2) {
      const test::VggCase &c = cases[k], &g = cases[k + 1];
      const std::string what = std::string(conv) + " " + test::vgg_order_name(c.order);
      INFO(what);
      test::check_vgg_verdict(v[k], c.label);
      test::check_vgg_verdict(v[k + 1], g.label);
      // Features: no decisions on the way to a value, so directly (each within eps * s).
      double ef = 0;
      for (size_t i = 0; i < c.feat.size(); ++i)
        ef = std::max(ef, std::abs(double(g.feat[i]) - double(c.feat[i])) /
                              (test::kVggEps * v[k].feat_scale[i]));
      const double eg = test::rel_l2_error(g.grad, c.grad);
      const double egm = test::max_rel_error(g.grad, c.grad);
      const bool same = v[k].flip_list == v[k + 1].flip_list;
      std::cout << "  " << what << " gpu vs cpu: features " << ef << " eps*s, d_input rel L2 "
                << eg << " max " << egm
                << (same ? "" : " (near-tie decisions differ: cpu [" + v[k].flip_list +
                                    "], gpu [" + v[k + 1].flip_list + "])")
                << std::endl;
      CHECK(ef < 2.0);
      if (same) {
        CHECK(eg <= 2 * v[k].tau);
        CHECK(egm <= 2 * test::kVggCrest * v[k].tau);
      }
    }
  }
}
