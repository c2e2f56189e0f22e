//! Bad input gets a typed error and changes nothing: non-finite gradients, invalid
//! hyperparameters, bad parameter groups, mismatched lengths.

use edgetune::optim::*;
use edgetune::Error;

const N: usize = 8;

/// A snapshot of everything an optimizer holds, bit for bit (`Debug` prints every field; the
/// parameters are compared by their bits separately).
fn snapshot<O: core::fmt::Debug>(opt: &O, params: &[f32; N]) -> (String, [u32; N]) {
    (format!("{opt:?}"), params.map(f32::to_bits))
}

fn grads(step: usize) -> [f32; N] {
    core::array::from_fn(|i| ((i * 7 + step * 3) % 11) as f32 * 0.1 - 0.5)
}

/// Takes three good steps (so every state buffer holds nonzero values), then a step with a bad
/// gradient at each of several positions, and checks that each failed step changed nothing.
fn non_finite_gradient_changes_nothing<O: Optimizer<f32, N> + core::fmt::Debug>(mut opt: O) {
    let mut params: [f32; N] = core::array::from_fn(|i| i as f32 * 0.25 - 1.0);
    for s in 0..3 {
        opt.step(&mut params, &grads(s)).unwrap();
    }
    let before = snapshot(&opt, &params);
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        for index in [0, 3, N - 1] {
            let mut g = grads(3);
            g[index] = bad;
            assert_eq!(
                opt.step(&mut params, &g),
                Err(Error::NonFiniteGradient { index })
            );
            assert_eq!(snapshot(&opt, &params), before, "{bad} at {index}");
            // The same through groups: the bad element is reported by its arena index.
            let cfg = *opt.config();
            let groups = [ParamGroup::new(0..2, cfg), ParamGroup::new(2..N, cfg)];
            assert_eq!(
                opt.step_groups(&mut params, &g, &groups),
                Err(Error::NonFiniteGradient { index })
            );
            assert_eq!(snapshot(&opt, &params), before);
        }
    }
    assert_eq!(opt.step_count(), 3);
    // A bad element outside every group is never read: the step succeeds.
    let mut g = grads(3);
    g[N - 1] = f32::NAN;
    let cfg = *opt.config();
    opt.step_groups(&mut params, &g, &[ParamGroup::new(0..N - 1, cfg)])
        .unwrap();
    assert_eq!(params[N - 1].to_bits(), before.1[N - 1]);
    assert_eq!(opt.step_count(), 4);
}

#[test]
fn non_finite_gradient_leaves_every_optimizer_unchanged() {
    non_finite_gradient_changes_nothing(Sgd::<f32, N>::new(SgdConfig::new(0.1)).unwrap());
    non_finite_gradient_changes_nothing(
        Momentum::<f32, N>::new(MomentumConfig::nesterov(0.1, 0.9)).unwrap(),
    );
    non_finite_gradient_changes_nothing(Adam::<f32, N>::new(AdamConfig::adamw(0.1)).unwrap());
    non_finite_gradient_changes_nothing(AmsGrad::<f32, N>::new(AdamConfig::adam(0.1)).unwrap());
    let rms = RmsPropConfig {
        momentum: 0.5,
        ..RmsPropConfig::new(0.01)
    };
    non_finite_gradient_changes_nothing(RmsProp::<f32, N, On, On>::new(rms).unwrap());
    non_finite_gradient_changes_nothing(Adagrad::<f32, N>::new(AdagradConfig::new(0.1)).unwrap());
    non_finite_gradient_changes_nothing(Lion::<f32, N>::new(LionConfig::new(0.1)).unwrap());
}

fn bad(name: &'static str) -> impl Fn(Result<(), Error>) {
    move |r| match r {
        Err(Error::InvalidHyperparameter { name: n, .. }) => assert_eq!(n, name),
        other => panic!("expected invalid `{name}`, got {other:?}"),
    }
}

