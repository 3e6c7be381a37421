#!/usr/bin/env bash
# Step 2 of the GPU check, run ON THE GPU MACHINE in the repository root with .gpu/ carried
# (made by scripts/gpu_prepare.sh). One call, at most ~8 minutes, in this order:
#   1. every cuda-labelled test, with CGAN_REQUIRE_GPU=1: a skip is a failure, and so is any
#      test ctest reports Skipped or Not Run, or finding no tests at all;
#   2. compute-sanitizer (memcheck, racecheck, synccheck, initcheck) over the kernel tests;
#   3. the benchmarks, then the PyTorch side-by-side scripts (bench/*.py).
# Whatever happens (a failure, a timeout of a stage, a missing tool), it writes
# $OUT/gpu_results.md (GPU, driver, CUDA/cuDNN versions, commit, per-test results, sanitizer
# findings, benchmark figures) and exits non-zero unless everything passed. Copy the file to
# bench/results/<date>-<gpu>.md and commit it. No cpu/slow tests here: CI runs those.
#
# It needs only bash, coreutils, python3 (to unpack: no xz there) and ctest.
# CGAN_GPU_CHECK_BUILD=DIR uses an existing build folder instead of the bundle: with
# build-emu/ (the emulation build) this machine runs the same mechanics with the cuda tests
# executing on the emulated device; with build/ on a GPU-less machine every cuda test fails.
set -uo pipefail
ROOT="$PWD"
OUT="${OUT:-$ROOT/gpu_out}"
mkdir -p "$OUT"
T0=$SECONDS
elapsed() { echo $((SECONDS - T0)); }
# Stage deadlines (seconds since start): tests, sanitizers, benchmarks; the last ~30 s are
# for writing the results. The device tool's per-call limit is 600 s.
TESTS_END=${CGAN_GPU_TESTS_END:-240}
SAN_END=${CGAN_GPU_SANITIZE_END:-330}
BENCH_END=${CGAN_GPU_BENCH_END:-450}
TEST_TIMEOUT=${CGAN_GPU_TEST_TIMEOUT:-90}  # per test (the emulation build needs more)

