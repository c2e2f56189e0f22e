//! The training utilities (`edgetune::train`) against independent computations: plain `f64`
//! formulas with std's math, torch's recursive scheduler forms written out, simple models of the
//! buffers, and published reference output for the generator.

use core::mem::size_of;
use edgetune::optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
use edgetune::train::*;
use std::collections::VecDeque;

/// A deterministic spread of test values (a plain LCG, independent of `Pcg32`).
fn values(n: usize, seed: u64, scale: f64) -> Vec<f64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(2862933555777941757).wrapping_add(3037000493);
            ((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale
        })
        .collect()
}

fn exact_norm(xs: &[f64]) -> f64 {
    xs.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn rel(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / b.abs().max(a.abs())
    }
}

// ---------------------------------------------------------------- clipping

#[test]
fn grad_norm_matches_f64_sum_of_squares_for_f32_and_f64() {
    for (n, scale) in [(1, 1.0), (10, 3.0), (300, 0.01), (1000, 50.0)] {
        let xs = values(n, n as u64, scale);
        let xs32: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
        let exact32 = exact_norm(&xs32.iter().map(|&x| f64::from(x)).collect::<Vec<_>>());
        let got32 = grad_norm(&xs32).unwrap();
        // f32 accumulation: relative error at most about n·2⁻²⁴.
        assert!(
            rel(got32, exact32) <= n as f64 * 6e-8,
            "n={n}: {got32} vs {exact32}"
        );
        let got64 = grad_norm(&xs).unwrap();
        assert!(rel(got64, exact_norm(&xs)) <= 1e-14, "n={n}");
    }
}

#[test]
fn grad_norm_of_f32_gradients_up_to_1e19_and_beyond_does_not_overflow() {
    let g = [1e19f32; 1000];
    // The naive f32 sum of squares overflows: the test would catch an unscaled implementation.
    assert!(g.iter().map(|x| x * x).sum::<f32>().is_infinite());
    let expected = f64::from(1e19f32) * 1000f64.sqrt();
    assert!(rel(grad_norm(&g).unwrap(), expected) < 1e-6);
    let g = [f32::MAX, -f32::MAX];
    let expected = f64::from(f32::MAX) * 2f64.sqrt();
    assert!(rel(grad_norm(&g).unwrap(), expected) < 1e-6);
    // And clipping such gradients works.
    let mut g = [1e19f32, -1e19, 1e19, 1e19];
    let norm = clip_grad_norm(&mut g, 1.0).unwrap();
    assert!(rel(norm, 2e19) < 1e-6);
    for x in g {
        assert!(rel(f64::from(x.abs()), 0.5) < 1e-6);
    }
}

#[test]
fn grad_norm_of_tiny_gradients_does_not_underflow() {
    let g = [1e-30f32; 4];
    assert_eq!(g.iter().map(|x| x * x).sum::<f32>(), 0.0); // naive: underflows
    assert!(rel(grad_norm(&g).unwrap(), 2.0 * f64::from(1e-30f32)) < 1e-6);
    let tiny = f32::from_bits(1); // smallest subnormal
    assert!(rel(grad_norm(&[tiny; 4]).unwrap(), 2.0 * f64::from(tiny)) < 1e-6);
    let tiny = f64::from_bits(1);
    assert!(rel(grad_norm(&[tiny; 4]).unwrap(), 2.0 * tiny) < 1e-12);
    assert_eq!(grad_norm(&[0.0f32, -0.0]).unwrap(), 0.0);
    assert_eq!(grad_norm::<f32>(&[]).unwrap(), 0.0);
}

#[test]
fn clip_grad_norm_scales_by_max_norm_over_norm_plus_eps_like_torch() {
    let mut g = [3.0f32, 4.0];
    let norm = clip_grad_norm(&mut g, 1.0).unwrap();
    assert_eq!(norm, 5.0);
    let coef = 1.0 / (5.0 + 1e-6); // torch: max_norm / (total_norm + 1e-6)
    assert_eq!(g, [3.0 * coef as f32, 4.0 * coef as f32]);
    let xs = values(50, 9, 2.0);
    let mut g = xs.clone();
    let norm = clip_grad_norm(&mut g, 0.5).unwrap();
    let exact = exact_norm(&xs);
    assert!(rel(norm, exact) < 1e-14);
    for (got, x) in g.iter().zip(&xs) {
        assert!(rel(*got, x * 0.5 / (exact + 1e-6)) < 1e-14);
    }
    assert!(rel(grad_norm(&g).unwrap(), 0.5) < 1e-5);
}

