//! I4F12 (16-bit storage, `edgetune::num::fixed16`) as a `Scalar`: conversions, saturation, the
//! transcendental functions on **every** input, the dense layer and the softmax cross-entropy
//! against `f64` on the quantised inputs, and `cnn!` networks with every layer kind against the
//! independent f64 reference (`edgetune::reference`).

mod common;

use common::Rng;
use edgetune::nn::network::Network;
use edgetune::nn::{dense, softmax_cross_entropy, Activation, Scalar, Sigmoid, Tanh};
use edgetune::num::fixed::I4F12;
use edgetune::num::Num;
use edgetune::{Error, ValueFault};

/// 1 LSB of I4F12.
const LSB: f64 = 1.0 / 4096.0;

// Worst errors in LSB over every one of the 65 536 inputs (the module docs' table), measured by
// the sweeps below (exp 0.499994, ln 0.499983, recip 0.499973, tanh 0.500001, sigmoid 0.500000)
// and rounded up in the fourth decimal. The approximations are below 2^-29 absolute, i.e.
// 2^-17 LSB, beyond the final ½-LSB rounding, so no bound can exceed 0.5 + 2^-17.
const EXP_BOUND: f64 = 0.5;
const LN_BOUND: f64 = 0.5;
const RECIP_BOUND: f64 = 0.5;
const TANH_BOUND: f64 = 0.5001;
const SIGMOID_BOUND: f64 = 0.5001;

/// The largest `|f(x) − reference(x)|` in LSB over every raw input in `lo..=hi` for which the
/// reference lies inside the format (beyond it `f` must saturate, checked separately).
fn sweep(
    lo: i16,
    hi: i16,
    f: impl Fn(I4F12) -> I4F12,
    reference: impl Fn(f64) -> f64,
) -> (f64, f64) {
    let mut worst = (0.0f64, 0.0f64);
    for raw in lo..=hi {
        let x = I4F12::from_bits(raw);
        let r = reference(x.to_f64());
        let y = f(x);
        if r >= 8.0 {
            assert_eq!(y, I4F12::MAX, "saturates above at x = {}", x.to_f64());
            continue;
        }
        if r < -8.0 {
            assert_eq!(y, I4F12::MIN, "saturates below at x = {}", x.to_f64());
            continue;
        }
        let err = (y.to_f64() - r).abs() / LSB;
        if err > worst.0 || err.is_nan() {
            worst = (err, x.to_f64());
        }
    }
    worst
}

fn assert_bound(name: &str, (err, at): (f64, f64), bound: f64) {
    println!("I4F12 {name}: worst error {err:.6} LSB at x = {at} (bound {bound})");
    assert!(
        err <= bound,
        "{name}: {err} LSB at x = {at} exceeds {bound}"
    );
}

#[test]
fn exp_within_bound_for_every_input() {
    assert_bound(
        "exp",
        sweep(i16::MIN, i16::MAX, Scalar::exp, libm::exp),
        EXP_BOUND,
    );
}

#[test]
fn ln_within_bound_for_every_positive_input_and_min_below() {
    assert_bound("ln", sweep(1, i16::MAX, Scalar::ln, libm::log), LN_BOUND);
    for raw in [i16::MIN, -1, 0] {
        assert_eq!(Scalar::ln(I4F12::from_bits(raw)), I4F12::MIN);
    }
}

#[test]
fn recip_is_exactly_rounded_for_every_nonzero_input() {
    let worst = sweep(i16::MIN, -1, Scalar::recip, |x| 1.0 / x);
    assert_bound("recip (negative)", worst, RECIP_BOUND);
    assert_bound(
        "recip",
        sweep(1, i16::MAX, Scalar::recip, |x| 1.0 / x),
        RECIP_BOUND,
    );
    assert_eq!(Scalar::recip(I4F12::ZERO), I4F12::MAX);
}

#[test]
fn tanh_and_sigmoid_within_bound_for_every_input() {
    assert_bound(
        "tanh",
        sweep(i16::MIN, i16::MAX, Scalar::tanh, libm::tanh),
        TANH_BOUND,
    );
    let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
    assert_bound(
        "sigmoid",
        sweep(i16::MIN, i16::MAX, Scalar::sigmoid, sigmoid),
        SIGMOID_BOUND,
    );
}

