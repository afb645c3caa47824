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
export DEBIAN_FRONTEND=noninteractive
PKGS="rustc=1.63.0+dfsg1-2 libstd-rust-1.63=1.63.0+dfsg1-2 libstd-rust-dev=1.63.0+dfsg1-2 cargo=0.66.0+ds1-1"

if [ ! -f "$MSRV_DIR/.complete" ]; then
  echo "msrv.sh: unpacking Debian's Rust 1.63 into $MSRV_DIR"
  debs="$(mktemp -d)"
  chown _apt "$debs" 2>/dev/null || true
  # shellcheck disable=SC2086
  if ! (cd "$debs" && apt-get download -q $PKGS >/dev/null 2>&1); then
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086
    (cd "$debs" && apt-get download -q $PKGS >/dev/null)
  fi
  mkdir -p "$MSRV_DIR"
  for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$MSRV_DIR"; done
  # What the unpacked binaries link against, from their own Depends lines.
  deps="$(for deb in "$debs"/*.deb; do dpkg-deb -f "$deb" Depends; done | tr ',' '\n' |
    sed 's/|.*//; s/([^)]*)//g; s/^ *//; s/ *$//; s/^libc-dev$/libc6-dev/' |
    grep -vE '^(rustc|cargo|libstd-rust.*)$' | grep -v '^$' | sort -u | tr '\n' ' ')"
  # shellcheck disable=SC2086
  apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends $deps >/dev/null ||
    { apt-get update -q >/dev/null; apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends $deps >/dev/null; }
  rm -rf "$debs"
  touch "$MSRV_DIR/.complete"
fi

LIBDIR="$MSRV_DIR/usr/lib/$(gcc -print-multiarch)"
export LD_LIBRARY_PATH="$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export RUSTC="$MSRV_DIR/usr/bin/rustc" RUSTDOC="$MSRV_DIR/usr/bin/rustdoc"
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
