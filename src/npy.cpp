#include "cgan/npy.hpp"

#include <cstring>
#include <regex>

#include "cgan/io_util.hpp"

namespace cgan {

Tensor read_npy(const std::string& path) {
  const std::vector<unsigned char> bytes = read_file(path);
  static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  CGAN_CHECK(bytes.size() >= 10 && std::memcmp(bytes.data(), magic, 6) == 0,
             path << ": not a .npy file (bad magic)");
  const int major = bytes[6];
  CGAN_CHECK(major >= 1 && major <= 3, path << ": unsupported .npy version " << major);
  size_t header_len, start;
  if (major == 1) {
    header_len = bytes[8] | (size_t{bytes[9]} << 8);
    start = 10;
  } else {
    CGAN_CHECK(bytes.size() >= 12, path << ": truncated .npy header");
    header_len = bytes[8] | (size_t{bytes[9]} << 8) | (size_t{bytes[10]} << 16) |
                 (size_t{bytes[11]} << 24);
    start = 12;
  }
  CGAN_CHECK(start + header_len <= bytes.size(),
             path << ": .npy header of " << header_len << " bytes runs past the end of the file");
  const std::string header(reinterpret_cast<const char*>(bytes.data() + start), header_len);

  std::smatch m;
  CGAN_CHECK(std::regex_search(header, m, std::regex("'descr'\\s*:\\s*'([^']*)'")),
             path << ": .npy header has no 'descr': " << header);
  const std::string descr = m[1];
  CGAN_CHECK(descr == "<f4" || descr == "<f8",
             path << ": dtype '" << descr << "' not supported (little-endian float32 '<f4' "
                  << "or float64 '<f8' only)");
  CGAN_CHECK(std::regex_search(header, m, std::regex("'fortran_order'\\s*:\\s*(True|False)")),
             path << ": .npy header has no 'fortran_order': " << header);
  CGAN_CHECK(m[1] == "False", path << ": Fortran-order arrays are not supported");
  CGAN_CHECK(std::regex_search(header, m, std::regex("'shape'\\s*:\\s*\\(([^)]*)\\)")),
             path << ": .npy header has no 'shape': " << header);
  Shape shape;
  const std::string dims = m[1];
  const std::regex number("\\d+");
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), number);
       it != std::sregex_iterator(); ++it)
    shape.push_back(std::stoll(it->str()));

  const size_t elem = descr == "<f4" ? 4 : 8;
  const size_t n = static_cast<size_t>(shape_numel(shape));
  const size_t have = bytes.size() - start - header_len;
  CGAN_CHECK(have == n * elem, path << ": shape " << shape_str(shape) << " of " << descr
                                    << " needs " << n * elem << " data bytes, the file has "
                                    << have);
  Tensor t = Tensor::empty_cpu(shape);
  const unsigned char* data = bytes.data() + start + header_len;
  if (elem == 4) {
    std::memcpy(t.raw(), data, n * 4);
  } else {
    float* out = t.f32();
    for (size_t i = 0; i < n; ++i) {
      double v;
      std::memcpy(&v, data + i * 8, 8);
      out[i] = static_cast<float>(v);
    }
  }
  return t;
}

}  // namespace cgan
