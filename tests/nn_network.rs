//! Networks defined with `edgetune::mlp!`: RAM constants against `size_of` and hand-computed
//! layouts in every fine-tuning mode; gradients against central finite differences in `f64` and
//! against the fully trained network's gradients; frozen parameters never change; XOR and a
//! two-blob problem train to a stated accuracy in `f32` and `f64` with `optim::Adam`; import and
//! export in torch order; errors instead of panics.

// Finite differences perturb one arena element at a time, by index.
#![allow(clippy::needless_range_loop)]

mod common;

use common::Rng;
use core::mem::size_of;
use edgetune::nn::network::{gather, LayerSpec};
use edgetune::nn::{Init, Network, NnError};
use edgetune::optim::{Adam, AdamConfig};
use edgetune::train::{evaluate, Trainer};
use edgetune::Error;

// The 64-32-10 digits network in the four modes the issue names.
edgetune::mlp! {
    /// Every layer trained.
    struct DigitsFull {
        dense 64 -> 32, relu;
        dense 32 -> 10;
        loss softmax_cross_entropy;
    }
}
edgetune::mlp! {
    /// Last layer only.
    struct DigitsLast {
        dense 64 -> 32, relu, frozen;
        dense 32 -> 10, train;
        loss softmax_cross_entropy;
    }
}
edgetune::mlp! {
    /// Biases only.
    struct DigitsBias {
        dense 64 -> 32, relu, bias;
        dense 32 -> 10, bias;
        loss softmax_cross_entropy;
    }
}
edgetune::mlp! {
    /// A middle layer frozen.
    struct DigitsMid {
        dense 64 -> 32, relu;
        dense 32 -> 16, relu, frozen;
        dense 16 -> 10;
        loss softmax_cross_entropy;
    }
}
edgetune::mlp! {
    /// Inference only.
    struct DigitsInfer {
        dense 64 -> 32, relu, frozen;
        dense 32 -> 10, frozen;
        loss softmax_cross_entropy;
    }
}

/// RAM of each mode, element by element, for `f32` (4 bytes).
#[test]
fn size_of_each_mode_equals_documented_constants() {
    // Full: PARAMS 64·32+32 + 32·10+10 = 2410, all trainable; kept: the hidden activation (32)
    // and the loss gradient (10); scratch: hidden 32 + outputs 10.
    type F = DigitsFull<f32>;
    assert_eq!((F::PARAMS, F::TRAINABLE, F::FROZEN), (2410, 2410, 0));
    assert_eq!((F::KEPT, F::SCRATCH), (42, 42));
    assert_eq!(F::INFER_BYTES, 4 * (2410 + 42));
    assert_eq!(F::TRAIN_BYTES, 4 * (2410 + 2410 + 42 + 42));
    assert_eq!(size_of::<F>(), F::TRAIN_BYTES);
    assert_eq!(F::TRAIN_BYTES, 19_616);
    assert_eq!(
        F::train_bytes_with::<Adam<f32, { F::TRAINABLE }>>(),
        19_616 + (8 * 2410 + 52usize).next_multiple_of(8)
    );

    // Last layer: frozen 2080, trainable 330; the head's input (32) is kept.
    type L = DigitsLast<f32>;
    assert_eq!((L::PARAMS, L::TRAINABLE, L::FROZEN), (2410, 330, 2080));
    assert_eq!((L::KEPT, L::SCRATCH), (42, 42));
    assert_eq!(size_of::<L>(), L::TRAIN_BYTES);
    assert_eq!(L::TRAIN_BYTES, 4 * (2410 + 330 + 42 + 42));
    // Frozen part in flash: a reference instead of 2080 elements.
    assert_eq!(
        size_of::<DigitsLast<f32, &'static [f32; 2080]>>(),
        (L::TRAIN_BYTES - L::FROZEN_BYTES + size_of::<usize>())
            .next_multiple_of(size_of::<usize>())
    );

    // Bias only: 32 + 10 trainable; the hidden activation is kept for ReLU's derivative.
    type B = DigitsBias<f32>;
    assert_eq!((B::PARAMS, B::TRAINABLE, B::FROZEN), (2410, 42, 2368));
    assert_eq!((B::KEPT, B::SCRATCH), (42, 42));
    assert_eq!(size_of::<B>(), B::TRAIN_BYTES);
    assert_eq!(B::TRAIN_BYTES, 4 * (2410 + 42 + 42 + 42));

    // Middle frozen, 64-32-16-10: trainable 2080 + 170, frozen 528; kept 32 + 16 + 10; scratch
    // even 32, odd 16, out 10.
    type M = DigitsMid<f32>;
    assert_eq!((M::PARAMS, M::TRAINABLE, M::FROZEN), (2778, 2250, 528));
    assert_eq!((M::KEPT, M::SCRATCH), (58, 58));
    assert_eq!(size_of::<M>(), M::TRAIN_BYTES);
    assert_eq!(M::TRAIN_BYTES, 4 * (2778 + 2250 + 58 + 58));

    // All frozen: no gradient, no kept activation, only the loss gradient beyond inference.
    type I = DigitsInfer<f32>;
    assert_eq!((I::TRAINABLE, I::KEPT), (0, 10));
    assert_eq!(size_of::<I>(), I::INFER_BYTES + 4 * 10);

    // f64 doubles everything.
    assert_eq!(size_of::<DigitsMid<f64>>(), 2 * M::TRAIN_BYTES);
    assert_eq!(DigitsMid::<f64>::TRAIN_BYTES, 2 * M::TRAIN_BYTES);
}

