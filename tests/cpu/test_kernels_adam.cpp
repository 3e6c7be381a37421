// Adam on the CPU backend: 100 steps against torch.optim.Adam (with weight decay and a
// learning-rate change half way), checkpoint round trip, argument errors.
#include "cgan/adam.hpp"
#include "cpu/test_kernels_util.hpp"

using namespace cgan;
using namespace cgan::test;

TEST_CASE("kernels: Adam matches torch.optim.Adam over 100 steps", "[kernels][python]") {
  CGAN_REQUIRE_PYTHON_MODULE("torch");
  Context ctx;
  const int64_t n = 37, steps = 100;
  Tensor p0 = random_tensor({n}, 1);
  Tensor grads = random_tensor({steps, n}, 2, -1.f, 1.f);
  const std::string dir = temp_dir("adam_torch");
  write_safetensors(dir + "/in.safetensors", {{"p0", p0}, {"grads", grads}},
                    {{"lr", "0.01"}, {"beta1", "0.5"}, {"beta2", "0.999"}, {"eps", "1e-8"},
                     {"weight_decay", "0.01"}, {"lr_change_at", "50"}, {"lr2", "0.005"}});
  REQUIRE(run_python("kernels_ref.py",
                     "adam " + dir + "/in.safetensors " + dir + "/out.safetensors"));
  const SafeTensors ref = read_safetensors(dir + "/out.safetensors");

  Tensor p = Tensor::empty_cpu({n});
  p.copy_from(p0, ctx);
  Tensor g = Tensor::empty_cpu({n});
  AdamConfig cfg;
  cfg.lr = 0.01f;
  cfg.beta1 = 0.5f;
  cfg.beta2 = 0.999f;
  cfg.eps = 1e-8f;
  cfg.weight_decay = 0.01f;
  Adam adam(p, g, cfg, ctx);
  for (int64_t k = 0; k < steps; ++k) {
    if (k == 50) adam.set_lr(0.005f);
    g.copy_from(grads.slice(k, k + 1), ctx);
    adam.step(ctx);
  }
  CHECK(adam.step_count() == steps);
  const double ep = rel_err(p.to_vector(), st_vec(ref, "p"));
  const double em = rel_err(adam.m().to_vector(), st_vec(ref, "m"));
  const double ev = rel_err(adam.v().to_vector(), st_vec(ref, "v"));
  std::cout << "Adam vs torch after 100 steps: rel err params " << ep << " m " << em << " v "
            << ev << "\n";
  CHECK(ep < 1e-5);
  CHECK(em < 1e-5);
  // beta2 is a float here (0.999f = 0.99900001287), a double in torch: 1 - beta2 differs by
  // 1.3e-5 relative, and v (a weighted sum of (1 - beta2) g^2) inherits exactly that.
  CHECK(ev < 3e-5);
}

TEST_CASE("kernels: Adam state save/restore continues identically", "[kernels]") {
  Context ctx;
  const int64_t n = 10;
  Tensor pa = random_tensor({n}, 1), pb = Tensor::empty_cpu({n});
  pb.copy_from(pa, ctx);
  Tensor ga = random_tensor({n}, 2), gb = Tensor::empty_cpu({n});
  gb.copy_from(ga, ctx);
  AdamConfig cfg;
  cfg.lr = 0.05f;
  Adam a(pa, ga, cfg, ctx);
  for (int i = 0; i < 7; ++i) a.step(ctx);
  const std::string path = temp_dir("adam_state") + "/opt.safetensors";
  write_safetensors(path, a.state_tensors());
  const SafeTensors st = read_safetensors(path);

  Adam b(pb, gb, cfg, ctx);
  pb.copy_from(pa, ctx);
  b.load_state(st.tensors, ctx);
  CHECK(b.step_count() == 7);
  a.step(ctx);
  b.step(ctx);
  CHECK(pa.to_vector() == pb.to_vector());
  CHECK(a.v().to_vector() == b.v().to_vector());

  REQUIRE_THROWS_WITH(b.load_state({{"m", a.m()}, {"v", a.v()}}, ctx),
                      Catch::Contains("Adam::load_state: missing entry 'step'"));
  Tensor short_g = Tensor::empty_cpu({n - 1});
  REQUIRE_THROWS_WITH(Adam(pa, short_g, cfg, ctx),
                      Catch::Contains("Adam: params has 10 elements but grads has 9"));
}

TEST_CASE("kernels: Adam's bf16 mirror holds the updated parameters, filters channels-last",
          "[kernels]") {
  Context ctx;
  // Two filters [K,C,R,S] with loose parameters (biases) before, between and after them.
  const std::vector<FilterSegment> filters = {{5, 3, 4, 3, 2}, {80, 2, 5, 1, 3}};
  const int64_t n = 80 + 2 * 5 * 1 * 3 + 7;
  Tensor p = random_tensor({n}, 3), g = random_tensor({n}, 4);
  Adam opt(p, g, AdamConfig{}, ctx);
  Tensor mirror = Tensor::empty_cpu({n}, DType::BF16);
  mirror.fill(NAN, ctx);
  opt.set_bf16_mirror(mirror, filters, ctx);
  for (int step = 0; step < 3; ++step) {
    if (step) opt.step(ctx);
    // Expected position of every parameter, written out by hand from [K,C,R,S] -> [K,R,S,C].
    std::vector<int64_t> where(n);
    for (int64_t i = 0; i < n; ++i) where[i] = i;
    for (const FilterSegment& f : filters)
      for (int64_t k = 0; k < f.K; ++k)
        for (int64_t c = 0; c < f.C; ++c)
          for (int64_t r = 0; r < f.R; ++r)
            for (int64_t s = 0; s < f.S; ++s)
              where[f.offset + ((k * f.C + c) * f.R + r) * f.S + s] =
                  f.offset + ((k * f.R + r) * f.S + s) * f.C + c;
    int bad = 0;
    for (int64_t i = 0; i < n; ++i)
      bad += mirror.data<uint16_t>()[where[i]] != float_to_bf16(p.f32()[i]);
    INFO("step " << step << ": " << bad << " mirror entries differ from bf16(param)");
    CHECK(bad == 0);
  }
  CHECK_THROWS_WITH(opt.set_bf16_mirror(mirror, {{5, 3, 4, 3, 2}, {20, 1, 1, 1, 1}}, ctx),
                    Catch::Contains("overlaps"));
  CHECK_THROWS_WITH(opt.set_bf16_mirror(Tensor::empty_cpu({n}), {}, ctx),
                    Catch::Contains("BF16"));
}
