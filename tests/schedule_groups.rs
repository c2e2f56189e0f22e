//! Schedules over parameter groups (torch's per-group `initial_lr`) and composed with the
//! divergence guard's lowered rate.
//!
//! Expected rates are torch's closed forms written out here: `StepLR` gives group `g`
//! `initial_lr_g · γ^⌊t/step_size⌋`, `CosineAnnealingLR` gives
//! `eta_min + (initial_lr_g − eta_min)·(1 + cos(πt/T_max))/2`, each group from its own `initial_lr`
//! (torch/optim/lr_scheduler.py, `_get_closed_form_lr`, which maps over `self.base_lrs`, one per group).

use edgetune::optim::{Optimizer, ParamGroup, Sgd, SgdConfig};
use edgetune::train::{
    base_lrs, CosineAnnealingLr, DivergenceGuard, GuardConfig, Scheduler, StepLr, TrainError,
    Verdict,
};
use edgetune::Error;

fn two_groups() -> [ParamGroup<SgdConfig>; 2] {
    [
        ParamGroup::new(0..2, SgdConfig::new(0.1)),
        ParamGroup::new(2..4, SgdConfig::new(0.01)),
    ]
}

#[test]
fn step_lr_over_two_groups_scales_each_groups_own_base_rate_like_torch() {
    let mut groups = two_groups();
    let bases = base_lrs(&groups);
    assert_eq!(bases, [0.1, 0.01]);
    // StepLR(step_size=2, gamma=0.5). The schedule's own base rate (1.0 here) plays no part: torch
    // takes each group's initial_lr.
    let mut sched = Scheduler::new(StepLr::new(1.0, 2, 0.5).unwrap());
    sched.apply_groups(&mut groups, &bases, 1.0).unwrap();
    // torch: [[0.1·0.5^⌊t/2⌋, 0.01·0.5^⌊t/2⌋] for t in 0..7]; multiplying by a power of 2 is
    // exact, so the rates are compared bit for bit.
    let expected = [
        [0.1, 0.01],
        [0.1, 0.01],
        [0.05, 0.005],
        [0.05, 0.005],
        [0.025, 0.0025],
        [0.025, 0.0025],
        [0.0125, 0.00125],
    ];
    let mut opt = Sgd::<f64, 4>::new(SgdConfig::new(1.0)).unwrap();
    let mut p: [f64; 4];
    let g = [1.0f64; 4];
    for (t, lrs) in expected.iter().enumerate() {
        assert_eq!(
            [groups[0].config.lr, groups[1].config.lr],
            [lrs[0], lrs[1]],
            "t = {t}"
        );
        // And the step uses them: from 0 with gradient 1, SGD moves each element by exactly its
        // group's rate (0 − lr·1 is exact), so group 0 moves 10 times as far as group 1.
        p = [0.0; 4];
        opt.step_groups(&mut p, &g, &groups).unwrap();
        assert_eq!(p, [-lrs[0], -lrs[0], -lrs[1], -lrs[1]]);
        if t + 1 < expected.len() {
            sched.step_apply_groups(&mut groups, &bases, 1.0).unwrap();
        }
    }
    assert_eq!(sched.epoch(), 6);
}

#[test]
fn cosine_over_two_groups_anneals_each_base_rate_to_the_shared_eta_min() {
    let mut groups = two_groups();
    let bases = base_lrs(&groups);
    let (t_max, eta_min) = (8u32, 0.001);
    let mut sched = Scheduler::new(CosineAnnealingLr::new(0.5, t_max, eta_min).unwrap());
    for t in 0..=t_max {
        if t > 0 {
            sched.step_apply_groups(&mut groups, &bases, 1.0).unwrap();
        } else {
            sched.apply_groups(&mut groups, &bases, 1.0).unwrap();
        }
        for (group, base) in groups.iter().zip(bases) {
            let cos = (core::f64::consts::PI * f64::from(t) / f64::from(t_max)).cos();
            let torch = eta_min + (base - eta_min) * (1.0 + cos) / 2.0;
            // Same formula, same order of operations up to the cosine's rounding: 1e-15 relative
            // is a few ulps of rates near 0.1.
            assert!(
                (group.config.lr - torch).abs() <= 1e-15 * torch,
                "t {t}: {} vs {torch}",
                group.config.lr
            );
        }
    }
    // At T_max both groups reach eta_min (the shared floor), not a fixed fraction of their bases.
    assert!((groups[0].config.lr - eta_min).abs() < 1e-17);
    assert!((groups[1].config.lr - eta_min).abs() < 1e-17);
}

