#!/bin/sh
# Runs the permessage-deflate measurement for each backend candidate, then
# for tinyws's own module (DESIGN.md, "permessage-deflate: backend, pool and
# bounds"). Usage: bench/deflate/run.sh [cpu|memory|module|idle]
# DEFLATE_LEVEL=N sets the level of the candidates (default 6).
# About 2 minutes on a quiet 2-core x86_64 after the builds.
set -eu
cd "$(dirname "$0")"
what="${1:-all}"
if [ "$what" != module ] && [ "$what" != idle ]; then
    for backend in miniz zlib zlib-rs; do
        CARGO_TARGET_DIR="target/$backend" nice -n 5 cargo build -q --release \
            --no-default-features --features "$backend" 2>&1
        bin="target/$backend/release/tinyws-deflate-bench"
        if [ "$what" = all ] || [ "$what" = memory ]; then
            if [ "$backend" = miniz ]; then bits=15; else bits="15 12 9"; fi
            # One state count per process, so that freed states are not
            # reused by the next measurement.
            for b in $bits; do "$bin" memory "$b" 150528 | grep '^memory'; done
        fi
        if [ "$what" = all ] || [ "$what" = cpu ]; then "$bin" cpu; fi
    done
fi
if [ "$what" = all ] || [ "$what" = module ]; then
    CARGO_TARGET_DIR=target/tinyws nice -n 5 cargo build -q --release --features tinyws 2>&1
    target/tinyws/release/tinyws-deflate-bench module
fi
if [ "$what" = all ] || [ "$what" = idle ]; then
    CARGO_TARGET_DIR=target/tinyws nice -n 5 cargo build -q --release --features tinyws 2>&1
    for m in "plain 1024" "deflate 100" "deflate 1024"; do
        # shellcheck disable=SC2086
        MALLOC_ARENA_MAX=1 target/tinyws/release/tinyws-deflate-bench idle 1000 $m
    done
fi