#[test]
fn conversions_round_to_nearest_refuse_or_saturate_out_of_range() {
    assert_eq!(I4F12::try_from_f64(1.0), Ok(I4F12::ONE));
    // Ties away from zero: ½ LSB rounds to 1 LSB.
    assert_eq!(I4F12::try_from_f64(0.5 * LSB).unwrap().to_bits(), 1);
    assert_eq!(I4F12::try_from_f64(-0.5 * LSB).unwrap().to_bits(), -1);
    assert_eq!(I4F12::try_from_f64(-8.0), Ok(I4F12::MIN));
    assert_eq!(I4F12::try_from_f64(8.0 - LSB), Ok(I4F12::MAX));
    let range = Err(Error::NotRepresentable {
        fault: ValueFault::OutOfRange,
    });
    let nonfinite = Err(Error::NotRepresentable {
        fault: ValueFault::NotFinite,
    });
    assert_eq!(I4F12::try_from_f64(8.0), range);
    assert_eq!(I4F12::try_from_f64(-8.0 - LSB / 4.0), range);
    assert_eq!(I4F12::try_from_f64(1e300), range);
    assert_eq!(I4F12::try_from_f64(f64::NAN), nonfinite);
    assert_eq!(I4F12::try_from_f64(f64::NEG_INFINITY), nonfinite);
    assert_eq!(I4F12::saturating_from_f64(100.0), I4F12::MAX);
    assert_eq!(I4F12::saturating_from_f64(-100.0), I4F12::MIN);
    assert_eq!(I4F12::saturating_from_f64(f64::NAN), I4F12::MAX);
    // Every raw value round-trips through f64 exactly.
    for raw in i16::MIN..=i16::MAX {
        let x = I4F12::from_bits(raw);
        assert_eq!(I4F12::try_from_f64(x.to_f64()), Ok(x));
    }
    // What saturates is exactly what a step refuses.
    assert!(!I4F12::saturating_from_f64(f64::NAN).is_usable_gradient());
    assert!(!I4F12::MIN.is_usable_gradient());
    assert!(I4F12::from_bits(i16::MIN + 1).is_usable_gradient());
    assert!(I4F12::from_bits(i16::MAX - 1).is_usable_gradient());
}

#[test]
fn arithmetic_saturates_and_mul_rounds_to_nearest() {
    let big = I4F12::from_num(7.5);
    assert_eq!(big.add(big), I4F12::MAX);
    assert_eq!(big.mul(big), I4F12::MAX);
    assert_eq!(I4F12::MIN.sub(big), I4F12::MIN);
    assert_eq!(I4F12::MIN.mul(I4F12::MIN), I4F12::MAX);
    assert_eq!(I4F12::MIN.mul(I4F12::MAX), I4F12::MIN);
    // Every product of a sample of values is within ½ LSB of the exact one (ties up).
    let mut rng = Rng(5);
    for _ in 0..200_000 {
        let a = I4F12::from_f64(rng.uniform(2.8));
        let b = I4F12::from_f64(rng.uniform(2.8));
        let exact = a.to_f64() * b.to_f64();
        let e = (a.mul(b).to_f64() - exact) / LSB;
        // Ties round up (toward +∞): the error lies in (-½, ½] LSB.
        assert!(e > -0.5 && e <= 0.5, "{a} · {b}: {e} LSB");
    }
    // The accumulator is exact: 2^20 products of MAX·MAX and back.
    let mut acc = I4F12::ZERO.widen();
    for _ in 0..1 << 20 {
        acc = <I4F12 as Scalar>::mul_acc(acc, I4F12::MAX, I4F12::MAX);
    }
    assert_eq!(acc, (1i64 << 20) * 32767 * 32767);
    assert_eq!(<I4F12 as Scalar>::narrow(acc), I4F12::MAX);
    assert_eq!(<I4F12 as Scalar>::narrow(-acc), I4F12::MIN);
    assert_eq!(
        <I4F12 as Scalar>::narrow_div(acc, 1 << 20),
        Scalar::mul(I4F12::MAX, I4F12::MAX)
    );
}

