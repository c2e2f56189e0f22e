//! Fused updates (`begin_parts` / `step_part` / `end_parts`, see `edgetune::optim`'s "Fused
//! updates"): one step applied part by part, in any order, gives bit for bit the parameters,
//! every state buffer, the step count and the rounding generator of one whole `step`, for every
//! optimizer, number type (f32, f64, I16F16, I8F24), rounding mode (stochastic from several
//! seeds, nearest) and configuration variant (fast and general kernel paths alike), over several
//! consecutive steps and many partitions of the arena (forward, reverse, shuffled, with empty
//! parts). Also the failures: unusable gradients, bad ranges, overlapping parts.

use edgetune::num::fixed::{MiniFloat, RoundingState, I16F16, I8F24};
use edgetune::num::{Num, Scalar, StateValue};
use edgetune::optim::*;
use edgetune::Error;
use std::ops::Range;

/// Odd, so that random cuts give uneven parts.
const N: usize = 37;
/// Consecutive steps checked (the first step has special cases: momentum's and Adagrad's).
const STEPS: usize = 5;

/// The exact bits of a parameter or state value.
trait Bits {
    fn bits(&self) -> u64;
}
impl Bits for f32 {
    fn bits(&self) -> u64 {
        u64::from(self.to_bits())
    }
}
impl Bits for f64 {
    fn bits(&self) -> u64 {
        self.to_bits()
    }
}
impl Bits for I16F16 {
    fn bits(&self) -> u64 {
        u64::from(self.to_bits() as u32)
    }
}
impl Bits for I8F24 {
    fn bits(&self) -> u64 {
        u64::from(self.to_bits() as u32)
    }
}
impl Bits for MiniFloat {
    fn bits(&self) -> u64 {
        u64::from(self.to_bits())
    }
}

fn bits<T: Bits>(xs: &[T]) -> Vec<u64> {
    xs.iter().map(Bits::bits).collect()
}

/// xorshift64*: deterministic test data.
struct Rng(u64);

impl Rng {
    fn new(seed: &str) -> Rng {
        // FNV-1a of the seed string, never 0.
        let h = seed.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Rng(h | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// Uniform on [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            xs.swap(i, self.below(i + 1));
        }
    }
}

/// Partitions of `0..N` into ranges, each in the order the parts are applied: the whole arena,
/// single elements backwards (as backward visits layers), and random cuts (empty parts included)
/// forwards, backwards and shuffled.
fn partitions(rng: &mut Rng) -> Vec<Vec<Range<usize>>> {
    let mut out = vec![vec![0..N], (0..N).rev().map(|i| i..i + 1).collect()];
    for _ in 0..4 {
        let mut cuts: Vec<usize> = (0..1 + rng.below(8)).map(|_| rng.below(N + 1)).collect();
        cuts.push(0);
        cuts.push(N);
        cuts.sort_unstable();
        let parts: Vec<Range<usize>> = cuts.windows(2).map(|w| w[0]..w[1]).collect();
        let mut shuffled = parts.clone();
        rng.shuffle(&mut shuffled);
        out.push(parts.iter().rev().cloned().collect());
        out.push(parts);
        out.push(shuffled);
    }
    out
}

/// Gradients spanning several decades (`scale` times `1e-4..3`), either sign, some exactly 0.
fn gradients<S: Scalar>(rng: &mut Rng, scale: f64) -> [S; N] {
    core::array::from_fn(|_| {
        if rng.below(8) == 0 {
            return S::from_f64(0.0);
        }
        let mag = scale * 10f64.powf(-4.0 + 4.5 * rng.unit());
        S::from_f64(if rng.below(2) == 0 { mag } else { -mag })
    })
}

