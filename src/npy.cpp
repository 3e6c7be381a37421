#include "cgan/npy.hpp"

#include <cctype>
#include <cstring>

#include "cgan/io_util.hpp"

namespace cgan {

namespace {

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  Shape shape;
};

// The header is a Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False,
// 'shape': (64, 3, 7, 7), }. A hand-written scanner, not std::regex: libstdc++'s regex
// recurses once per character and a 26 KB header overflowed the stack.
class HeaderScanner {
 public:
  HeaderScanner(const std::string& text, const std::string& path) : s_(text), path_(path) {}

  NpyHeader parse() {
    NpyHeader h;
    bool have_descr = false, have_order = false, have_shape = false;
    skip_space();
    expect('{');
    for (;;) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = quoted();
      skip_space();
      expect(':');
      skip_space();
      if (key == "descr") {
        h.descr = quoted();
        have_descr = true;
      } else if (key == "fortran_order") {
        h.fortran_order = boolean();
        have_order = true;
      } else if (key == "shape") {
        h.shape = tuple();
        have_shape = true;
      } else {
        fail("unexpected key '" + key + "'");
      }
      skip_space();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      skip_space();
      if (peek() != '}') fail("expected ',' or '}'");
    }
    CGAN_CHECK(have_descr, path_ << ": .npy header has no 'descr'");
    CGAN_CHECK(have_order, path_ << ": .npy header has no 'fortran_order'");
    CGAN_CHECK(have_shape, path_ << ": .npy header has no 'shape'");
    return h;
  }

 private:
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_space() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  [[noreturn]] void fail(const std::string& what) const {
    CGAN_FAIL(path_ << ": malformed .npy header at byte " << i_ << ": " << what);
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++i_;
  }
  std::string quoted() {
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string");
    const size_t end = s_.find(q, i_ + 1);
    if (end == std::string::npos) fail("unterminated string");
    std::string out = s_.substr(i_ + 1, end - i_ - 1);
    i_ = end + 1;
    return out;
  }
  bool boolean() {
    if (s_.compare(i_, 4, "True") == 0) {
      i_ += 4;
      return true;
    }
    if (s_.compare(i_, 5, "False") == 0) {
      i_ += 5;
      return false;
    }
    fail("expected True or False");
  }
  Shape tuple() {
    Shape shape;
    expect('(');
    for (;;) {
      skip_space();
      if (peek() == ')') break;
      if (!std::isdigit(static_cast<unsigned char>(peek()))) fail("expected a dimension");
      int64_t v = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, peek() - '0', &v))
          fail("dimension does not fit in int64");
        ++i_;
      }
      shape.push_back(v);
      skip_space();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      skip_space();
      if (peek() != ')') fail("expected ',' or ')'");
    }
    ++i_;
    return shape;
  }

  const std::string& s_;
  const std::string& path_;
  size_t i_ = 0;
};

NpyHeader parse_npy_header(const std::string& header, const std::string& path) {
  return HeaderScanner(header, path).parse();
}

}  // namespace

Tensor read_npy(const std::string& path) { return parse_npy(read_file(path), path); }

Tensor parse_npy(const std::vector<unsigned char>& bytes, const std::string& path) {
  static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  CGAN_CHECK(bytes.size() >= 10 && std::memcmp(bytes.data(), magic, 6) == 0,
             path << ": not a NumPy .npy file (bad magic: it does not start with \\x93NUMPY)");
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

  const NpyHeader h = parse_npy_header(header, path);
  const std::string& descr = h.descr;
  CGAN_CHECK(descr == "<f4" || descr == "<f8",
             path << ": dtype '" << descr << "' not supported (little-endian float32 '<f4' "
                  << "or float64 '<f8' only)");
  CGAN_CHECK(!h.fortran_order, path << ": Fortran-order arrays are not supported");
  const Shape& shape = h.shape;

  const size_t elem = descr == "<f4" ? 4 : 8;
  int64_t numel = 0;
  try {
    numel = shape_numel(shape);
  } catch (const Error& e) {
    CGAN_FAIL(path << ": " << e.what());
  }
  const size_t n = static_cast<size_t>(numel);
  const size_t have = bytes.size() - start - header_len;
  size_t need = 0;
  CGAN_CHECK(!__builtin_mul_overflow(n, elem, &need),
             path << ": shape " << shape_str(shape) << " is too large");
  CGAN_CHECK(have == need, path << ": shape " << shape_str(shape) << " of " << descr
                                    << " needs " << need << " data bytes, the file has "
                                    << have);
  Tensor t = Tensor::empty_cpu(shape);
  const unsigned char* data = bytes.data() + start + header_len;
  if (n == 0) return t;  // no memcpy to an empty tensor's null storage
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