fn lsb_err(a: I4F12, reference: f64) -> f64 {
    (a.to_f64() - reference).abs() / LSB
}

#[test]
fn dense_forward_backward_within_half_lsb_of_f64_on_quantised_inputs() {
    const I: usize = 13;
    const O: usize = 7;
    let mut rng = Rng(1);
    let q = |rng: &mut Rng, a: f64| I4F12::from_f64(rng.uniform(a));
    for _ in 0..500 {
        let w: [[I4F12; I]; O] =
            core::array::from_fn(|_| core::array::from_fn(|_| q(&mut rng, 0.6)));
        let b: [I4F12; O] = core::array::from_fn(|_| q(&mut rng, 1.0));
        let x: [I4F12; I] = core::array::from_fn(|_| q(&mut rng, 1.0));
        let dy: [I4F12; O] = core::array::from_fn(|_| q(&mut rng, 0.5));
        let mut y = [I4F12::ZERO; O];
        dense::forward(&w, &b, &x, &mut y);
        for o in 0..O {
            let r = b[o].to_f64()
                + (0..I)
                    .map(|i| w[o][i].to_f64() * x[i].to_f64())
                    .sum::<f64>();
            // One rounding of the exact sum: ½ LSB.
            assert!(lsb_err(y[o], r) <= 0.5, "y[{o}]");
        }
        let mut dw = [[I4F12::ZERO; I]; O];
        let mut db = [I4F12::ZERO; O];
        let mut dx = [I4F12::ZERO; I];
        dense::backward(&w, &x, &dy, Some((&mut dw, &mut db)), Some(&mut dx));
        for i in 0..I {
            let r: f64 = (0..O).map(|o| w[o][i].to_f64() * dy[o].to_f64()).sum();
            assert!(lsb_err(dx[i], r) <= 0.5, "dx[{i}]");
        }
        for o in 0..O {
            assert_eq!(db[o], dy[o]);
            for i in 0..I {
                assert!(lsb_err(dw[o][i], dy[o].to_f64() * x[i].to_f64()) <= 0.5);
            }
        }
    }
}

/// Derived as for I16F16 (`tests/nn_fixed.rs`): gradient `≤ 1 + (C + 1)·E`, loss
/// `≤ E_ln + C·E` LSB, `E`, `E_ln` the exhaustive `exp`, `ln` bounds. A loss beyond the format
/// (a wrong class leading by more than about `8 − ln C`) saturates at `MAX`; counted apart.
#[test]
fn softmax_ce_loss_and_gradient_within_derived_bound() {
    const C: usize = 5;
    let grad_bound = 1.0 + (C as f64 + 1.0) * EXP_BOUND;
    let loss_bound = LN_BOUND + C as f64 * EXP_BOUND;
    let mut rng = Rng(7);
    let (mut worst_g, mut worst_l): (f64, f64) = (0.0, 0.0);
    let mut saturated = 0;
    for n in 0..50_000 {
        let spread = [0.5, 2.0, 3.9][n % 3];
        let z: [I4F12; C] = core::array::from_fn(|_| I4F12::from_f64(rng.uniform(spread)));
        let label = n % C;
        let mut dz = [I4F12::ZERO; C];
        let loss = softmax_cross_entropy(&z, label, &mut dz).unwrap();
        let zf = z.map(|v| v.to_f64());
        let m = zf.iter().cloned().fold(f64::MIN, f64::max);
        let s: f64 = zf.iter().map(|v| (v - m).exp()).sum();
        let loss_ref = s.ln() - (zf[label] - m);
        if loss_ref > 8.0 - LSB - loss_bound * LSB {
            // Beyond the range (or within the bound of its edge): saturated at MAX, not wrapped.
            assert!(
                loss.to_f64() >= 8.0 - LSB - 2.0 * loss_bound * LSB,
                "loss {loss} for {loss_ref}"
            );
            saturated += 1;
            continue;
        }
        worst_l = worst_l.max(lsb_err(loss, loss_ref));
        for j in 0..C {
            let p = (zf[j] - m).exp() / s - if j == label { 1.0 } else { 0.0 };
            worst_g = worst_g.max(lsb_err(dz[j], p));
        }
    }
    println!("I4F12 softmax-CE: worst gradient error {worst_g:.4} LSB (bound {grad_bound:.4}), loss {worst_l:.4} LSB (bound {loss_bound:.4}); {saturated} losses beyond the range saturated");
    assert!(worst_g <= grad_bound);
    assert!(worst_l <= loss_bound);
}

