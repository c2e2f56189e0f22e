//! Layer math in fixed point (`nn::Scalar` for I16F16 and I8F24) against `f64`:
//! the transcendental functions' stated error bounds over every representable input of their
//! domains (I16F16) or a dense sweep (I8F24), dense forward/backward and softmax cross-entropy
//! within bounds derived from the arithmetic, saturation at the edges, and a small classifier
//! trained end to end in I16F16.

mod common;

use common::sigmoid_ref;
use edgetune::nn::{dense, softmax_cross_entropy, Activation, Scalar, Sigmoid, Tanh};
use edgetune::optim::{Optimizer, Sgd, SgdConfig};
use fixed::types::{I16F16, I8F24};

// ---------------------------------------------------------------------------------------------
// Error bounds, in LSB of the result's format, as stated in src/nn/scalar_fixed.rs.

const EXP_I16F16: f64 = 0.5001;
const LN_I16F16: f64 = 0.5001;
const RECIP_I16F16: f64 = 0.5;
const TANH_I16F16: f64 = 0.5001;
const SIGMOID_I16F16: f64 = 0.5001;

const EXP_I8F24: f64 = 0.52;
const LN_I8F24: f64 = 0.52;
const RECIP_I8F24: f64 = 0.5;
const TANH_I8F24: f64 = 0.52;
const SIGMOID_I8F24: f64 = 0.51;

/// `exp` for `x > 0` (not used by the crate): relative error beyond the final ½-LSB rounding.
const EXP_POSITIVE_REL: f64 = 1e-9;

/// The largest `|f(x) − reference(x)|` in LSB over the raw inputs `lo..=hi` taken every `step`
/// (and `hi` itself), with the input where it occurs.
fn max_err(
    frac: u32,
    lo: i32,
    hi: i32,
    step: usize,
    f: impl Fn(i32) -> i32,
    reference: impl Fn(f64) -> f64,
) -> (f64, f64) {
    let scale = 2f64.powi(frac as i32);
    let mut worst = (0.0f64, 0.0f64);
    let check = |raw: i32, worst: &mut (f64, f64)| {
        let x = f64::from(raw) / scale;
        let err = (f64::from(f(raw)) - reference(x) * scale).abs();
        if err > worst.0 || err.is_nan() {
            *worst = (err, x);
        }
    };
    for raw in (i64::from(lo)..=i64::from(hi)).step_by(step) {
        check(raw as i32, &mut worst);
    }
    check(hi, &mut worst);
    worst
}

fn assert_bound(name: &str, (err, at): (f64, f64), bound: f64) {
    println!("{name}: worst error {err:.6} LSB at x = {at}");
    assert!(
        err <= bound,
        "{name}: error {err} LSB at x = {at} exceeds {bound}"
    );
}

const U16: i32 = 1 << 16;
/// Stride of the sweeps outside the exhaustively tested ranges: a prime, so every low-bit pattern
/// and table index is visited.
const STRIDE: usize = 4099;
const U24: i32 = 1 << 24;

// ---------------------------------------------------------------------------------------------
// Transcendental functions, I16F16: every representable input of the domain.

#[test]
fn i16f16_exp_within_bound_for_every_nonpositive_input() {
    let f = |r| Scalar::exp(I16F16::from_bits(r)).to_bits();
    // Every input in [-32, 0]; below it the true value is < 2^-46 and the result must be 0.
    assert_bound(
        "exp I16F16 [-32, 0]",
        max_err(16, -32 * U16, 0, 1, f, f64::exp),
        EXP_I16F16,
    );
    assert_bound(
        "exp I16F16 [MIN, -32]",
        max_err(16, i32::MIN, -32 * U16, STRIDE, f, f64::exp),
        EXP_I16F16,
    );
}

