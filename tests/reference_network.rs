//! The plain f64 reference network (`edgetune::reference::network`): its backward pass against central finite
//! differences for every activation and both losses, its forward pass and losses against hand arithmetic,
//! fine-tuning flags (frozen layers get zero gradient and never change), small training runs, and the flat
//! torch-order import/export.

mod common;

use common::Rng;
use edgetune::reference::network::*;
use edgetune::reference::{Hyper, Kind, RefError};

const ACTIVATIONS: [RefActivation; 5] = [
    RefActivation::None,
    RefActivation::Relu,
    RefActivation::LeakyRelu(0.1),
    RefActivation::Tanh,
    RefActivation::Sigmoid,
];

/// Random layer sizes `[inputs, hidden…, outputs]`: 1–4 inputs, 1–3 hidden layers of 1–6, 2–4 outputs.
fn random_sizes(rng: &mut Rng) -> Vec<usize> {
    let mut sizes = vec![rng.range(1, 4)];
    for _ in 0..rng.range(1, 3) {
        sizes.push(rng.range(1, 6));
    }
    sizes.push(rng.range(2, 4));
    sizes
}

/// A fully trainable network of `sizes` with weights uniform in ±1.
fn random_net(rng: &mut Rng, sizes: &[usize], activations: &[RefActivation]) -> RefMlp {
    let probe = RefMlp::zeros(sizes, activations).unwrap();
    let flat = rng.vec(probe.num_params(), 1.0);
    RefMlp::from_flat(sizes, activations, &flat).unwrap()
}

fn random_target(rng: &mut Rng, outputs: usize, cross_entropy: bool) -> RefTarget {
    if cross_entropy {
        RefTarget::Class(rng.range(0, outputs - 1))
    } else {
        RefTarget::Values(rng.vec(outputs, 1.0))
    }
}

/// An input whose pre-activations are all at least 1e-3 away from 0, where ReLU and LeakyReLU have their
/// kink: a perturbation of h = 1e-6 in one parameter moves a pre-activation by far less than that, so the
/// central difference never straddles a kink.
fn input_away_from_kinks(rng: &mut Rng, net: &RefMlp) -> Vec<f64> {
    loop {
        let x = rng.vec(net.inputs(), 2.0);
        let clear = net
            .pre_activations(&x)
            .unwrap()
            .iter()
            .flatten()
            .all(|z| z.abs() > 1e-3);
        if clear {
            return x;
        }
    }
}

/// Central finite difference of `loss(flat)` with step `h`, for every parameter.
fn finite_differences(flat: &[f64], h: f64, loss: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let mut fd = Vec::with_capacity(flat.len());
    for p in 0..flat.len() {
        let mut plus = flat.to_vec();
        let mut minus = flat.to_vec();
        plus[p] += h;
        minus[p] -= h;
        fd.push((loss(&plus) - loss(&minus)) / (2.0 * h));
    }
    fd
}

/// Step and tolerance of the gradient checks.
///
/// With h = 1e-6 the central difference (L(p+h) − L(p−h)) / 2h differs from the derivative by
/// - truncation, h²/6 · |L'''| ≈ 1.7e-13 · |L'''|: these nets (≤ 4 layers, weights ≤ 1, inputs ≤ 2) have
///   |L'''| well under 1e3, so under 2e-10;
/// - rounding, ≈ c·ε·max(1, |L|) / h with ε = 2.2e-16 and c a few tens (the operations feeding L):
///   for c = 50, 1.1e-8 · max(1, |L|).
///
/// The tolerance 1e-7 · (1 + |L|) is ten times that sum, and still 10⁵ times smaller than the typical
/// gradient element (1e-2 … 1), so a wrong factor or derivative cannot pass.
const H: f64 = 1e-6;
fn fd_tolerance(loss: f64) -> f64 {
    1e-7 * (1.0 + loss.abs())
}

#[track_caller]
fn assert_grads_match(analytic: &[f64], fd: &[f64], loss: f64, what: &str) {
    assert_eq!(analytic.len(), fd.len());
    let tol = fd_tolerance(loss);
    for p in 0..fd.len() {
        let err = (analytic[p] - fd[p]).abs();
        assert!(
            err <= tol,
            "{what}: parameter {p}: analytic {:e}, finite difference {:e}, error {err:e} > {tol:e}",
            analytic[p],
            fd[p]
        );
    }
}

