#!/usr/bin/env bash
# Step 1 of the GPU check, run HERE (the build machine): build into build-gpu/ and pack exactly
# what the GPU machine needs into .gpu/bundle.tar.xz, the only thing under .gpu/ (ignored by
# git, carried by the device tool). The GPU machine has CUDA 13, cuBLAS 13, cuDNN 9 (PyTorch's
# wheel) and python3+torch, but no OpenCV C++ libraries, OpenBLAS, Catch2 or stb, no xz, and
# only 64 MiB travel with a call (tree + carried paths, plain bytes). So the bundle holds:
#   - the cuda test executables, the benchmarks and libcgan_cuda (stripped), with the ctest
#     files (same relative paths as build-gpu/, so ctest runs there as here);
#   - the non-CUDA shared libraries they load (OpenCV, OpenBLAS, LAPACK, ...);
#   - ../shared's Hayao weights (byte-shuffled for xz) and conformance images.
# No cpu/slow tests: CI runs those. Packing uses python3 (scripts/gpu_bundle.py), unpacking too.
#
#   bash scripts/gpu_prepare.sh [--without-hayao]
# It ends with the device tool's carry line and the payload in MiB counted as that tool
# counts it, and fails (exit 1) above 60 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/cuda/bin"
LIMIT_MIB=60
WITH_HAYAO=1
[[ "${1:-}" == "--without-hayao" ]] && WITH_HAYAO=0
if ((WITH_HAYAO)) && [[ ! -f ../shared/weights/cartoongan_hayao.safetensors ]]; then
  echo "error: ../shared/weights/cartoongan_hayao.safetensors is missing (the GPU conformance" >&2
  echo "       tests need it); give --without-hayao to pack without it (they will then FAIL there)" >&2
  exit 1
fi

[[ -n "${CGAN_GPU_PREPARE_NO_DEPS:-}" ]] || bash scripts/install_deps.sh --with-test-deps
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-gpu -j "${CGAN_JOBS:-$(nproc)}"

STAGE="$(mktemp -d "${TMPDIR:-/tmp}/cgan-gpu-stage.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/deps"

# ctest's files for the whole tree (small; the include files must exist for ctest to parse),
# but executables only for what runs there: cuda tests and benchmarks.
(cd build-gpu && find . -path ./CMakeFiles -prune -o -path '*/CMakeFiles' -prune -o \
   -path './tests/consumer_work' -prune -o \
   \( -name 'CTestTestfile.cmake' -o -name '*_tests-*.cmake' -o -name '*_include-*.cmake' \
      -o -name 'libcgan_cuda.so*' \
      -o \( -type f -executable \( -path './tests/cuda_*' -o -path './bench/bench_*' \) \) \) \
   -print) | tar -C build-gpu -cf - -T - | tar -C "$STAGE" -xf -
find "$STAGE" -type f \( -name 'cuda_*' -o -name 'bench_*' -o -name 'libcgan_cuda.so*' \) \
  ! -name '*.cmake' -exec strip --strip-unneeded {} +

# Non-CUDA, non-libc shared libraries our binaries load. libstdc++/libgcc_s stay out: torch on
# that machine shares the process-wide LD_LIBRARY_PATH and needs its system's own.
skip='libcuda\.|libcudart|libcublas|libcudnn|libnvrtc|libc\.so|libm\.so|libstdc\+\+|libgcc_s|libpthread|libdl\.so|librt\.so|ld-linux|libcgan_cuda'
find "$STAGE" -type f \( -executable -o -name '*.so*' \) ! -name '*.cmake' | while read -r f; do
  ldd "$f" 2>/dev/null | awk '/=> \//{print $3}'
done | sort -u | grep -Ev "$skip" | while read -r lib; do cp -L "$lib" "$STAGE/deps/"; done

if ((WITH_HAYAO)); then
  mkdir -p "$STAGE/shared/weights" "$STAGE/shared/conformance"
  cp ../shared/README.md "$STAGE/shared/"
  cp ../shared/weights/cartoongan_hayao.safetensors "$STAGE/shared/weights/"
  cp -r ../shared/conformance/official_hayao "$STAGE/shared/conformance/"
fi
{ git rev-parse HEAD; git diff --quiet HEAD || echo "dirty"; } > "$STAGE/COMMIT"
pwd > "$STAGE/SOURCE_DIR"  # paths baked in at build time start here; gpu_check.sh links it

rm -rf .gpu && mkdir -p .gpu
echo "== packing $(du -sh "$STAGE" | cut -f1) (python3 lzma; about a minute)"
python3 scripts/gpu_bundle.py pack "$STAGE" .gpu/bundle.tar.xz

tree_bytes=$(python3 scripts/gpu_bundle.py tree)
carry_bytes=$(python3 scripts/gpu_bundle.py size .gpu)
total=$((tree_bytes + carry_bytes))
mib() { python3 -c "print('%.1f' % ($1 / 1048576))"; }
echo "tree (tracked + untracked, not ignored): $(mib "$tree_bytes") MiB; .gpu: $(mib "$carry_bytes") MiB"
echo "payload: $(mib "$total") MiB (limit 64 MiB; this script fails above $LIMIT_MIB MiB)"
echo "Hayao weights and conformance images: $( ((WITH_HAYAO)) && echo included || echo "NOT included")"
echo 'carry: [".gpu"]'
echo "run there (device tool): command 'bash scripts/gpu_check.sh', carry [\".gpu\"], timeout_s 420"
if ((total > LIMIT_MIB * 1048576)); then
  echo "error: payload $(mib "$total") MiB is above $LIMIT_MIB MiB: the device tool would refuse it" >&2
  exit 1
fi
