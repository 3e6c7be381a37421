// Exact tiled inference (cgan/tiled.hpp): tiled == whole to float rounding, at odd sizes and
// tiles, and naive tiling (each tile through the whole network, its own instance-norm
// statistics) is far from it on the same images. Per convolution, a window computed as
// src/tiled.cpp does is checked value by value against the whole map within a float32
// rounding bound (compare_windows); images, byte by byte within one level and a PSNR bound
// (check_close). Both bounds hold for any x86-64 CPU and OpenBLAS kernel set. With OpenBLAS's
// AVX-512 SkylakeX kernels, whose products round independently of the matrix shape, these
// results also come out bit-identical (with the default algorithms; CGAN_CPU_CONV=
// winograd-unfused once leaves 1 byte of 9,216 off by one); the tests print how many values
// and bytes are, but do not require it (with Haswell's or Zen's kernels some are not).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <string>

#include "cgan/cartoonize.hpp"
#include "cgan/conv.hpp"
#include "cgan/ops.hpp"
#include "cgan/networks.hpp"
#include "cgan/preprocess.hpp"
#include "cgan/resize.hpp"
#include "cgan/tiled.hpp"
#include "common/conformance_util.hpp"
#include "common/test_util.hpp"

using namespace cgan;
using cgan::test::pixels;
using cgan::test::psnr;

