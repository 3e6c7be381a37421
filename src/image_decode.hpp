#pragma once
// JPEG and PNG decoders behind read_image (see image_decode.cpp for why not stb_image).
#include <cstdint>
#include <string>
#include <vector>

#include "cgan/image.hpp"

namespace cgan::detail {

// Throws cgan::Error naming `path` for a zero side or more than max_image_pixels().
void check_dimensions(const std::string& path, uint64_t w, uint64_t h);

// Both throw cgan::Error naming `path` for corrupt data or images over max_image_pixels().
Image decode_jpeg(const std::vector<unsigned char>& bytes, const std::string& path);
Image decode_png(const std::vector<unsigned char>& bytes, const std::string& path);

}  // namespace cgan::detail
