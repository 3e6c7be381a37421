// Tensor, dtype conversions, device selection and the caching allocator's bookkeeping.
#include "common/test_util.hpp"

#include "cgan/allocator.hpp"
#include "cgan/dtype.hpp"
#include "cgan/tensor.hpp"
#include "cgan/precision.hpp"

using namespace cgan;
using Catch::Matchers::Contains;

TEST_CASE("tensor: shape, views and slices share storage", "[cpu]") {
  Context ctx(Device::cpu());
  Tensor t = Tensor::empty({3, 2, 5}, ctx);
  REQUIRE(t.numel() == 30);
  REQUIRE(t.nbytes() == 120);
  REQUIRE(t.dim(-1) == 5);
  REQUIRE(t.ndim() == 3);
  REQUIRE(t.device() == Device::cpu());
  for (int i = 0; i < 30; ++i) t.f32()[i] = static_cast<float>(i);

  Tensor v = t.view({6, 5});
  REQUIRE(v.f32() == t.f32());
  Tensor s = t.slice(1, 3);
  REQUIRE(s.shape() == Shape{2, 2, 5});
  REQUIRE(s.f32()[0] == 10.0f);
  s.f32()[0] = -1.0f;
  REQUIRE(t.f32()[10] == -1.0f);

  REQUIRE_THROWS_WITH(t.view({7, 5}), Contains("cannot view [3,2,5] as [7,5]"));
  REQUIRE_THROWS_WITH(t.slice(2, 4), Contains("slice [2,4) out of range for [3,2,5]"));
  REQUIRE_THROWS_WITH(t.dim(3), Contains("dim 3 out of range"));
  REQUIRE_THROWS_WITH(Tensor::from_vector({2, 2}, {1, 2, 3}), Contains("needs 4 values, got 3"));
  Tensor undefined;
  REQUIRE_THROWS_WITH(undefined.raw(), Contains("undefined tensor"));
}

TEST_CASE("tensor: copies, fill and conversion on CPU", "[cpu]") {
  Context ctx(Device::cpu());
  Tensor a = test::random_tensor({4, 3}, 1);
  Tensor b = a.to(ctx);
  REQUIRE(b.f32() != a.f32());
  REQUIRE(b.to_vector() == a.to_vector());
  b.fill(2.5f, ctx);
  for (float x : b.to_vector()) REQUIRE(x == 2.5f);
  REQUIRE(a.to_vector()[0] != 2.5f);

  Tensor z = Tensor::zeros({5}, ctx);
  for (float x : z.to_vector()) REQUIRE(x == 0.0f);

  Tensor h = Tensor::empty({3}, ctx, DType::F16);
  h.fill(1.5f, ctx);
  REQUIRE(h.to_vector() == std::vector<float>{1.5f, 1.5f, 1.5f});
  Tensor wrong = Tensor::empty({4}, ctx, DType::F16);
  REQUIRE_THROWS_WITH(wrong.copy_from(a, ctx), Contains("copy_from"));
  REQUIRE_THROWS_WITH(h.f32(), Contains("expected an F32 tensor, got F16"));
}

TEST_CASE("dtype: half and bfloat16 conversions round to nearest even", "[cpu]") {
  // Exactly representable values survive a round trip.
  for (float x : {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f, 5.9604645e-08f}) {
    REQUIRE(half_to_float(float_to_half(x)) == x);
  }
  REQUIRE(float_to_half(1.0f) == 0x3c00);
  REQUIRE(float_to_half(-2.0f) == 0xc000);
  REQUIRE(float_to_half(1e6f) == 0x7c00);                 // overflow -> inf
  REQUIRE(float_to_half(1.0f + 1.0f / 2048.0f) == 0x3c00);  // tie -> even
  REQUIRE(float_to_half(1.0f + 3.0f / 2048.0f) == 0x3c02);  // tie -> even (up)
  REQUIRE(std::isnan(half_to_float(0x7e00)));
  REQUIRE(float_to_bf16(1.0f) == 0x3f80);
  REQUIRE(bf16_to_float(0x4049) == 3.140625f);
  REQUIRE(float_to_bf16(1.0f + 1.0f / 256.0f) == 0x3f80);  // tie -> even
  // Relative error of a random value is within half an ulp (2^-11 for half, 2^-8 for bf16).
  for (float x : test::random_vector(1000, 7, -100.f, 100.f)) {
    REQUIRE(std::abs(half_to_float(float_to_half(x)) - x) <= std::abs(x) * 0x1p-11f + 1e-7f);
    REQUIRE(std::abs(bf16_to_float(float_to_bf16(x)) - x) <= std::abs(x) * 0x1p-8f);
  }
}

