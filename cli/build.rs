//! Tells the tool whether std has `CommandExt::process_group` (Rust 1.64):
//! with it, CMD gets its process group directly; without it (Rust 1.63),
//! tinyws starts itself as a trampoline that makes the group and execs CMD.
//! The trampoline cannot work under qemu-user without binfmt support, where
//! the release binaries are smoke-tested, and the release toolchains are
//! newer than 1.64.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-check-cfg=cfg(tinyws_process_group)");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let minor = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|v| v.split('.').nth(1).and_then(|m| m.parse::<u32>().ok()));
    if minor.map_or(false, |m| m >= 64) {
        println!("cargo:rustc-cfg=tinyws_process_group");
    }
}
