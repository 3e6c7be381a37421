// JPEG and PNG decoding with libjpeg-turbo and libpng, the decoders Debian keeps patched.
// Untrusted files must not reach Debian's stb_image 2.27, whose Huffman table builder writes
// out of bounds on a JPEG whose code counts sum past 256 (fixed upstream later). stb is kept
// for BMP and for writing.
#include "image_decode.hpp"

#include <jpeglib.h>
#include <png.h>

#include <atomic>
#include <csetjmp>
#include <cstdio>
#include <cstring>

#include "cgan/error.hpp"

namespace cgan::detail {

namespace {

// A decoded image larger than this is refused before its pixels are allocated (16384^2 by
// default; the fuzz harnesses lower it so that time goes to parsing, not to filling pixels).
std::atomic<uint64_t> g_max_pixels{uint64_t{1} << 28};

}  // namespace

void check_dimensions(const std::string& path, uint64_t w, uint64_t h) {
  if (w == 0 || h == 0) throw Error("cannot decode image '" + path + "': zero width or height");
  if (w * h > g_max_pixels.load())
    throw Error("cannot decode image '" + path + "': " + std::to_string(w) + "x" +
                std::to_string(h) + " is more than " + std::to_string(g_max_pixels.load()) +
                " pixels");
}

namespace {

struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

extern "C" void jpeg_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

extern "C" void jpeg_quiet(j_common_ptr, int) {}  // warnings (e.g. extraneous bytes) are not errors

}  // namespace

Image decode_jpeg(const std::vector<unsigned char>& bytes, const std::string& path) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_error_exit;
  err.mgr.emit_message = jpeg_quiet;
  err.message[0] = '\0';
  // Everything the longjmp may skip lives outside this frame's automatic C++ objects.
  Image* volatile img = nullptr;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    delete img;
    throw Error("cannot decode image '" + path + "': corrupt JPEG (" + err.message + ")");
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  if (static_cast<uint64_t>(cinfo.image_width) * cinfo.image_height > g_max_pixels.load() ||
      cinfo.image_width == 0 || cinfo.image_height == 0) {
    const uint64_t w = cinfo.image_width, h = cinfo.image_height;
    jpeg_destroy_decompress(&cinfo);
    check_dimensions(path, w, h);
  }
  cinfo.out_color_space = JCS_RGB;  // libjpeg converts grayscale and YCbCr (CMYK: error below)
  jpeg_start_decompress(&cinfo);
  if (cinfo.output_components != 3) {
    jpeg_destroy_decompress(&cinfo);
    throw Error("cannot decode image '" + path + "': unsupported JPEG color space");
  }
  img = new Image(static_cast<int>(cinfo.output_width), static_cast<int>(cinfo.output_height));
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = img->at(0, static_cast<int>(cinfo.output_scanline));
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  Image out = std::move(*img);
  delete img;
  return out;
}

Image decode_png(const std::vector<unsigned char>& bytes, const std::string& path) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()))
    throw Error("cannot decode image '" + path + "': corrupt PNG (" + image.message + ")");
  const uint64_t w = image.width, h = image.height;
  if (w == 0 || h == 0 || w * h > g_max_pixels.load()) {
    png_image_free(&image);
    check_dimensions(path, w, h);
  }
  // RGBA, then the alpha dropped (not composited): what stb_image did before, so images with
  // an alpha channel keep their pixels.
  image.format = PNG_FORMAT_RGBA;
  std::vector<unsigned char> rgba(static_cast<size_t>(PNG_IMAGE_SIZE(image)));
  if (!png_image_finish_read(&image, nullptr, rgba.data(), 0, nullptr)) {
    const std::string why = image.message;
    png_image_free(&image);
    throw Error("cannot decode image '" + path + "': corrupt PNG (" + why + ")");
  }
  Image img(static_cast<int>(w), static_cast<int>(h));
  for (size_t i = 0, n = static_cast<size_t>(w * h); i < n; ++i)
    std::memcpy(&img.pixels[3 * i], &rgba[4 * i], 3);
  return img;
}

}  // namespace cgan::detail

namespace cgan {

uint64_t max_image_pixels() { return detail::g_max_pixels.load(); }
void set_max_image_pixels(uint64_t n) { detail::g_max_pixels.store(n); }

}  // namespace cgan
