#!/usr/bin/env bash
# Fails if the sans-IO core (src/proto/) does I/O or reads the clock: no
# std::net, no std::io (Read, Write or anything else), no Instant::now or
# SystemTime, no threads, locks (Mutex, RwLock, Condvar) or files, in its
# code or its unit tests. The core takes bytes and time as arguments; the
# shell around it (websocket.rs, writer.rs, deflate_pool.rs) does the rest.
# Comments may name these.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
hits="$(grep -nE 'std::net|std::io|\bio::|\bRead\b|\bWrite\b|Instant|SystemTime|std::thread|std::fs|Mutex|RwLock|Condvar' \
    src/proto/*.rs | grep -vE '^[^:]+:[0-9]+: *//' || true)"
if [ -n "$hits" ]; then
    echo "sans-io-check: I/O, a clock, a thread or a lock in the sans-IO core:" >&2
    echo "$hits" >&2
    exit 1
fi
echo "sans-io-check: src/proto/ ($(ls src/proto/*.rs | wc -l) files) does no I/O, reads no clock, starts no thread and takes no lock"
