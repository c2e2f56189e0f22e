//! A small 2-D CNN on the 8×8 digits, trained and then fine-tuned in every number type against
//! the independent f64 reference (`edgetune::reference::cnn::RefCnn`).
//!
//! Network: conv 3×3 SAME (1→8) + ReLU, max pool 2, depthwise ×2 conv 3×3 SAME (8→16), batch
//! norm + ReLU, average pool 2, flatten, dense 64→10 (7,552 MACs per forward pass).
//!
//! 1. **Pretraining** (every layer trains; Adam, lr 0.01, batches of 16, 6 epochs over 1,000
//!    digits): `cnn!` in f64 follows the reference's parameter trajectory to rounding (different
//!    summation orders only); f32, I16F16 and I8F24 end within a measured margin of the
//!    reference's held-out accuracy.
//! 2. **Fine-tuning** after a sensor change (every pixel `0.4·p + 0.3`: a dimmer, offset
//!    imager), from the pretrained f64 parameters quantised to each type, in two modes: the
//!    head only, and the batch norm only (BN-affine). 100 changed digits train (Adam, lr 0.02, 8
//!    epochs); 697 held-out changed digits score. Every type must recover accuracy the change
//!    took, and end within a measured margin of the reference.

use edgetune::nn::{Init, Network, Scalar};
use edgetune::optim::{Adam, AdamConfig, AdamNum};
use edgetune::reference::cnn::{same_padding, RefCnn, RefLayer};
use edgetune::reference::network::{RefActivation, RefTarget};
use edgetune::reference::{Hyper, Kind};
use edgetune::train::{evaluate, Trainer};
use fixed::types::{I16F16, I8F24};

macro_rules! digits_net {
    ($name:ident, $c1:ident, $c2:ident, $bn:ident, $d:ident) => {
        edgetune::cnn! {
            /// The 2-D digits CNN.
            struct $name {
                input [8, 8, 1];
                conv2d(1, 8, 3, padding = same), relu, $c1;
                max_pool2d(2);
                conv2d(8, 16, 3, padding = same, groups = 8), $c2;
                batch_norm(16), relu, $bn;
                avg_pool2d(2);
                flatten;
                dense(64, 10), $d;
                loss softmax_cross_entropy;
            }
        }
    };
}

digits_net!(Full, train, train, train, train);
digits_net!(Head, frozen, frozen, frozen, train);
digits_net!(Affine, frozen, frozen, train, frozen);

/// The reference network with the same layers and modes (weights, bias trainable per layer).
fn reference(modes: [(bool, bool); 4]) -> RefCnn {
    let same = same_padding(8, 3, 1);
    let same4 = same_padding(4, 3, 1);
    RefCnn::new(
        [8, 8, 1],
        vec![
            (
                RefLayer::conv2d(1, 8, (3, 3), (1, 1), (same.0, same.1, same.0, same.1), 1),
                RefActivation::Relu,
                modes[0].0,
                modes[0].1,
            ),
            (
                RefLayer::max_pool2d((2, 2), (2, 2), (0, 0, 0, 0)),
                RefActivation::None,
                false,
                false,
            ),
            (
                RefLayer::conv2d(
                    8,
                    16,
                    (3, 3),
                    (1, 1),
                    (same4.0, same4.1, same4.0, same4.1),
                    8,
                ),
                RefActivation::None,
                modes[1].0,
                modes[1].1,
            ),
            (
                RefLayer::BatchNorm { channels: 16 },
                RefActivation::Relu,
                modes[2].0,
                modes[2].1,
            ),
            (
                RefLayer::avg_pool2d((2, 2), (2, 2), (0, 0, 0, 0)),
                RefActivation::None,
                false,
                false,
            ),
            (RefLayer::Flatten, RefActivation::None, false, false),
            (
                RefLayer::Dense {
                    inputs: 64,
                    outputs: 10,
                },
                RefActivation::None,
                modes[3].0,
                modes[3].1,
            ),
        ],
    )
    .unwrap()
}

/// The training set and the held-out set of one run.
type Split<'a> = (&'a [Sample], &'a [Sample]);

