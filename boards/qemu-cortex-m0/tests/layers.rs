//! On-target layer tests on the Cortex-M0 (QEMU microbit, no FPU): dense forward and backward (37
//! inputs, 11 outputs, two accumulated backward passes), tanh and sigmoid forward and backward,
//! softmax cross-entropy loss and gradient (10 classes, five rows up to logits of ±40 and one of
//! equal logits), and three training steps of an `mlp!` network (12-9-5, tanh, mini-batches of
//! 2; once with Adam, once with Nesterov momentum): losses and every parameter after each step, in f32, I16F16 and I8F24, against the host's results
//! (`boards/common-data/target_expect.rs`, from the same case code over the same input bits).
//!
//! Fixed point: bit-identical (integer arithmetic and integer-only transcendental functions).
//!
//! f32 (soft-float here): bound 0 ulp for the layers and the Nesterov network. They use only IEEE
//! basic operations (correctly rounded by compiler-builtins' soft-float as by the host's SSE
//! unit; Rust never fuses a multiply-add), the division `1/x` of the softmax, and
//! `libm::expf`, `logf`, `tanhf`, pure Rust built from basic operations on every target
//! (src/nn/scalar.rs: never std's). Measured: 0 ulp.
//!
//! f32 network with Adam: the square root differs (`libm::sqrtf` here, the host's
//! `sqrt_f32_refined`: see tests/optim.rs). Step 1 starts from identical parameters, so its
//! losses and gradients are bit-identical (asserted: 0 ulp) and its parameters are one Adam step
//! apart at most (asserted: the per-element bound of tests/optim.rs, ρ = 5.5). From step 2 on the
//! difference runs through the next forward and backward passes; no bound is derived for that,
//! so steps 2 and 3 are measured and logged, not asserted. Measured when written: step 1 losses
//! 0 ulp, step 1 parameters 2 ulp (0.52 of the bound), steps 2 and 3 at most 4 ulp.
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

use cases::{CaseError, CaseNum, NET_BATCH, NET_OUT, NET_PARAMS};
use check::{Feedback, SqrtModel};
use edgetune::num::fixed::{I16F16, I8F24};

/// Largest distance from the host's f32 outputs allowed for the layer cases, in ulps (see the
/// module docs).
const F32_BOUND: u32 = 0;

/// The signature every layer case shares.
type Case = fn(&[u32], &mut [u32]) -> Result<(), CaseError>;

/// Runs `case` on `input` and compares with `want`: within [`F32_BOUND`] ulps for `f32`
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
        check::within_ulps(ty, name, &out, want, F32_BOUND);
    } else {
        check::exact(ty, name, &out, want);
    }
}

fn dense<S: CaseNum>(ty: &str, name: &str, input: &[u32], want: &[u32], float: bool) {
    layer::<{ cases::DENSE_OUT }>(ty, name, cases::run_dense::<S>, input, want, float);
}

fn activations<S: CaseNum>(ty: &str, name: &str, input: &[u32], want: &[u32], float: bool) {
    layer::<{ cases::ACT_OUT }>(ty, name, cases::run_activations::<S>, input, want, float);
}

fn softmax_ce<S: CaseNum>(ty: &str, name: &str, input: &[u32], want: &[u32], float: bool) {
    layer::<{ cases::CE_OUT }>(ty, name, cases::run_softmax_ce::<S>, input, want, float);
}

fn net_adam<S: CaseNum>(ty: &str, name: &str, input: &[u32], want: &[u32], float: bool) {
    layer::<{ cases::NET_OUT }>(ty, name, cases::run_net_adam::<S>, input, want, float);
}

fn net_nesterov<S: CaseNum>(ty: &str, name: &str, input: &[u32], want: &[u32], float: bool) {
    layer::<{ cases::NET_OUT }>(ty, name, cases::run_net_nesterov::<S>, input, want, float);
}

/// The f32 network with Adam (see the module docs): step 1 asserted, steps 2 and 3 logged.
fn f32_net_adam(input: &[u32], want: &[u32]) {
    let mut out = [0u32; NET_OUT];
    if cases::run_net_adam::<f32>(input, &mut out).is_err() {
        defmt::panic!("f32 NET_ADAM: the case returned an error");
    }
    let step = NET_BATCH + NET_PARAMS;
    // The losses of step 1: computed before any square root.
    check::within_ulps(
        "f32",
        "NET_ADAM step-1 losses",
        &out[..NET_BATCH],
        &want[..NET_BATCH],
        0,
    );
    // The parameters after step 1: one Adam step from the same gradients.
    let adam = SqrtModel {
        rho: 5.5,
        mu: 0.0,
        decay: 1.0,
        feedback: Feedback::None,
    };
    check::within_sqrt_model(
        "f32",
        "NET_ADAM step-1 parameters",
        &adam,
        NET_PARAMS,
        1,
        &input[..NET_PARAMS],
        &[],
        &out[NET_BATCH..step],
        &want[NET_BATCH..step],
    );
    // Steps 2 and 3: measured only.
    let max = out[step..]
        .iter()
        .zip(&want[step..])
        .map(|(&g, &w)| check::ulp_distance(g, w))
        .max()
        .unwrap_or(0);
    defmt::info!(
        "measured f32 NET_ADAM steps 2-3: max {=u32} ulp (not asserted)",
        max
    );
}

#[defmt_test::tests]
mod tests {
    use super::expect::{float as f, q16 as h, q24 as q};
    use super::{activations, dense, net_adam, net_nesterov, softmax_ce, I16F16, I8F24};

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
        super::f32_net_adam(&f::NET_IN, &f::NET_ADAM_OUT)
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