/// Steps `opt` from `aux` for [`STEPS`] steps; before each whole step, applies the same step in
/// parts for every partition from the same starting point and asserts the results equal.
/// `state` lists every state buffer as bits.
fn check<S, O>(
    name: &str,
    opt: O,
    auxes: &[S::Aux],
    scale: f64,
    state: impl Fn(&O) -> Vec<Vec<u64>>,
) where
    S: Scalar + Bits,
    O: Optimizer<S, N> + Copy,
{
    for (a, aux) in auxes.iter().enumerate() {
        let mut rng = Rng::new(&format!("{name} {a}"));
        let mut o = opt;
        *o.aux_mut() = *aux;
        let mut params: [S; N] =
            core::array::from_fn(|_| S::from_f64(scale * (2.0 * rng.unit() - 1.0)));
        let (mut moved, mut refused) = (false, false);
        for step in 0..STEPS {
            let grads = gradients::<S>(&mut rng, scale);
            let (mut whole, mut wp) = (o, params);
            if let Err(e) = whole.step(&mut wp, &grads) {
                // A float step that would write a non-finite value (RMSprop with α > 1 takes the
                // square root of a negative `v`) is refused with nothing changed; a part over the
                // same elements is refused alike.
                assert!(matches!(e, Error::StepOverflow { .. }), "{name}: {e}");
                assert_eq!(wp.map(|x| x.bits()), params.map(|x| x.bits()));
                let (mut fused, mut fp) = (o, params);
                let mut part = fused.begin_parts().unwrap();
                assert_eq!(fused.step_part(&mut part, 0..N, &mut fp, &grads), Err(e));
                assert_eq!(fp.map(|x| x.bits()), params.map(|x| x.bits()));
                fused.end_parts(part);
                refused = true;
                break;
            }
            // The table of draws: one per element (fixed point, stochastic), or none.
            assert_eq!(
                *whole.aux(),
                S::aux_after(*o.aux(), N),
                "{name} aux {a}: draws"
            );
            for parts in partitions(&mut rng) {
                let (mut fused, mut fp) = (o, params);
                let mut part = fused.begin_parts().unwrap();
                assert_eq!(part.step(), o.step_count() + 1);
                for r in &parts {
                    let g = &grads[r.clone()];
                    fused
                        .step_part(&mut part, r.clone(), &mut fp[r.clone()], g)
                        .unwrap();
                }
                assert_eq!((part.elements(), part.parts()), (N, parts.len()));
                fused.end_parts(part);
                let at = format!("{name}, aux {a}, step {}, parts {parts:?}", step + 1);
                assert_eq!(bits(&fp), bits(&wp), "{at}: parameters");
                assert_eq!(state(&fused), state(&whole), "{at}: state");
                assert_eq!(fused.aux(), whole.aux(), "{at}: aux");
                assert_eq!(fused.step_count(), whole.step_count(), "{at}: step count");
            }
            moved |= bits(&wp) != bits(&params);
            (o, params) = (whole, wp);
        }
        // The trajectory must move for the comparison to mean something, unless its first step
        // was refused (floats with uncentered RMSprop's `alpha > 1`: `v' = α·v + (1 − α)·g²` is
        // negative from the first nonzero gradient on and its root NaN, which the step refuses
        // with `StepOverflow`, as the refusal and its parts were compared above; before the fix
        // of fuzz/regressions/optim_step/fixed-rmsprop-f32-huge-alpha-* it wrote NaN).
        assert!(moved || refused, "{name}, aux {a}: moved nothing");
    }
}

