//! Every optimizer over I4F12 (16-bit storage, `edgetune::num::fixed16`): against the plain f64
//! reference within the documented bound (the I8F24 kernel's bound with its rounding term
//! `2^-24` replaced by `2^-12 + 2^-25`), bit-identical to the I8F24 kernel rounded once to 16
//! bits, stochastic rounding of sub-LSB updates, and bad gradients refused with nothing changed.

mod common;

use edgetune::num::fixed::{RoundingState, I4F12, I8F24};
use edgetune::num::Scalar;
use edgetune::optim::*;
use edgetune::reference::{Hyper, Kind, Reference};
use edgetune::Error;
use proptest::prelude::*;

// The golden harness: its `fixed_step_bound` is the one implementation of the documented bound.
#[path = "../examples/golden/harness.rs"]
#[allow(dead_code)]
mod harness;

use harness::Draw;

const N: usize = 8;

/// The rounding term of one I4F12 step: stochastic rounding to 2^-12 (`< 1` LSB) after the I8F24
/// kernel rounded to nearest (`≤ ½·2^-24`). Every other term of the bound is the I8F24 kernel's.
const LSB_STEP: f64 = 1.0 / 4096.0 + 1.0 / 33_554_432.0;

type StepFn<S> = Box<dyn FnMut(&mut [S; N], &[S; N]) -> Result<(), Error>>;

trait AllNum:
    Scalar<Aux = RoundingState> + SgdNum + MomentumNum + AdamNum + RmsPropNum + AdagradNum + LionNum
{
}
impl<
        T: Scalar<Aux = RoundingState>
            + SgdNum
            + MomentumNum
            + AdamNum
            + RmsPropNum
            + AdagradNum
            + LionNum,
    > AllNum for T
{
}

fn stepper<S: AllNum>(kind: Kind, h: &Hyper, aux: S::Aux) -> StepFn<S> {
    macro_rules! boxed {
        ($opt:expr) => {{
            let mut o = $opt.unwrap();
            *o.aux_mut() = aux;
            Box::new(move |p: &mut [S; N], g: &[S; N]| o.step(p, g))
        }};
    }
    match kind {
        Kind::Sgd if h.momentum == 0.0 => boxed!(Sgd::<S, N>::new(common::sgd_config(h))),
        Kind::Sgd => boxed!(Momentum::<S, N>::new(common::momentum_config(h))),
        Kind::Adam | Kind::AdamW => {
            let c = common::adam_config(kind, h);
            if h.amsgrad {
                boxed!(AmsGrad::<S, N>::new(c))
            } else {
                boxed!(Adam::<S, N>::new(c))
            }
        }
        Kind::RmsProp => {
            let c = common::rmsprop_config(h);
            match (h.momentum != 0.0, h.centered) {
                (false, false) => boxed!(RmsProp::<S, N, Off, Off>::new(c)),
                (false, true) => boxed!(RmsProp::<S, N, Off, On>::new(c)),
                (true, false) => boxed!(RmsProp::<S, N, On, Off>::new(c)),
                (true, true) => boxed!(RmsProp::<S, N, On, On>::new(c)),
            }
        }
        Kind::Adagrad => boxed!(Adagrad::<S, N>::new(common::adagrad_config(h))),
        Kind::Lion => boxed!(Lion::<S, N>::new(common::lion_config(h))),
    }
}

fn to_fixed<S: Scalar>(x: &[f64]) -> [S; N] {
    core::array::from_fn(|i| S::from_f64(x[i]))
}

