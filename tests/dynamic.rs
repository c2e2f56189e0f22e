//! The run-time-sized optimizers of `edgetune::dynamic` against the `[S; N]` ones: for every
//! optimizer, option and number type (f32, I16F16, I8F24), random configurations and gradients
//! over several steps give bit-identical parameters, state buffers, step counts and rounding
//! state, and every error (invalid configuration, length mismatch, unusable gradient, overflow)
//! is the same error with nothing changed.

use edgetune::dynamic::{DynAdagrad, DynAdam, DynLion, DynMomentum, DynRmsProp, DynSgd};
use edgetune::num::fixed::{RoundingState, I16F16, I8F24};
use edgetune::num::{Num, Scalar};
use edgetune::optim::{
    Adagrad, AdagradConfig, Adam, AdamConfig, Lion, LionConfig, Momentum, MomentumConfig, Off, On,
    Optimizer, RmsProp, RmsPropConfig, Sgd, SgdConfig,
};
use edgetune::Error;

const N: usize = 13;
const STEPS: usize = 12;
const CASES: usize = 40;

/// xorshift64*: reproducible test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    /// `10^u`, `u` uniform in `[lo, hi)`.
    fn log(&mut self, lo: f64, hi: f64) -> f64 {
        10f64.powf(self.range(lo, hi))
    }
    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
    /// 0 half of the time, else `log(lo, hi)`.
    fn maybe(&mut self, lo: f64, hi: f64) -> f64 {
        if self.coin() {
            0.0
        } else {
            self.log(lo, hi)
        }
    }
}

/// The number types under test, with a way to seed their rounding state.
trait TestNum: Scalar + Num {
    /// A gradient that the step must refuse.
    const BAD: Self;
    fn seed(aux: &mut Self::Aux, rng: &mut Rng);
}

impl TestNum for f32 {
    const BAD: Self = f32::NAN;
    fn seed(_: &mut (), _: &mut Rng) {}
}

macro_rules! fixed_test_num {
    ($t:ty) => {
        impl TestNum for $t {
            const BAD: Self = <$t>::MIN;
            fn seed(aux: &mut RoundingState, rng: &mut Rng) {
                *aux = if rng.next() % 4 == 0 {
                    RoundingState::nearest()
                } else {
                    RoundingState::stochastic(rng.next() as u32)
                };
            }
        }
    };
}
fixed_test_num!(I16F16);
fixed_test_num!(I8F24);

fn values<S: TestNum>(rng: &mut Rng, scale: f64) -> [S; N] {
    core::array::from_fn(|_| S::from_f64(rng.range(-scale, scale)))
}

/// Bit-exact comparison of anything `Debug` (f32's `Debug` is shortest-round-trip, so equal
/// text is equal bits, `-0.0` included).
fn same<T: core::fmt::Debug>(a: &T, b: &T) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

/// Runs `STEPS` steps on a static and a dynamic optimizer built from the same configuration
/// and seed, with `snapshot` taking (parameters, state) of each, and checks both agree after
/// every step; then the error cases. Returns the number of steps compared.
macro_rules! compare {
    ($rng:expr, $S:ty, $stat:expr, $dyn:expr, |$o:ident| $state:expr) => {{
        let rng: &mut Rng = $rng;
        let mut st = $stat;
        let mut dy = $dyn;
        let seed = rng.next();
        <$S as TestNum>::seed(st.aux_mut(), &mut Rng(seed | 1));
        <$S as TestNum>::seed(dy.aux_mut(), &mut Rng(seed | 1));
        let scale: f64 = [0.5, 3.0, 50.0][(rng.next() % 3) as usize];
        let mut ps: [$S; N] = values(rng, scale.min(100.0));
        let mut pd = ps;
        let mut compared = 0;
        for _ in 0..STEPS {
            let gs = [1e-3, 1.0, 20.0][(rng.next() % 3) as usize];
            let g: [$S; N] = values(rng, gs);
            let a = st.step(&mut ps, &g);
            let b = dy.step(&mut pd, &g);
            assert_eq!(a, b, "step result");
            assert!(same(&ps, &pd), "parameters {ps:?} {pd:?}");
            let (sa, sb) = {
                let $o = &st;
                let x = format!("{:?}", $state);
                let $o = &dy;
                (x, format!("{:?}", $state))
            };
            assert_eq!(sa, sb, "state");
            assert_eq!(st.step_count(), dy.step_count());
            assert!(same(st.aux(), dy.aux()), "aux");
            compared += 1;
        }
        // Length mismatch: the static step_slices' error, nothing changed.
        let g: [$S; N] = values(rng, 1.0);
        let before = (format!("{:?}", pd), dy.step_count());
        let short = &g[..N - 1];
        assert_eq!(
            st.step_slices(&mut ps[..N - 1], &g),
            dy.step(&mut pd[..N - 1], &g)
        );
        assert_eq!(st.step_slices(&mut ps, short), dy.step(&mut pd, short));
        assert!(matches!(
            dy.step(&mut pd, short),
            Err(Error::LengthMismatch { expected: N, found })
                if found == N - 1
        ));
        // An unusable gradient at a random index: the same error, nothing changed.
        let mut bad = g;
        let at = (rng.next() % N as u64) as usize;
        bad[at] = <$S as TestNum>::BAD;
        let a = st.step(&mut ps, &bad);
        let b = dy.step(&mut pd, &bad);
        assert_eq!(a, b);
        assert_eq!(b, Err(Error::NonFiniteGradient { index: at }));
        assert_eq!(before, (format!("{:?}", pd), dy.step_count()));
        assert!(same(&ps, &pd));
        compared
    }};
}

