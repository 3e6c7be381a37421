#!/usr/bin/env bash
# Configures and builds the CUDA emulation build into build-emu/ (emu/README.md): kernels
# and CUDA code paths compiled as host C++ against the emulated device, with ASan + UBSan.
# Extra args go to cmake (e.g. -DCGAN_EMU_SANITIZE=OFF).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/cuda/bin"
JOBS="${CGAN_JOBS:-$(nproc)}"
cmake -S . -B build-emu -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCGAN_CUDA_EMULATION=ON \
      -DCGAN_BUILD_TOOLS=OFF "$@" >/dev/null
cmake --build build-emu -j "$JOBS"