fn trajectory<S: AllNum>(
    kind: Kind,
    seed: u64,
    steps: usize,
    gmin: f64,
    gmax: f64,
) -> (Hyper, Vec<f64>, Vec<Vec<f64>>) {
    let mut d = Draw(seed);
    let mut h = Hyper::defaults(kind);
    h.lr = d.log(1e-4, 1e-2);
    h.maximize = kind != Kind::Lion && d.coin();
    h.betas = (0.5 + 0.49 * d.unit(), 1.0 - d.log(1e-3, 0.3));
    h.eps = d.log(1e-8, 1e-3);
    match kind {
        Kind::Sgd => {
            h.momentum = if d.coin() { 0.1 + 0.8 * d.unit() } else { 0.0 };
            h.nesterov = h.momentum > 0.0 && d.coin();
            h.dampening = if !h.nesterov && d.coin() {
                0.9 * d.unit()
            } else {
                0.0
            };
            h.weight_decay = if d.coin() { d.log(1e-4, 1e-1) } else { 0.0 };
        }
        Kind::Adam => h.amsgrad = d.coin(),
        Kind::AdamW => {
            h.amsgrad = d.coin();
            h.weight_decay = d.log(1e-4, 1e-1);
        }
        Kind::RmsProp => {
            h.alpha = 0.5 + 0.499 * d.unit();
            h.momentum = if d.coin() { 0.1 + 0.8 * d.unit() } else { 0.0 };
        }
        Kind::Adagrad => {
            h.lr_decay = if d.coin() { d.log(1e-4, 0.1) } else { 0.0 };
            h.initial_accumulator_value = if d.coin() { d.log(1e-3, 1.0) } else { 0.0 };
        }
        Kind::Lion => h.weight_decay = if d.coin() { d.log(1e-4, 1e-1) } else { 0.0 },
    }
    let q = |x: f64| S::from_f64(x).to_f64();
    let p0 = (0..N).map(|_| q(d.normal())).collect();
    let scale = d.log(gmin.max(1e-3), gmax);
    let regime = d.next() % 3;
    let grads = (0..steps)
        .map(|_| {
            (0..N)
                .map(|_| {
                    let g = match regime {
                        0 => scale * d.normal(),
                        1 => {
                            let m = d.log(gmin, gmax);
                            if d.coin() {
                                m
                            } else {
                                -m
                            }
                        }
                        _ => {
                            if d.coin() {
                                0.0
                            } else {
                                scale * d.normal()
                            }
                        }
                    };
                    q(g.clamp(-gmax, gmax))
                })
                .collect()
        })
        .collect();
    (h, p0, grads)
}

/// Runs the fixed-point optimizer and the reference; checks after every step that
/// `|p_fix − p_ref| ≤ Σ_t bound_t` with the per-step bound of the module docs.
fn within_bound<S: AllNum>(
    kind: Kind,
    seed: u64,
    steps: usize,
    lsb: f64,
    gmax: f64,
) -> Result<(f64, f64), TestCaseError> {
    let gmin = 1e-4_f64.max(4.0 * lsb);
    let (h, p0, grads) = trajectory::<S>(kind, seed, steps, gmin, gmax);
    let mut fixed = stepper::<S>(kind, &h, RoundingState::stochastic(seed as u32));
    let mut r = Reference::new(kind, h, N);
    let mut p: [S; N] = to_fixed(&p0);
    let mut pr = p0.clone();
    let mut budget = [0.0f64; N];
    let mut hist_max: f64 = 0.0;
    let (mut worst_ratio, mut worst_lsb) = (0.0f64, 0.0f64);
    let mut trunc = harness::MomentTrunc::new(N);
    for (t, g) in grads.iter().enumerate() {
        let lion_c = r.lion_c(g);
        let m_before = r.exp_avg.clone();
        let before = pr.clone();
        fixed(&mut p, &to_fixed(g)).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        r.step(&mut pr, g).unwrap();
        let moment = trunc.step(kind, &h, g, &before, m_before.as_deref(), &r);
        for i in 0..N {
            let dr = (pr[i] - before[i]).abs();
            hist_max = hist_max.max(dr);
            let info = harness::StepInfo {
                g: g[i],
                p: pr[i],
                dr,
                hist_max,
                lion: lion_c
                    .as_ref()
                    .map(|c| (c[i], m_before.as_ref().map_or(0.0, |m| m[i]))),
                gain: harness::l2_gain(kind, &h, &r, i),
                moment: moment[i].0,
                update: moment[i].1,
                l2: harness::l2_coef_error(kind, &h, &r, i, before[i]),
            };
            prop_assume!(info.gain <= harness::FIXED_MAX_GAIN);
            // A reference trajectory that leaves I4F12's range [-8, 8) is outside the format's
            // domain (its parameters saturate there by design), as in the golden harness.
            prop_assume!(pr[i].abs() < 7.99);
            let b = harness::fixed_step_bound(kind, &h, lsb, &info);
            budget[i] *= 1.0 + info.gain;
            budget[i] += b;
            let err = (p[i].to_f64() - pr[i]).abs();
            worst_ratio = worst_ratio.max(err / budget[i]);
            worst_lsb = worst_lsb.max(err / lsb);
            prop_assert!(
                err <= budget[i],
                "{kind:?} step {t} elem {i}: |{} − {}| = {err:e} > bound {:e}\n{h:?}",
                p[i].to_f64(),
                pr[i],
                budget[i]
            );
        }
    }
    Ok((worst_ratio, worst_lsb))
}

