// User-facing errors of every tool: bad input (a missing or damaged image, video, weights
// file or folder, an unwritable output, a wrong flag, --device cuda without a GPU) gets one
// line that names the file or option and says what to do, never the internal check
// expression or a source path; that detail comes with --verbose or CGAN_DEBUG=1. Exit status
// 2 for a wrong command line, 1 for a failure while working. A failed run leaves earlier
// outputs as they were and no temporary files.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "cgan/error.hpp"
#include "cgan/image.hpp"
#include "cgan/networks.hpp"
#include "common/test_util.hpp"

namespace fs = std::filesystem;
using namespace cgan;
using Catch::Contains;
using test::slurp;

namespace {

const std::string kBin = CGAN_BINARY_DIR;

struct Run {
  int rc = -1;
  std::string out, err;
};

// Runs `cmd` in `dir` with CGAN_DEBUG unset (unless `env` sets it), capturing both streams.
Run run(const std::string& dir, const std::string& cmd, const std::string& env = "") {
  static int n = 0;
  const std::string log = dir + "/log" + std::to_string(++n);
  Run r;
  r.rc = test::sh("cd " + dir + " && env -u CGAN_DEBUG " + env + " " + cmd + " > " + log +
                  ".out 2> " + log + ".err");
  r.out = slurp(log + ".out");
  r.err = slurp(log + ".err");
  return r;
}

// The message a user sees: "error: ..." naming what it must, and nothing internal.
void check_helpful(const Run& r, const std::vector<std::string>& must) {
  INFO("stderr:\n" << r.err);
  CHECK_THAT(r.err, Contains("error: "));
  for (const std::string& m : must) CHECK_THAT(r.err, Contains(m));
  CHECK_THAT(r.err, !Contains("check failed"));
  CHECK_THAT(r.err, !Contains("::"));  // a C++ expression (std::filesystem::..., impl_->...)
  CHECK_THAT(r.err, !Contains("impl_"));
  CHECK_THAT(r.err, !Contains("CGAN_CHECK") && !Contains("CGAN_FAIL"));
  // No source location: "src/video.cpp:49", "/work/main/src/...".
  CHECK_FALSE(std::regex_search(r.err, std::regex(R"(\.(cpp|hpp|cu|h):[0-9]+)")));
  CHECK_THAT(r.err, !Contains(std::string(CGAN_SOURCE_DIR) + "/src"));
}

// Names in `dir` that are temporaries of an interrupted or failed write.
std::vector<std::string> temporaries(const std::string& dir) {
  std::vector<std::string> t;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.find(".tmp-") != std::string::npos || name.find("write-test") != std::string::npos)
      t.push_back(e.path().string());
  }
  return t;
}

Image random_image(int w, int h, uint64_t seed) {
  Image im(w, h);
  const std::vector<float> v = test::random_vector(im.pixels.size(), seed, 0.f, 255.f);
  for (size_t i = 0; i < v.size(); ++i) im.pixels[i] = static_cast<uint8_t>(v[i]);
  return im;
}

// A hand-built float32 .npy file of `n` values.
void write_npy(const std::string& path, int n) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                       std::to_string(n) + ",), }";
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::ofstream f(path, std::ios::binary);
  f.write("\x93NUMPY\x01\x00", 8);
  f.put(static_cast<char>(header.size() & 0xff));
  f.put(static_cast<char>(header.size() >> 8));
  f << header << std::string(4 * static_cast<size_t>(n), '\0');
}

