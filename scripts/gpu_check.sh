#!/usr/bin/env bash
# Step 2 of the GPU check, run ON THE GPU MACHINE in the repository root with .gpu/ carried
# (made by scripts/gpu_prepare.sh). One call of at most 6 minutes, in this order:
#   1. every cuda-labelled test, with CGAN_REQUIRE_GPU=1: a skip is a failure, and so is any
#      test ctest reports Skipped or Not Run, or finding no tests at all;
#   2. compute-sanitizer (memcheck, racecheck, synccheck, initcheck) over the kernel tests and
#      the edge-smoothing test (racecheck runs a reduced set of its cases: see below);
#   3. the benchmarks, then the PyTorch side-by-side scripts (bench/pytorch_*.py).
# Every step prints one line, "PASS  name  detail (N s)" or "FAIL  ...", as it ends; the same
# lines close $OUT/gpu_results.md (GPU, driver, CUDA/cuDNN versions, commit, per-test results,
# sanitizer findings, benchmark figures) with the verdict. Whatever happens (a failure, a stage's
# deadline, a missing tool) that file is written, and the script exits non-zero unless every
# step passed. The raw logs go to $OUT/gpu_logs.tar.gz (the device tool returns at most 8 files
# from $OUT). Summarize the results in bench/results/<date>-<gpu>.md. No cpu/slow tests here:
# CI runs those.
#
# Time budget (seconds since the start; the device tool allows 600 s a call and 15 min of device
# time a session, a machine's start ~30-60 s of it). Each stage ends at its deadline whatever
# the stage before it did, so one hang cannot starve the next stage:
#   setup       unpack the bundle, versions                     ~10-20 s (the 2026-12-04 run)
#   1. tests    until TESTS_END=100; each test at most 60 s     ~20 s when nothing hangs
#   2. sanitize until SAN_END=220; a run at most 30 s (kernel tests) or 60 s (the smooth test;
#               its reduced racecheck 45 s)                     ~60-90 s expected
#   3. bench    until BENCH_END=335; a benchmark at most 60 s, bench_cartoonize --sizes 40 s
#               (--largest 1024: 1024x768 whole and tiled)      ~90-120 s expected
#   results     the steps and verdict, the log archive          < 5 s
# So the script ends by ~340 s (+5 s kill grace) in the worst case: give the device tool
# timeout_s 420. Each deadline and cap can be overridden (CGAN_GPU_*, below) for slow runs such
# as the emulation build.
#
# racecheck on cuda_test_smooth: the whole test (1920x1080 images, real photos, chains across
# many tiles) ran past 60 s under racecheck; it runs only the small cases named by
# CGAN_GPU_RACECHECK_SMOOTH_TESTS (a Catch2 test spec: commas separate alternatives), which
# still launch every smoothing kernel. hysteresis_pass_kernel races in shared memory by design
# (kernels/smooth_hysteresis.cu: neighbours' reads race with promotions, values only rise from
# weak to strong, the loop ends after a sweep that wrote nothing), and racecheck reports those
# hazards. A racecheck run whose hazards all lie in the kernels named by
# CGAN_GPU_RACECHECK_KNOWN (default hysteresis_pass_kernel; empty: none) and whose test passed
# is a PASS that says how many it saw; any other hazard is a FAIL.
#
# It needs only bash, coreutils, tar, python3 (to unpack: no xz there) and ctest.
# CGAN_GPU_CHECK_BUILD=DIR uses an existing build folder instead of the bundle: with
# build-emu/ (the emulation build) this machine runs the same mechanics with the cuda tests
# executing on the emulated device; with build/ on a GPU-less machine every cuda test fails.
set -uo pipefail
ROOT="$PWD"
OUT="${OUT:-$ROOT/build-gpu-check}"
mkdir -p "$OUT"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/cgan-gpu-check.XXXXXX")"
T0=$SECONDS
elapsed() { echo $((SECONDS - T0)); }

