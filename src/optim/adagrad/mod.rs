//! Adagrad (Duchi et al.), exactly as torch.optim.Adagrad.

mod fixed;
mod fixed16;
mod float;

use crate::check;
use crate::num::{Num, StateValue};
use crate::optim::{part, run_step_checked, Groups, ParamGroup, Pass};
use crate::Error;
use core::ops::Range;

/// Hyperparameters of [`Adagrad`], under torch's names.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdagradConfig {
    /// Learning rate (`>= 0`).
    pub lr: f64,
    /// Learning-rate decay (`>= 0`): step `t` uses `lr / (1 + (t − 1)·lr_decay)`.
    pub lr_decay: f64,
    /// L2 weight decay added to the gradient (`>= 0`).
    pub weight_decay: f64,
    /// The value `sum` starts from (`>= 0`).
    pub initial_accumulator_value: f64,
    /// Added to `sqrt(sum)`, outside the square root (`> 0`).
    pub eps: f64,
    /// Ascend instead of descend (the gradient is negated first).
    pub maximize: bool,
}

impl AdagradConfig {
    /// torch's defaults with learning rate `lr`: no decay, accumulator 0, eps 1e-10.
    pub const fn new(lr: f64) -> Self {
        AdagradConfig {
            lr,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
            maximize: false,
        }
    }

    /// Checks every hyperparameter (`const`: usable at compile time).
    pub const fn validate(&self) -> Result<(), Error> {
        check::all([
            check::non_negative("lr", self.lr),
            check::non_negative("lr_decay", self.lr_decay),
            check::non_negative("weight_decay", self.weight_decay),
            check::non_negative("initial_accumulator_value", self.initial_accumulator_value),
            check::positive("eps", self.eps),
        ])
    }
}

crate::optim::impl_hyperparameters!(AdagradConfig);

/// The per-element Adagrad update for a number type, which also picks the accumulator's format.
pub trait AdagradNum: Num {
    /// Storage of the accumulator `sum`.
    type Sum: StateValue;
    /// Per-step scalars, computed once per step and group.
    type Coeffs: Copy;
    /// The per-step scalars for step `t` (1-based), from the `f64` configuration.
    fn adagrad_coeffs(config: &AdagradConfig, t: u32) -> Self::Coeffs;
    /// `initial_accumulator_value` in the accumulator's format.
    fn adagrad_initial_sum(config: &AdagradConfig) -> Self::Sum;
    /// The first element whose step would leave the number type's range although its inputs
    /// are inside it (an `f32` overflow to infinity), or `None`; reads only. `initial` is
    /// `Some` on the first step, whose `sum` starts from it. Fixed point: `None`.
    fn adagrad_check(
        _params: &[Self],
        _grads: &[Self],
        _small: bool,
        _sum: &[Self::Sum],
        _initial: Option<Self::Sum>,
        _c: impl FnOnce() -> Self::Coeffs,
    ) -> Option<usize> {
        None
    }
    /// Updates `params` and `sum` in place (slices of equal length).
    fn adagrad_update(
        params: &mut [Self],
        grads: &[Self],
        sum: &mut [Self::Sum],
        c: &Self::Coeffs,
        aux: &mut Self::Aux,
    );
}

/// Adagrad over `N` parameters of type `S`.
///
/// torch creates `sum` filled with `initial_accumulator_value` in the constructor; here the
/// constructor is a `const fn` (so the optimizer can be a `static`) and the fill happens at the
/// start of the first step, before anything reads it: the arithmetic is the same.
///
/// Memory, exactly (tested): `size_of::<Adagrad<f32, N>>()` is `4·N + 52` rounded up to a
/// multiple of 8 bytes (accumulator, 48-byte configuration, step counter, padding).
#[derive(Clone, Copy, Debug)]
pub struct Adagrad<S: AdagradNum, const N: usize> {
    config: AdagradConfig,
    step: u32,
    aux: S::Aux,
    sum: [S::Sum; N],
}

impl<S: AdagradNum, const N: usize> Adagrad<S, N> {
    /// An optimizer, or the first invalid hyperparameter.
    pub const fn new(config: AdagradConfig) -> Result<Self, Error> {
        match config.validate() {
            Ok(()) => Ok(Self::zeroed(config)),
            Err(e) => Err(e),
        }
    }

    const fn zeroed(config: AdagradConfig) -> Self {
        Adagrad {
            config,
            step: 0,
            aux: <S::Aux as StateValue>::ZERO,
            sum: [S::Sum::ZERO; N],
        }
    }

    /// The accumulator (torch's `sum`). Before the first step it reads zero.
    pub fn sum(&self) -> &[S::Sum; N] {
        &self.sum
    }

    fn step_with(
        &mut self,
        params: &mut [S; N],
        grads: &[S; N],
        groups: Option<&[ParamGroup<AdagradConfig>]>,
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
        config: &AdagradConfig,
        t: u32,
        small: bool,
    ) -> Result<(), Error> {
        let sum = self.sum.get(range.clone()).unwrap_or_default();
        let first = (t == 1).then(|| S::adagrad_initial_sum(config));
        match S::adagrad_check(params, grads, small, sum, first, || {
            S::adagrad_coeffs(config, t)
        }) {
            Some(i) => Err(Error::StepOverflow {
                index: range.start + i,
            }),
            None => Ok(()),
        }
    }

    /// Steps the elements `range` (`params`, `grads`) with `config` as step `t`, drawing from
    /// `self.aux` (on the first step, `sum` is filled first).
    #[inline(always)]
    fn update_range(
        &mut self,
        range: &Range<usize>,
        params: &mut [S],
        grads: &[S],
        config: &AdagradConfig,
        t: u32,
    ) {
        let sum = part(&mut self.sum, range);
        if t == 1 {
            sum.fill(S::adagrad_initial_sum(config));
        }
        S::adagrad_update(
            params,
            grads,
            sum,
            &S::adagrad_coeffs(config, t),
            &mut self.aux,
        );
    }
}

crate::optim::impl_optimizer!(Adagrad<S: AdagradNum, N>, AdagradConfig);

/// The mutable parts of an [`Adagrad`]: configuration, step counter, the number type's state and
/// the accumulator.
pub(crate) type AdagradStateMut<'a, S, const N: usize> = (
    &'a mut AdagradConfig,
    &'a mut u32,
    &'a mut <S as Num>::Aux,
    &'a mut [<S as AdagradNum>::Sum; N],
);

impl<S: AdagradNum, const N: usize> Adagrad<S, N> {
    /// Every part of the state, mutably, for [`crate::checkpoint`] (which validates what it
    /// writes).
    pub(crate) fn state_mut(&mut self) -> AdagradStateMut<'_, S, N> {
        (
            &mut self.config,
            &mut self.step,
            &mut self.aux,
            &mut self.sum,
        )
    }
}