// ---------------------------------------------------------------------------------------------------------
// Backward against finite differences
// ---------------------------------------------------------------------------------------------------------

#[test]
fn backward_matches_finite_differences_for_every_activation_and_both_losses() {
    let mut rng = Rng(0x5eed_0001);
    for act in ACTIVATIONS {
        for cross_entropy in [true, false] {
            // The last layer either linear (logits / plain regression) or with the same activation.
            for last in [RefActivation::None, act] {
                for seed in 0..6 {
                    let sizes = random_sizes(&mut rng);
                    let mut acts = vec![act; sizes.len() - 1];
                    *acts.last_mut().unwrap() = last;
                    let net = random_net(&mut rng, &sizes, &acts);
                    let x = input_away_from_kinks(&mut rng, &net);
                    let target = random_target(&mut rng, net.outputs(), cross_entropy);

                    let (loss, grads) = net.loss_and_grads(&x, &target).unwrap();
                    assert_eq!(grads.len(), net.num_params());
                    assert_eq!(loss, net.loss(&x, &target).unwrap());
                    let fd = finite_differences(&net.to_flat(), H, |flat| {
                        let mut probe = net.clone();
                        probe.load_flat(flat).unwrap();
                        probe.loss(&x, &target).unwrap()
                    });
                    let what = format!(
                        "{act:?} (last {last:?}), {}, sizes {sizes:?}, seed {seed}",
                        if cross_entropy {
                            "cross-entropy"
                        } else {
                            "mse"
                        }
                    );
                    assert_grads_match(&grads, &fd, loss, &what);
                }
            }
        }
    }
}

#[test]
fn batch_gradient_matches_finite_differences_of_the_mean_loss() {
    let mut rng = Rng(0x5eed_0002);
    let acts = [
        RefActivation::Tanh,
        RefActivation::Sigmoid,
        RefActivation::None,
    ];
    let net = random_net(&mut rng, &[3, 5, 4, 3], &acts);
    for cross_entropy in [true, false] {
        let xs: Vec<Vec<f64>> = (0..5).map(|_| rng.vec(3, 2.0)).collect();
        let targets: Vec<RefTarget> = (0..5)
            .map(|_| random_target(&mut rng, 3, cross_entropy))
            .collect();
        let (loss, grads) = net.batch_loss_and_grads(&xs, &targets).unwrap();
        let fd = finite_differences(&net.to_flat(), H, |flat| {
            let mut probe = net.clone();
            probe.load_flat(flat).unwrap();
            probe.batch_loss_and_grads(&xs, &targets).unwrap().0
        });
        assert_grads_match(&grads, &fd, loss, "batch");

        // The mean, not the sum: the loss is the average of the per-sample losses.
        let sum: f64 = (0..5).map(|s| net.loss(&xs[s], &targets[s]).unwrap()).sum();
        assert!((loss - sum / 5.0).abs() <= 1e-15 * (1.0 + loss.abs()));
    }
}

#[test]
fn kink_derivatives_follow_torch() {
    // torch: relu backward is `z > 0`, leaky_relu backward is `z > 0 ? 1 : slope`; both at z = 0 too.
    assert_eq!(RefActivation::Relu.derivative(0.0), 0.0);
    assert_eq!(RefActivation::Relu.derivative(-0.0), 0.0);
    assert_eq!(RefActivation::LeakyRelu(0.25).derivative(0.0), 0.25);
    assert_eq!(RefActivation::LeakyRelu(0.25).apply(-2.0), -0.5);
    assert_eq!(RefActivation::Relu.apply(-2.0), 0.0);
    assert_eq!(RefActivation::Sigmoid.apply(0.0), 0.5);
    assert_eq!(RefActivation::Sigmoid.derivative(0.0), 0.25);
    assert_eq!(RefActivation::Tanh.derivative(0.0), 1.0);
    // Sigmoid saturates without producing NaN.
    assert_eq!(RefActivation::Sigmoid.apply(-1000.0), 0.0);
    assert_eq!(RefActivation::Sigmoid.apply(1000.0), 1.0);
    assert_eq!(RefActivation::Sigmoid.derivative(-1000.0), 0.0);

    // A hidden pre-activation exactly 0: ReLU passes no gradient to its weights, LeakyReLU `slope` of it.
    // Layer 0: z = 1·x − 1 = 0 at x = 1; layer 1: y = 2·a.
    for (act, factor) in [
        (RefActivation::Relu, 0.0),
        (RefActivation::LeakyRelu(0.25), 0.25),
    ] {
        let net = RefMlp::from_flat(
            &[1, 1, 1],
            &[act, RefActivation::None],
            &[1.0, -1.0, 2.0, 0.0],
        )
        .unwrap();
        let (loss, g) = net
            .loss_and_grads(&[1.0], &RefTarget::Values(vec![1.0]))
            .unwrap();
        // y = 0, L = (0 − 1)² = 1, ∂L/∂y = −2; ∂L/∂w1 = −2·a = 0, ∂L/∂b1 = −2;
        // ∂L/∂z0 = −2·2·factor; ∂L/∂w0 = that · x, ∂L/∂b0 = that.
        assert_eq!(loss, 1.0);
        assert_eq!(g, vec![-4.0 * factor, -4.0 * factor, 0.0, -2.0]);
    }
}

