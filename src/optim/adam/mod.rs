//! Adam and AdamW (Kingma & Ba, Algorithm 1; Loshchilov & Hutter), with AMSGrad, exactly as
//! torch.optim.Adam / AdamW.

#[cfg(test)]
mod bound_tests;
mod fixed;
mod fixed16;
mod float;
mod form;

pub use form::{
    AdamDecay, AdamFlags, AdamForm, AnyAdam, CompactAdam, CompactAdamW, PlainAdam, PlainAdamW,
};

use crate::check;
use crate::num::{Num, StateValue};
use crate::optim::bound::StateBound;
use crate::optim::slot::{Off, On, Slot, SlotBuf};
use crate::optim::{part, run_step_checked, Groups, ParamGroup, Pass};
use crate::Error;
use core::marker::PhantomData;
use core::ops::Range;

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

crate::optim::impl_hyperparameters!(AdamConfig);

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

    /// The first element whose step would leave the number type's range although its inputs
    /// are inside it (an `f32` overflow to infinity), or `None`; reads only. Fixed point: `None`
    /// (its state is a [`MiniFloat`](crate::num::fixed::MiniFloat) and its parameter writes
    /// saturate by design). `bound` is what the optimizer knows of its state buffers' magnitudes
    /// (the buffers `m`, `v` and `vmax` are the range of them that this step covers, all of them
    /// when `whole`): the check reads a buffer only where it does not already know it inside the
    /// step's safe range, and leaves in `bound` what holds after the step it passes.
    #[allow(clippy::too_many_arguments)]
    fn adam_check<K: AdamForm>(
        _params: &[Self],
        _grads: &[Self],
        _small: bool,
        _m: &[Self::Moment],
        _v: &[Self::SqMoment],
        _vmax: Option<&[Self::SqMoment]>,
        _bound: &mut StateBound,
        _whole: bool,
        _c: impl FnOnce() -> Self::Coeffs,
    ) -> Option<usize> {
        None
    }
    /// Updates `params` in place. All slices have the same length; `vmax` is `Some` with AMSGrad.
    /// `K` is the optimizer's form: when it fixes the flags, `c` was computed from a
    /// configuration that has them, and the kernel may take them as constants.
    fn adam_update<K: AdamForm>(
        params: &mut [Self],
        grads: &[Self],
        m: &mut [Self::Moment],
        v: &mut [Self::SqMoment],
        vmax: Option<&mut [Self::SqMoment]>,
        c: &Self::Coeffs,
        aux: &mut Self::Aux,
    );
}

/// Adam / AdamW over `N` parameters of type `S`; `A` is [`On`] for AMSGrad ([`AmsGrad`]); `K`
/// fixes flags at compile time ([`AdamForm`]: [`AnyAdam`] by default, [`PlainAdam`],
/// [`PlainAdamW`]), so that a firmware links only the loop of its one configuration.
///
/// Memory, exactly (tested): `size_of::<Adam<f32, N>>() == 8·N + 56`, and
/// `size_of::<AmsGrad<f32, N>>()` is `12·N + 56` rounded up to a multiple of 8 bytes (a 48-byte
/// `f64` configuration, the step counter, the 4-byte [`StateBound`] and padding to 8-byte
/// alignment, the same on x86-64 and Cortex-M).
#[derive(Clone, Copy, Debug)]
pub struct Adam<S: AdamNum, const N: usize, A: Slot = Off, K: AdamForm = AnyAdam> {
    config: AdamConfig,
    form: PhantomData<K>,
    step: u32,
    /// What the overflow check knows of the moments' magnitudes (four bytes).
    bound: StateBound,
    aux: S::Aux,
    exp_avg: [S::Moment; N],
    exp_avg_sq: [S::SqMoment; N],
    max_exp_avg_sq: A::Buf<S::SqMoment, N>,
}

/// Adam with AMSGrad (`amsgrad=True` in torch): keeps the running max of the raw second moment.
pub type AmsGrad<S, const N: usize> = Adam<S, N, On>;

impl<S: AdamNum, const N: usize, A: Slot, K: AdamForm> Adam<S, N, A, K> {
    /// An optimizer with zeroed state, or the first invalid hyperparameter (including a flag
    /// that differs from the one `K` fixes).
    pub const fn new(config: AdamConfig) -> Result<Self, Error> {
        match Self::validate_config(&config) {
            Ok(()) => Ok(Self::zeroed(config)),
            Err(e) => Err(e),
        }
    }

    const fn zeroed(config: AdamConfig) -> Self {
        Adam {
            config,
            form: PhantomData,
            step: 0,
            bound: StateBound::ZERO,
            aux: <S::Aux as StateValue>::ZERO,
            exp_avg: [S::Moment::ZERO; N],
            exp_avg_sq: [S::SqMoment::ZERO; N],
            max_exp_avg_sq: <A::Buf<S::SqMoment, N> as SlotBuf<S::SqMoment>>::INIT,
        }
    }

