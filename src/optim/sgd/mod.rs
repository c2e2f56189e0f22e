//! Plain stochastic gradient descent: torch.optim.SGD with `momentum = 0`.

mod fixed;
mod fixed16;
mod float;

use crate::check;
use crate::num::{Num, StateValue};
use crate::optim::{run_step_checked, Groups, ParamGroup, Pass};
use crate::Error;
use core::ops::Range;

/// Hyperparameters of [`Sgd`], under torch's names.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    /// Learning rate (`>= 0`).
    pub lr: f64,
    /// L2 weight decay added to the gradient (`>= 0`).
    pub weight_decay: f64,
    /// Ascend instead of descend (the gradient is negated first).
    pub maximize: bool,
}

impl SgdConfig {
    /// Plain SGD with learning rate `lr`, no decay.
    pub const fn new(lr: f64) -> Self {
        SgdConfig {
            lr,
            weight_decay: 0.0,
            maximize: false,
        }
    }

    /// Checks every hyperparameter (`const`: usable at compile time).
    pub const fn validate(&self) -> Result<(), Error> {
        check::all([
            check::non_negative("lr", self.lr),
            check::non_negative("weight_decay", self.weight_decay),
        ])
    }
}

crate::optim::impl_hyperparameters!(SgdConfig);

/// The per-element SGD update for a number type.
pub trait SgdNum: Num {
    /// Per-step scalars, computed once per step and group.
    type Coeffs: Copy;
    /// The per-step scalars, from the `f64` configuration.
    fn sgd_coeffs(config: &SgdConfig) -> Self::Coeffs;
    /// The first element whose step would leave the number type's range although its inputs
    /// are inside it (an `f32` overflow to infinity), or `None`; reads only. Fixed point
    /// saturates its parameter writes by design, and refuses only an update it cannot decide
    /// (a coefficient of `2^61` or more against a term of the other sign).
    fn sgd_check(
        _params: &[Self],
        _grads: &[Self],
        _small: bool,
        _config: &SgdConfig,
        _c: impl FnOnce() -> Self::Coeffs,
    ) -> Option<usize> {
        None
    }
    /// `p ← p − lr·(±g + wd·p)` for every element.
    fn sgd_update(params: &mut [Self], grads: &[Self], c: &Self::Coeffs, aux: &mut Self::Aux);
}

/// SGD without momentum over `N` parameters of type `S`: it keeps no state.
///
/// Memory, exactly (tested): `size_of::<Sgd<f32, N>>() == 32` bytes whatever `N`.
#[derive(Clone, Copy, Debug)]
pub struct Sgd<S: SgdNum, const N: usize> {
    config: SgdConfig,
    step: u32,
    aux: S::Aux,
    _num: core::marker::PhantomData<S>,
}

impl<S: SgdNum, const N: usize> Sgd<S, N> {
    /// An optimizer, or the first invalid hyperparameter.
    pub const fn new(config: SgdConfig) -> Result<Self, Error> {
        match config.validate() {
            Ok(()) => Ok(Self::zeroed(config)),
            Err(e) => Err(e),
        }
    }

    const fn zeroed(config: SgdConfig) -> Self {
        Sgd {
            config,
            step: 0,
            aux: <S::Aux as StateValue>::ZERO,
            _num: core::marker::PhantomData,
        }
    }

    fn step_with(
        &mut self,
        params: &mut [S; N],
        grads: &[S; N],
        groups: Option<&[ParamGroup<SgdConfig>]>,
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

    /// [`Error::StepOverflow`] if stepping the elements `range` with `config` would overflow;
    /// reads only.
    fn check_range(
        &self,
        range: &Range<usize>,
        params: &[S],
        grads: &[S],
        config: &SgdConfig,
        _t: u32,
        small: bool,
    ) -> Result<(), Error> {
        match S::sgd_check(params, grads, small, config, || S::sgd_coeffs(config)) {
            Some(i) => Err(Error::StepOverflow {
                index: range.start + i,
            }),
            None => Ok(()),
        }
    }

    /// Steps the elements `_range` (`params`, `grads`) with `config`, drawing from `self.aux`.
    #[inline(always)]
    fn update_range(
        &mut self,
        _range: &Range<usize>,
        params: &mut [S],
        grads: &[S],
        config: &SgdConfig,
        _t: u32,
    ) {
        S::sgd_update(params, grads, &S::sgd_coeffs(config), &mut self.aux);
    }
}

crate::optim::impl_optimizer!(Sgd<S: SgdNum, N>, SgdConfig);

impl<S: SgdNum, const N: usize> Sgd<S, N> {
    /// Every part of the state, mutably, for [`crate::checkpoint`] (which validates what it
    /// writes): configuration, step counter, the number type's state.
    pub(crate) fn state_mut(&mut self) -> (&mut SgdConfig, &mut u32, &mut S::Aux) {
        (&mut self.config, &mut self.step, &mut self.aux)
    }
}
