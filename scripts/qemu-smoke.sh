#!/usr/bin/env bash
# Runs every release binary in dist/ under qemu-user on loopback and checks it
# with scripts/ws_smoke.py (Python standard library only): the handshake, text
# and binary echoes of 0 B, 125 B, 64 KiB and 1 MiB (and the length-encoding
# boundaries 126 and 65535), a fragmented message, a ping, a clean close from
# the client, a second connection; for the `tinyws` command also `tinyws
# broadcast` fed by a shell loop, on stdin and through `-- CMD`, and wss://:
# `tinyws echo --tls-cert` with the test certificate of tests/certs/, checked
# by the same echo client over TLS (Python's ssl, trusting only the test CA
# and checking the name 127.0.0.1), by a permessage-deflate echo over that
# TLS, and by the emulated binary's own `tinyws connect --ca` (rustls and
# ring on the emulated CPU, on both sides).
#
# usage: scripts/qemu-smoke.sh [--no-install]
#   Run scripts/release.sh first (or `scripts/release.sh --smoke`).
#   --no-install   do not apt-get qemu-user-static/python3; fail if missing
#
# CPUs emulated: cortex-a53 (Pi 3, Zero 2 W) for aarch64, cortex-a7 (Pi 2)
# for armv7, arm1176 (Pi 1, Zero) for the optional ARMv6 build. There is no
# binfmt_misc needed: qemu is called directly. Every server runs under
# `timeout`, every client socket has a timeout, and every process started here
# is stopped on exit. Exits non-zero if any check failed.
#
# Knobs: SMOKE_SERVER_LIMIT (s, default 300) caps each server's life,
#        SMOKE_CLIENT_LIMIT (s, default 240) caps each client run,
#        WS_SMOKE_TIMEOUT (s, default 60) is the client's per-socket-operation timeout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DIST="$ROOT/dist"
INSTALL=1
for arg in "$@"; do
  case "$arg" in
    --no-install) INSTALL=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "qemu-smoke.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done
SERVER_LIMIT="${SMOKE_SERVER_LIMIT:-300}"
CLIENT_LIMIT="${SMOKE_CLIENT_LIMIT:-240}"

log() { echo "qemu-smoke.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---- tools ---------------------------------------------------------------------
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo -n "$@"
  else return 1; fi
}
need=()
command -v qemu-aarch64-static >/dev/null && command -v qemu-arm-static >/dev/null || need+=(qemu-user-static)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  [ "$INSTALL" = 1 ] || die "missing: ${need[*]} (drop --no-install or apt-get install them)"
  log "installing ${need[*]}"
  apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600
       --no-install-recommends "${need[@]}")
  if ! as_root "${apt[@]}" >/dev/null; then
    as_root apt-get update -q >/dev/null || log "WARNING: apt-get update reported errors"
    as_root "${apt[@]}" >/dev/null || die "could not install ${need[*]} (needs root or sudo)"
  fi
fi

[ -f "$DIST/SHA256SUMS" ] || die "no $DIST/SHA256SUMS: run scripts/release.sh first"
(cd "$DIST" && sha256sum --quiet -c SHA256SUMS) || die "dist/ does not match its SHA256SUMS"

# ---- process bookkeeping ---------------------------------------------------------------
TMP="$(mktemp -d /tmp/tinyws-smoke-XXXXXX)"
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# exited PID: true once PID (our child) has exited, zombie or gone
exited() {
  local state
  state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 0
  [ -z "$state" ] || [ "$state" = Z ]
}

# stop PID: SIGTERM (timeout(1) passes it on to qemu, qemu to the program),
# up to 15 s for it to exit; its exit status goes to STOPPED. A program still
# running then is killed (SIGALRM makes timeout(1) time out at once: TERM,
# then KILL 5 s later) and reported as 124. Not in a subshell: only this
# shell can wait for its children.
STOPPED=0
stop() {
  local pid=$1 i
  STOPPED=0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 150); do exited "$pid" && break; sleep 0.1; done
  if ! exited "$pid"; then
    kill -ALRM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    STOPPED=124
    return 0
  fi
  wait "$pid" 2>/dev/null || STOPPED=$?
}

# wait_addr LOG PID -> HOST:PORT, once the server has printed "ws://HOST:PORT"
# (examples/echo) or "listening on HOST:PORT" (tinyws)
wait_addr() {
  local logf=$1 pid=$2 i addr
  for i in $(seq 300); do
    addr=$(grep -oE '(ws://|listening on )[0-9.]+:[0-9]+' "$logf" 2>/dev/null | head -n 1 || true)
    if [ -n "$addr" ]; then echo "${addr##* }" | sed 's|^ws://||'; return 0; fi
    exited "$pid" && { echo "  server exited before announcing its address"; return 1; }
    sleep 0.1
  done
  echo "  server did not announce its address within 30 s"
  return 1
}

