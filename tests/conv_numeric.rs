//! Number-type agreement: every convolution-family layer in `f32`, I16F16 and I8F24 against the
//! same layer in `f64` **on the same quantised operands** (random weights, biases, inputs and
//! `dy`, each rounded to the type under test and used exactly in `f64`), within the bounds derived
//! in `tests/conv_support/mod.rs` (`compare`): fixed point `½ LSB` per rounding (exact 64-bit
//! accumulation, one narrow per value), `f32` `γ_n·Σ|terms|`. Also the batch-norm helpers'
//! refusals and fixed-point saturation.

mod common;
mod conv_support;

use common::Rng;
use conv_support::{catalogue, compare, needs_distinct, quantise, run, sizes, Kind, Layer};
use edgetune::nn::{bn_fold, bn_stats, conv2d, Conv2dShape, NnError};
use edgetune::Error;
use fixed::types::{I16F16, I8F24};

fn agree<S: Kind>(seed: u64) {
    let mut worst_all: f64 = 0.0;
    for (k, (name, l)) in catalogue().into_iter().enumerate() {
        let mut rng = Rng(seed + k as u64);
        let (nw, nb, nx, ny) = sizes(&l);
        let w = quantise::<S>(&rng.vec(nw, 1.0));
        let b = quantise::<S>(&rng.vec(nb, 1.0));
        let x = if needs_distinct(&l) {
            // Distinct multiples of 1/64 (exact in every type): no ties.
            let mut v: Vec<f64> = (0..nx)
                .map(|i| (i as f64 - nx as f64 / 2.0) / 64.0)
                .collect();
            for i in (1..nx).rev() {
                v.swap(i, rng.range(0, i));
            }
            v
        } else {
            quantise::<S>(&rng.vec(nx, 2.0))
        };
        let dy = quantise::<S>(&rng.vec(ny, 1.0));
        let want = run::<f64>(&l, &w, &b, &x, &dy);
        let worst = compare::<S>(name, &l, &w, &b, &x, &dy, &want);
        println!(
            "{:<6} vs f64 {name}: worst error / bound {worst:.3}",
            S::NAME
        );
        worst_all = worst_all.max(worst);
    }
    let mut rng = Rng(seed);
    let x = quantise::<S>(&(0..300).map(|_| rng.uniform(9.0) + 3.0).collect::<Vec<_>>());
    let dy = quantise::<S>(&rng.vec(300, 1.0));
    let l = Layer::Relu6 { len: 300 };
    let want = run::<f64>(&l, &[], &[], &x, &dy);
    worst_all = worst_all.max(compare::<S>("relu6", &l, &[], &[], &x, &dy, &want));
    println!(
        "{:<6} vs f64 over all layers: worst error / bound {worst_all:.3}",
        S::NAME
    );
}

#[test]
fn f32_agrees_with_f64_within_the_summation_bound() {
    agree::<f32>(1000);
}

#[test]
fn i16f16_agrees_with_f64_within_half_an_lsb_per_rounding() {
    agree::<I16F16>(2000);
}

#[test]
fn i8f24_agrees_with_f64_within_half_an_lsb_per_rounding() {
    agree::<I8F24>(3000);
}

#[test]
fn fixed_point_conv_outputs_saturate_instead_of_wrapping() {
    // 9 taps of 100·1.25 = 1125 each in I8F24 (range ±128): saturates at MAX, and at MIN when
    // negated; I16F16 holds the exact value.
    let s = Conv2dShape::new(3, 3, 1, 1, 3, 3);
    let w = vec![I8F24::from_num(1.25); 9];
    let x = vec![I8F24::from_num(100); 9];
    let mut y = [I8F24::ZERO];
    conv2d::forward(&s, &w, &[I8F24::ZERO], &x, &mut y).unwrap();
    assert_eq!(y[0], I8F24::MAX);
    let neg: Vec<I8F24> = w.iter().map(|v| -*v).collect();
    conv2d::forward(&s, &neg, &[I8F24::ZERO], &x, &mut y).unwrap();
    assert_eq!(y[0], I8F24::MIN);
    let w16 = vec![I16F16::from_num(1.25); 9];
    let x16 = vec![I16F16::from_num(100); 9];
    let mut y16 = [I16F16::ZERO];
    conv2d::forward(&s, &w16, &[I16F16::ZERO], &x16, &mut y16).unwrap();
    assert_eq!(y16[0], I16F16::from_num(1125));
}