namespace {

// A real photo (flat skies next to texture: what makes per-tile statistics differ), cropped
// and resized to w x h.
Image photo(int w, int h, int which = 1) {
  const char* names[] = {"p001_bridge.jpg", "p006_autumn_hills.jpg", "p009_stream.jpg"};
  const Image im = read_image(std::string(CGAN_SOURCE_DIR) + "/data/photos/" + names[which % 3]);
  return resize_bicubic(im, w, h);
}

Image whole(Generator& gen, const Image& im, ChannelOrder order, Context& ctx) {
  return postprocess_images(gen.infer(preprocess_images({im}, order, ctx)), order, ctx)[0];
}

// What naive tiling does: every tile, with a halo, through the whole network, stitched.
// Sides and tile must be multiples of 4, so that output pixels line up with input pixels.
Image naive_tiled(Generator& gen, const Image& im, ChannelOrder order, int tile, int halo,
                  Context& ctx) {
  Image out(im.width, im.height);
  for (int y0 = 0; y0 < im.height; y0 += tile)
    for (int x0 = 0; x0 < im.width; x0 += tile) {
      const int cy0 = std::max(0, y0 - halo), cx0 = std::max(0, x0 - halo);
      const int cy1 = std::min(im.height, y0 + tile + halo);
      const int cx1 = std::min(im.width, x0 + tile + halo);
      Image crop(cx1 - cx0, cy1 - cy0);
      for (int y = cy0; y < cy1; ++y)
        std::copy(im.at(cx0, y), im.at(cx1, y), crop.at(0, y - cy0));
      const Image c = whole(gen, crop, order, ctx);
      for (int y = y0; y < std::min(im.height, y0 + tile); ++y)
        for (int x = x0; x < std::min(im.width, x0 + tile); ++x)
          std::copy(c.at(x - cx0, y - cy0), c.at(x - cx0, y - cy0) + 3, out.at(x, y));
    }
  return out;
}

// Tiled against whole, byte by byte. Identical bytes cannot be required: some of OpenBLAS's
// x86-64 kernel sets (Haswell's and Zen's, which AVX2 CPUs get, and Prescott's; not SkylakeX's,
// Sandybridge's or Nehalem's, measured) round a product depending on the matrix shape, and a
// tile's matrices are smaller than the whole map's, so a tile's values may differ from the
// whole's in the last bits (compare_windows bounds that per convolution). Through ~20
// convolutions and instance norms such differences stay ~1e-5 relative, ~1e-3 of a level at
// the output (127.5 +- 127.5 tanh). A byte differs only where the two floats straddle a
// rounding boundary, so for a fraction ~1e-3 of the bytes, and then by 1: PSNR ~
// 10 log10(255^2 / 1e-3) = 78 dB (measured with the shape-dependent kernels: 81-92 dB, up to
// 51 bytes of 412,224 or 1 of 2,160). So:
// - max |diff| <= 1: a 2 needs a float difference of a whole level, ~1000 times the estimate;
// - PSNR >= 60 dB: with |diff| <= 1, at most 1.6% of the bytes off by one (16 times the
//   estimate), and 40 dB above naive tiling (per-tile statistics: 19-21 dB in these tests).
// Merging the statistics wrongly, a halo short by a pixel, a transposed conv's window cropped
// one pixel off: each fails by far (9-41 dB, max |diff| 9 to 243, tried). What stays under a
// level passes: e.g. n - 1 for n in the merged variance (rstd off by 1/2n, a scale the next
// norm takes out again) changes 36-158 bytes of these images by 1 (66-86 dB).
constexpr double kMinTiledDb = 60.0;

void check_close(const Image& got, const Image& ref, const std::string& what) {
  REQUIRE(got.pixels.size() == ref.pixels.size());
  const double db = psnr(pixels(got), pixels(ref));
  int maxdiff = 0;
  size_t differ = 0;
  for (size_t i = 0; i < got.pixels.size(); ++i) {
    const int d = std::abs(int(got.pixels[i]) - int(ref.pixels[i]));
    maxdiff = std::max(maxdiff, d);
    differ += d != 0;
  }
  INFO(what << ": " << db << " dB, max |diff| " << maxdiff << ", " << differ << " of "
            << got.pixels.size() << " bytes differ");
  CHECK(maxdiff <= 1);
  CHECK(db >= kMinTiledDb);
  if (differ == 0)
    WARN(what << ": tiled == whole, identical bytes");
  else
    WARN(what << ": tiled vs whole " << db << " dB, " << differ << " of " << got.pixels.size()
              << " bytes differ, max |diff| " << maxdiff);
}

void check_tiled(Generator& gen, ChannelOrder order, int w, int h, int tile, Context& ctx) {
  const Image im = photo(w, h, w + h);
  const Image ref = whole(gen, im, order, ctx);
  TiledOptions opt;
  opt.tile = tile;
  int64_t last = 0, total = 0;
  opt.progress = [&](int64_t d, int64_t t) {
    CHECK(d == last + 1);
    last = d;
    total = t;
  };
  TiledReport rep;
  const Image got = cartoonize_tiled(gen, im, order, opt, ctx, &rep);
  REQUIRE(got.width == ref.width);
  REQUIRE(got.height == ref.height);
  INFO(rep.passes << " passes, " << rep.tiles << " tiles");
  check_close(got, ref, std::to_string(w) + "x" + std::to_string(h) + " tile " +
                            std::to_string(tile));
  CHECK(last == total);
  CHECK(rep.tiles == total);
  CHECK(rep.tiles > rep.passes);  // really more than one tile per pass
}

Tensor random_tensor(const Shape& s, uint32_t seed, float scale) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(-scale, scale);
  std::vector<float> v(static_cast<size_t>(shape_numel(s)));
  for (float& f : v) f = d(g);
  return Tensor::from_vector(s, v);
}

Tensor abs_of(const Tensor& t) {
  std::vector<float> v(t.f32(), t.f32() + t.numel());
  for (float& f : v) f = std::abs(f);
  return Tensor::from_vector(t.shape(), v);
}

// How a window's convolution compares with the whole map's.
struct WindowStats {
  int64_t values = 0, exact = 0;  // compared; bit for bit the same
  int64_t over = 0;               // beyond the bound
  double worst = 0;               // max |window - whole| / bound
};