/// Over 100 fixed seeds per optimizer (200 steps each) the worst error reaches a visible
/// fraction of its bound (printed with `--nocapture`).
#[test]
fn measured_errors_against_their_bounds() {
    for kind in Kind::ALL {
        let (mut ratio, mut in_lsb, mut outside) = (0.0f64, 0.0f64, 0);
        for seed in 0..100u64 {
            match within_bound::<I4F12>(kind, seed, 200, LSB_STEP, 1.0) {
                Ok((a, b)) => {
                    ratio = ratio.max(a);
                    in_lsb = in_lsb.max(b);
                }
                Err(TestCaseError::Reject(_)) => outside += 1,
                Err(e) => panic!("{kind:?} seed {seed}: {e}"),
            }
        }
        println!(
            "I4F12 {kind:?}: worst error {in_lsb:.2} LSB, worst error/bound {ratio:.3} ({outside} of 100 outside the domain)"
        );
        assert!(ratio > 0.01, "{kind:?}: bound far from the measured error");
        assert!(outside < 50, "{kind:?}: most cases outside the domain");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn every_optimizer_stays_within_the_bound(seed: u64, steps in 1usize..300, k in 0usize..6) {
        within_bound::<I4F12>(Kind::ALL[k], seed, steps, LSB_STEP, 1.0).map(|_| ())?;
    }
}

/// With round to nearest on both sides, one step over I4F12 is the I8F24 kernel's step on the
/// widened values, rounded to nearest at 12 fraction bits (ties up): the same kernel, bit for bit,
/// for every optimizer and configuration of the reference's hyperparameter draws.
#[test]
fn a_step_is_the_i8f24_kernels_step_rounded_to_16_bits() {
    let round12 = |x: I8F24| -> I4F12 {
        let r = ((x.to_bits() >> 11) + 1) >> 1;
        I4F12::from_bits(r.clamp(-32768, 32767) as i16)
    };
    for kind in Kind::ALL {
        for seed in 0..50u64 {
            let (h, p0, grads) = trajectory::<I4F12>(kind, seed, 1, 1e-3, 1.0);
            let mut a = stepper::<I4F12>(kind, &h, RoundingState::nearest());
            let mut b = stepper::<I8F24>(kind, &h, RoundingState::nearest());
            let mut p16: [I4F12; N] = to_fixed(&p0);
            // The optimizers carry the same state only while the parameters agree: compare the
            // first step, from the common (zero) state.
            let g = &grads[0];
            let mut p32: [I8F24; N] = core::array::from_fn(|i| I8F24::from_num(p16[i]));
            a(&mut p16, &to_fixed(g)).unwrap();
            b(&mut p32, &to_fixed(g)).unwrap();
            assert_eq!(p16, p32.map(round12), "{kind:?} seed {seed}\n{h:?}");
        }
    }
}

/// Stochastic rounding keeps the expectation of an update of 0.1 LSB, which round to nearest
/// loses entirely: 1000 steps of SGD move the parameter by 100 LSB on average (binomial, standard
/// deviation √(1000·0.09) ≈ 9.5 LSB: bound ±5σ).
#[test]
fn stochastic_rounding_keeps_sub_lsb_updates_that_round_to_nearest_loses() {
    let lsb = 1.0 / 4096.0;
    let lr = 0.1 * lsb; // gradient 1: update 0.1 LSB
    let run = |aux: RoundingState| {
        let mut opt = Sgd::<I4F12, 1>::new(SgdConfig::new(lr)).unwrap();
        *opt.aux_mut() = aux;
        let mut p = [I4F12::ONE];
        for _ in 0..1000 {
            opt.step(&mut p, &[I4F12::ONE]).unwrap();
        }
        (1.0 - p[0].to_f64()) / lsb
    };
    let moved = run(RoundingState::stochastic(12345));
    assert!((moved - 100.0).abs() <= 5.0 * 9.5, "moved {moved} LSB");
    assert_eq!(run(RoundingState::nearest()), 0.0);
}

/// A gradient equal to MIN or MAX (a saturated value) is refused with nothing changed, by every
/// optimizer; what `saturating_from_f64` makes of NaN and ±∞ is such a value.
#[test]
fn gradient_at_min_or_max_is_rejected_and_nothing_changes() {
    for bad in [
        I4F12::MIN,
        I4F12::MAX,
        I4F12::saturating_from_f64(f64::NAN),
        I4F12::saturating_from_f64(f64::NEG_INFINITY),
    ] {
        for kind in Kind::ALL {
            let h = Hyper::defaults(kind);
            let mut opt = stepper::<I4F12>(kind, &h, RoundingState::stochastic(9));
            let mut p = [I4F12::from_num(0.5); N];
            opt(&mut p, &[I4F12::from_num(0.25); N]).unwrap();
            let before = p;
            let mut g = [I4F12::from_num(0.1); N];
            g[3] = bad;
            assert_eq!(opt(&mut p, &g), Err(Error::NonFiniteGradient { index: 3 }));
            assert_eq!(p, before, "{kind:?}");
            // The state did not move either: the next good step equals one from a fresh copy.
            let mut twin = stepper::<I4F12>(kind, &h, RoundingState::stochastic(9));
            let mut q = [I4F12::from_num(0.5); N];
            twin(&mut q, &[I4F12::from_num(0.25); N]).unwrap();
            let good = [I4F12::from_num(0.1); N];
            opt(&mut p, &good).unwrap();
            twin(&mut q, &good).unwrap();
            assert_eq!(p, q, "{kind:?}: state changed by the refused step");
        }
    }
}

/// Parameters saturate at the format's edges instead of wrapping.
#[test]
fn parameters_saturate_at_the_edges_without_wrapping() {
    let mut opt = Sgd::<I4F12, 2>::new(SgdConfig::new(1.0)).unwrap();
    let mut p = [I4F12::from_num(7.5), I4F12::from_num(-7.5)];
    opt.step(&mut p, &[I4F12::from_num(-2), I4F12::from_num(2)])
        .unwrap();
    assert_eq!(p, [I4F12::MAX, I4F12::MIN]);
}

/// Every optimizer's state and the rounding state survive a checkpoint: a restored optimizer
/// continues bit for bit.
#[test]
fn adam_state_round_trips_through_a_checkpoint() {
    use edgetune::checkpoint::{Checkpointable, SliceSink, SliceSource};
    let mut opt = Adam::<I4F12, 4>::new(AdamConfig::adam(1e-2)).unwrap();
    let mut p = [I4F12::from_num(0.5); 4];
    let g = [I4F12::from_num(-0.125); 4];
    opt.step(&mut p, &g).unwrap();
    let mut words = vec![0u32; <Adam<I4F12, 4> as Checkpointable>::WORDS];
    opt.save(&mut SliceSink::new(&mut words)).unwrap();
    let mut restored = Adam::<I4F12, 4>::new(AdamConfig::adam(1e-2)).unwrap();
    restored.load(&mut SliceSource::new(&words)).unwrap();
    let mut q = p;
    opt.step(&mut p, &g).unwrap();
    restored.step(&mut q, &g).unwrap();
    assert_eq!(p, q);
    let mut params = vec![0u32; 4];
    [I4F12::MIN, I4F12::from_num(-0.25), I4F12::ZERO, I4F12::MAX]
        .save(&mut SliceSink::new(&mut params))
        .unwrap();
    let mut back = [I4F12::ZERO; 4];
    back.load(&mut SliceSource::new(&params)).unwrap();
    assert_eq!(
        back,
        [I4F12::MIN, I4F12::from_num(-0.25), I4F12::ZERO, I4F12::MAX]
    );
    // A word that is not a sign-extended i16 is refused.
    let bad = [0x0001_0000u32, 0, 0, 0];
    assert!(<[I4F12; 4]>::check(&mut SliceSource::new(&bad)).is_err());
}
