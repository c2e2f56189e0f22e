//! On-target optimizer tests on the Cortex-M3 (QEMU mps2-an385, no FPU; the Cortex-M0's file, same soft-float f32 and `libm::sqrtf`): every optimizer, four steps
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
//!
//! On this board: the "measured when written" figures above are the Cortex-M0's; the run logs
//! this board's own distances and the fraction of the bound used (scripts/embedded.sh summarises
//! the largest per test binary).
#![no_std]
#![no_main]

// The test lists and helpers shared by both QEMU boards, with `cases`, `check` and `expect`.
#[path = "../../tools/target-expect/src/target_tests.rs"]
#[macro_use]
mod target_tests;

use target_tests::cases::{self, Opt, N, STEPS};
use target_tests::check::{self, Feedback, SqrtModel};

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

/// This board's f32 comparison of `opt`'s output `out` with the host's `want`: bit for bit
/// without a square root, else within the per-element bound of [`f32_model`] (see the module
/// docs).
fn check_f32(opt: Opt, out: &[u32], want: &[u32]) {
    use target_tests::expect::float::{OPT_GRADS, OPT_INIT};
    match f32_model(opt) {
        // An optimizer without a square root: bit-identical (0 ulp).
        None => {
            check::within_ulps("f32", opt.name(), out, want, 0);
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
                out,
                want,
            );
        }
    }
}

optim_tests!(check_f32 = crate::check_f32);
