// cgan_cartoonize's progress line: shown on a terminal (done/total, rate, ETA, tiles of a tiled
// image), absent when stderr is not a terminal or with --no-progress; the closing summary
// always.
#include <catch2/catch.hpp>

#include <filesystem>

#include "cgan/networks.hpp"
#include "common/test_util.hpp"

namespace fs = std::filesystem;
using namespace cgan;

namespace {
const std::string kTool = std::string(CGAN_BINARY_DIR) + "/cgan_cartoonize";

std::string seed_weights(const std::string& dir) {
  const std::string path = dir + "/seed.safetensors";
  Context ctx;
  SeedGenerator g(ctx);
  g.init_random(3);
  g.save(path);
  return path;
}
}  // namespace

TEST_CASE("cartoonize: progress on a terminal, quiet otherwise, a summary always", "[cli]") {
  if (cgan::test::sh("command -v script > /dev/null") != 0) {
    cgan::test::skip("util-linux 'script' (a pseudo-terminal) not available");
    return;
  }
  const std::string dir = cgan::test::temp_dir("progress");
  const std::string w = seed_weights(dir);
  const std::string photos = std::string(CGAN_SOURCE_DIR) + "/data/photos";
  fs::create_directories(dir + "/in");
  for (const char* p : {"p001_bridge.jpg", "p003_fig.jpg", "p005_room.jpg"})
    fs::copy_file(photos + "/" + p, dir + "/in/" + p);
  const std::string cmd = kTool + " --weights " + w + " --max-side 64 " + dir + "/in -o " + dir +
                          "/out";
  // On a pseudo-terminal: the line is redrawn in place (\r, then erase-to-end "\033[K").
  REQUIRE(cgan::test::sh("script -qec '" + cmd + "' /dev/null > " + dir + "/tty.txt 2>&1") == 0);
  const std::string tty = cgan::test::slurp(dir + "/tty.txt");
  INFO(tty);
  CHECK(tty.find("images 3/3") != std::string::npos);
  CHECK(tty.find("images/s") != std::string::npos);
  CHECK(tty.find("\033[K") != std::string::npos);
  CHECK(tty.find("cartoonized 3 image(s)") != std::string::npos);

  // A tiled image reports its tiles.
  REQUIRE(cgan::test::sh("script -qec '" + kTool + " --weights " + w + " --max-side 96 --tile 32 " +
                         photos + "/p001_bridge.jpg -o " + dir + "/t.png' /dev/null > " + dir +
                         "/tile.txt 2>&1") == 0);
  const std::string tiles = cgan::test::slurp(dir + "/tile.txt");
  INFO(tiles);
  CHECK(tiles.find("tile ") != std::string::npos);
  CHECK(tiles.find("ETA") != std::string::npos);

  // Not a terminal, or --no-progress: no progress line, only the summary.
  for (const std::string& c : {cmd, "script -qec '" + cmd + " --no-progress' /dev/null"}) {
    REQUIRE(cgan::test::sh(c + " > " + dir + "/plain.txt 2>&1") == 0);
    const std::string plain = cgan::test::slurp(dir + "/plain.txt");
    INFO(c << "\n" << plain);
    CHECK(plain.find("\033[K") == std::string::npos);
    CHECK(plain.find("images 3/3") == std::string::npos);
    CHECK(plain.find("cartoonized 3 image(s)") != std::string::npos);
  }
}
