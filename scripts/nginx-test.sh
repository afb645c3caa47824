#!/usr/bin/env bash
# Runs deploy/nginx.conf, as shipped apart from its ports and a 3 s
# proxy_read_timeout, in front of examples/sensor_feed and `tinyws echo`,
# and checks with scripts/nginx/check.py (Python standard library only):
# the page loads through nginx and its WebSocket connects; a cross-site page
# gets 403 and a DNS-rebound name 421; the server's log shows the client's
# address, not nginx's; keepalive pings (every second here) hold an idle
# connection open past proxy_read_timeout, and the same connection without
# pings is cut (so the check measures the pings).
#
#   scripts/nginx-test.sh
#
# Installs Debian's nginx package if it is missing, without starting its
# service. Everything listens on loopback, on ports the OS picks; every
# process it starts is stopped on exit.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DEBIAN_FRONTEND=noninteractive
READ_TIMEOUT=3

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

NGINX="$(command -v nginx || true)"
[ -z "$NGINX" ] && [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx
if [ -z "$NGINX" ]; then
  echo "nginx-test: installing nginx"
  # Keep the package from starting its own service on port 80.
  POLICY=/usr/sbin/policy-rc.d
  OWN_POLICY=
  if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$POLICY" >/dev/null
    as_root chmod +x "$POLICY"
    OWN_POLICY=1
  fi
  if ! as_root apt-get install -y -q nginx >/dev/null 2>&1; then
    as_root apt-get update -q >/dev/null
    as_root apt-get install -y -q nginx >/dev/null
  fi
  [ -n "$OWN_POLICY" ] && as_root rm -f "$POLICY"
  NGINX=/usr/sbin/nginx
fi
"$NGINX" -v
command -v python3 >/dev/null || as_root apt-get install -y -q python3 >/dev/null

echo "nginx-test: building examples/sensor_feed and tinyws"
(cd "$ROOT" && cargo build --release --quiet -p tinyws --example sensor_feed && cargo build --release --quiet -p tinyws-cli --bin tinyws)
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET" in /*) ;; *) TARGET="$ROOT/$TARGET" ;; esac

WORK="$(mktemp -d "${TMPDIR:-/tmp}/tinyws-nginx-XXXXXX")"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# A free loopback port: bind port 0, read it back, release it.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits until a log file has a line matching $2.
wait_for() {
  for _ in $(seq 1 200); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nginx-test: FAILED: no '$2' in $1:" >&2
  cat "$1" >&2
  exit 1
}

# start_backend NAME CMD...: runs CMD on a free port (CMD gets it as $PORT).
start_backend() {
  local name=$1; shift
  "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  wait_for "$WORK/$name.log" "listening on"
}

# start_nginx NAME BACKEND_PORT: deploy/nginx.conf in front of the backend;
# sets FRONT to its address.
start_nginx() {
  local name=$1 backend=$2 port
  port="$(free_port)"
  local dir="$WORK/nginx-$name"
  mkdir -p "$dir/tmp"
  chmod 777 "$dir/tmp"
  sed -e "s/listen 80;/listen 127.0.0.1:$port;/" \
      -e "s/server 127.0.0.1:8080;/server 127.0.0.1:$backend;/" \
      -e "s/proxy_read_timeout 60s;/proxy_read_timeout ${READ_TIMEOUT}s;/" \
      "$ROOT/deploy/nginx.conf" >"$dir/site.conf"
  grep -q "proxy_read_timeout ${READ_TIMEOUT}s;" "$dir/site.conf"
  cat >"$dir/nginx.conf" <<CONF
pid $dir/nginx.pid;
worker_processes 1;
events { worker_connections 64; }
http {
    access_log $dir/access.log;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    include $dir/site.conf;
}
CONF
  "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -t -q
  "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;' \
    >>"$dir/error.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 200); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null && break
    sleep 0.05
  done
  FRONT="127.0.0.1:$port"
}

FEED_PORT="$(free_port)"
start_backend feed env RUST_LOG=info "$TARGET/release/examples/sensor_feed" \
  "127.0.0.1:$FEED_PORT" --trusted-proxy 127.0.0.1
ECHO_PORT="$(free_port)"
start_backend echo "$TARGET/release/tinyws" echo --addr "127.0.0.1:$ECHO_PORT" \
  --trusted-proxy 127.0.0.1 --ping-interval 1
SILENT_PORT="$(free_port)"
start_backend silent "$TARGET/release/tinyws" echo --addr "127.0.0.1:$SILENT_PORT" \
  --trusted-proxy 127.0.0.1 --ping-interval 0

start_nginx feed "$FEED_PORT"; FEED_FRONT=$FRONT
start_nginx echo "$ECHO_PORT"; ECHO_FRONT=$FRONT
start_nginx silent "$SILENT_PORT"; SILENT_FRONT=$FRONT

if ! timeout 120 python3 "$ROOT/scripts/nginx/check.py" \
    "$FEED_FRONT" "$WORK/feed.log" "$ECHO_FRONT" "$SILENT_FRONT" "$READ_TIMEOUT"; then
  echo "--- sensor_feed log" >&2; cat "$WORK/feed.log" >&2
  for n in feed echo silent; do
    echo "--- nginx $n error log" >&2; cat "$WORK/nginx-$n/error.log" >&2 || true
  done
  exit 1
fi
