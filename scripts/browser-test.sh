#!/usr/bin/env bash
# tinyws in a real browser: Debian's headless Chromium, driven by
# playwright-core. Three drivers in scripts/browser/, each with its own
# watchdog:
#
#   sensor_feed.test.js  the sensor dashboard: readings arrive, the chart
#                        changes, the page shows the connection state, it
#                        reconnects when the server is killed and restarted on
#                        the same port, a 2 MiB message (over the 1 MiB limit)
#                        gets close code 1009 on each of 32 fresh connections,
#                        never 1006; its socket agrees to permessage-deflate.
#   deflate.test.js      permessage-deflate against `tinyws echo` and the
#                        dashboard's /echo: ws.extensions, the server's log,
#                        text and binary from 40 B to 512 KiB back unchanged,
#                        both directions compressed on the wire (a counting
#                        relay); `--no-deflate` as the control.
#   tls.test.js          the dashboard over https/wss with the test CA trusted
#                        through an NSS database in a temporary HOME (never
#                        --ignore-certificate-errors); a browser without it
#                        is refused first.
#
# Installs what it needs on a fresh Debian machine (quick when present): the
# `chromium` package (never a browser download: `npx playwright install`
# cannot work offline), libnss3-tools (certutil), openssl, and playwright-
# core from scripts/browser/package-lock.json. node and npm must be on PATH.
# Everything runs on loopback, and everything it starts is stopped when it
# ends, however it ends.
#
#   scripts/browser-test.sh
#
# Screenshots go to $SCREENSHOT_DIR (default: a new temp dir, printed).
# Exits non-zero on any failure, naming the driver; each is bounded by
# timeouts.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HERE="$ROOT/scripts/browser"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
export DEBIAN_FRONTEND=noninteractive

fail() { echo "browser-test: FAILED: $*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Debian packages for the commands that are missing; apt-get update only
# when an install fails without it.
need=()
[ -x "$CHROMIUM" ] || need+=(chromium)
command -v certutil >/dev/null || need+=(libnss3-tools)
command -v openssl >/dev/null || need+=(openssl)
if [ "${#need[@]}" -gt 0 ]; then
  echo "browser-test: installing ${need[*]}"
  if ! as_root apt-get install -y -q "${need[@]}" >/dev/null 2>&1; then
    as_root apt-get update -q >/dev/null || fail "apt-get update failed"
    as_root apt-get install -y -q "${need[@]}" >/dev/null || fail "cannot install ${need[*]}"
  fi
fi
[ -x "$CHROMIUM" ] || fail "no browser at $CHROMIUM"
"$CHROMIUM" --version 2>/dev/null | grep -i chromium || true

for tool in node npm; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done
if [ ! -f "$HERE/node_modules/playwright-core/package.json" ]; then
  echo "browser-test: installing playwright-core"
  (cd "$HERE" && timeout 300 npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci in $HERE failed"
fi

# One build for all three: the dashboard with deflate and TLS, and the tool
# (deflate is on in it by default).
echo "browser-test: building examples/sensor_feed (features deflate, tls) and tinyws"
(cd "$ROOT" && cargo build --release --quiet -p tinyws -p tinyws-cli --example sensor_feed --bin tinyws \
  --features tinyws/deflate,tinyws/tls) || fail "cargo build failed"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET" in /*) ;; *) TARGET="$ROOT/$TARGET" ;; esac
export SENSOR_FEED_BIN="$TARGET/release/examples/sensor_feed"
export SENSOR_FEED_TLS_BIN="$SENSOR_FEED_BIN"
export TINYWS_BIN="$TARGET/release/tinyws"
export CHROMIUM
if [ -z "${SCREENSHOT_DIR:-}" ]; then
  SCREENSHOT_DIR="$(mktemp -d "${TMPDIR:-/tmp}/tinyws-shots-XXXXXX")"
fi
export SCREENSHOT_DIR

WORK="$(mktemp -d "${TMPDIR:-/tmp}/tinyws-browser-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# A fresh CA and a certificate for localhost and 127.0.0.1, made by the
# project's script, and a HOME whose NSS database (where Chromium on Linux
# looks for the user's trust settings) trusts that CA for servers.
export TLS_DIR="$WORK/certs" TRUSTED_HOME="$WORK/home"
"$ROOT/scripts/tls-test-certs.sh" "$TLS_DIR" >/dev/null || fail "scripts/tls-test-certs.sh failed"
mkdir -p "$TRUSTED_HOME/.pki/nssdb"
certutil -N -d "sql:$TRUSTED_HOME/.pki/nssdb" --empty-password || fail "certutil could not make the NSS database"
certutil -A -d "sql:$TRUSTED_HOME/.pki/nssdb" -n "tinyws test CA" -t "C,," -i "$TLS_DIR/ca.pem" \
  || fail "certutil could not add the test CA"
certutil -L -d "sql:$TRUSTED_HOME/.pki/nssdb" | grep -q "tinyws test CA" || fail "the test CA is not in the NSS database"

# Each driver starts and kills its servers and browsers itself and has its
# own watchdog; this outer bound also catches a hung node or browser (on
# SIGTERM playwright closes the browser it launched).
for driver in sensor_feed deflate tls; do
  echo "browser-test: $driver.test.js"
  status=0
  timeout --kill-after=10 180 node "$HERE/$driver.test.js" || status=$?
  [ "$status" = 0 ] || fail "$driver.test.js (exit $status); screenshots in $SCREENSHOT_DIR"
done
echo "browser-test: passed; screenshots in $SCREENSHOT_DIR"
