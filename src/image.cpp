#include "cgan/image.hpp"

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "cgan/io_util.hpp"
#include "image_decode.hpp"

namespace cgan {

namespace {
std::string lower_ext(const std::string& path) {
  const size_t dot = path.find_last_of('.');
  const size_t slash = path.find_last_of('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string e = path.substr(dot + 1);
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  return e;
}

void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<unsigned char>*>(context);
  const auto* p = static_cast<const unsigned char*>(data);
  out->insert(out->end(), p, p + size);
}
}  // namespace

bool is_image_path(const std::string& path) {
  const std::string e = lower_ext(path);
  return e == "png" || e == "jpg" || e == "jpeg" || e == "bmp";
}

Image read_image(const std::string& path) { return decode_image(read_file(path), path); }

Image decode_image(const std::vector<unsigned char>& bytes, const std::string& path) {
  if (bytes.empty()) throw Error("cannot decode image '" + path + "': file is empty");
  if (bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF)
    return detail::decode_jpeg(bytes, path);
  static const unsigned char png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), png_magic, 8) == 0)
    return detail::decode_png(bytes, path);
  // BMP through stb_image, size-checked before decoding; stb's other decoders (GIF, PSD, TGA,
  // HDR, PIC, PNM) never see untrusted bytes.
  if (bytes.size() < 2 || bytes[0] != 'B' || bytes[1] != 'M')
    throw Error("cannot decode image '" + path + "': not a JPEG, PNG or BMP file");
  CGAN_CHECK(bytes.size() <= static_cast<size_t>(INT32_MAX),
             "cannot decode image '" << path << "': file too large");
  // An uncompressed BMP (stb reads no RLE) must hold the rows its header claims: a 200-byte
  // file saying 13831x2051 would otherwise cost an 85 MB fill.
  CGAN_CHECK(bytes.size() >= 30, "cannot decode image '" << path << "': truncated BMP header");
  auto u32 = [&](size_t o) {
    return uint32_t(bytes[o]) | uint32_t(bytes[o + 1]) << 8 | uint32_t(bytes[o + 2]) << 16 |
           uint32_t(bytes[o + 3]) << 24;
  };
  int w = 0, h = 0, c = 0;
  if (!stbi_info_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &c))
    throw Error("cannot decode image '" + path + "': corrupt BMP (" +
                (stbi_failure_reason() ? stbi_failure_reason() : "unknown") + ")");
  detail::check_dimensions(path, uint64_t(w), uint64_t(h));
  const size_t bpp_at = u32(14) == 12 ? 24 : 28;  // OS/2 core header or BITMAPINFOHEADER+
  const uint64_t bpp = uint64_t(bytes[bpp_at]) | uint64_t(bytes[bpp_at + 1]) << 8;
  const uint64_t row = (bpp * uint64_t(w) + 31) / 32 * 4;
  const uint64_t need = uint64_t(u32(10)) + row * uint64_t(h);
  if (bytes.size() < need)
    throw Error("cannot decode image '" + path + "': truncated BMP (" + std::to_string(w) + "x" +
                std::to_string(h) + " at " + std::to_string(bpp) + " bits needs " +
                std::to_string(need) + " bytes, the file has " + std::to_string(bytes.size()) + ")");
  unsigned char* px = stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w,
                                            &h, &c, 3);
  if (!px) {
    const char* why = stbi_failure_reason();
    throw Error("cannot decode image '" + path + "': " + (why ? why : "unknown format"));
  }
  Image img(w, h);
  std::memcpy(img.pixels.data(), px, img.pixels.size());
  stbi_image_free(px);
  return img;
}

void write_image(const std::string& path, const Image& img, int jpeg_quality) {
  CGAN_CHECK(img.width > 0 && img.height > 0 &&
                 img.pixels.size() == static_cast<size_t>(img.width) * img.height * 3,
             "write_image '" << path << "': image is empty or inconsistent");
  const std::string e = lower_ext(path);
  std::vector<unsigned char> out;
  int ok = 0;
  if (e == "png") {
    ok = stbi_write_png_to_func(append_bytes, &out, img.width, img.height, 3, img.pixels.data(),
                                img.width * 3);
  } else if (e == "jpg" || e == "jpeg") {
    ok = stbi_write_jpg_to_func(append_bytes, &out, img.width, img.height, 3, img.pixels.data(),
                                jpeg_quality);
  } else if (e == "bmp") {
    ok = stbi_write_bmp_to_func(append_bytes, &out, img.width, img.height, 3, img.pixels.data());
  } else {
    throw Error("cannot write image '" + path + "': unknown extension (use .png, .jpg or .bmp)");
  }
  if (!ok) throw Error("cannot encode image '" + path + "'");
  write_file_atomic(path, out.data(), out.size());
}

Tensor images_to_tensor(const std::vector<Image>& images, ChannelOrder order, Context& ctx) {
  CGAN_CHECK(!images.empty(), "images_to_tensor: no images");
  const int w = images[0].width, h = images[0].height;
  for (const Image& im : images)
    CGAN_CHECK(im.width == w && im.height == h,
               "images_to_tensor: images differ in size (" << w << "x" << h << " vs "
                                                         << im.width << "x" << im.height << ")");
  const int64_t n = static_cast<int64_t>(images.size());
  Tensor host = Tensor::empty_cpu({n, 3, h, w});
  float* out = host.f32();
  const size_t plane = static_cast<size_t>(w) * h;
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* px = images[static_cast<size_t>(i)].pixels.data();
    for (int c = 0; c < 3; ++c) {
      const int src_c = order == ChannelOrder::RGB ? c : 2 - c;
      float* dst = out + (static_cast<size_t>(i) * 3 + c) * plane;
      for (size_t p = 0; p < plane; ++p) dst[p] = px[p * 3 + src_c] / 127.5f - 1.0f;
    }
  }
  return ctx.is_cuda() ? host.to(ctx) : host;
}

std::vector<Image> tensor_to_images(const Tensor& t, ChannelOrder order, Context& ctx) {
  CGAN_CHECK(t.ndim() == 4 && t.dim(1) == 3,
             "tensor_to_images: expected [N,3,H,W], got " << shape_str(t.shape()));
  const std::vector<float> v = t.to_vector(ctx);
  const int n = static_cast<int>(t.dim(0)), h = static_cast<int>(t.dim(2)),
            w = static_cast<int>(t.dim(3));
  const size_t plane = static_cast<size_t>(w) * h;
  std::vector<Image> out;
  for (int i = 0; i < n; ++i) {
    Image im(w, h);
    for (int c = 0; c < 3; ++c) {
      const int dst_c = order == ChannelOrder::RGB ? c : 2 - c;
      const float* src = v.data() + (static_cast<size_t>(i) * 3 + c) * plane;
      for (size_t p = 0; p < plane; ++p) {
        const float x = std::nearbyint((src[p] * 0.5f + 0.5f) * 255.0f);
        im.pixels[p * 3 + dst_c] = static_cast<uint8_t>(std::clamp(x, 0.0f, 255.0f));
      }
    }
    out.push_back(std::move(im));
  }
  return out;
}

}  // namespace cgan
