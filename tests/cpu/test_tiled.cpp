// Exact tiled inference (cgan/tiled.hpp): tiled == whole to fp32 rounding, and the check has
// teeth: naive tiling (each tile through the whole network, its own instance-norm statistics)
// fails it on the same images.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>

#include "cgan/cartoonize.hpp"
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
  const double db = psnr(pixels(got), pixels(ref));
  int maxdiff = 0;
  for (size_t i = 0; i < got.pixels.size(); ++i)
    maxdiff = std::max(maxdiff, std::abs(int(got.pixels[i]) - int(ref.pixels[i])));
  INFO(w << "x" << h << " tile " << tile << ": " << db << " dB, max |diff| " << maxdiff
         << ", " << rep.passes << " passes, " << rep.tiles << " tiles");
  CHECK(db >= 50.0);
  CHECK(maxdiff <= 2);
  CHECK(last == total);
  CHECK(rep.tiles == total);
  CHECK(rep.tiles > rep.passes);  // really more than one tile per pass
  WARN(w << "x" << h << " tile " << tile << ": tiled vs whole " << db << " dB, max |diff| "
         << maxdiff);
}

}  // namespace

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
  const double db_exact = psnr(pixels(exact), pixels(ref));
  WARN("96x64 in 32-px tiles: naive (per-tile statistics, 16-px halo) " << db_naive
                                                                        << " dB, exact " << db_exact << " dB");
  CHECK(db_naive < 40.0);
  CHECK(db_exact >= 50.0);
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
  CHECK(psnr(pixels(tiled_c.run({im})[0]), pixels(ref)) >= 50.0);
  // A budget between the tiled and the whole estimate (tiles pay ~384 MiB of fixed costs, so
  // only images of a few hundred pixels and more can be cheaper in tiles).
  co.tile = 0;
  co.max_memory = Cartoonizer::tiled_bytes(400, 300, 64) + (1 << 20);
  REQUIRE(co.max_memory < Cartoonizer::whole_bytes(400, 300));
  Cartoonizer budget_c(cgan::test::shared_dir() + "/" + cgan::test::kHayaoWeights, co, ctx);
  CHECK(budget_c.tile_side(400, 300) == 64);
  const Image big = photo(400, 300, 0);
  CHECK(psnr(pixels(budget_c.run({big})[0]), pixels(whole(gen, big, ChannelOrder::BGR, ctx))) >=
        50.0);
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