fn sgd_cases<S: TestNum + edgetune::optim::SgdNum + edgetune::optim::MomentumNum>(
    rng: &mut Rng,
) -> usize {
    let mut n = 0;
    for _ in 0..CASES {
        let c = SgdConfig {
            lr: rng.log(-4.0, -0.5),
            weight_decay: rng.maybe(-4.0, -1.0),
            maximize: rng.coin(),
        };
        n += compare!(
            rng,
            S,
            Sgd::<S, N>::new(c).unwrap(),
            DynSgd::<S>::new(c, N).unwrap(),
            |o| o.step_count()
        );
        let nesterov = rng.coin();
        let c = MomentumConfig {
            lr: rng.log(-4.0, -0.5),
            momentum: rng.range(0.05, 0.99),
            dampening: if nesterov { 0.0 } else { rng.maybe(-2.0, -0.1) },
            weight_decay: rng.maybe(-4.0, -1.0),
            nesterov,
            maximize: rng.coin(),
        };
        n += compare!(
            rng,
            S,
            Momentum::<S, N>::new(c).unwrap(),
            DynMomentum::<S>::new(c, N).unwrap(),
            |o| o.momentum_buffer()
        );
    }
    n
}

fn adam_cases<S: TestNum + edgetune::optim::AdamNum>(rng: &mut Rng) -> usize {
    let mut n = 0;
    for _ in 0..CASES {
        let c = AdamConfig {
            lr: rng.log(-4.0, -1.0),
            beta1: rng.range(0.0, 0.99),
            beta2: 1.0 - rng.log(-4.0, -0.5),
            eps: rng.log(-10.0, -3.0),
            weight_decay: rng.maybe(-4.0, -1.0),
            decoupled_weight_decay: rng.coin(),
            maximize: rng.coin(),
        };
        n += compare!(
            rng,
            S,
            Adam::<S, N>::new(c).unwrap(),
            DynAdam::<S>::new(c, false, N).unwrap(),
            |o| (o.exp_avg(), o.exp_avg_sq(), o.max_exp_avg_sq())
        );
        n += compare!(
            rng,
            S,
            Adam::<S, N, On>::new(c).unwrap(),
            DynAdam::<S>::new(c, true, N).unwrap(),
            |o| (o.exp_avg(), o.exp_avg_sq(), o.max_exp_avg_sq())
        );
    }
    n
}

fn rmsprop_config(rng: &mut Rng, momentum: bool) -> RmsPropConfig {
    RmsPropConfig {
        lr: rng.log(-4.0, -1.0),
        alpha: rng.range(0.5, 0.999),
        eps: rng.log(-10.0, -3.0),
        weight_decay: rng.maybe(-4.0, -1.0),
        momentum: if momentum { rng.range(0.05, 0.95) } else { 0.0 },
        maximize: rng.coin(),
    }
}

fn rmsprop_cases<S: TestNum + edgetune::optim::RmsPropNum>(rng: &mut Rng) -> usize {
    let mut n = 0;
    macro_rules! one {
        ($m:ty, $c:ty, $mom:expr, $centered:expr) => {
            let c = rmsprop_config(rng, $mom);
            n += compare!(
                rng,
                S,
                RmsProp::<S, N, $m, $c>::new(c).unwrap(),
                DynRmsProp::<S>::new(c, $centered, N).unwrap(),
                |o| (o.square_avg(), o.momentum_buffer(), o.grad_avg())
            );
        };
    }
    for _ in 0..CASES {
        one!(Off, Off, false, false);
        one!(On, Off, true, false);
        one!(Off, On, false, true);
        one!(On, On, true, true);
    }
    n
}