/// Every optimizer and configuration variant for one number type, as a module of tests.
macro_rules! suite {
    ($module:ident, $S:ty, $scale:expr, $auxes:expr) => {
        mod $module {
            use super::*;
            type S = $S;
            const SCALE: f64 = $scale;
            fn auxes() -> Vec<<S as Num>::Aux> {
                $auxes
            }

            #[test]
            fn sgd() {
                let base = SgdConfig::new(1e-2);
                for (name, c) in [
                    ("plain (fast path)", base),
                    (
                        "weight decay",
                        SgdConfig {
                            weight_decay: 0.05,
                            ..base
                        },
                    ),
                    (
                        "maximize",
                        SgdConfig {
                            maximize: true,
                            ..base
                        },
                    ),
                    (
                        "maximize, decay",
                        SgdConfig {
                            maximize: true,
                            weight_decay: 0.05,
                            ..base
                        },
                    ),
                    ("lr below the fast range", SgdConfig::new(1e-6)),
                    ("lr above the fast range", SgdConfig::new(2.0)),
                ] {
                    let o = Sgd::<S, N>::new(c).unwrap();
                    check(name, o, &auxes(), SCALE, |_| vec![]);
                }
            }

            #[test]
            fn momentum() {
                let base = MomentumConfig::new(1e-2, 0.9);
                for (name, c) in [
                    ("heavy ball (fast path)", base),
                    ("momentum 0", MomentumConfig::new(1e-2, 0.0)),
                    ("momentum 0.3 (general)", MomentumConfig::new(1e-2, 0.3)),
                    (
                        "dampening",
                        MomentumConfig {
                            dampening: 0.5,
                            ..base
                        },
                    ),
                    ("nesterov", MomentumConfig::nesterov(1e-2, 0.9)),
                    (
                        "weight decay",
                        MomentumConfig {
                            weight_decay: 0.05,
                            ..base
                        },
                    ),
                    (
                        "maximize",
                        MomentumConfig {
                            maximize: true,
                            ..base
                        },
                    ),
                    (
                        "nesterov, decay, maximize",
                        MomentumConfig {
                            weight_decay: 0.05,
                            maximize: true,
                            ..MomentumConfig::nesterov(1e-2, 0.9)
                        },
                    ),
                    ("lr above the fast range", MomentumConfig::new(3.0, 0.9)),
                ] {
                    let o = Momentum::<S, N>::new(c).unwrap();
                    check(name, o, &auxes(), SCALE, |o| {
                        vec![bits(o.momentum_buffer())]
                    });
                }
            }

            #[test]
            fn adam() {
                let base = AdamConfig::adam(1e-2);
                for (name, c) in [
                    ("adam (fast path)", base),
                    ("adamw", AdamConfig::adamw(1e-2)),
                    (
                        "L2 decay",
                        AdamConfig {
                            weight_decay: 0.1,
                            ..base
                        },
                    ),
                    (
                        "maximize",
                        AdamConfig {
                            maximize: true,
                            ..base
                        },
                    ),
                    (
                        "adamw, maximize",
                        AdamConfig {
                            maximize: true,
                            ..AdamConfig::adamw(1e-2)
                        },
                    ),
                    (
                        "betas 0 (general)",
                        AdamConfig {
                            beta1: 0.0,
                            beta2: 0.0,
                            ..base
                        },
                    ),
                    (
                        "beta2 near 1 (general)",
                        AdamConfig {
                            beta1: 0.5,
                            beta2: 1.0 - 1e-8,
                            ..base
                        },
                    ),
                ] {
                    let o = Adam::<S, N>::new(c).unwrap();
                    check(name, o, &auxes(), SCALE, |o| {
                        vec![bits(o.exp_avg()), bits(o.exp_avg_sq())]
                    });
                    let o = AmsGrad::<S, N>::new(c).unwrap();
                    check(&format!("amsgrad {name}"), o, &auxes(), SCALE, |o| {
                        vec![
                            bits(o.exp_avg()),
                            bits(o.exp_avg_sq()),
                            bits(o.max_exp_avg_sq().unwrap()),
                        ]
                    });
                }
            }

            #[test]
            fn rmsprop() {
                fn all<M: Slot, C: Slot>(o: &RmsProp<S, N, M, C>) -> Vec<Vec<u64>> {
                    let opt = |x: Option<&[_]>| x.map(bits).unwrap_or_default();
                    vec![
                        bits(o.square_avg()),
                        opt(o.momentum_buffer()),
                        opt(o.grad_avg()),
                    ]
                }
                let base = RmsPropConfig::new(1e-2);
                let mom = RmsPropConfig {
                    momentum: 0.9,
                    ..base
                };
                for (name, c) in [
                    ("plain (fast path)", base),
                    (
                        "weight decay",
                        RmsPropConfig {
                            weight_decay: 0.1,
                            ..base
                        },
                    ),
                    (
                        "maximize",
                        RmsPropConfig {
                            maximize: true,
                            ..base
                        },
                    ),
                    ("alpha 1.5 (general)", RmsPropConfig { alpha: 1.5, ..base }),
                ] {
                    let o = RmsProp::<S, N>::new(c).unwrap();
                    check(name, o, &auxes(), SCALE, all);
                    let o = RmsProp::<S, N, Off, On>::new(c).unwrap();
                    check(&format!("centered {name}"), o, &auxes(), SCALE, all);
                    let o = RmsProp::<S, N, On, Off>::new(c).unwrap();
                    check(
                        &format!("momentum buffer, μ 0, {name}"),
                        o,
                        &auxes(),
                        SCALE,
                        all,
                    );
                }
                for (name, c) in [
                    ("momentum", mom),
                    (
                        "momentum, decay, maximize",
                        RmsPropConfig {
                            weight_decay: 0.1,
                            maximize: true,
                            ..mom
                        },
                    ),
                ] {
                    let o = RmsProp::<S, N, On, Off>::new(c).unwrap();
                    check(name, o, &auxes(), SCALE, all);
                    let o = RmsProp::<S, N, On, On>::new(c).unwrap();
                    check(&format!("centered {name}"), o, &auxes(), SCALE, all);
                }
            }

            #[test]
            fn adagrad() {
                let base = AdagradConfig::new(0.1);
                for (name, c) in [
                    ("plain (fast path)", base),
                    (
                        "lr decay",
                        AdagradConfig {
                            lr_decay: 0.1,
                            ..base
                        },
                    ),
                    (
                        "weight decay",
                        AdagradConfig {
                            weight_decay: 0.1,
                            ..base
                        },
                    ),
                    (
                        "initial accumulator",
                        AdagradConfig {
                            initial_accumulator_value: 0.5,
                            ..base
                        },
                    ),
                    (
                        "maximize, decay",
                        AdagradConfig {
                            maximize: true,
                            weight_decay: 0.1,
                            ..base
                        },
                    ),
                ] {
                    let o = Adagrad::<S, N>::new(c).unwrap();
                    check(name, o, &auxes(), SCALE, |o| vec![bits(o.sum())]);
                }
            }

            #[test]
            fn lion() {
                let base = LionConfig::new(1e-3);
                for (name, c) in [
                    ("plain (fast path)", base),
                    (
                        "weight decay (general)",
                        LionConfig {
                            weight_decay: 0.1,
                            ..base
                        },
                    ),
                    (
                        "betas below 0.5 (general)",
                        LionConfig {
                            beta1: 0.2,
                            beta2: 0.3,
                            ..base
                        },
                    ),
                    ("lr 0.5", LionConfig::new(0.5)),
                ] {
                    let o = Lion::<S, N>::new(c).unwrap();
                    check(name, o, &auxes(), SCALE, |o| vec![bits(o.exp_avg())]);
                }
            }
        }
    };
}

