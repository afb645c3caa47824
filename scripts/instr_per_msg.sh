#!/usr/bin/env bash
# instr_per_msg.sh - user-space instructions per echoed message, by function,
# counted by valgrind's callgrind (stable on a loaded machine, unlike CPU time).
#
# Runs BINARY (an echo server that prints its address on its first line)
# under callgrind twice, drives it for 1 s and for 4 s with the bench's load
# generator, and divides the difference in instructions by the difference in
# messages, so start-up and handshakes cancel out. Needs valgrind and a
# release build of bench/ (cd bench && cargo build --release --bins).
#
# usage: scripts/instr_per_msg.sh BINARY [--kind raw] [--conns 4] [--size 32]
#                                 [--inflight 1] [--top 25]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="${BENCH:-$ROOT/bench/target/release/tinyws-bench}"
bin="$1"; shift
kind=(); conns=4; size=32; inflight=1; top=25
while [ $# -gt 0 ]; do
  case "$1" in
    --kind) kind=(--kind "$2"); shift 2;;
    --conns) conns="$2"; shift 2;;
    --size) size="$2"; shift 2;;
    --inflight) inflight="$2"; shift 2;;
    --top) top="$2"; shift 2;;
    *) echo "unknown argument $1" >&2; exit 2;;
  esac
done
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

run() {  # run SECS: prints the message count; leaves $work/cg.SECS
  local secs="$1" pid addr
  RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$work/cg.$secs" \
    "$bin" 127.0.0.1:0 > "$work/banner" 2> "$work/valgrind.$secs" &
  pid=$!
  for _ in $(seq 1 300); do
    addr="$(grep -oE '[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+:[0-9]+' "$work/banner" | head -1 || true)"
    [ -n "$addr" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || { echo "no address from $bin" >&2; kill "$pid"; exit 1; }
  "$BENCH" --drive "$addr" --pid "$pid" "${kind[@]}" --conns "$conns" --size "$size" \
    --inflight "$inflight" --secs "$secs" | awk '{print $1}'
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

short="$(run 1)"
long="$(run 4)"
python3 - "$work/cg.1" "$work/cg.4" "$short" "$long" "$top" <<'PY'
import re, subprocess, sys

def load(path):
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", "--auto=no", path],
                         capture_output=True, text=True, check=True).stdout
    fns = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(\S.*?)(?: \[.*\])?$", line)
        if m and "PROGRAM TOTALS" not in line:
            name = m.group(2).split(":", 1)[-1]
            fns[name] = fns.get(name, 0) + int(m.group(1).replace(",", ""))
    return fns

a, b = load(sys.argv[1]), load(sys.argv[2])
msgs = int(sys.argv[4]) - int(sys.argv[3])
rows = sorted(((b.get(k, 0) - a.get(k, 0)) / msgs, k) for k in set(a) | set(b))[::-1]
print("%.0f instructions per message (%d messages in the difference)" % (sum(v for v, _ in rows), msgs))
for v, k in rows[: int(sys.argv[5])]:
    print("%8.1f  %s" % (v, k[:110]))
PY