    /// `config` is valid and has the flags `K` fixes.
    const fn validate_config(config: &AdamConfig) -> Result<(), Error> {
        form::check::<K>(config)
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
        let config = self.config;
        let groups = match groups {
            Some(g) => {
                // run_step checks the common ranges; the form is this type's own condition.
                if K::FIXED.is_some() {
                    for group in g {
                        Self::validate_config(&group.config)?;
                    }
                }
                Groups::Listed(g)
            }
            None => Groups::All(&config),
        };
        let mut count = self.step;
        // A refused step leaves the optimizer as it was, bound included.
        let bound = self.bound;
        // The coefficients the check of the last group computed (an `f32` check needs them; a
        // fixed-point one does not), for that group's write pass: a group's range, its
        // configuration and `t` are the same in both passes, and two groups with the same
        // non-empty range would overlap (an error before any pass). So a step of one group
        // computes them once (in soft `f64` on a Cortex-M4F: about 900 instructions each time).
        let mut last: Option<(Range<usize>, S::Coeffs)> = None;
        let done = run_step_checked(
            &mut count,
            params,
            grads,
            groups,
            #[cfg_attr(feature = "host-simd", inline(always))]
            |pass, r, p, g, cfg, t| match pass {
                Pass::Check { small } => {
                    let c = || {
                        let c = coeffs::<S, K>(cfg, t);
                        last = Some((r.clone(), c));
                        c
                    };
                    self.check_range_with(r, p, g, c, small)
                }
                Pass::Write => {
                    let c = match &last {
                        Some((range, c)) if range == r => *c,
                        _ => coeffs::<S, K>(cfg, t),
                    };
                    self.update_range_with(r, p, g, &c);
                    Ok(())
                }
            },
        );
        self.step = count;
        if done.is_err() {
            self.bound = bound;
        }
        done
    }

    /// [`Error::StepOverflow`] if stepping the elements `range` with `config` as step `t` would
    /// overflow; reads only.
    fn check_range(
        &mut self,
        range: &Range<usize>,
        params: &[S],
        grads: &[S],
        config: &AdamConfig,
        t: u32,
        small: bool,
    ) -> Result<(), Error> {
        self.check_range_with(range, params, grads, || coeffs::<S, K>(config, t), small)
    }

    /// [`check_range`](Self::check_range) with the step's coefficients from `c` (called only
    /// by a check that needs them).
    #[inline(always)]
    fn check_range_with(
        &mut self,
        range: &Range<usize>,
        params: &[S],
        grads: &[S],
        c: impl FnOnce() -> S::Coeffs,
        small: bool,
    ) -> Result<(), Error> {
        let vmax = self
            .max_exp_avg_sq
            .as_slice()
            .map(|s| s.get(range.clone()).unwrap_or_default());
        let (m, v) = (&self.exp_avg, &self.exp_avg_sq);
        let (m, v) = (
            m.get(range.clone()).unwrap_or_default(),
            v.get(range.clone()).unwrap_or_default(),
        );
        let whole = range.start == 0 && range.end == N;
        let bound = self.bound;
        match S::adam_check::<K>(params, grads, small, m, v, vmax, &mut self.bound, whole, c) {
            Some(i) => {
                // Refused: nothing changes.
                self.bound = bound;
                Err(Error::StepOverflow {
                    index: range.start + i,
                })
            }
            None => Ok(()),
        }
    }

    /// Steps the elements `range` (`params`, `grads`) with `config` as step `t`, drawing from
    /// `self.aux`.
    #[inline(always)]
    fn update_range(
        &mut self,
        range: &Range<usize>,
        params: &mut [S],
        grads: &[S],
        config: &AdamConfig,
        t: u32,
    ) {
        self.update_range_with(range, params, grads, &coeffs::<S, K>(config, t));
    }

    /// [`update_range`](Self::update_range) with the step's coefficients `c`.
    #[inline(always)]
    fn update_range_with(
        &mut self,
        range: &Range<usize>,
        params: &mut [S],
        grads: &[S],
        c: &S::Coeffs,
    ) {
        let vmax = self.max_exp_avg_sq.as_mut_slice().map(|s| part(s, range));
        S::adam_update::<K>(
            params,
            grads,
            part(&mut self.exp_avg, range),
            part(&mut self.exp_avg_sq, range),
            vmax,
            c,
            &mut self.aux,
        );
    }
}

/// The step's coefficients: inlined (see [`AdamNum::adam_coeffs`]), or for a compact form one
/// out-of-line copy that the check and the update share.
#[inline(always)]
fn coeffs<S: AdamNum, K: AdamForm>(config: &AdamConfig, t: u32) -> S::Coeffs {
    if K::COMPACT {
        outlined_coeffs::<S>(config, t)
    } else {
        S::adam_coeffs(config, t)
    }
}

#[inline(never)]
fn outlined_coeffs<S: AdamNum>(config: &AdamConfig, t: u32) -> S::Coeffs {
    S::adam_coeffs(config, t)
}

crate::optim::impl_optimizer!(
    Adam<S: AdamNum, N, A; K: AdamForm>,
    AdamConfig,
    Self::validate_config
);

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

impl<S: AdamNum, const N: usize, A: Slot, K: AdamForm> Adam<S, N, A, K> {
    /// Every part of the state, mutably, for [`crate::checkpoint`] (which validates what it
    /// writes).
    pub(crate) fn state_mut(&mut self) -> AdamStateMut<'_, S, N> {
        // The caller may write any finite state.
        self.bound = StateBound::UNKNOWN;
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
