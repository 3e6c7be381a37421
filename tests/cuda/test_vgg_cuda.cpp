// VGG19 features on CUDA against the CPU path (which tests/cpu/test_vgg.cpp checks against
// PyTorch): features and the input gradient of sum(features * R), TF32 off, odd size, both
// channel orders, both conventions.
#include <cmath>
#include <map>
#include <random>

#include "cgan/safetensors.hpp"
#include "cgan/vgg.hpp"
#include "common/test_util.hpp"

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
    for (ChannelOrder order : {ChannelOrder::RGB, ChannelOrder::BGR}) {
      const auto rc = run(a, x, r, order), rg = run(b, x, r, order);
      const double ef = test::max_rel_error(rg.first, rc.first);
      const double eg = test::max_rel_error(rg.second, rc.second);
      std::cout << "  " << conv << (order == ChannelOrder::RGB ? " rgb" : " bgr")
                << ": features " << ef << ", d_input " << eg << std::endl;
      CHECK(ef < 1e-4);
      // As in tests/cpu/test_vgg.cpp: a ReLU decision at a near-tie may differ between two
      // float32 summation orders and move one unit's gradient path.
      CHECK(eg < 1e-2);
    }
  }
}
