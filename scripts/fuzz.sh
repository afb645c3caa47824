#!/bin/sh
# Runs every fuzz target in fuzz/ for SECONDS each (default 60), one after
# another on one core, or replays the committed corpus only (--replay, for CI).
#
#   scripts/fuzz.sh [SECONDS [TARGET...]]  fuzz; new inputs go to fuzz/target/corpus/<target>
#   scripts/fuzz.sh --replay               build the targets and run the committed corpus once
#
# Each input is limited to 512 MB of RSS (and of a single allocation) and 10 s.
# Crashes land in fuzz/artifacts/<target>/; the script exits non-zero if any
# target failed. Logs go to fuzz/target/logs/<target>.log.
set -eu
cd "$(dirname "$0")/.."

TARGETS="handshake frame_header connection roundtrip inbound client inflate negotiate"
LIMITS="-rss_limit_mb=512 -timeout=10"
# AddressSanitizer keeps 256 MB of freed memory in quarantine by default,
# which alone nears the RSS limit on a long run; 64 MB still catches
# use-after-free in this allocation-light code.
ASAN_OPTIONS="${ASAN_OPTIONS:-quarantine_size_mb=64}"
export ASAN_OPTIONS

if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

cd fuzz
cargo +nightly fuzz build
mkdir -p target/logs
failed=""

if [ "${1:-}" = "--replay" ]; then
    for t in $TARGETS; do
        echo "== replay $t"
        # -runs=0: execute every corpus input once, mutate nothing.
        # shellcheck disable=SC2086
        if ! cargo +nightly fuzz run "$t" "corpus/$t" -- -runs=0 $LIMITS; then
            failed="$failed $t"
        fi
    done
else
    secs="${1:-60}"
    if [ $# -gt 1 ]; then
        shift
        TARGETS="$*"
    fi
    for t in $TARGETS; do
        echo "== fuzz $t for ${secs}s"
        # The committed corpus is read only; growth goes under target/.
        mkdir -p "target/corpus/$t"
        # shellcheck disable=SC2086
        if ! cargo +nightly fuzz run "$t" "target/corpus/$t" "corpus/$t" -- \
            -max_total_time="$secs" -print_final_stats=1 $LIMITS \
            >"target/logs/$t.log" 2>&1; then
            failed="$failed $t"
        fi
        grep -E '^#[0-9]+.*(DONE|cov:)' "target/logs/$t.log" | tail -1 || true
        grep -E '^stat::number_of_executed_units' "target/logs/$t.log" || true
    done
fi

if [ -n "$failed" ]; then
    echo "failed:$failed (see fuzz/artifacts/ and fuzz/target/logs/)" >&2
    exit 1
fi