#[test]
fn a_guard_reduction_survives_every_later_schedule_step() {
    let mut opt = Sgd::<f32, 1>::new(SgdConfig::new(0.1)).unwrap();
    let mut guard = DivergenceGuard::<f32, 1, _, 2>::new(GuardConfig::new()).unwrap();
    let mut sched = Scheduler::new(StepLr::new(0.1, 2, 0.5).unwrap());
    sched.apply_scaled(&mut opt, guard.lr_scale()).unwrap();
    assert_eq!(opt.config().lr, 0.1);
    // The guard sees a NaN loss before any snapshot: it lowers the rate by lr_factor 0.5.
    let mut p = [1.0f32];
    assert!(matches!(
        guard.observe(f64::NAN, &mut p, &mut opt).unwrap(),
        Verdict::Diverged(_)
    ));
    assert_eq!((opt.config().lr, guard.lr_scale()), (0.05, 0.5));
    // Every later schedule step keeps the factor: StepLR's 0.1·0.5^⌊t/2⌋, times 0.5.
    for (t, expected) in [(1, 0.05), (2, 0.025), (3, 0.025), (4, 0.0125)] {
        let lr = sched.step_apply_scaled(&mut opt, guard.lr_scale()).unwrap();
        assert_eq!(
            (sched.epoch(), lr, opt.config().lr),
            (t, expected, expected)
        );
    }
    // A second reduction compounds.
    guard.lower_lr(&mut opt).unwrap();
    assert_eq!(guard.lr_scale(), 0.25);
    let lr = sched.step_apply_scaled(&mut opt, guard.lr_scale()).unwrap();
    // t = 5: StepLR's γ^⌊5/2⌋ = 0.25, times the scale 0.25.
    assert_eq!(lr, 0.1 * 0.25 * 0.25);
    // For contrast, the unscaled step_apply sets the bare schedule rate (t = 6: 0.1·0.5^3), which
    // is how a schedule used to undo the guard.
    assert_eq!(sched.step_apply(&mut opt).unwrap(), 0.0125);
    assert_eq!(opt.config().lr, 0.0125);
}

#[test]
fn a_guard_reduction_applies_to_every_group() {
    let mut groups = two_groups();
    let bases = base_lrs(&groups);
    let mut sched = Scheduler::new(StepLr::new(1.0, 1, 0.5).unwrap());
    let scale = 0.5; // a guard after one reduction at lr_factor 0.5
    sched.step_apply_groups(&mut groups, &bases, scale).unwrap();
    assert_eq!(
        [groups[0].config.lr, groups[1].config.lr],
        [0.1 * 0.5 * 0.5, 0.01 * 0.5 * 0.5]
    );
}

#[test]
fn group_scheduling_changes_nothing_on_any_error() {
    let mut groups = two_groups();
    let bases = base_lrs(&groups);
    let before = groups.clone();
    let mut sched = Scheduler::new(StepLr::new(1.0, 1, 0.5).unwrap());
    // One base rate for two groups.
    assert_eq!(
        sched.step_apply_groups(&mut groups, &bases[..1], 1.0),
        Err(Error::LengthMismatch {
            expected: 2,
            found: 1
        })
    );
    // A negative scale makes a rate no SGD accepts: the first group's error, no group changed.
    assert_eq!(
        sched.step_apply_groups(&mut groups, &bases, -1.0),
        Err(Error::InvalidHyperparameter {
            name: "lr",
            requirement: "finite and >= 0"
        })
    );
    // Only the second group's rate is invalid: the first is not written either.
    assert!(sched
        .apply_groups(&mut groups, &[0.1, f64::NAN], 1.0)
        .is_err());
    assert_eq!(groups, before);
    assert_eq!(sched.epoch(), 0);
    let mut at_max = Scheduler::at(StepLr::new(1.0, 1, 0.5).unwrap(), u32::MAX);
    assert_eq!(
        at_max.step_apply_groups(&mut groups, &bases, 1.0),
        Err(Error::Train(TrainError::CounterOverflow))
    );
    assert_eq!(groups, before);
}
