//! The reference optimizer validates its hyperparameters exactly as the generic optimizers do: the same
//! accept/reject set, and the same hyperparameter named in the error, for every optimizer.
//!
//! The sweep puts every pair of a kind's numeric hyperparameters through a list of edge values (negative,
//! −0, 0, the smallest subnormal, values inside and at the edges of [0, 1), 1, above 1, the largest finite,
//! ±∞, NaN), with every boolean flag both ways, through `Hyper::validate` and through the generic
//! configuration's `validate`, and asserts identical outcomes. The generic side is the independent oracle here:
//! the reference writes its checks out again without calling it.
//!
//! Then the network: non-finite inputs and targets are typed errors that change nothing, and every
//! reference error converts into the `edgetune::Error` of the same meaning.

mod common;

use edgetune::reference::network::{RefActivation, RefMlp, RefNetError, RefTarget};
use edgetune::reference::{Hyper, Kind, RefError, Reference};
use edgetune::{Error, ValueFault};

/// The edge values every numeric hyperparameter is swept through.
const EDGES: [f64; 16] = [
    -1.0,
    -5e-324,
    -0.0,
    0.0,
    5e-324,
    1e-8,
    0.5,
    0.9,
    0.999,
    1.0 - f64::EPSILON / 2.0, // the largest f64 below 1
    1.0,
    1.5,
    f64::MAX,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
];

/// A numeric field of `Hyper`, by name, for the sweep.
type Field = (&'static str, fn(&mut Hyper, f64));

/// The numeric hyperparameters each kind uses.
fn fields(kind: Kind) -> Vec<Field> {
    let lr: Field = ("lr", |h, x| h.lr = x);
    let wd: Field = ("weight_decay", |h, x| h.weight_decay = x);
    let eps: Field = ("eps", |h, x| h.eps = x);
    let b1: Field = ("beta1", |h, x| h.betas.0 = x);
    let b2: Field = ("beta2", |h, x| h.betas.1 = x);
    let mu: Field = ("momentum", |h, x| h.momentum = x);
    match kind {
        Kind::Sgd => vec![lr, wd, mu, ("dampening", |h, x| h.dampening = x)],
        Kind::Adam | Kind::AdamW => vec![lr, wd, eps, b1, b2],
        Kind::RmsProp => vec![lr, wd, eps, mu, ("alpha", |h, x| h.alpha = x)],
        Kind::Adagrad => vec![
            lr,
            wd,
            eps,
            ("lr_decay", |h, x| h.lr_decay = x),
            ("initial_accumulator_value", |h, x| {
                h.initial_accumulator_value = x
            }),
        ],
        Kind::Lion => vec![lr, wd, b1, b2],
    }
}

/// The boolean hyperparameters each kind uses, as setters.
fn flags(kind: Kind) -> Vec<fn(&mut Hyper, bool)> {
    let maximize: fn(&mut Hyper, bool) = |h, b| h.maximize = b;
    match kind {
        Kind::Sgd => vec![maximize, |h, b| h.nesterov = b],
        Kind::Adam | Kind::AdamW => vec![maximize, |h, b| h.amsgrad = b],
        Kind::RmsProp => vec![maximize, |h, b| h.centered = b],
        Kind::Adagrad => vec![maximize],
        Kind::Lion => vec![],
    }
}

/// The generic configuration's verdict on `h` (the hyperparameter named, or `None` if accepted).
///
/// SGD maps to `MomentumConfig`, which carries all of torch's SGD arguments (momentum 0 included); AMSGrad and
/// RMSprop's `centered` are type parameters of the generic optimizers and take no part in validation.
fn generic(kind: Kind, h: &Hyper) -> Option<&'static str> {
    let result = match kind {
        Kind::Sgd => common::momentum_config(h).validate(),
        Kind::Adam | Kind::AdamW => common::adam_config(kind, h).validate(),
        Kind::RmsProp => common::rmsprop_config(h).validate(),
        Kind::Adagrad => common::adagrad_config(h).validate(),
        Kind::Lion => common::lion_config(h).validate(),
    };
    match result {
        Ok(()) => None,
        Err(Error::InvalidHyperparameter { name, .. }) => Some(name),
        Err(e) => panic!("validate returned a non-hyperparameter error {e:?}"),
    }
}