#[test]
fn clip_grad_norm_leaves_gradients_below_the_threshold_untouched() {
    let mut g = [0.3f32, -0.4];
    assert!(rel(clip_grad_norm(&mut g, 1.0).unwrap(), 0.5) < 1e-7);
    assert_eq!(g, [0.3, -0.4]);
    // Within 1e-6 below max_norm torch still scales (clamp(coef, max=1) with coef just below 1).
    let mut g = [1.0f64];
    clip_grad_norm(&mut g, 1.0).unwrap();
    assert_eq!(g, [1.0 / (1.0 + 1e-6)]);
    // max_norm = 0 zeroes the gradients.
    let mut g = [1.0f32, -2.0];
    clip_grad_norm(&mut g, 0.0).unwrap();
    assert_eq!(g, [0.0, -0.0]);
}

#[test]
fn clip_grad_norm_parts_uses_one_global_norm_over_all_slices() {
    let (a0, b0) = (values(7, 1, 1.0), values(13, 2, 3.0));
    let (mut a, mut b) = (a0.clone(), b0.clone());
    let all: Vec<f64> = a0.iter().chain(&b0).copied().collect();
    let exact = exact_norm(&all);
    assert!(rel(grad_norm_parts(&[&a, &b]).unwrap(), exact) < 1e-14);
    let norm = clip_grad_norm_parts(&mut [&mut a[..], &mut b[..]], 1.0).unwrap();
    assert!(rel(norm, exact) < 1e-14);
    let coef = 1.0 / (exact + 1e-6);
    for (got, x) in a.iter().chain(&b).zip(&all) {
        assert!(rel(*got, x * coef) < 1e-14);
    }
}

#[test]
fn clip_grad_norm_rejects_non_finite_gradients_and_changes_nothing() {
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut a = [10.0f32, 20.0];
        let mut b = [30.0f32, 40.0, bad, 50.0];
        let err = clip_grad_norm_parts(&mut [&mut a[..], &mut b[..]], 1.0).unwrap_err();
        assert_eq!(err, TrainError::NonFiniteGradient { index: 4 });
        assert_eq!(a, [10.0, 20.0]);
        assert_eq!(b[..2], [30.0, 40.0]);
        assert_eq!(b[3], 50.0);
        assert_eq!(
            grad_norm(&b),
            Err(TrainError::NonFiniteGradient { index: 2 })
        );
    }
}

#[test]
fn clip_grad_norm_rejects_invalid_max_norm_and_changes_nothing() {
    for max_norm in [-1.0, f64::NAN, f64::INFINITY] {
        let mut g = [3.0f32, 4.0];
        assert!(matches!(
            clip_grad_norm(&mut g, max_norm),
            Err(TrainError::InvalidHyperparameter {
                name: "max_norm",
                ..
            })
        ));
        assert_eq!(g, [3.0, 4.0]);
    }
}

#[test]
fn clip_grad_value_clamps_to_the_symmetric_interval_and_counts_changes() {
    let xs = values(100, 5, 3.0);
    let mut g = xs.clone();
    let changed = clip_grad_value(&mut g, 1.5).unwrap();
    let expected: Vec<f64> = xs.iter().map(|x| x.clamp(-1.5, 1.5)).collect();
    assert_eq!(g, expected);
    assert_eq!(changed, xs.iter().filter(|x| x.abs() > 1.5).count());
    assert!(changed > 0 && changed < 100);
    let mut a = [2.0f32, -0.1];
    let mut b = [-7.0f32];
    assert_eq!(
        clip_grad_value_parts(&mut [&mut a[..], &mut b[..]], 1.0),
        Ok(2)
    );
    assert_eq!((a, b), ([1.0, -0.1], [-1.0]));
}

#[test]
fn clip_grad_value_rejects_non_finite_gradients_and_bad_clip_values_changing_nothing() {
    let mut g = [5.0f32, f32::INFINITY];
    assert_eq!(
        clip_grad_value(&mut g, 1.0),
        Err(TrainError::NonFiniteGradient { index: 1 })
    );
    assert_eq!(g[0], 5.0);
    let mut g = [5.0f32, -5.0];
    for c in [-1.0, f64::NAN] {
        assert!(matches!(
            clip_grad_value(&mut g, c),
            Err(TrainError::InvalidHyperparameter {
                name: "clip_value",
                ..
            })
        ));
    }
    assert_eq!(g, [5.0, -5.0]);
}