fn adagrad_cases<S: TestNum + edgetune::optim::AdagradNum>(rng: &mut Rng) -> usize {
    let mut n = 0;
    for _ in 0..CASES {
        let c = AdagradConfig {
            lr: rng.log(-4.0, -1.0),
            lr_decay: rng.maybe(-4.0, -1.0),
            weight_decay: rng.maybe(-4.0, -1.0),
            initial_accumulator_value: rng.maybe(-3.0, 0.0),
            eps: rng.log(-10.0, -3.0),
            maximize: rng.coin(),
        };
        n += compare!(
            rng,
            S,
            Adagrad::<S, N>::new(c).unwrap(),
            DynAdagrad::<S>::new(c, N).unwrap(),
            |o| o.sum()
        );
    }
    n
}

fn lion_cases<S: TestNum + edgetune::optim::LionNum>(rng: &mut Rng) -> usize {
    let mut n = 0;
    for _ in 0..CASES {
        let c = LionConfig {
            lr: rng.log(-5.0, -2.0),
            beta1: rng.range(0.0, 0.99),
            beta2: rng.range(0.5, 0.999),
            weight_decay: rng.maybe(-4.0, -1.0),
        };
        n += compare!(
            rng,
            S,
            Lion::<S, N>::new(c).unwrap(),
            DynLion::<S>::new(c, N).unwrap(),
            |o| o.exp_avg()
        );
    }
    n
}

fn all_cases<
    S: TestNum
        + edgetune::optim::SgdNum
        + edgetune::optim::MomentumNum
        + edgetune::optim::AdamNum
        + edgetune::optim::RmsPropNum
        + edgetune::optim::AdagradNum
        + edgetune::optim::LionNum,
>(
    seed: u64,
) {
    let rng = &mut Rng(seed);
    let steps = sgd_cases::<S>(rng)
        + adam_cases::<S>(rng)
        + rmsprop_cases::<S>(rng)
        + adagrad_cases::<S>(rng)
        + lion_cases::<S>(rng);
    // 2 SGD + 2 Adam + 4 RMSprop + Adagrad + Lion per case.
    assert_eq!(steps, CASES * STEPS * 10);
}

#[test]
fn dynamic_f32_steps_are_bit_identical_to_static() {
    all_cases::<f32>(0x5eed_0001);
}

#[test]
fn dynamic_i16f16_steps_are_bit_identical_to_static() {
    all_cases::<I16F16>(0x5eed_0002);
}

#[test]
fn dynamic_i8f24_steps_are_bit_identical_to_static() {
    all_cases::<I8F24>(0x5eed_0003);
}

