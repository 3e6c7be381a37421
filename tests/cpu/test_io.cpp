// safetensors and image round trips, and every bad-input case with its message.
#include "common/test_util.hpp"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cgan/image.hpp"
#include "cgan/io_util.hpp"
#include "cgan/safetensors.hpp"

using namespace cgan;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {
void write_raw(const std::string& path, const std::string& header, const std::string& data,
               int64_t header_len_override = -1) {
  std::ofstream f(path, std::ios::binary);
  uint64_t n = header_len_override >= 0 ? uint64_t(header_len_override) : header.size();
  for (int i = 0; i < 8; ++i) f.put(static_cast<char>((n >> (8 * i)) & 0xff));
  f << header << data;
}
}  // namespace

TEST_CASE("safetensors: F32/F16/BF16 round trip with metadata", "[cpu]") {
  const std::string dir = test::temp_dir("st");
  Context ctx(Device::cpu());
  Tensor a = test::random_tensor({2, 3, 4}, 11);
  Tensor h = Tensor::empty_cpu({5}, DType::F16);
  Tensor b = Tensor::empty_cpu({3}, DType::BF16);
  const std::vector<float> hv = {1.0f, -0.5f, 2.0f, 1024.0f, 0.25f};
  for (int i = 0; i < 5; ++i) h.data<uint16_t>()[i] = float_to_half(hv[size_t(i)]);
  for (int i = 0; i < 3; ++i) b.data<uint16_t>()[i] = float_to_bf16(float(i) - 1.5f);
  Tensor scalar = Tensor::from_vector({}, {42.0f});
  const std::string path = dir + "/w.safetensors";
  write_safetensors(path, {{"layer.weight", a}, {"half", h}, {"bf", b}, {"scalar", scalar}},
                    {{"format", "pt"}, {"preprocessing", "caffe"}});

  SafeTensors st = read_safetensors(path);
  REQUIRE(st.tensors.size() == 4);
  REQUIRE(st.metadata.at("preprocessing") == "caffe");
  REQUIRE(st.at("layer.weight").shape() == Shape{2, 3, 4});
  REQUIRE(st.at("layer.weight").to_vector() == a.to_vector());
  REQUIRE(st.at("half").dtype() == DType::F16);
  REQUIRE(st.f32("half").to_vector() == hv);
  REQUIRE(st.f32("bf").to_vector() == std::vector<float>{-1.5f, -0.5f, 0.5f});
  REQUIRE(st.at("scalar").to_vector() == std::vector<float>{42.0f});
  REQUIRE_THROWS_WITH(st.at("nope"), Contains("tensor 'nope' not found"));
  // No temporary file is left behind.
  for (const auto& e : fs::directory_iterator(dir))
    REQUIRE(e.path().filename().string().find(".tmp") == std::string::npos);
}