#[test]
fn i16f16_ln_within_bound_for_every_input_from_1() {
    let f = |r| Scalar::ln(I16F16::from_bits(r)).to_bits();
    assert_bound(
        "ln I16F16 [1, 256]",
        max_err(16, U16, 256 * U16, 1, f, f64::ln),
        LN_I16F16,
    );
    assert_bound(
        "ln I16F16 [256, MAX]",
        max_err(16, 256 * U16, i32::MAX, STRIDE, f, f64::ln),
        LN_I16F16,
    );
}

#[test]
fn i16f16_recip_is_exactly_rounded_for_every_input_from_1() {
    let f = |r| Scalar::recip(I16F16::from_bits(r)).to_bits();
    assert_bound(
        "recip I16F16 [1, 256]",
        max_err(16, U16, 256 * U16, 1, f, f64::recip),
        RECIP_I16F16,
    );
    assert_bound(
        "recip I16F16 [256, MAX]",
        max_err(16, 256 * U16, i32::MAX, STRIDE, f, f64::recip),
        RECIP_I16F16,
    );
}

#[test]
fn i16f16_tanh_within_bound_for_every_input() {
    let f = |r| Scalar::tanh(I16F16::from_bits(r)).to_bits();
    assert_bound(
        "tanh I16F16 [-32, 32]",
        max_err(16, -32 * U16, 32 * U16, 1, f, f64::tanh),
        TANH_I16F16,
    );
    assert_bound(
        "tanh I16F16 [MIN, MAX]",
        max_err(16, i32::MIN, i32::MAX, STRIDE, f, f64::tanh),
        TANH_I16F16,
    );
}

#[test]
fn i16f16_sigmoid_within_bound_for_every_input() {
    let f = |r| Scalar::sigmoid(I16F16::from_bits(r)).to_bits();
    assert_bound(
        "sigmoid I16F16 [-32, 32]",
        max_err(16, -32 * U16, 32 * U16, 1, f, sigmoid_ref),
        SIGMOID_I16F16,
    );
    assert_bound(
        "sigmoid I16F16 [MIN, MAX]",
        max_err(16, i32::MIN, i32::MAX, STRIDE, f, sigmoid_ref),
        SIGMOID_I16F16,
    );
}

// ---------------------------------------------------------------------------------------------
// Transcendental functions, I8F24: a dense sweep (every 241st value, a prime stride so every
// table index and every low-bit pattern is visited) plus every value near the ends.

/// Every input in `[lo, lo + 2^20]` and `[hi − 2^20, hi]`, and every 241st in between.
fn sweep_i8f24(
    name: &str,
    lo: i32,
    hi: i32,
    bound: f64,
    f: impl Fn(i32) -> i32 + Copy,
    r: impl Fn(f64) -> f64 + Copy,
) {
    let edge = 1 << 20;
    let a = max_err(24, lo, lo.saturating_add(edge).min(hi), 1, f, r);
    let b = max_err(24, hi.saturating_sub(edge).max(lo), hi, 1, f, r);
    let c = max_err(24, lo, hi, 241, f, r);
    let worst = [a, b, c]
        .into_iter()
        .fold((0.0, 0.0), |w, e| if e.0 > w.0 { e } else { w });
    assert_bound(name, worst, bound);
}

#[test]
fn i8f24_exp_within_bound_on_a_dense_sweep_of_nonpositive_inputs() {
    let f = |r| Scalar::exp(I8F24::from_bits(r)).to_bits();
    sweep_i8f24("exp I8F24 [-32, 0]", -32 * U24, 0, EXP_I8F24, f, f64::exp);
    sweep_i8f24(
        "exp I8F24 [MIN, -32]",
        i32::MIN,
        -32 * U24,
        EXP_I8F24,
        f,
        f64::exp,
    );
}

#[test]
fn i8f24_ln_and_recip_within_bound_on_a_dense_sweep_from_1() {
    let f = |r| Scalar::ln(I8F24::from_bits(r)).to_bits();
    sweep_i8f24("ln I8F24 [1, MAX]", U24, i32::MAX, LN_I8F24, f, f64::ln);
    let f = |r| Scalar::recip(I8F24::from_bits(r)).to_bits();
    sweep_i8f24(
        "recip I8F24 [1, MAX]",
        U24,
        i32::MAX,
        RECIP_I8F24,
        f,
        f64::recip,
    );
}

