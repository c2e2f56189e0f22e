//! `cnn!` networks end to end: sizes equal `size_of`, kept activations are only what backward
//! needs, every mode's gradient matches central differences of the network's own loss (f64),
//! bad samples change nothing, and initialisation and import/export follow torch's order.
//!
//! Finite differences: `FD_STEP = 1e-6`, `FD_TOL = 1e-6` relative to `max(1, |g|)` (derived in
//! `tests/nn_gradcheck.rs`: truncation `h²·|f'''|/6` and cancellation `ε·|f|/h` both far below
//! it for these smooth, O(1) losses). Inputs are random, so a ReLU, ReLU6 or max-pool kink lies
//! within `h` of an evaluated point with probability about `1e-6` per element.

mod common;

use common::{assert_gradient, numeric_gradient, Rng};
use edgetune::nn::network::Network;
use edgetune::nn::{Init, NnError};
use edgetune::{Error, ValueFault};
use fixed::types::I16F16;

macro_rules! har {
    ($name:ident, $c1:ident, $bn:ident, $c2:ident, $c3:ident, $d:ident) => {
        edgetune::cnn! {
            /// Every 1-D layer kind: strided SAME conv, batch norm, max pool with stride 1,
            /// depthwise ×2 conv, average pool, pointwise conv, global average pool, dense.
            struct $name {
                input [12, 3];
                conv1d(3, 4, 3, stride = 2, padding = same), tanh, $c1;
                batch_norm(4), relu, $bn;
                max_pool1d(2, stride = 1);
                conv1d(4, 8, 3, padding = 1, groups = 4), relu6, $c2;
                avg_pool1d(2);
                conv1d(8, 5, 1), sigmoid, $c3;
                global_avg_pool;
                dense(5, 3), $d;
                loss softmax_cross_entropy;
            }
        }
    };
}

har!(HarFull, train, train, train, train, train);
har!(HarHead, frozen, frozen, frozen, frozen, train);
har!(HarBias, bias, bias, bias, bias, bias);
har!(HarAffine, frozen, train, frozen, frozen, frozen);
har!(HarMid, frozen, frozen, train, bias, train);

edgetune::cnn! {
    /// Every 2-D layer kind, a regression head.
    struct Map {
        input [6, 5, 2];
        conv2d(2, 4, (3, 2), stride = (2, 1), padding = (1, 0)), leaky_relu(0.1);
        max_pool2d(2, stride = 1);
        conv2d(4, 4, 3, padding = same, groups = 2), relu;
        avg_pool2d(2, stride = 1, padding = 1);
        flatten;
        dense(48, 4), tanh;
        dense(4, 2);
        loss mse;
    }
}

/// Seeded parameters: weights and biases uniform in ±0.5, batch-norm scales near 1.
fn params<N: Network<f64>>(seed: u64) -> Vec<f64> {
    let mut rng = Rng(seed);
    let mut all = rng.vec(N::PARAMS, 0.5);
    for k in 0..N::LAYER_COUNT {
        let s = N::layer_shape(k).unwrap();
        if s.scale {
            let start: usize = (0..k)
                .map(|j| {
                    let s = N::layer_shape(j).unwrap();
                    s.weights + s.bias
                })
                .sum();
            for v in &mut all[start..start + s.weights] {
                *v += 1.0;
            }
        }
    }
    all
}

fn gradcheck<N: Network<f64> + Clone>(what: &str, mut net: N, x: &[f64], t: &N::Target) -> f64 {
    net.zero_grad();
    net.accumulate(x, t).unwrap();
    let analytic = net.grads().to_vec();
    let numeric = numeric_gradient(
        &|p| {
            let mut n = net.clone();
            n.trainable_mut().copy_from_slice(p);
            n.loss(x, t).unwrap()
        },
        net.trainable(),
    );
    assert!(
        analytic.iter().any(|&g| g != 0.0),
        "{what}: some gradient is nonzero"
    );
    assert_gradient(what, &analytic, &numeric)
}

fn har_case<N: Network<f64, Target = usize> + Clone>(what: &str, mut net: N) {
    let all = params::<HarFull<f64>>(7);
    net.import(&all).unwrap();
    let mut rng = Rng(11);
    for (i, label) in [0usize, 2].into_iter().enumerate() {
        let x = rng.vec(N::INPUTS, 1.5);
        gradcheck(&format!("{what} sample {i}"), net.clone(), &x, &label);
    }
}

