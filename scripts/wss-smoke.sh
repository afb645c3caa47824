#!/usr/bin/env bash
# wss:// against an OpenSSL client: the tool built with TLS runs `tinyws echo
# --tls-cert --tls-key` with the test certificates, and scripts/ws_smoke.py
# runs its echo checks (text and binary up to 1 MiB, fragments, ping, close,
# a second connection) over Python's ssl module, trusting only the test CA,
# checking the certificate against 127.0.0.1 and requiring ALPN http/1.1.
# Loopback only; a few seconds after the build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
command -v python3 >/dev/null || { apt-get update -q >/dev/null; apt-get install -y -q python3 >/dev/null; }
cargo build --quiet -p tinyws-cli --features tls
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/tinyws"
log="$(mktemp)"
"$BIN" echo --addr 127.0.0.1:0 --tls-cert tests/certs/a.pem --tls-key tests/certs/a.key 2>"$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"' EXIT
port=""
for _ in $(seq 200); do
  port="$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -1)"
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
if [ -z "$port" ]; then
  echo "wss-smoke.sh: tinyws did not start:" >&2
  cat "$log" >&2
  exit 1
fi
WS_SMOKE_CA="$ROOT/tests/certs/ca.pem" WS_SMOKE_TIMEOUT=30 python3 scripts/ws_smoke.py echo "127.0.0.1:$port"
echo "wss-smoke.sh: wss:// echo passed with an OpenSSL client"
