// GPU vs CPU: MSE-to-constant and L1 losses (value + gradient), bitwise run-to-run
// determinism of the value.
#include "cuda/test_kernels_cuda_util.hpp"

using namespace cgan;
using namespace cgan::test;

TEST_CASE("kernels: CUDA losses match the CPU reference and are deterministic", "[kernels][cuda]") {
  CGAN_REQUIRE_CUDA();
  Context cpu, gpu(Device::cuda(0));
  for (const Shape& s : {Shape{1}, Shape{3, 5}, Shape{3, 2, 7, 13}, Shape{8, 3, 256, 256},
                         Shape{8, 1, 65, 63}})
    for (bool mis : {false, true}) {
      const std::string tag = shape_str(s) + (mis ? " misaligned" : "");
      Tensor a = random_tensor(s, 1), b = random_tensor(s, 2);
      Tensor ga = mis ? misaligned(a, gpu) : a.to(gpu), gb = mis ? misaligned(b, gpu) : b.to(gpu);
      Tensor loss = Tensor::empty_cpu({1}), grad = Tensor::empty_cpu(s);
      Tensor gloss = poisoned({1}, gpu), ggrad = poisoned(s, gpu);
      ops::mse_const_loss(loss, &grad, a, 0.9f, 0.5f, cpu);
      ops::mse_const_loss(gloss, &ggrad, ga, 0.9f, 0.5f, gpu);
      // fp32 tree sum of up to 1.5M terms vs a double sum.
      check_close(gloss, loss, gpu, 1e-5, "mse value " + tag);
      check_close(ggrad, grad, gpu, 1e-6, "mse grad " + tag);
      Tensor gloss2 = poisoned({1}, gpu);
      ops::mse_const_loss(gloss2, nullptr, ga, 0.9f, 0.5f, gpu);
      CHECK(gloss2.to_vector(gpu) == gloss.to_vector(gpu));

      ops::l1_loss(loss, &grad, a, b, 2.f, cpu);
      ops::l1_loss(gloss, &ggrad, ga, gb, 2.f, gpu);
      check_close(gloss, loss, gpu, 1e-5, "l1 value " + tag);
      check_close(ggrad, grad, gpu, 1e-6, "l1 grad " + tag);
      ops::l1_loss(gloss2, nullptr, ga, gb, 2.f, gpu);
      CHECK(gloss2.to_vector(gpu) == gloss.to_vector(gpu));
    }
}
