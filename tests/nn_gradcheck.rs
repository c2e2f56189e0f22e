//! Backward passes of every layer and loss in `edgetune::nn` against central finite differences
//! in `f64`; forward passes against naive formulas; `f32` against `f64`; batch accumulation;
//! rejected labels.
//!
//! # Finite-difference tolerance
//! The central difference `(L(p + h) − L(p − h)) / 2h` with `h = 1e-6` differs from `∂L/∂p` by
//! - truncation `h²/6 · |L'''| ≈ 1.7e-13 · |L'''|` (every function here has `|L'''|` of order 1 to
//!   10 on the inputs used, which lie in `[-1, 1]` or `[-3, 3]`), plus
//! - rounding `≈ δ/h`, where `δ` is the absolute rounding error of one evaluation of `L`. A loss
//!   over at most a few hundred terms of size ≤ 10 has `δ ≲ 300 · 10 · 2.2e-16 ≈ 7e-13`, so
//!   `δ/h ≲ 7e-7` in the worst case (random rounding errors partly cancel: typically `1e-9`).
//!
//! Hence `common::FD_TOL = 1e-6`, applied as `|analytic − numeric| ≤ FD_TOL · max(1, |analytic|)`.
//! The measured worst errors are printed (`cargo test --test nn_gradcheck -- --nocapture`).
//! Kinks (ReLU, LeakyReLU at 0) are kept at least `0.05` away from every input, far beyond `h`.

// The naive reference formulas are written with explicit indices, as on paper.
#![allow(clippy::needless_range_loop, clippy::type_complexity)]

mod common;

use common::{assert_gradient, numeric_gradient, sigmoid_ref, Rng};
use edgetune::nn::{
    self, dense, Activation, Dense, LeakyRelu, NnError, Relu, Scalar, Sigmoid, Tanh, Tensor,
};

/// The `f32` unit roundoff, `2^-24`.
const U: f64 = f32::EPSILON as f64 / 2.0;

fn fill<T: Tensor<f64>>(t: &mut T, src: &[f64]) {
    assert_eq!(t.flat().len(), src.len());
    t.flat_mut().copy_from_slice(src);
}

// ---------------------------------------------------------------------------------------------
// Dense

/// Loss `Σ c·y` of a dense layer whose `W`, `b`, `x` are laid out flat in `p`.
fn dense_loss<const I: usize, const O: usize>(p: &[f64], c: &[f64; O]) -> f64 {
    let (w, b, x) = dense::split::<f64, I, O>(p).unwrap();
    let x: &[f64; I] = x.try_into().unwrap();
    let mut y = [0.0; O];
    dense::forward(w, b, x, &mut y);
    y.iter().zip(c).map(|(y, c)| y * c).sum()
}

fn gradcheck_dense<const I: usize, const O: usize>(seed: u64) -> f64 {
    let mut rng = Rng(seed);
    let n = I * O + O + I;
    let p = rng.vec(n, 1.0);
    let mut c = [0.0; O];
    fill(&mut c, &rng.vec(O, 1.0));

    let (w, b, x) = dense::split::<f64, I, O>(&p).unwrap();
    let x: &[f64; I] = x.try_into().unwrap();
    // Naive forward as an independent reference.
    let mut y = [0.0; O];
    dense::forward(w, b, x, &mut y);
    for o in 0..O {
        let naive: f64 = b[o] + (0..I).map(|i| w[o][i] * x[i]).sum::<f64>();
        assert!((y[o] - naive).abs() <= 1e-14, "dense forward");
    }

    let mut grads = vec![0.0; n];
    {
        let (dw, db, dx) = dense::split_mut::<f64, I, O>(&mut grads).unwrap();
        let dx: &mut [f64; I] = dx.try_into().unwrap();
        dense::backward(w, x, &c, Some((dw, db)), Some(dx));
    }
    let numeric = numeric_gradient(&|q| dense_loss::<I, O>(q, &c), &p);
    assert_gradient(&format!("dense<{I},{O}> dW,db,dx"), &grads, &numeric)
}

#[test]
fn dense_backward_matches_finite_differences() {
    gradcheck_dense::<1, 1>(1);
    gradcheck_dense::<3, 2>(2);
    gradcheck_dense::<8, 5>(3);
    gradcheck_dense::<16, 10>(4);
}

