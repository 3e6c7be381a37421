#!/usr/bin/env bash
# The demo: install dependencies, build, then
#   1. cartoonize data/samples with the official pretrained Hayao generator and write one
#      side-by-side grid (photo | cartoon): what CartoonGAN does;
#   2. train a generator briefly on the bundled data/ (GPU when there is one, else a small CPU
#      run of a minute or two): that the training pipeline runs, not what it learns.
#
#   bash scripts/run_demo.sh            # outputs in out/demo/
#
# Hayao weights: ../shared/weights/cartoongan_hayao.safetensors, models/cartoongan_hayao.safetensors
# (scripts/download_models.sh), or downloaded now when the network allows; without them step 1
# says how to get them and the demo goes on with step 2.
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

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU; then
  DEVICE=cuda
else
  DEVICE=cpu
fi
rm -rf "$OUT"
mkdir -p "$OUT"

step "1. data/samples through the official CartoonGAN Hayao generator"
HAYAO=""
for f in "$ROOT/../shared/weights/cartoongan_hayao.safetensors" \
         "${CGAN_MODELS:-$ROOT/models}/cartoongan_hayao.safetensors"; do
  if [[ -f "$f" ]]; then HAYAO="$f"; break; fi
done
if [[ -z "$HAYAO" && -z "${CGAN_DEMO_NO_DOWNLOAD:-}" ]]; then
  echo "no Hayao weights here yet: trying scripts/download_models.sh hayao (43 MB)"
  if CGAN_BUILD_DIR="$BUILD" bash scripts/download_models.sh hayao; then
    HAYAO="${CGAN_MODELS:-$ROOT/models}/cartoongan_hayao.safetensors"
  fi
fi
GRID="$OUT/hayao_grid.jpg"
if [[ -n "$HAYAO" ]]; then
  # Official preprocessing: longer side 450 (PIL bicubic), BGR; the grid rows are 256 px high.
  "$BUILD/cgan_cartoonize" --weights "$HAYAO" --arch official --device "$DEVICE" --max-side 450 \
    data/samples -o "$OUT/hayao" --grid "$GRID"
else
  GRID=""
  echo "SKIPPED: the official Hayao weights are not available (offline, no ../shared)."
  echo "  Get them on a machine with network access:  bash scripts/download_models.sh hayao"
  echo "  (or all four styles: ... all), then run this demo again, or directly:"
  echo "  $BUILD/cgan_cartoonize --style hayao data/samples -o out/hayao --grid out/hayao.jpg"
fi

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

if [[ "$DEVICE" == cuda ]]; then
  # 30 photos / batch 4 = 7 steps per epoch: 10 init + 30 adversarial epochs, 280 steps.
  TRAIN_ARGS=(--device cuda --size 256 --batch 4 --init-epochs 10 --epochs 30
              --checkpoint-every 100 --sample-every 70)
else
  # No GPU: 96x96 crops, 2 init + 2 adversarial epochs (28 steps, a minute or two on 2 cores).
  TRAIN_ARGS=(--device cpu --size 96 --batch 4 --init-epochs 2 --epochs 2
              --checkpoint-every 14 --sample-every 14)
fi

step "2. a short training run on data/ ($DEVICE): the pipeline end to end"
"$BUILD/cgan_train" --photos data/photos --cartoons data/cartoons --samples data/samples \
  --out "$OUT" "${VGG_ARGS[@]}" "${TRAIN_ARGS[@]}"

step "3. data/samples through the briefly trained generator"
"$BUILD/cgan_cartoonize" --weights "$OUT/generator.safetensors" --arch seed --device "$DEVICE" \
  data/samples -o "$OUT/cartoonized"

step "done in $((SECONDS - t_start)) s; outputs:"
if [[ -n "$GRID" ]]; then
  echo "  $GRID   LOOK AT THIS: data/samples | the official Hayao cartoons"
  echo "  $OUT/hayao/             the Hayao cartoons, one file per sample"
else
  echo "  (no Hayao grid: get the official weights with scripts/download_models.sh hayao)"
fi
echo "  $OUT/cartoonized/       data/samples through the briefly trained generator"
echo "  $OUT/samples/           training-time sample grids (photo | generated)"
echo "  $OUT/losses.png         loss curves (losses.csv: one row per step)"
echo "  $OUT/generator.safetensors   the generator (cgan_cartoonize --weights ...)"
echo "  $OUT/checkpoint.safetensors  resume with: $BUILD/cgan_train --resume $OUT --out $OUT"
echo
echo "What the training run shows: the whole pipeline (data, edge-smoothing, VGG content loss,"
echo "initialization phase, adversarial phase, checkpoints) runs. What it cannot show: a model"
if [[ $DEVICE == cpu ]]; then
  echo "that cartoonizes: 28 CPU steps at 96 px are far from the paper's 10 + 100+ epochs, and"
  echo "$OUT/cartoonized/ is at best a blurred copy of the photo under a checkerboard texture"
  echo "(the barely trained generator's transposed convolutions), or still a grey checkerboard,"
  echo "not a cartoon. The Hayao grid shows what a trained one does."
else
  echo "that cartoonizes: 280 steps are far from the paper's 10 + 100+ epochs; compare"
  echo "$OUT/cartoonized/ with the Hayao grid."
fi