// ---------------------------------------------------------------- schedules

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1e-300) || a == b
}

#[test]
fn step_lr_matches_the_closed_form_and_torch_recursion() {
    let s = StepLr::new(0.1, 3, 0.5).unwrap();
    let mut lr = 0.1; // torch's StepLR.get_lr: multiply by gamma when last_epoch % step_size == 0
    for t in 0..200u32 {
        if t > 0 && t % 3 == 0 {
            lr *= 0.5;
        }
        let closed = 0.1 * 0.5f64.powi((t / 3) as i32);
        assert_eq!(s.lr_at(t), closed, "t={t}"); // powers of two: exact
        assert!(close(s.lr_at(t), lr, 1e-13), "t={t}");
    }
    let s = StepLr::new(0.05, 7, 0.9).unwrap();
    let mut lr = 0.05;
    for t in 0..500u32 {
        if t > 0 && t % 7 == 0 {
            lr *= 0.9;
        }
        assert!(close(
            s.lr_at(t),
            0.05 * 0.9f64.powf(f64::from(t / 7)),
            1e-14
        ));
        assert!(close(s.lr_at(t), lr, 1e-13), "t={t}");
    }
    assert_eq!(StepLr::new(0.1, 10, 0.1).unwrap().lr_at(9), 0.1);
    assert!(close(
        StepLr::new(0.1, 10, 0.1).unwrap().lr_at(10),
        0.01,
        1e-15
    ));
}

#[test]
fn exponential_lr_matches_the_closed_form_and_torch_recursion() {
    let s = ExponentialLr::new(0.01, 0.95).unwrap();
    let mut lr = 0.01;
    for t in 0..1000u32 {
        if t > 0 {
            lr *= 0.95;
        }
        assert!(
            close(s.lr_at(t), 0.01 * 0.95f64.powf(f64::from(t)), 1e-14),
            "t={t}"
        );
        assert!(close(s.lr_at(t), lr, 1e-12), "t={t}");
    }
    // gamma < 1 underflows to 0 eventually, harmlessly.
    assert_eq!(s.lr_at(u32::MAX), 0.0);
}

#[test]
fn cosine_annealing_lr_matches_torch_closed_form_and_recursion() {
    for (base, eta_min, t_max) in [(0.1, 0.0, 10u32), (0.05, 0.001, 7), (1.0, 0.5, 1)] {
        let s = CosineAnnealingLr::new(base, t_max, eta_min).unwrap();
        let pi = std::f64::consts::PI;
        let tm = f64::from(t_max);
        // torch's CosineAnnealingLR.get_lr, for scheduler.step() without an epoch argument.
        let mut lr = base;
        for t in 0..5 * t_max {
            let tf = f64::from(t);
            if t == 0 {
                lr = base;
            } else if (t as i64 - 1 - t_max as i64).rem_euclid(2 * t_max as i64) == 0 {
                lr += (base - eta_min) * (1.0 - (pi / tm).cos()) / 2.0;
            } else {
                lr = (1.0 + (pi * tf / tm).cos()) / (1.0 + (pi * (tf - 1.0) / tm).cos())
                    * (lr - eta_min)
                    + eta_min;
            }
            let closed = eta_min + (base - eta_min) * (1.0 + (pi * tf / tm).cos()) / 2.0;
            assert!((s.lr_at(t) - closed).abs() <= 1e-15 * base, "t={t}");
            assert!(
                (s.lr_at(t) - lr).abs() <= 1e-12 * base,
                "t={t}: {} {lr}",
                s.lr_at(t)
            );
        }
        assert_eq!(s.lr_at(0), base);
        assert!((s.lr_at(t_max) - eta_min).abs() <= 1e-15);
        assert!((s.lr_at(2 * t_max) - base).abs() <= 1e-15);
    }
}

