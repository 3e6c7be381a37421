#!/usr/bin/env bash
# Step 2 of the GPU check, run ON THE GPU MACHINE in the repository root, with .gpu/ carried
# (made by scripts/gpu_prepare.sh). Runs every test executable (cuda-labelled ones are the
# point; cpu ones too, they are cheap), then every benchmark and the PyTorch side-by-side
# scripts, and writes one results file: $OUT/gpu_results.md (+ the raw logs).
# Copy it to bench/results/<date>-<gpu>.md and commit it.
set -uo pipefail
OUT="${OUT:-$PWD/gpu_out}"
mkdir -p "$OUT"
W=/tmp/cgan_gpu
rm -rf "$W" && mkdir -p "$W"
xz -dc .gpu/bundle.tar.xz | tar -C "$W" -xf -

# CUDA libraries of the GPU machine: toolkit first, then PyTorch's wheels (cuDNN lives there).
libdirs="$W/lib"
for pat in 'libcudnn.so.9' 'libcublas.so.13' 'libcublasLt.so.13' 'libcudart.so.13'; do
  d=$(find /usr/local/cuda*/ /usr/lib /opt /usr/local/lib -name "$pat" -print 2>/dev/null | head -1)
  [[ -n "$d" ]] && libdirs="$libdirs:$(dirname "$d")"
done
export LD_LIBRARY_PATH="$libdirs:${LD_LIBRARY_PATH:-}"
# Tests read these instead of the paths baked in at build time.
export CGAN_SHARED_DIR="$W/shared" CGAN_PYTHON="$(command -v python3)"

R="$OUT/gpu_results.md"
{
  echo "# cgan_cuda GPU check"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- commit: $(cat "$W/COMMIT" | tr '\n' ' ')"
  echo "- GPU: $(nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader 2>/dev/null)"
  echo "- driver: $(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null)"
  echo "- nvcc: $(nvcc --version 2>/dev/null | tail -1)"
  echo "- cuDNN: $(find / -name 'libcudnn.so.9*' 2>/dev/null | head -1)"
  echo "- torch: $(python3 -c 'import torch;print(torch.__version__, torch.backends.cudnn.version())' 2>/dev/null)"
  echo "- LD_LIBRARY_PATH: $LD_LIBRARY_PATH"
  echo
  echo "## Tests"
  echo
  echo '| executable | result | passed assertions / test cases |'
  echo '|---|---|---|'
} > "$R"
fail=0
for t in "$W"/tests/cuda_* "$W"/tests/cpu_* "$W"/tests/slow_*; do
  [[ -x "$t" ]] || continue
  name=$(basename "$t")
  timeout 600 "$t" -w NoTests > "$OUT/log_$name.txt" 2>&1
  rc=$?
  summary=$(grep -E 'All tests passed|test cases:' "$OUT/log_$name.txt" | tail -1)
  skipped=$(grep -c 'CGAN_SKIP' "$OUT/log_$name.txt")
  res=PASS; [[ $rc -ne 0 ]] && { res="FAIL (rc $rc)"; fail=1; }
  [[ $skipped -gt 0 ]] && res="$res, $skipped skipped"
  echo "| $name | $res | $summary |" >> "$R"
done
{
  echo
  echo "## Benchmarks"
  echo
  echo "Raw JSON lines per benchmark follow; human tables are in the logs."
} >> "$R"
for b in "$W"/bench/bench_*; do
  [[ -x "$b" ]] || continue
  name=$(basename "$b")
  timeout 300 "$b" > "$OUT/bench_$name.txt" 2>&1
  echo -e "\n### $name (rc $?)\n\n\`\`\`" >> "$R"
  cat "$OUT/bench_$name.txt" >> "$R"
  echo '```' >> "$R"
done
for py in "$W"/bench/*.py; do
  [[ -f "$py" ]] || continue
  name=$(basename "$py")
  PYTHONUNBUFFERED=1 timeout 300 python3 "$py" > "$OUT/py_$name.txt" 2>&1
  echo -e "\n### PyTorch: $name (rc $?)\n\n\`\`\`" >> "$R"
  cat "$OUT/py_$name.txt" >> "$R"
  echo '```' >> "$R"
done
# Keep the number of returned files within the device tool's limit (8): fold logs into one.
tail -n +1 "$OUT"/log_*.txt > "$OUT/test_logs.txt" 2>/dev/null && rm -f "$OUT"/log_*.txt
tail -n +1 "$OUT"/bench_*.txt "$OUT"/py_*.txt > "$OUT/bench_logs.txt" 2>/dev/null && rm -f "$OUT"/bench_*.txt "$OUT"/py_*.txt
echo "overall: $([[ $fail -eq 0 ]] && echo PASS || echo FAIL)" >> "$R"
cat "$R"
exit $fail