// A smooth 3-layer net for the gradient checks (tanh and sigmoid have no kinks; LeakyReLU's kink
// at 0 is avoided by the margin check below), in every mode.
edgetune::mlp! {
    /// All layers trained.
    struct SmoothFull {
        dense 4 -> 5, tanh;
        dense 5 -> 3, leaky_relu(0.1);
        dense 3 -> 3, sigmoid;
        dense 3 -> 2;
        loss softmax_cross_entropy;
    }
}
edgetune::mlp! {
    /// Last layer only.
    struct SmoothLast {
        dense 4 -> 5, tanh, frozen;
        dense 5 -> 3, leaky_relu(0.1), frozen;
        dense 3 -> 3, sigmoid, frozen;
        dense 3 -> 2;
        loss softmax_cross_entropy;
    }
}
edgetune::mlp! {
    /// Biases only.
    struct SmoothBias {
        dense 4 -> 5, tanh, bias;
        dense 5 -> 3, leaky_relu(0.1), bias;
        dense 3 -> 3, sigmoid, bias;
        dense 3 -> 2, bias;
        loss softmax_cross_entropy;
    }
}
edgetune::mlp! {
    /// A middle layer frozen, and a bias-only layer above a frozen prefix.
    struct SmoothMixed {
        dense 4 -> 5, tanh, frozen;
        dense 5 -> 3, leaky_relu(0.1), bias;
        dense 3 -> 3, sigmoid, frozen;
        dense 3 -> 2;
        loss softmax_cross_entropy;
    }
}
edgetune::mlp! {
    /// Regression with MSE; the first layer frozen.
    struct SmoothMse {
        dense 4 -> 5, tanh, frozen;
        dense 5 -> 3, sigmoid;
        dense 3 -> 2, bias;
        loss mse;
    }
}

const SMOOTH_PARAMS: usize = 4 * 5 + 5 + 5 * 3 + 3 + 3 * 3 + 3 + 3 * 2 + 2;
/// Step of the central differences and the allowed error relative to `max(1, |g|)` (as in
/// `nn_gradcheck.rs`: truncation ~1e-13, rounding ~1e-9 for these small sums).
const H: f64 = 1e-6;
const FD_TOL: f64 = 1e-6;