#[test]
fn linear_lr_matches_the_closed_form_and_torch_recursion() {
    for (base, start, end, total) in [
        (0.1, 1.0 / 3.0, 1.0, 5u32),
        (0.02, 0.5, 0.1, 8),
        (1.0, 1.0, 0.0, 1),
    ] {
        let s = LinearLr::new(base, start, end, total).unwrap();
        let mut lr = base;
        for t in 0..3 * total + 3 {
            // torch's LinearLR.get_lr.
            if t == 0 {
                lr *= start;
            } else if t <= total {
                lr *= 1.0
                    + (end - start) / (f64::from(total) * start + f64::from(t - 1) * (end - start));
            }
            let closed =
                base * (start + (end - start) * f64::from(t.min(total)) / f64::from(total));
            assert!(close(s.lr_at(t), closed, 1e-15), "t={t}");
            assert!((s.lr_at(t) - lr).abs() <= 1e-13 * base, "t={t}");
        }
        assert!(close(s.lr_at(total), base * end, 1e-15));
        assert!(close(s.lr_at(u32::MAX), base * end, 1e-15));
    }
}

#[test]
fn sequential_lr_runs_the_warmup_then_restarts_the_second_schedule_at_the_milestone() {
    let warm = LinearLr::new(0.1, 0.25, 1.0, 4).unwrap();
    let decay = StepLr::new(0.1, 2, 0.5).unwrap();
    let s = SequentialLr::new(warm, decay, 4);
    let expected = [
        0.025, 0.04375, 0.0625, 0.08125, // warmup: 0.1·(0.25 + 0.75·t/4)
        0.1, 0.1, 0.05, 0.05, 0.025, // StepLR from its own t = 0
    ];
    for (t, e) in expected.into_iter().enumerate() {
        assert!(close(s.lr_at(t as u32), e, 1e-15), "t={t}");
    }
    let only_second = SequentialLr::new(warm, decay, 0);
    assert_eq!(only_second.lr_at(3), decay.lr_at(3));
    assert_eq!(s.lr_at(u32::MAX), decay.lr_at(u32::MAX - 4));
}

#[test]
fn schedules_reject_invalid_hyperparameters_by_name() {
    fn name<T: std::fmt::Debug>(r: Result<T, TrainError>) -> &'static str {
        match r {
            Err(TrainError::InvalidHyperparameter { name, .. }) => name,
            other => panic!("expected an invalid hyperparameter, got {other:?}"),
        }
    }
    for gamma in [0.0, -0.5, f64::NAN, f64::INFINITY] {
        assert_eq!(name(StepLr::new(0.1, 1, gamma)), "gamma");
        assert_eq!(name(ExponentialLr::new(0.1, gamma)), "gamma");
    }
    assert_eq!(name(StepLr::new(0.1, 0, 0.5)), "step_size");
    for lr in [-0.1, f64::NAN, f64::INFINITY] {
        assert_eq!(name(StepLr::new(lr, 1, 0.5)), "base_lr");
        assert_eq!(name(ExponentialLr::new(lr, 0.5)), "base_lr");
        assert_eq!(name(CosineAnnealingLr::new(lr, 5, 0.0)), "base_lr");
        assert_eq!(name(LinearLr::new(lr, 0.5, 1.0, 5)), "base_lr");
    }
    assert_eq!(name(CosineAnnealingLr::new(0.1, 0, 0.0)), "T_max");
    assert_eq!(name(CosineAnnealingLr::new(0.1, 5, -1e-3)), "eta_min");
    for f in [0.0, -0.1, 1.5, f64::NAN] {
        assert_eq!(name(LinearLr::new(0.1, f, 1.0, 5)), "start_factor");
    }
    for f in [-0.1, 1.1, f64::NAN] {
        assert_eq!(name(LinearLr::new(0.1, 0.5, f, 5)), "end_factor");
    }
    assert_eq!(name(LinearLr::new(0.1, 0.5, 1.0, 0)), "total_iters");
    assert!(LinearLr::new(0.1, 1.0, 0.0, 1).is_ok());
}

#[test]
fn schedules_can_be_built_and_checked_in_const_context() {
    const S: Scheduler<StepLr> = match StepLr::new(0.1, 5, 0.5) {
        Ok(s) => Scheduler::new(s),
        Err(_) => panic!("invalid"),
    };
    static COSINE: Result<CosineAnnealingLr, TrainError> = CosineAnnealingLr::new(0.1, 0, 0.0);
    assert!(COSINE.is_err());
    assert_eq!(S.epoch(), 0);
    assert_eq!(S.lr(), 0.1);
}

