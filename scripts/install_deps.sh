#!/usr/bin/env bash
# Installs the Debian 12 packages cgan_cuda builds and tests with, when any is missing.
# The CUDA toolkit (nvcc, cuBLAS) and cuDNN 9 are expected under /usr/local/cuda already.
set -euo pipefail

BUILD_PKGS=(cmake ninja-build g++ pkg-config libopencv-dev libstb-dev libcli11-dev
            nlohmann-json3-dev libopenblas-dev catch2 libjpeg62-turbo-dev libpng-dev)
# Independent references used by tests (PyTorch and OpenCV on the CPU).
TEST_PKGS=(python3 python3-numpy python3-torch python3-opencv python3-pil)
# The CUDA emulation build (emu/): fibers for the emulated threads.
EMU_PKGS=(libboost-context-dev)
# The libFuzzer harnesses (scripts/fuzz.sh): clang and its runtime libraries.
FUZZ_PKGS=(clang libclang-rt-14-dev)

want=("${BUILD_PKGS[@]}")
for arg in "$@"; do
  case "$arg" in
    --with-test-deps) want+=("${TEST_PKGS[@]}" "${EMU_PKGS[@]}") ;;  # run_tests.sh builds emulation too
    --emulation) want+=("${EMU_PKGS[@]}") ;;
    --fuzz) want+=("${FUZZ_PKGS[@]}") ;;
    *) echo "install_deps.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "== installing: ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v nvcc >/dev/null 2>&1; then
  if [[ -x /usr/local/cuda/bin/nvcc ]]; then
    echo "== nvcc found at /usr/local/cuda/bin (add it to PATH)"
  else
    echo "error: the CUDA toolkit (nvcc) is required: install it under /usr/local/cuda" >&2
    exit 1
  fi
fi