// ---------------------------------------------------------------------------------------------------------
// Forward and losses by hand
// ---------------------------------------------------------------------------------------------------------

#[test]
fn forward_and_losses_match_hand_arithmetic_in_torch_layout() {
    // torch: Linear(2, 2) with weight [[1, 2], [3, 4]], bias [0.5, −0.5]; ReLU; Linear(2, 2) with weight
    // [[1, −1], [0.5, 2]], bias [0, 1]. state_dict order: weight row-major, then bias, layer by layer.
    let flat = [1.0, 2.0, 3.0, 4.0, 0.5, -0.5, 1.0, -1.0, 0.5, 2.0, 0.0, 1.0];
    let acts = [RefActivation::Relu, RefActivation::None];
    let net = RefMlp::from_flat(&[2, 2, 2], &acts, &flat).unwrap();
    assert_eq!(net.layers[0].w, vec![vec![1.0, 2.0], vec![3.0, 4.0]]);
    assert_eq!(net.layers[1].b, vec![0.0, 1.0]);
    assert_eq!(net.sizes(), vec![2, 2, 2]);

    // x = [1, 0.5]: z0 = [1 + 1 + 0.5, 3 + 2 − 0.5] = [2.5, 4.5] (both > 0);
    // y = [2.5 − 4.5 + 0, 1.25 + 9 + 1] = [−2, 11.25]. Every value is exact in binary.
    let x = [1.0, 0.5];
    assert_eq!(
        net.pre_activations(&x).unwrap(),
        vec![vec![2.5, 4.5], vec![-2.0, 11.25]]
    );
    assert_eq!(net.forward(&x).unwrap(), vec![-2.0, 11.25]);
    assert_eq!(net.predict(&x).unwrap(), 1);

    // Cross-entropy, class 0: ln(e^−2 + e^11.25) + 2.
    let expected = ((-2.0f64).exp() + 11.25f64.exp()).ln() + 2.0;
    let loss = net.loss(&x, &RefTarget::Class(0)).unwrap();
    assert!(
        (loss - expected).abs() <= 1e-14 * expected,
        "{loss} vs {expected}"
    );

    // MSE against [0, 10]: ((−2)² + 1.25²) / 2 = 2.78125 (exact).
    assert_eq!(
        net.loss(&x, &RefTarget::Values(vec![0.0, 10.0])).unwrap(),
        2.78125
    );

    // Its gradient by hand: ∂L/∂y = (2/2)(y − t) = [−2, 1.25];
    // layer 1: dW = dy ⊗ a = [[−5, −9], [3.125, 5.625]], db = [−2, 1.25];
    // ∂L/∂a = Wᵀ dy = [1·(−2) + 0.5·1.25, −1·(−2) + 2·1.25] = [−1.375, 4.5]; ReLU passes it (z0 > 0);
    // layer 0: dW = [[−1.375, −0.6875], [4.5, 2.25]], db = [−1.375, 4.5].
    let (_, g) = net
        .loss_and_grads(&x, &RefTarget::Values(vec![0.0, 10.0]))
        .unwrap();
    assert_eq!(
        g,
        vec![-1.375, -0.6875, 4.5, 2.25, -1.375, 4.5, -5.0, -9.0, 3.125, 5.625, -2.0, 1.25]
    );
}

