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
