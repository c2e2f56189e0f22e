//! `f32` steps whose update or state would overflow to infinity although every input is finite
//! are refused with `Error::StepOverflow`, parameters, state and step count unchanged; every
//! step that is taken leaves only finite values. The judge for the clear cases is the plain `f64`
//! reference (`edgetune::reference`), whose range is far wider.

mod common;

use edgetune::optim::*;
use edgetune::reference::{Hyper, Kind, Reference};
use edgetune::Error;
use proptest::prelude::*;

const N: usize = 6;

/// Steps a copy of `opt`; on `StepOverflow` checks that nothing changed (parameters, the whole
/// optimizer: its state, step count and configuration, compared through `Debug`), on `Ok` that
/// every parameter is finite. Returns the result.
fn step_checked<O: Optimizer<f32, N> + Copy + core::fmt::Debug>(
    opt: &mut O,
    p: &mut [f32; N],
    g: &[f32; N],
) -> Result<(), Error> {
    let (before, p0) = (*opt, *p);
    let r = opt.step(p, g);
    match r {
        Err(Error::StepOverflow { index }) => {
            assert!(index < N);
            assert_eq!(p.map(f32::to_bits), p0.map(f32::to_bits));
            assert_eq!(format!("{opt:?}"), format!("{before:?}"));
        }
        Ok(()) => assert!(p.iter().all(|x| x.is_finite()), "{p:?} after an Ok step"),
        Err(e) => panic!("unexpected {e}"),
    }
    r
}

/// The f64 reference's largest magnitude over the new parameters and state after one step from
/// `p`, taken after warm-up steps from parameters 0.5 (as the tests do with the optimizer).
fn reference_max(kind: Kind, h: Hyper, warm: &[Vec<f64>], p: &[f64], g: &[f64]) -> f64 {
    let mut r = Reference::new(kind, h, N);
    let mut q = vec![0.5; N];
    for w in warm {
        r.step(&mut q, w).unwrap();
    }
    q.copy_from_slice(p);
    r.step(&mut q, g).unwrap();
    let mut m = q.iter().fold(0.0f64, |a, x| a.max(x.abs()));
    for s in [
        &r.momentum_buffer,
        &r.exp_avg,
        &r.exp_avg_sq,
        &r.max_exp_avg_sq,
        &r.square_avg,
        &r.grad_avg,
        &r.sum,
    ]
    .into_iter()
    .flatten()
    {
        m = s.iter().fold(m, |a, x| a.max(x.abs()));
    }
    m
}

macro_rules! each_optimizer {
    ($kind:expr, $h:expr, |$opt:ident| $body:block) => {{
        let h: &Hyper = $h;
        match $kind {
            Kind::Sgd if h.momentum == 0.0 => {
                let mut $opt = Sgd::<f32, N>::new(common::sgd_config(h)).unwrap();
                $body
            }
            Kind::Sgd => {
                let mut $opt = Momentum::<f32, N>::new(common::momentum_config(h)).unwrap();
                $body
            }
            Kind::Adam | Kind::AdamW if h.amsgrad => {
                let mut $opt = AmsGrad::<f32, N>::new(common::adam_config($kind, h)).unwrap();
                $body
            }
            Kind::Adam | Kind::AdamW => {
                let mut $opt = Adam::<f32, N>::new(common::adam_config($kind, h)).unwrap();
                $body
            }
            Kind::RmsProp => {
                let mut $opt = RmsProp::<f32, N, On, On>::new(common::rmsprop_config(h)).unwrap();
                $body
            }
            Kind::Adagrad => {
                let mut $opt = Adagrad::<f32, N>::new(common::adagrad_config(h)).unwrap();
                $body
            }
            Kind::Lion => {
                let mut $opt = Lion::<f32, N>::new(common::lion_config(h)).unwrap();
                $body
            }
        }
    }};
}

