//! Puts the machine's memory map into OUT_DIR as `memory.x` (cortex-m-rt's `link.x` includes it)
//! and passes the build conditions to the firmware, which prints them with its table.
//!
//! The per-machine file is deliberately NOT named `memory.x` in the package root: GNU ld resolves
//! `INCLUDE memory.x` from the current directory before the `-L` search path, so a root
//! `memory.x` would silently win over the copy written here.
use std::{env, fs, path::PathBuf, process::Command};

fn main() {
    // One machine for now; a feature or `TARGET` match would pick another file here.
    let memory = "memory-microbit.x";
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    fs::copy(memory, out.join("memory.x")).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={memory}");
    println!("cargo:rerun-if-changed=build.rs");

    let target = env::var("TARGET").unwrap_or_default();
    let opt = env::var("OPT_LEVEL").unwrap_or_default();
    let profile = env::var("PROFILE").unwrap_or_default();
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(&rustc)
        .arg("-V")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=BENCH_TARGET={target}");
    println!("cargo:rustc-env=BENCH_OPT_LEVEL={opt}");
    println!("cargo:rustc-env=BENCH_PROFILE={profile}");
    println!("cargo:rustc-env=BENCH_RUSTC={version}");
}
