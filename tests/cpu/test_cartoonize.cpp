// cgan_cartoonize end to end: a user's PyTorch seed generator, converted with
// scripts/convert_pth_to_safetensors.py, gives the same cartoon as PyTorch; bad inputs are
// reported without stopping the others.
#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "cgan/image.hpp"
#include "common/test_util.hpp"

using namespace cgan;
using test::sh;
using test::slurp;


TEST_CASE("a user's PyTorch seed generator runs through cgan_cartoonize with matching results") {
  CGAN_REQUIRE_PYTHON_MODULE("torch");
  CGAN_REQUIRE_PYTHON_MODULE("PIL");
  const std::string d = test::temp_dir("cartoonize");
  const std::string py = test::python(), src = CGAN_SOURCE_DIR, bin = CGAN_BINARY_DIR;
  REQUIRE(sh(py + " " + src + "/tests/python/seed_user_export.py " + d) == 0);
  REQUIRE(sh(py + " " + src + "/scripts/convert_pth_to_safetensors.py " + d + "/G.pth " + d +
             "/G.safetensors") == 0);
  REQUIRE(sh(bin + "/cgan_cartoonize --weights " + d + "/G.safetensors --arch seed --device cpu " +
             d + "/photo.png -o " + d + "/out.png") == 0);
  const Image got = read_image(d + "/out.png"), want = read_image(d + "/expected.png");
  REQUIRE(got.width == want.width);
  REQUIRE(got.height == want.height);
  int max_diff = 0;
  for (size_t i = 0; i < got.pixels.size(); ++i)
    max_diff = std::max(max_diff, std::abs(int(got.pixels[i]) - int(want.pixels[i])));
  std::cout << "  max pixel difference vs PyTorch: " << max_diff << std::endl;
  CHECK(max_diff <= 1);  // float32 rounding may flip a value at a .5 boundary

  // A directory with one good and one corrupt image: the good one is written, the bad one
  // reported, and the exit status says something failed.
  const std::string in = d + "/in";
  std::filesystem::create_directories(in);
  std::filesystem::copy_file(d + "/photo.png", in + "/a.png");
  std::ofstream(in + "/b.png") << "not a png";
  const int rc = sh(bin + "/cgan_cartoonize --weights " + d +
                    "/G.safetensors --arch seed --device cpu --batch 2 " + in + " -o " + d +
                    "/outdir 2> " + d + "/err.txt");
  CHECK(rc != 0);
  CHECK(std::filesystem::exists(d + "/outdir/a.png"));
  CHECK_FALSE(std::filesystem::exists(d + "/outdir/b.png"));
  std::ifstream ef(d + "/err.txt");
  const std::string err((std::istreambuf_iterator<char>(ef)), std::istreambuf_iterator<char>());
  CHECK_THAT(err, Catch::Contains("b.png"));
  // Wrong architecture for the weights: a precise loading error, non-zero exit.
  CHECK(sh(bin + "/cgan_cartoonize --weights " + d + "/G.safetensors --arch official --device cpu " +
           d + "/photo.png -o " + d + "/x.png 2> " + d + "/err2.txt") != 0);
  std::ifstream ef2(d + "/err2.txt");
  const std::string err2((std::istreambuf_iterator<char>(ef2)), std::istreambuf_iterator<char>());
  CHECK_THAT(err2, Catch::Contains("missing tensor 'conv01_1.weight'"));
  // ... a few of them, then a count, and the architecture the file does hold.
  CHECK_THAT(err2, Catch::Contains(" more"));
  CHECK_THAT(err2, Catch::Contains("use arch 'seed'"));
  CHECK(std::count(err2.begin(), err2.end(), '\n') < 16);

  // A bare file (no __metadata__) without --arch: recognized as seed by its tensor names.
  REQUIRE(sh(bin + "/cgan_cartoonize --weights " + d + "/G.safetensors --device cpu " + d +
             "/photo.png -o " + d + "/out_auto.png") == 0);
  CHECK(read_image(d + "/out_auto.png").pixels == got.pixels);
}