/// One digit: pixels and label.
type Sample = (Vec<f64>, usize);

struct Data {
    train: Vec<(Vec<f64>, usize)>,
    plain_test: Vec<(Vec<f64>, usize)>,
    tune: Vec<(Vec<f64>, usize)>,
    test: Vec<(Vec<f64>, usize)>,
}

/// The digits: 1,000 to pretrain, then the rest changed by `0.4·p + 0.3`: 100 to fine-tune,
/// 697 to score.
fn data() -> Data {
    let bytes = std::fs::read("tests/data/digits.bin").unwrap();
    let all: Vec<(Vec<f64>, usize)> = edgetune_digits::parse(&bytes)
        .unwrap()
        .iter()
        .map(|s| {
            (
                s.to_f32().iter().map(|&p| f64::from(p)).collect(),
                usize::from(s.label),
            )
        })
        .collect();
    let change = |(x, y): &(Vec<f64>, usize)| (x.iter().map(|p| 0.4 * p + 0.3).collect(), *y);
    Data {
        train: all[..1000].to_vec(),
        plain_test: all[1100..].to_vec(),
        tune: all[1000..1100].iter().map(change).collect(),
        test: all[1100..].iter().map(change).collect(),
    }
}

fn cast<S: Scalar>(set: &[(Vec<f64>, usize)]) -> Vec<(Vec<S>, usize)> {
    set.iter()
        .map(|(x, y)| (x.iter().map(|&v| S::from_f64(v)).collect(), *y))
        .collect()
}

fn accuracy<S: Scalar, N: Network<S, Target = usize>>(net: &N, set: &[(Vec<S>, usize)]) -> f64 {
    evaluate(net, set).unwrap().accuracy.unwrap()
}

/// Trains `net` (starting from `start`, torch order) with Adam for `epochs` over `set` in
/// batches of `batch`; returns the held-out accuracy after and the final parameters in f64.
fn train<S: Scalar + AdamNum, const T: usize, N: Network<S, Target = usize>>(
    mut net: N,
    start: &[f64],
    lr: f64,
    (set, test): Split<'_>,
    epochs: usize,
    batch: usize,
) -> Outcome {
    let all: Vec<S> = start.iter().map(|&v| S::from_f64(v)).collect();
    net.import(&all).unwrap();
    let (set, test) = (cast::<S>(set), cast::<S>(test));
    let before = accuracy(&net, &test);
    let opt = Adam::<S, T>::new(AdamConfig::adam(lr)).unwrap();
    let mut trainer = Trainer::new(opt);
    for _ in 0..epochs {
        for b in set.chunks(batch) {
            trainer.step_batch(&mut net, b).unwrap();
        }
    }
    let mut out = vec![S::ZERO; N::PARAMS];
    net.export(&mut out).unwrap();
    let after = evaluate(&net, &test).unwrap();
    Outcome {
        before,
        after: after.accuracy.unwrap(),
        loss: after.mean_loss,
        params: out.iter().map(|v| v.to_f64()).collect(),
    }
}

/// Held-out accuracy before and after training, mean loss after, final parameters.
struct Outcome {
    before: f64,
    after: f64,
    loss: f64,
    params: Vec<f64>,
}

fn train_reference(
    mut net: RefCnn,
    start: &[f64],
    lr: f64,
    (set, test): Split<'_>,
    epochs: usize,
    batch: usize,
) -> Outcome {
    net.load_flat(start).unwrap();
    let xs: Vec<Vec<f64>> = test.iter().map(|(x, _)| x.clone()).collect();
    let ys: Vec<usize> = test.iter().map(|(_, y)| *y).collect();
    let before = net.accuracy(&xs, &ys).unwrap();
    let mut opt = net.optimizer(
        Kind::Adam,
        Hyper {
            lr,
            ..Hyper::defaults(Kind::Adam)
        },
    );
    for _ in 0..epochs {
        for b in set.chunks(batch) {
            let bx: Vec<Vec<f64>> = b.iter().map(|(x, _)| x.clone()).collect();
            let bt: Vec<RefTarget> = b.iter().map(|(_, y)| RefTarget::Class(*y)).collect();
            net.train_step(&mut opt, &bx, &bt).unwrap();
        }
    }
    let targets: Vec<RefTarget> = ys.iter().map(|&y| RefTarget::Class(y)).collect();
    let (loss, _) = net.batch_loss_and_grads(&xs, &targets).unwrap();
    Outcome {
        before,
        after: net.accuracy(&xs, &ys).unwrap(),
        loss,
        params: net.to_flat(),
    }
}

fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / x.abs().max(1.0))
        .fold(0.0, f64::max)
}

/// The three networks of one mode in every type, from `start`.
fn every_type<A, B, C, D>(run: (A, B, C, D)) -> [Outcome; 4]
where
    A: FnOnce() -> Outcome,
    B: FnOnce() -> Outcome,
    C: FnOnce() -> Outcome,
    D: FnOnce() -> Outcome,
{
    [run.0(), run.1(), run.2(), run.3()]
}

const TYPES: [&str; 4] = ["f64", "f32", "I16F16", "I8F24"];

fn row(what: &str, r: &Outcome, types: &[Outcome; 4]) {
    print!(
        "  {what:<9} reference {:.3} → {:.3} (loss {:.4})",
        r.before, r.after, r.loss
    );
    for (name, o) in TYPES.iter().zip(types) {
        print!(
            " | {name} {:.3} → {:.3} ({:.4}, Δ {:.0e})",
            o.before,
            o.after,
            o.loss,
            (o.loss - r.loss).abs()
        );
    }
    println!();
}

/// Pretrains every type, then fine-tunes every type in both modes; prints the table. The bounds
/// below were measured over seven initialisation seeds (2026, 7, 1, 2, 3, 42, 99); the test runs
/// two of them.
#[test]
fn a_2d_cnn_trains_and_fine_tunes_in_every_number_type_against_the_reference() {
    let d = data();
    for seed in [2026, 3] {
        println!("initialisation seed {seed}");
        run_seed(&d, seed);
    }
}

