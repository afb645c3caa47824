# Sourced by scripts/msrv.sh and scripts/msrv-tls.sh: unpacks Debian's own
# Rust packages side by side under a directory instead of installing them
# (they would conflict with rustup and with each other), apt-installs only
# the runtime libraries they link against, and points RUSTC, RUSTDOC and
# LD_LIBRARY_PATH at them. Idempotent: a second run only sets the variables.
#
# usage: use_debian_rust NAME DIR 'PKG=VER ...' 'EXCLUDED-DEPENDS-REGEX'
use_debian_rust() {
  local name="$1" dir="$2" pkgs="$3" own="$4" debs deps
  export DEBIAN_FRONTEND=noninteractive
  if [ ! -f "$dir/.complete" ]; then
    echo "$name: unpacking Debian's Rust into $dir"
    debs="$(mktemp -d)"
    chown _apt "$debs" 2>/dev/null || true
    # shellcheck disable=SC2086
    if ! (cd "$debs" && apt-get download -q $pkgs >/dev/null 2>&1); then
      apt-get update -q >/dev/null
      # shellcheck disable=SC2086
      (cd "$debs" && apt-get download -q $pkgs >/dev/null)
    fi
    mkdir -p "$dir"
    for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$dir"; done
    # What the unpacked binaries link against, from their own Depends lines.
    deps="$(for deb in "$debs"/*.deb; do dpkg-deb -f "$deb" Depends; done | tr ',' '\n' |
      sed 's/|.*//; s/([^)]*)//g; s/^ *//; s/ *$//; s/^libc-dev$/libc6-dev/' |
      grep -vE "^($own)\$" | grep -v '^$' | sort -u | tr '\n' ' ')"
    # shellcheck disable=SC2086
    apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends $deps >/dev/null ||
      { apt-get update -q >/dev/null; apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends $deps >/dev/null; }
    rm -rf "$debs"
    touch "$dir/.complete"
  fi
  local libdir
  libdir="$dir/usr/lib/$(gcc -print-multiarch)"
  export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export RUSTC="$dir/usr/bin/rustc" RUSTDOC="$dir/usr/bin/rustdoc"
}
