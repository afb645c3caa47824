#!/usr/bin/env bash
# Cross-builds the Raspberry Pi release binaries (the `tinyws` command and
# examples/echo), strips them, proves the static ones are static, prints a
# size table and writes the artefacts with SHA256SUMS into dist/.
#
# usage: scripts/release.sh [--smoke] [--armv6] [--no-tls] [--no-install]
#   --smoke        afterwards run scripts/qemu-smoke.sh on everything in dist/
#   --armv6        also build arm-unknown-linux-gnueabi (Pi 1 / Zero / Zero W):
#                  static, soft-float, with Debian's rustc-web and -Zbuild-std.
#                  Needs the toolchain of ../shared/debian-rust/setup.sh (run
#                  when missing; set DEBIAN_RUST_SETUP to its path elsewhere).
#                  Adds 1.5-4 minutes (std is compiled too).
#   --no-tls       build the tool without the `tls` feature (only to compare
#                  sizes: the released tool has wss:// and https://, and
#                  qemu-smoke.sh's wss checks fail without it)
#   --no-install   do not apt-get/rustup anything; fail if a tool is missing
#
# Features: the `tinyws` tool is built with `tls` (rustls with ring) and
# `deflate` (the tool's default). ring compiles C and assembly, so each
# target needs a C cross compiler: Debian's gcc-aarch64-linux-gnu for both
# aarch64 builds (the musl one only needs freestanding objects from it; musl
# itself comes with Rust's target), gcc-arm-linux-gnueabihf for armv7, and
# gcc-arm-linux-gnueabi (armel) for ARMv6 with -march=armv6 -marm
# -mfloat-abi=soft, so that no ARMv7 instruction reaches a Pi 1 or Zero
# outside ring's NEON paths, which ring takes only when the CPU reports NEON.
#
# Targets (rustup's stable toolchain, or RELEASE_TOOLCHAIN):
#   aarch64-unknown-linux-musl     static, linked by rust-lld  Pi 3/4/5, Zero 2 W, 64-bit OS
#   armv7-unknown-linux-gnueabihf  static glibc (+crt-static)  Pi 2/3/4/5, Zero 2 W, 32-bit OS
#   aarch64-unknown-linux-gnu      dynamic glibc 2.34+ (Pi OS bookworm), for comparison
#
# Profile: opt-level "z", fat LTO, codegen-units 1, panic = "unwind" (kept on
# purpose: a panicking handler closes its own connection with 1011 and the
# server keeps serving), set through CARGO_PROFILE_RELEASE_* so Cargo.toml
# keeps its own release profile for everyone else. Target dir:
# target/release-cross (RELEASE_TARGET_DIR overrides; CARGO_TARGET_DIR is
# ignored so that CI's shared target dir is not churned by this profile).
#
# Static guard: `file` must say "statically linked" (or "static-pie linked")
# and readelf must find no PT_INTERP and no DT_NEEDED, otherwise the script
# fails. An armv7 release once turned dynamic unnoticed in another WebSocket
# tool (websocat #211) and stopped starting on older systems.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SMOKE=0 ARMV6=0 INSTALL=1 TLS=1
for arg in "$@"; do
  case "$arg" in
    --smoke) SMOKE=1 ;;
    --armv6) ARMV6=1 ;;
    --no-tls) TLS=0 ;;
    --no-install) INSTALL=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "release.sh: unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

log() { echo "release.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

TOOLCHAIN="${RELEASE_TOOLCHAIN:-stable}"
export CARGO_TARGET_DIR="${RELEASE_TARGET_DIR:-$ROOT/target/release-cross}"
DIST="$ROOT/dist"
START=$(date +%s)

# ---- tools ---------------------------------------------------------------------
APT_PKGS=(file binutils gcc-aarch64-linux-gnu libc6-dev-arm64-cross
          gcc-arm-linux-gnueabihf libc6-dev-armhf-cross)
[ "$ARMV6" = 1 ] && APT_PKGS+=(gcc-arm-linux-gnueabi libc6-dev-armel-cross)
RUST_TARGETS=(aarch64-unknown-linux-musl armv7-unknown-linux-gnueabihf aarch64-unknown-linux-gnu)

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo -n "$@"
  else return 1; fi
}