TESTS_END=${CGAN_GPU_TESTS_END:-100}
SAN_END=${CGAN_GPU_SANITIZE_END:-220}
BENCH_END=${CGAN_GPU_BENCH_END:-335}
TEST_TIMEOUT=${CGAN_GPU_TEST_TIMEOUT:-60}         # one cuda test (the emulation build needs more)
SAN_CAP=${CGAN_GPU_SANITIZE_CAP:-30}              # one sanitizer run of a kernel test
SAN_SMOOTH_CAP=${CGAN_GPU_SANITIZE_SMOOTH_CAP:-60}  # memcheck/synccheck/initcheck of the smooth test
SAN_RACE_SMOOTH_CAP=${CGAN_GPU_RACECHECK_SMOOTH_CAP:-45}
BENCH_CAP=${CGAN_GPU_BENCH_CAP:-60}               # one benchmark or PyTorch script
SIZES_CAP=${CGAN_GPU_SIZES_CAP:-40}               # bench_cartoonize --sizes
SIZES_LARGEST=${CGAN_GPU_SIZES_LARGEST:-1024}
RACECHECK_SMOOTH_TESTS=${CGAN_GPU_RACECHECK_SMOOTH_TESTS:-"cuda smooth: every option,cuda smooth: stage launchers write every output element,cuda smooth: tensor entry point*"}
RACECHECK_KNOWN=${CGAN_GPU_RACECHECK_KNOWN-hysteresis_pass_kernel}
RACECHECK_PRINT_LIMIT=200  # more reports than this: not all seen, so never counted as known