R="$OUT/gpu_results.md"
FAILS=()
fail() { FAILS+=("$*"); echo "FAIL: $*" >&2; }
finish() {
  {
    echo
    echo "## Verdict"
    echo
    if ((${#FAILS[@]} == 0)); then echo "PASS (total $(elapsed) s)"
    else
      echo "FAIL (total $(elapsed) s):"
      for f in "${FAILS[@]}"; do echo "- $f"; done
    fi
  } >> "$R"
  tail -60 "$R"
}
trap finish EXIT

{
  echo "# cgan_cuda GPU check"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
} > "$R"

BUILD="${CGAN_GPU_CHECK_BUILD:-}"
if [[ -z "$BUILD" ]]; then
  BUILD=build-gpu
  rm -rf build-gpu
  if [[ ! -f .gpu/bundle.tar.xz ]]; then
    fail "no .gpu/bundle.tar.xz: run scripts/gpu_prepare.sh on the build machine and carry .gpu"
    exit 2
  fi
  if ! python3 scripts/gpu_bundle.py unpack .gpu/bundle.tar.xz build-gpu 2> "$OUT/unpack.txt"; then
    fail "unpacking .gpu/bundle.tar.xz failed: $(tail -1 "$OUT/unpack.txt")"
    exit 2
  fi
  # Paths baked in at build time (tests' data and script paths, ctest's command lines) start
  # with the build machine's checkout: make that path lead here.
  SRC_DIR="$(cat build-gpu/SOURCE_DIR 2>/dev/null || echo /work/main)"
  if [[ "$(readlink -f "$SRC_DIR" 2>/dev/null)" != "$(readlink -f "$ROOT")" ]]; then
    if [[ -e "$SRC_DIR" ]]; then echo "warning: $SRC_DIR exists and is not this checkout" >&2
    else mkdir -p "$(dirname "$SRC_DIR")" && ln -s "$ROOT" "$SRC_DIR"; fi
  fi
  export CGAN_SHARED_DIR="$ROOT/build-gpu/shared"
  # CUDA libraries of this machine: the toolkit's, then PyTorch's wheels (cuDNN lives there).
  libdirs="$ROOT/build-gpu/deps:$ROOT/build-gpu"
  for pat in 'libcudnn.so.9' 'libcublas.so.13' 'libcublasLt.so.13' 'libcudart.so.13'; do
    f=$(find /usr/local/cuda/ /usr/local/cuda*/ /opt /usr/lib /usr/local/lib -name "$pat" -print 2>/dev/null | head -1)
    [[ -n "$f" ]] && libdirs="$libdirs:$(dirname "$f")"
  done
  export LD_LIBRARY_PATH="$libdirs:${LD_LIBRARY_PATH:-}"
fi
[[ -d "$BUILD" ]] || { fail "no build folder $BUILD"; exit 2; }
export CGAN_PYTHON="${CGAN_PYTHON:-$(command -v python3)}"
export CGAN_REQUIRE_GPU=1
export PATH="$PATH:/usr/local/cuda/bin"

{
  echo "- commit: $(tr '\n' ' ' 2>/dev/null < "$BUILD/COMMIT" || git rev-parse HEAD 2>/dev/null)"
  echo "- build: $BUILD"
  echo "- GPU: $(nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader 2>/dev/null | head -1 || true)"
  echo "- driver: $(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1 || true)"
  echo "- nvcc: $(nvcc --version 2>/dev/null | tail -1)"
  echo "- cuDNN library: $(ldd "$BUILD/libcgan_cuda.so" 2>/dev/null | awk '/libcudnn/{print $3}')"
  echo "- torch: $(python3 -c 'import torch;print(torch.__version__, "cudnn", torch.backends.cudnn.version())' 2>&1 | tail -1)"
  echo
  echo "## 1. cuda tests (CGAN_REQUIRE_GPU=1)"
  echo
  echo '```'
} >> "$R"

# ---- 1. cuda tests ---------------------------------------------------------------------------
left=$((TESTS_END - $(elapsed)))
(cd "$BUILD" && timeout -k 5 "$left" ctest -L cuda -j 4 --timeout "$TEST_TIMEOUT" --output-on-failure \
  > "$OUT/tests_cuda.txt" 2>&1)
rc=$?
grep -E '^ *[0-9]+/[0-9]+ Test +#' "$OUT/tests_cuda.txt" | sed -E 's/ +\.{3,} */ /' >> "$R"
grep -E 'tests passed|Total Test time' "$OUT/tests_cuda.txt" >> "$R"
echo '```' >> "$R"
ran=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#' "$OUT/tests_cuda.txt")
if ((rc == 124 || rc == 137)); then fail "cuda tests: stopped at the ${TESTS_END} s deadline"; fi
((ran > 0)) || fail "cuda tests: none ran (ctest rc $rc)"
if grep -qE 'Skipped|Not Run|\*\*\*Not' "$OUT/tests_cuda.txt"; then
  fail "cuda tests: $(grep -cE 'Skipped|Not Run' "$OUT/tests_cuda.txt") reported Skipped or Not Run"
fi
((rc == 0 || rc == 124 || rc == 137)) || fail "cuda tests: $(grep -cE '\*\*\*Failed|\*\*\*Timeout|\*\*\*Exception' "$OUT/tests_cuda.txt") of $ran failed (ctest rc $rc)"
echo "cuda tests done at $(elapsed) s"

# ---- 2. compute-sanitizer ----------------------------------------------------------------------
echo -e "\n## 2. compute-sanitizer over the kernel tests\n" >> "$R"
SAN="$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)"
if [[ -z "$SAN" ]]; then
  echo "compute-sanitizer not found" >> "$R"
  fail "compute-sanitizer not found"
else
  echo "| tool | test | result |" >> "$R"
  echo "|---|---|---|" >> "$R"
  for tool in memcheck racecheck synccheck initcheck; do
    for t in "$BUILD"/tests/cuda_test_kernels_* "$BUILD"/tests/cuda_test_smooth; do
      [[ -x "$t" && "$t" != *.cmake ]] || continue
      name=$(basename "$t")
      left=$((SAN_END - $(elapsed)))
      if ((left < 10)); then
        echo "| $tool | $name | not run: sanitizer deadline ${SAN_END} s |" >> "$R"
        fail "sanitizer $tool $name: not run (deadline)"
        continue
      fi
      log="$OUT/san_${tool}_${name}.txt"
      extra=()
      [[ $tool == initcheck ]] && extra=(--track-unused-memory no)
      timeout -k 5 "$((left < 60 ? left : 60))" "$SAN" --tool "$tool" "${extra[@]}" \
        --error-exitcode 99 --print-limit 20 "$t" > "$log" 2>&1
      src=$?
      summary=$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$log" | tail -1)
      case $src in
        0) echo "| $tool | $name | clean ${summary:+($summary)} |" >> "$R" ;;
        124|137) echo "| $tool | $name | timed out |" >> "$R"; fail "sanitizer $tool $name: timed out" ;;
        99) echo "| $tool | $name | **findings**: ${summary} (log san_${tool}_${name}.txt) |" >> "$R"
            fail "sanitizer $tool $name: $summary" ;;
        *) echo "| $tool | $name | test failed under the sanitizer (rc $src) |" >> "$R"
           fail "sanitizer $tool $name: rc $src" ;;
      esac
    done
  done
  # The first findings of each log, for the record.
  for log in "$OUT"/san_*.txt; do
    [[ -f "$log" ]] && grep -q '========= [A-Z]' "$log" || continue
    echo -e "\n$(basename "$log"):\n\n\`\`\`" >> "$R"
    grep -E '^=========' "$log" | head -25 >> "$R"
    echo '```' >> "$R"
  done
