#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz/, clang + ASan + UBSan) against a regular build's
# library and runs each for SECONDS over its corpus: the seeds in tests/fuzz/seeds/<harness>/
# (plus any crash-* regression inputs there) and what earlier runs added in build-fuzz/corpus/.
#
#   bash scripts/fuzz.sh [SECONDS] [HARNESS...]    # default 60 s each, all harnesses
#
# Exit 1 when a harness finds a crash, leak, UB or timeout (its input is saved as
# build-fuzz/crash-*: add it to tests/fuzz/seeds/<harness>/ as a regression input once fixed).
# Prints executions, coverage (cov/ft) and corpus size per harness.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${1:-60}"
shift || true
HARNESSES=("$@")
((${#HARNESSES[@]})) || HARNESSES=(safetensors npy image resume weights)
BUILD="${CGAN_BUILD_DIR:-build}"
export PATH="$PATH:/usr/local/cuda/bin"

if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz: clang++ not found; installing clang (libFuzzer comes with it)"
  bash scripts/install_deps.sh --fuzz
fi
if [[ ! -f "$BUILD/libcgan_cuda.so" ]]; then
  echo "fuzz: building the library first ($BUILD/)"
  bash scripts/build.sh >/dev/null
fi
cmake -S tests/fuzz -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DCGAN_BUILD_DIR="$PWD/$BUILD" >/dev/null
if ! cmake --build build-fuzz -j "${CGAN_JOBS:-$(nproc)}" > build-fuzz/build.log 2>&1; then
  grep -E "error|FAILED" build-fuzz/build.log | head -20 >&2
  echo "fuzz: building the harnesses failed (build-fuzz/build.log)" >&2
  exit 1
fi

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
status=0
summary=()
for h in "${HARNESSES[@]}"; do
  corpus="build-fuzz/corpus/$h"
  mkdir -p "$corpus"
  log="build-fuzz/fuzz_$h.log"
  echo "== fuzz_$h: ${SECONDS_EACH} s"
  # -rss_limit_mb: a parser that allocates what a header claims must refuse first.
  if build-fuzz/fuzz_"$h" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2560 \
       -max_len=262144 -print_final_stats=1 -artifact_prefix="build-fuzz/crash-$h-" \
       "$corpus" "tests/fuzz/seeds/$h" > "$log" 2>&1; then
    result=ok
  else
    result="FINDING (see $log and build-fuzz/crash-$h-*)"
    status=1
    grep -E "ERROR|SUMMARY|runtime error" "$log" | head -5 >&2 || true
  fi
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(grep -oE 'cov: [0-9]+' <<<"$last" | tail -1 || true)
  ft=$(grep -oE 'ft: [0-9]+' <<<"$last" | tail -1 || true)
  corp=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' <<<"$last" | tail -1 || true)
  summary+=("fuzz_$h: $result; ${execs} executions, ${cov:-cov: ?}, ${ft:-ft: ?}, ${corp:-corp: ?}")
done
echo
printf '%s\n' "${summary[@]}"
exit $status
