#!/usr/bin/env bash
# stack_depth.sh - how deep a connection thread's stack goes (issue 3).
#
# Runs the Autobahn|Testsuite (../shared/autobahn/run.sh) and a burst of echo
# traffic against bench/'s tinyws_stack_probe (the Autobahn server's Config
# with the stack size from the command line), in debug and in release, while
# scripts/stack_sampler.py records the largest resident size of any
# connection thread's stack. Then reruns the suite with small stacks to show
# they survive. Prints one line per run.
#
# usage: scripts/stack_depth.sh [--quick]   (--quick: cases 1.*-7.* only)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AB="$ROOT/../shared/autobahn/run.sh"
CASES=(); [ "${1:-}" = "--quick" ] && CASES=(--cases '1.*,2.*,3.*,4.*,5.*,6.*,7.*')
cd "$ROOT/bench"
cargo build --quiet --bins
cargo build --quiet --release --bins
PORT=9140
run() { # profile stack_kib
  local prof="$1" kib="$2" out; out="$(mktemp -d /tmp/stack-depth-XXXXXX)"
  PORT=$((PORT + 1))
  "target/$prof/tinyws_stack_probe" "127.0.0.1:$PORT" $((kib * 1024)) >"$out/server.log" 2>&1 &
  local pid=$!
  sleep 0.3
  python3 "$ROOT/scripts/stack_sampler.py" "$pid" "$kib" "$out/sampler" &
  local ab_status=0
  "$AB" "ws://127.0.0.1:$PORT" --agent tinyws --out "$out/ab" "${CASES[@]}" >"$out/ab.log" 2>&1 || ab_status=$?
  # Echo traffic: many small messages, pipelined 16 KiB and 1 MiB messages.
  local load=ok
  for a in "--conns 64 --size 32 --inflight 1" "--conns 16 --size 16384 --inflight 4" "--conns 4 --size 1048576 --inflight 2"; do
    # shellcheck disable=SC2086
    target/release/tinyws-bench --drive "127.0.0.1:$PORT" --pid "$pid" $a --secs 1 >/dev/null 2>&1 || load=failed
  done
  touch "$out/sampler.stop"; sleep 0.2
  local alive=yes; kill -0 "$pid" 2>/dev/null || alive="NO (crashed: $(tail -1 "$out/server.log"))"
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  read -r max samples seen < "$out/sampler" || true
  printf '%-8s stack %4d KiB: max stack RSS %3s KiB over %s stack samples; server alive: %s; traffic: %s; %s\n' \
    "$prof" "$kib" "$max" "$seen" "$alive" "$load" "$(tail -1 "$out/ab.log")"
  [ "$ab_status" = 0 ] || true
}
run debug 72
run release 72
run debug 48
run release 32
