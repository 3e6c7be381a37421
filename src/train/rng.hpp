#pragma once
// Internal: randomness that is identical on every platform and standard library.
// std::mt19937_64's output is fixed by the standard, but the distributions built on it are
// not, so the few we need are written out here.
#include <cstdint>
#include <initializer_list>
#include <random>

namespace cgan::train {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// A seed for one purpose and position, e.g. mix_seed(seed, TAG, epoch, index): independent
// streams without storing any generator state.
template <typename... T>
uint64_t mix_seed(uint64_t seed, T... parts) {
  uint64_t h = splitmix64(seed);
  for (uint64_t p : {static_cast<uint64_t>(parts)...}) h = splitmix64(h ^ p);
  return h;
}

// [0, 1) with 53 random bits.
inline double uniform01(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0);
}

// Unbiased integer in [0, n) (rejection sampling).
inline uint64_t uniform_index(std::mt19937_64& rng, uint64_t n) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  for (;;) {
    const uint64_t r = rng();
    if (r < limit) return r % n;
  }
}

}  // namespace cgan::train
