// GPU vs CPU: image pre/post-processing (bit-exact) and Adam (20 steps with an lr change,
// odd length, state restore through the device-side step counter).
#include "cgan/adam.hpp"
#include "cgan/preprocess.hpp"
#include "cuda/test_kernels_cuda_util.hpp"

using namespace cgan;
using namespace cgan::test;

TEST_CASE("kernels: CUDA preprocess is bit-identical to the CPU", "[kernels][cuda]") {
  CGAN_REQUIRE_CUDA();
  Context cpu, gpu(Device::cuda(0));
  std::vector<Image> imgs;
  std::mt19937 rng(1);
  for (int i = 0; i < 3; ++i) {
    Image im(131, 67);
    for (auto& p : im.pixels) p = uint8_t(rng() & 255);
    imgs.push_back(im);
  }
  for (ChannelOrder order : {ChannelOrder::RGB, ChannelOrder::BGR}) {
    Tensor c = preprocess_images(imgs, order, cpu);
    Tensor g = preprocess_images(imgs, order, gpu);
    CHECK(g.to_vector(gpu) == c.to_vector());
    // Values off the 1/127.5 grid, out of range and NaN for the inverse.
    Tensor noisy = random_tensor(c.shape(), 3, -1.2f, 1.2f);
    std::vector<float> nv = noisy.to_vector();
    nv[5] = NAN;
    noisy = Tensor::from_vector(c.shape(), nv);
    std::vector<uint8_t> pc(size_t(noisy.numel())), pg(size_t(noisy.numel()), 77);
    tensor_to_pixels(pc.data(), noisy, order, cpu);
    tensor_to_pixels(pg.data(), noisy.to(gpu), order, gpu);
    CHECK(pc == pg);
  }
}

TEST_CASE("kernels: CUDA Adam matches the CPU reference", "[kernels][cuda]") {
  CGAN_REQUIRE_CUDA();
  Context cpu, gpu(Device::cuda(0));
  // 100003: ~100 blocks share the step counter; 1200007: more float4s than the capped grid has
  // threads, so every thread loops (and the scalar path loops 4x as often).
  for (const int64_t n : {int64_t(100003), int64_t(1200007)})
  for (bool mis : {false, true}) {
    Tensor p0 = random_tensor({n}, 1);
    Tensor pc = Tensor::empty_cpu({n}), gc = Tensor::empty_cpu({n});
    pc.copy_from(p0, cpu);
    Tensor pg = mis ? misaligned(p0, gpu) : p0.to(gpu);
    Tensor gg = mis ? misaligned(p0, gpu) : Tensor::empty({n}, gpu);
    AdamConfig cfg;
    cfg.lr = 1e-2f;
    cfg.weight_decay = 1e-3f;
    Adam ac(pc, gc, cfg, cpu), ag(pg, gg, cfg, gpu);
    for (int k = 0; k < 20; ++k) {
      if (k == 10) {
        ac.set_lr(3e-3f);
        ag.set_lr(3e-3f);
      }
      Tensor g = random_tensor({n}, 100 + k);
      gc.copy_from(g, cpu);
      gg.copy_from(g, gpu);
      ac.step(cpu);
      ag.step(gpu);
    }
    const std::string tag = std::to_string(n) + (mis ? " misaligned" : "");
    check_close(pg, pc, gpu, 1e-5, "params " + tag);
    check_close(ag.m(), ac.m(), gpu, 1e-5, "m " + tag);
    check_close(ag.v(), ac.v(), gpu, 1e-5, "v " + tag);
    // A restored optimizer continues with the right bias correction (device step counter).
    Adam ag2(pg, gg, cfg, gpu);
    ag2.load_state(ag.state_tensors(), gpu);
    ag2.set_lr(3e-3f);
    CHECK(ag2.step_count() == 20);
    ac.step(cpu);
    ag2.step(gpu);
    check_close(pg, pc, gpu, 1e-5, "params after restore " + tag);
  }
}

TEST_CASE("kernels: CUDA Adam writes the same bf16 mirror as the CPU", "[kernels][cuda]") {
  CGAN_REQUIRE_CUDA();
  Context cpu, gpu(Device::cuda(0));
  // Filters of odd sizes among loose parameters; n odd so the scalar tail writes too.
  const std::vector<FilterSegment> filters = {
      {3, 7, 5, 3, 3}, {400, 16, 3, 7, 7}, {3000, 3, 64, 7, 7}};
  const int64_t n = 3000 + 3 * 64 * 7 * 7 + 13;
  for (bool mis : {false, true}) {
    Tensor p0 = random_tensor({n}, 1);
    Tensor pc = Tensor::empty_cpu({n}), gc = Tensor::empty_cpu({n});
    pc.copy_from(p0, cpu);
    Tensor pg = mis ? misaligned(p0, gpu) : p0.to(gpu);
    Tensor gg = Tensor::empty({n}, gpu);
    Adam ac(pc, gc, AdamConfig{}, cpu), ag(pg, gg, AdamConfig{}, gpu);
    Tensor mc = Tensor::empty_cpu({n}, DType::BF16), mg = Tensor::empty({n}, gpu, DType::BF16);
    ac.set_bf16_mirror(mc, filters, cpu);
    ag.set_bf16_mirror(mg, filters, gpu);
    for (int k = 0; k < 3; ++k) {
      Tensor g = random_tensor({n}, 100 + k);
      gc.copy_from(g, cpu);
      gg.copy_from(g, gpu);
      ac.step(cpu);
      ag.step(gpu);
    }
    // The GPU's mirror is exactly bf16 of the GPU's own parameters, placed as the CPU places
    // them (the parameters themselves may differ in the last bits between the backends).
    Tensor pgc = pg.to_cpu(gpu), mgc = mg.to_cpu(gpu);
    Tensor expect = Tensor::empty_cpu({n}, DType::BF16);
    Adam placer(pgc, Tensor::zeros({n}, cpu), AdamConfig{}, cpu);
    placer.set_bf16_mirror(expect, filters, cpu);
    int64_t bad = 0;
    for (int64_t i = 0; i < n; ++i) bad += mgc.data<uint16_t>()[i] != expect.data<uint16_t>()[i];
    INFO((mis ? "misaligned" : "aligned") << ": " << bad << " mirror entries differ");
    CHECK(bad == 0);
    // And the CPU's mirror is that of the CPU parameters, close to the GPU's.
    check_close(mg, mc, gpu, 0x1p-7, "mirror values");
  }
}
