#!/usr/bin/env bash
# Runs the Autobahn|Testsuite fuzzingserver (all 517 cases) against
# examples/autobahn_client, tinyws's client, and compares the outcome with
# the committed scripts/autobahn/expected-client.json.
#
# usage: scripts/autobahn-client.sh [--update]
#   --update   rewrite expected-client.json from this run (after checking the rules)
#
# Needs root (the suite runs in a Debian bullseye chroot with Python 2.7) and
# ../shared/autobahn beside the repository; installs the chroot on first use.
# Pass when: every case in 1.* to 10.* is OK or INFORMATIONAL, no case is
# NON-STRICT or FAILED, 12.* and 13.* (compression, not offered by the
# client) are UNIMPLEMENTED or OK, and every case matches the expected file.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNNER="${AUTOBAHN_RUNNER:-$ROOT/../shared/autobahn}"
UPDATE=0
[ "${1:-}" = "--update" ] && UPDATE=1

[ -x "$RUNNER/client.sh" ] || { echo "autobahn-client.sh: no runner at $RUNNER" >&2; exit 2; }
echo "autobahn-client.sh: preparing the suite (first run installs a chroot, ~2 min)"
[ -n "${AUTOBAHN_READY:-}" ] || "$RUNNER/setup.sh" > /tmp/tinyws-autobahn-setup.log 2>&1 || {
  tail -n 30 /tmp/tinyws-autobahn-setup.log >&2; echo "autobahn-client.sh: setup failed" >&2; exit 2; }

cd "$ROOT"
cargo build --release --example autobahn_client
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/autobahn_client"
OUT="$(mktemp -d /tmp/tinyws-autobahn-client-XXXXXX)"
echo "autobahn-client.sh: report in $OUT"
set +e
"$RUNNER/client.sh" --port 0 --agent tinyws --out "$OUT" --timeout 900 -- "$BIN" '{url}' '{agent}' | tail -n 12
RUN_STATUS=${PIPESTATUS[0]}
set -e
ARGS=("$OUT/reports/index.json" "$ROOT/scripts/autobahn/expected-client.json")
[ "$UPDATE" = 1 ] && ARGS+=(--update)
python3 "$ROOT/scripts/autobahn/check.py" "${ARGS[@]}"
[ "$RUN_STATUS" = 0 ] || { echo "autobahn-client.sh: client.sh exited $RUN_STATUS" >&2; tail -n 20 "$OUT/client.log" >&2; exit 1; }
