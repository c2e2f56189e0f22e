//! Adam and AdamW (Kingma & Ba, Algorithm 1; Loshchilov & Hutter), with AMSGrad, exactly as
//! torch.optim.Adam / AdamW.

use super::check;
use super::slot::{Off, On, Slot, SlotBuf};
use super::{one_minus_pow, part, run_step, Groups, ParamGroup};
use crate::num::{Num, StateValue};
use crate::Error;

/// Hyperparameters of [`Adam`], under torch's names.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// Learning rate `lr` (`>= 0`).
    pub lr: f64,
    /// `beta1`, the first moment's decay (`[0, 1)`).
    pub beta1: f64,
    /// `beta2`, the second moment's decay (`[0, 1)`).
    pub beta2: f64,
    /// `eps`, added after the bias-corrected square root (`> 0`).
    pub eps: f64,
    /// Weight decay (`>= 0`): L2 into the gradient, or decoupled (AdamW).
    pub weight_decay: f64,
    /// AdamW: multiply the parameter by `1 - lr·weight_decay` before the update instead of adding
    /// `weight_decay·p` to the gradient.
    pub decoupled_weight_decay: bool,
    /// Ascend instead of descend (the gradient is negated first).
    pub maximize: bool,
}

impl AdamConfig {
    /// torch's `Adam` defaults with learning rate `lr`: betas (0.9, 0.999), eps 1e-8, no decay.
    pub const fn adam(lr: f64) -> Self {
        AdamConfig {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled_weight_decay: false,
            maximize: false,
        }
    }

    /// torch's `AdamW` defaults with learning rate `lr`: as [`adam`](Self::adam) but decoupled
    /// weight decay `1e-2`.
    pub const fn adamw(lr: f64) -> Self {
        AdamConfig {
            weight_decay: 1e-2,
            decoupled_weight_decay: true,
            ..Self::adam(lr)
        }
    }

    /// Checks every hyperparameter (`const`: usable at compile time).
    pub const fn validate(&self) -> Result<(), Error> {
        check::all([
            check::non_negative("lr", self.lr),
            check::unit("betas", self.beta1),
            check::unit("betas", self.beta2),
            check::positive("eps", self.eps),
            check::non_negative("weight_decay", self.weight_decay),
        ])
    }
}

super::impl_hyperparameters!(AdamConfig);

/// The per-element Adam update for a number type, which also picks the state formats.
pub trait AdamNum: Num {
    /// Storage of the first moment `exp_avg`.
    type Moment: StateValue;
    /// Storage of the second moment `exp_avg_sq` (and `max_exp_avg_sq`).
    type SqMoment: StateValue;
    /// Per-step scalars, computed once per step and group.
    type Coeffs: Copy;

    /// The per-step scalars for step `t` (1-based), from the `f64` configuration.
    fn adam_coeffs(config: &AdamConfig, t: u32) -> Self::Coeffs;

    /// Updates `params` in place. All slices have the same length; `vmax` is `Some` with AMSGrad.
    fn adam_update(
        params: &mut [Self],
        grads: &[Self],
        m: &mut [Self::Moment],
        v: &mut [Self::SqMoment],
        vmax: Option<&mut [Self::SqMoment]>,
        c: &Self::Coeffs,
        aux: &mut Self::Aux,
    );
}

/// Per-step scalars of the floating-point Adam kernel.
#[derive(Clone, Copy, Debug)]
pub struct FloatAdamCoeffs<T> {
    negate: bool,
    l2: Option<T>,
    decay: Option<T>,
    w1: T,
    omw1: T,
    lerp_from_m: bool,
    beta2: T,
    omb2: T,
    /// `lr / (1 − β1^t) · sqrt(1 − β2^t)`.
    step_size: T,
    /// `eps · sqrt(1 − β2^t)` (at least the smallest positive value of `T`).
    eps: T,
}

/// Whether the usual Adam configurations run four parameters per loop iteration. On a Cortex-M
/// this shares the loop's address arithmetic and branch (M4F: 47.3 → 42.0 instructions per
/// parameter, boards/ bench); on a host with SIMD the compiler vectorises the plain loop better
/// (x86-64, N = 1Mi: 437 against 317 Mparam/s, `benches/`).
const FOUR_WIDE: bool = !crate::num::VECTOR_HOST;