#[test]
fn cross_entropy_is_max_subtracted() {
    // Without subtracting the max, e^1000 overflows to inf and the loss is NaN.
    let (loss, grad) = softmax_cross_entropy(&[1000.0, 0.0], 1).unwrap();
    assert_eq!(loss, 1000.0);
    assert_eq!(grad, vec![1.0, -1.0]);
    let (loss, grad) = softmax_cross_entropy(&[-1000.0, -1000.0], 0).unwrap();
    assert!((loss - std::f64::consts::LN_2).abs() <= 1e-15);
    assert_eq!(grad, vec![-0.5, 0.5]);
    // mse: mean over outputs.
    assert_eq!(
        mse(&[1.0, 2.0, 3.0, 4.0], &[0.0; 4]),
        Ok((7.5, vec![0.5, 1.0, 1.5, 2.0]))
    );
}

#[test]
fn argmax_takes_the_first_maximum_and_nan_as_largest() {
    assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), Ok(1));
    assert_eq!(argmax(&[1.0, f64::NAN, 5.0]), Ok(1));
    assert_eq!(argmax(&[-1.0]), Ok(0));
    assert_eq!(argmax(&[]), Err(RefNetError::NoValues));
}

// ---------------------------------------------------------------------------------------------------------
// Fine-tuning flags
// ---------------------------------------------------------------------------------------------------------

/// [3 → 5, tanh] frozen, [5 → 4, relu] bias-only, [4 → 2] trainable.
fn fine_tuned_net(rng: &mut Rng) -> RefMlp {
    let acts = [
        RefActivation::Tanh,
        RefActivation::Relu,
        RefActivation::None,
    ];
    let mut net = random_net(rng, &[3, 5, 4, 2], &acts);
    net.layers[0].trainable = false;
    net.layers[1].bias_only = true;
    net
}

#[test]
fn frozen_elements_get_exactly_zero_gradient_and_trainable_ones_are_unchanged() {
    let mut rng = Rng(0x5eed_0003);
    let net = fine_tuned_net(&mut rng);
    let mut full = net.clone();
    for layer in &mut full.layers {
        layer.trainable = true;
        layer.bias_only = false;
    }
    let mask = net.trainable_mask();
    // Layer 0: 15 + 5 frozen; layer 1: 20 weights frozen, 4 biases trainable; layer 2: 8 + 2 trainable.
    let expected_mask: Vec<bool> = [(20, false), (20, false), (4, true), (10, true)]
        .iter()
        .flat_map(|&(n, t)| std::iter::repeat_n(t, n))
        .collect();
    assert_eq!(mask, expected_mask);
    assert_eq!(net.num_trainable(), 14);
    assert_eq!(net.num_params(), 54);

    for cross_entropy in [true, false] {
        let x = rng.vec(3, 2.0);
        let target = random_target(&mut rng, 2, cross_entropy);
        let (loss, g) = net.loss_and_grads(&x, &target).unwrap();
        let (full_loss, full_g) = full.loss_and_grads(&x, &target).unwrap();
        assert_eq!(loss.to_bits(), full_loss.to_bits());
        for p in 0..g.len() {
            if mask[p] {
                assert_eq!(g[p].to_bits(), full_g[p].to_bits(), "parameter {p}");
            } else {
                assert_eq!(g[p].to_bits(), 0.0f64.to_bits(), "parameter {p}");
            }
        }
        // The fixture is not degenerate: the frozen layers would have had gradient.
        assert!(full_g[..40].iter().any(|&v| v != 0.0));
    }

    // bias_only has no effect on a frozen layer.
    let mut frozen_bias_only = net.clone();
    frozen_bias_only.layers[0].bias_only = true;
    assert_eq!(frozen_bias_only.trainable_mask(), mask);
}