/// Activation backward from the stored output: `f'(y)` one rounded product (½ LSB, scaled by
/// `|dy|`) and `dy·f'` one more (½ LSB).
#[test]
fn tanh_and_sigmoid_backward_within_two_roundings_of_f64() {
    fn check<A: Activation<I4F12>>(act: A, deriv: fn(f64) -> f64) {
        let mut rng = Rng(3);
        for _ in 0..20_000 {
            let x = [I4F12::from_f64(rng.uniform(6.0))];
            let dy = [I4F12::from_f64(rng.uniform(2.0))];
            let mut y = [I4F12::ZERO];
            act.forward(&x, &mut y);
            let mut dx = [I4F12::ZERO];
            act.backward(&y, &dy, &mut dx);
            let r = dy[0].to_f64() * deriv(y[0].to_f64());
            assert!(lsb_err(dx[0], r) <= 0.5 * dy[0].to_f64().abs() + 0.5);
        }
    }
    check(Tanh, |y| 1.0 - y * y);
    check(Sigmoid, |y| y * (1.0 - y));
}

edgetune::cnn! {
    /// Every 1-D layer kind: strided SAME conv, batch norm, max pool, grouped conv, average
    /// pool, pointwise conv, global average pool, dense (as `tests/cnn_network.rs`).
    struct Har {
        input [12, 3];
        conv1d(3, 4, 3, stride = 2, padding = same), tanh;
        batch_norm(4), relu;
        max_pool1d(2, stride = 1);
        conv1d(4, 8, 3, padding = 1, groups = 4), relu6;
        avg_pool1d(2);
        conv1d(8, 5, 1), sigmoid;
        global_avg_pool;
        dense(5, 3);
        loss softmax_cross_entropy;
    }
}

edgetune::cnn! {
    /// Every 2-D layer kind and a depthwise conv, a regression head with MSE.
    struct Map {
        input [6, 5, 2];
        conv2d(2, 4, (3, 2), stride = (2, 1), padding = (1, 0)), leaky_relu(0.1);
        max_pool2d(2, stride = 1);
        conv2d(4, 4, 3, padding = same, groups = 4), relu;
        avg_pool2d(2, stride = 1, padding = 1);
        flatten;
        dense(48, 4), tanh;
        dense(4, 2);
        loss mse;
    }
}

/// Logits, loss and every parameter gradient of a network in `S` against the same network in
/// `f64`: the largest absolute differences `(logits and loss, gradients)`.
fn network_error<S: Scalar, N: Network<S>, R: Network<f64, Target = N::Target>>(
    mut net: N,
    mut reference: R,
    all: &[f64],
    x: &[f64],
    t: &N::Target,
) -> (f64, f64) {
    reference.import(all).unwrap();
    let p: Vec<S> = all.iter().map(|&v| S::from_f64(v)).collect();
    net.import(&p).unwrap();
    let xs: Vec<S> = x.iter().map(|&v| S::from_f64(v)).collect();
    let xq: Vec<f64> = xs.iter().map(|v| v.to_f64()).collect();
    reference.zero_grad();
    let lr = reference.accumulate(&xq, t).unwrap();
    net.zero_grad();
    let ls = net.accumulate(&xs, t).unwrap();
    let mut zr = vec![0.0; R::OUTPUTS];
    reference.forward_into(&xq, &mut zr).unwrap();
    let mut zs = vec![S::ZERO; N::OUTPUTS];
    net.forward_into(&xs, &mut zs).unwrap();
    let mut out = (ls.to_f64() - lr).abs();
    for (a, b) in zs.iter().zip(&zr) {
        out = out.max((a.to_f64() - b).abs());
    }
    let grad = net
        .grads()
        .iter()
        .zip(reference.grads())
        .map(|(a, b)| (a.to_f64() - b).abs())
        .fold(0.0, f64::max);
    (out, grad)
}

