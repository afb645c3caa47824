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
VER="1.85.0+dfsg3-1~deb12u3"
PKGS="rustc-web=$VER cargo-web=$VER libstd-rust-web-1.85=$VER libstd-rust-web-dev=$VER"
# shellcheck source=scripts/lib/debian-rust.sh
. "$ROOT/scripts/lib/debian-rust.sh"
use_debian_rust msrv-tls.sh "$MSRV_TLS_DIR" "$PKGS" 'rustc-web|cargo-web|libstd-rust-web.*'
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