// The output of conv(in, weight) (zero padding only) in tile x tile windows, each computed as
// src/tiled.cpp does (its input window with the halo, zero-padded at the map's borders, by
// conv_forward_window), against the whole convolution, value by value.
//
// The bound. Both results sum the same products (im2col copies inputs exactly; the padding's
// zeros are zeros in both), but OpenBLAS may add them in another order for another matrix
// shape (its AVX-512 SkylakeX kernels do not; its Haswell, Zen, Prescott... kernels do). In
// any order, with or without FMA, a computed sum of n products is within
// gamma_n = n u / (1 - n u) of the exact sum of their magnitudes, u = 2^-24 (Higham, Accuracy
// and Stability of Numerical Algorithms, 2nd ed., eq. 3.5). With M = |b| + (|w| conv |x|)
// (the same API on absolute values; its own rounding, 1e-5 relative at most, is negligible
// in a bound) and K + 1 terms (K = Cin k^2 products, and the bias; a transposed conv reaches
// an output with only ceil(k/s)^2 of its k^2 taps, so that over-counts):
//   GEMM lowerings:  |window - whole| <= 2 gamma_{K+1} M ~= c K u M,  c = 2 (1 + 1/K)
// (2: two results, each within gamma of the exact value).
// Winograd F(4x4,3x3) computes the transforms of the 6x6 input patches and of the kernel, and
// the output transform, by the same code on the same numbers in both. What may be summed in
// another order are the 36 channel sums (GEMMs [Cout, Cin] x [Cin, tiles]: the tile count is
// the shape that differs), each of Cin products U_c V_c, which A^T . A then weighs; its own 9
// additions (and the bias add) round values that may differ. So
//   |window - whole|_ij <= 2 gamma_{Cin+10} [|A^T| (sum_c |U_c| .* |V_c|) |A|]_ij,
// with |U_c| <= |G||g_c||G^T|, |V_c| <= |B^T||d_c||B| (matrices in layers/conv_winograd.cpp).
// For inputs of even magnitude (|g| ~ g, |d| ~ d: these i.i.d. random tensors) the bracket is
// Cin g d rho_i rho_j, rho_i = sum_k |A^T|_ik (sum_p |G_kp|) (sum_s |B^T_ks|) = 16, 17, 24, 48
// for the i-th output of a 4x4 block, while M = 9 Cin g d. Hence
//   Winograd:  |window - whole|_ij <= 2 (Cin + 10) u (rho_i rho_j / 9) M_ij,
// that is c = 2 (1 + 10/Cin) rho_i rho_j / 81: 7.3 .. 66 at Cin = 64, 3.7 to 33 times the GEMM
// bound (the most for a block's last row and column, which A^T weighs by 8). Blocks start at
// the map's output 0; the windows sit on that grid (tiled.cpp's tiles are multiples of 4).
// Both are worst cases (rounding errors typically grow as sqrt(n), not n): measured with
// OpenBLAS's Haswell, Zen and Prescott kernels, |diff| stays under 1.3% of the bound. A wrong
// value is far outside: a window without its bias is 150 (Winograd) to 6000 times over.
WindowStats compare_windows(const Shape& in, const Shape& ws, const ConvSpec& spec, int tile,
                            bool winograd) {
  Context ctx;
  const int64_t k = ws[2], s = spec.stride, p = spec.pad;
  const Tensor x = random_tensor(in, 1, 1.f);
  const Tensor w = random_tensor(ws, 2, 1.f / std::sqrt(float(in[1] * k * k)));
  const Tensor b = random_tensor({spec.transposed ? ws[1] : ws[0]}, 3, 0.1f);
  Tensor whole = Tensor::empty(conv_output_shape(in, ws, spec), ctx);
  conv_forward(whole, x, w, &b, spec, ctx);
  Tensor mag = Tensor::empty(whole.shape(), ctx);  // M = |b| + |w| conv |x|
  const Tensor wa = abs_of(w), ba = abs_of(b);
  conv_forward(mag, abs_of(x), wa, &ba, spec, ctx);
  constexpr double u = 1.0 / (1 << 24);
  const double K = double(in[1] * k * k);
  const double rho[4] = {16 / 3.0, 17 / 3.0, 24 / 3.0, 48 / 3.0};  // rho_i / 3
  auto bound = [&](double m, int64_t oy, int64_t ox) {
    if (!winograd) return 2 * (K + 1) * u * m;
    return 2 * (double(in[1]) + 10) * u * rho[oy % 4] * rho[ox % 4] * m;
  };
  auto crop = [&](const Tensor& t, int64_t top, int64_t left, int64_t h, int64_t wd) {
    ops::Pad2d c;
    c.top = static_cast<int>(top);
    c.left = static_cast<int>(left);
    c.bottom = static_cast<int>(t.dim(2) - top - h);
    c.right = static_cast<int>(t.dim(3) - left - wd);
    Tensor out = Tensor::empty({1, t.dim(1), h, wd}, ctx);
    ops::zero_pad_backward(out, t, c, ctx);
    return out;
  };
  auto fdiv = [](int64_t a, int64_t d) { return a >= 0 ? a / d : -((-a + d - 1) / d); };
  WindowStats st;
  for (int64_t y0 = 0; y0 < whole.dim(2); y0 += tile)
    for (int64_t x0 = 0; x0 < whole.dim(3); x0 += tile) {
      const int64_t h = std::min<int64_t>(tile, whole.dim(2) - y0);
      const int64_t wd = std::min<int64_t>(tile, whole.dim(3) - x0);
      Tensor got;
      if (!spec.transposed) {  // input rows y0*s - p ... (y0+h-1)*s + k - p, zeros outside
        const int64_t iy0 = y0 * s - p, ix0 = x0 * s - p;
        const int64_t ih = (h - 1) * s + k, iw = (wd - 1) * s + k;
        const int64_t cy0 = std::max<int64_t>(0, iy0), cx0 = std::max<int64_t>(0, ix0);
        const int64_t cy1 = std::min(in[2], iy0 + ih), cx1 = std::min(in[3], ix0 + iw);
        const Tensor c = crop(x, cy0, cx0, cy1 - cy0, cx1 - cx0);
        ops::Pad2d z;
        z.top = static_cast<int>(cy0 - iy0);
        z.left = static_cast<int>(cx0 - ix0);
        z.bottom = static_cast<int>(iy0 + ih - cy1);
        z.right = static_cast<int>(ix0 + iw - cx1);
        Tensor xin = Tensor::empty({1, in[1], ih, iw}, ctx);
        ops::zero_pad_forward(xin, c, z, ctx);
        got = Tensor::empty({1, whole.dim(1), h, wd}, ctx);
        conv_forward_window(got, xin, w, &b, {spec.stride, 0, 0, false}, in, spec, ctx);
      } else {  // the inputs that reach the window, clipped to the map; the full output, cropped
        const int64_t iy0 = std::max<int64_t>(0, -fdiv(-(y0 + p - k + 1), s));
        const int64_t ix0 = std::max<int64_t>(0, -fdiv(-(x0 + p - k + 1), s));
        const int64_t iy1 = std::min(in[2], fdiv(y0 + h - 1 + p, s) + 1);
        const int64_t ix1 = std::min(in[3], fdiv(x0 + wd - 1 + p, s) + 1);
        const Tensor c = crop(x, iy0, ix0, iy1 - iy0, ix1 - ix0);
        const ConvSpec full{spec.stride, 0, 0, true};
        Tensor y = Tensor::empty(conv_output_shape(c.shape(), ws, full), ctx);
        conv_forward_window(y, c, w, &b, full, in, spec, ctx);
        got = crop(y, y0 - (iy0 * s - p), x0 - (ix0 * s - p), h, wd);
      }
      const Tensor ref = crop(whole, y0, x0, h, wd), m = crop(mag, y0, x0, h, wd);
      for (int64_t i = 0; i < ref.numel(); ++i) {
        const double g = got.f32()[i], r = ref.f32()[i];
        const double e = bound(m.f32()[i], y0 + i / wd % h, x0 + i % wd);
        const double d = std::abs(g - r);  // NaN (an unwritten value) fails below
        ++st.values;
        st.exact += g == r;
        st.over += !(d <= e);
        st.worst = std::max(st.worst, std::isnan(d) ? HUGE_VAL : d / e);
      }
    }
  return st;
}

}  // namespace