#[test]
fn scheduler_step_advances_the_count_and_returns_lr_at_the_new_count() {
    let s = ExponentialLr::new(0.1, 0.9).unwrap();
    let mut sched = Scheduler::new(s);
    assert_eq!(sched.lr(), 0.1);
    for t in 1..=20 {
        assert_eq!(sched.step(), Ok(s.lr_at(t)));
        assert_eq!(sched.epoch(), t);
        assert_eq!(sched.lr(), s.lr_at(t));
    }
    let mut last = Scheduler::at(s, u32::MAX);
    assert_eq!(last.step(), Err(TrainError::CounterOverflow));
    assert_eq!(last.epoch(), u32::MAX);
}

#[test]
fn scheduler_sets_the_optimizers_learning_rate() {
    let mut opt = Adam::<f32, 3>::new(AdamConfig::adam(1.0)).unwrap();
    let s = CosineAnnealingLr::new(1e-2, 10, 1e-4).unwrap();
    let mut sched = Scheduler::new(s);
    assert_eq!(sched.apply(&mut opt), Ok(1e-2));
    assert_eq!(opt.config().lr, 1e-2);
    let mut params = [1.0f32, 2.0, 3.0];
    for t in 1..=10 {
        opt.step(&mut params, &[0.1, -0.1, 0.2]).unwrap();
        assert_eq!(sched.step_apply(&mut opt), Ok(s.lr_at(t)));
        assert_eq!(opt.config().lr, s.lr_at(t));
    }
    assert!((opt.config().lr - 1e-4).abs() < 1e-15);
}

#[test]
fn scheduler_step_apply_changes_nothing_when_the_optimizer_refuses_the_rate() {
    // gamma = 1e200: lr_at(2) = 1e400 = inf, which the optimizer rejects.
    let mut opt = Sgd::<f64, 1>::new(SgdConfig::new(1.0)).unwrap();
    let mut sched = Scheduler::new(ExponentialLr::new(1.0, 1e200).unwrap());
    assert_eq!(sched.step_apply(&mut opt), Ok(1e200));
    let err = sched.step_apply(&mut opt).unwrap_err();
    assert!(matches!(
        err,
        edgetune::Error::InvalidHyperparameter { name: "lr", .. }
    ));
    assert_eq!(sched.epoch(), 1);
    assert_eq!(opt.config().lr, 1e200);
    let mut at_max = Scheduler::at(ExponentialLr::new(1.0, 0.5).unwrap(), u32::MAX);
    assert_eq!(
        at_max.step_apply(&mut opt),
        Err(edgetune::Error::Train(TrainError::CounterOverflow))
    );
    assert_eq!(opt.config().lr, 1e200);
}

#[test]
fn schedule_sizes_match_the_documented_layout() {
    assert_eq!(size_of::<StepLr>(), 24);
    assert_eq!(size_of::<ExponentialLr>(), 16);
    assert_eq!(size_of::<CosineAnnealingLr>(), 24);
    assert_eq!(size_of::<LinearLr>(), 32);
    assert_eq!(size_of::<Scheduler<StepLr>>(), 32);
    assert_eq!(size_of::<Scheduler<ExponentialLr>>(), 24);
    assert_eq!(size_of::<SequentialLr<LinearLr, CosineAnnealingLr>>(), 64);
}

// ---------------------------------------------------------------- generator

#[test]
fn pcg32_reproduces_the_reference_implementations_published_output() {
    // pcg32-demo of the PCG reference C library: pcg32_srandom_r(&rng, 42u, 54u).
    let mut rng = Pcg32::new(42, 54);
    let expected = [
        0xa15c02b7u32,
        0x7b47f409,
        0xba1d3330,
        0x83d2f293,
        0xbfa4784b,
        0xcbed606e,
    ];
    for e in expected {
        assert_eq!(rng.next_u32(), e);
    }
    assert_eq!(size_of::<Pcg32>(), 16);
}

#[test]
fn pcg32_below_is_uniform_and_in_range() {
    let mut rng = Pcg32::seeded(1);
    let mut counts = [0u32; 6];
    let draws = 60_000;
    for _ in 0..draws {
        let k = rng.below(6);
        counts[k as usize] += 1;
    }
    // Chi-square with 5 degrees of freedom: 25 is far beyond the 0.1 % tail (20.5).
    let e = f64::from(draws) / 6.0;
    let chi2: f64 = counts.iter().map(|&c| (f64::from(c) - e).powi(2) / e).sum();
    assert!(chi2 < 25.0, "{counts:?}");
    assert_eq!(rng.below(0), 0);
    assert_eq!(rng.below(1), 0);
    for _ in 0..1000 {
        assert!(rng.below_u64(1 << 40) < 1 << 40);
        assert!(rng.below_u64(3) < 3);
    }
}