R="$OUT/gpu_results.md"
STEPS=()
NFAIL=0
# step PASS|FAIL NAME DETAIL START: one line on stdout now, and in the results' "Steps" section.
step() {
  local line
  line=$(printf '%s  %-44s %s (%d s)' "$1" "$2" "$3" "$(($(elapsed) - $4))")
  STEPS+=("$line")
  [[ $1 == PASS ]] || NFAIL=$((NFAIL + 1))
  echo "$line"
}
finish() {
  {
    echo
    echo "## Steps"
    echo
    echo '```'
    printf '%s\n' "${STEPS[@]}"
    echo '```'
    echo
    echo "## Verdict"
    echo
    if ((NFAIL == 0 && ${#STEPS[@]} > 0)); then
      echo "PASS: all ${#STEPS[@]} steps (total $(elapsed) s)"
    else
      echo "FAIL: $NFAIL of ${#STEPS[@]} steps failed (total $(elapsed) s)"
    fi
  } >> "$R"
  tar -C "$WORK" -czf "$OUT/gpu_logs.tar.gz" . 2>/dev/null ||
    python3 -c 'import sys,tarfile; t=tarfile.open(sys.argv[1],"w:gz"); t.add(sys.argv[2],"."); t.close()' \
      "$OUT/gpu_logs.tar.gz" "$WORK" 2>/dev/null
  rm -rf "$WORK"
  echo
  sed -n '/^## Verdict$/,$p' "$R"
  echo "results: $R; logs: $OUT/gpu_logs.tar.gz"
}
trap finish EXIT

{
  echo "# cgan_cuda GPU check"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
} > "$R"

# ---- setup -----------------------------------------------------------------------------------
t=$(elapsed)
BUILD="${CGAN_GPU_CHECK_BUILD:-}"
if [[ -z "$BUILD" ]]; then
  BUILD=build-gpu
  rm -rf build-gpu
  if [[ ! -f .gpu/bundle.tar.xz ]]; then
    step FAIL setup "no .gpu/bundle.tar.xz: run scripts/gpu_prepare.sh on the build machine and carry .gpu" "$t"
    exit 2
  fi
  if ! python3 scripts/gpu_bundle.py unpack .gpu/bundle.tar.xz build-gpu 2> "$WORK/unpack.txt"; then
    step FAIL setup "unpacking .gpu/bundle.tar.xz failed: $(tail -1 "$WORK/unpack.txt")" "$t"
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
if [[ ! -d "$BUILD" ]]; then
  step FAIL setup "no build folder $BUILD" "$t"
  exit 2
fi
export CGAN_PYTHON="${CGAN_PYTHON:-$(command -v python3)}"
export CGAN_REQUIRE_GPU=1
export PATH="$PATH:/usr/local/cuda/bin"

commit="$(tr '\n' ' ' 2>/dev/null < "$BUILD/COMMIT" || git rev-parse HEAD 2>/dev/null)"
commit="${commit% }"
gpu="$(nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader 2>/dev/null | head -1 || true)"
{
  echo "- commit: $commit"
  echo "- build: $BUILD"
  echo "- GPU: $gpu"
  echo "- driver: $(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1 || true)"
  echo "- nvcc: $(nvcc --version 2>/dev/null | tail -1)"
  echo "- cuDNN library: $(ldd "$BUILD/libcgan_cuda.so" 2>/dev/null | awk '/libcudnn/{print $3}')"
  echo "- torch: $(timeout 60 python3 -c 'import torch;print(torch.__version__, "cudnn", torch.backends.cudnn.version())' 2>&1 | tail -1)"
  echo "- budget: tests until ${TESTS_END} s, sanitizers until ${SAN_END} s, benchmarks until ${BENCH_END} s"
} >> "$R"
step PASS setup "build $BUILD, commit ${commit:-unknown}, GPU ${gpu:-none found}" "$t"

# ---- 1. cuda tests ---------------------------------------------------------------------------
{
  echo
  echo "## 1. cuda tests (CGAN_REQUIRE_GPU=1)"
  echo
  echo '```'
} >> "$R"
t=$(elapsed)
left=$((TESTS_END - t))
if ((left < 10)); then
  echo "not run: the ${TESTS_END} s deadline had passed" >> "$R"
  echo '```' >> "$R"
  step FAIL "1 cuda tests" "not run (deadline ${TESTS_END} s)" "$t"
else
  (cd "$BUILD" && timeout -k 5 "$left" ctest -L cuda -j 4 --timeout "$TEST_TIMEOUT" --output-on-failure \
    > "$WORK/tests_cuda.txt" 2>&1)
  rc=$?
  results=$(grep -E '^ *[0-9]+/[0-9]+ Test +#' "$WORK/tests_cuda.txt" | sed -E 's/ +\.{3,} */ /')
  [[ -n "$results" ]] && echo "$results" >> "$R"
  grep -E 'tests passed|Total Test time' "$WORK/tests_cuda.txt" >> "$R"
  echo '```' >> "$R"
  ran=0; passed=0; skipped=0
  if [[ -n "$results" ]]; then
    ran=$(grep -c . <<< "$results")
    passed=$(grep -cE ' Passed +[0-9.]+ sec' <<< "$results")
    skipped=$(grep -cE 'Skipped|Not Run' <<< "$results")
  fi
  # "105 - cuda:conv algorithms: ... (Timeout)" -> "conv algorithms: ... (Timeout)"
  bad=$(sed -n '/The following tests FAILED:/,$p' "$WORK/tests_cuda.txt" |
        sed -nE 's/^[[:space:]]+[0-9]+ - (cuda:)?(.*\))( [^()]*)?$/\2/p')
  nbad=$(grep -c . <<< "$bad")
  detail="$passed/$ran passed"
  ((skipped > 0)) && detail+=", $skipped Skipped/Not Run"
  if ((nbad > 0)); then
    detail+="; not passed: $(head -3 <<< "$bad" | paste -sd ';' - | sed 's/;/; /g')"
    ((nbad > 3)) && detail+="; and $((nbad - 3)) more"
  fi
  if ((rc == 124 || rc == 137)); then
    step FAIL "1 cuda tests" "stopped at the ${TESTS_END} s deadline; $detail" "$t"
  elif ((ran == 0)); then
    step FAIL "1 cuda tests" "none ran (ctest rc $rc)" "$t"
  elif ((rc != 0 || skipped > 0 || passed != ran)); then
    step FAIL "1 cuda tests" "$detail" "$t"
  else
    step PASS "1 cuda tests" "$detail" "$t"
  fi
fi

# ---- 2. compute-sanitizer --------------------------------------------------------------------
echo -e "\n## 2. compute-sanitizer over the kernel tests\n" >> "$R"
# All hazards of a racecheck log lie in the known kernels, none was left unprinted, and the
# test itself passed (Catch2's last line; the exit status is the sanitizer's).
known_races_only() {  # log -> prints the number of hazard reports; status 0 if all are known
  local log=$1 reports accesses unknown k
  [[ -n "$RACECHECK_KNOWN" ]] || return 1
  grep -q 'All tests passed' "$log" || return 1
  reports=$(grep -cE '(Error|Warning): Race reported' "$log")
  ((reports > 0 && reports < RACECHECK_PRINT_LIMIT)) || return 1
  # Any other kind of report (not a race) is not known.
  grep -E '^========= +(Error|Warning|Invalid|Program hit)' "$log" | grep -vq 'Race reported' && return 1
  accesses=$(grep -E ' access at ' "$log")
  [[ -n "$accesses" ]] || return 1
  unknown="$accesses"
  for k in $RACECHECK_KNOWN; do unknown=$(grep -vE "(::| )$k\(" <<< "$unknown"); done
  [[ -z "$unknown" ]] || return 1
  echo "$reports"
}
SAN="$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)"
SHOW_LOGS=()
if [[ -z "$SAN" ]]; then
  echo "compute-sanitizer not found" >> "$R"
  step FAIL "2 compute-sanitizer" "not found (PATH, /usr/local/cuda*/bin)" "$(elapsed)"
else
  echo "$("$SAN" --version 2>/dev/null | tail -1)" >> "$R"
  echo >> "$R"
  echo "| tool | test | result | s |" >> "$R"
  echo "|---|---|---|---|" >> "$R"
  for tool in memcheck racecheck synccheck initcheck; do
    for t_exe in "$BUILD"/tests/cuda_test_kernels_* "$BUILD"/tests/cuda_test_smooth; do
      [[ -x "$t_exe" && "$t_exe" != *.cmake ]] || continue
      name=$(basename "$t_exe")
      label="$tool $name"
      args=()
      cap=$SAN_CAP
      plimit=20
      if [[ $name == cuda_test_smooth ]]; then
        cap=$SAN_SMOOTH_CAP
        if [[ $tool == racecheck ]]; then
          args=("$RACECHECK_SMOOTH_TESTS")
          cap=$SAN_RACE_SMOOTH_CAP
          label+=" (small cases)"
        fi
      fi
      [[ $tool == racecheck ]] && plimit=$RACECHECK_PRINT_LIMIT
      t=$(elapsed)
      left=$((SAN_END - t))
      if ((left < 10)); then
        echo "| $tool | $name | not run: sanitizer deadline ${SAN_END} s | |" >> "$R"
        step FAIL "2 $label" "not run (deadline ${SAN_END} s)" "$t"
        continue
      fi
      limit=$((left < cap ? left : cap))
      log="$WORK/san_${tool}_${name}.txt"
      # Options before the program; the program's own arguments after it. (initcheck's
      # --track-unused-memory is a flag without a value in recent compute-sanitizer, off by
      # default: "--track-unused-memory no" made it take "no" for the program.)
      timeout -k 5 "$limit" "$SAN" --tool "$tool" --error-exitcode 99 --print-limit "$plimit" \
        "$t_exe" "${args[@]}" > "$log" 2>&1
      src=$?
      secs=$(($(elapsed) - t))
      summary=$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$log" | tail -1 | sed -E 's/^=+ *//')
      case $src in
        0)
          echo "| $tool | $name | clean ${summary:+($summary)} | $secs |" >> "$R"
          step PASS "2 $label" "clean${summary:+: $summary}" "$t" ;;
        124|137)
          echo "| $tool | $name | timed out at $limit s | $secs |" >> "$R"
          SHOW_LOGS+=("$log")
          step FAIL "2 $label" "timed out at $limit s" "$t" ;;
        99)
          SHOW_LOGS+=("$log")
          if [[ $tool == racecheck ]] && n=$(known_races_only "$log"); then
            echo "| $tool | $name | known hazards only: $n reports, all in $RACECHECK_KNOWN (by design); test passed | $secs |" >> "$R"
            step PASS "2 $label" "$n hazard reports, all in $RACECHECK_KNOWN (by design); test passed" "$t"
          else
            echo "| $tool | $name | **findings**: ${summary} (log san_${tool}_${name}.txt) | $secs |" >> "$R"
            step FAIL "2 $label" "findings: ${summary:-see log}" "$t"
          fi ;;
        *)
          SHOW_LOGS+=("$log")
          echo "| $tool | $name | test failed under the sanitizer (rc $src) | $secs |" >> "$R"
          step FAIL "2 $label" "rc $src: $(grep -m1 -E '^=+ +[A-Z]|FAILED' "$log" | sed -E 's/^=+ *//' | cut -c1-80)" "$t" ;;
      esac
    done
  done
  # The first lines of every log that was not clean, for the record (all logs: gpu_logs.tar.gz).
  for log in "${SHOW_LOGS[@]}"; do
    echo -e "\n$(basename "$log"):\n\n\`\`\`" >> "$R"
    { grep -E '^=========' "$log" || tail -5 "$log"; } | head -25 >> "$R"
    echo '```' >> "$R"
  done
