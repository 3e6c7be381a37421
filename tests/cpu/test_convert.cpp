// .npy reading and cgan_convert: per-layer numpy dumps -> one safetensors file.
#include <cstdlib>
#include <fstream>

#include "cgan/npy.hpp"
#include "cgan/safetensors.hpp"
#include "common/test_util.hpp"

using namespace cgan;

namespace {
// A hand-built version-1 .npy file.
void write_npy(const std::string& path, const std::string& descr, const Shape& shape,
               const std::string& data, bool fortran = false) {
  std::string dims;
  for (int64_t d : shape) dims += std::to_string(d) + ", ";
  std::string header = "{'descr': '" + descr + "', 'fortran_order': " +
                       (fortran ? "True" : "False") + ", 'shape': (" + dims + "), }";
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::ofstream f(path, std::ios::binary);
  f.write("\x93NUMPY\x01\x00", 8);
  const uint16_t n = static_cast<uint16_t>(header.size());
  f.put(static_cast<char>(n & 0xff));
  f.put(static_cast<char>(n >> 8));
  f << header << data;
}
// read_npy's error message, or "no error".
std::string err(const std::string& f) {
  try {
    read_npy(f);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}
template <typename T>
std::string bytes(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}
}  // namespace

TEST_CASE("read_npy: float32/float64 C-order arrays, clear errors otherwise") {
  const std::string d = test::temp_dir("npy");
  write_npy(d + "/a.npy", "<f4", {2, 3}, bytes(std::vector<float>{1, 2, 3, 4, 5, 6}));
  Tensor a = read_npy(d + "/a.npy");
  CHECK(a.shape() == Shape{2, 3});
  CHECK(a.to_vector() == std::vector<float>{1, 2, 3, 4, 5, 6});
  write_npy(d + "/b.npy", "<f8", {3}, bytes(std::vector<double>{0.5, -1.25, 3}));
  CHECK(read_npy(d + "/b.npy").to_vector() == std::vector<float>{0.5f, -1.25f, 3.f});
  write_npy(d + "/s.npy", "<f4", {}, bytes(std::vector<float>{7}));
  CHECK(read_npy(d + "/s.npy").numel() == 1);

  write_npy(d + "/i.npy", "<i4", {1}, bytes(std::vector<int>{1}));
  CHECK_THAT(err(d + "/i.npy"), Catch::Contains("i.npy") && Catch::Contains("'<i4'"));
  write_npy(d + "/be.npy", ">f4", {1}, bytes(std::vector<float>{1}));
  CHECK_THAT(err(d + "/be.npy"), Catch::Contains("'>f4'"));
  write_npy(d + "/f.npy", "<f4", {2, 2}, bytes(std::vector<float>{1, 2, 3, 4}), true);
  CHECK_THAT(err(d + "/f.npy"), Catch::Contains("Fortran"));
  write_npy(d + "/t.npy", "<f4", {2, 3}, bytes(std::vector<float>{1, 2}));
  CHECK_THAT(err(d + "/t.npy"), Catch::Contains("needs 24 data bytes"));
  std::ofstream(d + "/x.npy") << "hello";
  CHECK_THAT(err(d + "/x.npy"), Catch::Contains("bad magic"));
  CHECK_THAT(err(d + "/missing.npy"), Catch::Contains("missing.npy"));
}

TEST_CASE("read_npy: hostile headers fail cleanly (long headers and overflowing shapes)") {
  // Version 2 (32-bit header length). Fuzzing found a 26.5 KB header crashing the regex parser
  // (stack overflow) and a [2^62, 4] shape passing with 0 data bytes (int64 wrap-around).
  const std::string d = test::temp_dir("npy_hostile");
  auto write_v2 = [&](const std::string& path, const std::string& header_body,
                      const std::string& data) {
    std::string header = header_body;
    while ((12 + header.size() + 1) % 64) header += ' ';
    header += '\n';
    std::ofstream f(path, std::ios::binary);
    f.write("\x93NUMPY\x02\x00", 8);
    const uint32_t n = static_cast<uint32_t>(header.size());
    for (int k = 0; k < 4; ++k) f.put(static_cast<char>((n >> (8 * k)) & 0xff));
    f << header << data;
  };
  const std::string spaces(40000, ' ');
  write_v2(d + "/ws.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2," + spaces + "3), }",
           bytes(std::vector<float>{1, 2, 3, 4, 5, 6}));
  CHECK(read_npy(d + "/ws.npy").shape() == Shape{2, 3});
  write_v2(d + "/descr.npy", "{'descr': '" + std::string(30000, 'x') + "', 'fortran_order': False, 'shape': (1,), }",
           bytes(std::vector<float>{1}));
  CHECK_THAT(err(d + "/descr.npy"), Catch::Contains("not supported"));
  write_v2(d + "/open.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (" + spaces, "");
  CHECK_THAT(err(d + "/open.npy"), Catch::Contains("malformed .npy header"));
  write_npy(d + "/wrap.npy", "<f4", {int64_t{1} << 62, 4}, "");
  CHECK_THAT(err(d + "/wrap.npy"), Catch::Contains("more elements than int64"));
  write_v2(d + "/big.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", "");
  CHECK_THAT(err(d + "/big.npy"), Catch::Contains("does not fit in int64"));
  write_npy(d + "/empty.npy", "<f4", {0, 3}, "");
  CHECK(read_npy(d + "/empty.npy").numel() == 0);
}

TEST_CASE("cgan_convert: a directory of .npy files becomes one safetensors file") {
  const std::string d = test::temp_dir("convert");
  std::filesystem::create_directories(d + "/npy");
  write_npy(d + "/npy/conv01_1.weight.npy", "<f4", {2, 1, 1, 1}, bytes(std::vector<float>{1, 2}));
  write_npy(d + "/npy/conv01_1.bias.npy", "<f8", {2}, bytes(std::vector<double>{3, 4}));
  const std::string bin = std::string(CGAN_BINARY_DIR) + "/cgan_convert ";
  REQUIRE(std::system((bin + d + "/npy -o " + d + "/w.safetensors --metadata source=test").c_str()) == 0);
  const SafeTensors st = read_safetensors(d + "/w.safetensors");
  CHECK(st.tensors.size() == 2);
  CHECK(st.at("conv01_1.weight").shape() == Shape{2, 1, 1, 1});
  CHECK(st.f32("conv01_1.bias").to_vector() == std::vector<float>{3, 4});
  CHECK(st.metadata.at("source") == "test");
  std::ofstream(d + "/npy/bad.npy") << "junk";
  CHECK(std::system((bin + d + "/npy -o " + d + "/w2.safetensors").c_str()) != 0);
  CHECK_FALSE(std::filesystem::exists(d + "/w2.safetensors"));
}