/// Checks one mode in `f64`: (1) every gradient equals the central difference of `loss` with
/// respect to that trainable element; (2) the gradient arena equals the trainable elements of
/// the fully trained network's gradient (bit for bit: the same operations run); (3) accumulating
/// twice doubles it; (4) the frozen parameters are bit-for-bit those imported.
macro_rules! check_mode {
    ($net:ident, $name:literal) => {{
        let mut rng = Rng(0x5EED ^ $name.len() as u64);
        let mut worst = 0.0f64;
        for trial in 0..20 {
            let all: [f64; SMOOTH_PARAMS] = rng.array(0.8);
            let x: [f64; 4] = rng.array(1.0);
            let label = trial % 2;
            let mut full = SmoothFull::<f64>::zeroed();
            full.import(&all).unwrap();
            full.accumulate(&x, label).unwrap();
            let mut net = $net::<f64>::zeroed();
            net.import(&all).unwrap();
            // LeakyReLU kink: skip samples whose layer-1 pre-activation is within 1e-3 of 0.
            if !leaky_margin_ok(&all, &x) {
                continue;
            }
            let loss = net.accumulate(&x, label).unwrap();
            assert!(loss.is_finite());
            let g = *net.grads();
            let expected: [f64; { $net::<f64>::TRAINABLE }] =
                gather($net::<f64>::LAYERS, full.grads(), true);
            assert_eq!(
                g, expected,
                "{}: grads differ from the full network's",
                $name
            );
            for j in 0..g.len() {
                let p = net.trainable()[j];
                net.trainable_mut()[j] = p + H;
                let up = net.loss(&x, label).unwrap();
                net.trainable_mut()[j] = p - H;
                let down = net.loss(&x, label).unwrap();
                net.trainable_mut()[j] = p;
                let fd = (up - down) / (2.0 * H);
                let err = (g[j] - fd).abs() / g[j].abs().max(1.0);
                worst = worst.max(err);
                assert!(err <= FD_TOL, "{}: element {j}: {} vs {fd}", $name, g[j]);
            }
            net.accumulate(&x, label).unwrap();
            for (twice, once) in net.grads().iter().zip(&g) {
                assert_eq!(*twice, 2.0 * once);
            }
            let frozen: [f64; { $net::<f64>::FROZEN }] = $net::<f64>::split_frozen(&all);
            assert_eq!(net.frozen(), &frozen);
        }
        println!("{}: worst relative gradient error {worst:.2e}", $name);
    }};
}

/// Whether every layer-1 (LeakyReLU) pre-activation is at least 1e-3 away from 0.
fn leaky_margin_ok(all: &[f64; SMOOTH_PARAMS], x: &[f64; 4]) -> bool {
    let (w0, rest) = all.split_at(20);
    let (b0, rest) = rest.split_at(5);
    let (w1, rest) = rest.split_at(15);
    let b1 = &rest[..3];
    let h: Vec<f64> = (0..5)
        .map(|o| (b0[o] + (0..4).map(|i| w0[o * 4 + i] * x[i]).sum::<f64>()).tanh())
        .collect();
    (0..3).all(|o| (b1[o] + (0..5).map(|i| w1[o * 5 + i] * h[i]).sum::<f64>()).abs() > 1e-3)
}

#[test]
fn gradients_match_finite_differences_and_full_network_in_every_mode() {
    check_mode!(SmoothFull, "full");
    check_mode!(SmoothLast, "last layer");
    check_mode!(SmoothBias, "bias only");
    check_mode!(
        SmoothMixed,
        "frozen middle, bias-only layer above a frozen prefix"
    );
}