fi
echo "sanitizers done at $(elapsed) s"

# ---- 3. benchmarks and PyTorch side by side ---------------------------------------------------
echo -e "\n## 3. Benchmarks\n" >> "$R"
run_bench() {  # name, command...
  local name=$1; shift
  local left=$((BENCH_END - $(elapsed)))
  if ((left < 15)); then
    echo -e "\n### $name\n\nnot run: benchmark deadline ${BENCH_END} s" >> "$R"
    fail "benchmark $name: not run (deadline)"
    return
  fi
  echo "running $name ($(elapsed) s)"
  { echo -e "\n### $name\n\n\`\`\`"; PYTHONUNBUFFERED=1 timeout -k 5 "$((left < 90 ? left : 90))" "$@" 2>&1; local brc=$?
    echo "(rc $brc)"; echo '```'; } >> "$R"
  grep -q "^(rc 0)$" <(tail -2 "$R") || fail "benchmark $name: non-zero exit"
  # A benchmark without a device reports CPU figures or says so and exits 0: not a GPU result.
  sed -n "/^### $name\$/,\$p" "$R" | grep -q "no CUDA device" && fail "benchmark $name: ran without a CUDA device"
}
shopt -s nullglob
benches=("$BUILD"/bench/bench_*)
((${#benches[@]})) || { echo "no benchmarks in $BUILD/bench" >> "$R"; fail "no benchmarks built"; }
for b in "${benches[@]}"; do [[ -x "$b" ]] && run_bench "$(basename "$b")" "$b"; done
# Whole vs exact tiles on the GPU, whole-process cgan_cartoonize runs (issue 13).
[[ -x "$BUILD/bench/bench_cartoonize" ]] &&
  run_bench "bench_cartoonize --sizes (cuda)" "$BUILD/bench/bench_cartoonize" --sizes --devices cuda --largest 4096
for py in bench/*.py; do run_bench "PyTorch $(basename "$py")" python3 "$py"; done
echo "benchmarks done at $(elapsed) s"
((${#FAILS[@]} == 0))