#[test]
fn i8f24_tanh_and_sigmoid_within_bound_on_a_dense_sweep() {
    let f = |r| Scalar::tanh(I8F24::from_bits(r)).to_bits();
    sweep_i8f24("tanh I8F24", i32::MIN, i32::MAX, TANH_I8F24, f, f64::tanh);
    let f = |r| Scalar::sigmoid(I8F24::from_bits(r)).to_bits();
    sweep_i8f24(
        "sigmoid I8F24",
        i32::MIN,
        i32::MAX,
        SIGMOID_I8F24,
        f,
        sigmoid_ref,
    );
    // Around 0, where the functions are steepest: every value in [-1, 1].
    let f = |r| Scalar::tanh(I8F24::from_bits(r)).to_bits();
    assert_bound(
        "tanh I8F24 [-1, 1]",
        max_err(24, -U24, U24, 1, f, f64::tanh),
        TANH_I8F24,
    );
}

#[test]
fn i16f16_outside_the_crates_domains_exp_ln_recip_stay_accurate_or_saturate() {
    let max = I16F16::MAX.to_f64();
    let sat = |v: f64| v.clamp(I16F16::MIN.to_f64(), max);
    // exp above 0 (not used by the crate): a relative bound, every input up to the format's end
    // (ln 32768 < 10.4), then MAX.
    let mut worst_rel: f64 = 0.0;
    for r in 0..=11 * U16 {
        let y = Scalar::exp(I16F16::from_bits(r)).to_f64();
        let e = (f64::from(r) / 65536.0).exp();
        if e < max {
            // ½ LSB of rounding, the rest relative.
            let rel = (((y - e).abs() - 0.5 / 65536.0) / e).max(0.0);
            worst_rel = worst_rel.max(rel);
        } else {
            assert_eq!(Scalar::exp(I16F16::from_bits(r)), I16F16::MAX, "x = {r}");
        }
    }
    println!("exp I16F16 [0, 11]: worst relative error beyond ½ LSB {worst_rel:.3e}");
    assert!(worst_rel <= EXP_POSITIVE_REL);
    for r in (11 * U16..=i32::MAX).step_by(STRIDE) {
        assert_eq!(Scalar::exp(I16F16::from_bits(r)), I16F16::MAX, "x = {r}");
    }
    // ln on (0, 1]: every input.
    let f = |r| Scalar::ln(I16F16::from_bits(r)).to_bits();
    assert_bound(
        "ln I16F16 (0, 1]",
        max_err(16, 1, U16, 1, f, f64::ln),
        LN_I16F16,
    );
    // recip on every input of [-1, 1] except 0 (saturating), and a sweep of the negatives.
    let f = |r| Scalar::recip(I16F16::from_bits(r)).to_bits();
    assert_bound(
        "recip I16F16 (0, 1]",
        max_err(16, 1, U16, 1, f, |x| sat(x.recip())),
        RECIP_I16F16,
    );
    assert_bound(
        "recip I16F16 [-1, 0)",
        max_err(16, -U16, -1, 1, f, |x| sat(x.recip())),
        RECIP_I16F16,
    );
    assert_bound(
        "recip I16F16 [MIN, -1]",
        max_err(16, i32::MIN, -U16, STRIDE, f, |x| sat(x.recip())),
        RECIP_I16F16,
    );
}

