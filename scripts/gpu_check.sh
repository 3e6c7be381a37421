#!/usr/bin/env bash
# Step 2 of the GPU check, run ON THE GPU MACHINE in the repository root with .gpu/ carried
# (made by scripts/gpu_prepare.sh here). One call does everything: the cuda-labelled tests,
# the other tests, every benchmark and the PyTorch side-by-side scripts; it writes one results
# file, $OUT/gpu_results.md (+ logs). Copy it to bench/results/<date>-<gpu>.md and commit it.
#
# Facts it is built on: the GPU machine has CUDA 13 (nvcc, cuBLAS), cuDNN 9 inside PyTorch's
# Python packages, cmake/ctest and python3 with torch, but no Debian packages and no network.
set -uo pipefail
ROOT="$PWD"
OUT="${OUT:-$ROOT/gpu_out}"
mkdir -p "$OUT"
T0=$SECONDS

# Paths baked in at build time start with /work/main (the build machine's checkout).
if [[ "$ROOT" != /work/main ]]; then
  if [[ -e /work/main ]]; then echo "warning: /work/main exists and is not this checkout" >&2
  else mkdir -p /work && ln -s "$ROOT" /work/main; fi
fi
rm -rf build-gpu && mkdir -p build-gpu
xz -dc .gpu/bundle.tar.xz | tar -C build-gpu -xf - || { echo "no .gpu/bundle.tar.xz: run scripts/gpu_prepare.sh first and carry .gpu" >&2; exit 2; }
if [[ -d build-gpu/shared && ! -e /work/shared ]]; then ln -s "$ROOT/build-gpu/shared" /work/shared; fi
export CGAN_SHARED_DIR=/work/shared CGAN_PYTHON="$(command -v python3)"

# CUDA libraries of this machine: the toolkit's, then PyTorch's wheels (cuDNN lives there).
libdirs="$ROOT/build-gpu/deps:$ROOT/build-gpu"
for pat in 'libcudnn.so.9' 'libcublas.so.13' 'libcublasLt.so.13' 'libcudart.so.13'; do
  f=$(find /usr/local/cuda/ /usr/local/cuda*/ /opt /usr/lib /usr/local/lib -name "$pat" -print 2>/dev/null | head -1)
  [[ -n "$f" ]] && libdirs="$libdirs:$(dirname "$f")"
done
export LD_LIBRARY_PATH="$libdirs:${LD_LIBRARY_PATH:-}"

R="$OUT/gpu_results.md"
{
  echo "# cgan_cuda GPU check"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- commit: $(tr '\n' ' ' < build-gpu/COMMIT 2>/dev/null)"
  echo "- GPU: $(nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader 2>&1 | head -1)"
  echo "- driver: $(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>&1 | head -1)"
  echo "- nvcc: $(nvcc --version 2>/dev/null | tail -1)"
  echo "- cuDNN library: $(ldd build-gpu/libcgan_cuda.so 2>/dev/null | awk '/libcudnn/{print $3}')"
  echo "- torch: $(python3 -c 'import torch;print(torch.__version__, "cudnn", torch.backends.cudnn.version())' 2>&1 | tail -1)"
  echo
  echo "## Tests"
  echo
  echo '```'
} > "$R"
fail=0
# cuda first: they are the point of this run.
ctest --test-dir build-gpu -L cuda --timeout 300 --output-on-failure > "$OUT/tests_cuda.txt" 2>&1 || fail=1
sed -n '/tests passed/,$p' "$OUT/tests_cuda.txt" >> "$R"
echo '```' >> "$R"
echo "cuda tests done at $((SECONDS - T0)) s"

echo -e "\n## Benchmarks\n" >> "$R"
# The device lease is short (15 minutes including the machine's start): benchmarks stop being
# started once CGAN_GPU_BUDGET_S seconds have gone, and each is capped, so the results file
# always comes back.
BUDGET=${CGAN_GPU_BUDGET_S:-420}
run_bench() {  # name, command...
  local name=$1; shift
  if (( SECONDS - T0 > BUDGET )); then
    echo -e "\n### $name\n\nnot run: time budget of $BUDGET s used up" >> "$R"; return
  fi
  echo "running $name ($((SECONDS - T0)) s)"
  { echo -e "\n### $name\n\n\`\`\`"; PYTHONUNBUFFERED=1 timeout 150 "$@" 2>&1; echo "(rc $?)"; echo '```'; } >> "$R"
}
for b in build-gpu/bench/bench_*; do [[ -x "$b" ]] && run_bench "$(basename "$b")" "$b"; done
for py in bench/*.py; do [[ -f "$py" ]] && run_bench "PyTorch $(basename "$py")" python3 "$py"; done
if (( SECONDS - T0 <= BUDGET + 60 )); then
  echo -e "\n## Other tests (cpu, slow) on this machine\n\n\`\`\`" >> "$R"
  ctest --test-dir build-gpu -LE cuda -E consumer -j 8 --timeout 300 --output-on-failure > "$OUT/tests_other.txt" 2>&1 || fail=1
  sed -n '/tests passed/,$p' "$OUT/tests_other.txt" >> "$R"
  echo '```' >> "$R"
fi
echo -e "\noverall tests: $([[ $fail -eq 0 ]] && echo PASS || echo FAIL); total $((SECONDS - T0)) s" >> "$R"
tail -40 "$R"
exit $fail