TEST_CASE("device: selection works without a GPU and fails clearly when CUDA is forced", "[cpu]") {
  REQUIRE(select_device("cpu") == Device::cpu());
  REQUIRE_THROWS_WITH(select_device("tpu"), Contains("invalid device 'tpu'"));
  REQUIRE_THROWS_WITH(select_device("cuda:x"), Contains("invalid device 'cuda:x'"));
  const Device a = select_device("auto");
  if (cuda_available()) {
    REQUIRE(a.is_cuda());
  } else {
    REQUIRE(a.is_cpu());
    REQUIRE(!cuda_unavailable_reason().empty());
    REQUIRE_THROWS_AS(select_device("cuda"), NoDeviceError);
    REQUIRE_THROWS_WITH(select_device("cuda:0"), Contains("CUDA is not usable here"));
    REQUIRE_THROWS_AS(Context(Device::cuda(0)), NoDeviceError);
  }
  REQUIRE(device_description(Device::cpu()) == "CPU");
}

TEST_CASE("allocator: caching, statistics and peak tracking", "[cpu]") {
  CachingAllocator alloc(Device::cpu());
  REQUIRE(CachingAllocator::round_size(1) == 512);
  REQUIRE(CachingAllocator::round_size(513) == 1024);
  REQUIRE(CachingAllocator::round_size((1u << 20) + 1) == (1u << 20) + (1u << 18));

  void* p = alloc.allocate(1000);
  void* q = alloc.allocate(3000);
  AllocatorStats s = alloc.stats();
  REQUIRE(s.bytes_in_use == 1024 + 3072);
  REQUIRE(s.peak_bytes_in_use == 1024 + 3072);
  REQUIRE(s.num_system_allocations == 2);
  alloc.deallocate(p);
  s = alloc.stats();
  REQUIRE(s.bytes_in_use == 3072);
  REQUIRE(s.bytes_reserved == 1024 + 3072);
  REQUIRE(s.peak_bytes_in_use == 4096);

  void* r = alloc.allocate(900);  // same rounded size: the cached block comes back
  REQUIRE(r == p);
  s = alloc.stats();
  REQUIRE(s.num_cache_hits == 1);
  REQUIRE(s.num_system_allocations == 2);
  REQUIRE(s.num_allocations == 3);

  alloc.deallocate(r);
  alloc.deallocate(q);
  REQUIRE(alloc.stats().bytes_in_use == 0);
  alloc.reset_peak();
  REQUIRE(alloc.stats().peak_bytes_in_use == 0);
  alloc.release_cached();
  REQUIRE(alloc.stats().bytes_reserved == 0);
  int unknown = 0;
  REQUIRE_THROWS_WITH(alloc.deallocate(&unknown), Contains("unknown pointer"));
}

TEST_CASE("allocator: host blocks of 4 MiB and more are cached only within the peak in use", "[cpu]") {
  CachingAllocator alloc(Device::cpu());
  const size_t big = size_t(6) << 20, rb = CachingAllocator::round_size(big);
  const size_t rb2 = CachingAllocator::round_size(2 * big);
  float* p = static_cast<float*>(alloc.allocate(big));
  REQUIRE(p != nullptr);
  for (size_t i = 0; i < big / 4; i += 1024) p[i] = float(i);  // mapped, writable
  REQUIRE(p[1024] == 1024.0f);
  AllocatorStats s = alloc.stats();
  REQUIRE(s.bytes_in_use == rb);
  REQUIRE(s.bytes_reserved == rb);
  alloc.deallocate(p);
  s = alloc.stats();
  REQUIRE(s.bytes_in_use == 0);
  REQUIRE(s.bytes_reserved == rb);  // cached: within the peak in use
  float* q = static_cast<float*>(alloc.allocate(big));
  REQUIRE(q == p);  // the same pages: no fault, no zeroing
  REQUIRE(alloc.stats().num_cache_hits == 1);
  REQUIRE(alloc.stats().num_system_allocations == 1);
  alloc.deallocate(q);
  // A larger block: keeping the cached one would reserve more than the peak in use, so it is
  // unmapped first.
  void* r = alloc.allocate(2 * big);
  s = alloc.stats();
  REQUIRE(s.bytes_reserved == rb2);
  REQUIRE(s.num_system_allocations == 2);
  alloc.deallocate(r);
  // Two blocks live at once may be mapped (the peak grows with them); what is reserved never
  // exceeds the peak in use.
  void* a = alloc.allocate(big);
  void* b2 = alloc.allocate(2 * big);
  s = alloc.stats();
  REQUIRE(s.bytes_in_use == rb + rb2);
  REQUIRE(s.bytes_reserved <= s.peak_bytes_in_use);
  alloc.deallocate(a);
  alloc.deallocate(b2);
  s = alloc.stats();
  REQUIRE(s.bytes_reserved <= s.peak_bytes_in_use);
  alloc.release_cached();
  REQUIRE(alloc.stats().bytes_reserved == 0);
  // Below the limit blocks are cached as always.
  void* t = alloc.allocate(size_t(2) << 20);
  alloc.deallocate(t);
  const size_t hits = alloc.stats().num_cache_hits;
  REQUIRE(alloc.allocate(size_t(2) << 20) == t);
  REQUIRE(alloc.stats().num_cache_hits == hits + 1);
  alloc.deallocate(t);
}

