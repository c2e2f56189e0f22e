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
    // BN-affine: the batch norm's input (scale gradient, 24), the max pool's input (it finds
    // each window's maximum, 24), the global pool's input (sigmoid derivative, 10), the loss
    // gradient (3); the ReLU6 derivative below the average pool is a 40-bit mask (2 words).
    // The frozen convolutions keep nothing.
    assert_eq!(HarAffine::<f32>::KEPT, 24 + 24 + 10 + 3);
    assert_eq!(HarAffine::<f32>::MASK_WORDS, 2);
    // Bias only: no weight gradient reads an input; the batch norm's input (tanh derivative,
    // 24), the max pool's input (24), the global pool's input (sigmoid, 10), plus 3, and the
    // same 40-bit mask.
    assert_eq!(HarBias::<f32>::KEPT, 24 + 24 + 10 + 3);
    assert_eq!(HarBias::<f32>::MASK_WORDS, 2);
    assert_eq!(
        HarBias::<f64>::TRAIN_BYTES,
        core::mem::size_of::<HarBias<f64>>()
    );
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

/// The independent reference with HarFull's layers.
fn har_reference() -> edgetune::reference::cnn::RefCnn {
    use edgetune::reference::cnn::{same_padding, RefCnn, RefLayer};
    use edgetune::reference::network::RefActivation as A;
    RefCnn::new(
        [1, 12, 3],
        vec![
            (
                RefLayer::conv1d(3, 4, 3, 2, same_padding(12, 3, 2), 1),
                A::Tanh,
                true,
                true,
            ),
            (RefLayer::BatchNorm { channels: 4 }, A::Relu, true, true),
            (RefLayer::max_pool1d(2, 1, (0, 0)), A::None, false, false),
            (
                RefLayer::conv1d(4, 8, 3, 1, (1, 1), 4),
                A::Relu6,
                true,
                true,
            ),
            (RefLayer::avg_pool1d(2, 2, (0, 0)), A::None, false, false),
            (
                RefLayer::conv1d(8, 5, 1, 1, (0, 0), 1),
                A::Sigmoid,
                true,
                true,
            ),
            (RefLayer::GlobalAvgPool, A::None, false, false),
            (
                RefLayer::Dense {
                    inputs: 5,
                    outputs: 3,
                },
                A::None,
                true,
                true,
            ),
        ],
    )
    .unwrap()
}

/// `cnn!` and the reference agree on logits, loss and every parameter's gradient in f64 (the
/// same sums in different orders: measured 1.1e-16 relative; bound 1e-12), and f32, I16F16 and
/// I8F24 logits stay within their measured distance of the f64 ones.
#[test]
fn every_layer_kind_matches_the_independent_reference() {
    use edgetune::reference::network::RefTarget;
    let all = params::<HarFull<f64>>(21);
    let mut reference = har_reference();
    reference.load_flat(&all).unwrap();
    let mut net = HarFull::<f64>::zeroed();
    net.import(&all).unwrap();
    let mut rng = Rng(8);
    let mut worst = [0.0f64; 4];
    for label in 0..3 {
        let x = rng.vec(36, 2.0);
        let logits = reference.forward(&x).unwrap();
        let (loss, grads, _) = reference
            .loss_and_grads(&x, &RefTarget::Class(label))
            .unwrap();
        net.zero_grad();
        let ours = Network::accumulate(&mut net, &x, &label).unwrap();
        let mut z = [0.0; 3];
        net.forward_into(&x, &mut z).unwrap();
        let rel = |a: f64, b: f64| (a - b).abs() / b.abs().max(1.0);
        worst[0] = worst[0].max(rel(ours, loss));
        for (a, b) in z.iter().zip(&logits) {
            worst[0] = worst[0].max(rel(*a, *b));
        }
        for (a, b) in net.grads().iter().zip(&grads) {
            worst[0] = worst[0].max(rel(*a, *b));
        }
        fn logits_of<S: edgetune::nn::Scalar>(all: &[f64], x: &[f64]) -> Vec<f64> {
            let mut net = HarFull::<S>::zeroed();
            let p: Vec<S> = all.iter().map(|&v| S::from_f64(v)).collect();
            net.import(&p).unwrap();
            let xs: Vec<S> = x.iter().map(|&v| S::from_f64(v)).collect();
            let mut z = vec![S::ZERO; 3];
            net.forward_into(&xs, &mut z).unwrap();
            z.iter().map(|v| v.to_f64()).collect()
        }
        for (slot, z) in [
            logits_of::<f32>(&all, &x),
            logits_of::<I16F16>(&all, &x),
            logits_of::<fixed::types::I8F24>(&all, &x),
        ]
        .iter()
        .enumerate()
        {
            for (a, b) in z.iter().zip(&logits) {
                worst[slot + 1] = worst[slot + 1].max((a - b).abs());
            }
        }
    }
    println!(
        "cnn! vs reference: f64 worst relative {:.1e}; logits |Δ| f32 {:.1e}, I16F16 {:.1e}, I8F24 {:.1e}",
        worst[0], worst[1], worst[2], worst[3]
    );
    assert!(worst[0] <= 1e-12, "f64 {:e}", worst[0]);
    // f32: a few roundings of O(1) values per layer, 8 layers: measured 4.9e-8; bound 1e-6.
    assert!(worst[1] <= 1e-6, "f32 {:e}", worst[1]);
    // I16F16: quantised parameters and inputs (½ LSB = 7.6e-6 each) and one rounding per
    // narrowing, through 8 layers: measured 1.3e-5; bound 1e-4. I8F24 is 256× finer:
    // measured 6.8e-8, bound 1e-6.
    assert!(worst[2] <= 1e-4, "I16F16 {:e}", worst[2]);
    assert!(worst[3] <= 1e-6, "I8F24 {:e}", worst[3]);
}

