// GPU vs CPU: bias add / bias backward, 2x2 max pooling, 3-channel affine map.
#include "cuda/test_kernels_cuda_util.hpp"

using namespace cgan;
using namespace cgan::test;

TEST_CASE("kernels: CUDA bias ops match the CPU reference", "[kernels][cuda]") {
  CGAN_REQUIRE_CUDA();
  Context cpu, gpu(Device::cuda(0));
  // [1,3,300,300]: few planes, each summed by several blocks; [2,3,301,299] the same with an
  // odd plane (scalar loads, shorter last chunk).
  for (const Shape& s : {Shape{1, 1, 1, 1}, Shape{3, 2, 7, 13}, Shape{8, 64, 64, 64},
                         Shape{1, 3, 300, 300}, Shape{2, 3, 301, 299}}) {
    const int64_t C = s[1];
    Tensor x = random_tensor(s, 1), b = random_tensor({C}, 2);
    Tensor gx = x.to(gpu), gb = b.to(gpu);
    ops::bias_add_inplace(x, b, cpu);
    ops::bias_add_inplace(gx, gb, gpu);
    check_close(gx, x, gpu, 1e-7, "bias_add " + shape_str(s));
    Tensor db = random_tensor({C}, 3), gdb = db.to(gpu);
    ops::bias_backward(db, x, cpu);
    ops::bias_backward(gdb, gx, gpu);
    check_close(gdb, db, gpu, 1e-5, "bias_backward " + shape_str(s));
    Tensor gdb2 = random_tensor({C}, 3).to(gpu);
    ops::bias_backward(gdb2, gx, gpu);
    CHECK(gdb2.to_vector(gpu) == gdb.to_vector(gpu));  // deterministic
  }
}

TEST_CASE("kernels: CUDA maxpool2x2 matches the CPU reference", "[kernels][cuda]") {
  CGAN_REQUIRE_CUDA();
  Context cpu, gpu(Device::cuda(0));
  // [2,300,251,9]: 75000 output rows (75600 cells rows backward), more than gridDim.y's
  // 65535, so the row loop runs; odd H and W drop a row and a column.
  for (const Shape& s : {Shape{1, 1, 1, 1}, Shape{1, 3, 3, 5}, Shape{3, 2, 7, 13},
                         Shape{8, 128, 64, 64}, Shape{2, 300, 251, 9}}) {
    const Shape os{s[0], s[1], s[2] / 2, s[3] / 2};
    Tensor x = random_tensor(s, 1), dy = random_tensor(os, 2);
    // Some exact ties to check the first-maximum rule on both sides.
    std::vector<float> xv = x.to_vector();
    for (size_t i = 0; i + 1 < xv.size(); i += 5) xv[i + 1] = xv[i];
    x = Tensor::from_vector(s, xv);
    Tensor y = Tensor::empty_cpu(os), gy = poisoned(os, gpu);
    ops::maxpool2x2_forward(y, x, cpu);
    Tensor gx = x.to(gpu);
    ops::maxpool2x2_forward(gy, gx, gpu);
    check_close(gy, y, gpu, 0.0, "maxpool fwd " + shape_str(s));
    Tensor dx = Tensor::empty_cpu(s), gdx = poisoned(s, gpu);
    ops::maxpool2x2_backward(dx, dy, x, cpu);
    ops::maxpool2x2_backward(gdx, dy.to(gpu), gx, gpu);
    check_close(gdx, dx, gpu, 0.0, "maxpool bwd " + shape_str(s));
  }
}

TEST_CASE("kernels: CUDA channel_affine3 matches the CPU reference", "[kernels][cuda]") {
  CGAN_REQUIRE_CUDA();
  Context cpu, gpu(Device::cuda(0));
  const float mul[3] = {0.5f, -2.f, 1.25f}, add[3] = {0.1f, 0.2f, -0.3f};
  for (const Shape& s : {Shape{1, 3, 1, 1}, Shape{3, 3, 7, 13}, Shape{8, 3, 256, 256}})
    for (bool flip : {false, true}) {
      Tensor x = random_tensor(s, 1), dy = random_tensor(s, 2);
      Tensor y = Tensor::empty_cpu(s), gy = poisoned(s, gpu);
      ops::channel_affine3(y, x, mul, add, flip, cpu);
      ops::channel_affine3(gy, x.to(gpu), mul, add, flip, gpu);
      check_close(gy, y, gpu, 1e-6, "affine3 " + shape_str(s));
      Tensor dx = Tensor::empty_cpu(s), gdx = poisoned(s, gpu);
      ops::channel_affine3_backward(dx, dy, mul, flip, cpu);
      ops::channel_affine3_backward(gdx, dy.to(gpu), mul, flip, gpu);
      check_close(gdx, dx, gpu, 1e-6, "affine3 bwd " + shape_str(s));
    }
}