#[test]
fn frozen_elements_never_change_in_training() {
    let mut rng = Rng(0x5eed_0004);
    let xs: Vec<Vec<f64>> = (0..8).map(|_| rng.vec(3, 2.0)).collect();
    let targets: Vec<RefTarget> = (0..8).map(|s| RefTarget::Class(s % 2)).collect();
    // Weight decay (L2 and decoupled) and momentum would move any element the optimizer saw, even with a
    // zero gradient.
    let optimizers = [
        (
            Kind::AdamW,
            Hyper {
                lr: 1e-2,
                ..Hyper::defaults(Kind::AdamW)
            },
        ),
        (
            Kind::Sgd,
            Hyper {
                lr: 1e-2,
                momentum: 0.9,
                weight_decay: 1e-2,
                ..Hyper::defaults(Kind::Sgd)
            },
        ),
        (
            Kind::Lion,
            Hyper {
                weight_decay: 0.1,
                ..Hyper::defaults(Kind::Lion)
            },
        ),
    ];
    for (kind, hyper) in optimizers {
        let start = fine_tuned_net(&mut rng);
        let mut net = start.clone();
        let mut opt = net.optimizer(kind, hyper);
        assert_eq!(opt.n, 14);
        for _ in 0..50 {
            net.train_step(&mut opt, &xs, &targets).unwrap();
        }
        let mask = net.trainable_mask();
        let (before, after) = (start.to_flat(), net.to_flat());
        for p in 0..before.len() {
            if mask[p] {
                assert_ne!(
                    before[p], after[p],
                    "{kind:?}: trainable parameter {p} never moved"
                );
            } else {
                assert_eq!(
                    before[p].to_bits(),
                    after[p].to_bits(),
                    "{kind:?}: frozen {p}"
                );
            }
        }
        // The flags themselves are untouched.
        assert_eq!(mask, start.trainable_mask());
    }

    // Everything frozen: the optimizer has nothing to step and nothing changes.
    let mut net = fine_tuned_net(&mut rng);
    for layer in &mut net.layers {
        layer.trainable = false;
    }
    let start = net.clone();
    let mut opt = net.optimizer(Kind::Adam, Hyper::defaults(Kind::Adam));
    assert_eq!(opt.n, 0);
    net.train_step(&mut opt, &xs, &targets).unwrap();
    assert_eq!(net, start);
}

#[test]
fn train_step_is_one_optimizer_step_on_the_mean_gradient() {
    let mut rng = Rng(0x5eed_0005);
    let mut net = fine_tuned_net(&mut rng);
    let xs: Vec<Vec<f64>> = (0..3).map(|_| rng.vec(3, 2.0)).collect();
    let targets = vec![
        RefTarget::Class(0),
        RefTarget::Class(1),
        RefTarget::Class(1),
    ];
    // Plain SGD: p ← p − lr · (g₁ + g₂ + g₃)/3 on the trainable elements.
    let lr = 0.1;
    let mut opt = net.optimizer(
        Kind::Sgd,
        Hyper {
            lr,
            ..Hyper::defaults(Kind::Sgd)
        },
    );
    let before = net.to_flat();
    let grads: Vec<Vec<f64>> = (0..3)
        .map(|s| net.loss_and_grads(&xs[s], &targets[s]).unwrap().1)
        .collect();
    let losses: Vec<f64> = (0..3)
        .map(|s| net.loss(&xs[s], &targets[s]).unwrap())
        .collect();
    let loss = net.train_step(&mut opt, &xs, &targets).unwrap();
    assert!((loss - (losses[0] + losses[1] + losses[2]) / 3.0).abs() <= 1e-15 * (1.0 + loss));
    let after = net.to_flat();
    for p in 0..before.len() {
        let mean = (grads[0][p] + grads[1][p] + grads[2][p]) / 3.0;
        let expected = before[p] - lr * mean;
        assert!(
            (after[p] - expected).abs() <= 1e-15 * (1.0 + expected.abs()),
            "parameter {p}: {} vs {expected}",
            after[p]
        );
    }
}

// ---------------------------------------------------------------------------------------------------------
// Training runs
// ---------------------------------------------------------------------------------------------------------

#[test]
fn xor_with_tanh_is_learned() {
    let mut rng = Rng(0x5eed_0006);
    let acts = [RefActivation::Tanh, RefActivation::None];
    let mut net = random_net(&mut rng, &[2, 8, 2], &acts);
    let xs = vec![
        vec![0.0, 0.0],
        vec![0.0, 1.0],
        vec![1.0, 0.0],
        vec![1.0, 1.0],
    ];
    let labels = [0, 1, 1, 0];
    let targets: Vec<RefTarget> = labels.iter().map(|&c| RefTarget::Class(c)).collect();
    let mut opt = net.optimizer(
        Kind::Adam,
        Hyper {
            lr: 0.05,
            ..Hyper::defaults(Kind::Adam)
        },
    );
    let first = net.train_step(&mut opt, &xs, &targets).unwrap();
    let mut last = first;
    for _ in 0..300 {
        last = net.train_step(&mut opt, &xs, &targets).unwrap();
    }
    // Stated target: all four points right and the mean cross-entropy below 0.05 after 300 full-batch
    // Adam steps (from about ln 2 ≈ 0.69 for an untrained net).
    assert_eq!(net.accuracy(&xs, &labels), Ok(1.0));
    assert!(last < 0.05, "loss {first} → {last}");
}

