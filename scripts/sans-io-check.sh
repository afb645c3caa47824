#!/usr/bin/env bash
# Fails if the sans-IO core (src/proto/) does I/O or reads the clock: no
# std::net, no std::io (Read, Write or anything else), no Instant::now or
# SystemTime, no threads or files. The core takes bytes and time as
# arguments; the shell around it (websocket.rs, writer.rs) does the rest.
# Comments may name these, and so may the unit tests at the end of each file
# (a test needs some Instant to start its own clock from).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
status=0
for f in src/proto/*.rs; do
    hits="$(awk '/^#\[cfg\(test\)\]$/ { getline nxt; if (nxt ~ /^mod tests/) exit; print FILENAME ":" NR ": " nxt; next }
                 { print FILENAME ":" NR ": " $0 }' "$f" |
        grep -vE '^[^:]+:[0-9]+: *//' |
        grep -E 'std::net|std::io|\bio::|\bRead\b|\bWrite\b|Instant::now|SystemTime|std::thread|std::fs' || true)"
    if [ -n "$hits" ]; then
        echo "sans-io-check: I/O or a clock in the sans-IO core:" >&2
        echo "$hits" >&2
        status=1
    fi
done
[ "$status" = 0 ] && echo "sans-io-check: src/proto/ ($(ls src/proto/*.rs | wc -l) files) does no I/O and reads no clock"
exit "$status"
