#!/usr/bin/env bash
# The demo: install dependencies, build, train a CartoonGAN generator briefly on the bundled
# data/ (GPU when there is one, else a small CPU run of a few minutes), then cartoonize
# data/samples with it.
#
#   bash scripts/run_demo.sh            # outputs in out/demo/
#
# VGG19 weights for the content loss: ../shared/weights/vgg19_conv4_4_caffe.safetensors if
# present, else $CGAN_VGG19, else random weights (a smoke test only; the trainer warns).
# Get real weights with scripts/download_vgg19.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
OUT="${CGAN_DEMO_OUT:-out/demo}"
BUILD="${CGAN_BUILD_DIR:-build}"
export PATH="$PATH:/usr/local/cuda/bin"

step() { echo; echo "== $*"; }
t_start=$SECONDS

if [[ -z "${CGAN_DEMO_SKIP_BUILD:-}" ]]; then
  step "dependencies"
  bash scripts/install_deps.sh
  step "build (a few minutes the first time)"
  bash scripts/build.sh
fi
for tool in cgan_train cgan_cartoonize; do
  [[ -x "$BUILD/$tool" ]] || { echo "error: $BUILD/$tool was not built" >&2; exit 1; }
done

VGG_ARGS=()
if [[ -f "$ROOT/../shared/weights/vgg19_conv4_4_caffe.safetensors" ]]; then
  VGG_ARGS=(--vgg "$ROOT/../shared/weights/vgg19_conv4_4_caffe.safetensors")
elif [[ -n "${CGAN_VGG19:-}" && -f "${CGAN_VGG19}" ]]; then
  VGG_ARGS=(--vgg "$CGAN_VGG19")
else
  echo "warning: no VGG19 weights (see scripts/download_vgg19.sh); the demo trains with"
  echo "         RANDOM VGG weights, so its output only shows that the pipeline runs."
  VGG_ARGS=(--vgg-random)
fi

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU; then
  DEVICE=cuda
  # 30 photos / batch 4 = 7 steps per epoch: 10 init + 30 adversarial epochs, 280 steps.
  TRAIN_ARGS=(--device cuda --size 256 --batch 4 --init-epochs 10 --epochs 30
              --checkpoint-every 100 --sample-every 70)
else
  DEVICE=cpu
  # No GPU: 96x96 crops, 2 init + 2 adversarial epochs (28 steps, a few minutes on 2 cores).
  TRAIN_ARGS=(--device cpu --size 96 --batch 4 --init-epochs 2 --epochs 2
              --checkpoint-every 14 --sample-every 14)
fi

rm -rf "$OUT"
step "training on data/ ($DEVICE)"
"$BUILD/cgan_train" --photos data/photos --cartoons data/cartoons --samples data/samples \
  --out "$OUT" "${VGG_ARGS[@]}" "${TRAIN_ARGS[@]}"

step "cartoonizing data/samples with the trained generator"
"$BUILD/cgan_cartoonize" --weights "$OUT/generator.safetensors" --arch seed --device "$DEVICE" \
  data/samples -o "$OUT/cartoonized"

HAYAO="$ROOT/../shared/weights/cartoongan_hayao.safetensors"
if [[ -f "$HAYAO" ]]; then
  step "for comparison: data/samples through the official pretrained Hayao generator"
  "$BUILD/cgan_cartoonize" --weights "$HAYAO" --arch official --device "$DEVICE" --max-side 450 \
    data/samples -o "$OUT/hayao"
fi

step "done in $((SECONDS - t_start)) s; outputs:"
echo "  $OUT/cartoonized/       data/samples cartoonized by the trained generator"
[[ -d "$OUT/hayao" ]] && echo "  $OUT/hayao/             data/samples through the official Hayao model"
echo "  $OUT/samples/           training-time sample grids (photo | generated)"
echo "  $OUT/losses.png         loss curves (losses.csv: one row per step)"
echo "  $OUT/generator.safetensors   the generator (cgan_cartoonize --arch seed --weights ...)"
echo "  $OUT/checkpoint.safetensors  resume with: $BUILD/cgan_train --resume $OUT --out $OUT"
