#!/usr/bin/env bash
# Makes the development certificate authority and certificates the local suite runs
# mutual TLS with (scripts/run.sh calls it), with the openssl command-line tool:
#   DIR/ca.crt, ca.key                 the development CA (EC P-256, 10 years)
#   DIR/{registry,events,analytics}.*  one per service: URI SAN
#                                      spiffe://sanhak.local/service/<name>, DNS localhost,
#                                      IP 127.0.0.1 (+ SANHAK_TLS_EXTRA_SANS), server and
#                                      client use (a service presents it both ways)
#   DIR/admin.crt, admin.key           sanhakctl's client certificate, URI SAN
#                                      spiffe://sanhak.local/user/admin
# DIR is the first argument, else $SANHAK_VAR/tls (SANHAK_VAR defaults to var).
# Idempotent: what exists and is still good (verifies against the CA, valid for at least
# another 30 days, same SANs) is kept; only what is missing or stale is made, so running
# services pick up a renewed certificate within their --tls_refresh_s.
# SANHAK_TLS_EXTRA_SANS: more SANs for the service certificates, in openssl's syntax
# ("DNS:sanhak.example.kr,IP:10.0.0.5"), when the services listen on other addresses.
# Development only: the CA key lies beside the certificates, unencrypted.
set -euo pipefail

dir="${1:-${SANHAK_VAR:-var}/tls}"
mkdir -p "$dir"
chmod 700 "$dir"
umask 077
cd "$dir"

days_ca=3650
days_leaf=825
renew_before=$((30 * 24 * 3600))

if [[ ! -s ca.crt || ! -s ca.key ]] || ! openssl x509 -in ca.crt -noout -checkend "$renew_before" >/dev/null; then
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout ca.key -out ca.crt -days "$days_ca" -sha256 \
    -subj "/O=sanhak development/CN=sanhak development CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" 2>/dev/null
  chmod 644 ca.crt
  echo "dev-certs: made a development CA in $dir/ca.crt"
fi

# issue NAME SANS EXTENDED_KEY_USAGE: NAME.crt and NAME.key signed by the CA, unless the
# ones there are still good.
issue() {
  local name=$1 sans=$2 usage=$3
  if [[ -s "$name.crt" && -s "$name.key" ]] &&
    openssl verify -CAfile ca.crt "$name.crt" >/dev/null 2>&1 &&
    openssl x509 -in "$name.crt" -noout -checkend "$renew_before" >/dev/null &&
    [[ "$(openssl x509 -in "$name.crt" -noout -ext subjectAltName 2>/dev/null | tail -n +2 |
      tr -d ' ')" == "$(echo "$sans" | sed 's/IP:/IPAddress:/g')" ]]; then
    return 0
  fi
  local extensions
  extensions=$(mktemp)
  cat >"$extensions" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyAgreement
extendedKeyUsage=$usage
subjectAltName=$sans
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid:always
EOF
  # The new pair is written beside the old one and renamed over it, key first then
  # certificate; a service re-reading in between reads again at its next refresh.
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$name.key.new" -out "$name.csr" -subj "/O=sanhak development/CN=$name" 2>/dev/null
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key \
    -set_serial "0x$(openssl rand -hex 12)" -days "$days_leaf" -sha256 \
    -extfile "$extensions" -out "$name.crt.new" 2>/dev/null
  rm -f "$name.csr" "$extensions"
  chmod 644 "$name.crt.new"
  mv -f "$name.key.new" "$name.key"
  mv -f "$name.crt.new" "$name.crt"
  echo "dev-certs: made $dir/$name.crt ($sans)"
}

service_sans="DNS:localhost,IP:127.0.0.1${SANHAK_TLS_EXTRA_SANS:+,$SANHAK_TLS_EXTRA_SANS}"
for service in registry events analytics; do
  issue "$service" "URI:spiffe://sanhak.local/service/$service,$service_sans" \
    "serverAuth,clientAuth"
done
issue admin "URI:spiffe://sanhak.local/user/admin" "clientAuth"