#[test]
fn full_network_gradient_matches_composed_layer_functions() {
    use edgetune::nn::{dense, softmax_cross_entropy, Activation, LeakyRelu, Sigmoid, Tanh};
    let mut rng = Rng(7);
    let all: [f64; SMOOTH_PARAMS] = rng.array(0.8);
    let x: [f64; 4] = rng.array(1.0);
    let mut net = SmoothFull::<f64>::zeroed();
    net.import(&all).unwrap();
    let loss = net.accumulate(&x, 1).unwrap();

    let (w0, b0, r) = dense::split::<f64, 4, 5>(&all).unwrap();
    let (w1, b1, r) = dense::split::<f64, 5, 3>(r).unwrap();
    let (w2, b2, r) = dense::split::<f64, 3, 3>(r).unwrap();
    let (w3, b3, _) = dense::split::<f64, 3, 2>(r).unwrap();
    let leaky = LeakyRelu::<f64>::new(0.1).unwrap();
    let (mut h0, mut h1, mut h2, mut z) = ([0.0; 5], [0.0; 3], [0.0; 3], [0.0; 2]);
    dense::forward(w0, b0, &x, &mut h0);
    Tanh.forward_in_place(&mut h0);
    dense::forward(w1, b1, &h0, &mut h1);
    leaky.forward_in_place(&mut h1);
    dense::forward(w2, b2, &h1, &mut h2);
    Sigmoid.forward_in_place(&mut h2);
    dense::forward(w3, b3, &h2, &mut z);
    let mut dz = [0.0; 2];
    assert_eq!(softmax_cross_entropy(&z, 1, &mut dz).unwrap(), loss);
    let mut grads = [0.0f64; SMOOTH_PARAMS];
    let (g0, rest) = grads.split_at_mut(25);
    let (g1, rest) = rest.split_at_mut(18);
    let (g2, g3) = rest.split_at_mut(12);
    let (dw0, db0, _) = dense::split_mut::<f64, 4, 5>(g0).unwrap();
    let (dw1, db1, _) = dense::split_mut::<f64, 5, 3>(g1).unwrap();
    let (dw2, db2, _) = dense::split_mut::<f64, 3, 3>(g2).unwrap();
    let (dw3, db3, _) = dense::split_mut::<f64, 3, 2>(g3).unwrap();
    let (mut d2, mut d1, mut d0) = ([0.0; 3], [0.0; 3], [0.0; 5]);
    dense::backward(w3, &h2, &dz, Some((dw3, db3)), Some(&mut d2));
    Sigmoid.backward_in_place(&h2, &mut d2);
    dense::backward(w2, &h1, &d2, Some((dw2, db2)), Some(&mut d1));
    leaky.backward_in_place(&h1, &mut d1);
    dense::backward(w1, &h0, &d1, Some((dw1, db1)), Some(&mut d0));
    Tanh.backward_in_place(&h0, &mut d0);
    dense::backward(w0, &x, &d0, Some((dw0, db0)), None);
    assert_eq!(net.grads(), &grads);
}

#[test]
fn mse_network_gradients_match_finite_differences() {
    let mut rng = Rng(11);
    let mut worst = 0.0f64;
    for _ in 0..20 {
        let all: [f64; SmoothMse::<f64>::PARAMS] = rng.array(0.8);
        let x: [f64; 4] = rng.array(1.0);
        let y: [f64; 2] = rng.array(1.0);
        let mut net = SmoothMse::<f64>::zeroed();
        net.import(&all).unwrap();
        net.accumulate(&x, &y).unwrap();
        let g = *net.grads();
        assert_eq!(g.len(), 5 * 3 + 3 + 2);
        for j in 0..g.len() {
            let p = net.trainable()[j];
            net.trainable_mut()[j] = p + H;
            let up = net.loss(&x, &y).unwrap();
            net.trainable_mut()[j] = p - H;
            let down = net.loss(&x, &y).unwrap();
            net.trainable_mut()[j] = p;
            let fd = (up - down) / (2.0 * H);
            let err = (g[j] - fd).abs() / g[j].abs().max(1.0);
            worst = worst.max(err);
            assert!(err <= FD_TOL, "element {j}: {} vs {fd}", g[j]);
        }
    }
    println!("mse: worst relative gradient error {worst:.2e}");
}

edgetune::mlp! {
    /// XOR, every layer trained.
    struct Xor {
        dense 2 -> 8, tanh;
        dense 8 -> 8, relu;
        dense 8 -> 2;
        loss softmax_cross_entropy;
    }
}

/// Uniform(−1/√I, 1/√I) weights and biases (torch's `Linear` default), in torch order, drawn
/// from this file's generator. The same rule as `Init::TorchDefault`, kept for the blobs test
/// alone: its premise (the move costs the pretrained network accuracy, 0.713 before fine-tuning)
/// holds for these draws, while from `Init::TorchDefault` (seed 42) the pretrained boundary
/// already scores 0.96 on the moved blobs, which the scenario would need redesigning for.
fn torch_init<const N: usize>(layers: &[LayerSpec], rng: &mut Rng) -> [f64; N] {
    let mut out = [0.0; N];
    let mut at = 0;
    for l in layers {
        let a = 1.0 / (l.inputs as f64).sqrt();
        for v in &mut out[at..at + l.params()] {
            *v = rng.uniform(a);
        }
        at += l.params();
    }
    out
}