/// The reference's verdict on `h`, both from `Hyper::validate` and from a step (which must agree, and on
/// refusal change nothing).
fn reference(kind: Kind, h: &Hyper) -> Option<&'static str> {
    let verdict = match h.validate(kind) {
        Ok(()) => None,
        Err(RefError::InvalidHyperparameter { name, .. }) => Some(name),
        Err(e) => panic!("validate returned a non-hyperparameter error {e:?}"),
    };
    let mut r = Reference::new(kind, *h, 2);
    let mut p = [0.25, -0.5];
    let stepped = r.step(&mut p, &[0.5, -1.0]);
    assert_eq!(stepped.is_ok(), verdict.is_none(), "{kind:?} {h:?}");
    if verdict.is_some() {
        assert_eq!(p, [0.25, -0.5], "a refused step changed the parameters");
        assert_eq!(r.step, 0, "a refused step counted");
    }
    verdict
}

/// Every flag combination of `kind` applied to `h`, one after the other.
fn with_flags(kind: Kind, h: Hyper, mut check: impl FnMut(Hyper)) {
    let flags = flags(kind);
    for bits in 0..(1u32 << flags.len()) {
        let mut h = h;
        for (i, set) in flags.iter().enumerate() {
            set(&mut h, bits & (1 << i) != 0);
        }
        check(h);
    }
}

#[test]
fn reference_and_generic_accept_and_reject_the_same_hyperparameters_for_every_optimizer() {
    let mut compared = 0usize;
    let mut rejected = 0usize;
    for kind in Kind::ALL {
        let fields = fields(kind);
        // Every pair of fields (a field with itself too, which is the one-at-a-time sweep), every pair
        // of edge values, every flag combination. Starts from values every check accepts, with momentum
        // > 0 so that Nesterov is legal unless the sweep breaks it.
        let mut base = Hyper::defaults(kind);
        base.momentum = 0.9;
        for (a, (_, set_a)) in fields.iter().enumerate() {
            for (_, set_b) in &fields[a..] {
                for &x in &EDGES {
                    for &y in &EDGES {
                        let mut h = base;
                        set_a(&mut h, x);
                        set_b(&mut h, y);
                        with_flags(kind, h, |h| {
                            let g = generic(kind, &h);
                            let r = reference(kind, &h);
                            assert_eq!(r, g, "{kind:?}: reference vs generic verdict on {h:?}");
                            compared += 1;
                            rejected += usize::from(g.is_some());
                        });
                    }
                }
            }
        }
    }
    // The sweep must have seen both outcomes in quantity, or it proves nothing.
    assert!(compared > 10_000, "{compared} cases");
    assert!(
        rejected > compared / 4 && rejected < compared,
        "{rejected} of {compared} rejected"
    );
}

#[test]
fn sgd_nesterov_needs_positive_momentum_and_zero_dampening_in_both() {
    // torch: "nesterov=True requires μ > 0 and τ == 0". Spelled out, since it is the one rule over two fields.
    let cases = [
        (0.9, 0.0, None),
        (0.0, 0.0, Some("nesterov")),
        (0.9, 0.1, Some("nesterov")),
        (0.9, -0.0, None), // -0 == 0
        (5e-324, 0.0, None),
        (-0.5, 0.0, Some("momentum")),
    ];
    for (momentum, dampening, expected) in cases {
        let h = Hyper {
            momentum,
            dampening,
            nesterov: true,
            ..Hyper::defaults(Kind::Sgd)
        };
        assert_eq!(reference(Kind::Sgd, &h), expected, "{momentum} {dampening}");
        assert_eq!(generic(Kind::Sgd, &h), expected, "{momentum} {dampening}");
    }
}

#[test]
fn negative_lr_is_refused_and_does_not_ascend() {
    let mut r = Reference::new(
        Kind::Sgd,
        Hyper {
            lr: -1.0,
            ..Hyper::defaults(Kind::Sgd)
        },
        1,
    );
    let mut p = [1.0];
    let e = r.step(&mut p, &[1.0]).unwrap_err();
    assert_eq!(
        Error::from(e),
        Error::InvalidHyperparameter {
            name: "lr",
            requirement: "finite and >= 0"
        }
    );
    assert_eq!(p, [1.0]);
}

#[test]
fn a_non_finite_gradient_is_refused_and_changes_nothing() {
    for kind in Kind::ALL {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut r = Reference::new(kind, Hyper::defaults(kind), 3);
            let mut p = [1.0, 2.0, 3.0];
            r.step(&mut p, &[0.1, 0.2, 0.3]).unwrap();
            let (before, state) = (p, r.clone());
            assert_eq!(
                r.step(&mut p, &[0.1, 0.2, bad]),
                Err(RefError::NonFiniteGradient { index: 2 })
            );
            assert_eq!(p, before);
            assert_eq!(r.step, state.step);
            assert_eq!(r.exp_avg, state.exp_avg);
            assert_eq!(r.sum, state.sum);
            assert_eq!(r.square_avg, state.square_avg);
        }
    }
}

