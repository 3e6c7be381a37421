// GPU vs CPU: reflection / zero padding forward and backward (gather vs scatter).
#include "cuda/test_kernels_cuda_util.hpp"

using namespace cgan;
using namespace cgan::test;

TEST_CASE("kernels: CUDA padding matches the CPU reference", "[kernels][cuda]") {
  CGAN_REQUIRE_CUDA();
  Context cpu, gpu(Device::cuda(0));
  struct Case {
    Shape s;
    ops::Pad2d p;
  };
  const std::vector<Case> cases = {{{1, 1, 1, 1}, {0, 0, 0, 0}}, {{1, 3, 3, 5}, {2, 1, 4, 3}},
                                   {{3, 2, 7, 13}, ops::Pad2d::all(3)},
                                   {{8, 64, 64, 64}, ops::Pad2d::all(3)},
                                   {{2, 3, 2, 9}, {1, 1, 8, 0}},
                                   // 256 planes x 304 rows > 65535: the grid's row loop runs.
                                   {{4, 64, 300, 5}, {3, 1, 4, 2}}};
  for (const Case& tc : cases) {
    const Shape os{tc.s[0], tc.s[1], tc.s[2] + tc.p.top + tc.p.bottom,
                   tc.s[3] + tc.p.left + tc.p.right};
    Tensor x = random_tensor(tc.s, 1), dy = random_tensor(os, 2);
    Tensor gx = x.to(gpu), gdy = dy.to(gpu);
    for (bool refl : {true, false}) {
      const std::string tag = std::string(refl ? "reflect " : "zero ") + shape_str(tc.s);
      Tensor y = Tensor::empty_cpu(os), gy = poisoned(os, gpu);
      Tensor dx = Tensor::empty_cpu(tc.s), gdx = poisoned(tc.s, gpu);
      if (refl) {
        ops::reflection_pad_forward(y, x, tc.p, cpu);
        ops::reflection_pad_forward(gy, gx, tc.p, gpu);
        ops::reflection_pad_backward(dx, dy, tc.p, cpu);
        ops::reflection_pad_backward(gdx, gdy, tc.p, gpu);
      } else {
        ops::zero_pad_forward(y, x, tc.p, cpu);
        ops::zero_pad_forward(gy, gx, tc.p, gpu);
        ops::zero_pad_backward(dx, dy, tc.p, cpu);
        ops::zero_pad_backward(gdx, gdy, tc.p, gpu);
      }
      check_close(gy, y, gpu, 0.0, "forward " + tag);  // a copy: exact
      check_close(gdx, dx, gpu, 1e-6, "backward " + tag);  // up to 9 terms, other order
    }
  }
}
