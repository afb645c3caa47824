#!/usr/bin/env bash
# Makes the test-only certificates in tests/certs/ with openssl: a private CA
# and two server certificates (a and b, each with its own key) for localhost
# and 127.0.0.1, as the README's "wss on a LAN" recipe does for a device,
# and other-ca.pem, a second CA that signed none of them (the wrong CA, for
# tests that must see verification fail).
# They are committed, so the tests need no openssl; rerun this only to
# change them. Their keys are public: never trust this CA anywhere.
#
#   scripts/tls-test-certs.sh [DIR]
#
# DIR (default tests/certs) lets a test make a fresh set of its own, as
# scripts/browser-test.sh does for the CA it has Chromium trust.
#
# The CA and the certificates are valid for 100 years so the committed
# files do not expire under the tests.
set -euo pipefail
command -v openssl >/dev/null || { apt-get update -q >/dev/null; apt-get install -y -q openssl >/dev/null; }
DIR="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/certs}"
mkdir -p "$DIR"
cd "$DIR"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 36500 \
  -keyout "$tmp/ca.key" -out ca.pem -subj "/CN=tinyws test CA" \
  -addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
for name in a b; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$name.key" -out "$tmp/$name.csr" -subj "/CN=tinyws test server $name" 2>/dev/null
  openssl x509 -req -in "$tmp/$name.csr" -CA ca.pem -CAkey "$tmp/ca.key" -CAcreateserial \
    -days 36500 -out "$name.pem" -extfile <(printf '%s\n' \
      "subjectAltName=DNS:localhost,IP:127.0.0.1" \
      "extendedKeyUsage=serverAuth" \
      "basicConstraints=critical,CA:false" \
      "keyUsage=critical,digitalSignature") 2>/dev/null
done
rm -f ca.srl
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 36500 \
  -keyout "$tmp/other-ca.key" -out other-ca.pem -subj "/CN=tinyws other test CA" \
  -addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
echo "tls-test-certs.sh: wrote ca.pem, a.pem, a.key, b.pem, b.key, other-ca.pem in $DIR"