#[test]
fn two_gaussian_blobs_are_separated_with_mse_and_mini_batches() {
    // Two unit-variance blobs centred at ±(1.5, 1.5): the centres are 3√2 ≈ 4.24 apart, so the best
    // possible accuracy is Φ(2.12) ≈ 98.3 %. Stated target: at least 95 % on 400 held-out points.
    let mut rng = Rng(0x5eed_0007);
    let mut sample = |n: usize| {
        let mut xs = Vec::new();
        let mut labels = Vec::new();
        for s in 0..n {
            let c = s % 2;
            let centre = if c == 0 { -1.5 } else { 1.5 };
            xs.push(vec![centre + rng.normal(), centre + rng.normal()]);
            labels.push(c);
        }
        (xs, labels)
    };
    let (train_x, train_labels) = sample(200);
    let (test_x, test_labels) = sample(400);

    let mut init = Rng(0x5eed_0008);
    let acts = [RefActivation::Relu, RefActivation::None];
    let mut net = random_net(&mut init, &[2, 6, 2], &acts);
    // One-hot targets, MSE over the two outputs; SGD with momentum on mini-batches of 10.
    let one_hot = |c: usize| {
        RefTarget::Values(if c == 0 {
            vec![1.0, 0.0]
        } else {
            vec![0.0, 1.0]
        })
    };
    let mut opt = net.optimizer(
        Kind::Sgd,
        Hyper {
            lr: 0.05,
            momentum: 0.9,
            ..Hyper::defaults(Kind::Sgd)
        },
    );
    for _epoch in 0..20 {
        for start in (0..200).step_by(10) {
            let xs = &train_x[start..start + 10];
            let targets: Vec<RefTarget> = train_labels[start..start + 10]
                .iter()
                .map(|&c| one_hot(c))
                .collect();
            net.train_step(&mut opt, xs, &targets).unwrap();
        }
    }
    let accuracy = net.accuracy(&test_x, &test_labels).unwrap();
    assert!(accuracy >= 0.95, "held-out accuracy {accuracy}");
}

// ---------------------------------------------------------------------------------------------------------
// Flat import / export
// ---------------------------------------------------------------------------------------------------------