#[test]
fn one_dimensional_gradients_match_finite_differences_in_every_mode() {
    har_case("HarFull", HarFull::<f64>::zeroed());
    har_case("HarHead", HarHead::<f64>::zeroed());
    har_case("HarBias", HarBias::<f64>::zeroed());
    har_case("HarAffine", HarAffine::<f64>::zeroed());
    har_case("HarMid", HarMid::<f64>::zeroed());
}

#[test]
fn two_dimensional_gradients_match_finite_differences() {
    let mut net = Map::<f64>::zeroed();
    net.import(&params::<Map<f64>>(3)).unwrap();
    let mut rng = Rng(5);
    for i in 0..3 {
        let x = rng.vec(Map::<f64>::INPUTS, 1.0);
        let t = rng.vec(2, 1.0);
        gradcheck(&format!("Map sample {i}"), net.clone(), &x, &t[..]);
    }
}

/// The modes' gradients are the full network's gradients at the same parameters, restricted
/// to what each mode trains (bit for bit: the same sums in the same order).
#[test]
fn a_mode_trains_exactly_its_part_of_the_full_gradient() {
    let all = params::<HarFull<f64>>(9);
    let x = Rng(1).vec(36, 1.0);
    let mut full = HarFull::<f64>::zeroed();
    full.import(&all).unwrap();
    Network::accumulate(&mut full, &x, &1).unwrap();
    // Everything trains, so the gradient arena is in torch order, one entry per parameter.
    let g_all = full.grads().to_vec();
    // The trainable arena of each mode, found by exporting a network whose trainable arena is
    // filled with NaN markers.
    fn trained_positions<N: Network<f64>>(mut net: N) -> Vec<bool> {
        net.trainable_mut().fill(f64::NAN);
        let mut out = vec![0.0; N::PARAMS];
        net.export(&mut out).unwrap();
        out.iter().map(|v| v.is_nan()).collect()
    }
    fn grads_of<N: Network<f64, Target = usize>>(mut net: N, all: &[f64], x: &[f64]) -> Vec<f64> {
        net.import(all).unwrap();
        net.accumulate(x, &1).unwrap();
        net.grads().to_vec()
    }
    let pairs: [(Vec<bool>, Vec<f64>); 4] = [
        (
            trained_positions(HarHead::<f64>::zeroed()),
            grads_of(HarHead::<f64>::zeroed(), &all, &x),
        ),
        (
            trained_positions(HarBias::<f64>::zeroed()),
            grads_of(HarBias::<f64>::zeroed(), &all, &x),
        ),
        (
            trained_positions(HarAffine::<f64>::zeroed()),
            grads_of(HarAffine::<f64>::zeroed(), &all, &x),
        ),
        (
            trained_positions(HarMid::<f64>::zeroed()),
            grads_of(HarMid::<f64>::zeroed(), &all, &x),
        ),
    ];
    for (positions, grads) in pairs {
        let expected: Vec<f64> = positions
            .iter()
            .zip(&g_all)
            .filter(|(t, _)| **t)
            .map(|(_, g)| *g)
            .collect();
        assert_eq!(grads, expected);
        assert!(!grads.is_empty());
    }
}