ensure_apt() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$INSTALL" = 1 ] || die "missing packages: ${missing[*]} (drop --no-install or apt-get install them)"
  command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get to install them"
  log "installing ${missing[*]}"
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600
             --no-install-recommends "${missing[@]}")
  if ! as_root "${apt[@]}" >/dev/null; then
    # a fresh CI image may have no package lists yet
    as_root apt-get update -q >/dev/null || log "WARNING: apt-get update reported errors"
    as_root "${apt[@]}" >/dev/null || die "could not install ${missing[*]} (needs root or sudo)"
  fi
}

ensure_rust() {
  command -v rustup >/dev/null || die "rustup not found (https://rustup.rs)"
  if ! rustup run "$TOOLCHAIN" rustc -V >/dev/null 2>&1; then
    [ "$INSTALL" = 1 ] || die "rustup toolchain $TOOLCHAIN is not installed"
    rustup toolchain install "$TOOLCHAIN" --profile minimal
  fi
  local have missing=() t
  have=$(rustup target list --installed --toolchain "$TOOLCHAIN")
  for t in "${RUST_TARGETS[@]}"; do grep -qxF "$t" <<<"$have" || missing+=("$t"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$INSTALL" = 1 ] || die "rustup targets missing for $TOOLCHAIN: ${missing[*]}"
  log "rustup target add ${missing[*]}"
  rustup target add --toolchain "$TOOLCHAIN" "${missing[@]}"
}

ensure_apt "${APT_PKGS[@]}"
ensure_rust
export RUSTUP_TOOLCHAIN="$TOOLCHAIN"

# ---- build settings ------------------------------------------------------------------
export CARGO_PROFILE_RELEASE_OPT_LEVEL=z
export CARGO_PROFILE_RELEASE_LTO=true
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
export CARGO_PROFILE_RELEASE_PANIC=unwind
export CARGO_PROFILE_RELEASE_DEBUG=false
export CARGO_PROFILE_RELEASE_INCREMENTAL=false
# RUSTFLAGS would replace the per-target flags below (cargo uses only one
# source), silently dropping +crt-static. Refuse to inherit it.
if [ -n "${RUSTFLAGS:-}${CARGO_ENCODED_RUSTFLAGS:-}" ]; then
  log "ignoring RUSTFLAGS/CARGO_ENCODED_RUSTFLAGS from the environment for the release build"
fi
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS
# No build-machine paths in the binaries (panic locations name source files).
CARGO_HOME_DIR="${CARGO_HOME:-${HOME:-/root}/.cargo}"
REMAP="--remap-path-prefix=$ROOT=tinyws --remap-path-prefix=$CARGO_HOME_DIR=cargo"

HAVE_CLI=0
[ -f cli/Cargo.toml ] && HAVE_CLI=1
[ "$HAVE_CLI" = 1 ] || log "WARNING: cli/Cargo.toml not found: building examples/echo only"

pkg_version() {  # pkg_version PACKAGE -> 0.1.0
  local id
  id=$(cargo pkgid --locked -p "$1") || die "cargo pkgid -p $1 failed"
  echo "${id##*[#@]}"
}
LIB_VERSION=$(pkg_version tinyws)
CLI_VERSION=""
[ "$HAVE_CLI" = 1 ] && CLI_VERSION=$(pkg_version tinyws-cli)

mkdir -p "$DIST"
rm -f "$DIST"/tinyws-* "$DIST/SHA256SUMS"

ROWS=()   # "file|target|linkage|stripped|unstripped"

# check_binary FILE TRIPLE static|dynamic: fail unless the ELF is what we ship
check_binary() {
  local f=$1 triple=$2 kind=$3 desc machine
  desc=$(file -b "$f")
  machine=$(readelf -hW "$f" | sed -n 's/^ *Machine: *//p')
  case "$triple" in
    aarch64-*) [ "$machine" = AArch64 ] || die "$f: machine is '$machine', want AArch64" ;;
    arm*)      [ "$machine" = ARM ] || die "$f: machine is '$machine', want ARM" ;;
  esac
  if [ "$machine" = AArch64 ]; then
    # The Pi 5's 64-bit kernel uses 16 KiB pages: every LOAD segment must be
    # aligned to at least that (lld and GNU ld use 64 KiB for aarch64).
    local align
    for align in $(readelf -lW "$f" | awk '$1 == "LOAD" { print $NF }'); do
      [ $((align)) -ge 16384 ] || die "$f: LOAD segment aligned to $align (< 16 KiB pages of the Pi 5)"
    done
  fi
  if [ "$kind" = static ]; then
    case "$desc" in
      *"statically linked"*|*"static-pie linked"*) ;;
      *) die "$f is not statically linked: file says: $desc" ;;
    esac
    if readelf -lW "$f" | grep -q 'INTERP'; then die "$f has a PT_INTERP (needs a dynamic loader)"; fi
    if readelf -dW "$f" 2>/dev/null | grep -q '(NEEDED)'; then die "$f has DT_NEEDED entries"; fi
  else
    case "$desc" in
      *"dynamically linked"*) ;;
      *) die "$f: expected a dynamically linked executable, file says: $desc" ;;
    esac
  fi
  if [ "$triple" = arm-unknown-linux-gnueabi ]; then
    # ARMv6 cores (ARM1176 in the Pi 1 / Zero) die with SIGILL on v7 code, such as
    # Debian's armhf crt objects; Debian armel objects are v5TE.
    local arch
    arch=$(readelf -A "$f" | sed -n 's/^ *Tag_CPU_arch: *//p' | head -n 1)
    case "$arch" in
      v4*|v5*|v6|v6K|v6KZ|"v6 "*) ;;
      v7) ring_asm_is_the_only_v7 || die "$f: Tag_CPU_arch is v7, and not only from ring's NEON assembly" ;;
      *) die "$f: Tag_CPU_arch is '$arch', want v6 or older" ;;
    esac
    if readelf -A "$f" | grep -q 'Tag_ABI_VFP_args: VFP registers'; then die "$f uses the hard-float ABI"; fi
  fi
}

