#include "cgan/precision.hpp"

#include "cgan/device.hpp"
#include "cgan/error.hpp"

namespace cgan {

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::Auto: return "auto";
    case Precision::FP32: return "fp32";
    case Precision::TF32: return "tf32";
    case Precision::BF16: return "bf16";
  }
  return "?";
}

Precision parse_precision(const std::string& name) {
  for (Precision p : {Precision::Auto, Precision::FP32, Precision::TF32, Precision::BF16})
    if (name == precision_name(p)) return p;
  CGAN_FAIL("'" << name << "' is not a precision: give auto, fp32, tf32 or bf16");
}

Precision resolve_precision(Precision requested, const Context& ctx) {
  if (!ctx.is_cuda()) {
    CGAN_CHECK(requested == Precision::Auto || requested == Precision::FP32,
               "precision " << precision_name(requested)
                            << " needs a CUDA device: the CPU backend computes in fp32 (use "
                               "fp32 or auto)");
    return Precision::FP32;
  }
  if (requested == Precision::BF16) {
    const int cc = compute_capability(ctx.device());
    CGAN_CHECK(cc >= 80, "precision bf16 needs a GPU with bf16 tensor cores (compute "
                         "capability 8.0 or newer); this one is "
                             << cc / 10 << "." << cc % 10 << ": use tf32 or fp32");
  }
  return requested == Precision::Auto ? Precision::TF32 : requested;
}

Precision apply_precision(Precision requested, Context& ctx) {
  const Precision p = resolve_precision(requested, ctx);
  ctx.allow_tf32 = p == Precision::TF32;
  return p;
}

}  // namespace cgan
