//! The divergence guard (poisoned batches, NaN losses, rollback and learning-rate reduction)
//! and long-run numerical stability of the optimizer state.

use edgetune::num::fixed::{RoundingState, I16F16};
use edgetune::optim::{Adam, AdamConfig, Momentum, MomentumConfig, Optimizer};
use edgetune::train::{evaluate, Divergence, DivergenceGuard, GuardConfig, Pcg32, Verdict};

edgetune::mlp! {
    /// A small classifier.
    struct Net {
        dense 2 -> 8, tanh;
        dense 8 -> 2;
        loss softmax_cross_entropy;
    }
}

const T: usize = Net::<f32>::TRAINABLE;
type Opt = Momentum<f32, T>;

fn point(rng: &mut Pcg32) -> ([f32; 2], usize) {
    let mut u = || (rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0;
    let x = [u(), u()];
    (x, usize::from(x[0] * x[1] > 0.0))
}

fn new_net() -> Net<f32> {
    let mut rng = Pcg32::new(3, 3);
    let init: [f32; Net::<f32>::PARAMS] =
        core::array::from_fn(|_| (rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32 - 0.5);
    let mut net = Net::<f32>::zeroed();
    net.import(&init).unwrap();
    net
}

/// Accuracy over 400 held-out points.
fn accuracy(net: &Net<f32>) -> f64 {
    let mut rng = Pcg32::new(99, 1);
    let test: Vec<_> = (0..400).map(|_| point(&mut rng)).collect();
    let e = evaluate(net, &test).unwrap();
    assert_eq!(e.count, 400);
    e.accuracy.unwrap()
}

/// Trains XOR-like quadrants with SGD momentum (1500 batches of 16); the ten batches from `poison_at` have every label
/// flipped (a mislabelled stretch of data). Returns the final accuracy, the guard's counters and
/// the final rate.
fn train(guarded: bool, poison_at: usize) -> (f64, edgetune::train::GuardStats, f64) {
    let mut net = new_net();
    let mut opt = Opt::new(MomentumConfig::new(0.1, 0.9)).unwrap();
    let config = GuardConfig {
        floor: 1.0, // nats: above the chance level of two classes (ln 2)
        ..GuardConfig::new()
    };
    let mut guard = DivergenceGuard::<f32, T, Opt, 16>::new(config).unwrap();
    let mut rng = Pcg32::new(1, 2);
    for step in 0..1500 {
        let batch: [([f32; 2], usize); 16] = core::array::from_fn(|_| {
            let (x, y) = point(&mut rng);
            if (poison_at..poison_at.saturating_add(10)).contains(&step) {
                (x, 1 - y)
            } else {
                (x, y)
            }
        });
        net.zero_grad();
        let mut loss = 0.0f64;
        for (x, y) in &batch {
            loss += f64::from(net.accumulate(x, *y).unwrap()) / 16.0;
        }
        if guarded {
            let (params, _) = net.trainable_and_grads();
            let mut p = *params;
            let verdict = guard.observe(loss, &mut p, &mut opt).unwrap();
            *net.trainable_mut() = p;
            if verdict != Verdict::Healthy {
                continue;
            }
        }
        let grads = net.grads().map(|g| g / 16.0);
        if opt.step(net.trainable_mut(), &grads).is_err() {
            break; // non-finite gradient: the unguarded run is wrecked
        }
    }
    let lr = opt.config().lr;
    (accuracy(&net), *guard.stats(), lr)
}

#[test]
fn poisoned_batch_is_detected_rolled_back_and_training_recovers() {
    let (clean, stats, _) = train(true, usize::MAX);
    assert_eq!(
        stats.rollbacks, 0,
        "no false alarm on a clean run: {stats:?}"
    );
    assert!(clean >= 0.9, "clean accuracy {clean}");

    let (unguarded, _, _) = train(false, 1490);
    let (guarded, stats, lr) = train(true, 1490);
    println!("accuracy: clean {clean}, poisoned unguarded {unguarded}, poisoned guarded {guarded}");
    assert!(stats.rises >= 1 && stats.rollbacks >= 1, "{stats:?}");
    assert!(lr < 0.1 && lr >= 0.1 * 0.5f64.powi(stats.lr_reductions as i32) * 0.999);
    assert!(guarded >= 0.9, "guarded accuracy {guarded}");
    assert!(
        unguarded < 0.8,
        "the poison must hurt an unguarded run: {unguarded}"
    );
}

#[test]
fn rollback_restores_the_snapshot_bit_exactly_and_lowers_the_rate() {
    let mut p = [0.5f32, -0.5, 2.0];
    let mut opt = Adam::<f32, 3>::new(AdamConfig::adam(0.1)).unwrap();
    let mut guard = DivergenceGuard::<f32, 3, _, 4>::new(GuardConfig {
        snapshot_every: 1,
        ..GuardConfig::new()
    })
    .unwrap();
    for _ in 0..6 {
        assert_eq!(
            guard.observe(1.0, &mut p, &mut opt).unwrap(),
            Verdict::Healthy
        );
        opt.step(&mut p, &[0.1, 0.2, -0.3]).unwrap();
    }
    // The last snapshot was taken at the sixth observation, before its step.
    let mut snap_p = p;
    let mut snap_opt = opt;
    snap_opt.step(&mut [0.0; 3], &[0.0; 3]).unwrap(); // a different state, for contrast
    opt.step(&mut snap_p, &[1e6, -1e6, 1e6]).unwrap(); // a poisoned step
    let v = guard.observe(9.0, &mut p, &mut opt).unwrap();
    assert_eq!(
        v,
        Verdict::RolledBack(Divergence::Rise {
            loss: 9.0,
            mean: 1.0
        })
    );
    assert_eq!(opt.config().lr, 0.05);
    assert_eq!(opt.step_count(), 5);
    assert_eq!(guard.lr_scale(), 0.5);
    // A loss of 3.9 (below 4x the mean) is healthy.
    assert_eq!(
        guard.observe(3.9, &mut p, &mut opt).unwrap(),
        Verdict::Healthy
    );
}

#[test]
fn nan_and_infinite_losses_are_caught() {
    let mut p = [1.0f32; 2];
    let mut opt = Adam::<f32, 2>::new(AdamConfig::adam(0.1)).unwrap();
    let mut guard = DivergenceGuard::<f32, 2, _, 3>::new(GuardConfig::new()).unwrap();
    // Before any snapshot: only the rate is lowered.
    assert_eq!(
        guard.observe(f64::NAN, &mut p, &mut opt).unwrap(),
        Verdict::Diverged(Divergence::NotANumber)
    );
    assert_eq!(opt.config().lr, 0.05);
    assert_eq!(
        guard.observe(0.5, &mut p, &mut opt).unwrap(),
        Verdict::Healthy
    );
    let good = p;
    p = [f32::NAN; 2];
    assert_eq!(
        guard.observe(f64::INFINITY, &mut p, &mut opt).unwrap(),
        Verdict::RolledBack(Divergence::Infinite)
    );
    assert_eq!(p, good);
    assert_eq!(opt.config().lr, 0.025);
    assert_eq!(
        guard.observe(f64::NAN, &mut p, &mut opt).unwrap(),
        Verdict::RolledBack(Divergence::NotANumber)
    );
    let s = guard.stats();
    assert_eq!(
        (s.nan, s.infinite, s.rollbacks, s.lr_reductions),
        (2, 1, 2, 3)
    );
    assert_eq!(s.observed, 4);
}

#[test]
fn invalid_guard_configurations_are_rejected() {
    type G = DivergenceGuard<f32, 1, Adam<f32, 1>, 2>;
    for c in [
        GuardConfig {
            rise_factor: 1.0,
            ..GuardConfig::new()
        },
        GuardConfig {
            rise_factor: f64::NAN,
            ..GuardConfig::new()
        },
        GuardConfig {
            floor: -1.0,
            ..GuardConfig::new()
        },
        GuardConfig {
            lr_factor: 0.0,
            ..GuardConfig::new()
        },
        GuardConfig {
            lr_factor: 1.5,
            ..GuardConfig::new()
        },
        GuardConfig {
            snapshot_every: 0,
            ..GuardConfig::new()
        },
    ] {
        assert!(G::new(c).is_err(), "{c:?}");
    }
    assert!(DivergenceGuard::<f32, 1, Adam<f32, 1>, 0>::new(GuardConfig::new()).is_err());
}

// ---- long-run stability ------------------------------------------------------------------

/// Adam on a noisy quadratic (`g = p − target + U(−1, 1)`) for `steps` steps, in `f32`, checking
/// after every step that the state stays within its analytic bounds: `|m| ≤ max|g|`,
/// `v ≤ max g²` (each an exponential average of the gradients), no NaN, `|p|` bounded.
fn adam_f32_long_run(steps: u32) {
    const N: usize = 8;
    let mut opt = Adam::<f32, N>::new(AdamConfig::adam(1e-2)).unwrap();
    let mut p = [0.0f32; N];
    let target: [f32; N] = core::array::from_fn(|i| i as f32 / 4.0 - 1.0);
    let mut rng = Pcg32::new(17, 1);
    let mut gmax = 0.0f32;
    for _ in 0..steps {
        let g: [f32; N] = core::array::from_fn(|i| {
            p[i] - target[i] + (rng.next_u32() >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        });
        gmax = g.iter().fold(gmax, |a, x| a.max(x.abs()));
        opt.step(&mut p, &g).unwrap();
        let tol = 1.0 + 1e-5;
        for i in 0..N {
            let (m, v) = (opt.exp_avg()[i], opt.exp_avg_sq()[i]);
            assert!(m.is_finite() && v.is_finite() && p[i].is_finite());
            assert!(m.abs() <= gmax * tol, "|m| {m} > max|g| {gmax}");
            assert!(v <= gmax * gmax * tol, "v {v} > max g² {}", gmax * gmax);
            assert!((p[i] - target[i]).abs() <= 2.0, "p drifted: {}", p[i]);
        }
    }
}

/// The same problem in I16F16 with stochastic rounding (state in `MiniFloat`).
fn adam_i16f16_long_run(steps: u32) {
    const N: usize = 8;
    let mut opt = Adam::<I16F16, N>::new(AdamConfig::adam(1e-2)).unwrap();
    *opt.aux_mut() = RoundingState::stochastic(7);
    let mut p = [I16F16::ZERO; N];
    let target: [f64; N] = core::array::from_fn(|i| i as f64 / 4.0 - 1.0);
    let mut rng = Pcg32::new(18, 1);
    let mut gmax = 0.0f64;
    for _ in 0..steps {
        let g: [I16F16; N] = core::array::from_fn(|i| {
            let noise = f64::from(rng.next_u32() >> 8) / f64::from(1u32 << 23) - 1.0;
            I16F16::from_num(p[i].to_num::<f64>() - target[i] + noise)
        });
        gmax = g.iter().fold(gmax, |a, x| a.max(x.to_num::<f64>().abs()));
        opt.step(&mut p, &g).unwrap();
        let tol = 1.0 + 1e-4;
        for i in 0..N {
            let (m, v) = (opt.exp_avg()[i].to_f64(), opt.exp_avg_sq()[i].to_f64());
            assert!(m.abs() <= gmax * tol, "|m| {m} > max|g| {gmax}");
            assert!(v <= gmax * gmax * tol, "v {v} > max g² {}", gmax * gmax);
            let d = (p[i].to_num::<f64>() - target[i]).abs();
            assert!(d <= 2.0, "p drifted: {d}");
            assert!(p[i] != I16F16::MIN && p[i] != I16F16::MAX, "saturated");
        }
    }
}

#[test]
fn adam_f32_twenty_thousand_noisy_steps_stay_bounded() {
    adam_f32_long_run(20_000);
}

#[test]
fn adam_i16f16_twenty_thousand_noisy_steps_stay_bounded() {
    adam_i16f16_long_run(20_000);
}

/// 10^6 steps of each (run with `cargo test --release --test guard -- --ignored`).
#[test]
#[ignore = "long: 10^6 steps of Adam in f32 and I16F16"]
fn adam_a_million_noisy_steps_stay_bounded() {
    adam_f32_long_run(1_000_000);
    adam_i16f16_long_run(1_000_000);
}

// ---- fuzz regressions ----------------------------------------------------------------------

/// `fuzz/artifacts/optim_step/crash-25a2c58f…` (bytes `93 93 63 6c dd 5d`): I16F16 Adam with
/// `lr = 0`, `beta1 = 0.99`, `beta2 = 0`, `eps = 4.6e-322` (a subnormal). The crash was in the
/// target's bound (`0·∞`); the library's behaviour, checked here: the step succeeds and moves
/// nothing.
#[test]
fn fuzz_regression_adam_i16f16_zero_lr_zero_beta2_subnormal_eps_moves_nothing() {
    let c = AdamConfig {
        lr: 0.0,
        beta1: 0.99,
        beta2: 0.0,
        eps: f64::from_bits(0x5d),
        ..AdamConfig::adam(0.0)
    };
    let mut opt = Adam::<I16F16, 4>::new(c).unwrap();
    let mut p = [I16F16::ZERO; 4];
    opt.step(&mut p, &[I16F16::ZERO; 4]).unwrap();
    opt.step(&mut p, &[I16F16::from_num(3); 4]).unwrap();
    assert_eq!(p, [I16F16::ZERO; 4]);
}

/// `fuzz/regressions/optim_step/fixed-adam-l2-wd-1e140-2fdb2402` (bytes
/// `07 55 5d bc 41 ff 41 5d 0d 30 00 5d 00 5d 00 29 00…00 bc`): I16F16 Adam with L2
/// `weight_decay ≈ 1.2e140` (finite, so accepted), `lr = 1e-4`, `maximize`: one step moved a
/// parameter from 2 LSB to the format's `MIN` (with `weight_decay = 1e140` and `g = 0`: to
/// −1500.6). Cause: `g + wd·p` was not saturated, so `v` saturated at `MiniFloat::MAX` long
/// before `m` did and `m̂/√v̂` was unbounded. Fixed in `src/num/fixed/kernels.rs` (`grad_wf`
/// saturates the L2 gradient at the format's range before it enters either moment); on the
/// first step `|m̂|/√v̂ = 1`, so the step is at most `lr` (plus rounding).
#[test]
fn fuzz_regression_adam_i16f16_enormous_l2_weight_decay_step_stays_within_lr() {
    for wd in [1e9, 1.2e140, 1e300, f64::MAX] {
        for maximize in [false, true] {
            let c = AdamConfig {
                weight_decay: wd,
                maximize,
                ..AdamConfig::adam(1e-4)
            };
            let mut opt = Adam::<I16F16, 1>::new(c).unwrap();
            let mut p = [I16F16::from_bits(2)];
            opt.step(&mut p, &[I16F16::ZERO]).unwrap();
            let moved = (p[0].to_num::<f64>() - 2.0 / 65536.0).abs();
            assert!(
                moved <= 1e-4 * 1.01 + 2.0 / 65536.0,
                "wd {wd:e}, maximize {maximize}: moved {moved}"
            );
        }
    }
}

/// `fuzz/regressions/optim_step/fixed-adam-beta2-tiny-cancellation-8df7b78c`: I16F16 Adam,
/// `lr = 1`, `β1 = 0`, `β2 = 2.2e-308` (valid; `1 − β2` quantises to 1), `eps = 1e-3`: after a
/// step with `g ≈ −357`, a step with `g ≈ 0.0102` moved 1.153 where `lr·K_2 = lr` allows 1.001
/// (`v = old + (new − old)` cancelled `g²` down to 6.1e-5). Fixed in `kernels.rs::ema_any`.
#[test]
fn fuzz_regression_adam_i16f16_tiny_beta2_after_a_large_gradient_stays_within_lr() {
    for b2 in [f64::from_bits(0x000f_ffff_ffff_ffff), 0.0, 1e-9] {
        let c = AdamConfig {
            beta1: 0.0,
            beta2: b2,
            eps: 1e-3,
            ..AdamConfig::adam(1.0)
        };
        let mut opt = Adam::<I16F16, 1>::new(c).unwrap();
        *opt.aux_mut() = RoundingState::nearest();
        let mut p = [I16F16::from_num(-357.0)];
        opt.step(&mut p, &[I16F16::from_num(-357.4)]).unwrap();
        let old = p[0].to_num::<f64>();
        opt.step(&mut p, &[I16F16::from_num(0.01016)]).unwrap();
        let moved = (p[0].to_num::<f64>() - old).abs();
        // lr·g/(|g| + eps) ≈ 0.91 exactly; at most lr.
        assert!(moved <= 1.0 + 1e-3, "β2 {b2:e}: moved {moved}");
        assert!(moved >= 0.9, "β2 {b2:e}: moved {moved}");
    }
}

/// `fuzz/regressions/optim_step/fixed-adam-l2-wd-1e6-saturated-d6da8049`: I16F16 Adam, L2
/// `weight_decay ≈ 1.11e6`, `lr = 1e-4`, `β1 = 0.999`, `β2 = 0.5`, `eps = 1e-8`, `p ≈ 257.19`,
/// `g = 0`: `g + wd·p ≈ 2.9e8` made `v = ½·g'²` saturate at `MiniFloat::MAX` (2.25e15) while `m`
/// did not, and the step was 28 LSB where `lr·K_1 = lr` allows 6.6 (+ 2 LSB of rounding). Same
/// fix; checked over three steps against the Cauchy–Schwarz bound `lr·K_t` (the fuzz target's).
#[test]
fn fuzz_regression_adam_i16f16_saturated_l2_gradient_obeys_the_kt_bound() {
    const LSB: f64 = 1.0 / 65536.0;
    let wd = f64::from_bits(0x4131_01ba_c764_3266); // ≈ 1.11e6
    for (b1, b2) in [(0.999, 0.5), (0.9, 0.999), (0.0, 0.5), (0.9, 0.9999)] {
        let c = AdamConfig {
            beta1: b1,
            beta2: b2,
            eps: 1e-8,
            weight_decay: wd,
            ..AdamConfig::adam(1e-4)
        };
        let mut opt = Adam::<I16F16, 4>::new(c).unwrap();
        *opt.aux_mut() = RoundingState::stochastic(0x4c4c_4c9d);
        let mut p = [
            I16F16::from_bits(0x0101_3131),
            I16F16::from_bits(1),
            I16F16::from_bits(-0x0100_0000),
            I16F16::ZERO,
        ];
        let grads = [
            [I16F16::ZERO; 4],
            [I16F16::from_num(3); 4],
            [I16F16::from_num(-1000); 4],
        ];
        for (k, g) in grads.iter().enumerate() {
            let t = k as i32 + 1;
            let sum: f64 = (0..t).map(|j| (b1 * b1 / b2).powi(j)).sum();
            let kt = (1.0 - b1) / (1.0 - b1.powi(t))
                * ((1.0 - b2.powi(t)) / (1.0 - b2)).sqrt()
                * sum.sqrt();
            let old = p;
            opt.step(&mut p, g).unwrap();
            for i in 0..4 {
                let moved = (p[i].to_num::<f64>() - old[i].to_num::<f64>()).abs();
                let limit = 1e-4 * kt * (1.0 + 1e-3) + 2.0 * LSB;
                assert!(
                    moved <= limit,
                    "β {b1}/{b2}, step {t}, element {i}: moved {moved} > {limit}"
                );
            }
        }
    }
}