TEST_CASE("tiled: a window of a convolution equals the whole map's to float rounding",
          "[tiled]") {
  struct Case {
    const char* what;
    Shape in, weight;
    ConvSpec spec;
    int tile;
    bool winograd;  // a 3x3 s1 conv the CPU may run by Winograd (the bound above)
  };
  const Case cases[] = {
      // The whole map's column matrix is cut into two bands of rows, a window's is not.
      {"transposed 3x3 s2, 64 -> 128", {1, 64, 80, 64}, {64, 128, 3, 3}, {2, 1, 1, true}, 48,
       false},
      // Winograd, fused for the whole map (with AVX-512); the 16-px windows alone would go by
      // im2col.
      {"3x3 s1, 64 -> 64, fused Winograd", {1, 64, 61, 70}, {64, 64, 3, 3}, {1, 1, 0, false}, 16,
       true},
      // Winograd, unfused for the whole map; the 32-px windows alone would go fused.
      {"3x3 s1, 64 -> 64, unfused Winograd", {1, 64, 130, 90}, {64, 64, 3, 3}, {1, 1, 0, false},
       32, true},
      // Products of at most 100^3 in the windows (OpenBLAS's small-matrix kernels).
      {"7x7 s1, 3 -> 16", {1, 3, 45, 37}, {16, 3, 7, 7}, {1, 3, 0, false}, 8, false},
      {"3x3 s2, 16 -> 32", {1, 16, 50, 41}, {32, 16, 3, 3}, {2, 1, 0, false}, 8, false},
  };
  for (const Case& c : cases) {
    const WindowStats st = compare_windows(c.in, c.weight, c.spec, c.tile, c.winograd);
    INFO(c.what << ", " << c.tile << "-px windows: " << st.over << " of " << st.values
                << " values beyond the bound, worst |diff| / bound " << st.worst);
    CHECK(st.values == shape_numel(conv_output_shape(c.in, c.weight, c.spec)));
    CHECK(st.over == 0);
    // Information, not a requirement: with OpenBLAS's SkylakeX kernels every value is the
    // whole map's, bit for bit; with kernels whose rounding depends on the matrix shape not.
    WARN(c.what << ", " << c.tile << "-px windows: " << st.exact << " of " << st.values
                << " values bit-identical to the whole map's, worst |diff| / bound "
                << st.worst);
  }
}