macro_rules! train_xor {
    ($s:ty) => {{
        let data: [([$s; 2], usize); 4] = [
            ([0.0, 0.0], 0),
            ([0.0, 1.0], 1),
            ([1.0, 0.0], 1),
            ([1.0, 1.0], 0),
        ];
        let mut solved = 0;
        for seed in 0..10 {
            let mut net = Xor::<$s>::zeroed();
            net.init(Init::TorchDefault, seed).unwrap();
            let mut trainer = Trainer::new(
                Adam::<$s, { Xor::<$s>::TRAINABLE }>::new(AdamConfig::adam(0.02)).unwrap(),
            );
            let mut last = 0.0;
            for _ in 0..500 {
                last = trainer.step_batch(&mut net, &data).unwrap();
            }
            if data.iter().all(|(x, y)| net.predict(x) == Ok(*y)) && last < 0.05 {
                solved += 1;
            }
        }
        solved
    }};
}

/// XOR with Adam (lr 0.02, full batch of 4, 500 steps) from 10 torch-style initialisations:
/// every one must classify all four points with mean loss below 0.05.
#[test]
fn xor_trains_to_full_accuracy_f32_and_f64() {
    assert_eq!(train_xor!(f32), 10);
    assert_eq!(train_xor!(f64), 10);
}

// Two Gaussian blobs; a network pretrained on one placement is fine-tuned after the blobs move.
edgetune::mlp! {
    /// Pretraining: everything trains.
    struct BlobsFull {
        dense 2 -> 16, relu;
        dense 16 -> 16, relu;
        dense 16 -> 2;
        loss softmax_cross_entropy;
    }
}
edgetune::mlp! {
    /// Fine-tuning the head only.
    struct BlobsLast {
        dense 2 -> 16, relu, frozen;
        dense 16 -> 16, relu, frozen;
        dense 16 -> 2;
        loss softmax_cross_entropy;
    }
}
edgetune::mlp! {
    /// Fine-tuning the biases only.
    struct BlobsBias {
        dense 2 -> 16, relu, bias;
        dense 16 -> 16, relu, bias;
        dense 16 -> 2, bias;
        loss softmax_cross_entropy;
    }
}

/// `n` samples of two unit-variance blobs centred at `±c` (label 0 at `-c`).
fn blobs(rng: &mut Rng, c: [f64; 2], n: usize) -> Vec<([f64; 2], usize)> {
    (0..n)
        .map(|i| {
            let label = i % 2;
            let s = if label == 0 { -1.0 } else { 1.0 };
            (
                [s * c[0] + 0.5 * rng.normal(), s * c[1] + 0.5 * rng.normal()],
                label,
            )
        })
        .collect()
}