#[test]
fn dense_without_dx_or_grads_writes_only_what_is_asked() {
    let layer = Dense::<f64, 3, 2> {
        weights: [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],
        bias: [0.5, -0.5],
    };
    let x = [1.0, -1.0, 2.0];
    let dy = [1.0, 2.0];
    let mut g = Dense::zeroed();
    layer.backward(&x, &dy, Some(&mut g), None);
    assert_eq!(g.weights, [[1.0, -1.0, 2.0], [2.0, -2.0, 4.0]]);
    assert_eq!(g.bias, [1.0, 2.0]);
    let mut dx = [9.0; 3];
    layer.backward(&x, &dy, None, Some(&mut dx));
    assert_eq!(dx, [9.0, 12.0, 15.0]);
    assert_eq!(g.bias, [1.0, 2.0], "grads untouched when None");
    let mut y = [0.0; 2];
    layer.forward(&x, &mut y);
    assert_eq!(y, [5.5, 10.5]);
}

// ---------------------------------------------------------------------------------------------
// Activations

fn gradcheck_activation<A: Activation<f64>, T: Tensor<f64> + Clone>(
    name: &str,
    act: &A,
    zero: T,
    seed: u64,
    reference: fn(f64) -> f64,
) -> f64 {
    let mut rng = Rng(seed);
    let n = zero.flat().len();
    let xs: Vec<f64> = (0..n).map(|_| rng.away_from_zero(3.0, 0.05)).collect();
    let cs = rng.vec(n, 1.0);
    let (mut x, mut y, mut c, mut dx) = (zero.clone(), zero.clone(), zero.clone(), zero.clone());
    fill(&mut x, &xs);
    fill(&mut c, &cs);
    act.forward(&x, &mut y);
    for (&yi, &xi) in y.flat().iter().zip(&xs) {
        assert!(
            (yi - reference(xi)).abs() <= 1e-15,
            "{name} forward at {xi}"
        );
    }
    act.backward(&y, &c, &mut dx);
    // The in-place forms agree bit for bit.
    let mut xy = x.clone();
    act.forward_in_place(&mut xy);
    assert_eq!(xy.flat(), y.flat());
    let mut grad = c.clone();
    act.backward_in_place(&y, &mut grad);
    assert_eq!(grad.flat(), dx.flat());

    let loss = |q: &[f64]| {
        q.iter()
            .zip(&cs)
            .map(|(&x, &c)| c * act.apply(x))
            .sum::<f64>()
    };
    let numeric = numeric_gradient(&loss, &xs);
    assert_gradient(&format!("{name} ({n} elements) dx"), dx.flat(), &numeric)
}

fn relu_ref(x: f64) -> f64 {
    x.max(0.0)
}
fn leaky_ref(x: f64) -> f64 {
    if x > 0.0 {
        x
    } else {
        0.1 * x
    }
}
fn tanh_ref(x: f64) -> f64 {
    x.tanh() // std's tanh: the platform libm, independent of the `libm` crate
}
#[test]
fn activations_backward_match_finite_differences() {
    let leaky = LeakyRelu::<f64>::new(0.1).unwrap();
    for (seed, shape) in [(20u64, 0usize), (21, 1), (22, 2)] {
        macro_rules! each {
            ($zero:expr) => {{
                gradcheck_activation("relu", &Relu, $zero, seed, relu_ref);
                gradcheck_activation("leaky_relu(0.1)", &leaky, $zero, seed, leaky_ref);
                gradcheck_activation("tanh", &Tanh, $zero, seed, tanh_ref);
                gradcheck_activation("sigmoid", &Sigmoid, $zero, seed, sigmoid_ref);
            }};
        }
        match shape {
            0 => each!([0.0f64; 1]),
            1 => each!([0.0f64; 17]),
            _ => each!([[0.0f64; 6]; 3]),
        }
    }
}

#[test]
fn leaky_relu_rejects_negative_or_non_finite_slopes() {
    assert_eq!(LeakyRelu::<f32>::new(-0.01), Err(NnError::InvalidSlope));
    assert_eq!(LeakyRelu::<f32>::new(f64::NAN), Err(NnError::InvalidSlope));
    assert_eq!(
        LeakyRelu::<f32>::new(f64::INFINITY),
        Err(NnError::InvalidSlope)
    );
    assert_eq!(LeakyRelu::<f32>::new(0.0).unwrap().slope(), 0.0);
}

