#!/usr/bin/env bash
# Checks examples/sensor_feed in a real browser: Debian's headless Chromium,
# driven by playwright-core (scripts/browser/sensor_feed.test.js). It asserts
# that readings arrive, the chart changes, the page shows the connection
# state, it reconnects when the server is killed and restarted on the same
# port, and a 2 MiB message (over the 1 MiB limit) gets close code 1009 on
# each of 32 fresh connections, never 1006.
#
# Installs what it needs on a fresh Debian machine: the `chromium` package
# (never a browser download: `npx playwright install` cannot work offline)
# and playwright-core from scripts/browser/package-lock.json. node and npm
# must be on PATH. Everything runs on loopback.
#
#   scripts/browser-test.sh
#
# Screenshots go to $SCREENSHOT_DIR (default: a new temp dir, printed).
# Exits non-zero on any failure; the whole check is bounded by timeouts.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HERE="$ROOT/scripts/browser"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
export DEBIAN_FRONTEND=noninteractive

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

if [ ! -x "$CHROMIUM" ]; then
  echo "browser-test: installing chromium"
  if ! as_root apt-get install -y -q chromium >/dev/null 2>&1; then
    as_root apt-get update -q >/dev/null
    as_root apt-get install -y -q chromium >/dev/null
  fi
fi
"$CHROMIUM" --version 2>/dev/null | grep -i chromium || true

for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "browser-test: $tool is not installed" >&2; exit 1; }
done
if [ ! -f "$HERE/node_modules/playwright-core/package.json" ]; then
  echo "browser-test: installing playwright-core"
  (cd "$HERE" && timeout 300 npm ci --no-audit --no-fund --loglevel=error)
fi

echo "browser-test: building examples/sensor_feed"
(cd "$ROOT" && cargo build --release --example sensor_feed --quiet)
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET" in /*) ;; *) TARGET="$ROOT/$TARGET" ;; esac
export SENSOR_FEED_BIN="$TARGET/release/examples/sensor_feed"
export CHROMIUM
if [ -z "${SCREENSHOT_DIR:-}" ]; then
  SCREENSHOT_DIR="$(mktemp -d "${TMPDIR:-/tmp}/tinyws-shots-XXXXXX")"
fi
export SCREENSHOT_DIR

# The driver starts and kills the server itself and has its own 120 s
# watchdog; this outer bound also catches a hung node or browser (on
# SIGTERM playwright closes the browser it launched).
set +e
timeout --kill-after=10 180 node "$HERE/sensor_feed.test.js"
status=$?
set -e
if [ "$status" -ne 0 ]; then
  echo "browser-test: FAILED (exit $status); screenshots in $SCREENSHOT_DIR" >&2
  exit "$status"
fi
echo "browser-test: passed; screenshots in $SCREENSHOT_DIR"