macro_rules! fine_tune {
    ($net:ident, $s:ty, $steps:expr) => {{
        let mut rng = Rng(42);
        // Pretrain on blobs at ±(2, 0).
        let train = blobs(&mut rng, [2.0, 0.0], 200);
        let train: Vec<_> = train
            .iter()
            .map(|(x, y)| (x.map(|v| v as $s), *y))
            .collect();
        let init: [f64; BlobsFull::<f64>::PARAMS] = torch_init(BlobsFull::<f64>::LAYERS, &mut rng);
        let mut full = BlobsFull::<$s>::zeroed();
        full.import(&init.map(|v| v as $s)).unwrap();
        let mut trainer = Trainer::new(
            Adam::<$s, { BlobsFull::<$s>::TRAINABLE }>::new(AdamConfig::adam(0.01)).unwrap(),
        );
        for _ in 0..30 {
            for batch in train.chunks(20) {
                trainer.step_batch(&mut full, batch).unwrap();
            }
        }
        let mut pretrained = [0.0 as $s; BlobsFull::<f64>::PARAMS];
        full.export(&mut pretrained).unwrap();
        // The blobs move to ±(1.5, 1.5) shifted by (1, -1): fine-tune.
        let shift = |x: [f64; 2]| [x[0] + 1.0, x[1] - 1.0];
        let new_train: Vec<_> = blobs(&mut rng, [1.5, 1.5], 200)
            .into_iter()
            .map(|(x, y)| (shift(x).map(|v| v as $s), y))
            .collect();
        let test: Vec<_> = blobs(&mut rng, [1.5, 1.5], 400)
            .into_iter()
            .map(|(x, y)| (shift(x).map(|v| v as $s), y))
            .collect();
        let mut net = $net::<$s>::zeroed();
        net.import(&pretrained).unwrap();
        let accuracy = |net: &$net<$s>| evaluate(net, &test).unwrap().accuracy.unwrap();
        let before = accuracy(&net);
        let frozen_before = *net.frozen();
        let mut trainer = Trainer::new(
            Adam::<$s, { $net::<$s>::TRAINABLE }>::new(AdamConfig::adam(0.02)).unwrap(),
        );
        for _ in 0..$steps {
            for batch in new_train.chunks(20) {
                trainer.step_batch(&mut net, batch).unwrap();
            }
        }
        assert_eq!(net.frozen(), &frozen_before, "frozen parameters changed");
        // Only the trainable elements moved: compare the exported parameters.
        let mut after = [0.0 as $s; BlobsFull::<f64>::PARAMS];
        net.export(&mut after).unwrap();
        let moved_mask: [bool; BlobsFull::<f64>::PARAMS] =
            core::array::from_fn(|i| after[i] != pretrained[i]);
        let trainable_mask: [bool; BlobsFull::<f64>::PARAMS] = {
            // Mark every element of the trainable arena through import_trainable.
            let mut probe = $net::<f64>::zeroed();
            probe
                .import_trainable(&[1.0; BlobsFull::<f64>::PARAMS])
                .unwrap();
            let mut flat = [0.0f64; BlobsFull::<f64>::PARAMS];
            probe.export(&mut flat).unwrap();
            flat.map(|v| v == 1.0)
        };
        for i in 0..moved_mask.len() {
            assert!(
                !moved_mask[i] || trainable_mask[i],
                "frozen element {i} moved"
            );
        }
        (before, accuracy(&net))
    }};
}

/// After the blobs move, fine-tuning with Adam (lr 0.02, batches of 20, 20 epochs) reaches at
/// least 95% test accuracy with only the head, and with only the biases; frozen elements never
/// change. The pretrained network scores lower on the moved blobs (checked, so the test could fail).
#[test]
fn last_layer_and_bias_only_fine_tuning_recover_accuracy_f32_and_f64() {
    let (before, after) = fine_tune!(BlobsLast, f32, 20);
    println!("last layer f32: {before:.3} -> {after:.3}");
    assert!(before < 0.9 && after >= 0.95);
    let (before, after) = fine_tune!(BlobsLast, f64, 20);
    println!("last layer f64: {before:.3} -> {after:.3}");
    assert!(before < 0.9 && after >= 0.95);
    let (before, after) = fine_tune!(BlobsBias, f32, 20);
    println!("bias only f32: {before:.3} -> {after:.3}");
    assert!(before < 0.9 && after >= 0.95);
    let (before, after) = fine_tune!(BlobsBias, f64, 20);
    println!("bias only f64: {before:.3} -> {after:.3}");
    assert!(before < 0.9 && after >= 0.95);
}

#[test]
fn import_export_round_trip_in_torch_order_and_reject_wrong_lengths() {
    let all: [f32; 2410] = core::array::from_fn(|i| i as f32);
    let mut net = DigitsBias::<f32>::zeroed();
    net.import(&all).unwrap();
    // Torch order: W0 (2048), b0 (32), W1 (320), b1 (10); bias-only trains b0 and b1.
    let expected_trainable: Vec<f32> = (2048..2080).chain(2400..2410).map(|i| i as f32).collect();
    assert_eq!(&net.trainable()[..], &expected_trainable[..]);
    let mut out = [0.0f32; 2410];
    net.export(&mut out).unwrap();
    assert_eq!(out, all);
    let mismatch = Err(Error::LengthMismatch {
        expected: 2410,
        found: 2409,
    });
    assert_eq!(net.import(&all[..2409]), mismatch);
    assert_eq!(net.import_trainable(&all[..2409]), mismatch);
    assert_eq!(net.export(&mut out[..2409]), mismatch);
    assert_eq!(
        net.import(&[0.0; 2411]),
        Err(Error::LengthMismatch {
            expected: 2410,
            found: 2411
        })
    );
    // Nothing was written by the failed calls.
    net.export(&mut out).unwrap();
    assert_eq!(out, all);
}