/// The `cnn!` network in f64 is checked against the independent reference (`tests/cnn_network.rs`,
/// 1e-12), so it stands for the reference here, on the same quantised parameters and inputs.
/// Bounds: every narrowing rounds once (½ LSB) and each layer's error passes to the next scaled
/// by its weights (here `|w| ≤ 0.5`, fan-in ≤ 48), through 8 layers: measured in LSB and bounded
/// by 16 LSB for logits and loss and 16 LSB for gradients (printed with `--nocapture`).
#[test]
fn every_layer_kind_forward_and_backward_within_bound_of_f64() {
    let mut rng = Rng(21);
    let (mut worst_out, mut worst_grad) = (0.0f64, 0.0f64);
    for case in 0..20 {
        let mut all = rng.vec(Har::<f64>::PARAMS, 0.5);
        // Batch-norm scale near 1 (its weights follow conv1's 4·3·3 + 4 parameters).
        for v in &mut all[40..44] {
            *v += 1.0;
        }
        let all: Vec<f64> = all.iter().map(|&v| I4F12::from_f64(v).to_f64()).collect();
        let x = rng.vec(36, 2.0);
        let (o, g) = network_error(
            Har::<I4F12>::zeroed(),
            Har::<f64>::zeroed(),
            &all,
            &x,
            &(case % 3),
        );
        worst_out = worst_out.max(o / LSB);
        worst_grad = worst_grad.max(g / LSB);
        let all: Vec<f64> = rng
            .vec(Map::<f64>::PARAMS, 0.5)
            .iter()
            .map(|&v| I4F12::from_f64(v).to_f64())
            .collect();
        let x = rng.vec(60, 2.0);
        let t = rng.array::<2>(1.0).map(|v| I4F12::from_f64(v).to_f64());
        let ti = t.map(I4F12::from_f64);
        let mut reference = Map::<f64>::zeroed();
        reference.import(&all).unwrap();
        let mut net = Map::<I4F12>::zeroed();
        let p: Vec<I4F12> = all.iter().map(|&v| I4F12::from_f64(v)).collect();
        net.import(&p).unwrap();
        let xs: Vec<I4F12> = x.iter().map(|&v| I4F12::from_f64(v)).collect();
        let xq: Vec<f64> = xs.iter().map(|v| v.to_f64()).collect();
        reference.zero_grad();
        let lr = Network::accumulate(&mut reference, &xq, &t).unwrap();
        net.zero_grad();
        let ls = Network::accumulate(&mut net, &xs, &ti).unwrap();
        worst_out = worst_out.max((ls.to_f64() - lr).abs() / LSB);
        for (a, b) in net.grads().iter().zip(reference.grads()) {
            worst_grad = worst_grad.max((a.to_f64() - b).abs() / LSB);
        }
    }
    println!("I4F12 networks vs f64: logits/loss worst {worst_out:.2} LSB, gradients worst {worst_grad:.2} LSB");
    assert!(worst_out <= 16.0, "logits/loss {worst_out} LSB");
    assert!(worst_grad <= 16.0, "gradients {worst_grad} LSB");
}

/// Initialisation draws in `f64` and converts once: the same seed gives the f64 network's values
/// rounded to I4F12 (within ½ LSB), and batch-norm scales start at exactly 1.
#[test]
fn init_is_the_f64_initialisation_rounded_to_i4f12() {
    use edgetune::nn::Init;
    for init in [Init::TorchDefault, Init::XavierUniform { gain: 1.0 }] {
        let mut a = Har::<f64>::zeroed();
        let mut b = Har::<I4F12>::zeroed();
        a.init(init, 7).unwrap();
        b.init(init, 7).unwrap();
        let mut pa = vec![0.0; Har::<f64>::PARAMS];
        let mut pb = vec![I4F12::ZERO; Har::<f64>::PARAMS];
        a.export(&mut pa).unwrap();
        b.export(&mut pb).unwrap();
        for (x, y) in pa.iter().zip(&pb) {
            assert!((x - y.to_f64()).abs() <= 0.5 * LSB, "{x} vs {y}");
            assert_eq!(*y, I4F12::from_f64(*x));
        }
    }
}