// The fixtures every case uses, made once per test process.
struct Fixture {
  std::string d, weights;
  Fixture() {
    d = test::temp_dir("cli_errors");
    weights = d + "/seed.safetensors";
    {
      Context ctx;
      SeedGenerator g(ctx);
      g.init_random(7);
      g.save(weights, {{"arch", "seed"}, {"channel_order", "RGB"}});
    }
    write_image(d + "/a.png", random_image(20, 16, 1));
    write_image(d + "/b.png", random_image(20, 16, 2));
    std::ofstream(d + "/bad.png") << "not an image\n";
    std::ofstream(d + "/bad.mp4") << "not a video\n";
    std::ofstream(d + "/plainfile") << "a file, not a folder\n";
    std::ofstream(d + "/junk.safetensors") << "garbage";
    for (const char* sub : {"empty", "photos", "cartoons", "npy", "npybad", "ckpt", "adir"})
      fs::create_directories(d + "/" + sub);
    fs::copy_file(d + "/a.png", d + "/photos/a.png");
    fs::copy_file(d + "/b.png", d + "/cartoons/b.png");
    write_npy(d + "/npy/x.npy", 6);
    std::ofstream(d + "/npybad/y.npy") << "junk";
    std::ofstream(d + "/ckpt/checkpoint.safetensors") << "garbage";
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

struct Case {
  std::string cmd;
  int rc;
  std::vector<std::string> must;
};

void check_cases(const std::vector<Case>& cases) {
  const Fixture& f = fixture();
  for (const Case& c : cases) {
    INFO("$ " << c.cmd);
    const Run r = run(f.d, c.cmd);
    CHECK(r.rc == c.rc);
    check_helpful(r, c.must);
  }
  CHECK(temporaries(f.d).empty());
}

}  // namespace

TEST_CASE("cli errors: cgan_cartoonize says what was wrong in words") {
  const std::string cz = kBin + "/cgan_cartoonize --device cpu ";
  const std::string w = "--weights " + fixture().weights + " ";
  std::vector<Case> cases = {
      // the command line (exit 2, nothing read)
      {cz + "--bogus a.png -o o.png", 2, {"unknown option --bogus", "--help"}},
      {cz + "a.png -o o.png", 2, {"--weights", "--style"}},
      {cz + w + "--max-side -3 a.png -o o.png", 2, {"--max-side", "at least 0, got -3"}},
      {cz + w + "--batch abc a.png -o o.png", 2, {"--batch", "'abc'"}},
      {kBin + "/cgan_cartoonize " + w + "--device gpu7 a.png -o o.png", 2, {"'gpu7'", "cuda:N"}},
      {cz + w + "--codec XY bad.mp4 -o o.mp4", 2, {"--codec", "'XY'", "4 characters"}},
      {cz + w + "--precision fp16 a.png -o o.png", 2, {"'fp16'", "fp32, tf32 or bf16"}},
      {cz + w + "a.png b.png -o one.png", 2, {"one.png", "there are 2 inputs", "folder"}},
      {cz + w + "a.png -o o.mp4", 2, {"o.mp4", "a.png", "an image"}},
      {cz + w + "a.png -o o.gif", 2, {".gif is not a format"}},
      // inputs (exit 1)
      {cz + w + "missing.png -o out", 1, {"missing.png", "No such file"}},
      {cz + w + "bad.png -o out", 1, {"bad.png", "not a JPEG, PNG or BMP"}},
      {cz + w + "bad.mp4 -o o.mp4", 1, {"bad.mp4", "not a video"}},
      {cz + w + "missing.mp4 -o o.mp4", 1, {"missing.mp4", "no such video file"}},
      {cz + w + "empty -o out", 1, {"empty", "no input images or videos"}},
      // weights
      {cz + "--weights missing.safetensors a.png -o o.png", 1, {"missing.safetensors"}},
      {cz + "--weights junk.safetensors a.png -o o.png", 1,
       {"junk.safetensors", "not a valid safetensors file"}},
      {cz + "--weights a.png a.png -o o.png", 1, {"'a.png'", "convert"}},
      {cz + w + "--arch official a.png -o o.png", 1, {"seed.safetensors", "--arch seed"}},
      // outputs
      {cz + w + "a.png -o plainfile/sub", 1, {"cannot create output folder", "plainfile"}},
      {cz + w + "--grid plainfile/g.png a.png -o out", 1, {"--grid", "plainfile"}},
      // precision the CPU backend does not compute in
      {cz + w + "--precision bf16 a.png -o o.png", 1, {"bf16", "CPU backend computes in fp32"}},
      {cz + w + "--precision tf32 a.png -o o.png", 1, {"tf32", "fp32 or auto"}},
  };
  if (!cuda_available())
    cases.push_back({kBin + "/cgan_cartoonize --device cuda " + w + "a.png -o o.png", 1,
                     {"CUDA is not usable", "--device cpu"}});
  if (!fs::exists(std::string(CGAN_SOURCE_DIR) + "/models/cartoongan_hayao.safetensors"))
    cases.push_back({"CGAN_MODELS=" + fixture().d + "/empty " + cz + "--style hayao a.png -o o.png",
                     1, {"style 'hayao'", "download_models.sh hayao"}});
  check_cases(cases);
}

TEST_CASE("cli errors: cgan_train cgan_smooth and cgan_convert say what was wrong in words") {
  const std::string tr = kBin + "/cgan_train --device cpu --vgg-random --size 32 --batch 1 ";
  const std::string sm = kBin + "/cgan_smooth --device cpu ";
  const std::string cv = kBin + "/cgan_convert ";
  check_cases({
      {tr + "--bogus --out r", 2, {"unknown option --bogus"}},
      {tr + "--out r", 2, {"--photos", "--cartoons", "--resume"}},
      {tr + "--photos nodir --cartoons cartoons --out r", 2, {"--photos", "'nodir' does not exist"}},
      {tr + "--photos a.png --cartoons cartoons --out r", 2, {"'a.png' is a file, not a folder"}},
      {tr + "--photos photos --cartoons cartoons --size 20 --out r", 2,
       {"--size", "multiple of 8"}},
      {tr + "--photos photos --cartoons cartoons --lr-g 0 --out r", 2, {"--lr-g", "positive"}},
      {tr + "--resume nodir --out r", 2, {"--resume", "'nodir' does not exist"}},
      {tr + "--photos empty --cartoons cartoons --out r", 1, {"'empty'", "holds no image"}},
      {kBin + "/cgan_train --device cpu --photos photos --cartoons cartoons --vgg missing.safetensors "
              "--out r",
       1, {"missing.safetensors", "download_vgg19.sh"}},
      {tr + "--photos photos --cartoons cartoons --out plainfile/r", 1, {"plainfile/r"}},
      {tr + "--resume ckpt --out ckpt", 1, {"ckpt/checkpoint.safetensors"}},
      {sm + "--bogus photos out", 2, {"unknown option --bogus"}},
      {sm + "--bogus nodir out", 2, {"unknown option --bogus"}},
      {sm + "nodir out", 2, {"IN_DIR", "'nodir' does not exist"}},
      {sm + "photos out --dilate 4", 2, {"--dilate", "odd"}},
      {sm + "photos out --device gpu", 2, {"'gpu'"}},
      {sm + "empty out", 1, {"empty", "nothing to smooth"}},
      {sm + "photos plainfile/out", 1, {"cannot create output folder", "plainfile/out"}},
      {cv + "nodir -o x.safetensors", 2, {"'nodir' does not exist"}},
      {cv + "npy -o x.safetensors --metadata nokv", 2, {"--metadata", "KEY=VALUE", "'nokv'"}},
      {cv + "empty -o x.safetensors", 1, {"no .npy files in empty"}},
      {cv + "npybad -o x.safetensors", 1, {"npybad/y.npy", "not a NumPy .npy file"}},
      {cv + "npy -o plainfile/x.safetensors", 1, {"plainfile/x.safetensors", "Not a directory"}},
  });
  if (!cuda_available())
    check_cases({{kBin + "/cgan_smooth --device cuda photos out", 1, {"--device cpu"}}});
  CHECK_FALSE(fs::exists(fixture().d + "/x.safetensors"));
}

TEST_CASE("cli errors: --verbose and CGAN_DEBUG=1 add the internal detail") {
  const Fixture& f = fixture();
  const std::string cz = kBin + "/cgan_cartoonize --device cpu --weights " + f.weights + " ";
  const std::regex where(R"(src/[a-z_/]+\.cpp:[0-9]+)");
  for (const std::string env : {"CGAN_DEBUG=1", ""}) {
    const Run r = run(f.d, cz + "missing.mp4 -o o.mp4" + (env.empty() ? " --verbose" : ""), env);
    INFO(r.err);
    CHECK(r.rc == 1);
    CHECK_THAT(r.err, Contains("missing.mp4: no such video file") && Contains("check failed"));
    CHECK(std::regex_search(r.err, where));
  }
  const Run t = run(f.d, kBin + "/cgan_train -v --device cpu --vgg-random --photos empty "
                              "--cartoons cartoons --out r");
  CHECK(t.rc == 1);
  CHECK_THAT(t.err, Contains("holds no image") && Contains("src/train/data.cpp:"));
  const Run c = run(f.d, kBin + "/cgan_convert npybad -o x.safetensors", "CGAN_DEBUG=1");
  CHECK(c.rc == 1);
  CHECK_THAT(c.err, Contains("src/npy.cpp:"));
  // CGAN_DEBUG=0 is off.
  const Run off = run(f.d, cz + "missing.mp4 -o o.mp4", "CGAN_DEBUG=0");
  check_helpful(off, {"missing.mp4"});
  // Every tool documents the exit statuses and --verbose.
  for (const char* tool : {"cgan_cartoonize", "cgan_train", "cgan_smooth", "cgan_convert"}) {
    const Run h = run(f.d, kBin + "/" + tool + " --help");
    INFO(tool);
    CHECK(h.rc == 0);
    CHECK_THAT(h.out, Contains("Exit status: 0") && Contains("2 the command line is wrong") &&
                          Contains("--verbose") && Contains("CGAN_DEBUG=1"));
  }
}

TEST_CASE("cli errors: cgan::Error keeps the message and the detail apart") {
  try {
    CGAN_CHECK(1 + 1 == 3, "arithmetic.png: it is broken; fix it");
    FAIL("no throw");
  } catch (const Error& e) {
    CHECK(std::string(e.message()) == "arithmetic.png: it is broken; fix it");
    CHECK_THAT(std::string(e.detail()),
               Contains("1 + 1 == 3") && Contains("test_cli_errors.cpp:"));
    set_debug_errors(false);
    CHECK(std::string(e.what()) == e.message());
    set_debug_errors(true);
    CHECK_THAT(std::string(e.what()), Contains("arithmetic.png") && Contains("1 + 1 == 3"));
    const Error copy = e;  // copies share the detail
    CHECK(std::string(copy.detail()) == e.detail());
    set_debug_errors(false);
  }
  const Error plain("no detail here");
  CHECK(std::string(plain.detail()).empty());
  CHECK(std::string(plain.what()) == "no detail here");
}

TEST_CASE("cli errors: a failed run leaves earlier outputs intact and no temporaries") {
  const Fixture& f = fixture();
  const std::string d = test::temp_dir("cli_keep");
  write_image(d + "/keep.png", random_image(8, 8, 9));
  std::ofstream(d + "/keep.mp4") << "an earlier video";
  std::ofstream(d + "/keep.safetensors") << "an earlier file";
  const std::string png = slurp(d + "/keep.png"), mp4 = slurp(d + "/keep.mp4"),
                    st = slurp(d + "/keep.safetensors");
  const std::string cz = kBin + "/cgan_cartoonize --device cpu --weights " + f.weights + " ";
  CHECK(run(f.d, cz + "bad.png -o " + d + "/keep.png").rc == 1);
  CHECK(run(f.d, cz + "bad.mp4 -o " + d + "/keep.mp4").rc == 1);
  CHECK(run(f.d, cz + "--codec XY bad.mp4 -o " + d + "/keep.mp4").rc == 2);
  CHECK(run(f.d, kBin + "/cgan_convert npybad -o " + d + "/keep.safetensors").rc == 1);
  CHECK(slurp(d + "/keep.png") == png);
  CHECK(slurp(d + "/keep.mp4") == mp4);
  CHECK(slurp(d + "/keep.safetensors") == st);
  // The final rename fails (a folder has the output's name): the temporary is removed.
  fs::create_directories(d + "/out/a.png");
  const Run r = run(f.d, cz + "a.png -o " + d + "/out");
  CHECK(r.rc == 1);
  check_helpful(r, {d + "/out/a.png", "a folder has that name"});
  CHECK(fs::is_directory(d + "/out/a.png"));
  const Run c = run(f.d, kBin + "/cgan_convert npy -o " + d + "/out/a.png");
  CHECK(c.rc == 1);
  CHECK(temporaries(d).empty());
}