static DIGITS_ALL: [f32; 2410] = {
    let mut a = [0.0f32; 2410];
    let mut i = 0;
    while i < 2410 {
        a[i] = ((i * 37 % 101) as f32 - 50.0) / 400.0;
        i += 1;
    }
    a
};
/// The frozen layer of `DigitsLast`, cut at compile time: it would live in flash.
static DIGITS_FROZEN: [f32; DigitsLast::<f32>::FROZEN] =
    DigitsLast::<f32>::split_frozen(&DIGITS_ALL);

#[test]
fn frozen_part_in_a_static_gives_the_same_network() {
    let mut ram = DigitsLast::<f32>::zeroed();
    ram.import(&DIGITS_ALL).unwrap();
    let mut flash: DigitsLast<f32, &'static [f32; 2080]> = DigitsLast::with_frozen(&DIGITS_FROZEN);
    flash.import_trainable(&DIGITS_ALL).unwrap();
    assert_eq!(
        flash.trainable(),
        &DigitsLast::<f32>::split_trainable(&DIGITS_ALL)
    );
    let x: [f32; 64] = core::array::from_fn(|i| (i as f32 / 64.0) - 0.3);
    let (mut s1, mut s2) = (DigitsLast::<f32>::scratch(), DigitsLast::<f32>::scratch());
    assert_eq!(ram.forward(&x, &mut s1), flash.forward(&x, &mut s2));
    assert_eq!(ram.accumulate(&x, 3), flash.accumulate(&x, 3));
    assert_eq!(ram.grads(), flash.grads());
    let mut out = [0.0f32; 2410];
    flash.export(&mut out).unwrap();
    assert_eq!(out, DIGITS_ALL);
}

#[test]
fn bad_label_is_an_error_and_leaves_gradients_unchanged() {
    let mut net = DigitsFull::<f32>::zeroed();
    net.import(&DIGITS_ALL).unwrap();
    let x = [0.5f32; 64];
    net.accumulate(&x, 2).unwrap();
    let before = *net.grads();
    assert_eq!(
        net.accumulate(&x, 10),
        Err(NnError::LabelOutOfRange {
            label: 10,
            classes: 10
        }
        .into())
    );
    assert_eq!(
        net.loss(&x, usize::MAX),
        Err(NnError::LabelOutOfRange {
            label: usize::MAX,
            classes: 10
        }
        .into())
    );
    assert_eq!(net.grads(), &before);
    // Non-finite input: an error naming the first bad element, gradients unchanged (the ReLU
    // would otherwise turn NaN into 0 and train on it).
    let bad = edgetune::Error::InvalidInput {
        index: 0,
        fault: edgetune::ValueFault::NotFinite,
    };
    assert_eq!(net.accumulate(&[f32::NAN; 64], 0), Err(bad));
    assert_eq!(net.accumulate(&[f32::INFINITY; 64], 0), Err(bad));
    assert_eq!(net.grads(), &before);
    net.zero_grad();
    assert!(net.grads().iter().all(|&g| g == 0.0));
}

#[test]
fn forward_infer_and_predict_agree() {
    let mut net = DigitsMid::<f32>::zeroed();
    let all: [f32; 2778] = core::array::from_fn(|i| ((i * 53 % 97) as f32 - 48.0) / 300.0);
    net.import(&all).unwrap();
    let x: [f32; 64] = core::array::from_fn(|i| ((i * 7 % 13) as f32 - 6.0) / 6.0);
    let mut scratch = DigitsMid::<f32>::scratch();
    let logits = *net.forward(&x, &mut scratch).unwrap();
    assert_eq!(net.infer(&x), Ok(logits));
    let best = (0..10)
        .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
        .unwrap();
    assert_eq!(net.predict(&x), Ok(best));
    // Training's forward (which keeps activations elsewhere) computes the same logits.
    let mut dz = [0.0f32; 10];
    let expected = edgetune::nn::softmax_cross_entropy(&logits, 4, &mut dz).unwrap();
    assert_eq!(net.accumulate(&x, 4).unwrap(), expected);
}