#[test]
fn invalid_hyperparameters_are_typed_errors_at_construction() {
    let adam = AdamConfig::adam(1e-3);
    for (cfg, name) in [
        (AdamConfig { lr: -1e-3, ..adam }, "lr"),
        (
            AdamConfig {
                lr: f64::NAN,
                ..adam
            },
            "lr",
        ),
        (AdamConfig { beta1: 1.0, ..adam }, "betas"),
        (
            AdamConfig {
                beta2: -0.1,
                ..adam
            },
            "betas",
        ),
        (
            AdamConfig {
                beta2: f64::NAN,
                ..adam
            },
            "betas",
        ),
        (AdamConfig { eps: 0.0, ..adam }, "eps"),
        (AdamConfig { eps: -1e-8, ..adam }, "eps"),
        (
            AdamConfig {
                weight_decay: -1.0,
                ..adam
            },
            "weight_decay",
        ),
        (
            AdamConfig {
                weight_decay: f64::INFINITY,
                ..adam
            },
            "weight_decay",
        ),
    ] {
        bad(name)(Adam::<f32, N>::new(cfg).map(drop));
        bad(name)(AmsGrad::<f32, N>::new(cfg).map(drop));
    }
    let m = MomentumConfig::new(0.1, 0.9);
    for (cfg, name) in [
        (
            MomentumConfig {
                momentum: -0.5,
                ..m
            },
            "momentum",
        ),
        (
            MomentumConfig {
                dampening: f64::NAN,
                ..m
            },
            "dampening",
        ),
        (MomentumConfig::nesterov(0.1, 0.0), "nesterov"),
        (
            MomentumConfig {
                dampening: 0.1,
                ..MomentumConfig::nesterov(0.1, 0.9)
            },
            "nesterov",
        ),
    ] {
        bad(name)(Momentum::<f32, N>::new(cfg).map(drop));
    }
    bad("lr")(Sgd::<f32, N>::new(SgdConfig::new(-1.0)).map(drop));
    let r = RmsPropConfig::new(0.01);
    bad("alpha")(RmsProp::<f32, N>::new(RmsPropConfig { alpha: -0.1, ..r }).map(drop));
    bad("eps")(RmsProp::<f32, N>::new(RmsPropConfig { eps: 0.0, ..r }).map(drop));
    // A momentum the type has no buffer for.
    bad("momentum")(RmsProp::<f32, N>::new(RmsPropConfig { momentum: 0.9, ..r }).map(drop));
    assert!(RmsProp::<f32, N, On>::new(RmsPropConfig { momentum: 0.9, ..r }).is_ok());
    // torch accepts alpha > 1 for RMSprop; so does edgetune.
    assert!(RmsProp::<f32, N>::new(RmsPropConfig { alpha: 1.5, ..r }).is_ok());
    let a = AdagradConfig::new(0.01);
    bad("lr_decay")(
        Adagrad::<f32, N>::new(AdagradConfig {
            lr_decay: -1.0,
            ..a
        })
        .map(drop),
    );
    bad("initial_accumulator_value")(
        Adagrad::<f32, N>::new(AdagradConfig {
            initial_accumulator_value: -1.0,
            ..a
        })
        .map(drop),
    );
    let l = LionConfig::new(1e-4);
    bad("betas")(Lion::<f32, N>::new(LionConfig { beta1: 1.0, ..l }).map(drop));
    bad("weight_decay")(
        Lion::<f32, N>::new(LionConfig {
            weight_decay: -1.0,
            ..l
        })
        .map(drop),
    );
}

#[test]
fn invalid_hyperparameters_are_a_compile_time_error_in_const_context() {
    // The same `const fn` validation runs at compile time for statics; here it is evaluated in a
    // const block, so a wrong answer fails the build (as an invalid configuration in a
    // `match ... panic!` static does).
    const {
        assert!(Adam::<f32, 4>::new(AdamConfig::adam(1e-3)).is_ok());
        assert!(Adam::<f32, 4>::new(AdamConfig::adam(-1e-3)).is_err());
    }
}

#[test]
fn set_lr_and_set_config_validate_and_change_nothing_on_error() {
    let mut opt = Adam::<f32, N>::new(AdamConfig::adam(1e-3)).unwrap();
    bad("lr")(opt.set_lr(-0.5));
    bad("betas")(opt.set_config(AdamConfig {
        beta1: 2.0,
        ..AdamConfig::adam(1e-3)
    }));
    assert_eq!(*opt.config(), AdamConfig::adam(1e-3));
    opt.set_lr(0.5).unwrap();
    assert_eq!(opt.config().lr, 0.5);
    let mut rms = RmsProp::<f32, N>::new(RmsPropConfig::new(0.01)).unwrap();
    bad("momentum")(rms.set_config(RmsPropConfig {
        momentum: 0.9,
        ..RmsPropConfig::new(0.01)
    }));
}

