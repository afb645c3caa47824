#!/usr/bin/env bash
# Builds everything with Rust 1.63, the compiler `apt install cargo` gives on
# Debian and Raspberry Pi OS bookworm, using the committed Cargo.lock.
#
# Debian's rustc 1.63, its std and cargo 0.66 (cargo 1.65) are unpacked side
# by side under $MSRV_DIR rather than installed, so they do not clash with
# rustup; only their runtime libraries (libllvm14, libgit2, ...) are
# apt-installed. Idempotent: a second run only builds.
#
# cargo 1.65 has no stable sparse index and only the sparse index is
# reachable here, hence RUSTC_BOOTSTRAP=1 and -Zsparse-registry.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MSRV_DIR="${MSRV_DIR:-/opt/tinyws-msrv/1.63}"
PKGS="rustc=1.63.0+dfsg1-2 libstd-rust-1.63=1.63.0+dfsg1-2 libstd-rust-dev=1.63.0+dfsg1-2 cargo=0.66.0+ds1-1"
# shellcheck source=scripts/lib/debian-rust.sh
. "$ROOT/scripts/lib/debian-rust.sh"
use_debian_rust msrv.sh "$MSRV_DIR" "$PKGS" 'rustc|cargo|libstd-rust.*'
export RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$ROOT/target/msrv"
"$RUSTC" --version
"$MSRV_DIR/usr/bin/cargo" --version
cd "$ROOT"
# --locked: the committed lockfile must be one cargo 1.65 reads (version 3)
# and resolved to crates that build on 1.63.
"$MSRV_DIR/usr/bin/cargo" -Zsparse-registry build --locked --workspace --all-targets
echo "msrv.sh: the workspace builds with Rust 1.63"
# The `deflate` feature promises the same minimum (Cargo.toml); its unit
# tests run too, as they exercise miniz_oxide's code paths on this compiler.
"$MSRV_DIR/usr/bin/cargo" -Zsparse-registry test --locked -p tinyws --features deflate --lib deflate
echo "msrv.sh: the deflate feature builds and passes its tests with Rust 1.63"
