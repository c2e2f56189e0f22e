//! Seeded initialisation: each rule's sample mean and variance against its formula, and the same
//! draws in f32, f64 and I16F16.

use edgetune::nn::init::{fill, Distribution, FanMode, Init, Nonlinearity};
use edgetune::nn::network::{LayerSpec, Mode};
use edgetune::nn::Network;
use edgetune::num::Scalar;
use fixed::types::I16F16;

const LAYER: LayerSpec = LayerSpec {
    inputs: 100,
    outputs: 300,
    mode: Mode::Train,
};

/// Sample mean and variance of `v`.
fn moments(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    (
        mean,
        v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0),
    )
}

#[test]
fn each_rule_has_the_mean_and_variance_of_its_formula() {
    let (fi, fo) = (100.0f64, 300.0f64);
    let relu = Nonlinearity::Relu.gain();
    let leaky = Nonlinearity::LeakyRelu(0.2).gain();
    assert_eq!(relu, 2f64.sqrt());
    assert!((leaky - (2.0 / 1.04f64).sqrt()).abs() < 1e-15);
    // (rule, weight variance by torch's formula, weight kurtosis: uniform 9/5, normal 3)
    let cases = [
        (Init::TorchDefault, 1.0 / (3.0 * fi), 1.8),
        (
            Init::XavierUniform { gain: 2.0 },
            4.0 * 2.0 / (fi + fo),
            1.8,
        ),
        (
            Init::XavierNormal { gain: 0.5 },
            0.25 * 2.0 / (fi + fo),
            3.0,
        ),
        (
            Init::KaimingUniform {
                mode: FanMode::FanIn,
                nonlinearity: Nonlinearity::Relu,
            },
            2.0 / fi,
            1.8,
        ),
        (
            Init::KaimingNormal {
                mode: FanMode::FanOut,
                nonlinearity: Nonlinearity::LeakyRelu(0.2),
            },
            leaky * leaky / fo,
            3.0,
        ),
        (
            Init::KaimingNormal {
                mode: FanMode::FanIn,
                nonlinearity: Nonlinearity::Tanh,
            },
            25.0 / 9.0 / fi,
            3.0,
        ),
    ];
    for (seed, (init, var, kurt)) in cases.into_iter().enumerate() {
        let mut all = vec![0.0f64; LAYER.params()];
        fill(&[LAYER], init, seed as u64, &mut all).unwrap();
        let (w, b) = all.split_at(LAYER.weights());
        let n = w.len() as f64; // 30 000 draws
        let (mean, s2) = moments(w);
        // The sample mean has standard deviation σ/√n; the sample variance σ²·√((κ − 1)/n)
        // (κ the kurtosis, to first order in 1/n). Six standard deviations: a correct sampler
        // fails with probability about 2e-9 per check. The variance bound is 6·√(2/30 000) ≈ 4.9 %
        // (normal) or 3.5 % (uniform) relative, so a wrong formula (a gain or a √3 off) fails.
        assert!(
            mean.abs() <= 6.0 * (var / n).sqrt(),
            "{init:?}: mean {mean}"
        );
        assert!(
            (s2 - var).abs() <= 6.0 * var * ((kurt - 1.0) / n).sqrt(),
            "{init:?}: var {s2} vs {var}"
        );
        // Uniform draws stay inside their bound.
        if let Ok((Distribution::Uniform { bound }, _)) = init.distributions(&LAYER.shape()) {
            assert!((bound * bound / 3.0 - var).abs() < 1e-15);
            assert!(w.iter().all(|x| x.abs() <= bound));
        }
        // Biases: torch's default draws U(±1/√fan_in); the others are zero.
        if init == Init::TorchDefault {
            assert!(b.iter().all(|x| x.abs() <= 0.1) && b.iter().any(|x| *x != 0.0));
        } else {
            assert!(b.iter().all(|x| *x == 0.0));
        }
    }
}

edgetune::mlp! {
    struct Net {
        dense 6 -> 5, relu, frozen;
        dense 5 -> 4, relu, bias;
        dense 4 -> 3;
        loss softmax_cross_entropy;
    }
}

#[test]
fn same_seed_same_draws_in_every_number_type_and_with_frozen_in_flash() {
    let mut all = [0.0f64; Net::<f64>::PARAMS];
    fill(Net::<f64>::LAYERS, Init::TorchDefault, 11, &mut all).unwrap();
    let (mut a, mut b, mut c) = (
        Net::<f32>::zeroed(),
        Net::<f64>::zeroed(),
        Net::<I16F16>::zeroed(),
    );
    a.init(Init::TorchDefault, 11).unwrap();
    b.init(Init::TorchDefault, 11).unwrap();
    c.init(Init::TorchDefault, 11).unwrap();
    let mut ea = [0.0f32; Net::<f32>::PARAMS];
    let mut eb = [0.0f64; Net::<f64>::PARAMS];
    let mut ec = [I16F16::ZERO; Net::<I16F16>::PARAMS];
    a.export(&mut ea).unwrap();
    b.export(&mut eb).unwrap();
    c.export(&mut ec).unwrap();
    assert_eq!(eb, all);
    for i in 0..all.len() {
        assert_eq!(ea[i], all[i] as f32);
        assert_eq!(ec[i], <I16F16 as Scalar>::from_f64(all[i]));
    }
    // Frozen part in flash: only the trainable arena is written, with the same values.
    static FROZEN: [f32; Net::<f32>::FROZEN] = [0.25; Net::<f32>::FROZEN];
    let mut d = Net::<f32, &[f32; Net::<f32>::FROZEN]>::with_frozen(&FROZEN);
    d.init(Init::TorchDefault, 11).unwrap();
    assert_eq!(d.trainable(), a.trainable());
    assert!(d.frozen().iter().all(|x| *x == 0.25));
    // A different seed gives different weights.
    b.init(Init::TorchDefault, 12).unwrap();
    b.export(&mut eb).unwrap();
    assert_ne!(eb, all);
    // A bad gain is refused with nothing written.
    let before = *b.trainable();
    assert!(b.init(Init::XavierUniform { gain: f64::NAN }, 1).is_err());
    assert_eq!(b.trainable(), &before);
}
