#!/usr/bin/env bash
# Fetches ImageNet VGG19 weights for cgan_train's content loss: timm's `vgg19.tv_in1k`
# (torchvision's VGG19 weights repackaged as safetensors, keys `features.N.weight/bias`)
# from the Hugging Face hub.
#
#   bash scripts/download_vgg19.sh [DEST]      # default DEST: weights/vgg19.tv_in1k.safetensors
#   cgan_train --vgg weights/vgg19.tv_in1k.safetensors ...   (or export CGAN_VGG19=...)
#
# The file has no "preprocessing" metadata, so the trainer uses torchvision's input
# convention (RGB, [0,1], ImageNet mean/std), which is the right one for these weights.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST="${1:-weights/vgg19.tv_in1k.safetensors}"
URL="https://huggingface.co/timm/vgg19.tv_in1k/resolve/main/model.safetensors"

if [[ -s "$DEST" ]]; then
  echo "already there: $DEST"
  exit 0
fi
command -v curl >/dev/null 2>&1 || { echo "error: curl is required" >&2; exit 1; }
mkdir -p "$(dirname "$DEST")"
echo "== downloading $URL (about 550 MB) -> $DEST"
# To a temporary name first: an interrupted download never looks like a complete file.
curl -fL --retry 3 --progress-bar -o "$DEST.part" "$URL"
# A safetensors file starts with an 8-byte little-endian header size and then '{'.
if [[ "$(head -c 9 "$DEST.part" | tail -c 1)" != "{" ]]; then
  echo "error: $DEST.part is not a safetensors file (proxy or error page?)" >&2
  exit 1
fi
mv "$DEST.part" "$DEST"
echo "done: $DEST"
echo "use it with: cgan_train --vgg $DEST ...   or   export CGAN_VGG19=$PWD/$DEST"