#[test]
fn activation_derivatives_at_the_kink_follow_torch() {
    let leaky = LeakyRelu::<f64>::new(0.2).unwrap();
    let mut y = [0.0f64; 1];
    Relu.forward(&[0.0], &mut y);
    assert_eq!(Relu.derivative_from_output(y[0]), 0.0);
    leaky.forward(&[0.0], &mut y);
    assert_eq!(leaky.derivative_from_output(y[0]), 0.2);
}

// ---------------------------------------------------------------------------------------------
// Losses

fn gradcheck_softmax_ce<const C: usize>(seed: u64, scale: f64) -> f64 {
    let mut rng = Rng(seed);
    let zs = rng.vec(C, scale);
    let mut worst: f64 = 0.0;
    for label in 0..C {
        let mut z = [0.0; C];
        fill(&mut z, &zs);
        let mut d = [0.0; C];
        let loss = nn::softmax_cross_entropy(&z, label, &mut d).unwrap();
        // Naive reference (fine for |z| ≤ 3).
        let naive = -(zs[label].exp() / zs.iter().map(|z| z.exp()).sum::<f64>()).ln();
        assert!(
            (loss - naive).abs() <= 1e-14 * naive.abs().max(1.0),
            "CE loss"
        );
        let f = |q: &[f64]| {
            let mut z = [0.0; C];
            fill(&mut z, q);
            nn::softmax_cross_entropy(&z, label, &mut [0.0; C]).unwrap()
        };
        let numeric = numeric_gradient(&f, &zs);
        worst = worst.max(assert_gradient(
            &format!("softmax_ce<{C}> label {label} dlogits"),
            &d,
            &numeric,
        ));
    }
    worst
}

#[test]
fn softmax_cross_entropy_backward_matches_finite_differences() {
    gradcheck_softmax_ce::<1>(30, 3.0);
    gradcheck_softmax_ce::<2>(31, 3.0);
    gradcheck_softmax_ce::<3>(32, 3.0);
    gradcheck_softmax_ce::<10>(33, 3.0);
}

#[test]
fn softmax_cross_entropy_is_stable_for_huge_logits() {
    let z = [1000.0f32, 999.0, -1000.0];
    let mut d = [0.0f32; 3];
    let loss = nn::softmax_cross_entropy(&z, 1, &mut d).unwrap();
    // Shifted logits 0, −1, −2000: L = ln(1 + e⁻¹ + e⁻²⁰⁰⁰) − (−1).
    let expected = (1.0f64 + (-1f64).exp()).ln() + 1.0;
    assert!(
        (f64::from(loss) - expected).abs() < 1e-6,
        "{loss} vs {expected}"
    );
    assert!(d.iter().all(|v| v.is_finite()));
    assert!(
        (d.iter().sum::<f32>()).abs() < 1e-6,
        "softmax − onehot sums to 0"
    );
    let mut p = [0.0f32; 3];
    nn::softmax(&z, &mut p);
    assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    assert_eq!(p[0] - d[0], 0.0);
}

#[test]
fn softmax_cross_entropy_rejects_bad_labels_and_writes_nothing() {
    let z = [0.5f32, -0.25, 2.0];
    for label in [3usize, 4, usize::MAX] {
        let mut d = [7.0f32; 3];
        assert_eq!(
            nn::softmax_cross_entropy(&z, label, &mut d),
            Err(NnError::LabelOutOfRange { label, classes: 3 })
        );
        assert_eq!(d, [7.0; 3], "dlogits untouched");
    }
    let mut d: [f32; 0] = [];
    assert_eq!(
        nn::softmax_cross_entropy(&[], 0, &mut d),
        Err(NnError::LabelOutOfRange {
            label: 0,
            classes: 0
        })
    );
}

