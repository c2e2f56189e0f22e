//! Puts the machine's memory map into OUT_DIR as `memory.x` (cortex-m-rt's `link.x` includes it).
//! The build conditions printed by the firmware come from bench-common's build script.
//!
//! The per-machine file is deliberately NOT named `memory.x` in the package root: GNU ld resolves
//! `INCLUDE memory.x` from the current directory before the `-L` search path, so a root
//! `memory.x` would silently win over the copy written here.
use std::{env, fs, path::PathBuf};

fn main() {
    let memory = "memory-mps2-an385.x";
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    fs::copy(memory, out.join("memory.x")).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={memory}");
    println!("cargo:rerun-if-changed=build.rs");
}
