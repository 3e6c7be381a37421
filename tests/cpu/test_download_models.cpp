// scripts/download_models.sh against a loopback HTTP mirror of the official Hayao files
// (np.save of ../shared's Hayao tensors reproduces the published .npy bytes, so the manifest
// models/cartoongan_official.sha256 applies): the converted file holds ../shared's tensors and
// says what it is, cgan_cartoonize --style finds and uses it, a corrupted .npy is refused by
// name and an unreachable server fails, both with nothing left behind.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "cgan/image.hpp"
#include "cgan/safetensors.hpp"
#include "common/test_util.hpp"

namespace fs = std::filesystem;
using namespace cgan;
using test::sh;
using test::slurp;

namespace {

// python3 -m http.server on a free loopback port, stopped when this goes out of scope.
class LoopbackServer {
 public:
  LoopbackServer(const std::string& dir, const std::string& work) : log_(work + "/http.log") {
    const std::string pid_file = work + "/http.pid";
    sh(test::python() + " -u -m http.server --bind 127.0.0.1 --directory " + dir + " 0 > " +
       log_ + " 2>&1 & echo $! > " + pid_file);
    pid_ = slurp(pid_file);
    while (!pid_.empty() && (pid_.back() == '\n' || pid_.back() == ' ')) pid_.pop_back();
    // "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
    for (int i = 0; i < 100 && port_.empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const std::string s = slurp(log_);
      const size_t p = s.find(" port ");
      if (p == std::string::npos) continue;
      const size_t b = p + 6, e = s.find_first_not_of("0123456789", b);
      if (e != std::string::npos && e > b) port_ = s.substr(b, e - b);
    }
  }
  ~LoopbackServer() {
    if (!pid_.empty()) sh("kill " + pid_ + " 2>/dev/null");
  }
  std::string url() const { return "http://127.0.0.1:" + port_; }
  bool up() const { return !port_.empty(); }

 private:
  std::string log_, pid_, port_;
};

// Nothing but the finished model file (or nothing at all) in the models folder.
std::vector<std::string> leftovers(const std::string& dir) {
  std::vector<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename() != "cartoongan_hayao.safetensors")
      out.push_back(e.path().filename().string());
  return out;
}

}  // namespace

TEST_CASE("download_models.sh: a loopback Hayao mirror converts exactly and bad sources fail") {
  CGAN_REQUIRE_SHARED("weights/cartoongan_hayao.safetensors");
  CGAN_REQUIRE_PYTHON_MODULE("numpy");
  const std::string work = test::temp_dir("download_models");
  const std::string src = CGAN_SOURCE_DIR, bin = CGAN_BINARY_DIR;
  const std::string shared_file = test::shared_dir() + "/weights/cartoongan_hayao.safetensors";
  REQUIRE(sh(test::python() + " " + src + "/tests/python/npy_mirror.py " + shared_file + " " +
             work + "/mirror/hayao") == 0);
  LoopbackServer server(work + "/mirror", work);
  REQUIRE(server.up());
  const std::string script = "CGAN_BUILD_DIR=" + bin + " bash " + src +
                             "/scripts/download_models.sh hayao";

  SECTION("the mirror's files pass the manifest and become the official model") {
    const std::string models = work + "/models";
    REQUIRE(sh("CGAN_MODELS_URL=" + server.url() + " CGAN_MODELS=" + models + " " + script) == 0);
    CHECK(leftovers(models).empty());
    const SafeTensors got = read_safetensors(models + "/cartoongan_hayao.safetensors");
    const SafeTensors want = read_safetensors(shared_file);
    REQUIRE(got.tensors.size() == want.tensors.size());
    for (const auto& [name, t] : want.tensors) {
      INFO(name);
      REQUIRE(got.contains(name));
      CHECK(got.at(name).shape() == t.shape());
      CHECK(got.at(name).to_vector() == t.to_vector());
    }
    CHECK(got.metadata.at("arch") == "official");
    CHECK(got.metadata.at("channel_order") == "BGR");
    CHECK(got.metadata.at("style") == "hayao");
    CHECK(got.metadata.at("commit") == "2f26a525f8b604b8e98fb84ebad0af5aef727944");

    // --style finds it ($CGAN_MODELS) and takes arch and channel order from the metadata.
    Image photo(37, 29);
    const std::vector<float> v = test::random_vector(photo.pixels.size(), 5, 0.f, 255.f);
    for (size_t i = 0; i < v.size(); ++i) photo.pixels[i] = static_cast<uint8_t>(v[i]);
    write_image(work + "/photo.png", photo);
    REQUIRE(sh("CGAN_MODELS=" + models + " " + bin + "/cgan_cartoonize --style hayao " +
               "--max-side 32 --device cpu " + work + "/photo.png -o " + work + "/out.png > " +
               work + "/cz.log") == 0);
    const std::string log = slurp(work + "/cz.log");
    CHECK_THAT(log, Catch::Contains("official generator, BGR input, longer side 32"));
    CHECK(read_image(work + "/out.png").width == 32);
    // A second run finds it there and fetches nothing.
    CHECK(sh("CGAN_MODELS_URL=http://127.0.0.1:1 CGAN_MODELS=" + models + " " + script) == 0);
  }

  SECTION("a corrupted .npy is refused by name, nothing is left behind") {
    const std::string bad = work + "/mirror/hayao/in05_1.scale.npy";
    std::string bytes = slurp(bad);
    bytes[bytes.size() - 1] ^= 0x01;
    std::ofstream(bad, std::ios::binary | std::ios::trunc) << bytes;
    const std::string models = work + "/models_bad";
    CHECK(sh("CGAN_MODELS_URL=" + server.url() + " CGAN_MODELS=" + models + " " + script +
             " 2> " + work + "/bad.err") == 1);
    const std::string err = slurp(work + "/bad.err");
    CHECK_THAT(err, Catch::Contains("hayao/in05_1.scale.npy: checksum mismatch"));
    CHECK_FALSE(fs::exists(models + "/cartoongan_hayao.safetensors"));
    CHECK(leftovers(models).empty());
  }

  SECTION("an unreachable server fails cleanly") {
    const std::string models = work + "/models_offline";
    CHECK(sh("CGAN_MODELS_URL=http://127.0.0.1:1 CGAN_MODELS=" + models + " " + script + " 2> " +
             work + "/off.err") == 1);
    CHECK_THAT(slurp(work + "/off.err"), Catch::Contains("cannot download"));
    CHECK_FALSE(fs::exists(models + "/cartoongan_hayao.safetensors"));
    CHECK(leftovers(models).empty());
  }
}
