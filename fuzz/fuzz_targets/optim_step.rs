//! An optimizer step with arbitrary hyperparameters, parameters and gradients, in `f32`,
//! I16F16 and (except Adam) I8F24, for every optimizer.
//!
//! Invariants: no panic; a step that returns an error (an invalid gradient, or
//! `Error::StepOverflow`: a state or update that would leave its number type's range) leaves
//! parameters and the whole optimizer state bit-for-bit unchanged (compared through their
//! checkpoint words); a successful step moves every parameter by at most a bound derived from the
//! optimizer's update rule and the number type's documented rounding (`edgetune_fuzz::bound`:
//! SGD, momentum with Nesterov and dampening, RMSprop with and without centering and momentum,
//! Adagrad and Lion in every format; Adam and AMSGrad in f32 by `bound::adam_f32` and in I16F16
//! by the `K_t` bound below); a fixed-point SGD step without weight decay moves each parameter in
//! the direction of `-g` (or `+g` under `maximize`).
#![no_main]

use edgetune::checkpoint::Checkpointable;
use edgetune::num::fixed::{RoundingState, I16F16, I8F24};
use edgetune::num::Scalar;
use edgetune::optim::{
    Adagrad, AdagradConfig, AdagradNum, Adam, AdamConfig, AmsGrad, Lion, LionConfig, Momentum,
    MomentumConfig, MomentumNum, Off, On, Optimizer, RmsProp, RmsPropConfig, RmsPropNum, Sgd,
    SgdConfig, SgdNum,
};
use edgetune_fuzz::bound::{self, Fmt, St};
use edgetune_fuzz::{words, Bytes};
use libfuzzer_sys::fuzz_target;

const N: usize = 4;
const LR: &[f64] = &[0.0, 1e-4, 1e-3, 0.01, 0.1, 1.0, 10.0];
const BETA: &[f64] = &[0.0, 0.5, 0.9, 0.99, 0.999, 0.9999];
const EPS: &[f64] = &[1e-8, 1e-6, 1e-3, 1.0];
const WD: &[f64] = &[0.0, 0.0, 1e-4, 0.01, 0.5];

/// Draws a number of type `S` from the input.
trait Draw: Scalar + Copy + edgetune::checkpoint::Word + Fmt + St {
    fn draw(b: &mut Bytes) -> Self;
}
impl Draw for f32 {
    fn draw(b: &mut Bytes) -> Self {
        // Mostly moderate values, sometimes arbitrary bits (NaN, infinities, subnormals).
        if b.u8() < 230 {
            (b.u32() as i32) as f32 / 65536.0 / 64.0
        } else {
            f32::from_bits(b.u32())
        }
    }
}
impl Draw for I16F16 {
    fn draw(b: &mut Bytes) -> Self {
        let raw = b.u32() as i32;
        // Mostly moderate values (|x| < 512), sometimes the full range including MIN and MAX.
        if b.u8() < 230 {
            I16F16::from_bits(raw >> 6)
        } else {
            I16F16::from_bits(raw)
        }
    }
}
impl Draw for I8F24 {
    fn draw(b: &mut Bytes) -> Self {
        let raw = b.u32() as i32;
        // Mostly moderate values (|x| < 2), sometimes the full range including MIN and MAX.
        if b.u8() < 230 {
            I8F24::from_bits(raw >> 6)
        } else {
            I8F24::from_bits(raw)
        }
    }
}

/// A bound on one step's movement of parameter `i`, given the optimizer before the step (its
/// state and step count), the parameters before it and the gradients; `None`: unchecked.
type Bound<'a, S, O> = &'a dyn Fn(&O, &[S; N], &[S; N], usize) -> Option<f64>;

