// The CartoonGAN networks: parameter names, weight loading errors, autograd behaviour,
// finite-difference gradient checks and parity with the seed's PyTorch modules (float64, on
// cgan's branch: see pytorch_parity).
#include <cstdlib>
#include <functional>
#include <set>

#include "cgan/networks.hpp"
#include "cgan/vgg.hpp"
#include "common/f64_oracle.hpp"
#include "common/probe_util.hpp"
#include "common/test_util.hpp"

using namespace cgan;
using nn::Tape;
using nn::Var;

namespace {

using Forward = std::function<Var(Tape&, const Var&)>;

double weighted_sum(const Tensor& out, const std::vector<float>& r) {
  const std::vector<float> o = out.to_vector();
  double s = 0;
  for (size_t i = 0; i < o.size(); ++i) s += double(o[i]) * r[i];
  return s;
}

// Checks d(sum(out * r))/d(input) and /d(each parameter tensor) against central differences
// along random directions v (loss accumulated in double): (L(p + hv) - L(p - hv)) / 2h must
// equal grad . v. A directional derivative sums many contributions, so it stands well above
// the float32 forward's rounding noise, which single-coordinate differences do not.
// Each error is relative to max(|grad . v|, 1e-2 * the largest one): a conv bias followed by
// an instance norm has an exactly zero gradient. Returns the worst error.
double fd_check(Module& m, const Forward& fwd, const Shape& in_shape, uint64_t seed, double h) {
  Context& ctx = m.ctx();
  Tensor x = test::random_tensor(in_shape, seed);
  Tape tape(ctx);
  Var xv = nn::input(x, true);
  Var out = fwd(tape, xv);
  const Tensor r = test::random_tensor(out->value.shape(), seed + 1);
  const std::vector<float> rv = r.to_vector();
  m.params().zero_grad(ctx);
  tape.backward(out, r);
  const std::vector<float> dx = xv->grad.to_vector();
  const std::vector<float> dp = m.params().grads().to_vector();

  auto loss = [&]() {
    Tape t(ctx, false);
    return weighted_sum(fwd(t, nn::input(x))->value, rv);
  };
  // Perturbs n floats at p along a random direction; returns {analytic, numeric}.
  auto directional = [&](float* p, const float* g, size_t n, uint64_t s) {
    const std::vector<float> v = test::random_vector(n, s);
    const std::vector<float> keep(p, p + n);
    double an = 0;
    for (size_t i = 0; i < n; ++i) an += double(g[i]) * v[i];
    for (size_t i = 0; i < n; ++i) p[i] = float(keep[i] + h * v[i]);
    const double lp = loss();
    for (size_t i = 0; i < n; ++i) p[i] = float(keep[i] - h * v[i]);
    const double lm = loss();
    std::copy(keep.begin(), keep.end(), p);
    return std::pair<double, double>{an, (lp - lm) / (2 * h)};
  };
  std::vector<std::pair<double, double>> res;
  res.push_back(directional(x.f32(), dx.data(), dx.size(), seed + 2));
  for (const nn::Parameter& p : m.params().list())
    res.push_back(directional(m.params().values().f32() + p.offset, dp.data() + p.offset,
                              static_cast<size_t>(shape_numel(p.shape)), seed + 3 + res.size()));
  double scale = 0, worst = 0;
  for (auto& [an, fd] : res) scale = std::max(scale, std::abs(an));
  for (size_t i = 0; i < res.size(); ++i) {
    const double e = std::abs(res[i].first - res[i].second) /
                     std::max(std::abs(res[i].first), 1e-2 * scale);
    if (e > 1e-2)
      std::cout << "  " << (i ? m.params().list()[i - 1].name : std::string("input"))
                << ": grad.v " << res[i].first << " vs FD " << res[i].second << "\n";
    worst = std::max(worst, e);
  }
  std::cout << "  FD: input and " << m.params().list().size()
            << " parameter tensors, worst directional rel err " << worst << std::endl;
  return worst;
}

std::set<std::string> names(const Module& m) {
  std::set<std::string> s;
  for (const auto& p : m.params().list()) s.insert(p.name);
  return s;
}

}  // namespace