#[test]
fn exp_of_zero_and_functions_at_exact_points_are_exact() {
    assert_eq!(Scalar::exp(I16F16::ZERO), I16F16::ONE);
    assert_eq!(Scalar::exp(I8F24::ZERO), I8F24::ONE);
    assert_eq!(Scalar::ln(I16F16::ONE), I16F16::ZERO);
    assert_eq!(Scalar::ln(I8F24::ONE), I8F24::ZERO);
    assert_eq!(Scalar::recip(I16F16::from_num(4)), I16F16::from_num(0.25));
    assert_eq!(Scalar::tanh(I16F16::ZERO), I16F16::ZERO);
    assert_eq!(Scalar::sigmoid(I16F16::ZERO), I16F16::from_num(0.5));
    assert_eq!(Scalar::sigmoid(I8F24::ZERO), I8F24::from_num(0.5));
}

// ---------------------------------------------------------------------------------------------
// Saturation at the edges: never a wrapped value.

#[test]
fn arithmetic_saturates_instead_of_wrapping() {
    let (max, min, one) = (I16F16::MAX, I16F16::MIN, I16F16::ONE);
    assert_eq!(Scalar::add(max, one), max);
    assert_eq!(Scalar::sub(min, one), min);
    assert_eq!(Scalar::add(min, min), min);
    assert_eq!(Scalar::mul(max, max), max);
    assert_eq!(Scalar::mul(min, min), max);
    assert_eq!(Scalar::mul(max, min), min);
    assert_eq!(Scalar::mul(min, -one), max); // −MIN saturates
    assert_eq!(Scalar::mul(I8F24::MAX, I8F24::from_num(2)), I8F24::MAX);
    assert_eq!(Scalar::add(I8F24::MIN, I8F24::from_num(-1)), I8F24::MIN);
    // Transcendental functions at the edges.
    assert_eq!(Scalar::exp(I16F16::MAX), I16F16::MAX);
    assert_eq!(Scalar::exp(I16F16::from_num(11)), I16F16::MAX); // e^11 > 32768
    assert_eq!(Scalar::exp(I8F24::from_num(5)), I8F24::MAX); // e^5 > 128
    assert_eq!(Scalar::exp(I16F16::MIN), I16F16::ZERO);
    assert_eq!(Scalar::ln(I16F16::ZERO), I16F16::MIN);
    assert_eq!(Scalar::ln(I16F16::from_num(-3)), I16F16::MIN);
    assert_eq!(Scalar::recip(I16F16::ZERO), I16F16::MAX);
    assert_eq!(Scalar::recip(I16F16::from_bits(1)), I16F16::MAX);
    assert_eq!(Scalar::recip(I16F16::from_bits(-1)), I16F16::MIN);
    assert_eq!(Scalar::tanh(I16F16::MAX), I16F16::ONE);
    assert_eq!(Scalar::tanh(I16F16::MIN), -I16F16::ONE);
    assert_eq!(Scalar::sigmoid(I16F16::MAX), I16F16::ONE);
    assert_eq!(Scalar::sigmoid(I16F16::MIN), I16F16::ZERO);
    assert_eq!(Scalar::tanh(I8F24::MIN), -I8F24::ONE);
}

#[test]
fn huge_dense_outputs_saturate_to_min_and_max() {
    let big = I16F16::from_num(30000);
    let w = [[big, big, big], [-big, big, -big]];
    let b = [I16F16::MAX, I16F16::ZERO];
    let x = [big, big, big];
    let mut y = [I16F16::ZERO; 2];
    dense::forward(&w, &b, &x, &mut y);
    assert_eq!(y, [I16F16::MAX, I16F16::MIN]);
    // A sum whose terms overflow the format but cancel is exact: the accumulator holds it.
    let w = [[big, -big, I16F16::ONE]];
    let mut y = [I16F16::ZERO];
    dense::forward(&w, &[I16F16::ZERO], &x, &mut y);
    assert_eq!(y, [big]);
    // The accumulator itself saturates (at the i64 range), it never wraps.
    let mut acc = Scalar::widen(I16F16::MAX);
    for _ in 0..10 {
        acc = <I16F16 as Scalar>::mul_acc(acc, I16F16::MAX, I16F16::MAX);
    }
    assert_eq!(<I16F16 as Scalar>::narrow(acc), I16F16::MAX);
    let mut acc = Scalar::widen(I16F16::MIN);
    for _ in 0..10 {
        acc = <I16F16 as Scalar>::mul_acc(acc, I16F16::MAX, I16F16::MIN);
    }
    assert_eq!(<I16F16 as Scalar>::narrow(acc), I16F16::MIN);
}

