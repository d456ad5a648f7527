#!/usr/bin/env bash
# Builds and runs every test (GoogleTest under ctest). Exits non-zero when any fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh

# The deployment manifests' test (tests/deploy) runs on the npm packages its
# package-lock.json pins: installed with `npm ci` when node_modules does not hold that
# lock yet (from npm's cache when it has them), skipped when it does.
deploy_tests=tests/deploy
if ! cmp -s "$deploy_tests/package-lock.json" "$deploy_tests/node_modules/.sanhak-lock.json"; then
  (cd "$deploy_tests" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error)
  cp "$deploy_tests/package-lock.json" "$deploy_tests/node_modules/.sanhak-lock.json"
fi

cd build
ctest --output-on-failure -j"$(nproc)" --timeout 600 "$@"