suite!(f32_, f32, 2.0, vec![()]);
suite!(f64_, f64, 2.0, vec![()]);
suite!(
    i16f16,
    I16F16,
    4.0,
    vec![
        RoundingState::ZERO,
        RoundingState::stochastic(0x9E37_79B9),
        RoundingState::stochastic(u32::MAX),
        RoundingState::nearest(),
    ]
);
suite!(
    i8f24,
    I8F24,
    1.0,
    vec![
        RoundingState::stochastic(12_345),
        RoundingState::stochastic(0xDEAD_BEEF),
        RoundingState::nearest(),
    ]
);

/// A part with an unusable gradient is refused with that gradient's arena index, and nothing of
/// it is written (parameters, state, the token); the parts already applied stay applied, and
/// ending the step gives exactly a step over the other groups (floats; in fixed point the
/// generator differs, since a whole step draws for the skipped range too).
#[test]
fn unusable_gradient_refuses_the_part_and_keeps_the_others() {
    let mut rng = Rng::new("unusable");
    let c = AdamConfig::adam(1e-2);
    let mut o = Adam::<f32, N>::new(c).unwrap();
    let mut params: [f32; N] = core::array::from_fn(|_| rng.unit() as f32);
    let grads = gradients::<f32>(&mut rng, 1.0);
    o.step(&mut params, &grads).unwrap();

    let (mut groups, mut gp) = (o, params);
    groups
        .step_groups(&mut gp, &grads, &[ParamGroup::new(20..N, c)])
        .unwrap();

    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let (mut fused, mut fp) = (o, params);
        let mut g = grads;
        g[5] = bad;
        g[7] = bad;
        let mut part = fused.begin_parts().unwrap();
        fused
            .step_part(&mut part, 20..N, &mut fp[20..], &g[20..])
            .unwrap();
        let (before, m, v) = (fp, *fused.exp_avg(), *fused.exp_avg_sq());
        assert_eq!(
            fused.step_part(&mut part, 0..20, &mut fp[..20], &g[..20]),
            Err(Error::NonFiniteGradient { index: 5 })
        );
        assert_eq!(bits(&fp), bits(&before));
        assert_eq!(
            (bits(fused.exp_avg()), bits(fused.exp_avg_sq())),
            (bits(&m), bits(&v))
        );
        assert_eq!((part.elements(), part.parts()), (N - 20, 1));
        fused.end_parts(part);
        assert_eq!(bits(&fp), bits(&gp));
        assert_eq!(bits(fused.exp_avg()), bits(groups.exp_avg()));
        assert_eq!(bits(fused.exp_avg_sq()), bits(groups.exp_avg_sq()));
        assert_eq!(fused.step_count(), groups.step_count());
    }

    // Fixed point: MIN and MAX are unusable; the refused part is untouched.
    let mut o = Momentum::<I16F16, N>::new(MomentumConfig::new(1e-2, 0.9)).unwrap();
    *o.aux_mut() = RoundingState::stochastic(7);
    let mut params: [I16F16; N] = core::array::from_fn(|_| I16F16::from_f64(rng.unit()));
    let grads = gradients::<I16F16>(&mut rng, 1.0);
    o.step(&mut params, &grads).unwrap();
    for bad in [I16F16::MIN, I16F16::MAX] {
        let (mut fused, mut fp) = (o, params);
        let mut g = grads;
        g[30] = bad;
        let mut part = fused.begin_parts().unwrap();
        fused
            .step_part(&mut part, 0..10, &mut fp[..10], &g[..10])
            .unwrap();
        let (before, buf) = (fp, *fused.momentum_buffer());
        assert_eq!(
            fused.step_part(&mut part, 10..N, &mut fp[10..], &g[10..]),
            Err(Error::NonFiniteGradient { index: 30 })
        );
        assert_eq!(bits(&fp), bits(&before));
        assert_eq!(bits(fused.momentum_buffer()), bits(&buf));
        // The first part is the whole step's first part.
        let (mut whole, mut wp) = (o, params);
        whole.step(&mut wp, &grads).unwrap();
        assert_eq!(bits(&fp[..10]), bits(&wp[..10]));
        assert_eq!(bits(&fp[10..]), bits(&params[10..]));
        fused.end_parts(part);
        assert_eq!(fused.aux(), whole.aux());
        assert_eq!(fused.step_count(), 2);
    }
}

