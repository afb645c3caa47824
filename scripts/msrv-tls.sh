#!/usr/bin/env bash
# Builds the library and the tool with TLS using Debian's packaged Rust 1.85:
# what `apt install cargo` gives on Debian and Raspberry Pi OS trixie, and
# what bookworm ships as rustc-web/cargo-web (1.85.0+dfsg3-1~deb12u3, the
# same source package rebuilt for bookworm, so it runs on this bookworm
# machine's glibc where trixie's own build would not).
#
# The `tls` feature needs Rust 1.71 (rustls 0.23 and rustls-webpki 0.103
# declare it); the default features keep 1.63 (scripts/msrv.sh). This script
# also prints the highest rust-version any crate built here declares, so a
# dependency that raises the floor shows up in the log.
#
# The packages are unpacked side by side under $MSRV_TLS_DIR rather than
# installed: rustc-web conflicts with rustc (1.63) and rustup. Only their
# runtime libraries (libllvm19, libcurl4, ...) are apt-installed. Idempotent:
# a second run only builds.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MSRV_TLS_DIR="${MSRV_TLS_DIR:-/opt/tinyws-msrv/1.85}"
export DEBIAN_FRONTEND=noninteractive
VER="1.85.0+dfsg3-1~deb12u3"
PKGS="rustc-web=$VER cargo-web=$VER libstd-rust-web-1.85=$VER libstd-rust-web-dev=$VER"

if [ ! -f "$MSRV_TLS_DIR/.complete" ]; then
  echo "msrv-tls.sh: unpacking Debian's Rust 1.85 into $MSRV_TLS_DIR"
  debs="$(mktemp -d)"
  chown _apt "$debs" 2>/dev/null || true
  # shellcheck disable=SC2086
  if ! (cd "$debs" && apt-get download -q $PKGS >/dev/null 2>&1); then
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086
    (cd "$debs" && apt-get download -q $PKGS >/dev/null)
  fi
  mkdir -p "$MSRV_TLS_DIR"
  for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$MSRV_TLS_DIR"; done
  # What the unpacked binaries link against, from their own Depends lines.
  deps="$(for deb in "$debs"/*.deb; do dpkg-deb -f "$deb" Depends; done | tr ',' '\n' |
    sed 's/|.*//; s/([^)]*)//g; s/^ *//; s/ *$//; s/^libc-dev$/libc6-dev/' |
    grep -vE '^(rustc-web|cargo-web|libstd-rust-web.*)$' | grep -v '^$' | sort -u | tr '\n' ' ')"
  # shellcheck disable=SC2086
  apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends $deps >/dev/null ||
    { apt-get update -q >/dev/null; apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends $deps >/dev/null; }
  rm -rf "$debs"
  touch "$MSRV_TLS_DIR/.complete"
fi

LIBDIR="$MSRV_TLS_DIR/usr/lib/$(gcc -print-multiarch)"
export LD_LIBRARY_PATH="$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export RUSTC="$MSRV_TLS_DIR/usr/bin/rustc" RUSTDOC="$MSRV_TLS_DIR/usr/bin/rustdoc"
export CARGO_TARGET_DIR="$ROOT/target/msrv-tls"
CARGO="$MSRV_TLS_DIR/usr/bin/cargo"
"$RUSTC" --version
"$CARGO" --version
cd "$ROOT"
# --locked: the same committed lockfile as every other build.
"$CARGO" build --locked --workspace --all-targets --features tinyws/tls,tinyws-cli/tls
# The floor the tls build really has: the highest rust-version declared by
# any crate it compiles.
"$CARGO" metadata --locked --format-version 1 --features tls 2>/dev/null | python3 -c '
import json, sys
m = json.load(sys.stdin)
nodes = {n["id"]: n for n in m["resolve"]["nodes"]}
pkgs = {p["id"]: p for p in m["packages"]}
root = next(i for i in nodes if pkgs[i]["name"] == "tinyws")
seen, todo = set(), [root]
while todo:
    i = todo.pop()
    if i in seen:
        continue
    seen.add(i)
    for d in nodes[i]["deps"]:
        if any(k["kind"] in (None, "build") for k in d["dep_kinds"]):
            todo.append(d["pkg"])
def key(v):
    return tuple(int(x) for x in v.split("."))
rv = [(pkgs[i].get("rust_version") or "0", pkgs[i]["name"], pkgs[i]["version"]) for i in seen if pkgs[i]["name"] != "tinyws"]
top = max(rv, key=lambda r: key(r[0]))
print("msrv-tls.sh: the highest rust-version among the tls build'"'"'s crates is %s (%s %s)" % top)
'
echo "msrv-tls.sh: the library and the tool build with TLS on Rust 1.85"
