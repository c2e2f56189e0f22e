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

use bench_common as _; // panic handlers: log and exit QEMU with status 1
use cortex_m as _;
use cortex_m_rt as _;
use defmt_semihosting as _;

#[path = "../../tools/target-expect/src/cases.rs"]
mod cases;
#[path = "../../tools/target-expect/src/check.rs"]
mod check;
#[allow(dead_code, clippy::all)]
mod expect {
    include!("../../common-data/target_expect.rs");
}

use cases::{CaseNum, Opt, OPT_OUT};

/// Largest distance from the host's f32 parameters allowed for `opt`, in ulps (see the module
/// docs: the M4F runs the host's operations, square root included).
const fn f32_bound(_opt: Opt) -> u32 {
    0
}

/// Runs `opt` on this target and returns its output words.
fn run<S: CaseNum>(opt: Opt, nearest: bool, init: &[u32], grads: &[u32]) -> [u32; OPT_OUT] {
    let mut out = [0u32; OPT_OUT];
    if cases::run_opt::<S>(opt, nearest, init, grads, &mut out).is_err() {
        defmt::panic!("{=str}: the step returned an error", opt.name());
    }
    out
}

fn float(opt: Opt, want: &[u32]) {
    use expect::float::{OPT_GRADS, OPT_INIT};
    let out = run::<f32>(opt, false, &OPT_INIT, &OPT_GRADS);
    check::within_ulps("f32", opt.name(), &out, want, f32_bound(opt));
}

fn q16(name: &str, opt: Opt, nearest: bool, want: &[u32]) {
    use edgetune::num::fixed::I16F16;
    use expect::q16::{OPT_GRADS, OPT_INIT};
    check::exact(
        "I16F16",
        name,
        &run::<I16F16>(opt, nearest, &OPT_INIT, &OPT_GRADS),
        want,
    );
}

fn q24(name: &str, opt: Opt, nearest: bool, want: &[u32]) {
    use edgetune::num::fixed::I8F24;
    use expect::q24::{OPT_GRADS, OPT_INIT};
    check::exact(
        "I8F24",
        name,
        &run::<I8F24>(opt, nearest, &OPT_INIT, &OPT_GRADS),
        want,
    );
}

#[defmt_test::tests]
mod tests {
    use super::cases::Opt;
    use super::expect::{float as f, q16 as h, q24 as q};
    use super::{float, q16, q24};

    #[test]
    fn f32_sgd() {
        float(Opt::Sgd, &f::OPT_SGD)
    }
    #[test]
    fn f32_sgd_decay_maximize() {
        float(Opt::SgdWd, &f::OPT_SGD_WD)
    }
    #[test]
    fn f32_momentum() {
        float(Opt::Momentum, &f::OPT_MOMENTUM)
    }
    #[test]
    fn f32_momentum_dampening_decay() {
        float(Opt::MomentumDamp, &f::OPT_MOMENTUM_DAMP)
    }
    #[test]
    fn f32_nesterov() {
        float(Opt::Nesterov, &f::OPT_NESTEROV)
    }
    #[test]
    fn f32_adam() {
        float(Opt::Adam, &f::OPT_ADAM)
    }
    #[test]
    fn f32_adam_l2_maximize() {
        float(Opt::AdamL2, &f::OPT_ADAM_L2)
    }
    #[test]
    fn f32_adamw() {
        float(Opt::AdamW, &f::OPT_ADAMW)
    }
    #[test]
    fn f32_amsgrad() {
        float(Opt::AmsGrad, &f::OPT_AMSGRAD)
    }
    #[test]
    fn f32_rmsprop() {
        float(Opt::RmsProp, &f::OPT_RMSPROP)
    }
    #[test]
    fn f32_rmsprop_centered_momentum() {
        float(Opt::RmsPropCenteredMomentum, &f::OPT_RMSPROP_CM)
    }
    #[test]
    fn f32_adagrad() {
        float(Opt::Adagrad, &f::OPT_ADAGRAD)
    }
    #[test]
    fn f32_lion() {
        float(Opt::Lion, &f::OPT_LION)
    }
    #[test]
    fn f32_lion_decay() {
        float(Opt::LionWd, &f::OPT_LION_WD)
    }