/// Bad ranges, bad lengths and parts adding up to more than the arena are refused with nothing
/// written; empty parts are accepted.
#[test]
fn bad_parts_are_refused_and_change_nothing() {
    let mut rng = Rng::new("bad parts");
    let mut o = Lion::<I8F24, N>::new(LionConfig::new(1e-3)).unwrap();
    *o.aux_mut() = RoundingState::stochastic(99);
    let mut params: [I8F24; N] = core::array::from_fn(|_| I8F24::from_f64(rng.unit()));
    let grads = gradients::<I8F24>(&mut rng, 1.0);
    o.step(&mut params, &grads).unwrap();

    let (mut fused, mut fp) = (o, params);
    let mut part = fused.begin_parts().unwrap();
    fused.step_part(&mut part, 3..3, &mut [], &[]).unwrap();
    fused
        .step_part(&mut part, 10..N, &mut fp[10..], &grads[10..])
        .unwrap();
    let snapshot = (fused, fp, part.elements(), part.parts());
    assert_eq!(snapshot.3, 2);
    let mut p = [I8F24::ZERO; N];
    let g = [I8F24::ZERO; N];
    #[allow(clippy::reversed_empty_ranges)]
    let cases: [(Range<usize>, usize, usize, Error); 6] = [
        (5..4, 0, 0, Error::GroupOutOfBounds { group: 2 }),
        (30..N + 1, 8, 8, Error::GroupOutOfBounds { group: 2 }),
        (
            0..10,
            9,
            10,
            Error::LengthMismatch {
                expected: 10,
                found: 9,
            },
        ),
        (
            0..10,
            10,
            11,
            Error::LengthMismatch {
                expected: 10,
                found: 11,
            },
        ),
        // 27 applied + 11 > 37: an element would be stepped twice.
        (
            0..11,
            11,
            11,
            Error::GroupsOverlap {
                first: 2,
                second: 2,
            },
        ),
        (
            20..N,
            N - 20,
            N - 20,
            Error::GroupsOverlap {
                first: 2,
                second: 2,
            },
        ),
    ];
    for (range, np, ng, err) in cases {
        assert_eq!(
            fused.step_part(&mut part, range.clone(), &mut p[..np], &g[..ng]),
            Err(err),
            "{range:?}"
        );
        assert_eq!(bits(&p), bits(&[I8F24::ZERO; N]));
        assert_eq!(bits(fused.exp_avg()), bits(snapshot.0.exp_avg()));
        assert_eq!(fused.aux(), snapshot.0.aux());
        assert_eq!((part.elements(), part.parts()), (snapshot.2, snapshot.3));
    }
    fused
        .step_part(&mut part, 0..10, &mut fp[..10], &grads[..10])
        .unwrap();
    fused.end_parts(part);
    let (mut whole, mut wp) = (o, params);
    whole.step(&mut wp, &grads).unwrap();
    assert_eq!(bits(&fp), bits(&wp));
    assert_eq!(bits(fused.exp_avg()), bits(whole.exp_avg()));
    assert_eq!(fused.aux(), whole.aux());
}

