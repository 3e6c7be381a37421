#pragma once
// JPEG and PNG decoders behind read_image (see image_decode.cpp for why not stb_image).
#include <string>
#include <vector>

#include "cgan/image.hpp"

namespace cgan::detail {

// Both throw cgan::Error naming `path` for corrupt data or images over 2^28 pixels.
Image decode_jpeg(const std::vector<unsigned char>& bytes, const std::string& path);
Image decode_png(const std::vector<unsigned char>& bytes, const std::string& path);

}  // namespace cgan::detail
