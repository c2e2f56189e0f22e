//! Passes the build conditions (target, profile, opt-level, rustc version) to the firmware, which
//! prints them on its `conditions:` line; scripts/embedded.sh records them in boards/baseline.toml.
use std::{env, process::Command};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUSTC");
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