fn gradcheck_mse<T: Tensor<f64> + Clone>(zero: T, seed: u64) -> f64 {
    let mut rng = Rng(seed);
    let n = zero.flat().len();
    let ps = rng.vec(n, 2.0);
    let ts = rng.vec(n, 2.0);
    let (mut p, mut t, mut d) = (zero.clone(), zero.clone(), zero.clone());
    fill(&mut p, &ps);
    fill(&mut t, &ts);
    let loss = nn::mse(&p, &t, &mut d);
    let naive = ps
        .iter()
        .zip(&ts)
        .map(|(p, t)| (p - t) * (p - t))
        .sum::<f64>()
        / n as f64;
    assert!((loss - naive).abs() <= 1e-14, "mse loss");
    let f = |q: &[f64]| {
        let mut p = zero.clone();
        fill(&mut p, q);
        nn::mse(&p, &t, &mut zero.clone())
    };
    let numeric = numeric_gradient(&f, &ps);
    assert_gradient(&format!("mse ({n} elements) dpred"), d.flat(), &numeric)
}

#[test]
fn mse_backward_matches_finite_differences() {
    gradcheck_mse([0.0f64; 1], 40);
    gradcheck_mse([0.0f64; 6], 41);
    gradcheck_mse([[0.0f64; 4]; 3], 42);
}

// ---------------------------------------------------------------------------------------------
// Two-layer network: dense → tanh → dense → softmax-CE, all parameters in one flat arena.

/// Loss of the network whose parameters are the flat arena `p` (`[W1, b1, W2, b2]`).
fn net_loss<const I: usize, const H: usize, const C: usize>(
    p: &[f64],
    x: &[f64; I],
    label: usize,
) -> f64 {
    let (w1, b1, rest) = dense::split::<f64, I, H>(p).unwrap();
    let (w2, b2, _) = dense::split::<f64, H, C>(rest).unwrap();
    let mut h = [0.0; H];
    dense::forward(w1, b1, x, &mut h);
    Tanh.forward_in_place(&mut h);
    let mut z = [0.0; C];
    dense::forward(w2, b2, &h, &mut z);
    nn::softmax_cross_entropy(&z, label, &mut [0.0; C]).unwrap()
}

/// Accumulates the network's gradient for one sample into `grads`; returns the loss.
fn net_backward<S: Scalar, const I: usize, const H: usize, const C: usize>(
    p: &[S],
    grads: &mut [S],
    x: &[S; I],
    label: usize,
) -> S {
    let (w1, b1, rest) = dense::split::<S, I, H>(p).unwrap();
    let (w2, b2, _) = dense::split::<S, H, C>(rest).unwrap();
    // Forward, keeping x (given), h (after tanh, in place) and nothing else.
    let mut h = [S::ZERO; H];
    dense::forward(w1, b1, x, &mut h);
    Tanh.forward_in_place(&mut h);
    let mut z = [S::ZERO; C];
    dense::forward(w2, b2, &h, &mut z);
    // The logits buffer becomes dlogits: no extra buffer.
    let logits = z;
    let loss = nn::softmax_cross_entropy(&logits, label, &mut z).unwrap();
    let (dw1, db1, rest) = dense::split_mut::<S, I, H>(grads).unwrap();
    let (dw2, db2, _) = dense::split_mut::<S, H, C>(rest).unwrap();
    let mut dh = [S::ZERO; H];
    dense::backward(w2, &h, &z, Some((dw2, db2)), Some(&mut dh));
    Tanh.backward_in_place(&h, &mut dh);
    dense::backward(w1, x, &dh, Some((dw1, db1)), None);
    loss
}

fn gradcheck_two_layer<const I: usize, const H: usize, const C: usize>(seed: u64) -> f64 {
    let mut rng = Rng(seed);
    let n = Dense::<f64, I, H>::PARAMS + Dense::<f64, H, C>::PARAMS;
    let p = rng.vec(n, 1.0);
    let mut x = [0.0; I];
    fill(&mut x, &rng.vec(I, 2.0));
    let label = (rng.next_u64() % C as u64) as usize;
    let mut grads = vec![0.0; n];
    let loss = net_backward::<f64, I, H, C>(&p, &mut grads, &x, label);
    assert_eq!(loss, net_loss::<I, H, C>(&p, &x, label));
    let numeric = numeric_gradient(&|q| net_loss::<I, H, C>(q, &x, label), &p);
    assert_gradient(
        &format!("dense<{I},{H}>→tanh→dense<{H},{C}>→CE, all {n} parameters"),
        &grads,
        &numeric,
    )
}

