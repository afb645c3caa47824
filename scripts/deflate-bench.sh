#!/usr/bin/env bash
# deflate-bench.sh - permessage-deflate side by side: tinyws against Node `ws`
# and Python `websockets`, each server in its own process, on loopback.
# Prints Markdown tables with ratios from the same run (README.md,
# "Compression"): bytes on the wire per sensor reading, server CPU per echo
# (interleaved rounds, medians), idle memory per connection at 1,000
# connections, and server CPU per broadcast to 1,000 subscribers. About
# 7 minutes after the builds; --quick (a smoke run: every server negotiates
# and every byte round-trips, the figures are too short to quote) under a
# minute.
#
# usage: scripts/deflate-bench.sh [--quick] [--rounds 5] [--secs 2]
#            [--conns 16] [--idle 1000] [--subscribers 1000]
#            [--broadcasts 200] [--only wire,echo,idle,broadcast]
#
# Installs what it needs when missing, into bench/target/deflate-peers/:
# Python `websockets` (a venv, unless python3 already has 13 or newer) and
# Node `ws` 8 (npm). NODE_WS_DIR=DIR uses DIR/node_modules/ws instead.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

args=()
if [ "${1:-}" = --quick ]; then
  shift
  args=(--rounds 1 --secs 0.2 --conns 4 --idle 50 --subscribers 50 --broadcasts 20)
fi
args+=("$@")

# 1,000 subscribers of two servers: both ends of 2,000 connections here.
NEED=8192
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$NEED" ]; then
  hard="$(ulimit -Hn)"
  if [ "$hard" = unlimited ] || [ "$hard" -ge "$NEED" ]; then ulimit -n "$NEED"; else ulimit -n "$hard"; fi
fi

PEERS="$ROOT/bench/target/deflate-peers"
mkdir -p "$PEERS"

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Node and `ws`.
if ! command -v node > /dev/null || ! command -v npm > /dev/null; then
  echo "== installing nodejs and npm" >&2
  sudo_ apt-get update -qq && sudo_ apt-get install -y -qq nodejs npm > /dev/null
fi
NODE_WS_DIR="${NODE_WS_DIR:-$PEERS/node}"
if [ ! -f "$NODE_WS_DIR/node_modules/ws/package.json" ]; then
  echo "== installing ws 8 into $NODE_WS_DIR" >&2
  mkdir -p "$NODE_WS_DIR"
  npm install --silent --no-audit --no-fund --prefix "$NODE_WS_DIR" ws@8 > /dev/null
fi
export NODE_PATH="$NODE_WS_DIR/node_modules"

# Python and `websockets` (13 or newer: the asyncio server API).
PY=python3
has_websockets() {
  "$1" -c 'import websockets.asyncio.server, websockets.extensions.permessage_deflate' 2> /dev/null
}
if ! has_websockets "$PY"; then
  PY="$PEERS/venv/bin/python"
  if ! has_websockets "$PY"; then
    echo "== installing websockets into $PEERS/venv" >&2
    if ! python3 -m venv "$PEERS/venv" 2> /dev/null; then
      sudo_ apt-get update -qq && sudo_ apt-get install -y -qq python3-venv > /dev/null
      python3 -m venv "$PEERS/venv"
    fi
    "$PY" -m pip install --quiet --disable-pip-version-check 'websockets>=13'
  fi
fi

echo "== building (release)" >&2
(cd bench && nice -n 5 cargo build --quiet --release --features deflate --bin deflate_bench --bin tinyws_deflate_echo)
B="$ROOT/bench/target/release"

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cpu: $(nproc) x $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
echo "kernel: $(uname -r); rustc: $(rustc --version | cut -d' ' -f2)"
echo "node: $(node --version), ws $(node -p 'require("ws/package.json").version');" \
  "python: $("$PY" -c 'import sys, websockets; print(sys.version.split()[0] + ", websockets " + websockets.__version__)')"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
CLK_TCK="$(getconf CLK_TCK)" timeout 1800 "$B/deflate_bench" \
  --tinyws "$B/tinyws_deflate_echo" \
  --node "$(command -v node)" --node-script "$ROOT/bench/deflate/peers/node_echo.js" \
  --python "$PY" --py-script "$ROOT/bench/deflate/peers/py_echo.py" \
  "${args[@]}"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