# With TLS, the ARMv6 binary is tagged v7, and that is expected: ring's
# pregenerated assembly (its *-linux32.S files) holds NEON versions of its
# routines after an `.arch armv7-a` line, next to ARMv4 ones, and picks one
# at run time from the CPU's HWCAP_NEON, which an ARM1176 does not report.
# The linker tags the whole binary with the highest object. So accept v7
# only if those assembly objects are the only v7 ones among ring's, every
# object compiled from C is v6 or older (the -march=armv6 of
# CFLAGS_arm_unknown_linux_gnueabi took), and the libc and start-up files
# are v6 or older. Rust's own code is v6 by the target's definition.
# qemu-smoke.sh then runs a TLS handshake and echoes under -cpu arm1176,
# which has no NEON and no v7 instructions.
ring_asm_is_the_only_v7() {
  local out o arch bad=0 seen=0 f
  for out in "$CARGO_TARGET_DIR"/arm-unknown-linux-gnueabi/release/build/ring-*/out; do
    for o in "$out"/*.o; do
      [ -f "$o" ] || continue
      seen=$((seen + 1))
      arch=$(readelf -A "$o" | sed -n 's/^ *Tag_CPU_arch: *//p' | head -n 1)
      case "$(basename "$o")" in
        *-linux32.o) ;;   # ring's perlasm: ARMv4 code plus NEON behind HWCAP_NEON
        *) case "$arch" in v4*|v5*|v6|v6K|v6KZ|"v6 "*) ;;
             *) log "ring object $(basename "$o") is '$arch', not v6"; bad=1 ;; esac ;;
      esac
    done
  done
  [ "$seen" -gt 0 ] || { log "no ring objects found to explain the v7 tag"; return 1; }
  for f in crt1.o crti.o crtn.o crtbeginT.o crtend.o libc.a libgcc.a libgcc_eh.a; do
    f=$(arm-linux-gnueabi-gcc -print-file-name="$f")
    if readelf -A "$f" 2>/dev/null | sed -n 's/^ *Tag_CPU_arch: *//p' | grep -qv -E '^(v4|v5|v6)'; then
      log "$f has code newer than v6"; bad=1
    fi
  done
  [ "$bad" = 0 ]
}

