#!/usr/bin/env bash
# Idle memory per wss:// connection and server CPU per TLS connection, with
# examples/wss_idle.rs (release, the test certificates: ECDSA P-256):
#   - RSS: a TLS echo Server; 50 connections to warm it up, then N more,
#     each after one echo; (RSS after - RSS before) / N, and the resident
#     thread stack per connection from /proc/PID/smaps;
#   - CPU: 2,000 connections in a row (TLS handshake, upgrade, one echo,
#     close); the server's user+system time / 2,000.
# Loopback only; about a minute. usage: scripts/wss-idle.sh [N (1000)]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
N="${1:-1000}"
ulimit -n "$(ulimit -Hn)"
cargo build --quiet --release --features tls --example wss_idle
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/wss_idle"
C="$ROOT/tests/certs"
out="$(mktemp)"; a="$(mktemp)"; b="$(mktemp)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -f "$out" "$a" "$b"' EXIT
wait_for() { # FILE PATTERN
  for _ in $(seq 600); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "wss-idle.sh: timed out waiting for $2" >&2; exit 1
}
"$BIN" server "$C/a.pem" "$C/a.key" >"$out" 2>/dev/null & SP=$!; pids+=("$SP")
wait_for "$out" '^[0-9]'
PORT="$(head -1 "$out")"
"$BIN" hold "$PORT" "$C/ca.pem" 50 >"$a" & pids+=("$!"); wait_for "$a" ready
sleep 1
R0="$(awk '/VmRSS/ {print $2}' "/proc/$SP/status")"
"$BIN" hold "$PORT" "$C/ca.pem" "$N" >"$b" & pids+=("$!"); wait_for "$b" ready
sleep 2
R1="$(awk '/VmRSS/ {print $2}' "/proc/$SP/status")"
STACK="$(python3 - "$SP" <<'PY'
import re, sys
total, size = 0, None
for line in open("/proc/%s/smaps" % sys.argv[1]):
    m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) ", line)
    if m:
        size = (int(m.group(2), 16) - int(m.group(1), 16)) // 1024
    elif line.startswith("Rss:") and size == 64:
        total += int(line.split()[1])
print(total)
PY
)"
python3 -c "print('idle wss connections: %d; RSS per connection: %.1f KiB; resident stack per connection thread: %.1f KiB' % ($N, ($R1 - $R0) / $N, $STACK / ($N + 50)))"
kill "${pids[@]:1}" 2>/dev/null || true
"$BIN" churn "$PORT" "$C/ca.pem" 50
T0="$(awk '{print $14 + $15}' "/proc/$SP/stat")"
"$BIN" churn "$PORT" "$C/ca.pem" 2000
T1="$(awk '{print $14 + $15}' "/proc/$SP/stat")"
python3 -c "print('server CPU per wss connection (TLS handshake, upgrade, one echo, close): %.0f us' % (($T1 - $T0) * 1e6 / $(getconf CLK_TCK) / 2000))"
