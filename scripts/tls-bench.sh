#!/usr/bin/env bash
# tls-bench.sh - wss:// side by side, one command: tinyws's Server with TLS,
# tungstenite behind rustls, and a raw rustls echo (no WebSocket), all one
# thread per connection on the same rustls and ring, with the ECDSA P-256
# test certificate of tests/certs (scripts/tls-test-certs.sh). Interleaved
# rounds (the order rotates), medians and ratios from the same run:
#   - server CPU (utime+stime from /proc) per 32 B and per 16 KiB echo;
#   - connections per second and server CPU per connection (TLS handshake,
#     upgrade, one 32 B echo, close), with a client that never resumes and
#     with one that resumes every session (checked);
#   - idle RSS per connection at 1,000 connections (each after one echo);
#   - the stripped `tinyws` tool with and without `tls`.
# Loopback only; about 5 minutes. The load average is printed before and
# after: on a shared machine read the ratios, not the absolute figures.
#
# usage: scripts/tls-bench.sh [--rounds N (5)] [--secs S (2)] [--idle N (1000)]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ulimit -n "$(ulimit -Hn)"
command -v strip >/dev/null || { apt-get update -q >/dev/null; apt-get install -y -q binutils >/dev/null; }

ROOT_TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BENCH_TARGET="$ROOT/bench/target"
echo "== building (release)" >&2
(cd bench && CARGO_TARGET_DIR="$BENCH_TARGET" cargo build --quiet --release --features tls \
  --bin tls_bench --bin tls_tinyws_echo --bin tls_tung_echo --bin tls_raw_echo)
for f in "" tls; do
  CARGO_TARGET_DIR="$ROOT_TARGET" cargo build --quiet --release -p tinyws-cli ${f:+--features "$f"}
  strip -o "$ROOT_TARGET/release/tinyws-stripped${f:+-$f}" "$ROOT_TARGET/release/tinyws"
done

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cpu: $(nproc) x $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
echo "rustls: $(grep -A1 '^name = "rustls"$' bench/Cargo.lock | sed -n 's/version = //p' | tr -d '"'), ring provider"
B="$BENCH_TARGET/release"
C="$ROOT/tests/certs"
CLK_TCK="$(getconf CLK_TCK)" "$B/tls_bench" \
  --tinyws "$B/tls_tinyws_echo" --tung "$B/tls_tung_echo" --raw "$B/tls_raw_echo" \
  --cert "$C/a.pem" --key "$C/a.key" --ca "$C/ca.pem" \
  --size-plain "$ROOT_TARGET/release/tinyws-stripped" --size-tls "$ROOT_TARGET/release/tinyws-stripped-tls" \
  "$@"
