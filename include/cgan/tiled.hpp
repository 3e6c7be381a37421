#pragma once
// Exact tiled inference: an image too large for memory runs in tiles, with the result the
// whole image would give, to fp32 rounding. On the CPU every convolution of a tile is computed
// by the whole map's algorithm (conv_forward_window), so the bytes are the whole image's where
// OpenBLAS's products round independently of the matrix shape (its AVX-512 SkylakeX kernels);
// with some of its other x86-64 kernels (Haswell's, Zen's) a few bytes differ by one (a 1536x1152
// photo in 256-px tiles: 172 of 5.3 million, 93 dB). On CUDA the same to fp32 rounding (cuDNN
// chooses its algorithms per tile size; >= 50 dB against the CPU's whole image).
//
// Naive tiling (run each tile with a halo through the network, stitch) is wrong for
// CartoonGAN: every instance norm normalizes with the mean and variance of the WHOLE feature
// map, so per-tile statistics shift colours from tile to tile and leave seams. Here the
// network runs norm by norm over all tiles: a pass computes, tile by tile, the map that goes
// into the next instance norm (its pre-norm map), from the previous pre-norm map normalized
// with statistics already complete, and merges the statistics of the tiles (Chan et al., in
// double). Each pass reads its input with the halo its convolutions need; reflection and zero
// padding are applied only at the borders of the whole map. Every convolution is computed once
// per pixel (plus halos). The pre-norm maps (up to 64 channels at full resolution) live in
// unlinked temporary files read and written a window at a time: memory holds one tile's
// tensors and the page cache holds what it can, so memory stays bounded for any image size.
#include <cstdint>
#include <functional>
#include <string>

#include "cgan/context.hpp"
#include "cgan/image.hpp"
#include "cgan/networks.hpp"

namespace cgan {

struct TiledOptions {
  // Side of a tile in input pixels (>= 16); maps at 1/2 and 1/4 resolution use tiles of
  // tile/2 and tile/4 of their own pixels.
  int tile = 512;
  // Folder for the intermediate maps; empty: $TMPDIR, else /tmp. The files are unlinked at
  // once, so nothing is left behind even if the process is killed.
  std::string spill_dir;
  // Called after every tile of every pass with (tiles done, tiles in all passes).
  std::function<void(int64_t done, int64_t total)> progress;
};

// What a tiled run did (for benchmarks and tests).
struct TiledReport {
  int passes = 0;
  int64_t tiles = 0;                // tiles computed, all passes together
  uint64_t spill_bytes_peak = 0;    // largest total size of the intermediate files at once
  uint64_t spill_bytes_written = 0;
};

// The cartoon of `image` (already prepared: resized as the model wants) by the generator, in
// tiles. Same size rule as Generator::output_shape. `order`: the channel order the weights
// expect. Works on the CPU and on CUDA (tiles on the device, maps in host files).
Image cartoonize_tiled(Generator& gen, const Image& image, ChannelOrder order,
                       const TiledOptions& opt, Context& ctx, TiledReport* report = nullptr);

// The most bytes of intermediate maps a tiled run of a width x height image keeps at once in
// the spill folder (cartoonize_tiled refuses to start when that folder has less free space).
uint64_t tiled_spill_bytes(Generator& gen, int width, int height);
// Throws (with the numbers) when the spill folder (empty: $TMPDIR, else /tmp) has less free
// space than that.
void check_tiled_space(Generator& gen, int width, int height, const std::string& spill_dir);

// Bytes a tiled run holds besides the weights and the input/output images, for a tile side
// (an upper estimate measured on the CPU, see bench/cartoonize_bench.cpp).
uint64_t tiled_working_bytes(int tile);

}  // namespace cgan
