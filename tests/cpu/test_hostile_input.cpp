// Hostile and careless input (what fuzzing and a careless user found): each case fails with a
// clear error, or does the right thing; nothing is overwritten, nothing hangs, no memory error.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cgan/image.hpp"
#include "cgan/io_util.hpp"
#include "cgan/networks.hpp"
#include "cgan/safetensors.hpp"
#include "cgan/train.hpp"
#include "common/test_util.hpp"
#include "common/train_test_util.hpp"

namespace fs = std::filesystem;
using namespace cgan;
using test::sh;
using test::slurp;

namespace {

Image random_image(int w, int h, uint64_t seed) {
  Image im(w, h);
  const std::vector<float> v = test::random_vector(im.pixels.size(), seed, 0.f, 255.f);
  for (size_t i = 0; i < v.size(); ++i) im.pixels[i] = static_cast<uint8_t>(v[i]);
  return im;
}

// A random seed-architecture generator file of the default width (what cgan_cartoonize builds).
std::string seed_weights(const std::string& dir) {
  static std::string path;
  if (!path.empty() && fs::exists(path)) return path;
  Context ctx;
  SeedGenerator g(ctx);
  path = dir + "/seed.safetensors";
  g.save(path, {{"arch", "seed"}, {"channel_order", "RGB"}});
  return path;
}

const std::string kBin = CGAN_BINARY_DIR;

}  // namespace

TEST_CASE("hostile: cgan_cartoonize never overwrites an original") {
  const std::string d = test::temp_dir("hostile_cz");
  const std::string w = seed_weights(d);
  write_image(d + "/a.png", random_image(20, 16, 1));
  const std::string before = slurp(d + "/a.png");
  CHECK(sh(kBin + "/cgan_cartoonize --device cpu --weights " + w + " " + d + "/a.png -o " + d +
           "/a.png 2> " + d + "/e1") == 1);
  CHECK_THAT(slurp(d + "/e1"), Catch::Contains("refusing to overwrite"));
  CHECK(slurp(d + "/a.png") == before);
  // A folder into itself.
  fs::create_directories(d + "/in");
  write_image(d + "/in/b.png", random_image(20, 16, 2));
  const std::string before_b = slurp(d + "/in/b.png");
  CHECK(sh(kBin + "/cgan_cartoonize --device cpu --weights " + w + " " + d + "/in -o " + d +
           "/in 2> " + d + "/e2") == 1);
  CHECK_THAT(slurp(d + "/e2"), Catch::Contains("refusing to overwrite"));
  CHECK(slurp(d + "/in/b.png") == before_b);
}

TEST_CASE("hostile: cgan_smooth IN IN is refused") {
  const std::string d = test::temp_dir("hostile_smooth");
  write_image(d + "/c.png", random_image(24, 24, 3));
  const std::string before = slurp(d + "/c.png");
  CHECK(sh(kBin + "/cgan_smooth --device cpu " + d + " " + d + " 2> " + d + "/err") == 2);
  CHECK_THAT(slurp(d + "/err"), Catch::Contains("replace the originals"));
  CHECK(slurp(d + "/c.png") == before);
}

TEST_CASE("hostile: cgan_cartoonize rough edges get one clear line each") {
  const std::string d = test::temp_dir("hostile_edges");
  const std::string w = seed_weights(d);
  write_image(d + "/a.png", random_image(20, 16, 4));
  write_image(d + "/b.png", random_image(20, 16, 5));
  const std::string cz = kBin + "/cgan_cartoonize --device cpu ";
  // --weights naming a folder
  CHECK(sh(cz + "--weights " + d + " " + d + "/a.png -o " + d + "/o.png 2> " + d + "/e1") == 1);
  CHECK_THAT(slurp(d + "/e1"), Catch::Contains("is a directory"));
  // an output format we do not write, and one file named for several inputs: command-line
  // errors (exit 2), found before anything is read
  CHECK(sh(cz + "--weights " + w + " " + d + "/a.png -o " + d + "/res.tiff 2> " + d + "/e2") == 2);
  CHECK_THAT(slurp(d + "/e2"), Catch::Contains(".tiff is not a format"));
  CHECK_FALSE(fs::exists(d + "/res.tiff"));
  CHECK(sh(cz + "--weights " + w + " " + d + "/a.png " + d + "/b.png -o " + d + "/one.png 2> " +
           d + "/e3") == 2);
  CHECK_THAT(slurp(d + "/e3"), Catch::Contains("there are 2 inputs"));
  // an output folder that cannot be created: fails before inference
  std::ofstream(d + "/plain_file") << "x";
  CHECK(sh(cz + "--weights " + w + " " + d + "/a.png -o " + d + "/plain_file/sub 2> " + d +
           "/e4") == 1);
  CHECK_THAT(slurp(d + "/e4"), Catch::Contains("cannot create output folder"));
  // an impossible size fails at once with the numbers (30000^2 px would need ~2 TB)
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(sh(cz + "--weights " + w + " --max-side 30000 " + d + "/a.png -o " + d + "/big.png 2> " +
           d + "/e5") == 1);
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 60);
  CHECK_THAT(slurp(d + "/e5"), Catch::Contains("GiB available"));
  // damaged (NaN) weights: an error naming the tensor, not a black image
  {
    SafeTensors st = read_safetensors(w);
    std::vector<std::pair<std::string, Tensor>> t;
    for (auto& kv : st.tensors) t.emplace_back(kv.first, kv.second);
    std::vector<float> v = t[3].second.to_vector();
    for (float& x : v) x = NAN;
    t[3].second = Tensor::from_vector(t[3].second.shape(), v);
    write_safetensors(d + "/nan.safetensors", t, st.metadata);
    CHECK(sh(cz + "--weights " + d + "/nan.safetensors " + d + "/a.png -o " + d + "/n.png 2> " +
             d + "/e6") == 1);
    CHECK_THAT(slurp(d + "/e6"), Catch::Contains("'" + t[3].first + "'") &&
                                     Catch::Contains("NaN or infinite"));
  }
  // stale temp files of killed runs are cleared from the output folder, live ones are not
  fs::create_directories(d + "/out");
  std::ofstream(d + "/out/x.png.tmp-999999999") << "torn";
  std::ofstream(d + "/out/y.png.tmp-" + std::to_string(::getpid())) << "in use";
  CHECK(sh(cz + "--weights " + w + " " + d + "/a.png -o " + d + "/out") == 0);
  CHECK_FALSE(fs::exists(d + "/out/x.png.tmp-999999999"));
  CHECK(fs::exists(d + "/out/y.png.tmp-" + std::to_string(::getpid())));
}