#[test]
fn bn_helpers_refuse_bad_input_and_write_nothing() {
    let (g, be, m) = ([1.0f32, 2.0], [0.0f32, 1.0], [0.5f32, -0.5]);
    let bn = |var: &'static [f32; 2], eps| bn_fold::BatchNorm {
        gamma: &g,
        beta: &be,
        mean: &m,
        var,
        eps,
    };
    let mut w = [1.0f32; 6];
    let mut b = [0.0f32; 2];
    // var + eps must be positive.
    assert!(matches!(
        bn_fold::fold_into_conv(&bn(&[1.0, -1.0], 0.0), &mut w, &mut b),
        Err(Error::InvalidHyperparameter { name: "eps", .. })
    ));
    // w is not a whole number of channel blocks.
    assert!(matches!(
        bn_fold::fold_into_conv(&bn(&[1.0, 1.0], 1e-5), &mut w[..5], &mut b),
        Err(Error::LengthMismatch { .. })
    ));
    assert_eq!((w, b), ([1.0; 6], [0.0; 2]), "nothing written");
    // A result beyond I8F24's range: nothing written either (pass 1 checks everything).
    let (g8, be8, m8, v8) = (
        [I8F24::from_num(1), I8F24::from_num(100)],
        [I8F24::ZERO; 2],
        [I8F24::ZERO; 2],
        [I8F24::from_num(1), I8F24::from_num(0.01)],
    );
    let bn8 = bn_fold::BatchNorm {
        gamma: &g8,
        beta: &be8,
        mean: &m8,
        var: &v8,
        eps: 0.0,
    };
    let mut w8 = [I8F24::from_num(1); 4];
    let mut b8 = [I8F24::ZERO; 2];
    assert!(matches!(
        bn_fold::fold_into_conv(&bn8, &mut w8, &mut b8),
        Err(Error::NotRepresentable { .. })
    ));
    assert_eq!(w8, [I8F24::from_num(1); 4]);
    // Folding is exact where it can be: scale 1/sqrt(1) = 1 and 2/sqrt(4) = 1.
    let mut wf = [1.0f64, 2.0, 3.0, 4.0];
    let mut bf = [1.0f64, 1.0];
    let bnf = bn_fold::BatchNorm {
        gamma: &[1.0, 2.0],
        beta: &[0.0, 1.0],
        mean: &[1.0, 0.0],
        var: &[1.0, 4.0],
        eps: 0.0,
    };
    bn_fold::fold_into_conv(&bnf, &mut wf, &mut bf).unwrap();
    assert_eq!((wf, bf), ([1.0, 2.0, 3.0, 4.0], [0.0, 2.0]));

    // Statistics: a single position has no unbiased variance; a ragged batch is refused; the
    // counter does not wrap.
    let (mut rm, mut rv) = ([0.0f32; 2], [1.0f32; 2]);
    let mut tracked = 0;
    let mode = bn_stats::Momentum::Cumulative;
    assert_eq!(
        bn_stats::update(&[1.0, 2.0], mode, &mut tracked, &mut rm, &mut rv),
        Err(Error::Nn(NnError::InvalidShape))
    );
    assert!(matches!(
        bn_stats::update(&[1.0, 2.0, 3.0], mode, &mut tracked, &mut rm, &mut rv),
        Err(Error::LengthMismatch { .. })
    ));
    let mut full = u32::MAX;
    assert_eq!(
        bn_stats::update(&[1.0, 2.0, 3.0, 4.0], mode, &mut full, &mut rm, &mut rv),
        Err(Error::StepCountOverflow)
    );
    assert_eq!(
        (rm, rv, tracked),
        ([0.0; 2], [1.0; 2], 0),
        "nothing written"
    );
    // Cumulative from scratch: the first batch replaces the statistics.
    bn_stats::update(&[1.0, 2.0, 3.0, 6.0], mode, &mut tracked, &mut rm, &mut rv).unwrap();
    assert_eq!((rm, rv, tracked), ([2.0, 4.0], [2.0, 8.0], 1));
}