#[test]
fn two_layer_network_gradient_matches_finite_differences_for_every_parameter() {
    gradcheck_two_layer::<2, 3, 2>(50);
    gradcheck_two_layer::<4, 5, 3>(51);
    gradcheck_two_layer::<8, 16, 10>(52);
}

// ---------------------------------------------------------------------------------------------
// Batch accumulation

#[test]
fn accumulating_a_batch_equals_the_sum_of_per_sample_gradients() {
    // Accumulating computes ((0 + g₁) + g₂) + …; summing separately computed gᵢ (each 0 + gᵢ,
    // exact) in the same order performs the same additions, so the results are bit-identical.
    const I: usize = 5;
    const H: usize = 7;
    const C: usize = 4;
    const N: usize = Dense::<f64, I, H>::PARAMS + Dense::<f64, H, C>::PARAMS;
    let mut rng = Rng(60);
    let p = rng.vec(N, 1.0);
    let batch: Vec<([f64; I], usize)> = (0..6)
        .map(|k| {
            let mut x = [0.0; I];
            fill(&mut x, &rng.vec(I, 2.0));
            (x, k % C)
        })
        .collect();
    let mut accumulated = [0.0f64; N];
    for (x, label) in &batch {
        net_backward::<f64, I, H, C>(&p, &mut accumulated, x, *label);
    }
    let mut summed = [0.0f64; N];
    for (x, label) in &batch {
        let mut single = [0.0f64; N];
        net_backward::<f64, I, H, C>(&p, &mut single, x, *label);
        for (s, g) in summed.iter_mut().zip(single) {
            *s += g;
        }
    }
    assert_eq!(accumulated, summed);
    assert!(accumulated.iter().any(|&g| g != 0.0));
}

// ---------------------------------------------------------------------------------------------
// f32 against f64
//
// Inputs are drawn as f32 values, so both precisions see identical inputs and only the f32
// arithmetic differs. Bounds (u = 2⁻²⁴, γₙ = n·u/(1 − n·u)):
// - a dot product or sum of n terms accumulated in f32: |error| ≤ γₙ · Σ|terms| (standard
//   bound for recursive summation of rounded products);
// - a single product: u·|result|;
// - libm's expf/tanhf/logf are within 2 ulp (4u relative), so tanh is within 4u and sigmoid (exp,
//   one add, one divide) within 8u relative; backward from a stored output y with relative error
//   8u: |∂(1 − y²)| ≤ 2·8u + 2u and |∂(y(1 − y))| ≤ 2·8u + 2u, times |dy| plus one rounding, so
//   32u·|dy| covers both.
// Each check reports the worst error as a fraction of its bound (must be ≤ 1).

fn gamma(n: usize) -> f64 {
    n as f64 * U / (1.0 - n as f64 * U)
}

/// Asserts `|a32 − a64| ≤ bound` (plus `1e-14·bound` for f64's own rounding); returns err/bound.
fn within(what: &str, a32: f32, a64: f64, bound: f64) -> f64 {
    let err = (f64::from(a32) - a64).abs();
    let bound = bound * (1.0 + 1e-12) + 1e-300;
    assert!(
        err <= bound,
        "{what}: f32 {a32:e}, f64 {a64:e}, error {err:e} > bound {bound:e}"
    );
    err / bound
}

