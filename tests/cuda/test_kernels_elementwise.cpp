// GPU vs CPU: elementwise ops, aligned (float4 path + scalar tail) and misaligned views.
// [3,7,211,257] (1.14M elements, odd) is larger than the capped grid (8 waves of 256-thread
// blocks = 270k threads on 132 SMs) even in float4 units: every thread loops.
#include "cuda/test_kernels_cuda_util.hpp"

using namespace cgan;
using namespace cgan::test;

TEST_CASE("kernels: CUDA elementwise ops match the CPU reference", "[kernels][cuda]") {
  CGAN_REQUIRE_CUDA();
  Context cpu, gpu(Device::cuda(0));
  for (const Shape& s : {Shape{1}, Shape{3, 5}, Shape{3, 2, 7, 13}, Shape{8, 64, 33, 31},
                         Shape{3, 7, 211, 257}})
    for (bool mis : {false, true}) {
      Tensor a = random_tensor(s, 1, -2.f, 2.f), b = random_tensor(s, 2, -2.f, 2.f);
      Tensor ga = mis ? misaligned(a, gpu) : a.to(gpu), gb = mis ? misaligned(b, gpu) : b.to(gpu);
      const std::string tag = shape_str(s) + (mis ? " misaligned" : "");
      auto unary = [&](const char* name, auto fn) {
        Tensor co = Tensor::empty_cpu(s), go = poisoned(s, gpu);
        fn(co, a, cpu);
        fn(go, ga, gpu);
        check_close(go, co, gpu, 1e-6, std::string(name) + " " + tag);
      };
      unary("relu", [](Tensor& o, const Tensor& i, Context& c) { ops::relu_forward(o, i, c); });
      unary("leaky", [](Tensor& o, const Tensor& i, Context& c) { ops::leaky_relu_forward(o, i, 0.2f, c); });
      unary("tanh", [](Tensor& o, const Tensor& i, Context& c) { ops::tanh_forward(o, i, c); });
      auto binary = [&](const char* name, auto fn) {
        Tensor co = Tensor::empty_cpu(s), go = poisoned(s, gpu);
        fn(co, b, a, cpu);
        fn(go, gb, ga, gpu);
        check_close(go, co, gpu, 1e-6, std::string(name) + " " + tag);
      };
      binary("relu_bwd", [](Tensor& d, const Tensor& g, const Tensor& y, Context& c) { ops::relu_backward(d, g, y, c); });
      binary("leaky_bwd", [](Tensor& d, const Tensor& g, const Tensor& y, Context& c) { ops::leaky_relu_backward(d, g, y, 0.2f, c); });
      binary("tanh_bwd", [](Tensor& d, const Tensor& g, const Tensor& y, Context& c) { ops::tanh_backward(d, g, y, c); });
      binary("add", [](Tensor& o, const Tensor& x, const Tensor& y, Context& c) { ops::add(o, x, y, c); });
      // In-place ops: start both from the same values.
      Tensor cy = random_tensor(s, 3), gy = mis ? misaligned(cy, gpu) : cy.to(gpu);
      ops::axpy(cy, 0.3f, a, cpu);
      ops::axpy(gy, 0.3f, ga, gpu);
      ops::add_inplace(cy, b, cpu);
      ops::add_inplace(gy, gb, gpu);
      ops::scale_inplace(cy, -1.5f, cpu);
      ops::scale_inplace(gy, -1.5f, gpu);
      check_close(gy, cy, gpu, 1e-6, "axpy/add_inplace/scale " + tag);
    }
}

namespace {
// A BF16 tensor holding `v` rounded once: NHWC when 4-D (elementwise ops take any layout);
// offset 1: a flat view one element into a larger allocation (not 16-byte aligned: the scalar
// path), which has no layout.
Tensor bf16_tensor(const Shape& s, const std::vector<float>& v, Context& ctx, int offset) {
  const Layout l = s.size() == 4 ? Layout::NHWC : Layout::NCHW;
  Tensor host = Tensor::empty_cpu(s, DType::BF16, l);
  for (size_t i = 0; i < v.size(); ++i) host.data<bf16>()[i] = from_float<bf16>(v[i]);
  if (!ctx.is_cuda()) return host;
  if (offset == 0) return host.to(ctx);
  Tensor big = Tensor::empty({host.numel() + offset}, ctx, DType::BF16);
  Tensor view = big.slice(offset, host.numel() + offset);
  view.copy_from(host.view({host.numel()}), ctx);
  return view;
}
}  // namespace

TEST_CASE("kernels: CUDA elementwise ops on BF16 storage match the CPU reference",
          "[kernels][cuda]") {
  CGAN_REQUIRE_CUDA();
  Context cpu, gpu(Device::cuda(0));
  // [8,64,33,31]: bf16x8 vectors + a scalar tail; offset 1: every access scalar.
  for (const Shape& s : {Shape{5}, Shape{3, 7}, Shape{8, 64, 33, 31}})
    for (int offset : {0, 1}) {
      const std::vector<float> av = random_vector(size_t(shape_numel(s)), 1, -2.f, 2.f),
                               bv = random_vector(size_t(shape_numel(s)), 2, -2.f, 2.f);
      Tensor a = bf16_tensor(s, av, cpu, 0), b = bf16_tensor(s, bv, cpu, 0);
      Tensor ga = bf16_tensor(s, av, gpu, offset), gb = bf16_tensor(s, bv, gpu, offset);
      const std::string tag = shape_str(s) + (offset ? " misaligned" : "");
      // One bf16 ulp (<= 2^-7 relative): the GPU may fuse a multiply-add the CPU rounds twice,
      // and tanhf differs from the host's tanh in the last float bits; both then round to bf16.
      auto check = [&](const Tensor& g, const Tensor& c, const std::string& what) {
        const std::vector<float> x = g.to_vector(gpu), y = c.to_vector();
        int bad = 0;
        for (size_t i = 0; i < x.size(); ++i)
          bad += !(std::fabs(x[i] - y[i]) <= 0x1p-7 * std::fabs(y[i]));
        INFO(what << " " << tag << ": " << bad << " of " << x.size() << " differ by more than "
                  << "one bf16 ulp");
        CHECK(bad == 0);
      };
      auto out_like = [&](const Tensor& t, Context& c) {
        Tensor o = Tensor::empty(t.shape(), c, DType::BF16, t.layout());
        return o;
      };
      {
        Tensor co = out_like(a, cpu), go = out_like(ga, gpu);
        ops::relu_forward(co, a, cpu);
        ops::relu_forward(go, ga, gpu);
        check(go, co, "relu");
        ops::leaky_relu_forward(co, a, 0.2f, cpu);
        ops::leaky_relu_forward(go, ga, 0.2f, gpu);
        check(go, co, "leaky");
        ops::tanh_forward(co, a, cpu);
        ops::tanh_forward(go, ga, gpu);
        check(go, co, "tanh");
        ops::tanh_backward(co, b, a, cpu);
        ops::tanh_backward(go, gb, ga, gpu);
        check(go, co, "tanh_bwd");
        ops::leaky_relu_backward(co, b, a, 0.2f, cpu);
        ops::leaky_relu_backward(go, gb, ga, 0.2f, gpu);
        check(go, co, "leaky_bwd");
        ops::add(co, a, b, cpu);
        ops::add(go, ga, gb, gpu);
        check(go, co, "add");
        ops::axpy(co, 0.3f, a, cpu);
        ops::axpy(go, 0.3f, ga, gpu);
        ops::scale_inplace(co, -1.5f, cpu);
        ops::scale_inplace(go, -1.5f, gpu);
        check(go, co, "axpy/scale");
      }
    }
}
