#!/usr/bin/env bash
# Runs the Autobahn|Testsuite fuzzingserver (all 517 cases) against
# examples/autobahn_client, tinyws's client, and compares the outcome with
# the committed scripts/autobahn/expected-client.json.
#
# usage: scripts/autobahn-client.sh [--deflate | --tls] [--update]
#   --deflate  the client offers permessage-deflate (the `deflate` feature,
#              default settings: no context takeover, no
#              client_max_window_bits) and the run is compared with
#              scripts/autobahn/expected-client-deflate.json; about 30
#              minutes, as the suite compresses in Python 2
#   --tls      the client connects over wss:// (the `tls` feature), trusting
#              only the test CA: the shared runner starts the fuzzingserver
#              without a key and certificate, so scripts/autobahn/tls_front.py
#              terminates TLS with tests/certs/a.pem in front of it; cases
#              1.* to 10.*, compared with the same cases of
#              expected-client.json
#   --update   rewrite the expected file from this run (after checking the rules)
#
# Needs root (the suite runs in a Debian bullseye chroot with Python 2.7) and
# ../shared/autobahn beside the repository; installs the chroot on first use.
# Pass when: every case in 1.* to 10.* is OK or INFORMATIONAL, no case is
# NON-STRICT or FAILED, 12.* and 13.* (compression) are UNIMPLEMENTED or OK,
# and every case matches the expected file. The fuzzingserver takes any free
# port, so runs can overlap (the CI's deflate run goes in the background).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNNER="${AUTOBAHN_RUNNER:-$ROOT/../shared/autobahn}"
NAME=autobahn-client.sh
# shellcheck source=lib/autobahn-args.sh
. "$ROOT/scripts/lib/autobahn-args.sh"
CLIENT_ARGS=()
EXPECTED="$ROOT/scripts/autobahn/expected-client.json"
if [ "$TLS" = 1 ]; then
  FEATURES=(--features tls)
  RUN_ARGS=(--exclude '12.*,13.*')
  CHECK_ARGS=(--without 12,13)
  [ "$UPDATE" = 0 ] || { echo "autobahn-client.sh: --tls checks against expected-client.json; update that from a plain run" >&2; exit 2; }
fi
if [ "$DEFLATE" = 1 ]; then
  FEATURES=(--features deflate)
  CLIENT_ARGS=(--deflate)
  EXPECTED="$ROOT/scripts/autobahn/expected-client-deflate.json"
  TIMEOUT=7200  # one run here took over an hour on a loaded machine
fi

[ -x "$RUNNER/client.sh" ] || { echo "autobahn-client.sh: no runner at $RUNNER" >&2; exit 2; }
echo "autobahn-client.sh: preparing the suite (first run installs a chroot, ~2 min)"
[ -n "${AUTOBAHN_READY:-}" ] || "$RUNNER/setup.sh" > /tmp/tinyws-autobahn-setup.log 2>&1 || {
  tail -n 30 /tmp/tinyws-autobahn-setup.log >&2; echo "autobahn-client.sh: setup failed" >&2; exit 2; }

cd "$ROOT"
cargo build --release "${FEATURES[@]}" --example autobahn_client
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/autobahn_client"
OUT="$(mktemp -d /tmp/tinyws-autobahn-client-XXXXXX)"
echo "autobahn-client.sh: report in $OUT"
CMD=("$BIN" '{url}' '{agent}' "${CLIENT_ARGS[@]}")
if [ "$TLS" = 1 ]; then
  C="$ROOT/tests/certs"
  CMD=(python3 "$ROOT/scripts/autobahn/tls_front.py" --cert "$C/a.pem" --key "$C/a.key" --to '{port}' --
       "$BIN" 'wss://127.0.0.1:{front}' '{agent}' --ca "$C/ca.pem")
fi
set +e
"$RUNNER/client.sh" --port 0 --agent tinyws --out "$OUT" --timeout "$TIMEOUT" "${RUN_ARGS[@]}" -- "${CMD[@]}" | tail -n 12
RUN_STATUS=${PIPESTATUS[0]}
set -e
ARGS=("$OUT/reports/index.json" "$EXPECTED" "${CHECK_ARGS[@]}")
[ "$UPDATE" = 1 ] && ARGS+=(--update)
python3 "$ROOT/scripts/autobahn/check.py" "${ARGS[@]}"
[ "$RUN_STATUS" = 0 ] || { echo "autobahn-client.sh: client.sh exited $RUN_STATUS" >&2; tail -n 20 "$OUT/client.log" >&2; exit 1; }