// ---------------------------------------------------------------- sample buffer

#[test]
fn recent_buffer_keeps_the_last_cap_samples_in_order_like_a_deque() {
    let mut buf = SampleBuffer::<u32, 5>::new(Policy::Recent, 0);
    let mut model: VecDeque<u32> = VecDeque::new();
    for x in 0..23u32 {
        let pushed = buf.push(x);
        let expected = if model.len() == 5 {
            Pushed::Replaced(model.pop_front().unwrap())
        } else {
            Pushed::Stored
        };
        model.push_back(x);
        assert_eq!(pushed, expected);
        assert_eq!(buf.len(), model.len());
        assert!(buf.iter().copied().eq(model.iter().copied()));
        for i in 0..6 {
            assert_eq!(buf.get(i), model.get(i));
        }
    }
    assert_eq!(buf.seen(), 23);
    assert!(buf.is_full());
    buf.clear();
    assert!(buf.is_empty() && buf.seen() == 0 && buf.iter().next().is_none());
}

#[test]
fn reservoir_buffer_follows_algorithm_r() {
    // Algorithm R written plainly, with a generator of the same seed.
    let mut buf = SampleBuffer::<u16, 8>::new(Policy::Reservoir, 99);
    let mut rng = Pcg32::seeded(99);
    let mut model: Vec<u16> = Vec::new();
    for x in 0..500u16 {
        let n = u64::from(x) + 1;
        let expected = if model.len() < 8 {
            model.push(x);
            Pushed::Stored
        } else {
            let j = rng.below_u64(n) as usize;
            if j < 8 {
                Pushed::Replaced(std::mem::replace(&mut model[j], x))
            } else {
                Pushed::Discarded
            }
        };
        assert_eq!(buf.push(x), expected);
        assert_eq!(buf.as_slice(), &model[..]);
    }
    assert_eq!(buf.seen(), 500);
}

#[test]
fn reservoir_keeps_every_sample_with_equal_probability() {
    // 50 samples into 5 slots: each is kept with probability 1/10, whatever its age.
    let runs = 4000;
    let mut kept = [0u32; 50];
    for seed in 0..runs {
        let mut buf = SampleBuffer::<u8, 5>::new(Policy::Reservoir, seed);
        for x in 0..50u8 {
            buf.push(x);
        }
        for &x in buf.iter() {
            kept[x as usize] += 1;
        }
    }
    // Expected 400 each, standard deviation 19: 5 sigma = 95. (A "keep the last 5" buffer would
    // give 0 for samples 0..45.)
    for (x, &k) in kept.iter().enumerate() {
        assert!((305..=495).contains(&k), "sample {x} kept {k} times");
    }
}

#[test]
fn draw_batch_gives_distinct_indices_in_range_with_uniform_subsets() {
    let mut buf = SampleBuffer::<f32, 8>::new(Policy::Recent, 3);
    for x in 0..5 {
        buf.push(x as f32);
    }
    let mut counts = std::collections::HashMap::new();
    let draws = 20_000;
    for _ in 0..draws {
        let mut b = [0usize; 2];
        buf.draw_batch(&mut b).unwrap();
        assert!(b[0] < 5 && b[1] < 5 && b[0] != b[1]);
        *counts
            .entry((b[0].min(b[1]), b[0].max(b[1])))
            .or_insert(0u32) += 1;
    }
    // C(5, 2) = 10 subsets, 2000 each expected, sigma 42: 6 sigma = 255.
    assert_eq!(counts.len(), 10);
    for (pair, &c) in &counts {
        assert!((1745..=2255).contains(&c), "{pair:?}: {c}");
    }
    // A batch of the whole buffer is a permutation.
    let mut all = [0usize; 5];
    buf.draw_batch(&mut all).unwrap();
    all.sort_unstable();
    assert_eq!(all, [0, 1, 2, 3, 4]);
    buf.draw_batch(&mut []).unwrap();
}

#[test]
fn draw_batch_larger_than_the_buffer_is_an_error_and_changes_nothing() {
    let mut buf = SampleBuffer::<f32, 8>::new(Policy::Recent, 3);
    buf.push(1.0);
    buf.push(2.0);
    let before = buf.clone();
    let mut out = [7usize; 3];
    assert_eq!(
        buf.draw_batch(&mut out),
        Err(TrainError::BatchTooLarge {
            requested: 3,
            available: 2
        })
    );
    assert_eq!(out, [7; 3]);
    // The generator did not advance: the next draws equal those of the untouched copy.
    let (mut a, mut b) = (buf, before);
    assert_eq!(a.rng_mut().next_u32(), b.rng_mut().next_u32());
}

