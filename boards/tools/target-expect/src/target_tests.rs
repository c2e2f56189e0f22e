//! The on-target tests both QEMU boards run (`boards/qemu-cortex-m0/tests/` and
//! `boards/qemu-cortex-m4/tests/`, `optim.rs` and `layers.rs`): the test lists, their helpers and
//! the modules they need, in one place (firmware only, like `check.rs`: the host generator does
//! not include this file). Each test file includes it with
//!
//! ```ignore
//! #[path = "../../tools/target-expect/src/target_tests.rs"]
//! #[macro_use]
//! mod target_tests;
//! ```
//!
//! (the name `target_tests` is the one the macros refer to), which brings the case code
//! (`cases`), the comparisons (`check`), the host's expected values (`expect`), the helpers below
//! and two macros, `optim_tests!` and `layers_tests!`, each expanding to a whole
//! `#[defmt_test::tests] mod tests { ... }`: defmt-test's attribute must see the `#[test]`
//! functions as tokens, so the list cannot be `include!`d into the module. What differs between
//! the boards, how their f32 results are compared with the host's, is a macro argument: a
//! function of the board's test file, whose module docs derive the bound it asserts.
#![allow(dead_code, unused_macros)] // each test binary uses part of it

use bench_common as _; // panic handlers: log and exit QEMU with status 1
use cortex_m as _;
use cortex_m_rt as _;
use defmt_semihosting as _;

#[path = "cases.rs"]
pub mod cases;
#[path = "check.rs"]
pub mod check;
#[allow(dead_code, clippy::all)]
pub mod expect {
    include!("../../../common-data/target_expect.rs");
}

use cases::{CaseError, CaseNum, Opt, OPT_OUT};

// ---- optimizers (tests/optim.rs) ---------------------------------------------------------------

/// A board's f32 comparison of an optimizer case: `(opt, target's output, host's output)`; it
/// logs the `check f32 ...` line and fails the test if the output is out of its bound.
pub type CheckF32 = fn(Opt, &[u32], &[u32]);

/// Runs `opt` on this target and returns its output words.
pub fn run<S: CaseNum>(opt: Opt, nearest: bool, init: &[u32], grads: &[u32]) -> [u32; OPT_OUT] {
    let mut out = [0u32; OPT_OUT];
    if cases::run_opt::<S>(opt, nearest, init, grads, &mut out).is_err() {
        defmt::panic!("{=str}: the step returned an error", opt.name());
    }
    out
}

/// Runs `opt` in f32 from the host's inputs and compares with `want` by the board's `check_f32`.
pub fn float(check_f32: CheckF32, opt: Opt, want: &[u32]) {
    use expect::float::{OPT_GRADS, OPT_INIT};
    let out = run::<f32>(opt, false, &OPT_INIT, &OPT_GRADS);
    check_f32(opt, &out, want);
}

pub fn q16(name: &str, opt: Opt, nearest: bool, want: &[u32]) {
    use edgetune::num::fixed::I16F16;
    use expect::q16::{OPT_GRADS, OPT_INIT};
    check::exact(
        "I16F16",
        name,
        &run::<I16F16>(opt, nearest, &OPT_INIT, &OPT_GRADS),
        want,
    );
}

pub fn q12(name: &str, opt: Opt, nearest: bool, want: &[u32]) {
    use edgetune::num::fixed::I4F12;
    use expect::q12::{OPT_GRADS, OPT_INIT};
    check::exact(
        "I4F12",
        name,
        &run::<I4F12>(opt, nearest, &OPT_INIT, &OPT_GRADS),
        want,
    );
}

pub fn q24(name: &str, opt: Opt, nearest: bool, want: &[u32]) {
    use edgetune::num::fixed::I8F24;
    use expect::q24::{OPT_GRADS, OPT_INIT};
    check::exact(
        "I8F24",
        name,
        &run::<I8F24>(opt, nearest, &OPT_INIT, &OPT_GRADS),
        want,
    );
}