/// Up to three steps; errors must change nothing, successes must respect `bound`.
fn steps<S: Draw, O: Optimizer<S, N> + Checkpointable + Copy>(
    b: &mut Bytes,
    opt: &mut O,
    bound: Bound<'_, S, O>,
    sgd_direction: Option<bool>,
) {
    let mut params: [S; N] = core::array::from_fn(|_| S::draw(b));
    for _ in 0..1 + b.u8() % 3 {
        let grads: [S; N] = core::array::from_fn(|_| S::draw(b));
        let before = (words(&params), words(opt));
        let (old, old_opt) = (params, *opt);
        match opt.step(&mut params, &grads) {
            Err(_) => assert_eq!(
                (words(&params), words(opt)),
                before,
                "a failed step changed the state"
            ),
            Ok(()) => {
                for i in 0..N {
                    let moved = params[i].to_f64() - old[i].to_f64();
                    // A NaN bound (0·∞ from extreme hyperparameters) bounds nothing.
                    let limit = bound(&old_opt, &old, &grads, i).filter(|l| !l.is_nan());
                    if let Some(limit) = limit {
                        assert!(
                            moved.abs() <= limit,
                            "element {i}: moved {moved} > bound {limit} (p {:?} g {:?}; step {}; {:?})",
                            old[i],
                            grads[i],
                            opt.step_count(),
                            opt.config()
                        );
                    }
                    if let Some(maximize) = sgd_direction {
                        let g = grads[i].to_f64();
                        let dir = if maximize { g } else { -g };
                        assert!(
                            moved * dir >= 0.0 || moved == 0.0,
                            "element {i} moved against the gradient: {moved} for g {g}"
                        );
                    }
                }
            }
        }
    }
}

fn none<S, O>(_: &O, _: &[S; N], _: &[S; N], _: usize) -> Option<f64> {
    None
}

/// The bound of `rule`'s update interval `u` for the write `p − u`.
fn limit<S: Fmt>(p: f64, u: bound::Iv) -> Option<f64> {
    Some(S::write(p, u))
}

/// SGD in format `S`: `|Δp| ≤ |lr·(g + wd·p)|` plus rounding (see `bound::sgd`); fixed point
/// without weight decay also moves along `−g`.
fn sgd<S: Draw + SgdNum>(b: &mut Bytes, c: SgdConfig)
where
    Sgd<S, N>: Checkpointable,
{
    let Ok(mut o) = Sgd::<S, N>::new(c) else {
        return;
    };
    if let Some(seed) = seed::<S>(b) {
        set_seed(&mut o, seed);
    }
    let bound = move |_: &Sgd<S, N>, p: &[S; N], g: &[S; N], i: usize| {
        let (p, g) = (p[i].to_f64(), g[i].to_f64());
        limit::<S>(p, bound::sgd::<S>(c.lr, c.weight_decay, c.maximize, p, g))
    };
    let dir = (S::FIXED && c.weight_decay == 0.0).then_some(c.maximize);
    steps(b, &mut o, &bound, dir);
}

/// Momentum in format `S` (see `bound::momentum`).
fn momentum<S: Draw + MomentumNum>(b: &mut Bytes, c: MomentumConfig)
where
    S::Buffer: St,
    Momentum<S, N>: Checkpointable,
{
    let Ok(mut o) = Momentum::<S, N>::new(c) else {
        return;
    };
    if let Some(seed) = seed::<S>(b) {
        set_seed(&mut o, seed);
    }
    let bound = move |o: &Momentum<S, N>, p: &[S; N], g: &[S; N], i: usize| {
        let (p, g) = (p[i].to_f64(), g[i].to_f64());
        let t = o.step_count() + 1;
        let buf = o.momentum_buffer()[i].f();
        let u = bound::momentum::<S>(
            c.lr,
            c.momentum,
            c.dampening,
            c.weight_decay,
            c.nesterov,
            c.maximize,
            t,
            buf,
            p,
            g,
        );
        limit::<S>(p, u)
    };
    steps(b, &mut o, &bound, None);
}

/// RMSprop in format `S` with the momentum buffer (`M`) and centering (`C`) or without (see
/// `bound::rmsprop`).
fn rmsprop<S: Draw + RmsPropNum, M: edgetune::optim::Slot, C: edgetune::optim::Slot>(
    b: &mut Bytes,
    c: RmsPropConfig,
) where
    S::SqAvg: St,
    S::Avg: St,
    RmsProp<S, N, M, C>: Checkpointable + Copy,
{
    let Ok(mut o) = RmsProp::<S, N, M, C>::new(c) else {
        return;
    };
    if let Some(seed) = seed::<S>(b) {
        set_seed(&mut o, seed);
    }
    let bound = move |o: &RmsProp<S, N, M, C>, p: &[S; N], g: &[S; N], i: usize| {
        let (p, g) = (p[i].to_f64(), g[i].to_f64());
        let u = bound::rmsprop::<S>(
            c.lr,
            c.alpha,
            c.eps,
            c.weight_decay,
            c.momentum,
            c.maximize,
            o.square_avg()[i].f(),
            o.grad_avg().map(|x| x[i].f()),
            o.momentum_buffer().map(|x| x[i].f()),
            p,
            g,
        );
        limit::<S>(p, u)
    };
    steps(b, &mut o, &bound, None);
}

