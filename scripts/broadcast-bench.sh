#!/usr/bin/env bash
# The broadcast benchmark: one producer, 100 and 1,000 subscribers on
# loopback, with and without one stalled subscriber. Prints a Markdown table
# for the README; takes about half a minute. Arguments go to the program:
#
#   scripts/broadcast-bench.sh [--subscribers 100,1000] [--stall-ms 200]
#       [--payload 1024] [--rate 10] [--secs 3]
#
# 1,000 subscribers need about 2,100 file descriptors (both ends of each
# connection are in this one process), so the soft limit is raised first.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NEED=4096
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$NEED" ]; then
  hard="$(ulimit -Hn)"
  if [ "$hard" = unlimited ] || [ "$hard" -ge "$NEED" ]; then
    ulimit -n "$NEED"
  else
    ulimit -n "$hard"
    echo "broadcast-bench: ulimit -n is $hard; 1,000 subscribers may not fit" >&2
  fi
fi
cd "$ROOT"
cargo build --release --example broadcast_bench --quiet
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET" in /*) ;; *) TARGET="$ROOT/$TARGET" ;; esac
exec timeout 300 "$TARGET/release/examples/broadcast_bench" "$@"