TEST_CASE("tiled: seed generator, random weights, tiled == whole at odd sizes and tiles",
          "[tiled]") {
  Context ctx;
  SeedGenerator::Options o;
  o.features = 16;  // the same graph, thinner: keeps the test fast
  o.residuals = 3;
  SeedGenerator gen(ctx, o);
  gen.init_random(7);
  check_tiled(gen, ChannelOrder::RGB, 75, 53, 16, ctx);   // nothing a multiple of 4 or the tile
  check_tiled(gen, ChannelOrder::RGB, 64, 48, 32, ctx);
  check_tiled(gen, ChannelOrder::RGB, 37, 90, 20, ctx);
  check_tiled(gen, ChannelOrder::RGB, 33, 17, 16, ctx);   // last tiles one pixel wide
}

TEST_CASE("tiled: official architecture, random weights, tiled == whole", "[tiled]") {
  Context ctx;
  OfficialGenerator::Options o;
  o.features = 16;
  o.residuals = 2;
  OfficialGenerator gen(ctx, o);
  gen.init_random(3);
  check_tiled(gen, ChannelOrder::BGR, 70, 45, 24, ctx);
  check_tiled(gen, ChannelOrder::BGR, 41, 66, 16, ctx);
  // Maps large enough that the whole image's transposed convs run in several bands of rows and
  // its 3x3 convs by Winograd, unfused, where the tiles' small maps would otherwise choose
  // differently; tiles of 128/4 = 32 px at 1/4 resolution, 2-3 px wide at the right edge.
  check_tiled(gen, ChannelOrder::BGR, 450, 301, 128, ctx);
}

TEST_CASE("tiled: naive per-tile instance norm fails the same check", "[tiled]") {
  Context ctx;
  SeedGenerator::Options o;
  o.features = 16;
  o.residuals = 3;
  SeedGenerator gen(ctx, o);
  gen.init_random(7);
  const Image im = photo(96, 64, 1);
  const Image ref = whole(gen, im, ChannelOrder::RGB, ctx);
  const Image naive = naive_tiled(gen, im, ChannelOrder::RGB, 32, 16, ctx);
  TiledOptions opt;
  opt.tile = 32;
  const Image exact = cartoonize_tiled(gen, im, ChannelOrder::RGB, opt, ctx);
  const double db_naive = psnr(pixels(naive), pixels(ref));
  WARN("96x64 in 32-px tiles: naive (per-tile statistics, 16-px halo) " << db_naive
                                                                        << " dB");
  CHECK(db_naive < 40.0);
  check_close(exact, ref, "96x64 in 32-px tiles, exact");
}