client() {  # client MODE ADDR [ARGS...]
  timeout -k 5 "$CLIENT_LIMIT" python3 "$ROOT/scripts/ws_smoke.py" "$@"
}

CERTS="$ROOT/tests/certs"
CONNECT=()   # the emulated tinyws of the target being checked: qemu ... BINARY
# connect_check ADDR: `tinyws connect --ca` under qemu sends two lines to the
# wss echo server and must print both echoes and exit 0.
connect_check() {
  local out want=$'over wss from the Pi\nsecond line'
  out=$(printf '%s\n' "$want" | timeout -k 5 "$CLIENT_LIMIT" "${CONNECT[@]}" connect \
        --log-level warn --ca "$CERTS/ca.pem" "wss://$1/" 2>"$TMP/connect.err") || {
    echo "  tinyws connect --ca: exit status $?: $(tail -n 3 "$TMP/connect.err")"; return 1; }
  if [ "$out" != "$want" ]; then
    echo "  tinyws connect --ca: printed $(printf '%q' "$out"), want $(printf '%q' "$want")"
    return 1
  fi
  echo "  tinyws connect --ca ca.pem wss://$1/: both lines echoed, certificate verified, exit 0"
}

# check NAME echo|stdin|cmd any|clean CMD...
#   echo:  CMD is an echo server; run the echo checks.
#   wss:   CMD is an echo server on TLS with the test certificate: the echo
#          and deflate checks over TLS, then `tinyws connect --ca`.
#   stdin: CMD broadcasts its stdin, fed by a counting shell loop through a FIFO.
#   cmd:   CMD broadcasts a counting shell loop it starts itself (`-- sh -c ...`),
#          which writes its PID to a file so we can see that CMD stops it.
#   any:   stop CMD with SIGTERM however it likes (examples/echo has no handler);
#   clean: CMD must exit with status 0 within 15 s of SIGTERM (graceful shutdown).
check() {
  local name=$1 mode=$2 exit_rule=$3; shift 3
  local logf="$TMP/$name.log" fifo="$TMP/$name.fifo" pidf="$TMP/$name.child" pid feeder="" addr st ok=1 child
  echo "  \$ $(printf '%s ' "$@" | sed "s|$DIST/||; s|$TMP/||; s|$ROOT/||g")"
  case "$mode" in
    stdin)
      mkfifo "$fifo"
      timeout -k 5 "$SERVER_LIMIT" "$@" <"$fifo" >"$logf" 2>&1 &
      pid=$!; PIDS+=("$pid")
      # At most 1200 lines, 10 a second: the loop ends by itself whatever happens.
      (i=0; while [ $i -lt 1200 ]; do echo "line $i"; i=$((i + 1)); sleep 0.1; done) >"$fifo" &
      feeder=$!; PIDS+=("$feeder") ;;
    *)
      timeout -k 5 "$SERVER_LIMIT" "$@" >"$logf" 2>&1 </dev/null &
      pid=$!; PIDS+=("$pid") ;;
  esac
  if addr=$(wait_addr "$logf" "$pid"); then
    case "$mode" in
      echo)  client echo "$addr" || ok=0 ;;
      wss)   WS_SMOKE_CA="$CERTS/ca.pem" client echo "$addr" || ok=0
             WS_SMOKE_CA="$CERTS/ca.pem" client deflate "$addr" || ok=0
             connect_check "$addr" || ok=0 ;;
      stdin) client broadcast "$addr" --count 5 --prefix "line " || ok=0 ;;
      cmd)   client broadcast "$addr" --count 5 --prefix "tick " || ok=0 ;;
    esac
    if exited "$pid"; then echo "  the server died during the checks"; ok=0; fi
  else
    echo "$addr"; ok=0
  fi
  stop "$pid"
  st=$STOPPED
  if [ "$exit_rule" = clean ]; then
    if [ "$st" = 0 ]; then echo "  SIGTERM: exited with status 0"
    else echo "  SIGTERM: exit status $st, want 0 within 15 s"; ok=0; fi
  fi
  if [ -n "$feeder" ]; then kill "$feeder" 2>/dev/null || true; wait "$feeder" 2>/dev/null || true; fi
  if [ "$mode" = cmd ] && [ -s "$pidf" ]; then
    child=$(cat "$pidf")
    for _ in $(seq 20); do kill -0 "$child" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$child" 2>/dev/null; then
      echo "  the broadcast command (pid $child) outlived tinyws"; ok=0
      kill -KILL "$child" 2>/dev/null || true
    else
      echo "  the broadcast command was stopped with tinyws"
    fi
  fi
  if [ "$ok" != 1 ]; then
    echo "  --- server output (last 20 lines) ---"
    tail -n 20 "$logf" | sed 's/^/  | /'
  fi
  [ "$ok" = 1 ]
}