/// Adagrad in format `S` (see `bound::adagrad`).
fn adagrad<S: Draw + AdagradNum>(b: &mut Bytes, c: AdagradConfig)
where
    S::Sum: St,
    Adagrad<S, N>: Checkpointable,
{
    let Ok(mut o) = Adagrad::<S, N>::new(c) else {
        return;
    };
    if let Some(seed) = seed::<S>(b) {
        set_seed(&mut o, seed);
    }
    let bound = move |o: &Adagrad<S, N>, p: &[S; N], g: &[S; N], i: usize| {
        let (p, g) = (p[i].to_f64(), g[i].to_f64());
        let t = o.step_count() + 1;
        // Step 1 fills the accumulator with its initial value first.
        let s = if t == 1 {
            S::adagrad_initial_sum(&c).f()
        } else {
            o.sum()[i].f()
        };
        let u = bound::adagrad::<S>(
            c.lr,
            c.lr_decay,
            c.eps,
            c.weight_decay,
            c.maximize,
            t,
            s,
            p,
            g,
        );
        limit::<S>(p, u)
    };
    steps(b, &mut o, &bound, None);
}

/// Lion in format `S` (see `bound::lion`).
fn lion<S: Draw + edgetune::optim::LionNum>(b: &mut Bytes, c: LionConfig)
where
    Lion<S, N>: Checkpointable,
{
    let Ok(mut o) = Lion::<S, N>::new(c) else {
        return;
    };
    if let Some(seed) = seed::<S>(b) {
        set_seed(&mut o, seed);
    }
    let bound = move |_: &Lion<S, N>, p: &[S; N], _: &[S; N], i: usize| {
        let p = p[i].to_f64();
        limit::<S>(p, bound::lion::<S>(c.lr, c.weight_decay, p))
    };
    steps(b, &mut o, &bound, None);
}

/// The fixed-point formats' rounding seed (stochastic rounding), read from the input; none for
/// `f32`.
fn seed<S: Fmt>(b: &mut Bytes) -> Option<u32> {
    S::FIXED.then(|| b.u32())
}

/// Sets the stochastic rounding seed of a fixed-point optimizer (`S::Aux` is `RoundingState`).
fn set_seed<S: Draw, O: Optimizer<S, N>>(o: &mut O, seed: u32)
where
    S::Aux: 'static,
{
    // Only the fixed-point formats have a seed; their Aux is RoundingState.
    if let Some(aux) = (o.aux_mut() as &mut dyn core::any::Any).downcast_mut::<RoundingState>() {
        *aux = RoundingState::stochastic(seed);
    }
}

const LSB: f64 = 1.0 / 65536.0;

/// `|Δθ| ≤ lr·|m̂|/(√v̂ + eps)` with `|m̂|/√v̂` bounded by Cauchy–Schwarz over the steps taken
/// (`K_t`, see the Adam paper's section 2.1, exact form with bias corrections) and by
/// `max|g|/eps`; plus AdamW's decay `lr·wd·|p|`, a relative error of 1e-3 and 2 LSB.
fn adam_bound(c: AdamConfig, t: u32, gmax: f64, p: f64) -> f64 {
    let (b1, b2) = (c.beta1, c.beta2);
    let mut sum = 0.0;
    for k in 0..t {
        sum += (b1 * b1 / b2).powi(k as i32);
    }
    let kt = if b2 > 0.0 {
        (1.0 - b1) / (1.0 - b1.powi(t as i32))
            * ((1.0 - b2.powi(t as i32)) / (1.0 - b2)).sqrt()
            * sum.sqrt()
    } else {
        f64::INFINITY
    };
    // With β2 = 0 the Cauchy–Schwarz bound is void; the denominator is still at least eps.
    let ratio = if b2 > 0.0 { kt } else { gmax / c.eps };
    // AdamW's decay, whose coefficient carries a relative error 2^-16 (module docs of
    // `num::fixed`; a tighter 1e-3 here was a harness bug this target found).
    let decay = if c.decoupled_weight_decay && p != 0.0 {
        c.lr * c.weight_decay * p.abs() * (1.0 + 2f64.powi(-15))
    } else {
        0.0
    };
    // lr = 0 moves nothing whatever the ratio (0·∞ would be NaN: found by this target).
    let step = if c.lr == 0.0 {
        0.0
    } else {
        c.lr * ratio * (1.0 + 1e-3)
    };
    step + decay + 2.0 * LSB
}