TEST_CASE("tiled: official Hayao weights, tiled == whole, naive tiling is not", "[tiled]") {
  CGAN_REQUIRE_SHARED(cgan::test::kHayaoWeights);
  Context ctx;
  CartoonizeOptions co;
  Cartoonizer whole_c(cgan::test::shared_dir() + "/" + cgan::test::kHayaoWeights, co, ctx);
  Generator& gen = whole_c.generator();
  for (auto [w, h, t] : {std::tuple{161, 123, 48}, std::tuple{128, 96, 64}}) {
    check_tiled(gen, ChannelOrder::BGR, w, h, t, ctx);
  }
  const Image im = photo(128, 96, 2);
  const Image ref = whole(gen, im, ChannelOrder::BGR, ctx);
  const double db_naive =
      psnr(pixels(naive_tiled(gen, im, ChannelOrder::BGR, 64, 16, ctx)), pixels(ref));
  WARN("Hayao 128x96 in 64-px tiles: naive tiling " << db_naive << " dB");
  CHECK(db_naive < 40.0);

  // Through the Cartoonizer: --tile forces tiles; a tiny budget chooses them.
  co.tile = 48;
  Cartoonizer tiled_c(cgan::test::shared_dir() + "/" + cgan::test::kHayaoWeights, co, ctx);
  CHECK(tiled_c.tile_side(128, 96) == 48);
  check_close(tiled_c.run({im})[0], ref, "Hayao 128x96, --tile 48");
  // A budget between the tiled and the whole estimate (tiles pay ~384 MiB of fixed costs, so
  // only images of a few hundred pixels and more can be cheaper in tiles).
  co.tile = 0;
  co.max_memory = Cartoonizer::tiled_bytes(400, 300, 64) + (1 << 20);
  REQUIRE(co.max_memory < Cartoonizer::whole_bytes(400, 300));
  Cartoonizer budget_c(cgan::test::shared_dir() + "/" + cgan::test::kHayaoWeights, co, ctx);
  CHECK(budget_c.tile_side(400, 300) == 64);
  const Image big = photo(400, 300, 0);
  check_close(budget_c.run({big})[0], whole(gen, big, ChannelOrder::BGR, ctx),
              "Hayao 400x300, tiles chosen by the budget");
}

TEST_CASE("tiled: the budget decides whole or tiles, and says when nothing fits", "[tiled]") {
  Context ctx;
  SeedGenerator gen(ctx);
  const std::string path = cgan::test::temp_dir("tiled_budget") + "/seed.safetensors";
  gen.init_random(1);
  gen.save(path);
  CartoonizeOptions co;
  co.max_memory = uint64_t(8) << 30;
  Cartoonizer c(path, co, ctx);
  CHECK(c.tile_side(450, 338) == 0);         // whole
  CHECK(c.tile_side(8192, 6144) > 0);        // tiles
  CHECK(c.tile_side(8192, 6144) % 64 == 0);
  co.max_memory = uint64_t(64) << 20;        // 64 MiB: not even the weights and libraries
  Cartoonizer tiny(path, co, ctx);
  CHECK_THROWS_WITH(tiny.tile_side(2000, 2000), Catch::Contains("even in 64-pixel tiles"));
}

TEST_CASE("tiled: an unwritable spill folder is a clear error", "[tiled]") {
  Context ctx;
  SeedGenerator::Options o;
  o.features = 8;
  o.residuals = 1;
  SeedGenerator gen(ctx, o);
  gen.init_random(2);
  TiledOptions opt;
  opt.tile = 16;
  opt.spill_dir = "/nonexistent/cgan-spill";
  CHECK_THROWS_WITH(cartoonize_tiled(gen, photo(40, 40), ChannelOrder::RGB, opt, ctx),
                    Catch::Contains("cannot create a temporary file in /nonexistent/cgan-spill"));
}
