#!/usr/bin/env bash
# Interop with real peers: Python `websockets` and Node `ws`, each as client
# and as server, against tinyws, plain, with permessage-deflate and over
# wss:// with the test CA (tests/certs) verified.
#
# usage: scripts/interop.sh
#
#   Python and Node clients against `tinyws echo` (the tool, built with tls):
#     ws:// without deflate (no extension, bytes on the wire >= the message),
#     ws:// with deflate (the answer names permessage-deflate with both
#     no_context_takeover parameters; text and binary of 64 B, 4 KiB and
#     300 KiB echo byte for byte; each compressible one above the threshold
#     comes back in under a quarter of its size on the wire),
#     wss:// with deflate trusting only the test CA (ssl context / `ca`), and
#     wss:// trusting only the system's roots, which must reject the test
#     certificate.
#   The tinyws client (examples/interop_client) against Python and Node echo
#   servers (scripts/interop/peer.py, peer.js), the same checks the other
#   way (the peer counts the bytes it read), with `--ca` over wss://; and
#   `tinyws connect` (with --ca) against both, ws:// and wss://, lines in
#   and out.
#
# Installs what it needs into target/interop-deps (pip --target, npm
# --prefix) unless python3 already has websockets >= 13 and node finds
# ws 8; apt-get for python3, pip, node and npm when they are missing. Loopback
# only. Every case is reported; any failure shows its log and the script
# exits 1 after the last case. About 20 s after the builds.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
DEPS="$TARGET/interop-deps"
CERTS="$ROOT/tests/certs"
PEERS="$ROOT/scripts/interop"

# --- prerequisites ------------------------------------------------------------
apt_install() {
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
}
command -v python3 >/dev/null || apt_install python3
command -v node >/dev/null || apt_install nodejs
export PYTHONPATH="$DEPS/python${PYTHONPATH:+:$PYTHONPATH}"
if ! python3 -c 'import sys, websockets; sys.exit(int(websockets.__version__.split(".")[0]) < 13)' 2>/dev/null; then
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  echo "interop.sh: installing websockets into $DEPS/python"
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
    --target "$DEPS/python" 'websockets>=13'
fi
export NODE_PATH="$DEPS/node/node_modules${NODE_PATH:+:$NODE_PATH}"
if ! node -e 'process.exit(require("ws/package.json").version.startsWith("8.") ? 0 : 1)' 2>/dev/null; then
  command -v npm >/dev/null || apt_install npm
  echo "interop.sh: installing ws into $DEPS/node"
  mkdir -p "$DEPS/node"
  npm install --silent --no-audit --no-fund --prefix "$DEPS/node" 'ws@8' >/dev/null
fi
echo "interop.sh: Python websockets $(python3 -c 'import websockets; print(websockets.__version__)')," \
  "Node $(node --version) with ws $(node -e 'console.log(require("ws/package.json").version)')"

# --- builds ---------------------------------------------------------------------
cargo build --quiet -p tinyws-cli --features tls
cargo build --quiet --features tls,deflate --example interop_client
TOOL="$TARGET/debug/tinyws"
CLIENT="$TARGET/debug/examples/interop_client"

# --- helpers ----------------------------------------------------------------------
LOGS="$(mktemp -d /tmp/tinyws-interop-XXXXXX)"
PIDS=()
# shellcheck disable=SC2317  # invoked by the EXIT trap
stop_servers() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_servers EXIT

# start NAME CMD...: starts a server that prints "listening on 127.0.0.1:PORT"
# (the tool logs the same words) and sets PORT.
start() {
  local name="$1" log="$LOGS/$1.log"
  shift
  : > "$log"  # exists before the server's shell opens it
  "$@" > "$log" 2>&1 &
  PIDS+=($!)
  PORT=""
  for _ in $(seq 300); do
    PORT="$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$log" | head -n 1 || true)"
    [ -n "$PORT" ] && break
    kill -0 "${PIDS[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$PORT" ]; then
    echo "interop.sh: $name did not start:" >&2
    sed 's/^/  | /' "$log" >&2
    exit 1
  fi
}