#[test]
fn flat_import_export_round_trips_bit_exactly() {
    let mut rng = Rng(0x5eed_0009);
    for _ in 0..20 {
        let sizes = random_sizes(&mut rng);
        let acts = vec![RefActivation::Tanh; sizes.len() - 1];
        let n = RefMlp::zeros(&sizes, &acts).unwrap().num_params();
        // Arbitrary bit patterns: NaNs with payloads, infinities, subnormals, −0.0 all survive.
        let mut flat: Vec<f64> = (0..n).map(|_| f64::from_bits(rng.next_u64())).collect();
        let specials = [
            -0.0,
            5e-324,
            f64::MAX,
            f64::NEG_INFINITY,
            f64::from_bits(0x7ff0_0000_dead_beef),
        ];
        for (p, &v) in specials.iter().enumerate() {
            flat[p % n] = v;
        }
        let net = RefMlp::from_flat(&sizes, &acts, &flat).unwrap();
        let back = net.to_flat();
        assert_eq!(back.len(), n);
        for p in 0..n {
            assert_eq!(back[p].to_bits(), flat[p].to_bits(), "element {p}");
        }
        // load_flat into another network of the same shape gives the same bits too.
        let mut other = RefMlp::zeros(&sizes, &acts).unwrap();
        other.load_flat(&back).unwrap();
        assert!(other
            .to_flat()
            .iter()
            .zip(&flat)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}

#[test]
fn flat_order_is_torch_state_dict_order() {
    // Element p holds the value p: layer 0 weight [3][2] row-major, its bias [3], layer 1 weight [2][3], bias [2].
    let flat: Vec<f64> = (0..17).map(|p| p as f64).collect();
    let acts = [RefActivation::None, RefActivation::None];
    let net = RefMlp::from_flat(&[2, 3, 2], &acts, &flat).unwrap();
    assert_eq!(
        net.layers[0].w,
        vec![vec![0.0, 1.0], vec![2.0, 3.0], vec![4.0, 5.0]]
    );
    assert_eq!(net.layers[0].b, vec![6.0, 7.0, 8.0]);
    assert_eq!(
        net.layers[1].w,
        vec![vec![9.0, 10.0, 11.0], vec![12.0, 13.0, 14.0]]
    );
    assert_eq!(net.layers[1].b, vec![15.0, 16.0]);

    // The trainable vector gathers in the same order.
    let mut net = net;
    net.layers[0].bias_only = true;
    assert_eq!(
        net.trainable_params(),
        vec![6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0]
    );
    net.set_trainable_params(&[-1.0; 11]).unwrap();
    assert_eq!(net.layers[0].w[2], vec![4.0, 5.0]);
    assert_eq!(net.layers[0].b, vec![-1.0; 3]);
    assert_eq!(net.layers[1].b, vec![-1.0; 2]);
}

#[test]
fn length_and_shape_mismatches_are_errors_not_panics() {
    let acts = [RefActivation::Relu, RefActivation::None];
    let n = 2 * 3 + 3 + 3 * 2 + 2;
    for found in [0, n - 1, n + 1] {
        assert_eq!(
            RefMlp::from_flat(&[2, 3, 2], &acts, &vec![0.5; found]),
            Err(RefNetError::LengthMismatch {
                what: "parameters",
                expected: n,
                found
            })
        );
    }
    // load_flat on error changes nothing.
    let mut net = RefMlp::from_flat(&[2, 3, 2], &acts, &vec![0.5; n]).unwrap();
    let before = net.clone();
    assert!(net.load_flat(&[1.0; 3]).is_err());
    assert_eq!(net, before);
    assert_eq!(
        net.set_trainable_params(&[1.0; 3]),
        Err(RefNetError::LengthMismatch {
            what: "trainable parameters",
            expected: n,
            found: 3
        })
    );
    assert_eq!(net, before);

    // Shapes.
    assert_eq!(RefMlp::zeros(&[3], &[]), Err(RefNetError::NoLayers));
    assert_eq!(RefMlp::zeros(&[], &[]), Err(RefNetError::NoLayers));
    assert_eq!(
        RefMlp::zeros(&[2, 3, 2], &[RefActivation::None]),
        Err(RefNetError::LengthMismatch {
            what: "activations",
            expected: 2,
            found: 1
        })
    );
    assert_eq!(
        RefMlp::zeros(&[2, 0, 2], &acts),
        Err(RefNetError::Shape {
            layer: 0,
            expected: 1,
            found: 0
        })
    );
    let mismatched = vec![RefDense::zeros(2, 3), RefDense::zeros(4, 2)];
    assert_eq!(
        RefMlp::new(mismatched, acts.to_vec()),
        Err(RefNetError::Shape {
            layer: 1,
            expected: 3,
            found: 4
        })
    );
    let mut ragged = RefDense::zeros(2, 3);
    ragged.w[1].push(0.0);
    assert_eq!(
        RefMlp::new(vec![ragged, RefDense::zeros(3, 2)], acts.to_vec()),
        Err(RefNetError::Shape {
            layer: 0,
            expected: 2,
            found: 3
        })
    );

    // Batches.
    let x = vec![vec![0.0, 1.0]];
    assert_eq!(
        net.batch_loss_and_grads(&[], &[]),
        Err(RefNetError::EmptyBatch)
    );
    assert_eq!(
        net.batch_loss_and_grads(&x, &[]),
        Err(RefNetError::LengthMismatch {
            what: "targets",
            expected: 1,
            found: 0
        })
    );
    assert_eq!(
        net.batch_loss_and_grads(&[vec![0.0]], &[RefTarget::Class(0)]),
        Err(RefNetError::LengthMismatch {
            what: "input",
            expected: 2,
            found: 1
        })
    );
    assert_eq!(
        net.batch_loss_and_grads(&x, &[RefTarget::Class(2)]),
        Err(RefNetError::ClassOutOfRange {
            class: 2,
            outputs: 2
        })
    );
    assert_eq!(
        net.batch_loss_and_grads(&x, &[RefTarget::Values(vec![0.0; 3])]),
        Err(RefNetError::LengthMismatch {
            what: "target values",
            expected: 2,
            found: 3
        })
    );

    // Single samples: errors where the network would otherwise have to panic.
    let short = RefNetError::LengthMismatch {
        what: "input",
        expected: 2,
        found: 1,
    };
    assert_eq!(net.pre_activations(&[0.0]), Err(short));
    assert_eq!(net.forward(&[0.0]), Err(short));
    assert_eq!(
        net.predict(&[0.0, 1.0, 2.0]),
        Err(RefNetError::LengthMismatch {
            what: "input",
            expected: 2,
            found: 3,
        })
    );
    assert_eq!(net.loss(&[0.0], &RefTarget::Class(0)), Err(short));
    assert_eq!(net.loss_and_grads(&[0.0], &RefTarget::Class(0)), Err(short));
    let out_of_range = RefNetError::ClassOutOfRange {
        class: 2,
        outputs: 2,
    };
    assert_eq!(net.loss(&x[0], &RefTarget::Class(2)), Err(out_of_range));
    assert_eq!(
        net.loss_and_grads(&x[0], &RefTarget::Class(2)),
        Err(out_of_range)
    );
    let long_values = RefNetError::LengthMismatch {
        what: "target values",
        expected: 2,
        found: 1,
    };
    assert_eq!(
        net.loss(&x[0], &RefTarget::Values(vec![0.0])),
        Err(long_values)
    );
    assert_eq!(
        net.loss_and_grads(&x[0], &RefTarget::Values(vec![0.0])),
        Err(long_values)
    );

    // Accuracy: one label per input; an empty set scores 0; a bad input is an error.
    assert_eq!(
        net.accuracy(&x, &[]),
        Err(RefNetError::LengthMismatch {
            what: "labels",
            expected: 1,
            found: 0
        })
    );
    assert_eq!(net.accuracy(&[], &[]), Ok(0.0));
    assert_eq!(net.accuracy(&[vec![0.0]], &[0]), Err(short));

    // The free functions.
    assert_eq!(
        softmax_cross_entropy(&[0.0, 1.0], 2),
        Err(RefNetError::ClassOutOfRange {
            class: 2,
            outputs: 2
        })
    );
    assert_eq!(
        softmax_cross_entropy(&[], 0),
        Err(RefNetError::ClassOutOfRange {
            class: 0,
            outputs: 0
        })
    );
    assert_eq!(
        mse(&[0.0, 1.0], &[0.0]),
        Err(RefNetError::LengthMismatch {
            what: "target values",
            expected: 2,
            found: 1
        })
    );
    assert_eq!(argmax(&[]), Err(RefNetError::NoValues));

    // A network malformed by hand: every computation reports the shape error instead of panicking.
    let mut broken = net.clone();
    broken.layers[1].w.push(vec![0.0; 3]);
    // Layer 1 is 3 -> 2: two biases, now three weight rows.
    let bad_shape = RefNetError::Shape {
        layer: 1,
        expected: 2,
        found: 3,
    };
    assert_eq!(broken.forward(&x[0]), Err(bad_shape));
    assert_eq!(
        broken.loss_and_grads(&x[0], &RefTarget::Class(0)),
        Err(bad_shape)
    );
    assert_eq!(
        broken.batch_loss_and_grads(&x, &[RefTarget::Class(0)]),
        Err(bad_shape)
    );
    let flat = broken.to_flat();
    assert_eq!(broken.load_flat(&flat), Err(bad_shape));
    let mut empty = net.clone();
    empty.layers.clear();
    empty.activations.clear();
    assert_eq!(empty.forward(&[]), Err(RefNetError::NoLayers));
    assert_eq!(empty.predict(&[]), Err(RefNetError::NoLayers));
    assert_eq!((empty.inputs(), empty.outputs()), (0, 0));
    assert_eq!(empty.sizes(), vec![0]);

    // An optimizer of the wrong size: an error, and nothing changes.
    let mut opt = net.optimizer(Kind::Adam, Hyper::defaults(Kind::Adam));
    net.layers[1].trainable = false;
    let before = net.clone();
    assert_eq!(
        net.train_step(&mut opt, &x, &[RefTarget::Class(0)]),
        Err(RefNetError::Optimizer(RefError::LengthMismatch {
            expected: n,
            found: 9
        }))
    );
    assert_eq!(net, before);
    assert_eq!(opt.step, 0);
}