TEST_CASE("hostile: a JPEG whose Huffman counts sum past 256 is refused cleanly") {
  // Debian's stb_image 2.27 writes out of bounds on this; read_image now uses libjpeg-turbo.
  const std::string d = test::temp_dir("hostile_jpeg");
  write_image(d + "/ok.jpg", random_image(32, 24, 6));
  std::string b = slurp(d + "/ok.jpg");
  const size_t dht = b.find("\xFF\xC4");
  REQUIRE(dht != std::string::npos);
  for (size_t k = 0; k < 16; ++k) b[dht + 5 + k] = static_cast<char>(0x40);  // 16 x 64 = 1024
  std::ofstream(d + "/bad.jpg", std::ios::binary) << b;
  try {
    read_image(d + "/bad.jpg");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK_THAT(std::string(e.what()), Catch::Contains("bad.jpg") && Catch::Contains("corrupt JPEG"));
  }
  // The good one still decodes, and PNG too (libpng).
  CHECK(read_image(d + "/ok.jpg").width == 32);
  write_image(d + "/ok.png", random_image(7, 5, 7));
  CHECK(read_image(d + "/ok.png").pixels == random_image(7, 5, 7).pixels);
  std::string p = slurp(d + "/ok.png");
  p.resize(p.size() / 2);
  std::ofstream(d + "/cut.png", std::ios::binary) << p;
  CHECK_THROWS_WITH(read_image(d + "/cut.png"), Catch::Contains("cut.png"));
  // A 54-byte BMP header claiming 13831x2051 (what fuzzing found: an 85 MB fill for nothing).
  std::string bmp = "BM";
  auto le32 = [&](uint32_t v) {
    for (int k = 0; k < 4; ++k) bmp += static_cast<char>((v >> (8 * k)) & 0xff);
  };
  le32(54 + 16);
  le32(0);
  le32(54);
  le32(40);
  le32(13831);
  le32(2051);
  bmp += std::string("\x01\x00\x18\x00", 4);
  while (bmp.size() < 54 + 16) bmp += '\0';
  std::ofstream(d + "/claims.bmp", std::ios::binary) << bmp;
  CHECK_THROWS_WITH(read_image(d + "/claims.bmp"), Catch::Contains("truncated BMP"));
  // A real BMP still decodes.
  write_image(d + "/ok.bmp", random_image(5, 3, 8));
  CHECK(read_image(d + "/ok.bmp").pixels == random_image(5, 3, 8).pixels);
}

TEST_CASE("hostile: shapes whose element count overflows int64 are errors") {
  CHECK_THROWS_WITH(shape_numel({int64_t{1} << 62, 4}), Catch::Contains("more elements"));
  // A safetensors header claiming such a tensor with 0 data bytes.
  const std::string d = test::temp_dir("hostile_st");
  const std::string header =
      R"({"t":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}})";
  std::string file(8, '\0');
  for (int k = 0; k < 8; ++k) file[k] = static_cast<char>((header.size() >> (8 * k)) & 0xff);
  file += header;
  std::ofstream(d + "/wrap.safetensors", std::ios::binary) << file;
  CHECK_THROWS_WITH(read_safetensors(d + "/wrap.safetensors"),
                    Catch::Contains("wrap.safetensors"));
}