macro_rules! float_adam {
    ($t:ty, $sqrt:path) => {
        impl AdamNum for $t {
            type Moment = $t;
            type SqMoment = $t;
            type Coeffs = FloatAdamCoeffs<$t>;

            fn adam_coeffs(cfg: &AdamConfig, t: u32) -> Self::Coeffs {
                let accurate = core::mem::size_of::<$t>() == 8;
                let bc1 = one_minus_pow(cfg.beta1, t, accurate);
                let bc2 = one_minus_pow(cfg.beta2, t, accurate);
                let (l2, decay) = match (cfg.weight_decay != 0.0, cfg.decoupled_weight_decay) {
                    (true, false) => (Some(cfg.weight_decay as $t), None),
                    (true, true) => (None, Some((1.0 - cfg.lr * cfg.weight_decay) as $t)),
                    (false, _) => (None, None),
                };
                let w1 = (1.0 - cfg.beta1) as $t;
                FloatAdamCoeffs {
                    negate: cfg.maximize,
                    l2,
                    decay,
                    w1,
                    omw1: 1.0 - w1,
                    // w1 in (0, 1]: an integer compare of the bits (no float compare to sink).
                    lerp_from_m: w1.to_bits() < (0.5 as $t).to_bits(),
                    beta2: cfg.beta2 as $t,
                    omb2: (1.0 - cfg.beta2) as $t,
                    // torch's `lr/bc1 · m / (sqrt(v)/sqrt(bc2) + eps)`, with numerator and
                    // denominator multiplied by `sqrt(bc2)` (in f64, rounded once each):
                    // `(lr/bc1·sqrt(bc2)) · m / (sqrt(v) + eps·sqrt(bc2))`. The same value up to
                    // rounding, with one operation less per element (no divide by sqrt(bc2)).
                    step_size: (cfg.lr / bc1 * libm::sqrt(bc2)) as $t,
                    eps: {
                        let e = (cfg.eps * libm::sqrt(bc2)) as $t;
                        // A positive eps must stay positive (else 0/0 where v = m = 0).
                        if e > 0.0 {
                            e
                        } else {
                            <$t>::from_bits(1)
                        }
                    },
                }
            }

            #[inline]
            fn adam_update(
                params: &mut [Self],
                grads: &[Self],
                m: &mut [Self],
                v: &mut [Self],
                vmax: Option<&mut [Self]>,
                c: &Self::Coeffs,
                _aux: &mut (),
            ) {
                /// One element. `prep(g, p)` gives the gradient (maximize and L2 decay applied)
                /// and the decayed parameter (AdamW); `lerp_from_m` picks torch's lerp rounding.
                #[inline(always)]
                #[allow(clippy::too_many_arguments)]
                fn element(
                    p: &mut $t,
                    g: $t,
                    m: &mut $t,
                    v: &mut $t,
                    vmax: Option<&mut $t>,
                    c: &FloatAdamCoeffs<$t>,
                    lerp_from_m: bool,
                    prep: impl Fn($t, $t) -> ($t, $t),
                ) {
                    let (g, pd) = prep(g, *p);
                    // torch's lerp(m, g, 1-β1), rounded the way torch rounds it.
                    let d = g - *m;
                    *m = if lerp_from_m {
                        *m + c.w1 * d
                    } else {
                        g - c.omw1 * d
                    };
                    *v = *v * c.beta2 + c.omb2 * (g * g);
                    // AMSGrad: the max of the RAW v, divided by the current sqrt(bc2).
                    let vv = match vmax {
                        Some(vm) => {
                            if *v > *vm {
                                *vm = *v;
                            }
                            *vm
                        }
                        None => *v,
                    };
                    // eps after the bias-corrected square root, both scaled by sqrt(bc2) (see
                    // the coefficients).
                    let denom = $sqrt(vv) + c.eps;
                    *p = pd - c.step_size * (*m / denom);
                }
                /// The loop, with or without AMSGrad's running maximum.
                #[inline(always)]
                #[allow(clippy::too_many_arguments)]
                fn run(
                    params: &mut [$t],
                    grads: &[$t],
                    m: &mut [$t],
                    v: &mut [$t],
                    vmax: Option<&mut [$t]>,
                    c: &FloatAdamCoeffs<$t>,
                    lerp_from_m: bool,
                    unroll: bool,
                    prep: impl Fn($t, $t) -> ($t, $t) + Copy,
                ) {
                    match vmax {
                        None if !(unroll && FOUR_WIDE) => {
                            let pgmv = params
                                .iter_mut()
                                .zip(grads)
                                .zip(m.iter_mut().zip(v.iter_mut()));
                            for ((p, &g), (m, v)) in pgmv {
                                element(p, g, m, v, None, c, lerp_from_m, prep);
                            }
                        }
                        Some(vmax) => {
                            let pgmv = params
                                .iter_mut()
                                .zip(grads)
                                .zip(m.iter_mut().zip(v.iter_mut()));
                            for (((p, &g), (m, v)), vm) in pgmv.zip(vmax.iter_mut()) {
                                element(p, g, m, v, Some(vm), c, lerp_from_m, prep);
                            }
                        }
                        None => {
                            // Four elements per iteration (see `FOUR_WIDE`); it costs flash,
                            // so only the usual cases below get it.
                            let mut p2 = params.chunks_exact_mut(4);
                            let mut g2 = grads.chunks_exact(4);
                            let mut m2 = m.chunks_exact_mut(4);
                            let mut v2 = v.chunks_exact_mut(4);
                            for (((p, g), m), v) in (&mut p2).zip(&mut g2).zip(&mut m2).zip(&mut v2)
                            {
                                for ((p, &g), (m, v)) in
                                    p.iter_mut().zip(g).zip(m.iter_mut().zip(v.iter_mut()))
                                {
                                    element(p, g, m, v, None, c, lerp_from_m, prep);
                                }
                            }
                            let rest = p2.into_remainder().iter_mut().zip(g2.remainder());
                            let rest =
                                rest.zip(m2.into_remainder().iter_mut().zip(v2.into_remainder()));
                            for ((p, &g), (m, v)) in rest {
                                element(p, g, m, v, None, c, lerp_from_m, prep);
                            }
                        }
                    }
                }
                // Every flag is tested here, outside the loops. The usual cases (descend, torch's
                // lerp branch for β1 > 0.5) get loops without any per-element select; Adam and
                // AdamW without L2 also get the four-wide loop.
                if !c.negate && c.lerp_from_m {
                    match (c.l2, c.decay) {
                        (Some(wd), _) => {
                            run(params, grads, m, v, vmax, c, true, false, move |g, p| {
                                (g + wd * p, p)
                            })
                        }
                        (None, Some(decay)) => {
                            run(params, grads, m, v, vmax, c, true, true, move |g, p| {
                                (g, p * decay)
                            })
                        }
                        (None, None) => {
                            run(params, grads, m, v, vmax, c, true, true, |g, p| (g, p))
                        }
                    }
                } else {
                    let (negate, lerp) = (c.negate, c.lerp_from_m);
                    match (c.l2, c.decay) {
                        (Some(wd), _) => {
                            run(params, grads, m, v, vmax, c, lerp, false, move |g, p| {
                                (super::float_grad(g, p, negate, Some(wd)), p)
                            })
                        }
                        (None, Some(decay)) => {
                            run(params, grads, m, v, vmax, c, lerp, false, move |g, p| {
                                (super::float_grad(g, p, negate, None), p * decay)
                            })
                        }
                        (None, None) => {
                            run(params, grads, m, v, vmax, c, lerp, false, move |g, p| {
                                (super::float_grad(g, p, negate, None), p)
                            })
                        }
                    }
                }
            }
        }
    };
}