#[test]
fn sizes_are_size_of_and_only_needed_inputs_are_kept() {
    assert_eq!(
        HarFull::<f32>::TRAIN_BYTES,
        core::mem::size_of::<HarFull<f32>>()
    );
    assert_eq!(
        HarAffine::<f64>::TRAIN_BYTES,
        core::mem::size_of::<HarAffine<f64>>()
    );
    assert_eq!(
        HarHead::<I16F16>::TRAIN_BYTES,
        core::mem::size_of::<HarHead<I16F16>>()
    );
    assert_eq!(Map::<f32>::TRAIN_BYTES, core::mem::size_of::<Map<f32>>());
    // Shapes: [1,12,3] → conv s2 SAME [1,6,4] → bn [1,6,4] → max k2 s1 [1,5,4] → dw×2 [1,5,8]
    // → avg k2 [1,2,8] → pointwise [1,2,5] → gap [1,1,5] → dense 3.
    let conv1 = 4 * 3 * 3 + 4;
    let dw = 8 * 3 + 8;
    let pw = 5 * 8 + 5;
    assert_eq!(HarFull::<f32>::PARAMS, conv1 + 8 + dw + pw + 5 * 3 + 3);
    assert_eq!(HarHead::<f32>::TRAINABLE, 5 * 3 + 3);
    assert_eq!(HarBias::<f32>::TRAINABLE, 4 + 4 + 8 + 5 + 3);
    assert_eq!(HarAffine::<f32>::TRAINABLE, 8);
    // Head only: the dense layer's input (5) and the loss gradient (3).
    assert_eq!(HarHead::<f32>::KEPT, 5 + 3);
    // BN-affine: the batch norm's input (scale gradient, 24), its output (ReLU derivative, 24),
    // the average pool's input (ReLU6 derivative, 40), the global pool's input (sigmoid
    // derivative, 10), the loss gradient (3). The frozen convolutions keep nothing.
    assert_eq!(HarAffine::<f32>::KEPT, 24 + 24 + 40 + 10 + 3);
    // Bias only: no weight gradient reads an input; the activations' outputs and the max
    // pool's input are kept: bn in (tanh, 24), max in (relu, 24), avg in (relu6, 40), gap in
    // (sigmoid, 10), dense in: nothing (identity below), plus 3.
    assert_eq!(HarBias::<f32>::KEPT, 24 + 24 + 40 + 10 + 3);
    assert_eq!(
        HarFull::<f32>::WEIGHT_SHAPES,
        &[(9, 4), (1, 4), (3, 8), (8, 5), (5, 3)]
    );
    assert_eq!(Map::<f32>::INPUTS, 60);
    // conv 3×4 outputs × 4 channels × (3·2·2) taps, grouped conv 2×3×4 × (3·3·2), 2 dense.
    assert_eq!(
        Map::<f32>::MACS,
        3 * 4 * 4 * 12 + 2 * 3 * 4 * 18 + 48 * 4 + 4 * 2
    );
}

#[test]
fn a_bad_sample_changes_nothing() {
    let mut net = HarFull::<f32>::zeroed();
    net.init(Init::TorchDefault, 1).unwrap();
    let x = [0.25f32; 36];
    net.accumulate(&x, 1).unwrap();
    let before = net.clone();
    let mut bad = x;
    bad[17] = f32::NAN;
    assert_eq!(
        net.accumulate(&bad, 1),
        Err(Error::InvalidInput {
            index: 17,
            fault: ValueFault::NotFinite
        })
    );
    assert_eq!(
        net.accumulate(&x, 3),
        Err(Error::Nn(NnError::LabelOutOfRange {
            label: 3,
            classes: 3
        }))
    );
    assert_eq!(
        Network::accumulate(&mut net, &x[..35], &1),
        Err(Error::LengthMismatch {
            expected: 36,
            found: 35
        })
    );
    assert_eq!(net.grads(), before.grads());
    assert_eq!(net.trainable(), before.trainable());
}

#[test]
fn init_sets_batch_norm_to_identity_and_import_export_round_trip() {
    let mut net = HarFull::<f64>::zeroed();
    net.init(Init::TorchDefault, 42).unwrap();
    let mut all = vec![0.0; HarFull::<f64>::PARAMS];
    net.export(&mut all).unwrap();
    let bn = 4 * 3 * 3 + 4;
    assert_eq!(&all[bn..bn + 4], &[1.0; 4]);
    assert_eq!(&all[bn + 4..bn + 8], &[0.0; 4]);
    // torch's default: weights and biases uniform in ±1/√fan_in, fan_in = C_in/groups·K.
    let bound = 1.0 / 9f64.sqrt();
    assert!(
        all[..bn].iter().all(|v| v.abs() <= bound)
            && all[..bn].iter().any(|v| v.abs() > bound / 2.0)
    );
    let mut head = HarHead::<f64>::zeroed();
    head.import(&all).unwrap();
    let mut back = vec![0.0; all.len()];
    head.export(&mut back).unwrap();
    assert_eq!(all, back);
    assert_eq!(
        head.import(&all[1..]),
        Err(Error::LengthMismatch {
            expected: all.len(),
            found: all.len() - 1
        })
    );
}
