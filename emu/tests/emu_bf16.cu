// bf16 on the emulated device: the toolkit's cuda_bf16.h compiles as host code under the
// emulator, and its conversions must be what the hardware does, since every bf16 kernel's
// emulated test trusts them. Checked against an independent definition of round-to-nearest-
// even (two candidates compared in double, ties to the even significand) over every bf16
// upper half combined with the low halves that matter (exact, just below / at / above the
// tie, all ones, a few arbitrary ones): zeros, subnormals, the largest finite values that
// round to infinity, infinities and NaNs included. Also the packed paths kernels use
// (128-bit loads of 8 bf16, __nv_bfloat162 <-> float2).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#define CK(call)                                                                          \
  do {                                                                                    \
    cudaError_t e_ = (call);                                                              \
    if (e_ != cudaSuccess) {                                                              \
      std::printf("FAIL: %s -> %s\n", #call, cudaGetErrorString(e_));                     \
      return 1;                                                                           \
    }                                                                                     \
  } while (0)

__global__ void round_kernel(uint16_t* out, float* back, const float* in, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const __nv_bfloat16 b = __float2bfloat16_rn(in[i]);
  memcpy(out + i, &b, 2);
  back[i] = __bfloat162float(b);
}

// 8 bf16 per thread through one 16-byte load, widened as __nv_bfloat162 pairs, then stored
// back packed (as the channels-last kernels do).
__global__ void packed_kernel(uint4* out, float* wide, const uint4* in, int n8) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n8) return;
  const uint4 raw = in[i];
  __nv_bfloat162 h[4];
  memcpy(static_cast<void*>(h), &raw, 16);
  for (int k = 0; k < 4; ++k) {
    const float2 f = __bfloat1622float2(h[k]);
    wide[8 * i + 2 * k] = f.x;
    wide[8 * i + 2 * k + 1] = f.y;
    h[k] = __floats2bfloat162_rn(f.x, f.y);
  }
  uint4 o;
  memcpy(&o, h, 16);
  out[i] = o;
}

namespace {

float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
float bf16_bits_to_float(uint16_t b) { return bits_to_float(uint32_t(b) << 16); }

// Round-to-nearest-even by definition, not by the usual bit trick.
uint16_t reference_rne(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  const uint16_t lo = uint16_t(u >> 16);  // truncation toward zero
  if ((u & 0xffffu) == 0) return lo;
  const uint16_t hi = uint16_t(lo + 1);  // next away from zero (0x7f7f+1 = infinity: right)
  const double dx = std::fabs(double(x));
  const double dlo = dx - std::fabs(double(bf16_bits_to_float(lo)));
  const double vhi = (hi & 0x7fffu) == 0x7f80u ? std::ldexp(1.0, 128)  // 2^128 for rounding
                                               : std::fabs(double(bf16_bits_to_float(hi)));
  const double dhi = vhi - dx;
  if (dlo < dhi) return lo;
  if (dhi < dlo) return hi;
  return (lo & 1u) ? hi : lo;
}

}  // namespace

int main() {
  const uint16_t lows[] = {0x0000, 0x0001, 0x7fff, 0x8000, 0x8001, 0xffff, 0x1234, 0xbeef};
  const int nl = int(sizeof(lows) / sizeof(lows[0]));
  const int n = 65536 * nl;
  std::vector<float> in(n);
  for (uint32_t h = 0; h < 65536; ++h)
    for (int k = 0; k < nl; ++k) in[h * nl + k] = bits_to_float((h << 16) | lows[k]);

  float *d_in = nullptr, *d_back = nullptr;
  uint16_t* d_out = nullptr;
  CK(cudaMalloc(&d_in, n * sizeof(float)));
  CK(cudaMalloc(&d_back, n * sizeof(float)));
  CK(cudaMalloc(&d_out, n * sizeof(uint16_t)));
  CK(cudaMemcpy(d_in, in.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  round_kernel<<<(n + 255) / 256, 256>>>(d_out, d_back, d_in, n);
  CK(cudaGetLastError());
  std::vector<uint16_t> out(n);
  std::vector<float> back(n);
  CK(cudaMemcpy(out.data(), d_out, n * sizeof(uint16_t), cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(back.data(), d_back, n * sizeof(float), cudaMemcpyDeviceToHost));

  int bad = 0, nans = 0, ties = 0;
  for (int i = 0; i < n; ++i) {
    const float x = in[i];
    if (std::isnan(x)) {
      ++nans;
      if (!std::isnan(bf16_bits_to_float(out[i])) || !std::isnan(back[i])) {
        if (bad++ < 10) std::printf("NaN %08x -> %04x\n", unsigned((uint32_t(out[i]))), out[i]);
      }
      continue;
    }
    uint32_t u;
    std::memcpy(&u, &x, 4);
    ties += (u & 0xffffu) == 0x8000u;
    const uint16_t want = reference_rne(x);
    if (out[i] != want || back[i] != bf16_bits_to_float(want)) {
      if (bad++ < 10)
        std::printf("x = %a (%08x): got %04x, want %04x\n", double(x), unsigned(u), out[i], want);
    }
  }

  // Packed path: every bf16 bit pattern once, 8 per 16-byte vector, round trip exact.
  const int n8 = 65536 / 8;
  std::vector<uint16_t> pat(65536);
  for (uint32_t h = 0; h < 65536; ++h) pat[h] = uint16_t(h);
  uint4 *d_p = nullptr, *d_q = nullptr;
  float* d_w = nullptr;
  CK(cudaMalloc(&d_p, 65536 * 2));
  CK(cudaMalloc(&d_q, 65536 * 2));
  CK(cudaMalloc(&d_w, 65536 * sizeof(float)));
  CK(cudaMemcpy(d_p, pat.data(), 65536 * 2, cudaMemcpyHostToDevice));
  packed_kernel<<<(n8 + 127) / 128, 128>>>(d_q, d_w, d_p, n8);
  CK(cudaGetLastError());
  std::vector<uint16_t> q(65536);
  std::vector<float> w(65536);
  CK(cudaMemcpy(q.data(), d_q, 65536 * 2, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(w.data(), d_w, 65536 * sizeof(float), cudaMemcpyDeviceToHost));
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = bf16_bits_to_float(uint16_t(h));
    const bool same = std::isnan(f) ? (std::isnan(w[h]) && std::isnan(bf16_bits_to_float(q[h])))
                                    : (std::memcmp(&w[h], &f, 4) == 0 && q[h] == h);
    if (!same && bad++ < 20) std::printf("packed %04x: wide %a, back %04x\n", h, double(w[h]), q[h]);
  }
  CK(cudaFree(d_in));
  CK(cudaFree(d_back));
  CK(cudaFree(d_out));
  CK(cudaFree(d_p));
  CK(cudaFree(d_q));
  CK(cudaFree(d_w));
  if (bad) {
    std::printf("FAIL: %d mismatches\n", bad);
    return 1;
  }
  std::printf("OK: %d floats (%d ties, %d NaNs) round to nearest even; 65536 bf16 round-trip "
              "through packed loads\n", n - nans, ties, nans);
  return 0;
}
