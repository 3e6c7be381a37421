#!/usr/bin/env bash
# The README's test command: installs what it needs, builds, runs every test.
# CUDA tests report "Skipped" (not "Passed") on a machine without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh --with-test-deps
bash scripts/build.sh
cd build
ctest --output-on-failure -j "${CGAN_TEST_JOBS:-2}" --timeout 1500