fn run_seed(d: &Data, seed: u64) {
    let mut init = Full::<f64>::zeroed();
    init.init(Init::TorchDefault, seed).unwrap();
    let mut start = vec![0.0; Full::<f64>::PARAMS];
    init.export(&mut start).unwrap();

    const P: usize = Full::<f64>::TRAINABLE;
    let sets = (&d.train[..], &d.plain_test[..]);
    let r = train_reference(reference([(true, true); 4]), &start, 0.01, sets, 6, 16);
    let types = every_type((
        || train::<f64, P, _>(Full::<f64>::zeroed(), &start, 0.01, sets, 6, 16),
        || train::<f32, P, _>(Full::<f32>::zeroed(), &start, 0.01, sets, 6, 16),
        || train::<I16F16, P, _>(Full::<I16F16>::zeroed(), &start, 0.01, sets, 6, 16),
        || train::<I8F24, P, _>(Full::<I8F24>::zeroed(), &start, 0.01, sets, 6, 16),
    ));
    println!("pretrain on 1,000 digits, score 697 held-out plain digits (accuracy, mean loss):");
    row("full", &r, &types);
    let drift = max_rel(&r.params, &types[0].params);
    println!("  f64 cnn! vs reference: max relative parameter difference {drift:.1e}");
    // Same rules, same sample order, different summation order inside a layer: after 378
    // Adam steps the f64 trajectories differ by rounding (measured 1.6e-14; 1e-10 leaves room
    // for other platforms' libm and Adam's amplification by 1/√v).
    assert!(
        drift < 1e-10,
        "f64 network drifted {drift:e} from the reference"
    );
    // The plain digits are learned: the reference reached 81.9 % to 89.5 % over the seven seeds.
    assert!(r.after > 0.8, "reference accuracy {}", r.after);
    // Largest loss differences from the reference over the seven seeds: 5e-15 (f64), 3e-4
    // (f32: 378 Adam steps amplify its rounding), 0.07 (I16F16), 0.02 (I8F24); accuracy within
    // 1.8 points. Bounds: about 3× those (f64: 1e-9, as the parameter drift above).
    for ((name, o), loss_tol) in TYPES.iter().zip(&types).zip([1e-9, 1e-3, 0.2, 0.06]) {
        assert!(
            (o.loss - r.loss).abs() <= loss_tol,
            "{name} loss {} vs {}",
            o.loss,
            r.loss
        );
        assert!(
            (o.after - r.after).abs() <= 0.03,
            "{name} accuracy {} vs {}",
            o.after,
            r.after
        );
    }

    // Fine-tuning after the sensor change, from the reference's pretrained parameters.
    let p = &r.params;
    let tune = (&d.tune[..], &d.test[..]);
    println!("fine-tune on 100 changed digits, score 697 held-out changed digits:");
    let frozen = (false, false);
    let head_r = train_reference(
        reference([frozen, frozen, frozen, (true, true)]),
        p,
        0.02,
        tune,
        8,
        10,
    );
    let head = every_type((
        || train::<f64, { Head::<f64>::TRAINABLE }, _>(Head::<f64>::zeroed(), p, 0.02, tune, 8, 10),
        || train::<f32, { Head::<f32>::TRAINABLE }, _>(Head::<f32>::zeroed(), p, 0.02, tune, 8, 10),
        || {
            train::<I16F16, { Head::<I16F16>::TRAINABLE }, _>(
                Head::<I16F16>::zeroed(),
                p,
                0.02,
                tune,
                8,
                10,
            )
        },
        || {
            train::<I8F24, { Head::<I8F24>::TRAINABLE }, _>(
                Head::<I8F24>::zeroed(),
                p,
                0.02,
                tune,
                8,
                10,
            )
        },
    ));
    let affine_r = train_reference(
        reference([frozen, frozen, (true, true), frozen]),
        p,
        0.02,
        tune,
        8,
        10,
    );
    let affine = every_type((
        || {
            train::<f64, { Affine::<f64>::TRAINABLE }, _>(
                Affine::<f64>::zeroed(),
                p,
                0.02,
                tune,
                8,
                10,
            )
        },
        || {
            train::<f32, { Affine::<f32>::TRAINABLE }, _>(
                Affine::<f32>::zeroed(),
                p,
                0.02,
                tune,
                8,
                10,
            )
        },
        || {
            train::<I16F16, { Affine::<I16F16>::TRAINABLE }, _>(
                Affine::<I16F16>::zeroed(),
                p,
                0.02,
                tune,
                8,
                10,
            )
        },
        || {
            train::<I8F24, { Affine::<I8F24>::TRAINABLE }, _>(
                Affine::<I8F24>::zeroed(),
                p,
                0.02,
                tune,
                8,
                10,
            )
        },
    ));
    for (mode, r, types) in [("head", &head_r, &head), ("BN-affine", &affine_r, &affine)] {
        row(mode, r, types);
        // The change costs accuracy and fine-tuning wins it back (measured over the seven
        // seeds: +19 points or more in every type; 5 points is the claim).
        assert!(
            r.after >= r.before + 0.05,
            "{mode}: reference {} → {}",
            r.before,
            r.after
        );
        // Largest loss differences from the reference over the seven seeds: 5e-8 (f32), 9e-4
        // (I16F16), 1e-5 (I8F24); accuracy within 0.3 points. Bounds: about 3× those.
        for ((name, o), loss_tol) in TYPES.iter().zip(types).zip([1e-9, 2e-7, 3e-3, 3e-5]) {
            assert!(
                o.after >= o.before + 0.05,
                "{mode} {name}: {} → {}",
                o.before,
                o.after
            );
            assert!(
                (o.loss - r.loss).abs() <= loss_tol,
                "{mode} {name}: loss {} vs {}",
                o.loss,
                r.loss
            );
            assert!(
                (o.after - r.after).abs() <= 0.03,
                "{mode} {name}: {} vs {}",
                o.after,
                r.after
            );
        }
    }
}