/// Every invalid configuration the static constructors refuse, the dynamic ones refuse with
/// the same error.
#[test]
fn dynamic_invalid_configs_are_the_static_errors() {
    let sgd = [
        SgdConfig {
            lr: -1.0,
            ..SgdConfig::new(0.1)
        },
        SgdConfig {
            weight_decay: f64::NAN,
            ..SgdConfig::new(0.1)
        },
    ];
    for c in sgd {
        let e = Sgd::<f32, N>::new(c).unwrap_err();
        assert_eq!(DynSgd::<f32>::new(c, N).unwrap_err(), e);
    }
    let momentum = [
        MomentumConfig {
            momentum: -0.5,
            ..MomentumConfig::new(0.1, 0.9)
        },
        MomentumConfig {
            dampening: 0.5,
            ..MomentumConfig::nesterov(0.1, 0.9)
        },
        MomentumConfig::nesterov(0.1, 0.0),
    ];
    for c in momentum {
        let e = Momentum::<I16F16, N>::new(c).unwrap_err();
        assert_eq!(DynMomentum::<I16F16>::new(c, N).unwrap_err(), e);
    }
    let adam = [
        AdamConfig {
            beta1: 1.0,
            ..AdamConfig::adam(0.1)
        },
        AdamConfig {
            beta2: -0.1,
            ..AdamConfig::adamw(0.1)
        },
        AdamConfig {
            eps: 0.0,
            ..AdamConfig::adam(0.1)
        },
        AdamConfig {
            lr: f64::INFINITY,
            ..AdamConfig::adam(0.1)
        },
    ];
    for c in adam {
        let e = Adam::<f32, N>::new(c).unwrap_err();
        assert_eq!(DynAdam::<f32>::new(c, false, N).unwrap_err(), e);
        assert_eq!(DynAdam::<I8F24>::new(c, true, N).unwrap_err(), e);
    }
    let rms = [
        RmsPropConfig {
            alpha: -1.0,
            ..RmsPropConfig::new(0.1)
        },
        RmsPropConfig {
            eps: -1e-8,
            ..RmsPropConfig::new(0.1)
        },
    ];
    for c in rms {
        let e = RmsProp::<f32, N>::new(c).unwrap_err();
        assert_eq!(DynRmsProp::<f32>::new(c, false, N).unwrap_err(), e);
    }
    let ada = [
        AdagradConfig {
            lr_decay: -1.0,
            ..AdagradConfig::new(0.1)
        },
        AdagradConfig {
            initial_accumulator_value: -1.0,
            ..AdagradConfig::new(0.1)
        },
    ];
    for c in ada {
        let e = Adagrad::<f32, N>::new(c).unwrap_err();
        assert_eq!(DynAdagrad::<f32>::new(c, N).unwrap_err(), e);
    }
    let lion = LionConfig {
        beta2: 1.0,
        ..LionConfig::new(0.1)
    };
    let e = Lion::<f32, N>::new(lion).unwrap_err();
    assert_eq!(DynLion::<f32>::new(lion, N).unwrap_err(), e);
}

/// RMSprop created without momentum refuses a later `momentum > 0` as `RmsProp<_, _, Off, _>`
/// does; created with it, it accepts any valid momentum.
#[test]
fn dynamic_rmsprop_momentum_needs_its_buffer() {
    let up = RmsPropConfig {
        momentum: 0.5,
        ..RmsPropConfig::new(0.1)
    };
    let mut st = RmsProp::<f32, N>::new(RmsPropConfig::new(0.1)).unwrap();
    let mut dy = DynRmsProp::<f32>::new(RmsPropConfig::new(0.1), false, N).unwrap();
    assert_eq!(dy.set_config(up), st.set_config(up));
    assert!(dy.set_config(up).is_err());
    let mut dy = DynRmsProp::<f32>::new(up, false, N).unwrap();
    assert!(dy.momentum_buffer().is_some());
    assert_eq!(dy.set_config(RmsPropConfig::new(0.1)), Ok(()));
}

/// An f32 step that would overflow (weight decay on a parameter near `f32::MAX`) is the same
/// `StepOverflow` with nothing changed.
#[test]
fn dynamic_step_overflow_is_the_static_error() {
    let c = SgdConfig {
        weight_decay: 10.0,
        ..SgdConfig::new(0.5)
    };
    let mut st = Sgd::<f32, N>::new(c).unwrap();
    let mut dy = DynSgd::<f32>::new(c, N).unwrap();
    let mut ps = [1.0f32; N];
    ps[5] = 3e38;
    let mut pd = ps;
    let g = [0.5f32; N];
    let e = st.step(&mut ps, &g);
    assert!(matches!(e, Err(Error::StepOverflow { .. })), "{e:?}");
    assert_eq!(dy.step(&mut pd, &g), e);
    assert!(same(&ps, &pd));
    assert_eq!(dy.step_count(), 0);

    let c = AdamConfig {
        weight_decay: 10.0,
        ..AdamConfig::adam(0.5)
    };
    let mut st = Adam::<f32, N>::new(c).unwrap();
    let mut dy = DynAdam::<f32>::new(c, false, N).unwrap();
    let e = st.step(&mut ps, &g);
    assert!(matches!(e, Err(Error::StepOverflow { .. })), "{e:?}");
    assert_eq!(dy.step(&mut pd, &g), e);
    assert!(same(&ps, &pd));
}

/// `reset` returns to the state of a new optimizer (the next steps equal a fresh one's).
#[test]
fn dynamic_reset_is_a_new_optimizer() {
    let c = AdamConfig::adam(1e-2);
    let mut a = DynAdam::<I16F16>::new(c, true, N).unwrap();
    let mut p = [I16F16::from_num(0.5); N];
    let g = [I16F16::from_num(0.25); N];
    a.step(&mut p, &g).unwrap();
    a.reset();
    let fresh = DynAdam::<I16F16>::new(c, true, N).unwrap();
    assert!(same(&a, &fresh));
}
