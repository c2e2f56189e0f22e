//! Adam's compile-time forms (`PlainAdam`, `PlainAdamW`, their compact twins and a compact form
//! with run-time flags): for every configuration a form
//! accepts, its steps give bit for bit the parameters, moments, step count and rounding
//! generator of the run-time form (`AnyAdam`), over several steps, for f32, f64, I16F16 and
//! I8F24, with and without AMSGrad, rounding to nearest and stochastically, on both the fast and
//! the general fixed-point paths and both of torch's lerp roundings; whole steps, parameter
//! groups and fused part steps alike. A configuration with other flags is rejected with nothing
//! changed.

use edgetune::num::fixed::{RoundingState, I16F16, I8F24};
use edgetune::num::Scalar;
use edgetune::optim::*;
use edgetune::Error;

const N: usize = 29;
const STEPS: u32 = 6;

/// Deterministic, varied gradients (signs, magnitudes over several octaves, a zero).
fn grads<S: Scalar>(step: u32) -> [S; N] {
    core::array::from_fn(|i| {
        let k = (i as u32 * 7 + step * 13) % 17;
        let mag = 0.03 * f64::from(k) * (1.0 + f64::from(step % 3));
        S::from_f64(if (i + step as usize).is_multiple_of(2) {
            mag
        } else {
            -mag
        })
    })
}

fn params<S: Scalar>() -> [S; N] {
    core::array::from_fn(|i| S::from_f64((i as f64 - 14.0) / 10.0))
}

/// A short, readable rendering of every bit of the optimizer's observable state.
fn state<S: AdamNum, const M: usize, A: Slot, K: AdamForm>(
    opt: &Adam<S, M, A, K>,
    p: &[S; M],
) -> String
where
    S::Aux: core::fmt::Debug,
{
    format!(
        "{:?} {:?} {:?} {:?} {:?} {:?}",
        p,
        opt.exp_avg(),
        opt.exp_avg_sq(),
        opt.max_exp_avg_sq(),
        opt.step_count(),
        opt.aux()
    )
}

/// Steps `K` and `AnyAdam` side by side from `aux` and compares every bit after each step.
fn same_bits<S, A, K>(cfg: AdamConfig, aux: Option<S::Aux>)
where
    S: AdamNum + Scalar + core::fmt::Debug,
    S::Aux: core::fmt::Debug + Copy,
    A: Slot,
    K: AdamForm,
{
    let mut fixed = Adam::<S, N, A, K>::new(cfg).expect("the form accepts cfg");
    let mut any = Adam::<S, N, A, AnyAdam>::new(cfg).unwrap();
    if let Some(a) = aux {
        *fixed.aux_mut() = a;
        *any.aux_mut() = a;
    }
    let (mut pf, mut pa) = (params::<S>(), params::<S>());
    for t in 0..STEPS {
        let g = grads::<S>(t);
        fixed.step(&mut pf, &g).unwrap();
        any.step(&mut pa, &g).unwrap();
        assert_eq!(state(&fixed, &pf), state(&any, &pa), "{cfg:?} step {t}");
    }
    // Parameter groups (two configurations of the form) and fused part steps.
    let other = AdamConfig {
        lr: cfg.lr * 0.5,
        ..cfg
    };
    let groups = [ParamGroup::new(0..11, cfg), ParamGroup::new(11..N, other)];
    for t in 0..2 {
        let g = grads::<S>(t + 100);
        fixed.step_groups(&mut pf, &g, &groups).unwrap();
        any.step_groups(&mut pa, &g, &groups).unwrap();
        assert_eq!(state(&fixed, &pf), state(&any, &pa), "{cfg:?} groups {t}");
    }
    let g = grads::<S>(200);
    let mut part = fixed.begin_parts().unwrap();
    fixed
        .step_part(&mut part, 13..N, &mut pf[13..], &g[13..])
        .unwrap();
    fixed
        .step_part(&mut part, 0..13, &mut pf[..13], &g[..13])
        .unwrap();
    fixed.end_parts(part);
    any.step(&mut pa, &g).unwrap();
    assert_eq!(state(&fixed, &pf), state(&any, &pa), "{cfg:?} parts");
}

/// Every number type and AMSGrad setting, with the rounding modes of each.
fn all_types<K: AdamForm>(cfg: AdamConfig) {
    same_bits::<f32, Off, K>(cfg, None);
    same_bits::<f32, On, K>(cfg, None);
    same_bits::<f64, Off, K>(cfg, None);
    same_bits::<f64, On, K>(cfg, None);
    for aux in [
        RoundingState::nearest(),
        RoundingState::stochastic(1),
        RoundingState::stochastic(0xDEAD_BEEF),
    ] {
        same_bits::<I16F16, Off, K>(cfg, Some(aux));
        same_bits::<I16F16, On, K>(cfg, Some(aux));
        same_bits::<I8F24, Off, K>(cfg, Some(aux));
        same_bits::<I8F24, On, K>(cfg, Some(aux));
    }
}

#[test]
fn plain_adam_matches_the_run_time_form_bit_for_bit() {
    // torch's defaults; β1 ≤ 0.5 (torch's other lerp rounding); 1 − β2 below the fixed-point
    // fast range (general fixed-point kernel); β1 = 0.
    for (lr, b1, b2, eps) in [
        (1e-3, 0.9, 0.999, 1e-8),
        (3e-2, 0.3, 0.99, 1e-6),
        (1e-2, 0.8, 1.0 - 2f64.powi(-18), 1e-8),
        (5e-3, 0.0, 0.9, 1e-3),
    ] {
        let cfg = AdamConfig {
            beta1: b1,
            beta2: b2,
            eps,
            ..AdamConfig::adam(lr)
        };
        all_types::<PlainAdam>(cfg);
        all_types::<CompactAdam>(cfg);
    }
}

