//! Lion (Chen et al. 2023, arXiv 2302.06675), as the authors' reference code computes it.

mod fixed;
mod fixed16;
mod float;

use crate::check;
use crate::num::{Num, StateValue};
use crate::optim::{part, run_step_checked, Groups, ParamGroup, Pass};
use crate::Error;
use core::ops::Range;

/// Hyperparameters of [`Lion`], under the authors' names.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LionConfig {
    /// Learning rate (`>= 0`); every element moves by exactly `lr` (plus decay) or not at all.
    pub lr: f64,
    /// β1, the interpolation used for the update's sign (`[0, 1)`).
    pub beta1: f64,
    /// β2, the momentum's decay (`[0, 1)`).
    pub beta2: f64,
    /// Decoupled weight decay (`>= 0`): `p ← p·(1 − lr·wd)` first.
    pub weight_decay: f64,
}

impl LionConfig {
    /// The authors' defaults with learning rate `lr`: betas (0.9, 0.99), no decay.
    pub const fn new(lr: f64) -> Self {
        LionConfig {
            lr,
            beta1: 0.9,
            beta2: 0.99,
            weight_decay: 0.0,
        }
    }

    /// Checks every hyperparameter (`const`: usable at compile time).
    pub const fn validate(&self) -> Result<(), Error> {
        check::all([
            check::non_negative("lr", self.lr),
            check::unit("betas", self.beta1),
            check::unit("betas", self.beta2),
            check::non_negative("weight_decay", self.weight_decay),
        ])
    }
}

crate::optim::impl_hyperparameters!(LionConfig);

/// The per-element Lion update for a number type, which also picks the momentum's format.
pub trait LionNum: Num {
    /// Storage of the momentum `exp_avg`.
    type Moment: StateValue;
    /// Per-step scalars, computed once per step and group.
    type Coeffs: Copy;
    /// The per-step scalars, from the `f64` configuration.
    fn lion_coeffs(config: &LionConfig) -> Self::Coeffs;
    /// The first element whose step would leave the number type's range although its inputs
    /// are inside it (an `f32` overflow to infinity), or `None`; reads only. Fixed point: `None`.
    fn lion_check(
        _params: &[Self],
        _grads: &[Self],
        _small: bool,
        _m: &[Self::Moment],
        _c: impl FnOnce() -> Self::Coeffs,
    ) -> Option<usize> {
        None
    }
    /// Updates `params` and `m` in place (slices of equal length).
    fn lion_update(
        params: &mut [Self],
        grads: &[Self],
        m: &mut [Self::Moment],
        c: &Self::Coeffs,
        aux: &mut Self::Aux,
    );
}

/// Lion over `N` parameters of type `S`.
///
/// Memory, exactly (tested): `size_of::<Lion<f32, N>>()` is `4·N + 36` rounded up to a
/// multiple of 8 bytes (momentum, 32-byte configuration, step counter, padding).
#[derive(Clone, Copy, Debug)]
pub struct Lion<S: LionNum, const N: usize> {
    config: LionConfig,
    step: u32,
    aux: S::Aux,
    exp_avg: [S::Moment; N],
}

impl<S: LionNum, const N: usize> Lion<S, N> {
    /// An optimizer with zeroed momentum, or the first invalid hyperparameter.
    pub const fn new(config: LionConfig) -> Result<Self, Error> {
        match config.validate() {
            Ok(()) => Ok(Self::zeroed(config)),
            Err(e) => Err(e),
        }
    }

    const fn zeroed(config: LionConfig) -> Self {
        Lion {
            config,
            step: 0,
            aux: <S::Aux as StateValue>::ZERO,
            exp_avg: [S::Moment::ZERO; N],
        }
    }

    /// The momentum (the authors' `exp_avg`).
    pub fn exp_avg(&self) -> &[S::Moment; N] {
        &self.exp_avg
    }

    fn step_with(
        &mut self,
        params: &mut [S; N],
        grads: &[S; N],
        groups: Option<&[ParamGroup<LionConfig>]>,
    ) -> Result<(), Error> {
        let config = self.config;
        let groups = match groups {
            Some(g) => Groups::Listed(g),
            None => Groups::All(&config),
        };
        let mut count = self.step;
        let done = run_step_checked(
            &mut count,
            params,
            grads,
            groups,
            #[cfg_attr(feature = "host-simd", inline(always))]
            |pass, r, p, g, cfg, t| match pass {
                Pass::Check { small } => self.check_range(r, p, g, cfg, t, small),
                Pass::Write => {
                    self.update_range(r, p, g, cfg, t);
                    Ok(())
                }
            },
        );
        self.step = count;
        done
    }

    /// [`Error::StepOverflow`] if stepping the elements `range` with `config` as step `t` would
    /// overflow; reads only.
    fn check_range(
        &self,
        range: &Range<usize>,
        params: &[S],
        grads: &[S],
        config: &LionConfig,
        _t: u32,
        small: bool,
    ) -> Result<(), Error> {
        let m = self.exp_avg.get(range.clone()).unwrap_or_default();
        match S::lion_check(params, grads, small, m, || S::lion_coeffs(config)) {
            Some(i) => Err(Error::StepOverflow {
                index: range.start + i,
            }),
            None => Ok(()),
        }
    }

    /// Steps the elements `range` (`params`, `grads`) with `config`, drawing from `self.aux`.
    #[inline(always)]
    fn update_range(
        &mut self,
        range: &Range<usize>,
        params: &mut [S],
        grads: &[S],
        config: &LionConfig,
        _t: u32,
    ) {
        S::lion_update(
            params,
            grads,
            part(&mut self.exp_avg, range),
            &S::lion_coeffs(config),
            &mut self.aux,
        );
    }
}

crate::optim::impl_optimizer!(Lion<S: LionNum, N>, LionConfig);

/// The mutable parts of a [`Lion`]: configuration, step counter, the number type's state and
/// the moment.
pub(crate) type LionStateMut<'a, S, const N: usize> = (
    &'a mut LionConfig,
    &'a mut u32,
    &'a mut <S as Num>::Aux,
    &'a mut [<S as LionNum>::Moment; N],
);

impl<S: LionNum, const N: usize> Lion<S, N> {
    /// Every part of the state, mutably, for [`crate::checkpoint`] (which validates what it
    /// writes).
    pub(crate) fn state_mut(&mut self) -> LionStateMut<'_, S, N> {
        (
            &mut self.config,
            &mut self.step,
            &mut self.aux,
            &mut self.exp_avg,
        )
    }
}