/// Frozen parameters can stay in flash: `split_frozen` builds the frozen arena at compile time
/// and a network referencing it trains exactly as one holding it in RAM, with `size_of` smaller
/// by the frozen bytes (less a pointer).
#[test]
fn frozen_parameters_in_flash_train_like_ram() {
    const ALL: [f32; HarHead::<f32>::PARAMS] = {
        let mut a = [0.0f32; HarHead::<f32>::PARAMS];
        let mut i = 0;
        while i < a.len() {
            // A deterministic spread of small values (no float math in const beyond this).
            a[i] = ((i * 37 % 101) as f32 - 50.0) / 100.0;
            i += 1;
        }
        a
    };
    static FROZEN: [f32; HarHead::<f32>::FROZEN] = HarHead::<f32>::split_frozen(&ALL);
    let mut flash = HarHead::<f32, &[f32; HarHead::<f32>::FROZEN]>::from_parts(
        &FROZEN,
        HarHead::<f32>::split_trainable(&ALL),
    );
    let mut ram = HarHead::<f32>::zeroed();
    ram.import(&ALL).unwrap();
    let x = [0.5f32; 36];
    for label in [0, 1, 2] {
        assert_eq!(flash.accumulate(&x, label), ram.accumulate(&x, label));
    }
    assert_eq!(flash.grads(), ram.grads());
    assert_eq!(flash.frozen(), ram.frozen());
    assert_eq!(
        core::mem::size_of::<HarHead<f32, &[f32; HarHead::<f32>::FROZEN]>>(),
        (HarHead::<f32>::TRAIN_BYTES - HarHead::<f32>::FROZEN_BYTES
            + core::mem::size_of::<usize>())
        .next_multiple_of(core::mem::align_of::<usize>())
    );
}

edgetune::cnn! {
    /// A ReLU feeding a convolution that trains its weights: its input values are kept.
    struct Values {
        input [10, 2];
        conv1d(2, 4, 3), relu;
        conv1d(4, 4, 3), relu;
        global_avg_pool;
        dense(4, 2);
        loss softmax_cross_entropy;
    }
}

edgetune::cnn! {
    /// The same with the second convolution training its bias only: a 1-bit mask is kept.
    struct Masks {
        input [10, 2];
        conv1d(2, 4, 3), relu;
        conv1d(4, 4, 3), relu, bias;
        global_avg_pool;
        dense(4, 2);
        loss softmax_cross_entropy;
    }
}

/// The ReLU derivative from a 1-bit mask gives bit for bit the gradients it gives from the
/// kept values, in every number type, for 32 fewer bits per element.
#[test]
fn a_relu_mask_backpropagates_exactly_as_the_kept_values() {
    fn run<S: edgetune::nn::Scalar>() {
        let all: Vec<S> = Rng(4)
            .vec(Values::<f64>::PARAMS, 0.6)
            .iter()
            .map(|&v| S::from_f64(v))
            .collect();
        let mut values = Values::<S>::zeroed();
        let mut masks = Masks::<S>::zeroed();
        values.import(&all).unwrap();
        masks.import(&all).unwrap();
        let mut rng = Rng(6);
        for label in [0usize, 1, 1, 0] {
            let x: Vec<S> = rng.vec(20, 1.0).iter().map(|&v| S::from_f64(v)).collect();
            Network::accumulate(&mut values, &x, &label).unwrap();
            Network::accumulate(&mut masks, &x, &label).unwrap();
        }
        // The first convolution trains fully in both (24 weights, 4 biases), then the second's
        // 48 weights (in `Values` only), its 4 biases, and the dense layer.
        let (v, m) = (values.grads(), masks.grads());
        assert_eq!(&v[..28], &m[..28]);
        assert_eq!(&v[28 + 48..], &m[28..]);
        assert!(m.iter().any(|g| g.to_f64() != 0.0));
    }
    // The second convolution's input, 8 positions × 4 channels, is kept as 32 values or as one
    // more mask word (the global pool's input is a mask word in both).
    assert_eq!(Values::<f32>::KEPT - Masks::<f32>::KEPT, 32);
    assert_eq!(
        (Values::<f32>::MASK_WORDS, Masks::<f32>::MASK_WORDS),
        (1, 2)
    );
    run::<f64>();
    run::<f32>();
    run::<I16F16>();
}