#[test]
fn plain_adamw_matches_the_run_time_form_bit_for_bit() {
    for (lr, wd, b1) in [(1e-3, 1e-2, 0.9), (2e-2, 0.5, 0.4), (1e-2, 1e-9, 0.9)] {
        let cfg = AdamConfig {
            weight_decay: wd,
            beta1: b1,
            ..AdamConfig::adamw(lr)
        };
        all_types::<PlainAdamW>(cfg);
        all_types::<CompactAdamW>(cfg);
    }
}

/// A compact form that leaves every flag to run time: the one scalar loop's gradient
/// expressions are the other loops' (L2 in either lerp rounding, maximize, decoupled decay).
#[derive(Clone, Copy, Debug)]
struct CompactAny;

impl AdamForm for CompactAny {
    const FIXED: Option<AdamFlags> = None;
    const COMPACT: bool = true;
}

#[test]
fn a_compact_form_with_run_time_flags_matches_every_configuration() {
    for maximize in [false, true] {
        for (wd, decoupled) in [(0.0, false), (0.05, false), (0.05, true)] {
            for b1 in [0.9, 0.3] {
                let cfg = AdamConfig {
                    maximize,
                    weight_decay: wd,
                    decoupled_weight_decay: decoupled,
                    beta1: b1,
                    ..AdamConfig::adam(2e-2)
                };
                same_bits::<f32, Off, CompactAny>(cfg, None);
                same_bits::<f32, On, CompactAny>(cfg, None);
                same_bits::<f64, Off, CompactAny>(cfg, None);
                same_bits::<f64, On, CompactAny>(cfg, None);
            }
        }
    }
}

/// A step the overflow check refuses is refused alike, at the same index, nothing changed.
#[test]
fn a_compact_form_refuses_an_overflowing_step_as_the_run_time_form_does() {
    let cfg = AdamConfig {
        eps: 1e-30,
        ..AdamConfig::adam(1e30)
    };
    let mut compact = Adam::<f32, N, Off, CompactAdam>::new(cfg).unwrap();
    let mut any = Adam::<f32, N>::new(cfg).unwrap();
    let mut g = grads::<f32>(0);
    g[17] = 3e38;
    let (mut pc, mut pa) = (params::<f32>(), params::<f32>());
    let before = state(&compact, &pc);
    let ec = compact.step(&mut pc, &g).unwrap_err();
    let ea = any.step(&mut pa, &g).unwrap_err();
    assert_eq!(format!("{ec:?}"), format!("{ea:?}"));
    assert!(matches!(ec, Error::StepOverflow { .. }), "{ec:?}");
    assert_eq!(state(&compact, &pc), before);
}

fn rejected<K: AdamForm>(cfg: AdamConfig, name: &str) {
    let e = Adam::<f32, N, Off, K>::new(cfg).unwrap_err();
    assert!(
        matches!(e, Error::InvalidHyperparameter { name: n, .. } if n == name),
        "{cfg:?}: {e:?}"
    );
}

#[test]
fn other_flags_are_rejected_and_change_nothing() {
    let adam = AdamConfig::adam(1e-3);
    rejected::<PlainAdam>(
        AdamConfig {
            maximize: true,
            ..adam
        },
        "maximize",
    );
    rejected::<PlainAdam>(
        AdamConfig {
            weight_decay: 1e-2,
            ..adam
        },
        "weight_decay",
    );
    rejected::<PlainAdam>(AdamConfig::adamw(1e-3), "weight_decay");
    rejected::<CompactAdam>(AdamConfig::adamw(1e-3), "weight_decay");
    rejected::<CompactAdamW>(adam, "weight_decay");
    let adamw = AdamConfig::adamw(1e-3);
    rejected::<PlainAdamW>(adam, "weight_decay");
    rejected::<PlainAdamW>(
        AdamConfig {
            decoupled_weight_decay: false,
            ..adamw
        },
        "weight_decay",
    );
    rejected::<PlainAdamW>(
        AdamConfig {
            maximize: true,
            ..adamw
        },
        "maximize",
    );
    // An invalid hyperparameter is reported as before.
    rejected::<PlainAdam>(AdamConfig { lr: -1.0, ..adam }, "lr");

    // set_config and a step with a group of another form leave everything as it was.
    let mut opt = Adam::<I16F16, N, Off, PlainAdam>::new(adam).unwrap();
    let mut p = params::<I16F16>();
    opt.step(&mut p, &grads(0)).unwrap();
    let before = state(&opt, &p);
    let bad = AdamConfig {
        maximize: true,
        ..adam
    };
    assert!(opt.set_config(bad).is_err());
    assert_eq!(*opt.config(), adam);
    let groups = [ParamGroup::new(0..10, adam), ParamGroup::new(10..N, bad)];
    let e = opt.step_groups(&mut p, &grads(1), &groups).unwrap_err();
    assert!(matches!(
        e,
        Error::InvalidHyperparameter {
            name: "maximize",
            ..
        }
    ));
    assert_eq!(state(&opt, &p), before);
    // The run-time form takes the same groups.
    let mut any = Adam::<I16F16, N>::new(adam).unwrap();
    any.step_groups(&mut params(), &grads(1), &groups).unwrap();
}
