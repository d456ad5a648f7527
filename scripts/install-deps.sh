#!/usr/bin/env bash
# Installs the Debian bookworm packages sanhak builds, tests and runs with. Safe to run
# again: when every package is present it does nothing (and needs no network).
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake pkg-config
  # gRPC, protobuf, abseil (C++), and the .proto files of gRPC's health and reflection
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev grpc-proto
  # storage, cache
  libsqlite3-dev libhiredis-dev redis-server
  # tests
  libgtest-dev libgmock-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root (or install them)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
