#!/usr/bin/env bash
# Runs the Autobahn|Testsuite fuzzingclient (all 517 cases) against
# examples/autobahn_server and compares the outcome with the committed
# scripts/autobahn/expected.json.
#
# usage: scripts/autobahn.sh [--deflate | --tls] [--update]
#   --deflate  the server negotiates permessage-deflate (the `deflate`
#              feature, default settings) and the run is compared with
#              scripts/autobahn/expected-deflate.json; about 30 minutes, as
#              the suite compresses in Python 2
#   --tls      the server speaks wss:// (the `tls` feature, the test
#              certificate tests/certs/a.pem; the suite does not verify it);
#              cases 1.* to 10.* only (the compression cases are the deflate
#              run's), compared with the same cases of expected.json: over
#              TLS every case must end as it does over TCP
#   --update   rewrite the expected file from this run (after checking the rules)
#
# Needs root (the suite runs in a Debian bullseye chroot with Python 2.7) and
# ../shared/autobahn beside the repository; installs the chroot on first use.
# Pass when: every case in 1.* to 10.* is OK or INFORMATIONAL, no case is
# NON-STRICT or FAILED, 12.* and 13.* (compression) are UNIMPLEMENTED or OK,
# and every case's behaviour matches expected.json.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNNER="${AUTOBAHN_RUNNER:-$ROOT/../shared/autobahn}"
NAME=autobahn.sh
# shellcheck source=lib/autobahn-args.sh
. "$ROOT/scripts/lib/autobahn-args.sh"
SERVER_ARGS=()
EXPECTED="$ROOT/scripts/autobahn/expected.json"
if [ "$TLS" = 1 ]; then
  FEATURES=(--features tls)
  SERVER_ARGS=(--tls "$ROOT/tests/certs/a.pem" "$ROOT/tests/certs/a.key")
  RUN_ARGS=(--exclude '12.*,13.*')
  CHECK_ARGS=(--without 12,13)
  [ "$UPDATE" = 0 ] || { echo "autobahn.sh: --tls checks against expected.json; update that from a plain run" >&2; exit 2; }
fi
if [ "$DEFLATE" = 1 ]; then
  FEATURES=(--features deflate)
  SERVER_ARGS=(--deflate)
  EXPECTED="$ROOT/scripts/autobahn/expected-deflate.json"
  TIMEOUT=3600
fi

[ -x "$RUNNER/run.sh" ] || { echo "autobahn.sh: no runner at $RUNNER" >&2; exit 2; }
echo "autobahn.sh: preparing the suite (first run installs a chroot, ~2 min)"
[ -n "${AUTOBAHN_READY:-}" ] || "$RUNNER/setup.sh" > /tmp/tinyws-autobahn-setup.log 2>&1 || {
  tail -n 30 /tmp/tinyws-autobahn-setup.log >&2; echo "autobahn.sh: setup failed" >&2; exit 2; }

cd "$ROOT"
cargo build --release "${FEATURES[@]}" --example autobahn_server
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/autobahn_server"
OUT="$(mktemp -d /tmp/tinyws-autobahn-XXXXXX)"
# Port 0: the server prints the port it got on its first line.
"$BIN" 127.0.0.1:0 "${SERVER_ARGS[@]}" > "$OUT/server.log" 2>&1 &
PID=$!
trap 'kill "$PID" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q 'wss\{0,1\}://' "$OUT/server.log" && break
  kill -0 "$PID" || { cat "$OUT/server.log" >&2; exit 1; }
  sleep 0.1
done
URL="$(grep -o 'wss\{0,1\}://[0-9.:]*' "$OUT/server.log" | head -n 1)"
echo "autobahn.sh: server at $URL, report in $OUT"
set +e
"$RUNNER/run.sh" "$URL" --agent tinyws --out "$OUT" --timeout "$TIMEOUT" "${RUN_ARGS[@]}" | tail -n 12
RUN_STATUS=${PIPESTATUS[0]}
set -e
kill -0 "$PID" || { echo "autobahn.sh: the server died during the run" >&2; tail "$OUT/server.log" >&2; exit 1; }
ARGS=("$OUT/reports/index.json" "$EXPECTED" "${CHECK_ARGS[@]}")
[ "$UPDATE" = 1 ] && ARGS+=(--update)
python3 "$ROOT/scripts/autobahn/check.py" "${ARGS[@]}"
[ "$RUN_STATUS" = 0 ] || { echo "autobahn.sh: run.sh exited $RUN_STATUS" >&2; exit 1; }