TEST_CASE("safetensors: bad files give specific errors", "[cpu]") {
  const std::string dir = test::temp_dir("stbad");
  const std::string p = dir + "/bad.safetensors";

  REQUIRE_THROWS_WITH(read_safetensors(dir + "/missing.safetensors"),
                      Contains("cannot open") && Contains("missing.safetensors"));
  { std::ofstream(p, std::ios::binary) << "abc"; }
  REQUIRE_THROWS_WITH(read_safetensors(p), Contains("truncated (3 bytes)"));

  write_raw(p, "{}", "", 1000);
  REQUIRE_THROWS_WITH(read_safetensors(p), Contains("header size 1000 exceeds the file size"));

  write_raw(p, "{not json", "");
  REQUIRE_THROWS_WITH(read_safetensors(p), Contains("bad JSON header"));

  write_raw(p, R"({"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", std::string(8, '\0'));
  REQUIRE_THROWS_WITH(read_safetensors(p), Contains("unsupported dtype 'I64'"));

  write_raw(p, R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", std::string(8, '\0'));
  REQUIRE_THROWS_WITH(read_safetensors(p), Contains("tensor 'a' data [0,16) lies outside"));

  write_raw(p, R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", std::string(8, '\0'));
  REQUIRE_THROWS_WITH(read_safetensors(p), Contains("tensor 'a' has 8 bytes but shape [3] F32 needs 12"));

  write_raw(p,
            R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
            std::string(8, '\0'));
  REQUIRE_THROWS_WITH(read_safetensors(p), Contains("duplicate tensor name 'a'"));

  write_raw(p,
            R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
            std::string(12, '\0'));
  REQUIRE_THROWS_WITH(read_safetensors(p), Contains("overlap"));

  write_raw(p, R"({"a":{"dtype":"F32"}})", "");
  REQUIRE_THROWS_WITH(read_safetensors(p), Contains("entry 'a' lacks dtype/shape/data_offsets"));

  Tensor t = Tensor::from_vector({1}, {1.0f});
  REQUIRE_THROWS_WITH(write_safetensors(dir + "/dup.safetensors", {{"x", t}, {"x", t}}),
                      Contains("duplicate tensor name 'x'"));
  REQUIRE(!fs::exists(dir + "/dup.safetensors"));
}

TEST_CASE("writes are atomic and unwritable destinations fail clearly", "[cpu]") {
  const std::string dir = test::temp_dir("atomic");
  const std::string path = dir + "/f.bin";
  write_file_atomic(path, "old", 3);
  // A failing write must leave the previous file intact.
  Tensor t = Tensor::from_vector({1}, {1.0f});
  REQUIRE_THROWS(write_safetensors(path, {{"x", t}, {"x", t}}));
  REQUIRE(read_file(path) == std::vector<unsigned char>{'o', 'l', 'd'});
  REQUIRE_THROWS_WITH(write_file_atomic("/nonexistent_dir_cgan/f.bin", "x", 1),
                      Contains("cannot write '/nonexistent_dir_cgan/f.bin'") &&
                          Contains("No such file or directory"));
  REQUIRE_THROWS_WITH(write_safetensors("/nonexistent_dir_cgan/w.safetensors", {{"x", t}}),
                      Contains("cannot write"));
}

TEST_CASE("images: PNG and BMP lossless, JPEG close, tensors in [-1,1] with RGB or BGR order", "[cpu]") {
  const std::string dir = test::temp_dir("img");
  Image img(37, 21);  // odd sizes
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>((i * 7919) % 256);
  for (const char* ext : {"png", "bmp"}) {
    const std::string p = dir + "/a." + ext;
    write_image(p, img);
    Image back = read_image(p);
    REQUIRE(back.width == 37);
    REQUIRE(back.height == 21);
    REQUIRE(back.pixels == img.pixels);
  }
  Image smooth(40, 30);
  for (int y = 0; y < 30; ++y)
    for (int x = 0; x < 40; ++x) {
      uint8_t* px = smooth.at(x, y);
      px[0] = static_cast<uint8_t>(x * 6);
      px[1] = static_cast<uint8_t>(y * 8);
      px[2] = 128;
    }
  write_image(dir + "/s.jpg", smooth, 95);
  Image j = read_image(dir + "/s.jpg");
  double err = 0;
  for (size_t i = 0; i < j.pixels.size(); ++i) err += std::abs(int(j.pixels[i]) - int(smooth.pixels[i]));
  REQUIRE(err / double(j.pixels.size()) < 2.0);

  Context ctx(Device::cpu());
  Tensor rgb = images_to_tensor({img, img}, ChannelOrder::RGB, ctx);
  REQUIRE(rgb.shape() == Shape{2, 3, 21, 37});
  const float* r = rgb.f32();
  REQUIRE(r[0] == Approx(img.pixels[0] / 127.5f - 1.0f));
  REQUIRE(r[21 * 37] == Approx(img.pixels[1] / 127.5f - 1.0f));  // G plane
  Tensor bgr = images_to_tensor({img}, ChannelOrder::BGR, ctx);
  REQUIRE(bgr.f32()[0] == Approx(img.pixels[2] / 127.5f - 1.0f));  // B first
  REQUIRE(tensor_to_images(bgr, ChannelOrder::BGR, ctx)[0].pixels == img.pixels);
  REQUIRE(tensor_to_images(rgb, ChannelOrder::RGB, ctx)[1].pixels == img.pixels);
  // Out-of-range values clamp; halves round to nearest.
  Tensor t = Tensor::from_vector({1, 3, 1, 1}, {-3.0f, 5.0f, 0.0f});
  Image c = tensor_to_images(t, ChannelOrder::RGB, ctx)[0];
  REQUIRE(int(c.pixels[0]) == 0);
  REQUIRE(int(c.pixels[1]) == 255);
  REQUIRE(int(c.pixels[2]) == 128);  // 127.5 rounds to even 128
  REQUIRE_THROWS_WITH(images_to_tensor({img, smooth}, ChannelOrder::RGB, ctx),
                      Contains("images differ in size"));
}

TEST_CASE("images: missing, empty, corrupt and unwritable files", "[cpu]") {
  const std::string dir = test::temp_dir("imgbad");
  REQUIRE_THROWS_WITH(read_image(dir + "/nope.png"), Contains("cannot open") && Contains("nope.png"));
  { std::ofstream(dir + "/empty.jpg"); }
  REQUIRE_THROWS_WITH(read_image(dir + "/empty.jpg"), Contains("file is empty"));
  { std::ofstream(dir + "/junk.png", std::ios::binary) << "this is not a png at all"; }
  REQUIRE_THROWS_WITH(read_image(dir + "/junk.png"), Contains("cannot decode image") && Contains("junk.png"));
  {  // a truncated PNG: valid signature, cut short
    Image img(16, 16);
    write_image(dir + "/ok.png", img);
    std::vector<unsigned char> bytes = read_file(dir + "/ok.png");
    std::ofstream f(dir + "/cut.png", std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()), 40);
  }
  REQUIRE_THROWS_WITH(read_image(dir + "/cut.png"), Contains("cannot decode image"));
  Image img(4, 4);
  REQUIRE_THROWS_WITH(write_image(dir + "/x.gif", img), Contains("unknown extension"));
  REQUIRE_THROWS_WITH(write_image("/nonexistent_dir_cgan/x.png", img), Contains("cannot write"));
  REQUIRE(is_image_path("a/B.JPEG"));
  REQUIRE(!is_image_path("a.jpeg/b.txt"));
}
