#!/usr/bin/env bash
# bench.sh - build and run the side-by-side benchmark: tinyws's examples/echo,
# a tungstenite echo and a raw TCP echo, one process each, interleaved rounds,
# medians, ratios and targets; then idle memory at 1,000 and 10,000
# connections and the size-optimised binary sizes. Loopback only; about
# 5 minutes.
#
# usage: scripts/bench.sh [--rounds N (6)] [--secs S] [--idle 1000,10000]
#                         [--skip-idle] [--only-idle]
#   Extra arguments go to the load generator (bench/src/main.rs).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# 10,000 idle connections need 10,000 descriptors in the server and as many
# in the load generator.
ulimit -n "$(ulimit -Hn)"
echo "open files limit: $(ulimit -n)" >&2

ROOT_TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BENCH_TARGET="$ROOT/bench/target"

echo "== building (release)" >&2
CARGO_TARGET_DIR="$ROOT_TARGET" cargo build --quiet --release --example echo
(cd bench && CARGO_TARGET_DIR="$BENCH_TARGET" cargo build --quiet --release --bins)

echo "== building the size-optimised echo servers" >&2
size_env=(CARGO_PROFILE_RELEASE_OPT_LEVEL=z CARGO_PROFILE_RELEASE_LTO=true
          CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 CARGO_PROFILE_RELEASE_PANIC=unwind
          CARGO_PROFILE_RELEASE_STRIP=symbols CARGO_PROFILE_RELEASE_DEBUG=false)
env "${size_env[@]}" CARGO_TARGET_DIR="$ROOT_TARGET/size" cargo build --quiet --release --example echo
(cd bench && env "${size_env[@]}" CARGO_TARGET_DIR="$BENCH_TARGET/size" cargo build --quiet --release --bin tung_echo --bin tinyws_echo_many --bin tcp_echo)
SIZE_TINYWS="$ROOT_TARGET/size/release/examples/echo"
SIZE_TUNG="$BENCH_TARGET/size/release/tung_echo"
SIZE_NOLOG="$BENCH_TARGET/size/release/tinyws_echo_many"
SIZE_TCP="$BENCH_TARGET/size/release/tcp_echo"
strip "$SIZE_TINYWS" "$SIZE_TUNG" "$SIZE_NOLOG" "$SIZE_TCP" 2>/dev/null || true

echo "== machine" >&2
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cpu: $(nproc) x $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
echo "kernel: $(uname -r); $(ldd --version | head -1)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "rustc: $(rustc --version)"

B="$BENCH_TARGET/release"
CLK_TCK="$(getconf CLK_TCK)" "$B/tinyws-bench" \
  --tinyws "$ROOT_TARGET/release/examples/echo" \
  --many "$B/tinyws_echo_many" \
  --tung "$B/tung_echo" \
  --tcp "$B/tcp_echo" \
  --size-tinyws "$SIZE_TINYWS" --size-tung "$SIZE_TUNG" --size-tinyws-nolog "$SIZE_NOLOG" --size-tcp "$SIZE_TCP" \
  "$@"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