/// f32 Adam and AMSGrad: the interval bound of `bound::adam_f32` from the state before the step.
fn adam_f32(c: AdamConfig, t: u32, state: (f64, f64, Option<f64>), p: f32, g: f32) -> Option<f64> {
    let p = f64::from(p);
    let u = bound::adam_f32(
        c.lr,
        (c.beta1, c.beta2),
        c.eps,
        c.weight_decay,
        c.decoupled_weight_decay,
        c.maximize,
        t,
        state,
        p,
        f64::from(g),
    );
    limit::<f32>(p, u)
}

/// Runs `$f::<S>` for the format picked by the selector: `f32`, I16F16 or I8F24.
macro_rules! in_format {
    ($fmt:expr, $f:ident ( $($arg:expr),* )) => {
        match $fmt {
            0 => $f::<f32>($($arg),*),
            1 => $f::<I16F16>($($arg),*),
            _ => $f::<I8F24>($($arg),*),
        }
    };
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let which = b.u8();
    let fixed = which & 1 == 1;
    // f32, or one of the fixed formats: I16F16, and I8F24 when the input asks for it (a byte
    // read only by the optimizers that run in I8F24; Adam's layout is unchanged, so its
    // regression inputs replay as before).
    let fmt = |b: &mut Bytes| -> u8 {
        if !fixed {
            0
        } else if b.u8() & 1 == 0 {
            1
        } else {
            2
        }
    };
    match which / 2 % 7 {
        0 => {
            let f = fmt(&mut b);
            let c = SgdConfig {
                lr: b.hyper(LR),
                weight_decay: b.hyper(WD),
                maximize: b.bool(),
            };
            in_format!(f, sgd(&mut b, c));
        }
        1 => {
            let f = fmt(&mut b);
            let c = MomentumConfig {
                lr: b.hyper(LR),
                momentum: b.hyper(BETA),
                dampening: b.hyper(&[0.0, 0.1]),
                weight_decay: b.hyper(WD),
                nesterov: b.bool(),
                maximize: b.bool(),
            };
            in_format!(f, momentum(&mut b, c));
        }
        2 | 3 => {
            let c = AdamConfig {
                lr: b.hyper(LR),
                beta1: b.hyper(BETA),
                beta2: b.hyper(BETA),
                eps: b.hyper(EPS),
                weight_decay: b.hyper(WD),
                decoupled_weight_decay: b.bool(),
                maximize: b.bool(),
            };
            let ams = b.bool();
            if fixed {
                let seed = b.u32();
                // The bound needs the largest effective gradient seen, over up to 3 steps: use
                // the format's moderate range for g plus the L2 term.
                // |m̂| is at most the largest effective gradient: |g| < 32768 plus the L2 term.
                let gmax = 32768.0 * (1.0 + c.weight_decay);
                if ams {
                    if let Ok(mut o) = AmsGrad::<I16F16, N>::new(c) {
                        *o.aux_mut() = RoundingState::stochastic(seed);
                        let bound = move |o: &AmsGrad<I16F16, N>,
                                          p: &[I16F16; N],
                                          _: &[I16F16; N],
                                          i: usize| {
                            Some(adam_bound(c, o.step_count() + 1, gmax, p[i].to_f64()))
                        };
                        steps(&mut b, &mut o, &bound, None);
                    }
                } else if let Ok(mut o) = Adam::<I16F16, N>::new(c) {
                    *o.aux_mut() = RoundingState::stochastic(seed);
                    let bound =
                        move |o: &Adam<I16F16, N>, p: &[I16F16; N], _: &[I16F16; N], i: usize| {
                            Some(adam_bound(c, o.step_count() + 1, gmax, p[i].to_f64()))
                        };
                    steps(&mut b, &mut o, &bound, None);
                }
            } else if ams {
                if let Ok(mut o) = AmsGrad::<f32, N>::new(c) {
                    let bound = move |o: &AmsGrad<f32, N>, p: &[f32; N], g: &[f32; N], i: usize| {
                        let state = (
                            f64::from(o.exp_avg()[i]),
                            f64::from(o.exp_avg_sq()[i]),
                            o.max_exp_avg_sq().map(|x| f64::from(x[i])),
                        );
                        adam_f32(c, o.step_count() + 1, state, p[i], g[i])
                    };
                    steps(&mut b, &mut o, &bound, None);
                }
            } else if let Ok(mut o) = Adam::<f32, N>::new(c) {
                let bound = move |o: &Adam<f32, N>, p: &[f32; N], g: &[f32; N], i: usize| {
                    let state = (
                        f64::from(o.exp_avg()[i]),
                        f64::from(o.exp_avg_sq()[i]),
                        None,
                    );
                    adam_f32(c, o.step_count() + 1, state, p[i], g[i])
                };
                steps(&mut b, &mut o, &bound, None);
            }
        }
        4 => {
            let f = fmt(&mut b);
            // The momentum buffer and centering are type parameters: the low bits pick them.
            let kind = b.u8();
            let c = RmsPropConfig {
                lr: b.hyper(LR),
                alpha: b.hyper(BETA),
                eps: b.hyper(EPS),
                weight_decay: b.hyper(WD),
                momentum: if kind & 1 == 1 {
                    b.hyper(&[0.0, 0.9])
                } else {
                    0.0
                },
                maximize: b.bool(),
            };
            match kind & 3 {
                0 => in_format!(f, rmsprop_off_off(&mut b, c)),
                1 => in_format!(f, rmsprop_on_off(&mut b, c)),
                2 => in_format!(f, rmsprop_off_on(&mut b, c)),
                _ => in_format!(f, rmsprop_on_on(&mut b, c)),
            }
        }
        5 => {
            let f = fmt(&mut b);
            let c = AdagradConfig {
                lr: b.hyper(LR),
                lr_decay: b.hyper(&[0.0, 0.01]),
                weight_decay: b.hyper(WD),
                initial_accumulator_value: b.hyper(&[0.0, 0.1]),
                eps: b.hyper(EPS),
                maximize: b.bool(),
            };
            in_format!(f, adagrad(&mut b, c));
        }
        _ => {
            let f = fmt(&mut b);
            let c = LionConfig {
                lr: b.hyper(LR),
                beta1: b.hyper(BETA),
                beta2: b.hyper(BETA),
                weight_decay: b.hyper(WD),
            };
            in_format!(f, lion(&mut b, c));
        }
    }
});

fn rmsprop_off_off<S: Draw + RmsPropNum>(b: &mut Bytes, c: RmsPropConfig)
where
    S::SqAvg: St,
    S::Avg: St,
    RmsProp<S, N, Off, Off>: Checkpointable + Copy,
{
    rmsprop::<S, Off, Off>(b, c)
}
fn rmsprop_on_off<S: Draw + RmsPropNum>(b: &mut Bytes, c: RmsPropConfig)
where
    S::SqAvg: St,
    S::Avg: St,
    RmsProp<S, N, On, Off>: Checkpointable + Copy,
{
    rmsprop::<S, On, Off>(b, c)
}
fn rmsprop_off_on<S: Draw + RmsPropNum>(b: &mut Bytes, c: RmsPropConfig)
where
    S::SqAvg: St,
    S::Avg: St,
    RmsProp<S, N, Off, On>: Checkpointable + Copy,
{
    rmsprop::<S, Off, On>(b, c)
}
fn rmsprop_on_on<S: Draw + RmsPropNum>(b: &mut Bytes, c: RmsPropConfig)
where
    S::SqAvg: St,
    S::Avg: St,
    RmsProp<S, N, On, On>: Checkpointable + Copy,
{
    rmsprop::<S, On, On>(b, c)
}