TEST_CASE("parameter names match the PyTorch state_dict keys") {
  Context ctx;
  SeedGenerator g(ctx);
  SeedDiscriminator d(ctx);
  const auto gn = names(g), dn = names(d);
  CHECK(gn.size() == 2 * (1 + 4 + 16 + 4 + 1));
  for (const char* k : {"initial.0.weight", "down_blocks.0.weight", "down_blocks.1.bias",
                        "down_blocks.4.weight", "down_blocks.5.weight",
                        "res_blocks.7.block.0.weight", "res_blocks.0.block.3.bias",
                        "up_blocks.0.weight", "up_blocks.1.weight", "up_blocks.4.weight",
                        "up_blocks.5.weight", "last.weight", "last.bias"})
    CHECK(gn.count(k));
  CHECK(dn == std::set<std::string>{"model.0.weight", "model.0.bias", "model.2.weight",
                                    "model.2.bias", "model.4.weight", "model.4.bias",
                                    "model.7.weight", "model.7.bias", "model.9.weight",
                                    "model.9.bias", "model.12.weight", "model.12.bias",
                                    "model.15.weight", "model.15.bias"});
  OfficialGenerator og(ctx);
  CHECK(og.params().list().size() == 94);
  int64_t total = 0;
  for (const auto& p : og.params().list()) total += shape_numel(p.shape);
  CHECK(total == 11129667);
  VGG19Features vgg(ctx);
  CHECK(vgg.params().list().size() == 24);
  CHECK(names(vgg).count("features.25.bias"));
}

TEST_CASE("the official Hayao weights load by name") {
  CGAN_REQUIRE_SHARED("weights/cartoongan_hayao.safetensors");
  Context ctx;
  OfficialGenerator g(ctx);
  g.load(test::shared_dir() + "/weights/cartoongan_hayao.safetensors");
  const SafeTensors st = read_safetensors(test::shared_dir() + "/weights/cartoongan_hayao.safetensors");
  CHECK(st.tensors.size() == 94);
  const auto& p = g.params()[g.params().list().size() > 0 ? 3 : 0];
  CHECK(p.value.to_vector() == st.f32(p.name).to_vector());
}