#[test]
fn sample_buffer_size_matches_the_documented_layout() {
    let w = size_of::<usize>();
    let round8 = |n: usize| n.next_multiple_of(8);
    // [f32; 4] × 64: storage 1024 + len, then seen 8, Pcg32 16, next, policy 1.
    let vec = (64 * 16 + w).next_multiple_of(w);
    assert_eq!(
        size_of::<SampleBuffer<[f32; 4], 64>>(),
        round8(vec + 8 + 16 + w + 1)
    );
    #[cfg(target_pointer_width = "64")]
    assert_eq!(size_of::<SampleBuffer<[f32; 4], 64>>(), 1072);
    #[cfg(target_pointer_width = "32")]
    assert_eq!(size_of::<SampleBuffer<[f32; 4], 64>>(), 1064);
    // u8 × 7: storage 7 + len, padded to usize.
    let vec = (7 + w).next_multiple_of(w);
    assert_eq!(
        size_of::<SampleBuffer<u8, 7>>(),
        round8(vec + 8 + 16 + w + 1)
    );
    // f64 × 10.
    assert_eq!(
        size_of::<SampleBuffer<f64, 10>>(),
        round8(80 + 8 + 8 + 16 + w + 1)
    );
}

// ---------------------------------------------------------------- accumulation

#[test]
fn grad_accumulator_finish_gives_the_mean_within_two_roundings() {
    for count in [2u32, 3, 4, 7, 10, 64] {
        let per_sample: Vec<Vec<f64>> = (0..count)
            .map(|i| values(6, u64::from(i) + 100, 2.0))
            .collect();
        let mut grads = [0.0f32; 6];
        let mut acc = GradAccumulator::new();
        acc.reset(&mut grads);
        for g in &per_sample {
            for (a, x) in grads.iter_mut().zip(g) {
                *a += *x as f32;
            }
            acc.add_sample().unwrap();
        }
        let sums = grads;
        assert_eq!(acc.finish(&mut grads), Ok(count));
        assert_eq!(acc.count(), 0);
        for (got, sum) in grads.iter().zip(sums) {
            let exact = f64::from(sum) / f64::from(count);
            // Two roundings (1/count, then the product): relative error at most 2·2⁻²⁴.
            assert!(
                (f64::from(*got) - exact).abs() <= exact.abs() * 2f64.powi(-23),
                "count={count}"
            );
            if count.is_power_of_two() {
                assert_eq!(*got, sum / count as f32);
            }
        }
    }
}

#[test]
fn grad_accumulator_with_zero_samples_is_an_error_and_changes_nothing() {
    let mut grads = [1.0f32, 2.0];
    let mut acc = GradAccumulator::new();
    assert_eq!(acc.finish(&mut grads), Err(TrainError::NothingAccumulated));
    assert_eq!(grads, [1.0, 2.0]);
    acc.add_sample().unwrap();
    assert_eq!(acc.finish(&mut grads), Ok(1));
    assert_eq!(grads, [1.0, 2.0]);
    assert_eq!(acc.finish(&mut grads), Err(TrainError::NothingAccumulated));
}

#[test]
fn grad_accumulator_finish_parts_scales_every_slice_and_counts_do_not_overflow() {
    let mut a = [3.0f64, 6.0];
    let mut b = [9.0f64];
    let mut acc = GradAccumulator::new();
    assert_eq!(acc.add_samples(3), Ok(3));
    assert_eq!(acc.finish_parts(&mut [&mut a[..], &mut b[..]]), Ok(3));
    assert_eq!(
        (a, b),
        ([3.0 * (1.0 / 3.0), 6.0 * (1.0 / 3.0)], [9.0 * (1.0 / 3.0)])
    );
    acc.add_samples(u32::MAX).unwrap();
    assert_eq!(acc.add_sample(), Err(TrainError::CounterOverflow));
    assert_eq!(acc.count(), u32::MAX);
    let mut g = [5.0f32; 3];
    acc.reset(&mut g);
    assert_eq!((g, acc.count()), ([0.0; 3], 0));
    assert_eq!(size_of::<GradAccumulator>(), 4);
}