fi

# ---- 3. benchmarks and PyTorch side by side --------------------------------------------------
echo -e "\n## 3. Benchmarks\n" >> "$R"
run_bench() {  # name, cap in s, command...
  local name=$1 cap=$2
  shift 2
  local t left limit log brc
  t=$(elapsed)
  left=$((BENCH_END - t))
  if ((left < 15)); then
    echo -e "\n### $name\n\nnot run: benchmark deadline ${BENCH_END} s" >> "$R"
    step FAIL "3 $name" "not run (deadline ${BENCH_END} s)" "$t"
    return
  fi
  limit=$((left < cap ? left : cap))
  log="$WORK/bench_$(printf '%s' "$name" | tr -c 'A-Za-z0-9_.-' '_').txt"
  PYTHONUNBUFFERED=1 timeout -k 5 "$limit" "$@" > "$log" 2>&1
  brc=$?
  { echo -e "\n### $name\n\n\`\`\`"; cat "$log"; echo "(rc $brc)"; echo '```'; } >> "$R"
  if ((brc == 124 || brc == 137)); then
    step FAIL "3 $name" "stopped at its ${limit} s cap" "$t"
  elif ((brc != 0)); then
    step FAIL "3 $name" "rc $brc: $(grep -v '^[#{]' "$log" | tail -1 | cut -c1-80)" "$t"
  elif grep -q "no CUDA device" "$log"; then
    # A benchmark without a device reports CPU figures or says so and exits 0: no GPU result.
    step FAIL "3 $name" "ran without a CUDA device" "$t"
  else
    step PASS "3 $name" "$(grep -c '^ *{' "$log") results" "$t"
  fi
}
shopt -s nullglob
benches=()
for b in "$BUILD"/bench/bench_*; do [[ -x "$b" && -f "$b" ]] && benches+=("$b"); done
if ((${#benches[@]} == 0)); then
  echo "no benchmarks in $BUILD/bench" >> "$R"
  step FAIL "3 benchmarks" "none built in $BUILD/bench" "$(elapsed)"
fi
for b in "${benches[@]}"; do run_bench "$(basename "$b")" "$BENCH_CAP" "$b"; done
# Whole vs exact tiles on the GPU, whole-process runs (issue 13): 1024x768 only here (the
# 2026-12-04 run's 4096x3072 tiled row alone ran past 75 s).
[[ -x "$BUILD/bench/bench_cartoonize" ]] &&
  run_bench "bench_cartoonize --sizes (cuda, largest ${SIZES_LARGEST})" "$SIZES_CAP" \
    "$BUILD/bench/bench_cartoonize" --sizes --devices cuda --largest "$SIZES_LARGEST"
for py in bench/pytorch_*.py; do run_bench "PyTorch $(basename "$py")" "$BENCH_CAP" python3 "$py"; done
# The official generator's training step beside bench_train_step's official rows (issue 25).
run_bench "PyTorch pytorch_train_step.py --arch official" "$BENCH_CAP" \
  python3 bench/pytorch_train_step.py --arch official
((NFAIL == 0))