    #[test]
    fn i16f16_sgd() {
        q16("SGD", Opt::Sgd, false, &h::OPT_SGD)
    }
    #[test]
    fn i16f16_sgd_nearest() {
        q16("SGD_NEAREST", Opt::Sgd, true, &h::OPT_SGD_NEAREST)
    }
    #[test]
    fn i16f16_sgd_decay_maximize() {
        q16("SGD_WD", Opt::SgdWd, false, &h::OPT_SGD_WD)
    }
    #[test]
    fn i16f16_momentum() {
        q16("MOMENTUM", Opt::Momentum, false, &h::OPT_MOMENTUM)
    }
    #[test]
    fn i16f16_momentum_dampening_decay() {
        q16(
            "MOMENTUM_DAMP",
            Opt::MomentumDamp,
            false,
            &h::OPT_MOMENTUM_DAMP,
        )
    }
    #[test]
    fn i16f16_nesterov() {
        q16("NESTEROV", Opt::Nesterov, false, &h::OPT_NESTEROV)
    }
    #[test]
    fn i16f16_adam() {
        q16("ADAM", Opt::Adam, false, &h::OPT_ADAM)
    }
    #[test]
    fn i16f16_adam_nearest() {
        q16("ADAM_NEAREST", Opt::Adam, true, &h::OPT_ADAM_NEAREST)
    }
    #[test]
    fn i16f16_adam_l2_maximize() {
        q16("ADAM_L2", Opt::AdamL2, false, &h::OPT_ADAM_L2)
    }
    #[test]
    fn i16f16_adamw() {
        q16("ADAMW", Opt::AdamW, false, &h::OPT_ADAMW)
    }
    #[test]
    fn i16f16_amsgrad() {
        q16("AMSGRAD", Opt::AmsGrad, false, &h::OPT_AMSGRAD)
    }
    #[test]
    fn i16f16_rmsprop() {
        q16("RMSPROP", Opt::RmsProp, false, &h::OPT_RMSPROP)
    }
    #[test]
    fn i16f16_rmsprop_centered_momentum() {
        q16(
            "RMSPROP_CM",
            Opt::RmsPropCenteredMomentum,
            false,
            &h::OPT_RMSPROP_CM,
        )
    }
    #[test]
    fn i16f16_adagrad() {
        q16("ADAGRAD", Opt::Adagrad, false, &h::OPT_ADAGRAD)
    }
    #[test]
    fn i16f16_lion() {
        q16("LION", Opt::Lion, false, &h::OPT_LION)
    }
    #[test]
    fn i16f16_lion_nearest() {
        q16("LION_NEAREST", Opt::Lion, true, &h::OPT_LION_NEAREST)
    }
    #[test]
    fn i16f16_lion_decay() {
        q16("LION_WD", Opt::LionWd, false, &h::OPT_LION_WD)
    }

    #[test]
    fn i8f24_sgd() {
        q24("SGD", Opt::Sgd, false, &q::OPT_SGD)
    }
    #[test]
    fn i8f24_sgd_nearest() {
        q24("SGD_NEAREST", Opt::Sgd, true, &q::OPT_SGD_NEAREST)
    }
    #[test]
    fn i8f24_sgd_decay_maximize() {
        q24("SGD_WD", Opt::SgdWd, false, &q::OPT_SGD_WD)
    }
    #[test]
    fn i8f24_momentum() {
        q24("MOMENTUM", Opt::Momentum, false, &q::OPT_MOMENTUM)
    }
    #[test]
    fn i8f24_momentum_dampening_decay() {
        q24(
            "MOMENTUM_DAMP",
            Opt::MomentumDamp,
            false,
            &q::OPT_MOMENTUM_DAMP,
        )
    }
    #[test]
    fn i8f24_nesterov() {
        q24("NESTEROV", Opt::Nesterov, false, &q::OPT_NESTEROV)
    }
    #[test]
    fn i8f24_adam() {
        q24("ADAM", Opt::Adam, false, &q::OPT_ADAM)
    }
    #[test]
    fn i8f24_adam_nearest() {
        q24("ADAM_NEAREST", Opt::Adam, true, &q::OPT_ADAM_NEAREST)
    }
    #[test]
    fn i8f24_adam_l2_maximize() {
        q24("ADAM_L2", Opt::AdamL2, false, &q::OPT_ADAM_L2)
    }
    #[test]
    fn i8f24_adamw() {
        q24("ADAMW", Opt::AdamW, false, &q::OPT_ADAMW)
    }
    #[test]
    fn i8f24_amsgrad() {
        q24("AMSGRAD", Opt::AmsGrad, false, &q::OPT_AMSGRAD)
    }
    #[test]
    fn i8f24_rmsprop() {
        q24("RMSPROP", Opt::RmsProp, false, &q::OPT_RMSPROP)
    }
    #[test]
    fn i8f24_rmsprop_centered_momentum() {
        q24(
            "RMSPROP_CM",
            Opt::RmsPropCenteredMomentum,
            false,
            &q::OPT_RMSPROP_CM,
        )
    }
    #[test]
    fn i8f24_adagrad() {
        q24("ADAGRAD", Opt::Adagrad, false, &q::OPT_ADAGRAD)
    }
    #[test]
    fn i8f24_lion() {
        q24("LION", Opt::Lion, false, &q::OPT_LION)
    }
    #[test]
    fn i8f24_lion_nearest() {
        q24("LION_NEAREST", Opt::Lion, true, &q::OPT_LION_NEAREST)
    }
    #[test]
    fn i8f24_lion_decay() {
        q24("LION_WD", Opt::LionWd, false, &q::OPT_LION_WD)
    }
}