/// A whole training run applied in parts (a new random partition, applied backwards, at every
/// step) stays on the whole-step trajectory, here for 50 steps of AMSGrad in I16F16.
#[test]
fn a_fused_trajectory_stays_on_the_whole_step_one() {
    let mut rng = Rng::new("trajectory");
    let c = AdamConfig::adamw(1e-3);
    let mut whole = AmsGrad::<I16F16, N>::new(c).unwrap();
    *whole.aux_mut() = RoundingState::stochastic(2024);
    let mut fused = whole;
    let mut wp: [I16F16; N] = core::array::from_fn(|_| I16F16::from_f64(rng.unit()));
    let mut fp = wp;
    for _ in 0..50 {
        let grads = gradients::<I16F16>(&mut rng, 1.0);
        whole.step(&mut wp, &grads).unwrap();
        let parts = partitions(&mut rng).swap_remove(2); // random cuts, backwards
        let mut part = fused.begin_parts().unwrap();
        for r in parts {
            fused
                .step_part(&mut part, r.clone(), &mut fp[r.clone()], &grads[r])
                .unwrap();
        }
        fused.end_parts(part);
    }
    assert_eq!(bits(&fp), bits(&wp));
    assert_eq!(bits(fused.exp_avg()), bits(whole.exp_avg()));
    assert_eq!(bits(fused.exp_avg_sq()), bits(whole.exp_avg_sq()));
    assert_eq!(
        bits(fused.max_exp_avg_sq().unwrap()),
        bits(whole.max_exp_avg_sq().unwrap())
    );
    assert_eq!((fused.aux(), fused.step_count()), (whole.aux(), 50));
}
