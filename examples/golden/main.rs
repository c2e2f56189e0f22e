//! Checks edgetune's optimizers against PyTorch golden files.
//!
//! ```text
//! cargo run --release --example golden -- FILE.json [FILE.json ...]
//! ```
//! Every case runs through the plain f64 reference, the generic optimizers at f64 and at f32. The
//! table gives, per optimizer and number type, the cases, steps and max mixed error
//! `|p − p_torch| / (1 + |p_torch|)` over every step's parameters and the final state. Fixed point
//! is judged twice: against the forward bound accumulated along the trajectory (`err / bound`),
//! and step by step from the device's own state (`shadow`, see `harness::shadow`), which gives
//! a verdict where the forward bound overflows. Exits 1 if any case is over its tolerance or
//! either bound or cannot be run, or if no case was read.

mod harness;

use edgetune::num::fixed::{I16F16, I4F12, I8F24};
use std::process::ExitCode;

fn main() -> ExitCode {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        eprintln!(
            "usage: golden FILE.json [FILE.json ...]   (for example tests/data/optim-golden.json)"
        );
        return ExitCode::FAILURE;
    }
    let mut summary = harness::Summary::default();
    for file in &files {
        let cases = match std::fs::read_to_string(file)
            .map_err(|e| e.to_string())
            .and_then(|t| harness::parse(&t))
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{file}: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!("{file}: {} cases", cases.len());
        for case in &cases {
            summary.check(case);
            summary.check_fixed::<I16F16>(case, 2f64.powi(-16), 32768.0);
            summary.check_fixed::<I8F24>(case, 2f64.powi(-24), 128.0);
            // 16-bit storage through the I8F24 kernel: its bound with the rounding term of one
            // stochastic rounding to 2^-12 after the kernel's rounding to nearest (½·2^-24).
            summary.check_fixed::<I4F12>(case, 2f64.powi(-12) + 2f64.powi(-25), 8.0);
        }
    }
    print!("{}", summary.table());
    println!();
    println!(
        "f32: edgetune's error / torch's own f32 drift (vs torch f64), cases with drift >= 1e-7; k = {}",
        harness::F32_DRIFT_FACTOR
    );
    print!("{}", summary.drift_table());
    println!();
    println!("fixed point: error against the f64 reference on the same quantised inputs, and the documented bound");
    print!("{}", summary.fixed_table());
    for f in &summary.failures {
        println!("FAIL {f}");
    }
    match summary.verdict() {
        Ok(n) => {
            println!("all {n} cases pass");
            ExitCode::SUCCESS
        }
        Err(why) => {
            println!("{why}");
            ExitCode::FAILURE
        }
    }
}