fn net() -> RefMlp {
    let mut net = RefMlp::zeros(&[2, 3, 2], &[RefActivation::Tanh, RefActivation::None]).unwrap();
    let flat: Vec<f64> = (0..net.num_params())
        .map(|i| 0.1 * i as f64 - 0.7)
        .collect();
    net.load_flat(&flat).unwrap();
    net
}

#[test]
fn non_finite_inputs_and_targets_are_typed_errors_and_train_nothing() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut net = net();
        let before = net.clone();
        let mut opt = net.optimizer(Kind::Sgd, Hyper::defaults(Kind::Sgd));
        let good = vec![0.5, -0.5];
        // Input: sample 1, element 0.
        let xs = vec![good.clone(), vec![bad, 0.0]];
        let targets = vec![RefTarget::Class(0), RefTarget::Class(1)];
        let e = net.train_step(&mut opt, &xs, &targets).unwrap_err();
        assert_eq!(
            e,
            RefNetError::InvalidInput {
                sample: 1,
                index: 0,
                fault: ValueFault::NotFinite
            }
        );
        assert_eq!(
            Error::from(e),
            Error::InvalidInput {
                index: 0,
                fault: ValueFault::NotFinite
            }
        );
        // Target values: sample 0, element 1.
        let xs = vec![good.clone()];
        let targets = vec![RefTarget::Values(vec![0.0, bad])];
        let e = net.train_step(&mut opt, &xs, &targets).unwrap_err();
        assert_eq!(
            e,
            RefNetError::InvalidTarget {
                sample: 0,
                index: 1,
                fault: ValueFault::NotFinite
            }
        );
        assert_eq!(
            Error::from(e),
            Error::InvalidTarget {
                index: 1,
                fault: ValueFault::NotFinite
            }
        );
        assert_eq!(net, before, "a refused step changed the network");
        assert_eq!(opt.step, 0, "a refused step counted");
        // The single-sample paths refuse them too.
        assert!(matches!(
            net.forward(&[0.0, bad]),
            Err(RefNetError::InvalidInput { index: 1, .. })
        ));
        assert!(matches!(
            net.loss(&good, &RefTarget::Values(vec![bad, 0.0])),
            Err(RefNetError::InvalidTarget { index: 0, .. })
        ));
    }
}

#[test]
fn every_reference_error_converts_into_the_crate_error_of_the_same_meaning() {
    use edgetune::nn::NnError;
    use edgetune::train::TrainError;
    let cases: [(RefNetError, Error); 8] = [
        (
            RefNetError::LengthMismatch {
                what: "input",
                expected: 2,
                found: 3,
            },
            Error::LengthMismatch {
                expected: 2,
                found: 3,
            },
        ),
        (
            RefNetError::Shape {
                layer: 1,
                expected: 3,
                found: 4,
            },
            Error::LengthMismatch {
                expected: 3,
                found: 4,
            },
        ),
        (
            RefNetError::NoLayers,
            Error::LengthMismatch {
                expected: 1,
                found: 0,
            },
        ),
        (
            RefNetError::NoValues,
            Error::LengthMismatch {
                expected: 1,
                found: 0,
            },
        ),
        (
            RefNetError::EmptyBatch,
            Error::Train(TrainError::NothingAccumulated),
        ),
        (
            RefNetError::ClassOutOfRange {
                class: 5,
                outputs: 2,
            },
            Error::Nn(NnError::LabelOutOfRange {
                label: 5,
                classes: 2,
            }),
        ),
        (
            RefNetError::Optimizer(RefError::NonFiniteGradient { index: 4 }),
            Error::NonFiniteGradient { index: 4 },
        ),
        (
            RefNetError::Optimizer(RefError::LengthMismatch {
                expected: 7,
                found: 6,
            }),
            Error::LengthMismatch {
                expected: 7,
                found: 6,
            },
        ),
    ];
    for (from, to) in cases {
        assert_eq!(Error::from(from), to, "{from:?}");
    }
    // `?` works from reference code into a function returning edgetune::Error.
    fn train(net: &mut RefMlp, opt: &mut Reference) -> Result<f64, Error> {
        Ok(net.train_step(opt, &[vec![0.5, 0.5]], &[RefTarget::Class(3)])?)
    }
    let mut net = net();
    let mut opt = net.optimizer(Kind::Adam, Hyper::defaults(Kind::Adam));
    assert_eq!(
        train(&mut net, &mut opt),
        Err(Error::Nn(NnError::LabelOutOfRange {
            label: 3,
            classes: 2
        }))
    );
}