/// The optimizer tests (48): every optimizer in f32, I16F16 and I8F24, fixed point also with
/// round-to-nearest for SGD, Adam and Lion. `check_f32` is the board's [`CheckF32`], a path that
/// resolves inside the generated module (`crate::check_f32`).
macro_rules! optim_tests {
    (check_f32 = $check_f32:path) => {
        #[defmt_test::tests]
        mod tests {
            use crate::target_tests::cases::Opt;
            use crate::target_tests::expect::{float as f, q16 as h, q24 as q};
            use crate::target_tests::{float, q16, q24, CheckF32};

            /// The board's f32 comparison.
            const CHECK_F32: CheckF32 = $check_f32;

            #[test]
            fn f32_sgd() {
                float(CHECK_F32, Opt::Sgd, &f::OPT_SGD)
            }
            #[test]
            fn f32_sgd_decay_maximize() {
                float(CHECK_F32, Opt::SgdWd, &f::OPT_SGD_WD)
            }
            #[test]
            fn f32_momentum() {
                float(CHECK_F32, Opt::Momentum, &f::OPT_MOMENTUM)
            }
            #[test]
            fn f32_momentum_dampening_decay() {
                float(CHECK_F32, Opt::MomentumDamp, &f::OPT_MOMENTUM_DAMP)
            }
            #[test]
            fn f32_nesterov() {
                float(CHECK_F32, Opt::Nesterov, &f::OPT_NESTEROV)
            }
            #[test]
            fn f32_adam() {
                float(CHECK_F32, Opt::Adam, &f::OPT_ADAM)
            }
            #[test]
            fn f32_adam_l2_maximize() {
                float(CHECK_F32, Opt::AdamL2, &f::OPT_ADAM_L2)
            }
            #[test]
            fn f32_adamw() {
                float(CHECK_F32, Opt::AdamW, &f::OPT_ADAMW)
            }
            #[test]
            fn f32_amsgrad() {
                float(CHECK_F32, Opt::AmsGrad, &f::OPT_AMSGRAD)
            }
            #[test]
            fn f32_rmsprop() {
                float(CHECK_F32, Opt::RmsProp, &f::OPT_RMSPROP)
            }
            #[test]
            fn f32_rmsprop_centered_momentum() {
                float(CHECK_F32, Opt::RmsPropCenteredMomentum, &f::OPT_RMSPROP_CM)
            }
            #[test]
            fn f32_adagrad() {
                float(CHECK_F32, Opt::Adagrad, &f::OPT_ADAGRAD)
            }
            #[test]
            fn f32_lion() {
                float(CHECK_F32, Opt::Lion, &f::OPT_LION)
            }
            #[test]
            fn f32_lion_decay() {
                float(CHECK_F32, Opt::LionWd, &f::OPT_LION_WD)
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
    };
}

// ---- layers and the mlp! network (tests/layers.rs) ---------------------------------------------

/// Largest distance from the host's f32 outputs allowed for the layer cases, in ulps (see each
/// board's tests/layers.rs: the same on both boards; the f32 network with Adam is compared by
/// the board's own function).
pub const LAYER_F32_BOUND: u32 = 0;

/// The signature every layer case shares.
type Case = fn(&[u32], &mut [u32]) -> Result<(), CaseError>;

/// Runs `case` on `input` and compares with `want`: within [`LAYER_F32_BOUND`] ulps for `f32`
/// (`float`), bit for bit otherwise.
fn layer<const K: usize>(
    ty: &str,
    name: &str,
    case: Case,
    input: &[u32],
    want: &[u32],
    float: bool,
) {
    let mut out = [0u32; K];
    if case(input, &mut out).is_err() {
        defmt::panic!("{=str} {=str}: the case returned an error", ty, name);
    }
    if float {
        check::within_ulps(ty, name, &out, want, LAYER_F32_BOUND);
    } else {
        check::exact(ty, name, &out, want);
    }
}

pub fn dense<S: CaseNum>(ty: &str, name: &str, input: &[u32], want: &[u32], float: bool) {
    layer::<{ cases::DENSE_OUT }>(ty, name, cases::run_dense::<S>, input, want, float);
}

pub fn activations<S: CaseNum>(ty: &str, name: &str, input: &[u32], want: &[u32], float: bool) {
    layer::<{ cases::ACT_OUT }>(ty, name, cases::run_activations::<S>, input, want, float);
}

pub fn softmax_ce<S: CaseNum>(ty: &str, name: &str, input: &[u32], want: &[u32], float: bool) {
    layer::<{ cases::CE_OUT }>(ty, name, cases::run_softmax_ce::<S>, input, want, float);
}

pub fn net_adam<S: CaseNum>(ty: &str, name: &str, input: &[u32], want: &[u32], float: bool) {
    layer::<{ cases::NET_OUT }>(ty, name, cases::run_net_adam::<S>, input, want, float);
}

pub fn net_nesterov<S: CaseNum>(ty: &str, name: &str, input: &[u32], want: &[u32], float: bool) {
    layer::<{ cases::NET_OUT }>(ty, name, cases::run_net_nesterov::<S>, input, want, float);
}

pub fn conv1d<S: CaseNum>(ty: &str, name: &str, input: &[u32], want: &[u32], float: bool) {
    layer::<{ cases::CONV1_OUT }>(ty, name, cases::run_conv1d::<S>, input, want, float);
}

pub fn conv2d<S: CaseNum>(ty: &str, name: &str, input: &[u32], want: &[u32], float: bool) {
    layer::<{ cases::CONV2_OUT }>(ty, name, cases::run_conv2d::<S>, input, want, float);
}

pub fn dwconv2d<S: CaseNum>(ty: &str, name: &str, input: &[u32], want: &[u32], float: bool) {
    layer::<{ cases::DWCONV_OUT }>(ty, name, cases::run_dwconv2d::<S>, input, want, float);
}

pub fn cnet<S: CaseNum>(ty: &str, name: &str, input: &[u32], want: &[u32], float: bool) {
    layer::<{ cases::CNET_OUT }>(ty, name, cases::run_cnet::<S>, input, want, float);
}

/// The layer tests (15): dense, tanh and sigmoid, softmax cross-entropy and the `mlp!` network
/// with Adam and with Nesterov, in f32, I16F16 and I8F24. `f32_net_adam` is the board's
/// comparison of the f32 network with Adam, `fn(input, want)` (the only f32 case whose bound
/// differs between the boards), a path that resolves inside the generated module
/// (`crate::f32_net_adam`).
macro_rules! layers_tests {
    (f32_net_adam = $f32_net_adam:path) => {
        #[defmt_test::tests]
        mod tests {
            use crate::target_tests::expect::{float as f, q16 as h, q24 as q};
            use crate::target_tests::{activations, dense, net_adam, net_nesterov, softmax_ce};
            use edgetune::num::fixed::{I16F16, I8F24};

            #[test]
            fn f32_dense_forward_backward() {
                dense::<f32>("f32", "DENSE", &f::DENSE_IN, &f::DENSE_OUT, true)
            }
            #[test]
            fn f32_tanh_sigmoid() {
                activations::<f32>("f32", "ACT", &f::ACT_IN, &f::ACT_OUT, true)
            }
            #[test]
            fn f32_softmax_cross_entropy() {
                softmax_ce::<f32>("f32", "CE", &f::CE_IN, &f::CE_OUT, true)
            }
            #[test]
            fn f32_mlp_adam_steps() {
                $f32_net_adam(&f::NET_IN, &f::NET_ADAM_OUT)
            }
            #[test]
            fn f32_mlp_nesterov_steps() {
                net_nesterov::<f32>(
                    "f32",
                    "NET_NESTEROV",
                    &f::NET_IN,
                    &f::NET_NESTEROV_OUT,
                    true,
                )
            }

            #[test]
            fn i16f16_dense_forward_backward() {
                dense::<I16F16>("I16F16", "DENSE", &h::DENSE_IN, &h::DENSE_OUT, false)
            }
            #[test]
            fn i16f16_tanh_sigmoid() {
                activations::<I16F16>("I16F16", "ACT", &h::ACT_IN, &h::ACT_OUT, false)
            }
            #[test]
            fn i16f16_softmax_cross_entropy() {
                softmax_ce::<I16F16>("I16F16", "CE", &h::CE_IN, &h::CE_OUT, false)
            }
            #[test]
            fn i16f16_mlp_adam_steps() {
                net_adam::<I16F16>("I16F16", "NET_ADAM", &h::NET_IN, &h::NET_ADAM_OUT, false)
            }
            #[test]
            fn i16f16_mlp_nesterov_steps() {
                net_nesterov::<I16F16>(
                    "I16F16",
                    "NET_NESTEROV",
                    &h::NET_IN,
                    &h::NET_NESTEROV_OUT,
                    false,
                )
            }

            #[test]
            fn i8f24_dense_forward_backward() {
                dense::<I8F24>("I8F24", "DENSE", &q::DENSE_IN, &q::DENSE_OUT, false)
            }
            #[test]
            fn i8f24_tanh_sigmoid() {
                activations::<I8F24>("I8F24", "ACT", &q::ACT_IN, &q::ACT_OUT, false)
            }
            #[test]
            fn i8f24_softmax_cross_entropy() {
                softmax_ce::<I8F24>("I8F24", "CE", &q::CE_IN, &q::CE_OUT, false)
            }
            #[test]
            fn i8f24_mlp_adam_steps() {
                net_adam::<I8F24>("I8F24", "NET_ADAM", &q::NET_IN, &q::NET_ADAM_OUT, false)
            }
            #[test]
            fn i8f24_mlp_nesterov_steps() {
                net_nesterov::<I8F24>(
                    "I8F24",
                    "NET_NESTEROV",
                    &q::NET_IN,
                    &q::NET_NESTEROV_OUT,
                    false,
                )
            }
        }
    };
}

// ---- convolutions and the cnn! network (tests/conv.rs) ----------------------------------------

/// The convolution tests (12): conv1d (stride 2, padding 1), conv2d (stride (2, 1), SAME, 2
/// groups) and depthwise conv2d (multiplier 2, padding 1), each a forward pass and two
/// accumulated backward passes (weight, bias and input gradients), and three training steps of
/// the `cnn!` network [`cases::CNet`] (every 1-D layer kind, Nesterov momentum, mini-batches of
/// 2), in f32, I16F16 and I8F24; f32 within [`LAYER_F32_BOUND`] (0 ulp: basic operations and
/// pure-Rust `libm` only, no square root), fixed point bit for bit. A separate test binary from
/// `layers`: together they overflow the Cortex-M0's 256 KiB of flash. `conv_tests!(all)` expands
/// to one binary with all 12; `conv_tests!(f32)`, `(I16F16)` and `(I8F24)` to one number type
/// each, for the Cortex-M0, where the three together overflow its flash too.
macro_rules! conv_tests {
    (all) => {
        conv_tests!(@ [f32] [I16F16] [I8F24]);
    };
    (f32) => {
        conv_tests!(@ [f32] [] []);
    };
    (I16F16) => {
        conv_tests!(@ [] [I16F16] []);
    };
    (I8F24) => {
        conv_tests!(@ [] [] [I8F24]);
    };
    // The test names are spelled here, not passed in: defmt-test's expansion binds locals next to
    // them, and macro hygiene keeps those apart from names of another expansion.
    (@ [$($f:ty)?] [$($h:ty)?] [$($q:ty)?]) => {
        #[defmt_test::tests]
        mod tests {
            #[allow(unused_imports)]
            use crate::target_tests::expect::{float as f, q16 as h, q24 as q};
            #[allow(unused_imports)]
            use crate::target_tests::{cnet, conv1d, conv2d, dwconv2d};
            #[allow(unused_imports)]
            use edgetune::num::fixed::{I16F16, I8F24};

            $(
                #[test]
                fn f32_conv1d_forward_backward() {
                    let w = &f::CONV1D_IN;
                    conv1d::<$f>("f32", "CONV1D", w, &f::CONV1D_OUT, true)
                }
                #[test]
                fn f32_conv2d_forward_backward() {
                    let w = &f::CONV2D_IN;
                    conv2d::<$f>("f32", "CONV2D", w, &f::CONV2D_OUT, true)
                }
                #[test]
                fn f32_depthwise_conv2d_forward_backward() {
                    let w = &f::DWCONV2D_IN;
                    dwconv2d::<$f>("f32", "DWCONV2D", w, &f::DWCONV2D_OUT, true)
                }
                #[test]
                fn f32_cnn_nesterov_steps() {
                    let w = &f::CNET_IN;
                    cnet::<$f>("f32", "CNET", w, &f::CNET_OUT, true)
                }
            )?
            $(
                #[test]
                fn i16f16_conv1d_forward_backward() {
                    let w = &h::CONV1D_IN;
                    conv1d::<$h>("I16F16", "CONV1D", w, &h::CONV1D_OUT, false)
                }
                #[test]
                fn i16f16_conv2d_forward_backward() {
                    let w = &h::CONV2D_IN;
                    conv2d::<$h>("I16F16", "CONV2D", w, &h::CONV2D_OUT, false)
                }
                #[test]
                fn i16f16_depthwise_conv2d_forward_backward() {
                    let w = &h::DWCONV2D_IN;
                    dwconv2d::<$h>("I16F16", "DWCONV2D", w, &h::DWCONV2D_OUT, false)
                }
                #[test]
                fn i16f16_cnn_nesterov_steps() {
                    let w = &h::CNET_IN;
                    cnet::<$h>("I16F16", "CNET", w, &h::CNET_OUT, false)
                }
            )?
            $(
                #[test]
                fn i8f24_conv1d_forward_backward() {
                    let w = &q::CONV1D_IN;
                    conv1d::<$q>("I8F24", "CONV1D", w, &q::CONV1D_OUT, false)
                }
                #[test]
                fn i8f24_conv2d_forward_backward() {
                    let w = &q::CONV2D_IN;
                    conv2d::<$q>("I8F24", "CONV2D", w, &q::CONV2D_OUT, false)
                }
                #[test]
                fn i8f24_depthwise_conv2d_forward_backward() {
                    let w = &q::DWCONV2D_IN;
                    dwconv2d::<$q>("I8F24", "DWCONV2D", w, &q::DWCONV2D_OUT, false)
                }
                #[test]
                fn i8f24_cnn_nesterov_steps() {
                    let w = &q::CNET_IN;
                    cnet::<$q>("I8F24", "CNET", w, &q::CNET_OUT, false)
                }
            )?
        }
    };
}
