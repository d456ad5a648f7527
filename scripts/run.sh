#!/usr/bin/env bash
# Builds and runs the sanhak suite on its embedded defaults, in the foreground: the
# registry on var/registry.db, loaded (idempotently) with data/registry.textproto.
# Ctrl-C stops it cleanly; running again reuses the data.
#
# Environment: SANHAK_REGISTRY_LISTEN (default 127.0.0.1:50051), SANHAK_VAR (default var/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh sanhak_registry_server
var="${SANHAK_VAR:-var}"
mkdir -p "$var"
exec ./build/services/registry/sanhak_registry_server \
  --listen="${SANHAK_REGISTRY_LISTEN:-127.0.0.1:50051}" \
  --db="$var/registry.db" \
  --import=data/registry.textproto