float_adam!(f32, crate::num::sqrt::sqrt_f32);
float_adam!(f64, crate::num::sqrt::sqrt_f64);

/// Adam / AdamW over `N` parameters of type `S`; `A` is [`On`] for AMSGrad ([`AmsGrad`]).
///
/// Memory, exactly (tested): `size_of::<Adam<f32, N>>() == 8·N + 56`, and
/// `size_of::<AmsGrad<f32, N>>()` is `12·N + 52` rounded up to a multiple of 8 bytes (a 48-byte
/// `f64` configuration, the step counter and padding to 8-byte alignment, the same on x86-64 and
/// Cortex-M).
#[derive(Clone, Copy, Debug)]
pub struct Adam<S: AdamNum, const N: usize, A: Slot = Off> {
    config: AdamConfig,
    step: u32,
    aux: S::Aux,
    exp_avg: [S::Moment; N],
    exp_avg_sq: [S::SqMoment; N],
    max_exp_avg_sq: A::Buf<S::SqMoment, N>,
}

/// Adam with AMSGrad (`amsgrad=True` in torch): keeps the running max of the raw second moment.
pub type AmsGrad<S, const N: usize> = Adam<S, N, On>;

impl<S: AdamNum, const N: usize, A: Slot> Adam<S, N, A> {
    /// An optimizer with zeroed state, or the first invalid hyperparameter.
    pub const fn new(config: AdamConfig) -> Result<Self, Error> {
        match config.validate() {
            Ok(()) => Ok(Self::zeroed(config)),
            Err(e) => Err(e),
        }
    }

