#!/usr/bin/env bash
# The README's test command: installs what it needs, builds, runs every test. Two builds:
#  1. build/      the product (nvcc, cuDNN): every test; CUDA tests report "Skipped" (not
#                 "Passed") on a machine without a GPU.
#  2. build-emu/  the CUDA emulation build (emu/README.md) under ASan + UBSan: the same CUDA
#                 tests executed on the emulated device, plus the emulator's own tests.
#                 Emulation proves the kernels' logic, not their speed.
# CGAN_SKIP_EMULATION=1 runs only the first part.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/install_deps.sh --with-test-deps
bash scripts/build.sh
(cd build && ctest --output-on-failure -j "${CGAN_TEST_JOBS:-2}" --timeout 1500)
regular=$(($(date +%s) - start))
echo "== regular build + tests: ${regular} s"

if [[ "${CGAN_SKIP_EMULATION:-0}" != "1" ]]; then
  emu_start=$(date +%s)
  bash scripts/build_emu.sh
  (cd build-emu && ctest --output-on-failure -j "${CGAN_TEST_JOBS:-2}" --timeout 1500 -L "cuda|emu")
  echo "== emulation build + emulated cuda/emu tests (ASan+UBSan): $(($(date +%s) - emu_start)) s"
fi
echo "== total: $(($(date +%s) - start)) s"
