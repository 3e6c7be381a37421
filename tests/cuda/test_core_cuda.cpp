// Device memory: copies, fill, caching allocator on the GPU, and the context's handles.
#include "common/test_util.hpp"

#include "cgan/safetensors.hpp"
#include "cgan/precision.hpp"

using namespace cgan;

TEST_CASE("cuda: host<->device copies round trip exactly, odd sizes", "[cuda]") {
  CGAN_REQUIRE_CUDA();
  Context ctx(Device::cuda(0));
  REQUIRE(ctx.stream() != nullptr);
#ifdef CGAN_CUDA_EMULATION
  // No cuBLAS or cuDNN under emulation (emu/README.md): convolutions run the CPU code there.
  REQUIRE(ctx.cublas_handle() == nullptr);
  REQUIRE(ctx.cudnn_handle() == nullptr);
#else
  REQUIRE(ctx.cublas_handle() != nullptr);
  REQUIRE(ctx.cudnn_handle() != nullptr);
#endif
  for (int64_t n : {1, 3, 1023, 100003}) {
    Tensor h = test::random_tensor({n}, uint64_t(n));
    Tensor d = h.to(ctx);
    REQUIRE(d.is_cuda());
    Tensor d2 = Tensor::empty({n}, ctx);
    d2.fill(NAN, ctx);
    d2.copy_from(d, ctx);  // device to device
    REQUIRE(d2.to_vector(ctx) == h.to_vector());
  }
}

TEST_CASE("cuda: fill writes every element", "[cuda]") {
  CGAN_REQUIRE_CUDA();
  Context ctx(Device::cuda(0));
  Tensor d = Tensor::empty({3, 77, 5}, ctx);
  d.fill(NAN, ctx);
  d.fill(-1.25f, ctx);
  for (float x : d.to_vector(ctx)) REQUIRE(x == -1.25f);
  Tensor z = Tensor::zeros({1001}, ctx);
  for (float x : z.to_vector(ctx)) REQUIRE(x == 0.0f);
}

TEST_CASE("cuda: the caching allocator reuses freed device blocks", "[cuda]") {
  CGAN_REQUIRE_CUDA();
  Context ctx(Device::cuda(0));
  void* first = nullptr;
  {
    Tensor a = Tensor::empty({1 << 20}, ctx);
    first = a.raw();
    REQUIRE(ctx.allocator().stats().bytes_in_use >= (4u << 20));
  }
  REQUIRE(ctx.allocator().stats().bytes_in_use == 0);
  Tensor b = Tensor::empty({1 << 20}, ctx);
  REQUIRE(b.raw() == first);
  REQUIRE(ctx.allocator().stats().num_cache_hits == 1);
}

TEST_CASE("cuda: safetensors written from device tensors", "[cuda]") {
  CGAN_REQUIRE_CUDA();
  Context ctx(Device::cuda(0));
  Tensor h = test::random_tensor({2, 7}, 5);
  const std::string p = test::temp_dir("cudast") + "/d.safetensors";
  write_safetensors(p, {{"x", h.to(ctx)}}, {}, &ctx);
  REQUIRE(read_safetensors(p).at("x").to_vector() == h.to_vector());
}

TEST_CASE("core: CUDA precision policy: TF32 switch, bf16 on sm_80+", "[cuda]") {
  CGAN_REQUIRE_CUDA();
  Context gpu(Device::cuda(0));
  CHECK(apply_precision(Precision::FP32, gpu) == Precision::FP32);
  CHECK_FALSE(gpu.allow_tf32);
  CHECK(apply_precision(Precision::Auto, gpu) == Precision::TF32);
  CHECK(gpu.allow_tf32);
  if (compute_capability(gpu.device()) >= 80)
    CHECK(apply_precision(Precision::BF16, gpu) == Precision::BF16);
  else
    CHECK_THROWS_WITH(apply_precision(Precision::BF16, gpu), Catch::Contains("8.0"));
}
