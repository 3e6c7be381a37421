#!/usr/bin/env bash
# Builds one self-contained CUDA program (its own main, runtime API, <<<...>>> launches) with
# the CUDA emulator in emu/ under ASan + UBSan, and runs it in the strictest modes: deferred
# streams, permuted block and thread order. Exits non-zero, naming kernel, block and thread,
# when the emulator or a sanitizer finds an error, or when the program itself fails.
#
#   scripts/cuda_emu_run.sh FILE.cu [ARGS...]
#
# Environment: CUDA_EMU_SEED (order permutation seed, default 1), CUDA_EMU_SM_COUNT (default
# 132), CUDA_EMU_STREAMS=immediate / CUDA_EMU_ORDER=linear to relax, CUDA_EMU_BUILD_DIR.
# Emulation proves logic, not speed: timings of the emulated program mean nothing.
set -euo pipefail
if [[ $# -lt 1 || ! -f "$1" ]]; then
  echo "usage: $0 FILE.cu [ARGS...]" >&2
  exit 2
fi
FILE="$(realpath "$1")"
shift
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${CUDA_EMU_BUILD_DIR:-$ROOT/build-cuda-emu-run}"
export PATH="$PATH:/usr/local/cuda/bin"

if ! dpkg-query -W -f='${Status}' libboost-context-dev 2>/dev/null | grep -q "install ok installed"; then
  bash "$ROOT/scripts/install_deps.sh" --emulation
fi

log="$BUILD.log"
mkdir -p "$BUILD"
if ! { cmake -S "$ROOT/emu" -B "$BUILD" -G Ninja -DCUDA_EMU_PROGRAM="$FILE" &&
       cmake --build "$BUILD" --target program; } >"$log" 2>&1; then
  # Compiler messages point at FILE.cu's own lines (cu2cpp keeps them).
  grep -E "error|Error" "$log" | head -40 >&2 || cat "$log" >&2
  echo "cuda_emu_run: build of $FILE failed (full log: $log)" >&2
  exit 2
fi

export CUDA_EMU_STREAMS="${CUDA_EMU_STREAMS:-deferred}"
export CUDA_EMU_ORDER="${CUDA_EMU_ORDER:-permuted}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:abort_on_error=1}"
set +e
"$BUILD/program" "$@"
rc=$?
set -e
if [[ $rc -ne 0 ]]; then
  echo "cuda_emu_run: $(basename "$FILE") failed with exit status $rc" >&2
fi
exit $rc
