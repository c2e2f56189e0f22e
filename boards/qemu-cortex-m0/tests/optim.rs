//! On-target optimizer tests on the Cortex-M0 (QEMU microbit, no FPU): every optimizer, four steps
//! over 37 parameters (edge values included), in f32 (soft-float), I16F16 and I8F24, against the
//! host's results (`boards/common-data/target_expect.rs`, written by `boards/tools/target-expect`
//! with the same case code, `cases.rs`, over the same input bits).
//!
//! Fixed point: bit-identical parameters after every step and the same rounding-generator state.
//!
//! f32 without a square root (SGD, momentum, Nesterov, Lion): bound 0 ulp. Every operation is an
//! IEEE basic operation, correctly rounded by compiler-builtins' soft-float as by the host's SSE
//! unit (the per-step coefficients likewise in soft `f64`), and Rust never fuses a multiply-add.
//! Measured: 0 ulp.
//!
//! f32 with a square root (Adam, AdamW, AMSGrad, RMSprop, Adagrad): here `sqrt_f32` is
//! `libm::sqrtf` (correctly rounded: this target has no FPU), on the host `sqrt_f32_refined`
//! (within 1 ulp, tested exhaustively; src/num/sqrt.rs), so the roots may differ by 1.5 ulp
//! (relative `1.5·2^-23`); the root's input is the same on both sides (the moments do not depend
//! on the roots, only, through L2 decay, on the parameters). Every operation after the root is
//! rounded on each side (`2^-24` each), so one step's update `u` differs by at most
//! `ρ·2^-23·|u|`, `ρ` = 1.5 + the number of rounded operations after the root:
//!
//! | case | operations after the root | ρ | also |
//! |---|---|---|---|
//! | Adam, AMSGrad, Adam + L2 | `+ eps·√bc2`, `m ÷`, `× step·√bc2` | 4.5 | L2: feedback |
//! | AdamW | as Adam | 4.5 | the decayed parameter is rounded: `+ ulp(p)` per step |
//! | RMSprop, Adagrad | `+ eps`, `g ÷`, `× lr` | 4.5 | |
//! | centered RMSprop + momentum + L2 | `+ eps`, `g ÷`, `μb +`, `× lr` | 5.5 | the buffer keeps `μ^k` of earlier differences; feedback |
//!
//! The parameter's difference after `t` steps is then at most
//! `E_t = E_{t−1} + F_t + 1.5·ulp(p_t)` with `F_t = μF_{t−1} + ρ·2^-23·(Δ_t + 2μΔ_{t−1}) + fb_t·E_{t−1}`
//! (`Δ_t` = the host's update size, `fb_t` = how much a parameter error moves the next update
//! through the L2 gradient `g + wd·p`, bounded from the host's gradients: see
//! `check::within_sqrt_model`). The bound is per element and per step, computed here from the
//! host's values; in ulps of the parameter it is large only where the parameter is small next
//! to its updates (a parameter crossing zero), which is where the measured distance is largest
//! too. The log line gives the largest distance in ulps, the largest bound in ulps and the
//! largest fraction of the bound used. Measured when written (distance; largest fraction of the
//! bound used): Adam, AMSGrad, AdamW 0 ulp; Adam + L2 1 ulp (0.02); RMSprop 2 ulp (0.21); centered
//! RMSprop + momentum 2 ulp (0.12); Adagrad 16 ulp at a parameter near zero (0.06).
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

use cases::{CaseNum, Opt, N, OPT_OUT, STEPS};
use check::{Feedback, SqrtModel};

/// The error model of `opt` in f32 on this target (see the module docs), or `None` if it takes
/// no square root (then the bound is 0 ulp).
fn f32_model(opt: Opt) -> Option<SqrtModel> {
    let plain = |rho| SqrtModel {
        rho,
        mu: 0.0,
        decay: 1.0,
        feedback: Feedback::None,
    };
    match opt {
        Opt::Adam | Opt::AmsGrad => Some(plain(4.5)),
        Opt::AdamL2 => {
            let c = cases::ADAM_L2;
            Some(SqrtModel {
                feedback: Feedback::Adam {
                    lr: c.lr,
                    beta2: c.beta2,
                    wd: c.weight_decay,
                    maximize: c.maximize,
                },
                ..plain(4.5)
            })
        }
        Opt::AdamW => Some(SqrtModel {
            decay: 1.0 - cases::ADAMW.lr * cases::ADAMW.weight_decay,
            ..plain(4.5)
        }),
        Opt::RmsProp | Opt::Adagrad => Some(plain(4.5)),
        Opt::RmsPropCenteredMomentum => {
            let c = cases::RMSPROP_CM;
            Some(SqrtModel {
                rho: 5.5,
                mu: c.momentum,
                decay: 1.0,
                feedback: Feedback::RmsPropCentered {
                    lr: c.lr,
                    alpha: c.alpha,
                    wd: c.weight_decay,
                },
            })
        }
        Opt::Sgd
        | Opt::SgdWd
        | Opt::Momentum
        | Opt::MomentumDamp
        | Opt::Nesterov
        | Opt::Lion
        | Opt::LionWd => None,
    }
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
    match f32_model(opt) {
        // An optimizer without a square root: bit-identical (0 ulp).
        None => {
            check::within_ulps("f32", opt.name(), &out, want, 0);
        }
        Some(m) => {
            check::within_sqrt_model(
                "f32",
                opt.name(),
                &m,
                N,
                STEPS,
                &OPT_INIT,
                &OPT_GRADS,
                &out,
                want,
            );
        }
    }
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
