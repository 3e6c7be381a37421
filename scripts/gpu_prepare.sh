#!/usr/bin/env bash
# Step 1 of the GPU check, run HERE (the build machine): build everything into build-gpu/ and
# pack what the GPU machine needs into .gpu/bundle.tar.xz (ignored by git, carried by the
# device tool). The GPU machine has CUDA 13, cuBLAS 13, cuDNN 9 (PyTorch's wheel) and
# python3+torch, but no OpenCV C++ libraries, OpenBLAS, Catch2 or stb, and only 64 MiB travel
# with a call: so we ship our binaries plus the non-CUDA shared libraries they load,
# xz-compressed, and use the GPU machine's own CUDA/cuDNN libraries.
#
#   bash scripts/gpu_prepare.sh [--with-hayao]
# --with-hayao also packs ../shared/weights/cartoongan_hayao.safetensors and the conformance
# images (about 45 MB more), so the conformance test runs on the GPU too.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/cuda/bin"
bash scripts/install_deps.sh --with-test-deps
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-gpu -j "${CGAN_JOBS:-$(nproc)}"

rm -rf .gpu && mkdir -p .gpu/stage/lib .gpu/stage/bin .gpu/stage/tests .gpu/stage/bench
cp -a build-gpu/libcgan_cuda.so* .gpu/stage/lib/
find build-gpu -maxdepth 1 -type f -executable -name 'cgan_*' -exec cp {} .gpu/stage/bin/ \;
find build-gpu/tests -maxdepth 1 -type f -executable \( -name 'cpu_*' -o -name 'cuda_*' -o -name 'slow_*' \) \
  -exec cp {} .gpu/stage/tests/ \;
find build-gpu/bench -maxdepth 1 -type f -executable -name 'bench_*' -exec cp {} .gpu/stage/bench/ \;
cp bench/*.py .gpu/stage/bench/ 2>/dev/null || true

# Non-CUDA, non-libc shared libraries our binaries load (OpenCV, OpenBLAS and their deps).
skip='libcuda\.|libcudart|libcublas|libcudnn|libnvrtc|libc\.so|libm\.so|libstdc\+\+|libgcc_s|libpthread|libdl\.so|librt\.so|ld-linux|libcgan_cuda'
for f in .gpu/stage/lib/libcgan_cuda.so .gpu/stage/bin/* .gpu/stage/tests/* .gpu/stage/bench/bench_*; do
  [[ -f "$f" && -x "$f" || "$f" == *.so ]] || continue
  ldd "$f" 2>/dev/null | awk '/=> \//{print $3}'
done | sort -u | grep -Ev "$skip" | while read -r lib; do cp -L "$lib" .gpu/stage/lib/; done

if [[ "${1:-}" == "--with-hayao" && -d ../shared ]]; then
  mkdir -p .gpu/stage/shared/weights .gpu/stage/shared/conformance
  cp ../shared/README.md .gpu/stage/shared/
  cp ../shared/weights/cartoongan_hayao.safetensors .gpu/stage/shared/weights/
  cp -r ../shared/conformance/official_hayao .gpu/stage/shared/conformance/
fi
git rev-parse HEAD > .gpu/stage/COMMIT
git diff --quiet HEAD || echo "dirty" >> .gpu/stage/COMMIT
tar -C .gpu/stage -cf - . | xz -T0 -6 > .gpu/bundle.tar.xz
rm -rf .gpu/stage
ls -l .gpu/bundle.tar.xz
echo "Now run on the GPU machine (device tool): command 'bash scripts/gpu_check.sh', carry ['.gpu']"