// ---------------------------------------------------------------------------------------------
// A small deterministic generator for test data.

struct Lcg(u64);
impl Lcg {
    fn next_f64(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next_f64()
    }
    fn fixed(&mut self, lo: f64, hi: f64) -> I16F16 {
        I16F16::from_f64(self.uniform(lo, hi))
    }
}

fn lsb_err(a: I16F16, reference: f64) -> f64 {
    (a.to_f64() - reference).abs() * 65536.0
}

// ---------------------------------------------------------------------------------------------
// Dense layer: exact accumulation and one rounding per output.

#[test]
fn i16f16_dense_forward_backward_within_half_lsb_of_f64_on_quantised_inputs() {
    const I: usize = 13;
    const O: usize = 7;
    let mut rng = Lcg(1);
    let mut worst: f64 = 0.0;
    for _ in 0..200 {
        let w: [[I16F16; I]; O] =
            core::array::from_fn(|_| core::array::from_fn(|_| rng.fixed(-3.0, 3.0)));
        let b: [I16F16; O] = core::array::from_fn(|_| rng.fixed(-1.0, 1.0));
        let x: [I16F16; I] = core::array::from_fn(|_| rng.fixed(-4.0, 4.0));
        let dy: [I16F16; O] = core::array::from_fn(|_| rng.fixed(-2.0, 2.0));
        // Forward: every product of two I16F16 values and their sum are exact in f64.
        let mut y = [I16F16::ZERO; O];
        dense::forward(&w, &b, &x, &mut y);
        for o in 0..O {
            let r = b[o].to_f64()
                + (0..I)
                    .map(|i| w[o][i].to_f64() * x[i].to_f64())
                    .sum::<f64>();
            let e = lsb_err(y[o], r);
            worst = worst.max(e);
            assert!(e <= 0.5, "forward y[{o}]: {e} LSB");
        }
        // Backward, accumulating twice into gradients that start at zero.
        let mut dw = [[I16F16::ZERO; I]; O];
        let mut db = [I16F16::ZERO; O];
        let mut dx = [I16F16::ZERO; I];
        dense::backward(&w, &x, &dy, Some((&mut dw, &mut db)), Some(&mut dx));
        for i in 0..I {
            let r: f64 = (0..O).map(|o| w[o][i].to_f64() * dy[o].to_f64()).sum();
            let e = lsb_err(dx[i], r);
            worst = worst.max(e);
            assert!(e <= 0.5, "dx[{i}]: {e} LSB");
        }
        for o in 0..O {
            assert_eq!(db[o], dy[o], "db is exact");
            for i in 0..I {
                // One product rounded once.
                let e = lsb_err(dw[o][i], dy[o].to_f64() * x[i].to_f64());
                assert!(e <= 0.5, "dW[{o}][{i}]: {e} LSB");
            }
        }
        dense::backward(&w, &x, &dy, Some((&mut dw, &mut db)), None);
        for o in 0..O {
            for i in 0..I {
                // Two rounded products, added exactly: ≤ 2 · ½ LSB.
                let e = lsb_err(dw[o][i], 2.0 * dy[o].to_f64() * x[i].to_f64());
                assert!(e <= 1.0, "dW[{o}][{i}] after two samples: {e} LSB");
            }
        }
    }
    println!("dense: worst error {worst:.4} LSB (bound 0.5)");
}