FAILED=()
# check NAME WANT_STATUS CMD...: runs one case with a time limit; a status
# other than WANT_STATUS fails it, loudly, with its output.
check() {
  local name="$1" want="$2" log t0 status
  shift 2
  log="$LOGS/case-${#FAILED[@]}-$RANDOM.log"
  t0=$SECONDS
  set +e
  timeout -k 5 120 "$@" > "$log" 2>&1
  status=$?
  set -e
  if [ "$status" = "$want" ]; then
    echo "interop: ok      $name ($((SECONDS - t0)) s)"
  else
    echo "interop: FAILED  $name: exit status $status, expected $want; its output:"
    sed 's/^/  | /' "$log"
    FAILED+=("$name")
  fi
}

# --- Python and Node clients against the tool's echo server -------------------------
start "tinyws echo" "$TOOL" echo --addr 127.0.0.1:0
WS="ws://127.0.0.1:$PORT/"
start "tinyws echo (wss)" "$TOOL" echo --addr 127.0.0.1:0 --tls-cert "$CERTS/a.pem" --tls-key "$CERTS/a.key"
WSS="wss://127.0.0.1:$PORT/"
for peer in py js; do
  if [ "$peer" = py ]; then run=(python3 "$PEERS/peer.py"); who="Python websockets"; else run=(node "$PEERS/peer.js"); who="Node ws"; fi
  check "$who client -> tinyws echo, ws:// without deflate" 0 "${run[@]}" client "$WS" --no-deflate
  check "$who client -> tinyws echo, ws:// with deflate" 0 "${run[@]}" client "$WS"
  check "$who client -> tinyws echo, wss:// with deflate, test CA" 0 "${run[@]}" client "$WSS" --ca "$CERTS/ca.pem"
  check "$who client -> tinyws echo, wss:// with the system's roots: rejected" 3 "${run[@]}" client "$WSS"
done

# --- the tinyws client against Python and Node servers ------------------------------
LINES=$'a line\nt\xc3\xa9mp\xc3\xa9rature \xe2\x84\x83 \xf0\x9f\x8c\xa1\n'"$(printf 'x%.0s' $(seq 1000))"
for peer in py js; do
  if [ "$peer" = py ]; then run=(python3 "$PEERS/peer.py"); who="Python websockets"; else run=(node "$PEERS/peer.js"); who="Node ws"; fi
  start "$who server" "${run[@]}" server
  WS="ws://127.0.0.1:$PORT/"
  start "$who server (wss)" "${run[@]}" server --tls "$CERTS/a.pem" "$CERTS/a.key"
  WSS="wss://127.0.0.1:$PORT/"
  check "tinyws client -> $who server, ws:// without deflate" 0 "$CLIENT" "$WS"
  check "tinyws client -> $who server, ws:// with deflate" 0 "$CLIENT" "$WS" --deflate
  check "tinyws client -> $who server, wss:// with deflate, --ca test CA" 0 "$CLIENT" "$WSS" --deflate --ca "$CERTS/ca.pem"
  check "tinyws client -> $who server, wss:// with the system's roots: rejected" 3 "$CLIENT" "$WSS" --deflate
  # CMD sends three lines and reads their echoes before it exits (a client
  # that sends Close right after its last line may get no echo: websockets
  # answers a Close before its handler's pending sends).
  for url in "$WS" "$WSS"; do
    check "tinyws connect -> $who server, ${url%%:*}://, lines in and out" 0 bash -c '
      out="$(mktemp)"; ca=()
      case "$3" in wss://*) ca=(--ca "$4") ;; esac
      "$1" connect --log-level warn "${ca[@]}" "$3" -- bash -c "printf \"%s\n\" \"\$0\"; head -n 3 > \"\$1\"" "$2" "$out" \
        || { echo "tinyws connect exited with status $?"; exit 1; }
      got="$(cat "$out")"; rm -f "$out"
      [ "$got" = "$2" ] || { printf "sent:\n%s\ngot:\n%s\n" "$2" "$got"; exit 1; }' _ "$TOOL" "$LINES" "$url" "$CERTS/ca.pem"
  done
done

if [ "${#FAILED[@]}" -gt 0 ]; then
  echo "interop.sh: ${#FAILED[@]} case(s) FAILED (logs in $LOGS):"
  printf '  %s\n' "${FAILED[@]}"
  exit 1
fi
echo "interop.sh: all cases passed (logs in $LOGS)"
