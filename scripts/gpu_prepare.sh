#!/usr/bin/env bash
# Step 1 of the GPU check, run HERE (the build machine): build everything into build-gpu/ and
# pack what the GPU machine needs into .gpu/bundle.tar.xz (ignored by git, carried by the
# device tool). The GPU machine has CUDA 13, cuBLAS 13, cuDNN 9 (PyTorch's wheel) and
# python3+torch, but no OpenCV C++ libraries, OpenBLAS, Catch2 or stb, and only 64 MiB travel
# with a call: so we ship our binaries plus the non-CUDA shared libraries they load,
# xz-compressed, and use the GPU machine's own CUDA/cuDNN libraries.
#
#   bash scripts/gpu_prepare.sh [--without-hayao]
# By default ../shared/weights/cartoongan_hayao.safetensors and the conformance images are
# packed too (about 45 MB), so the conformance tests run on the GPU; they are left out when
# ../shared is missing, when --without-hayao is given, or when the bundle would not fit.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/cuda/bin"
bash scripts/install_deps.sh --with-test-deps
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-gpu -j "${CGAN_JOBS:-$(nproc)}"

# The bundle mirrors build-gpu/ (same relative paths, ctest files included) so that, unpacked
# into <repo>/build-gpu on the GPU machine with /work/main pointing at <repo>, every path baked
# in at build time (tests' data and script paths, ctest's command lines) resolves there too.
rm -rf .gpu && mkdir -p .gpu/stage/deps
(cd build-gpu && find . -path ./CMakeFiles -prune -o -path '*/CMakeFiles' -prune -o \
   -path './tests/consumer_work' -prune -o \
   \( -name 'libcgan_cuda.so*' -o -name 'CTestTestfile.cmake' -o -name '*_tests-*.cmake' \
      -o -name '*_include-*.cmake' -o \( -type f -executable \( -name 'cgan_*' -o -name 'cpu_*' \
      -o -name 'cuda_*' -o -name 'slow_*' -o -name 'bench_*' \) \) \) -print) |
  tar -C build-gpu -cf - -T - | tar -C .gpu/stage -xf -

# Non-CUDA, non-libc shared libraries our binaries load (OpenCV, OpenBLAS and their deps).
skip='libcuda\.|libcudart|libcublas|libcudnn|libnvrtc|libc\.so|libm\.so|libstdc\+\+|libgcc_s|libpthread|libdl\.so|librt\.so|ld-linux|libcgan_cuda'
find .gpu/stage -type f \( -executable -o -name '*.so*' \) | while read -r f; do
  ldd "$f" 2>/dev/null | awk '/=> \//{print $3}'
done | sort -u | grep -Ev "$skip" | while read -r lib; do cp -L "$lib" .gpu/stage/deps/; done

WITH_HAYAO=1
[[ "${1:-}" == "--without-hayao" || ! -f ../shared/weights/cartoongan_hayao.safetensors ]] && WITH_HAYAO=0
git rev-parse HEAD > .gpu/stage/COMMIT
git diff --quiet HEAD || echo "dirty" >> .gpu/stage/COMMIT
pack() { tar -C .gpu/stage -cf - "$@" | xz -T0 -6 > .gpu/bundle.tar.xz; }
tree_bytes=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
limit=$((62 * 1024 * 1024))  # the device tool carries 64 MiB in all: tree + bundle
if ((WITH_HAYAO)); then
  mkdir -p .gpu/stage/shared/weights .gpu/stage/shared/conformance
  cp ../shared/README.md .gpu/stage/shared/
  cp ../shared/weights/cartoongan_hayao.safetensors .gpu/stage/shared/weights/
  cp -r ../shared/conformance/official_hayao .gpu/stage/shared/conformance/
  pack .
  if (( $(stat -c %s .gpu/bundle.tar.xz) + tree_bytes > limit )); then
    echo "note: with the Hayao weights the bundle would exceed the 64 MiB carry limit; packing without"
    rm -rf .gpu/stage/shared
    pack .
  fi
else
  pack .
fi
ls -l .gpu/bundle.tar.xz
echo "Now run on the GPU machine (device tool): command 'bash scripts/gpu_check.sh', carry ['.gpu']"