// ---------------------------------------------------------------------------------------------
// Softmax cross-entropy.
//
// Derived bound, in LSB, for C classes, with E the exp bound, E_ln the ln bound:
// - `z − m` is exact (no saturation for |z| < 16384), each `d_j = exp(z_j − m)` is within E, and
//   their sum `S ≥ 1` (the maximum contributes exp(0) = 1 exactly) is exact in the accumulator,
//   so `|S − S*| ≤ C·E`;
// - `inv = recip(S)`: `½ + |1/S − 1/S*| ≤ ½ + C·E` (both sums ≥ 1);
// - `p_j = round(d_j·inv)`: `½ + |Δd|·inv + d*·|Δinv| ≤ ½ + E + ½ + C·E = 1 + (C + 1)·E`; the
//   one-hot subtraction is exact;
// - loss `ln(S) − (z_l − m)`: `E_ln + |ln S − ln S*| ≤ E_ln + C·E` (`S ≥ 1`), subtraction exact.

#[test]
fn i16f16_softmax_ce_loss_and_gradient_within_derived_bound() {
    const C: usize = 5;
    let grad_bound = 1.0 + (C as f64 + 1.0) * EXP_I16F16;
    let loss_bound = LN_I16F16 + C as f64 * EXP_I16F16;
    let mut rng = Lcg(7);
    let (mut worst_g, mut worst_l): (f64, f64) = (0.0, 0.0);
    for n in 0..20_000 {
        let spread = [0.5, 4.0, 20.0][n % 3];
        let z: [I16F16; C] = core::array::from_fn(|_| rng.fixed(-spread, spread));
        let label = n % C;
        let mut dz = [I16F16::ZERO; C];
        let loss = softmax_cross_entropy(&z, label, &mut dz).unwrap();
        let zf = z.map(|v| v.to_f64());
        let m = zf.iter().cloned().fold(f64::MIN, f64::max);
        let s: f64 = zf.iter().map(|v| (v - m).exp()).sum();
        let loss_ref = s.ln() - (zf[label] - m);
        worst_l = worst_l.max(lsb_err(loss, loss_ref));
        for j in 0..C {
            let p = (zf[j] - m).exp() / s - if j == label { 1.0 } else { 0.0 };
            worst_g = worst_g.max(lsb_err(dz[j], p));
        }
    }
    println!("softmax-CE: worst gradient error {worst_g:.4} LSB (bound {grad_bound}), loss {worst_l:.4} LSB (bound {loss_bound})");
    assert!(worst_g <= grad_bound);
    assert!(worst_l <= loss_bound);
}

/// Backward of an activation from its stored output against f64 on the same quantised output:
/// `f'(y)` costs one rounded product (½ LSB, scaled by `|dy|`) and `dy·f'` one more (½ LSB).
fn check_activation_backward<A: Activation<I16F16>>(act: A, deriv: fn(f64) -> f64) {
    let mut rng = Lcg(3);
    for _ in 0..2000 {
        let x = [rng.fixed(-6.0, 6.0)];
        let dy = [rng.fixed(-2.0, 2.0)];
        let mut y = [I16F16::ZERO];
        act.forward(&x, &mut y);
        let mut dx = [I16F16::ZERO];
        act.backward(&y, &dy, &mut dx);
        let r = dy[0].to_f64() * deriv(y[0].to_f64());
        let bound = 0.5 * dy[0].to_f64().abs() + 0.5;
        assert!(lsb_err(dx[0], r) <= bound, "x = {}", x[0]);
    }
}

#[test]
fn i16f16_tanh_and_sigmoid_backward_within_two_roundings_of_f64() {
    check_activation_backward(Tanh, |y| 1.0 - y * y);
    check_activation_backward(Sigmoid, |y| y * (1.0 - y));
}

// ---------------------------------------------------------------------------------------------
// End to end: a 2-layer classifier trained in I16F16 with Sgd over I16F16.

const IN: usize = 2;
const HID: usize = 8;
const CLS: usize = 3;
const N: usize = IN * HID + HID + HID * CLS + CLS;

