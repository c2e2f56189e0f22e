//! The imu demo's claims, on its own pipeline (`examples/imu/pipeline.rs`): the sensor change
//! costs the pretrained 1-D CNN accuracy, each fine-tuning mode (head, BN-affine, bias) gets it
//! back from 12 labelled recordings, and the generic network at f32 (and in I16F16, and I4F12) tracks the
//! independent f64 reference CNN through the same run.
//!
//! Accuracies are over the 40 test recordings, so one recording is 2.5 points; the margins
//! beside each assertion are in recordings, from the values the pipeline measures (printed by
//! the test and by `cargo run --release --example imu`).

#[path = "../examples/imu/pipeline.rs"]
#[allow(dead_code)]
mod pipeline;

use edgetune::num::fixed::{I16F16, I4F12};
use edgetune::optim::Adam;
use edgetune::train::Trainer;
use pipeline::*;
use std::sync::OnceLock;

/// The training RAM of network `$net` at number type `$s` with its trainer: the generated
/// `train_bytes_with` (`TRAIN_BYTES` plus the trainer).
macro_rules! ram {
    ($net:ident, $s:ty) => {
        $net::<$s>::train_bytes_with::<Trainer<Adam<$s, { $net::<f32>::TRAINABLE }>>>()
    };
}

/// The pretrained network and the device's data, built once for the three tests (which run
/// in parallel, one mode each).
fn shared() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| setup().expect("the imu pipeline's setup"))
}

#[test]
fn pretraining_reaches_high_accuracy_on_the_unchanged_sensor() {
    let setup = shared();
    // Measured 100 % (40/40); the bound leaves 2 recordings.
    assert!(
        setup.clean_accuracy >= 95.0,
        "pretraining: {}",
        setup.clean_accuracy
    );
}

#[test]
fn head_only_recovers_in_step_with_the_reference() {
    check(Mode::Head);
}

#[test]
fn bn_affine_only_recovers_in_step_with_the_reference() {
    check(Mode::BnAffine);
}

#[test]
fn bias_only_recovers_in_step_with_the_reference() {
    check(Mode::Bias);
}

/// The sensor change hurts, `mode` recovers, and f32 and I16F16 track the f64 reference.
fn check(mode: Mode) {
    let setup = shared();
    let mut quiet = |_: &str| {};
    let [reference, f32_run, fixed, fixed16] = run_mode(mode, setup, &mut quiet).unwrap();
    let name = mode.name();
    // The table's training RAM is the generated `train_bytes_with::<Trainer<Adam>>()`.
    let expected = match mode {
        Mode::Head => [
            ram!(ImuHead, f32),
            ram!(ImuHead, I16F16),
            ram!(ImuHead, I4F12),
        ],
        Mode::BnAffine => [ram!(ImuBn, f32), ram!(ImuBn, I16F16), ram!(ImuBn, I4F12)],
        Mode::Bias => [
            ram!(ImuBias, f32),
            ram!(ImuBias, I16F16),
            ram!(ImuBias, I4F12),
        ],
    };
    assert_eq!(
        [f32_run.train_bytes, fixed.train_bytes, fixed16.train_bytes],
        expected,
        "{name}"
    );
    for r in [&reference, &f32_run, &fixed, &fixed16] {
        println!(
            "{name:<9} {:<13} before {:.1} % after {:.1} % max |dloss| {:.2e} last |dloss| {:.2e}",
            r.name,
            r.before,
            r.after,
            max_loss_gap(r, &reference),
            last_loss_gap(r, &reference)
        );
    }
    // The sensor change: measured 52.5 % (21/40) against 100 % unchanged; asserting at most
    // 70 % leaves 7 recordings.
    assert!(
        reference.before <= 70.0,
        "{name}: the change must hurt: {}",
        reference.before
    );
    // Recovery: measured 97.5 (head), 95.0 (BN-affine), 90.0 % (bias); at least 80 % is 4
    // recordings below the weakest mode and 11 above the changed-sensor baseline.
    assert!(
        reference.after >= 80.0 && reference.after >= reference.before + 25.0,
        "{name}: must recover: {} -> {}",
        reference.before,
        reference.after
    );
    // Same start: the f32 and I16F16 networks hold the reference's pretrained weights
    // (I16F16 rounds them to 2^-16) and classify the changed test set alike; measured
    // equal, a one-recording margin for I16F16's rounding.
    assert_eq!(f32_run.before, reference.before, "{name}");
    assert!((fixed.before - reference.before).abs() <= 2.5, "{name}");
    // f32 tracks the reference: measured max |dloss| per epoch 2.5e-5 (head), 2.3e-5
    // (BN-affine), 8.9e-6 (bias). Bound 1e-3, 40x the largest: f32 rounds at 6e-8
    // relative, and Adam's normalisation turns rounding in gradients near zero into
    // parameter differences up to lr = 0.03 per step, so the gap is not a fixed ulp count.
    let gap = max_loss_gap(&f32_run, &reference);
    assert!(gap <= 1e-3, "{name}: f32 max |dloss| {gap:e}");
    // Measured equal; one recording of margin.
    assert!(
        (f32_run.after - reference.after).abs() <= 2.5,
        "{name}: f32 {} vs reference {}",
        f32_run.after,
        reference.after
    );
    // I16F16: the first epoch's loss can differ by O(1) (head: 2.07 vs 3.12): gradients
    // below 2^-16 are 0 in I16F16, and Adam's first step moves a parameter by about lr for
    // any nonzero f64 gradient, however small. The runs converge: measured last-epoch
    // |dloss| 2.5e-4 (head), 4.6e-5, 1.5e-5; bound 0.01 (40x), and the final accuracy within 2
    // recordings (measured equal).
    let last = last_loss_gap(&fixed, &reference);
    assert!(last <= 0.01, "{name}: I16F16 last |dloss| {last:e}");
    assert!(
        (fixed.after - reference.after).abs() <= 5.0,
        "{name}: I16F16 {} vs reference {}",
        fixed.after,
        reference.after
    );
    // I4F12 (16-bit storage; inputs beyond ±8σ clipped to ±7.999, see the pipeline's `input`):
    // the target is the f32 accuracy within 1.5 points, i.e. the same number of test
    // recordings (one is 2.5 points). Measured: head 97.5 = 97.5, BN-affine 95.0 = 95.0; bias
    // 97.5 against f32's 90.0, three recordings *better*, so for bias only the one-sided form
    // (not worse by more than 1.5 points) holds, and that is what is asserted for it.
    // The pretrained network before fine-tuning: 60.0 % against 52.5 % (weights rounded to
    // 2^-12 and the clipped inputs change three of the 40 decisions).
    match mode {
        Mode::Head | Mode::BnAffine => assert!(
            (fixed16.after - f32_run.after).abs() <= 1.5,
            "{name}: I4F12 {} vs f32 {}",
            fixed16.after,
            f32_run.after
        ),
        Mode::Bias => assert!(
            fixed16.after >= f32_run.after - 1.5,
            "{name}: I4F12 {} vs f32 {}",
            fixed16.after,
            f32_run.after
        ),
    }
    // The loss follows the reference's: measured last-epoch |dloss| 9.2e-3 (head), 1.9e-2
    // (BN-affine), 1.6e-2 (bias); bound 0.1 (5x): I4F12's gradients are rounded to 2^-12 and
    // a batch's gradient sum saturates at ±8.
    let last = last_loss_gap(&fixed16, &reference);
    assert!(last <= 0.1, "{name}: I4F12 last |dloss| {last:e}");
}