TEST_CASE("weight loading names every missing, unexpected and misshaped tensor") {
  Context ctx;
  SeedDiscriminator::Options o;
  o.features = {4, 4, 4, 4};
  SeedDiscriminator d(ctx, o);
  const std::string dir = test::temp_dir("netload");
  auto state = d.params().state();
  state.erase(state.begin() + 2);                                       // model.2.weight
  state[0].second = Tensor::zeros({4, 3, 5, 5}, ctx);                   // model.0.weight
  state.emplace_back("model.99.weight", Tensor::zeros({1}, ctx));       // unexpected
  write_safetensors(dir + "/bad.safetensors", state);
  try {
    d.load(dir + "/bad.safetensors");
    FAIL("expected an error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK_THAT(msg, Catch::Contains("bad.safetensors"));
    CHECK_THAT(msg, Catch::Contains("missing tensor 'model.2.weight'"));
    CHECK_THAT(msg, Catch::Contains("'model.0.weight' has shape [4,3,5,5], expected [4,3,3,3]"));
    CHECK_THAT(msg, Catch::Contains("unexpected tensor 'model.99.weight'"));
  }
  // allow_unexpected (VGG: a full classifier file) tolerates only the extra tensor.
  SeedDiscriminator d2(ctx, o);
  auto ok = d2.params().state();
  ok.emplace_back("classifier.0.weight", Tensor::zeros({3}, ctx));
  write_safetensors(dir + "/extra.safetensors", ok);
  CHECK_THROWS_AS(d.load(dir + "/extra.safetensors"), Error);
  CHECK_NOTHROW(d.load(dir + "/extra.safetensors", /*allow_unexpected=*/true));
  // save -> load round trip
  d2.init_random(5);
  d2.save(dir + "/rt.safetensors");
  d.load(dir + "/rt.safetensors");
  CHECK(d.params().values().to_vector() == d2.params().values().to_vector());
}

TEST_CASE("parameters live in one flat buffer and init is seeded and PyTorch-like") {
  Context ctx;
  SeedGenerator::Options o;
  o.features = 4;
  o.residuals = 1;
  o.seed = 3;
  SeedGenerator a(ctx, o), b(ctx, o);
  CHECK(a.params().values().to_vector() == b.params().values().to_vector());
  const auto& ps = a.params();
  for (const auto& p : ps.list()) {
    CHECK(p.value.raw() == static_cast<char*>(ps.values().raw()) + p.offset * 4);
    CHECK(p.grad.raw() == static_cast<char*>(ps.grads().raw()) + p.offset * 4);
  }
  // initial.0.weight: fan_in 3*7*7 -> |w| <= 1/sqrt(147)
  const auto w = ps.list()[0].value.to_vector();
  const float bound = 1.0f / std::sqrt(147.0f);
  float mx = 0;
  for (float v : w) mx = std::max(mx, std::abs(v));
  CHECK(mx <= bound);
  CHECK(mx > 0.9f * bound);
}

TEST_CASE("inference-only networks: no random init and no gradient buffers but the same outputs") {
  Context ctx;
  SeedGenerator::Options o;
  o.features = 4;
  o.residuals = 1;
  o.seed = 5;
  SeedGenerator trained(ctx, o);
  o.inference_only = true;
  SeedGenerator lean(ctx, o);
  CHECK(lean.params().frozen);
  CHECK_FALSE(lean.params().grads().defined());
  for (const auto& p : lean.params().list()) {
    CHECK_FALSE(p.grad.defined());
    for (float v : p.value.to_vector()) REQUIRE(v == 0.0f);  // no init: about to be loaded
  }
  lean.params().values().copy_from(trained.params().values(), ctx);
  const Tensor x = test::random_tensor({2, 3, 20, 12}, 21);
  CHECK(lean.infer(x).to_vector() == trained.infer(x).to_vector());
  // Input gradients still flow through it; zero_grad is a no-op.
  lean.params().zero_grad(ctx);
  Tape t(ctx);
  Var xv = nn::input(x, true);
  Var y = lean.forward(t, xv);
  t.backward(y, test::random_tensor(y->value.shape(), 22));
  REQUIRE(xv->grad.defined());
  // make_generator builds the same for both architectures.
  for (GeneratorArch a : {GeneratorArch::Official, GeneratorArch::Seed})
    CHECK_FALSE(make_generator(a, ctx, /*inference_only=*/true)->params().grads().defined());
}

TEST_CASE("no-grad, input-grads-only and frozen modes") {
  Context ctx;
  SeedDiscriminator::Options o;
  o.features = {4, 4, 8, 8};
  SeedDiscriminator d(ctx, o);
  const Tensor x = test::random_tensor({1, 3, 16, 16}, 11);
  {
    Tape t(ctx, false);
    d.forward(t, nn::input(x, true));
    CHECK(t.size() == 0);  // inference records nothing
  }
  Tape full(ctx);
  Var x1 = nn::input(x, true);
  Var out = d.forward(full, x1);
  const Tensor r = test::random_tensor(out->value.shape(), 12);
  d.params().zero_grad(ctx);
  full.backward(out, r);
  CHECK(full.size() == 0);  // released after the backward
  const auto dx_full = x1->grad.to_vector();
  double gsum = 0;
  for (float g : d.params().grads().to_vector()) gsum += std::abs(g);
  CHECK(gsum > 0);

  // Input gradients only: same d_x, parameter gradients untouched.
  d.params().zero_grad(ctx);
  Tape in_only(ctx);
  in_only.param_grads = false;
  Var x2 = nn::input(x, true);
  in_only.backward(d.forward(in_only, x2), r);
  CHECK(x2->grad.to_vector() == dx_full);
  for (float g : d.params().grads().to_vector()) REQUIRE(g == 0.0f);

  // Gradients accumulate across backwards.
  d.params().zero_grad(ctx);
  for (int k = 0; k < 2; ++k) {
    Tape t(ctx);
    t.backward(d.forward(t, nn::input(x)), r);
    if (k == 0) gsum = 0;
  }
  const auto g2 = d.params().grads().to_vector();
  d.params().zero_grad(ctx);
  {
    Tape t(ctx);
    t.backward(d.forward(t, nn::input(x)), r);
  }
  const auto g1 = d.params().grads().to_vector();
  for (size_t i = 0; i < g1.size(); ++i) REQUIRE(g2[i] == Approx(2 * g1[i]).margin(1e-6));

  // A frozen module with an input that needs no gradient records nothing at all.
  VGG19Features::Options vo;
  vo.last = VGG19Features::Layer::Conv3_2;
  VGG19Features vgg(ctx, vo);
  Tape tv(ctx);
  vgg.forward(tv, nn::input(test::random_tensor({1, 3, 16, 16}, 13)), ChannelOrder::RGB);
  CHECK(tv.size() == 0);
  Var xv = nn::input(test::random_tensor({1, 3, 16, 16}, 13), true);
  Var fv = vgg.forward(tv, xv, ChannelOrder::RGB);
  CHECK(tv.size() > 0);
  tv.backward(fv, test::random_tensor(fv->value.shape(), 14));
  REQUIRE(xv->grad.defined());
  for (float g : vgg.params().grads().to_vector()) REQUIRE(g == 0.0f);
}

TEST_CASE("finite-difference gradients of whole small networks") {
  Context ctx;
  SECTION("seed generator") {
    SeedGenerator::Options o;
    o.features = 4;
    o.residuals = 1;
    // A larger eps keeps instance norm over these tiny planes smooth enough for differences.
    o.eps = 1e-1f;
    o.seed = 21;
    SeedGenerator g(ctx, o);
    CHECK(fd_check(g, [&](Tape& t, const Var& x) { return g.forward(t, x); }, {1, 3, 12, 10},
                   100, 1e-4) < 3e-2);
  }
  SECTION("official generator") {
    OfficialGenerator::Options o;
    o.features = 4;
    o.residuals = 1;
    o.eps = 1e-1f;
    o.seed = 22;
    OfficialGenerator g(ctx, o);
    // Random affine parameters so scale/shift gradients are not at their trivial init.
    g.params().init_random(22, ctx);
    CHECK(fd_check(g, [&](Tape& t, const Var& x) { return g.forward(t, x); }, {1, 3, 11, 10},
                   200, 1e-4) < 3e-2);
  }
  SECTION("seed discriminator") {
    SeedDiscriminator::Options o;
    o.features = {4, 4, 6, 6};
    o.eps = 1e-1f;
    o.seed = 23;
    SeedDiscriminator d(ctx, o);
    CHECK(fd_check(d, [&](Tape& t, const Var& x) { return d.forward(t, x); }, {2, 3, 12, 11},
                   300, 1e-4) < 3e-2);
  }
}

namespace {
// Runs tests/python/seed_parity.py and compares outputs and gradients with its float64 oracle.
// ORACLE: the seed's PyTorch modules in float64, on cgan's branch: a network's gradient is
// discontinuous where a ReLU / LeakyReLU input is 0, two float32 implementations put an input
// within rounding of 0 on different sides depending on their kernels (so on the CPU and the
// BLAS: issue 23), and one such decision moves every earlier layer's gradient by a full
// element's contribution. So a probe (tests/common/probe_util.hpp, checked bit-identical to
// forward()) records cgan's output of every nonsmooth op, and the script differentiates the
// branch those outputs took (tests/python/branch.py), checking that every decision cgan took
// differently from float64 lies within float32 error of its threshold.
// TOLERANCES (tests/common/f64_oracle.hpp, reasoning in test_train_pytorch.cpp): cgan's error
// against float64 at most kFactor times stock float32 PyTorch's on the same branch, measured
// in the same run (floor: kFloorUlps roundings of the quantity's size): the output and d_x in
// max norm, each parameter's gradient in L2 over the tensor (absolute, so that a conv bias in
// front of an instance norm, whose true gradient is 0, is held to torch32's rounding noise).
using Probe = std::function<Var(Tape&, const Var&, test::Branch&)>;
void pytorch_parity(Module& m, const Forward& fwd, const Probe& probe, const std::string& net,
                    const Shape& in_shape, const std::string& args) {
  Context& ctx = m.ctx();
  const std::string dir = test::temp_dir("parity_" + net);
  Tensor x = test::random_tensor(in_shape, 31);
  Tape tape(ctx);
  Var xv = nn::input(x, true);
  Var out = fwd(tape, xv);
  const Tensor r = test::random_tensor(out->value.shape(), 32);
  m.params().zero_grad(ctx);
  tape.backward(out, r);
  // cgan's decisions: the probe's record of every nonsmooth op (the same forward, bit for bit)
  std::vector<Tensor> dec;
  {
    test::Branch br;
    br.record = &dec;
    Tape t(ctx, false);
    REQUIRE(probe(t, nn::input(x), br)->value.to_vector() == out->value.to_vector());
  }
  std::vector<std::pair<std::string, Tensor>> in{{"x", x}, {"r", r}};
  for (size_t i = 0; i < dec.size(); ++i) in.emplace_back("dec." + std::to_string(i), dec[i]);
  m.save(dir + "/w.safetensors");
  write_safetensors(dir + "/in.safetensors", in);
  const std::string cmd = test::python() + " " + CGAN_SOURCE_DIR +
                          "/tests/python/seed_parity.py " + net + " " + dir + "/w.safetensors " +
                          dir + "/in.safetensors " + dir + "/ref.safetensors " + args;
  REQUIRE(std::system(cmd.c_str()) == 0);
  const SafeTensors ref = read_safetensors(dir + "/ref.safetensors");
  const test::OpsSummary ops =
      test::check_op_stats(nlohmann::json::parse(ref.metadata.at("ops")));
  auto max_norm = [&](const char* what, const std::vector<float>& ours) {
    const std::vector<double> o64 = test::f64(ref, std::string("f64.") + what);
    const std::vector<float> o32 = ref.f32(std::string("f32.") + what).to_vector();
    REQUIRE(ours.size() == o64.size());
    const double e = test::max_diff(ours, o64), e32 = test::max_diff(o32, o64);
    const double b = test::oracle_bound(e32, test::max_abs(o64));
    INFO(what << ": max |ours - f64| " << e << ", torch32's " << e32 << ", bound " << b);
    CHECK(e <= b);
    return e / (b / test::kFactor);
  };
  const double r_out = max_norm("out", out->value.to_vector());
  const double r_dx = max_norm("d_x", xv->grad.to_vector());
  double r_p = 0;
  std::string worst;
  for (const auto& p : m.params().list()) {
    const std::string n = "grad." + p.name;
    const std::vector<float> g = p.grad.to_vector();
    const std::vector<double> g64 = test::f64(ref, "f64." + n);
    const std::vector<float> g32 = ref.f32("f32." + n).to_vector();
    REQUIRE(g.size() == g64.size());
    const double e = test::l2_diff(g, g64), e32 = test::l2_diff(g32, g64);
    const double b = test::oracle_bound(e32, test::l2(g64));
    INFO(n << ": ||ours - f64|| " << e << ", torch32's " << e32 << ", ||f64|| " << test::l2(g64)
           << ", bound " << b);
    CHECK(e <= b);
    if (e / (b / test::kFactor) > r_p) {
      r_p = e / (b / test::kFactor);
      worst = p.name;
    }
  }
  std::cout << "  PyTorch float64 oracle (" << net << ", on cgan's branch: " << ops.flips
            << " decisions taken differently, largest margin " << ops.worst_margin * test::kFactor
            << " x its calibration): errors as multiples of torch32's (bound " << test::kFactor
            << "): ops " << ops.worst * test::kFactor << ", out " << r_out << ", d_x " << r_dx
            << ", worst parameter gradient " << r_p << " (" << worst << ")" << std::endl;
}
}  // namespace

TEST_CASE("the seed's networks match PyTorch: outputs, input and parameter gradients") {
  CGAN_REQUIRE_PYTHON_MODULE("torch");
  Context ctx;
  SECTION("generator") {
    SeedGenerator::Options o;
    o.features = 8;
    o.residuals = 2;
    o.seed = 41;
    SeedGenerator g(ctx, o);
    pytorch_parity(
        g, [&](Tape& t, const Var& x) { return g.forward(t, x); },
        [&](Tape& t, const Var& x, test::Branch& br) { return test::probe_generator(g, t, x, br); },
        "gen", {2, 3, 30, 35}, "--features 8 --residuals 2");
  }
  SECTION("discriminator (default widths)") {
    SeedDiscriminator d(ctx);
    d.init_random(42);
    test::DiscProbe dp{SeedDiscriminator::Options{}};
    pytorch_parity(
        d, [&](Tape& t, const Var& x) { return d.forward(t, x); },
        [&](Tape& t, const Var& x, test::Branch& br) { return dp.run(d, t, x, br); }, "disc",
        {2, 3, 32, 28}, "--features 32 64 128 256");
  }
}