fn f32_dense<const I: usize, const O: usize>(seed: u64) -> f64 {
    let mut rng = Rng(seed);
    let mut l32 = Dense::<f32, I, O>::zeroed();
    let mut l64 = Dense::<f64, I, O>::zeroed();
    let (mut x32, mut x64, mut dy32, mut dy64) = ([0f32; I], [0f64; I], [0f32; O], [0f64; O]);
    for (a, b) in l32
        .weights
        .as_flattened_mut()
        .iter_mut()
        .zip(l64.weights.as_flattened_mut())
    {
        *b = rng.f32ish(1.0);
        *a = *b as f32;
    }
    for (a, b) in l32.bias.iter_mut().zip(&mut l64.bias) {
        *b = rng.f32ish(1.0);
        *a = *b as f32;
    }
    for (a, b) in x32.iter_mut().zip(&mut x64) {
        *b = rng.f32ish(2.0);
        *a = *b as f32;
    }
    for (a, b) in dy32.iter_mut().zip(&mut dy64) {
        *b = rng.f32ish(1.0);
        *a = *b as f32;
    }
    let (mut y32, mut y64) = ([0f32; O], [0f64; O]);
    l32.forward(&x32, &mut y32);
    l64.forward(&x64, &mut y64);
    let mut worst: f64 = 0.0;
    for o in 0..O {
        let mag = l64.bias[o].abs()
            + (0..I)
                .map(|i| (l64.weights[o][i] * x64[i]).abs())
                .sum::<f64>();
        worst = worst.max(within("dense y", y32[o], y64[o], gamma(I + 1) * mag));
    }
    let (mut g32, mut g64) = (Dense::<f32, I, O>::zeroed(), Dense::<f64, I, O>::zeroed());
    let (mut dx32, mut dx64) = ([0f32; I], [0f64; I]);
    l32.backward(&x32, &dy32, Some(&mut g32), Some(&mut dx32));
    l64.backward(&x64, &dy64, Some(&mut g64), Some(&mut dx64));
    for i in 0..I {
        let mag = (0..O)
            .map(|o| (l64.weights[o][i] * dy64[o]).abs())
            .sum::<f64>();
        worst = worst.max(within("dense dx", dx32[i], dx64[i], gamma(O) * mag));
    }
    for o in 0..O {
        assert_eq!(f64::from(g32.bias[o]), g64.bias[o], "db is exact");
        for i in 0..I {
            let g = g64.weights[o][i];
            worst = worst.max(within("dense dW", g32.weights[o][i], g, U * g.abs()));
        }
    }
    println!("f32 vs f64 dense<{I},{O}>: worst error / bound {worst:.3}");
    worst
}

#[test]
fn f32_dense_agrees_with_f64_within_the_summation_bound() {
    f32_dense::<1, 1>(70);
    f32_dense::<4, 3>(71);
    f32_dense::<16, 10>(72);
    f32_dense::<64, 8>(73);
}

fn f32_activation<A32: Activation<f32>, A64: Activation<f64>>(
    name: &str,
    a32: &A32,
    a64: &A64,
    forward_rel: f64,
    backward_rel: f64,
    seed: u64,
) -> f64 {
    let mut rng = Rng(seed);
    let mut worst: f64 = 0.0;
    for _ in 0..2000 {
        let x = rng.f32ish(6.0);
        let dy = rng.f32ish(1.0);
        let (y32, y64) = (a32.apply(x as f32), a64.apply(x));
        worst = worst.max(within(name, y32, y64, forward_rel * y64.abs()));
        let (mut dx32, mut dx64) = ([0f32], [0f64]);
        a32.backward(&[y32], &[dy as f32], &mut dx32);
        a64.backward(&[y64], &[dy], &mut dx64);
        worst = worst.max(within(name, dx32[0], dx64[0], backward_rel * dy.abs()));
    }
    println!("f32 vs f64 {name}: worst error / bound {worst:.3}");
    worst
}

#[test]
fn f32_activations_agree_with_f64_within_stated_ulps() {
    f32_activation("relu", &Relu, &Relu, 0.0, 0.0, 80);
    let (l32, l64) = (
        LeakyRelu::<f32>::new(0.01).unwrap(),
        LeakyRelu::<f64>::new(0.01).unwrap(),
    );
    // The slope 0.01 is rounded to f32 (relative u), then one product (u).
    f32_activation("leaky_relu", &l32, &l64, 2.0 * U, 2.0 * U, 81);
    f32_activation("tanh", &Tanh, &Tanh, 4.0 * U, 32.0 * U, 82);
    f32_activation("sigmoid", &Sigmoid, &Sigmoid, 8.0 * U, 32.0 * U, 83);
}

