#!/usr/bin/env bash
# Fetches the official CartoonGAN generators (Chen et al. 2018; the four styles the authors
# released) as the public repository mnicnc404/CartoonGan-tensorflow publishes them: 94
# per-layer float32 .npy files per style (PyTorch layout), pinned to one commit. Every file is
# checked against models/cartoongan_official.sha256, then the style is converted with
# cgan_convert into models/cartoongan_<style>.safetensors, whose __metadata__ says what it is
# (arch official, channel order BGR, style, source, commit), so cgan_cartoonize needs no flags:
#
#   bash scripts/download_models.sh [hayao|hosoda|paprika|shinkai|all]   # default: hayao
#   build/cgan_cartoonize --style hayao photo.jpg -o cartoon.jpg
#
# Environment: CGAN_MODELS_URL replaces the base URL (layout <base>/<style>/<name>.npy, e.g.
# a local mirror); CGAN_MODELS the output folder (default models/); CGAN_BUILD_DIR the build
# folder holding cgan_convert (built if missing).
#
# Offline, an HTTP error or a checksum mismatch: an error naming the file, exit 1, and nothing
# is left behind (the files go to a temporary folder; the result is renamed into place).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
COMMIT=2f26a525f8b604b8e98fb84ebad0af5aef727944
REPO=mnicnc404/CartoonGan-tensorflow
DEFAULT_URL="https://raw.githubusercontent.com/$REPO/$COMMIT/style_transfer/cartoongan/pretrained_weights"
BASE="${CGAN_MODELS_URL:-$DEFAULT_URL}"
BASE="${BASE%/}"
DEST="${CGAN_MODELS:-models}"
BUILD="${CGAN_BUILD_DIR:-build}"
MANIFEST="$ROOT/models/cartoongan_official.sha256"
STYLES=(hayao hosoda paprika shinkai)

usage() { echo "usage: bash scripts/download_models.sh [hayao|hosoda|paprika|shinkai|all]" >&2; exit 2; }
die() { echo "error: $*" >&2; exit 1; }

case "${1:-hayao}" in
  all) WANT=("${STYLES[@]}") ;;
  hayao|hosoda|paprika|shinkai) WANT=("${1:-hayao}") ;;
  -h|--help) usage ;;
  *) echo "error: unknown style '$1'" >&2; usage ;;
esac
[[ -f "$MANIFEST" ]] || die "$MANIFEST is missing"

# One fetcher that every Debian machine has one of.
if command -v curl >/dev/null 2>&1; then
  fetch() { curl -fsSL --retry 2 --connect-timeout 20 -o "$2" "$1"; }
elif command -v wget >/dev/null 2>&1; then
  fetch() { wget -q --tries=2 --timeout=20 -O "$2" "$1"; }
elif command -v python3 >/dev/null 2>&1; then
  fetch() {
    python3 - "$1" "$2" <<'EOF'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=20) as r, open(sys.argv[2], "wb") as f:
    f.write(r.read())
EOF
  }
else
  die "need curl, wget or python3 to download"
fi

CONVERT="$BUILD/cgan_convert"
if [[ ! -x "$CONVERT" ]]; then
  echo "== building cgan_convert ($BUILD/)"
  export PATH="$PATH:/usr/local/cuda/bin"
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD" --target cgan_convert
fi

mkdir -p "$DEST"
TMP=""
cleanup() { [[ -n "$TMP" && -d "$TMP" ]] && rm -rf "$TMP"; return 0; }
trap cleanup EXIT
trap 'exit 130' INT TERM

for style in "${WANT[@]}"; do
  out="$DEST/cartoongan_$style.safetensors"
  if [[ -s "$out" && -z "${CGAN_MODELS_FORCE:-}" ]]; then
    echo "already there: $out (CGAN_MODELS_FORCE=1 fetches again)"
    continue
  fi
  # Inside DEST, so the final rename stays on one file system (atomic).
  TMP="$(mktemp -d "$DEST/.download-$style-XXXXXX")"
  mkdir "$TMP/npy"
  mapfile -t entries < <(grep -E "^[0-9a-f]{64}  $style/[A-Za-z0-9_.]+\.npy$" "$MANIFEST")
  [[ ${#entries[@]} -eq 94 ]] || die "$MANIFEST: expected 94 files for $style, found ${#entries[@]}"
  echo "== $style: 94 files from $BASE/$style/"
  n=0
  for entry in "${entries[@]}"; do
    sum="${entry%%  *}"
    rel="${entry#*  }"
    file="$TMP/npy/${rel#*/}"
    fetch "$BASE/$rel" "$file" || die "cannot download $BASE/$rel (offline, or not there?)"
    got="$(sha256sum "$file" | cut -d' ' -f1)"
    [[ "$got" == "$sum" ]] ||
      die "$rel: checksum mismatch (got $got, expected $sum): refusing $BASE/$rel"
    n=$((n + 1))
    if (( n % 20 == 0 )); then echo "   $n/94 verified"; fi
  done
  "$CONVERT" "$TMP/npy" -o "$TMP/model.safetensors" \
    --metadata arch=official --metadata channel_order=BGR --metadata style="$style" \
    --metadata source="$REPO/style_transfer/cartoongan/pretrained_weights/$style" \
    --metadata commit="$COMMIT" --metadata url="$BASE/$style" >/dev/null
  mv -f "$TMP/model.safetensors" "$out"
  rm -rf "$TMP"
  TMP=""
  echo "done: $out ($(du -h "$out" | cut -f1); all 94 checksums match)"
done
echo "use it with: $BUILD/cgan_cartoonize --style ${WANT[0]} photo.jpg -o cartoon.jpg"