    const fn zeroed(config: AdamConfig) -> Self {
        Adam {
            config,
            step: 0,
            aux: <S::Aux as StateValue>::ZERO,
            exp_avg: [S::Moment::ZERO; N],
            exp_avg_sq: [S::SqMoment::ZERO; N],
            max_exp_avg_sq: <A::Buf<S::SqMoment, N> as SlotBuf<S::SqMoment>>::INIT,
        }
    }

    /// Whether this is the AMSGrad variant.
    pub const fn amsgrad(&self) -> bool {
        A::ON
    }

    /// First moment (torch's `exp_avg`).
    pub fn exp_avg(&self) -> &[S::Moment; N] {
        &self.exp_avg
    }

    /// Second moment (torch's `exp_avg_sq`).
    pub fn exp_avg_sq(&self) -> &[S::SqMoment; N] {
        &self.exp_avg_sq
    }

    /// Running maximum of the second moment (torch's `max_exp_avg_sq`), with AMSGrad only.
    pub fn max_exp_avg_sq(&self) -> Option<&[S::SqMoment]> {
        self.max_exp_avg_sq.as_slice()
    }

    fn step_with(
        &mut self,
        params: &mut [S; N],
        grads: &[S; N],
        groups: Option<&[ParamGroup<AdamConfig>]>,
    ) -> Result<(), Error> {
        let Adam {
            config,
            step,
            aux,
            exp_avg,
            exp_avg_sq,
            max_exp_avg_sq,
        } = self;
        let groups = match groups {
            Some(g) => Groups::Listed(g),
            None => Groups::All(config),
        };
        run_step(step, params, grads, groups, |r, p, g, cfg, t| {
            let c = S::adam_coeffs(cfg, t);
            let vmax = max_exp_avg_sq.as_mut_slice().map(|s| part(s, r));
            S::adam_update(p, g, part(exp_avg, r), part(exp_avg_sq, r), vmax, &c, aux);
        })
    }
}

super::impl_optimizer!(Adam<S: AdamNum, N, A>, AdamConfig);

/// The mutable parts of an [`Adam`]: configuration, step counter, the number type's state,
/// `exp_avg`, `exp_avg_sq` and (with AMSGrad) `max_exp_avg_sq`.
pub(crate) type AdamStateMut<'a, S, const N: usize> = (
    &'a mut AdamConfig,
    &'a mut u32,
    &'a mut <S as Num>::Aux,
    &'a mut [<S as AdamNum>::Moment; N],
    &'a mut [<S as AdamNum>::SqMoment; N],
    Option<&'a mut [<S as AdamNum>::SqMoment]>,
);

impl<S: AdamNum, const N: usize, A: Slot> Adam<S, N, A> {
    /// Every part of the state, mutably, for [`crate::checkpoint`] (which validates what it
    /// writes).
    pub(crate) fn state_mut(&mut self) -> AdamStateMut<'_, S, N> {
        (
            &mut self.config,
            &mut self.step,
            &mut self.aux,
            &mut self.exp_avg,
            &mut self.exp_avg_sq,
            self.max_exp_avg_sq.as_mut_slice(),
        )
    }
}