# ship OUT_NAME BUILT_FILE TRIPLE KIND STRIP_TOOL
ship() {
  local name=$1 built=$2 triple=$3 kind=$4 strip=$5 out
  [ -f "$built" ] || die "expected $built after the build"
  out="$DIST/$name"
  "$strip" -o "$out" "$built"
  chmod 755 "$out"
  check_binary "$out" "$triple" "$kind"
  ROWS+=("$name|$triple|$kind|$(stat -c %s "$out")|$(stat -c %s "$built")")
  log "$name: $(file -b "$out")"
}

# One cargo run per target builds both binaries, so the two fat-LTO links
# (the slow part) can run side by side.
WHAT=(-p tinyws --example echo)
if [ "$HAVE_CLI" = 1 ]; then
  WHAT+=(-p tinyws-cli --bin tinyws)
  if [ "$TLS" = 1 ]; then WHAT+=(--features tinyws-cli/tls); fi
fi
# ring's C and assembly, per target (cc-rs reads CC_<triple> and CFLAGS_<triple>).
# The musl target links with rust-lld, so cc-rs would guess a compiler named
# aarch64-linux-musl-gcc, which Debian does not have.
export CC_aarch64_unknown_linux_musl=aarch64-linux-gnu-gcc AR_aarch64_unknown_linux_musl=aarch64-linux-gnu-ar
export CC_armv7_unknown_linux_gnueabihf=arm-linux-gnueabihf-gcc AR_armv7_unknown_linux_gnueabihf=arm-linux-gnueabihf-ar
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
export CC_arm_unknown_linux_gnueabi=arm-linux-gnueabi-gcc AR_arm_unknown_linux_gnueabi=arm-linux-gnueabi-ar
# cc-rs passes these for this triple already; said here so the ISA does not
# hang on its defaults. check_binary reads the result back from the ELF.
export CFLAGS_arm_unknown_linux_gnueabi="-march=armv6 -marm -mfloat-abi=soft"

ship_all() {  # ship_all TRIPLE KIND STRIP
  local dir="$CARGO_TARGET_DIR/$1/release"
  ship "tinyws-echo-$LIB_VERSION-$1" "$dir/examples/echo" "$1" "$2" "$3"
  if [ "$HAVE_CLI" = 1 ]; then ship "tinyws-$CLI_VERSION-$1" "$dir/tinyws" "$1" "$2" "$3"; fi
}

# build_rustup TRIPLE KIND LINKER STRIP [RUSTFLAGS...]
build_rustup() {
  local triple=$1 kind=$2 linker=$3 strip=$4; shift 4
  local T flags t0
  T=$(echo "$triple" | tr 'a-z-' 'A-Z_')
  flags="$REMAP $*"
  command -v "$strip" >/dev/null || die "$strip not found"
  export "CARGO_TARGET_${T}_LINKER=$linker" "CARGO_TARGET_${T}_RUSTFLAGS=$flags"
  log "building $triple ($kind, linker $linker, rustflags: ${*:-none})"
  t0=$(date +%s)
  cargo build --locked --release --target "$triple" "${WHAT[@]}"
  ship_all "$triple" "$kind" "$strip"
  log "$triple done in $(( $(date +%s) - t0 )) s"
}

# rust-lld comes with rustup's toolchain; rustc puts its own tool dir on the
# linker's PATH, and the musl target brings its own crt objects and libc.
build_rustup aarch64-unknown-linux-musl static rust-lld aarch64-linux-gnu-strip
build_rustup armv7-unknown-linux-gnueabihf static arm-linux-gnueabihf-gcc arm-linux-gnueabihf-strip \
  -C target-feature=+crt-static