fn f32_softmax_ce<const C: usize>(seed: u64) -> f64 {
    let mut rng = Rng(seed);
    let mut worst: f64 = 0.0;
    for trial in 0..200 {
        let (mut z32, mut z64) = ([0f32; C], [0f64; C]);
        for (a, b) in z32.iter_mut().zip(&mut z64) {
            *b = rng.f32ish(8.0);
            *a = *b as f32;
        }
        let label = trial % C;
        let (mut d32, mut d64) = ([0f32; C], [0f64; C]);
        let l32 = nn::softmax_cross_entropy(&z32, label, &mut d32).unwrap();
        let l64 = nn::softmax_cross_entropy(&z64, label, &mut d64).unwrap();
        // z − m rounds (u·|z − m|), the normaliser carries γ_C plus 4u from expf, ln adds 4u
        // relative on ln C ≥ its value: (C + 8)·u·(1 + |z_label − m| + ln C) covers the loss;
        // each probability carries (C + 8)·u relative, so (C + 8)·u bounds dlogits.
        let m = z64.iter().cloned().fold(f64::MIN, f64::max);
        let scale = 1.0 + (z64[label] - m).abs() + (C as f64).ln();
        let k = (C + 8) as f64 * U;
        worst = worst.max(within("softmax_ce loss", l32, l64, k * scale));
        for j in 0..C {
            worst = worst.max(within("softmax_ce dlogits", d32[j], d64[j], k));
        }
    }
    println!("f32 vs f64 softmax_ce<{C}>: worst error / bound {worst:.3}");
    worst
}

#[test]
fn f32_softmax_cross_entropy_agrees_with_f64_within_the_stated_bound() {
    f32_softmax_ce::<2>(90);
    f32_softmax_ce::<10>(91);
    f32_softmax_ce::<32>(92);
}

#[test]
fn f32_mse_agrees_with_f64_within_the_summation_bound() {
    const N: usize = 24;
    let mut rng = Rng(100);
    let (mut p32, mut p64, mut t32, mut t64) = ([0f32; N], [0f64; N], [0f32; N], [0f64; N]);
    for k in 0..N {
        p64[k] = rng.f32ish(2.0);
        t64[k] = rng.f32ish(2.0);
        p32[k] = p64[k] as f32;
        t32[k] = t64[k] as f32;
    }
    let (mut d32, mut d64) = ([0f32; N], [0f64; N]);
    let l32 = nn::mse(&p32, &t32, &mut d32);
    let l64 = nn::mse(&p64, &t64, &mut d64);
    // Each difference rounds (u), its square (u), the sum (γ_N), the 1/N factor and product (2u).
    let mut worst = within("mse loss", l32, l64, gamma(N + 4) * l64);
    for k in 0..N {
        // difference, rounded 2/N, product: 3u relative.
        worst = worst.max(within("mse dpred", d32[k], d64[k], 3.0 * U * d64[k].abs()));
    }
    println!("f32 vs f64 mse<{N}>: worst error / bound {worst:.3}");
}

#[test]
fn f32_two_layer_gradient_agrees_with_f64() {
    // A sanity bound for the composition (the rigorous bounds are per layer above): four stages
    // of a few u each, with weights |w| ≤ 0.5, measured at about 3u (1.6e-7); the tolerance
    // 2e-6·max(1, |g|) ≈ 34u leaves a factor of 10.
    const I: usize = 8;
    const H: usize = 16;
    const C: usize = 10;
    const N: usize = Dense::<f64, I, H>::PARAMS + Dense::<f64, H, C>::PARAMS;
    let mut rng = Rng(120);
    let p64: Vec<f64> = (0..N).map(|_| rng.f32ish(0.5)).collect();
    let p32: Vec<f32> = p64.iter().map(|&v| v as f32).collect();
    let mut worst: f64 = 0.0;
    for sample in 0..20 {
        let mut x64 = [0f64; I];
        for v in &mut x64 {
            *v = rng.f32ish(2.0);
        }
        let x32 = x64.map(|v| v as f32);
        let label = sample % C;
        let (mut g32, mut g64) = (vec![0f32; N], vec![0f64; N]);
        let l32 = net_backward::<f32, I, H, C>(&p32, &mut g32, &x32, label);
        let l64 = net_backward::<f64, I, H, C>(&p64, &mut g64, &x64, label);
        worst = worst.max(within("net loss", l32, l64, 2e-6 * l64.abs().max(1.0)) / 1.0);
        for (a, b) in g32.iter().zip(&g64) {
            let err = (f64::from(*a) - b).abs() / b.abs().max(1.0);
            assert!(err <= 2e-6, "net gradient: f32 {a:e}, f64 {b:e}");
            worst = worst.max(err / 2e-6);
        }
    }
    println!("f32 vs f64 two-layer net: worst error / bound {worst:.3}");
}