TEST_CASE("hostile: resume survives a mangled losses.csv and out-of-range metadata") {
  const std::string out = test::temp_dir("hostile_resume");
  train::TrainConfig c = test::tiny_config(out);
  c.photo_dir = test::subset_dir("photos", 4, "hostile_photos");
  c.max_steps = 2;
  c.plots = true;
  {
    train::Trainer t(c);
    REQUIRE(t.run().steps_done == 2);
  }
  // Two runs appended to one folder, a negative step, garbage and a step beyond the checkpoint.
  {
    std::ofstream f(out + "/losses.csv", std::ios::app);
    f << "-5,0,init,,,,,1.0,,0.0002,0.0002\n"
      << "0,0,init,,,,,2.0,,0.0002,0.0002\n"
      << "garbage line\n"
      << "1,0,init,,,,,x,,0.0002,0.0002\n"
      << "9999999,0,init,,,,,1.0,,0.0002,0.0002\n";
  }
  train::TrainConfig rc;
  rc.resume_dir = out;
  rc.out_dir = out;
  rc.device = "cpu";
  rc.progress = false;
  rc.max_steps = 2;  // nothing left to run: a resume of 0 steps
  {
    train::Trainer t(rc);
    const train::TrainResult r = t.run();
    CHECK(r.steps_done == 2);
  }
  // One row per step, in order.
  std::istringstream csv(slurp(out + "/losses.csv"));
  std::string line;
  std::getline(csv, line);
  std::vector<std::string> steps;
  while (std::getline(csv, line)) steps.push_back(line.substr(0, line.find(',')));
  CHECK(steps == std::vector<std::string>{"0", "1"});

  // Checkpoint metadata with "epochs": 9.2e19 (a float far beyond int).
  SafeTensors st = read_safetensors(out + "/checkpoint.safetensors");
  nlohmann::json meta = nlohmann::json::parse(st.metadata.at("cgan_train"));
  meta["config"]["epochs"] = 9.2e19;
  std::vector<std::pair<std::string, Tensor>> t;
  for (auto& kv : st.tensors) t.emplace_back(kv.first, kv.second);
  const std::string bad = test::temp_dir("hostile_resume_bad");
  write_safetensors(bad + "/checkpoint.safetensors", t, {{"cgan_train", meta.dump()}});
  rc.resume_dir = bad;
  rc.out_dir = bad;
  CHECK_THROWS_WITH(train::Trainer(rc), Catch::Contains("'epochs'") && Catch::Contains("integer"));
}

TEST_CASE("hostile: cgan_train refuses absurd sizes at once and clears stale temp files") {
  const std::string out = test::temp_dir("hostile_train");
  const std::string base = kBin + "/cgan_train --device cpu --photos " + test::data_dir("photos") +
                           " --cartoons " + test::data_dir("cartoons") + " --vgg-random ";
  // Beyond the caps: a command-line error (exit 2).
  CHECK(sh(base + "--size 2147483640 --out " + out + "/a 2> " + out + "/e1") == 2);
  CHECK_THAT(slurp(out + "/e1"), Catch::Contains("beyond 4096"));
  CHECK(sh(base + "--batch 1000000 --out " + out + "/b 2> " + out + "/e2") == 2);
  CHECK_THAT(slurp(out + "/e2"), Catch::Contains("beyond 4096"));
  // Within the caps but far beyond this machine: refused before anything is allocated.
  CHECK(sh(base + "--size 4096 --batch 64 --out " + out + "/big 2> " + out + "/e3") == 1);
  CHECK_THAT(slurp(out + "/e3"), Catch::Contains("GiB available: lower --batch or --size"));
  train::TrainConfig c = test::tiny_config(out + "/c");
  fs::create_directories(c.out_dir);
  std::ofstream(c.out_dir + "/checkpoint.safetensors.tmp-999999999") << std::string(1000, 'x');
  c.max_steps = 1;
  train::Trainer t(c);
  CHECK_FALSE(fs::exists(c.out_dir + "/checkpoint.safetensors.tmp-999999999"));
}

TEST_CASE("hostile: a second Ctrl-C stops cgan_train at once with its own exit status") {
  const std::string out = test::temp_dir("hostile_sigint");
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const std::string photos = test::data_dir("photos"), cartoons = test::data_dir("cartoons");
    const std::string tool = kBin + "/cgan_train", dir = out + "/run", log = out + "/log";
    std::freopen(log.c_str(), "w", stderr);
    ::execl(tool.c_str(), tool.c_str(), "--device", "cpu", "--photos", photos.c_str(),
            "--cartoons", cartoons.c_str(), "--vgg-random", "--size", "64", "--batch", "2",
            "--out", dir.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Wait until it trains (its first progress line), then interrupt twice.
  for (int i = 0; i < 600 && slurp(out + "/log").find("step") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ::kill(pid, SIGINT);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 131);
  CHECK_THAT(slurp(out + "/log"), Catch::Contains("second Ctrl-C"));
}