build_rustup aarch64-unknown-linux-gnu dynamic aarch64-linux-gnu-gcc aarch64-linux-gnu-strip

# ---- ARMv6 (opt-in) --------------------------------------------------------------------
build_armv6() {
  local triple=arm-unknown-linux-gnueabi root setup tc="" v t0
  root="${DEBIAN_RUST_ROOT:-/opt/debian-rust}"
  setup="${DEBIAN_RUST_SETUP:-$ROOT/../shared/debian-rust/setup.sh}"
  has_src() { [ -f "$1/usr/lib/rustlib/src/rust/library/Cargo.lock" ] && [ -x "$1/bin/cargo" ]; }
  pick() {
    for v in $(ls -1 "$root" 2>/dev/null | grep -E '^[0-9]+\.[0-9]+\.[0-9]+$' | sort -rV); do
      if has_src "$root/$v"; then echo "$root/$v"; return 0; fi
    done
    return 0
  }
  tc=$(pick)
  if [ -z "$tc" ]; then
    [ "$INSTALL" = 1 ] || die "--armv6: no Debian rustc-web with rust-src under $root"
    [ -x "$setup" ] || die "--armv6: no toolchain under $root and no $setup to install one"
    log "--armv6: installing Debian's rustc-web and rust-web-src with $setup (slow the first time)"
    # Only the newest rustc-web with its std sources: no 1.63, no Python venv,
    # and (a blank NEED_WEB_ARCHES) no second toolchain for prebuilt Pi stds.
    as_root env WITH_MSRV=0 WITH_VENV=0 NEED_WEB_ARCHES=" " "$setup" || die "$setup failed"
    tc=$(pick)
    [ -n "$tc" ] || die "--armv6: $setup left no toolchain with rust-src under $root"
  fi
  log "building $triple (static, soft-float, $("$tc/bin/rustc" -V), -Zbuild-std)"
  t0=$(date +%s)
  # Debian's stable rustc takes -Z flags only with RUSTC_BOOTSTRAP. std is
  # rebuilt from rust-web-src for ARMv6 (no prebuilt std exists for it);
  # its dependencies come from crates.io.
  (
    export RUSTC_BOOTSTRAP=1; unset RUSTUP_TOOLCHAIN
    export CARGO_TARGET_ARM_UNKNOWN_LINUX_GNUEABI_LINKER=arm-linux-gnueabi-gcc
    # std is compiled from $tc too: name its sources as rustup's builds do.
    export CARGO_TARGET_ARM_UNKNOWN_LINUX_GNUEABI_RUSTFLAGS="$REMAP -C target-feature=+crt-static \
      --remap-path-prefix=$tc/usr/lib/rustlib/src/rust=/rustc/debian-$(basename "$tc")"
    "$tc/bin/cargo" build --locked --release --target "$triple" -Zbuild-std=std,panic_unwind "${WHAT[@]}"
  ) || die "ARMv6 build failed"
  ship_all "$triple" static arm-linux-gnueabi-strip
  log "$triple done in $(( $(date +%s) - t0 )) s"
}
[ "$ARMV6" = 1 ] && build_armv6

# ---- checksums and the size table --------------------------------------------------------
(cd "$DIST" && sha256sum tinyws-* >SHA256SUMS)

echo
printf '%-50s %-8s %10s %11s\n' "dist/ file" linkage stripped unstripped
for row in "${ROWS[@]}"; do
  IFS='|' read -r name triple kind stripped unstripped <<<"$row"
  printf '%-50s %-8s %10s %11s\n' "$name" "$kind" "$stripped" "$unstripped"
done
dyn="$DIST/tinyws-echo-$LIB_VERSION-aarch64-unknown-linux-gnu"
glibc=$(readelf -VW "$dyn" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n 1)
echo "(bytes; the dynamic aarch64-unknown-linux-gnu build needs ${glibc:-?} or newer)"
echo "release.sh: artefacts and SHA256SUMS in $DIST; built in $(( $(date +%s) - START )) s"

if [ "$SMOKE" = 1 ]; then
  "$ROOT/scripts/qemu-smoke.sh"
fi