/// One configuration per optimizer whose step overflows on element 2 only: a huge parameter
/// times a weight decay, or a huge gradient through the update. The reference (f64) confirms
/// the overflow; the other elements alone step fine.
#[test]
fn each_optimizer_refuses_an_overflowing_step_and_changes_nothing() {
    for kind in Kind::ALL {
        let mut h = Hyper::defaults(kind);
        h.weight_decay = 10.0;
        h.lr = 0.5;
        if kind == Kind::Sgd {
            for (mu, nesterov) in [(0.0, false), (0.9, false), (0.9, true)] {
                (h.momentum, h.nesterov) = (mu, nesterov);
                check_one(kind, h);
            }
        } else if matches!(kind, Kind::Adam | Kind::AdamW) {
            for ams in [false, true] {
                h.amsgrad = ams;
                check_one(kind, h);
            }
        } else {
            if kind == Kind::RmsProp {
                h.momentum = 0.5;
            }
            check_one(kind, h);
        }
    }
}

fn check_one(kind: Kind, h: Hyper) {
    // Lion and AdamW decay p by (1 − lr·wd) = −4: |p| = 1e38 leaves the range. For the others
    // wd·p = 1e39 does (Adam's L2 gradient, SGD's, RMSprop's, Adagrad's).
    let p = [1.0f32, -2.0, 1e38, 0.5, 3.0, -1.0];
    let g = [0.25f32; N];
    let p64: Vec<f64> = p.iter().map(|&x| f64::from(x)).collect();
    let g64: Vec<f64> = g.iter().map(|&x| f64::from(x)).collect();
    let big = reference_max(kind, h, &[], &p64, &g64);
    assert!(big > f64::from(f32::MAX), "{kind:?}: reference {big}");
    each_optimizer!(kind, &h, |opt| {
        let mut q = p;
        assert_eq!(
            step_checked(&mut opt, &mut q, &g),
            Err(Error::StepOverflow { index: 2 }),
            "{kind:?} {h:?}"
        );
        q[2] = 1.0;
        step_checked(&mut opt, &mut q, &g).unwrap();
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random configurations of every optimizer, one warm-up step and one step with values up
    /// to f32::MAX: an `Ok` step leaves only finite values, a refused one changes nothing; a
    /// step whose f64 reference stays below 1e30 everywhere is never refused, and one whose
    /// reference leaves the f32 range by a factor 2 is always refused.
    #[test]
    fn float_steps_are_finite_or_refused(seed: u64, k in 0usize..6, e in 0.0f64..38.5) {
        let kind = Kind::ALL[k];
        let mut d = common::Rng(seed);
        let mut h = Hyper::defaults(kind);
        h.lr = 10f64.powf(-4.0 + 4.0 * d.unit());
        h.weight_decay = if d.unit() < 0.5 { 10f64.powf(-4.0 + 5.0 * d.unit()) } else { 0.0 };
        h.maximize = kind != Kind::Lion && d.unit() < 0.5;
        h.eps = 10f64.powf(-10.0 + 7.0 * d.unit());
        h.betas = (0.5 + 0.49 * d.unit(), 0.9 + 0.099 * d.unit());
        h.amsgrad = d.unit() < 0.5;
        if kind == Kind::Sgd && d.unit() < 0.6 {
            h.momentum = 0.5 + 0.49 * d.unit();
            h.nesterov = d.unit() < 0.5;
        }
        if kind == Kind::RmsProp {
            h.momentum = 0.5 * d.unit();
        }
        let mag = 10f64.powf(e);
        let x = |d: &mut common::Rng| ((d.unit() * 2.0 - 1.0) * mag) as f32;
        let p: [f32; N] = core::array::from_fn(|_| x(&mut d));
        let warm: [f32; N] = core::array::from_fn(|_| (d.unit() - 0.5) as f32);
        let g: [f32; N] = core::array::from_fn(|_| x(&mut d));
        let w64: Vec<f64> = warm.iter().map(|&x| f64::from(x)).collect();
        let p64: Vec<f64> = p.iter().map(|&x| f64::from(x)).collect();
        let g64: Vec<f64> = g.iter().map(|&x| f64::from(x)).collect();
        let big = reference_max(kind, h, &[w64], &p64, &g64);
        each_optimizer!(kind, &h, |opt| {
            let mut q = [0.5f32; N];
            opt.step(&mut q, &warm).unwrap();
            q = p;
            let r = step_checked(&mut opt, &mut q, &g);
            if big < 1e30 {
                prop_assert!(r.is_ok(), "{kind:?} refused, reference max {big:e}\n{h:?}");
            }
            if big > 2.0 * f64::from(f32::MAX) {
                prop_assert!(r.is_err(), "{kind:?} taken, reference max {big:e}\n{h:?}");
            }
        });
    }
}
