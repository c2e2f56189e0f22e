//! The int8 on-target tests the QEMU boards run (`boards/qemu-cortex-*/tests/int8.rs`): two
//! TFLite-converted models and a variant of one whose fused clamps bind (`boards/common-data/int8_expect.rs`, from `tests/data/int8/`) run
//! layer by layer on the device, each layer's output compared bit for bit with TFLite's
//! reference kernels' output (which the host reproduces; the generator checks it). Kept apart
//! from `target_tests.rs` (its own macro, `int8_tests!`, and includes) so each file changes
//! alone. Each test file includes it with
//!
//! ```ignore
//! #[path = "../../tools/target-expect/src/int8_tests.rs"]
//! #[macro_use]
//! mod int8_tests;
//! int8_tests!();
//! ```
#![allow(dead_code, unused_macros)]

use bench_common as _; // panic handlers: log and exit QEMU with status 1
use cortex_m as _;
use cortex_m_rt as _;
use defmt_semihosting as _;

#[path = "int8_cases.rs"]
pub mod int8_cases;
#[allow(dead_code, clippy::all)]
pub mod expect {
    use super::int8_cases::{Int8Layer, Kind};
    include!("../../../common-data/int8_expect.rs");
}

use int8_cases::{Int8Layer, Prepared};

/// The largest activation of the case models (imu1d's depthwise output, 50 × 16).
const MAX_ACT: usize = 800;

/// Runs `layers` on each of `inputs`, both chained (each layer on the device's previous output)
/// and per layer (each on TFLite's input), and fails on the first output that differs from
/// `outputs`. Logs the outputs compared.
pub fn model(name: &str, layers: &[Int8Layer], inputs: &[&[i8]], outputs: &[&[&[i8]]]) {
    let mut compared = 0usize;
    let (mut a, mut b) = ([0i8; MAX_ACT], [0i8; MAX_ACT]);
    for (s, (input, outs)) in inputs.iter().zip(outputs).enumerate() {
        let n = input.len();
        a[..n].copy_from_slice(input);
        let mut len = n;
        for (k, (l, want)) in layers.iter().zip(outs.iter()).enumerate() {
            let p = match Prepared::new(l) {
                Ok(p) => p,
                Err(_) => defmt::panic!("{=str} layer {=usize}: bad quantisation", name, k),
            };
            let m = l.output_len();
            // Chained: from the device's own previous output.
            if p.run(&a[..len], &mut b[..m]).is_err() {
                defmt::panic!(
                    "{=str} layer {=usize}: the kernel returned an error",
                    name,
                    k
                );
            }
            exact(name, "chained", s, k, &b[..m], want);
            // Per layer: from TFLite's input (the model input, or the previous layer's output).
            let x: &[i8] = if k == 0 { input } else { outs[k - 1] };
            let mut y = [0i8; MAX_ACT];
            if p.run(x, &mut y[..m]).is_err() {
                defmt::panic!(
                    "{=str} layer {=usize}: the kernel returned an error",
                    name,
                    k
                );
            }
            exact(name, "per layer", s, k, &y[..m], want);
            compared += 2 * m;
            core::mem::swap(&mut a, &mut b);
            len = m;
        }
    }
    defmt::info!(
        "check int8 {=str}: {=usize} outputs of {=usize} layers x {=usize} inputs equal to TFLite's",
        name,
        compared,
        layers.len(),
        inputs.len()
    );
}

fn exact(name: &str, how: &str, sample: usize, layer: usize, got: &[i8], want: &[i8]) {
    defmt::assert_eq!(got.len(), want.len());
    if let Some(i) = got.iter().zip(want).position(|(g, w)| g != w) {
        let differ = got.iter().zip(want).filter(|(g, w)| g != w).count();
        defmt::panic!(
            "{=str} ({=str}) input {=usize} layer {=usize}: {=usize} of {=usize} outputs differ from TFLite; first at {=usize}: {=i8} vs {=i8}",
            name, how, sample, layer, differ, got.len(), i, got[i], want[i]
        );
    }
}

/// The int8 tests: each model, chained and per layer (`digits2d_clamp`: the digits model with
/// quantisation edited so its fused ReLU and ReLU6 clamps bind).
macro_rules! int8_tests {
    () => {
        #[defmt_test::tests]
        mod tests {
            use crate::int8_tests::{expect, model};

            #[test]
            fn int8_imu1d_every_layer_matches_tflite() {
                use expect::imu1d as m;
                let outs: [&[&[i8]]; 2] = [&m::OUTPUTS[0], &m::OUTPUTS[1]];
                model("imu1d", &m::LAYERS, &m::INPUTS, &outs)
            }

            #[test]
            fn int8_digits2d_every_layer_matches_tflite() {
                use expect::digits2d as m;
                let outs: [&[&[i8]]; 2] = [&m::OUTPUTS[0], &m::OUTPUTS[1]];
                model("digits2d", &m::LAYERS, &m::INPUTS, &outs)
            }

            #[test]
            fn int8_digits2d_clamp_binding_clamps_match_tflite() {
                use expect::digits2d_clamp as m;
                let outs: [&[&[i8]]; 2] = [&m::OUTPUTS[0], &m::OUTPUTS[1]];
                model("digits2d_clamp", &m::LAYERS, &m::INPUTS, &outs)
            }
        }
    };
}
