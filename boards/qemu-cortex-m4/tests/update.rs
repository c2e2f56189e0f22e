//! On-target test of the `f32` Adam update on the Cortex-M4F (QEMU mps2-an386): the default form
//! (`AnyAdam`, whose usual Adam and AdamW configurations run four parameters per iteration, and
//! with the `arm-vldm` feature run `edgetune::arm::adam`'s assembly kernels) against the compact
//! form (`CompactAdam` / `CompactAdamW`, one scalar Rust loop over the same element operations,
//! which no kernel replaces), every parameter and both moments after every step, bit for bit.
//!
//! The gradients reach every path of the kernels' root: ordinary values, zeros (a second moment
//! of exactly 0), values near `1e-19` (a subnormal second moment, which the refined root scales
//! into the normal range) and a mix within one group of four. Lengths 37 (nine groups and one
//! left to the portable loop), 64 and 3 (no whole group); eps `1e-8` and `1e-30` (far below the
//! root of a subnormal moment, which then decides the update). Bound: 0 ulp, since both sides run the
//! same IEEE operations in the same order with the same root. `scripts/embedded.sh` runs this
//! test in the default build and in the `arm-vldm` and `arm-vldm` + `arm-vsqrt` variants.
#![no_std]
#![no_main]

use bench_common as _; // panic handlers: log and exit QEMU with status 1
use cortex_m_rt as _;
use defmt_semihosting as _;

use edgetune::optim::{Adam, AdamConfig, AdamForm, Off, Optimizer};

#[path = "support/fill.rs"]
mod support;
use support::fill;

/// Fails the test at the first word of `got` that differs from `want`.
fn same_bits(what: &str, step: usize, got: &[f32], want: &[f32]) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if g.to_bits() != w.to_bits() {
            defmt::panic!(
                "{=str}, step {=usize}: word {=usize}: {=u32:#x}, compact form {=u32:#x}",
                what,
                step,
                i,
                g.to_bits(),
                w.to_bits()
            );
        }
    }
}

/// The gradient of step `step`: by index, ordinary values, zeros, values near `1e-19` and, in
/// the last steps, every kind within each group of four.
fn gradient(g: &mut [f32], step: usize, seed: u32) {
    fill(g, seed.wrapping_add(step as u32 * 7919));
    for (i, x) in g.iter_mut().enumerate() {
        let kind = if step < 2 { (i / 4) % 4 } else { i % 4 };
        match kind {
            1 => *x = 0.0,
            2 => *x *= 1e-19,
            _ => {}
        }
    }
}

/// Five steps of `cfg` on `N` parameters in the default form and in the compact form `K`.
fn case<const N: usize, K: AdamForm>(what: &str, cfg: AdamConfig, seed: u32) {
    let mut fast = defmt::unwrap!(Adam::<f32, N>::new(cfg).ok());
    let mut compact = defmt::unwrap!(Adam::<f32, N, Off, K>::new(cfg).ok());
    let mut p = [0.0f32; N];
    fill(&mut p, seed);
    let mut q = p;
    let mut g = [0.0f32; N];
    for step in 0..5 {
        gradient(&mut g, step, seed);
        defmt::unwrap!(fast.step(&mut p, &g).ok());
        defmt::unwrap!(compact.step(&mut q, &g).ok());
        same_bits(what, step, &p, &q);
        same_bits(what, step, fast.exp_avg(), compact.exp_avg());
        same_bits(what, step, fast.exp_avg_sq(), compact.exp_avg_sq());
    }
    defmt::info!("{=str}: {=usize} parameters, 5 steps, bit for bit", what, N);
}

#[defmt_test::tests]
mod tests {
    use super::case;
    use edgetune::optim::{AdamConfig, CompactAdam, CompactAdamW};

    #[test]
    fn adam_37() {
        case::<37, CompactAdam>("adam 37", AdamConfig::adam(1e-2), 1);
    }

    #[test]
    fn adam_64() {
        case::<64, CompactAdam>("adam 64", AdamConfig::adam(1e-3), 2);
    }

    #[test]
    fn adam_3() {
        case::<3, CompactAdam>("adam 3", AdamConfig::adam(1e-2), 3);
    }

    // eps far below the root of a subnormal second moment, so that root decides the update.
    #[test]
    fn adam_37_tiny_eps() {
        let cfg = AdamConfig {
            eps: 1e-30,
            ..AdamConfig::adam(1e-2)
        };
        case::<37, CompactAdam>("adam 37 eps 1e-30", cfg, 6);
    }

    #[test]
    fn adamw_37() {
        case::<37, CompactAdamW>("adamw 37", AdamConfig::adamw(1e-2), 4);
    }

    #[test]
    fn adamw_37_tiny_eps() {
        let cfg = AdamConfig {
            eps: 1e-30,
            ..AdamConfig::adamw(1e-2)
        };
        case::<37, CompactAdamW>("adamw 37 eps 1e-30", cfg, 7);
    }

    #[test]
    fn adamw_64() {
        case::<64, CompactAdamW>("adamw 64", AdamConfig::adamw(1e-3), 5);
    }
}