# ---- which binaries, which emulator ---------------------------------------------------
# triple | qemu command line
TARGETS=(
  "aarch64-unknown-linux-musl|qemu-aarch64-static -cpu cortex-a53"
  "armv7-unknown-linux-gnueabihf|qemu-arm-static -cpu cortex-a7"
  "aarch64-unknown-linux-gnu|qemu-aarch64-static -cpu cortex-a53 -L /usr/aarch64-linux-gnu"
  "arm-unknown-linux-gnueabi|qemu-arm-static -cpu arm1176"
)
OPTIONAL_TARGET=arm-unknown-linux-gnueabi   # only when release.sh --armv6 built it
HAVE_CLI=0
[ -f "$ROOT/cli/Cargo.toml" ] && HAVE_CLI=1

RESULTS=() FAILED=0 START=$(date +%s)
record() {  # record NAME CHECK STATUS SECONDS
  RESULTS+=("$(printf '%-50s %-18s %-4s %4ss' "$1" "$2" "$3" "$4")")
  [ "$3" = ok ] || FAILED=1
}
run_check() {  # run_check NAME CHECK FUNCTION ARGS...
  local name=$1 what=$2 t0; shift 2
  echo "== $name: $what"
  t0=$(date +%s)
  if "$@"; then record "$name" "$what" ok $(( $(date +%s) - t0 ))
  else echo "  FAILED"; record "$name" "$what" FAIL $(( $(date +%s) - t0 )); fi
}

for entry in "${TARGETS[@]}"; do
  triple=${entry%%|*}
  read -r -a qemu <<<"${entry#*|}"
  echo_bin=$(ls "$DIST"/tinyws-echo-*-"$triple" 2>/dev/null | head -n 1 || true)
  cli_bin=$(ls "$DIST"/tinyws-[0-9]*-"$triple" 2>/dev/null | head -n 1 || true)
  if [ -z "$echo_bin" ] && [ "$triple" = "$OPTIONAL_TARGET" ]; then
    echo "== $triple: not built (scripts/release.sh --armv6 builds it), skipped"
    continue
  fi
  if [ -z "$echo_bin" ]; then
    echo "== $triple: tinyws-echo binary missing from dist/"
    record "tinyws-echo-?-$triple" missing FAIL 0
  else
    n=$(basename "$echo_bin")
    run_check "$n" echo check "$n" echo any "${qemu[@]}" "$echo_bin" 127.0.0.1:0
  fi
  if [ -z "$cli_bin" ]; then
    if [ "$HAVE_CLI" = 1 ]; then
      echo "== $triple: tinyws binary missing from dist/"
      record "tinyws-?-$triple" missing FAIL 0
    fi
    continue
  fi
  n=$(basename "$cli_bin")
  run_check "$n" echo check "$n-echo" echo clean "${qemu[@]}" "$cli_bin" echo --addr 127.0.0.1:0
  CONNECT=("${qemu[@]}" "$cli_bin")
  run_check "$n" "wss echo, deflate" check "$n-wss" wss clean "${qemu[@]}" "$cli_bin" echo \
    --addr 127.0.0.1:0 --tls-cert "$CERTS/a.pem" --tls-key "$CERTS/a.key"
  run_check "$n" "broadcast (stdin)" check "$n-bcast" stdin clean \
    "${qemu[@]}" "$cli_bin" broadcast --addr 127.0.0.1:0
  run_check "$n" "broadcast (-- CMD)" check "$n-bcast-cmd" cmd clean \
    "${qemu[@]}" "$cli_bin" broadcast --addr 127.0.0.1:0 -- \
    sh -c "echo \$\$ >'$TMP/$n-bcast-cmd.child'; i=0; while [ \$i -lt 1200 ]; do echo \"tick \$i\"; i=\$((i + 1)); sleep 0.1; done"
done

echo
echo "qemu smoke summary ($(( $(date +%s) - START )) s):"
printf '%s\n' "${RESULTS[@]}"
if [ "$FAILED" = 0 ]; then echo "qemu-smoke.sh: all checks passed"; else die "some checks FAILED"; fi
