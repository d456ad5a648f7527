#!/usr/bin/env bash
# Installs the Debian bookworm packages sanhak builds, tests and runs with. Safe to run
# again: when every package is present it does nothing (and needs no network).
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake pkg-config
  # the fuzz pass (scripts/test.sh): clang, and libFuzzer with clang's sanitizer runtimes
  # (libclang_rt.fuzzer-x86_64.a)
  clang libclang-rt-14-dev
  # gRPC, protobuf, abseil (C++), and the .proto files of gRPC's health and reflection
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev grpc-proto
  # storage, cache
  libsqlite3-dev libhiredis-dev redis-server
  # the cluster engine: libpq to talk to PostgreSQL, and the server itself, which the
  # tests start (initdb) on a loopback port and scripts/run.sh --postgresql runs
  libpq-dev postgresql-15
  # page token MACs (HMAC-SHA256); the openssl command makes the development CA and
  # certificates (scripts/dev-certs.sh, which scripts/run.sh calls)
  libssl-dev openssl
  # bearer tokens (JWT, ES256/RS256; common/auth/jwt_verifier)
  libjwt-dev
  # the IANA time zone names (tzdata.zi) and zone files the services accept
  tzdata
  # the /metrics HTTP endpoint
  libcpp-httplib-dev
  # sanhakctl report --out=FILE.xlsx: the Excel workbook writer
  libxlsxwriter-dev
  # tests
  libgtest-dev libgmock-dev
  # sanhakctl's tests read its output back as others will: -o yaml with PyYAML, the
  # .xlsx report with openpyxl
  python3-yaml python3-openpyxl
  # the Kubernetes manifests' test (tests/deploy): Node.js's test runner and npm (its
  # kubectl comes pinned from npm: Debian's kubernetes-client 1.20 cannot render kustomize v5)
  nodejs npm
  # the monitoring tests (tests/monitoring): promtool checks and unit-tests the alert rules
  # (only the command is used; where systemd runs, the package also enables a Prometheus)
  prometheus
)

# A package whose command is already on PATH from another source counts as present: a
# Node.js that bundles npm conflicts with Debian's npm package.
declare -A command_of=([nodejs]=node [npm]=npm)

missing=()
for p in "${packages[@]}"; do
  if [ -n "${command_of[$p]:-}" ] && command -v "${command_of[$p]}" >/dev/null; then continue; fi
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
