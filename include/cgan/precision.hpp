#pragma once
// What a network computes in, as a property of the network's options (CartoonizeOptions,
// TrainConfig), not a global switch.
#include <string>

#include "cgan/context.hpp"

namespace cgan {

enum class Precision {
  Auto,  // FP32 on the CPU backend; on CUDA today TF32 (see resolve_precision)
  FP32,  // float32 everywhere, convolutions included (no tensor-core rounding)
  TF32,  // float32 storage, convolutions on TF32 tensor cores (CUDA, Ampere and later)
  BF16,  // bf16 NHWC activations, fp32 statistics, accumulation and master weights (CUDA, sm_80+)
};

const char* precision_name(Precision p);  // "auto", "fp32", "tf32", "bf16"
// "auto" | "fp32" | "tf32" | "bf16"; anything else is an Error listing the choices.
Precision parse_precision(const std::string& name);

// The precision a network on ctx's device runs in for `requested`; an Error (saying why and
// what to use instead) when it cannot: the CPU backend computes in fp32 only; bf16 needs a
// GPU with bf16 tensor cores (compute capability 8.0+). Auto: FP32 on the CPU, TF32 on CUDA
// (PyTorch's default for cuDNN convolutions); it becomes BF16 on sm_80+ once the bf16 path
// has been verified on a GPU (so far it ran on the CPU and the emulator only).
Precision resolve_precision(Precision requested, const Context& ctx);

// resolve_precision, then sets ctx to it (ctx.allow_tf32); returns what it resolved to.
Precision apply_precision(Precision requested, Context& ctx);

}  // namespace cgan