#[test]
fn bad_groups_are_errors_and_change_nothing() {
    let mut opt = Adam::<f32, N>::new(AdamConfig::adam(1e-2)).unwrap();
    let mut params = [1.0f32; N];
    opt.step(&mut params, &grads(0)).unwrap();
    let before = snapshot(&opt, &params);
    let c = *opt.config();
    let g = grads(1);
    #[allow(clippy::reversed_empty_ranges)]
    let cases: [(&[ParamGroup<AdamConfig>], Error); 5] = [
        (
            &[ParamGroup::new(0..N + 1, c)],
            Error::GroupOutOfBounds { group: 0 },
        ),
        (
            &[ParamGroup::new(0..2, c), ParamGroup::new(5..3, c)],
            Error::GroupOutOfBounds { group: 1 },
        ),
        (
            &[ParamGroup::new(0..4, c), ParamGroup::new(3..6, c)],
            Error::GroupsOverlap {
                first: 0,
                second: 1,
            },
        ),
        (
            &[
                ParamGroup::new(6..8, c),
                ParamGroup::new(0..2, c),
                ParamGroup::new(1..3, c),
            ],
            Error::GroupsOverlap {
                first: 1,
                second: 2,
            },
        ),
        (
            &[
                ParamGroup::new(0..4, c),
                ParamGroup::new(4..8, AdamConfig { eps: -1.0, ..c }),
            ],
            Error::InvalidHyperparameter {
                name: "eps",
                requirement: "finite and > 0",
            },
        ),
    ];
    for (groups, err) in cases {
        assert_eq!(opt.step_groups(&mut params, &g, groups), Err(err));
        assert_eq!(snapshot(&opt, &params), before);
    }
}

#[test]
fn mismatched_slice_lengths_are_errors_and_change_nothing() {
    let mut opt = Momentum::<f32, N>::new(MomentumConfig::new(0.1, 0.9)).unwrap();
    let mut params = [1.0f32; N + 1];
    let g = [0.5f32; N + 1];
    assert_eq!(
        opt.step_slices(&mut params, &g),
        Err(Error::LengthMismatch {
            expected: N,
            found: N + 1
        })
    );
    assert_eq!(
        opt.step_slices(&mut params[..N], &g[..N - 1]),
        Err(Error::LengthMismatch {
            expected: N,
            found: N - 1
        })
    );
    assert_eq!(params, [1.0; N + 1]);
    assert_eq!(opt.step_count(), 0);
    opt.step_slices(&mut params[..N], &g[..N]).unwrap();
    assert_eq!(params[0], 1.0 - 0.1 * 0.5);
}

#[test]
fn groups_apply_their_own_hyperparameters_and_leave_other_elements_alone() {
    // Weights with decay and a bias without, a frozen element at the end: each group must equal a
    // separate optimizer with that group's configuration.
    let decay = AdamConfig {
        weight_decay: 0.1,
        ..AdamConfig::adamw(1e-2)
    };
    let no_decay = AdamConfig {
        weight_decay: 0.0,
        ..decay
    };
    let mut grouped = Adam::<f32, 6>::new(decay).unwrap();
    let mut a = Adam::<f32, 3>::new(decay).unwrap();
    let mut b = Adam::<f32, 2>::new(no_decay).unwrap();
    let mut p = [0.5f32, -0.3, 0.2, 1.0, -1.0, 7.0];
    let (mut pa, mut pb) = ([0.5f32, -0.3, 0.2], [1.0f32, -1.0]);
    for s in 0..20 {
        let g = grads(s);
        let groups = [
            ParamGroup::new(0..3, decay),
            ParamGroup::new(3..5, no_decay),
        ];
        grouped
            .step_groups(&mut p, &[g[0], g[1], g[2], g[3], g[4], g[5]], &groups)
            .unwrap();
        a.step(&mut pa, &[g[0], g[1], g[2]]).unwrap();
        b.step(&mut pb, &[g[3], g[4]]).unwrap();
    }
    assert_eq!(&p[..3], &pa);
    assert_eq!(&p[3..5], &pb);
    assert_eq!(p[5], 7.0);
    assert_eq!(grouped.exp_avg()[5], 0.0);
}

#[test]
fn reset_returns_to_the_constructed_state() {
    let fresh = Adam::<f32, N, On>::new(AdamConfig::adam(1e-2)).unwrap();
    let mut opt = fresh;
    let mut params = [1.0f32; N];
    opt.step(&mut params, &grads(0)).unwrap();
    assert_ne!(format!("{opt:?}"), format!("{fresh:?}"));
    opt.reset();
    assert_eq!(format!("{opt:?}"), format!("{fresh:?}"));
}
