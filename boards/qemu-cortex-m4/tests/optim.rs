//! On-target optimizer tests on the Cortex-M4F (QEMU mps2-an386): every optimizer, four steps over
//! 37 parameters (edge values included), in f32, I16F16 and I8F24, must give the host's results
//! (`boards/common-data/target_expect.rs`, written by `boards/tools/target-expect` with the
//! same case code, `cases.rs`, over the same input bits).
//!
//! Fixed point: bit-identical parameters after every step and the same rounding-generator state
//! (integer arithmetic; the per-step coefficients come from `f64` basic operations and pure-Rust
//! libm, both correctly rounded on every target).
//!
//! f32: bound 0 ulp, for every optimizer. Why: every operation of the f32 steps is an IEEE basic
//! operation (+, −, ×, ÷: correctly rounded by the host's SSE unit, by the M4F's FPU, and by
//! compiler-builtins' soft `f64` for the per-step coefficients), Rust never fuses a multiply and
//! an add on its own, and the square root is the same code on both sides: `sqrt_f32` resolves to
//! `sqrt_f32_refined` (an rsqrt estimate refined by multiplies and adds, src/num/sqrt.rs) for
//! `target_abi = "eabihf"` as for x86-64, with `libm::sqrtf` for its special inputs on both.
//! Identical operations on identical bits give identical bits; the FPU runs with flush-to-zero
//! and default-NaN off (cortex-m-rt only enables it), so subnormal inputs are kept, as on the
//! host. Measured: 0 ulp for every case.
#![no_std]
#![no_main]

// The test lists and helpers shared by both QEMU boards, with `cases`, `check` and `expect`.
#[path = "../../tools/target-expect/src/target_tests.rs"]
#[macro_use]
mod target_tests;

use target_tests::cases::Opt;
use target_tests::check;

/// Largest distance from the host's f32 parameters allowed for `opt`, in ulps (see the module
/// docs: the M4F runs the host's operations, square root included).
const fn f32_bound(_opt: Opt) -> u32 {
    0
}

/// This board's f32 comparison of `opt`'s output `out` with the host's `want`: within
/// [`f32_bound`] ulps.
fn check_f32(opt: Opt, out: &[u32], want: &[u32]) {
    check::within_ulps("f32", opt.name(), out, want, f32_bound(opt));
}

optim_tests!(check_f32 = crate::check_f32);
