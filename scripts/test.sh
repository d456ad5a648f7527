#!/usr/bin/env bash
# Builds and runs every test (GoogleTest under ctest). Exits non-zero when any fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
cd build
ctest --output-on-failure -j"$(nproc)" --timeout 600 "$@"
