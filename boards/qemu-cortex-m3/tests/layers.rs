//! On-target layer tests on the Cortex-M3 (QEMU mps2-an385, no FPU; the Cortex-M0's file, same soft-float f32 and `libm::sqrtf`): dense forward and backward (37
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

use target_tests::cases::{self, NET_BATCH, NET_OUT, NET_PARAMS};
use target_tests::check::{self, Feedback, SqrtModel};

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

layers_tests!(f32_net_adam = crate::f32_net_adam);