TEST_CASE("allocator: a training loop keeps its large host blocks (set_cache_large_host_blocks)", "[cpu]") {
  CachingAllocator alloc(Device::cpu());
  alloc.set_cache_large_host_blocks(true);
  const size_t big = size_t(6) << 20;
  float* p = static_cast<float*>(alloc.allocate(big));
  for (size_t i = 0; i < big / 4; i += 1024) p[i] = float(i);
  alloc.deallocate(p);
  AllocatorStats s = alloc.stats();
  REQUIRE(s.bytes_in_use == 0);
  REQUIRE(s.bytes_reserved == CachingAllocator::round_size(big));  // kept
  float* q = static_cast<float*>(alloc.allocate(big));
  REQUIRE(q == p);  // the same pages: no fault, no zeroing
  REQUIRE(q[1024] == 1024.0f);
  REQUIRE(alloc.stats().num_cache_hits == 1);
  REQUIRE(alloc.stats().num_system_allocations == 1);
  alloc.deallocate(q);
  alloc.release_cached();  // unmapped
  REQUIRE(alloc.stats().bytes_reserved == 0);
  // Turned off again, large blocks are kept only within the peak in use.
  alloc.set_cache_large_host_blocks(false);
  alloc.deallocate(alloc.allocate(big));
  REQUIRE(alloc.stats().bytes_reserved <= alloc.stats().peak_bytes_in_use);
}

TEST_CASE("allocator: tensors return their storage to the context's cache", "[cpu]") {
  Context ctx(Device::cpu());
  {
    Tensor a = Tensor::empty({256, 256}, ctx);
    REQUIRE(ctx.allocator().stats().bytes_in_use == 256 * 256 * 4);
    Tensor view = a.view({65536});  // a view shares, it does not allocate
    REQUIRE(ctx.allocator().stats().num_allocations == 1);
  }
  REQUIRE(ctx.allocator().stats().bytes_in_use == 0);
  Tensor b = Tensor::empty({256, 256}, ctx);
  REQUIRE(ctx.allocator().stats().num_cache_hits == 1);
  void* w = ctx.workspace(1000);
  REQUIRE(ctx.workspace(500) == w);  // smaller requests reuse the workspace
  REQUIRE(ctx.workspace_size() == 1000);
}

#include <type_traits>

#include "cgan/buffer.hpp"

TEST_CASE("buffer: move-only RAII over the context's allocator", "[cpu]") {
  static_assert(!std::is_copy_constructible_v<Buffer<float>>);
  static_assert(std::is_nothrow_move_constructible_v<Buffer<float>>);
  Context ctx(Device::cpu());
  {
    Buffer<double> a(100, ctx);
    REQUIRE(a.size() == 100);
    REQUIRE(a.bytes() == 800);
    REQUIRE(ctx.allocator().stats().bytes_in_use == 1024);
    a.data()[99] = 1.5;
    Buffer<double> b = std::move(a);
    REQUIRE(a.data() == nullptr);
    REQUIRE(a.empty());
    REQUIRE(b.data()[99] == 1.5);
    Buffer<double> c(10, ctx);
    c = std::move(b);  // c's old block goes back to the cache
    REQUIRE(ctx.allocator().stats().bytes_in_use == 1024);
    REQUIRE(c.size() == 100);
  }
  REQUIRE(ctx.allocator().stats().bytes_in_use == 0);
}

TEST_CASE("core: precision policy parses, resolves per backend and refuses what it cannot do",
          "[core]") {
  CHECK(parse_precision("auto") == Precision::Auto);
  CHECK(parse_precision("fp32") == Precision::FP32);
  CHECK(parse_precision("tf32") == Precision::TF32);
  CHECK(parse_precision("bf16") == Precision::BF16);
  CHECK_THROWS_WITH(parse_precision("fp16"), Catch::Contains("'fp16'"));
  Context cpu;
  CHECK(resolve_precision(Precision::Auto, cpu) == Precision::FP32);
  CHECK(resolve_precision(Precision::FP32, cpu) == Precision::FP32);
  CHECK_THROWS_WITH(resolve_precision(Precision::TF32, cpu), Catch::Contains("CUDA device"));
  CHECK_THROWS_WITH(resolve_precision(Precision::BF16, cpu), Catch::Contains("CUDA device"));
  cpu.allow_tf32 = true;
  CHECK(apply_precision(Precision::Auto, cpu) == Precision::FP32);
  CHECK_FALSE(cpu.allow_tf32);
}