/// Three Gaussian-like blobs (uniform noise ±0.8) around points on a circle of radius 2: linearly
/// separable with margin.
fn toy_sample(rng: &mut Lcg, label: usize) -> [I16F16; IN] {
    let angle = label as f64 * 2.0 * core::f64::consts::PI / CLS as f64;
    [
        I16F16::from_f64(2.0 * angle.cos() + rng.uniform(-0.8, 0.8)),
        I16F16::from_f64(2.0 * angle.sin() + rng.uniform(-0.8, 0.8)),
    ]
}

/// Forward pass: returns the hidden activations and the logits.
fn forward(params: &[I16F16; N], x: &[I16F16; IN]) -> ([I16F16; HID], [I16F16; CLS]) {
    let (w1, b1, rest) = dense::split::<I16F16, IN, HID>(params).unwrap();
    let (w2, b2, _) = dense::split::<I16F16, HID, CLS>(rest).unwrap();
    let mut h = [I16F16::ZERO; HID];
    dense::forward(w1, b1, x, &mut h);
    Tanh.forward_in_place(&mut h);
    let mut z = [I16F16::ZERO; CLS];
    dense::forward(w2, b2, &h, &mut z);
    (h, z)
}

fn accuracy(params: &[I16F16; N], rng: &mut Lcg, samples: usize) -> f64 {
    let mut correct = 0;
    for n in 0..samples {
        let label = n % CLS;
        let x = toy_sample(rng, label);
        let (_, z) = forward(params, &x);
        correct += usize::from(edgetune::nn::network::argmax(&z) == label);
    }
    correct as f64 / samples as f64
}

#[test]
fn i16f16_two_layer_classifier_trains_with_sgd_to_98_percent() {
    let mut rng = Lcg(42);
    let mut params: [I16F16; N] = core::array::from_fn(|_| rng.fixed(-0.5, 0.5));
    let mut opt = Sgd::<I16F16, N>::new(SgdConfig::new(0.05)).unwrap();
    let before = accuracy(&params, &mut Lcg(999), 300);
    let mut first_loss = 0.0;
    let mut last_loss = 0.0;
    const BATCH: usize = 6;
    for epoch in 0..60 {
        let mut epoch_loss = 0.0;
        for _ in 0..10 {
            let mut grads = [I16F16::ZERO; N];
            for k in 0..BATCH {
                let label = k % CLS;
                let x = toy_sample(&mut rng, label);
                let (h, z) = forward(&params, &x);
                let mut dz = [I16F16::ZERO; CLS];
                epoch_loss += softmax_cross_entropy(&z, label, &mut dz).unwrap().to_f64();
                let (w1, _, rest) = dense::split::<I16F16, IN, HID>(&params).unwrap();
                let (w2, _, _) = dense::split::<I16F16, HID, CLS>(rest).unwrap();
                let (gw1, gb1, grest) = dense::split_mut::<I16F16, IN, HID>(&mut grads).unwrap();
                let (gw2, gb2, _) = dense::split_mut::<I16F16, HID, CLS>(grest).unwrap();
                let mut dh = [I16F16::ZERO; HID];
                dense::backward(w2, &h, &dz, Some((gw2, gb2)), Some(&mut dh));
                Tanh.backward_in_place(&h, &mut dh);
                dense::backward(w1, &x, &dh, Some((gw1, gb1)), None);
            }
            opt.step(&mut params, &grads).unwrap();
        }
        if epoch == 0 {
            first_loss = epoch_loss / (10 * BATCH) as f64;
        }
        last_loss = epoch_loss / (10 * BATCH) as f64;
    }
    let after = accuracy(&params, &mut Lcg(999), 300);
    println!("accuracy {before:.3} -> {after:.3}, mean loss {first_loss:.4} -> {last_loss:.4}");
    assert!(after >= 0.98, "accuracy {after}");
    assert!(
        last_loss < 0.25 * first_loss,
        "loss {first_loss} -> {last_loss}"
    );
}
