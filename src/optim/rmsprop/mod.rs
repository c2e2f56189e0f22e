//! RMSprop (Hinton), with optional momentum and centering, exactly as torch.optim.RMSprop.

#[cfg(test)]
mod bound_tests;
mod fixed;
mod fixed16;
mod float;

use crate::check;
use crate::num::{Num, StateValue};
use crate::optim::bound::StateBound;
use crate::optim::slot::{Off, Slot, SlotBuf};
use crate::optim::{part, run_step_checked, Groups, ParamGroup, Pass};
use crate::Error;
use core::ops::Range;

/// Hyperparameters of [`RmsProp`], under torch's names. `centered` is the type parameter `C`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmsPropConfig {
    /// Learning rate (`>= 0`).
    pub lr: f64,
    /// Smoothing constant α of the squared-gradient average (finite, `>= 0`; torch accepts > 1).
    pub alpha: f64,
    /// Added to the root mean square, outside the square root (`> 0`).
    pub eps: f64,
    /// L2 weight decay added to the gradient (`>= 0`).
    pub weight_decay: f64,
    /// Momentum μ (`>= 0`); nonzero only with the momentum buffer (`M = On`).
    pub momentum: f64,
    /// Ascend instead of descend (the gradient is negated first).
    pub maximize: bool,
}

impl RmsPropConfig {
    /// torch's defaults with learning rate `lr`: α 0.99, eps 1e-8, no decay, no momentum.
    pub const fn new(lr: f64) -> Self {
        RmsPropConfig {
            lr,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            maximize: false,
        }
    }

    /// Checks every hyperparameter (`const`: usable at compile time). A nonzero `momentum` is
    /// checked against the optimizer's type when the configuration is installed.
    pub const fn validate(&self) -> Result<(), Error> {
        check::all([
            check::non_negative("lr", self.lr),
            check::non_negative("alpha", self.alpha),
            check::positive("eps", self.eps),
            check::non_negative("weight_decay", self.weight_decay),
            check::non_negative("momentum", self.momentum),
        ])
    }
}

crate::optim::impl_hyperparameters!(RmsPropConfig);

/// The per-element RMSprop update for a number type, which also picks the state formats.
pub trait RmsPropNum: Num {
    /// Storage of `square_avg`.
    type SqAvg: StateValue;
    /// Storage of `momentum_buffer` and `grad_avg`.
    type Avg: StateValue;
    /// Per-step scalars, computed once per step and group.
    type Coeffs: Copy;
    /// The per-step scalars, from the `f64` configuration.
    fn rmsprop_coeffs(config: &RmsPropConfig) -> Self::Coeffs;
    /// The first element whose step would leave the number type's range although its inputs
    /// are inside it (an `f32` overflow to infinity), or `None`; reads only. Fixed point: `None`.
    /// `bound` is what the optimizer knows of `square_avg`'s magnitudes (the buffers are the
    /// range of the state that this step covers, all of it when `whole`): the check reads
    /// `square_avg` only where it does not already know it inside the step's safe range, and
    /// leaves in `bound` what holds after the step it passes.
    #[allow(clippy::too_many_arguments)]
    fn rmsprop_check(
        _params: &[Self],
        _grads: &[Self],
        _small: bool,
        _square_avg: &[Self::SqAvg],
        _momentum_buffer: Option<&[Self::Avg]>,
        _grad_avg: Option<&[Self::Avg]>,
        _bound: &mut StateBound,
        _whole: bool,
        _c: impl FnOnce() -> Self::Coeffs,
    ) -> Option<usize> {
        None
    }
    /// Updates `params` and the state in place (slices of equal length; the optional buffers are
    /// `Some` when they exist).
    fn rmsprop_update(
        params: &mut [Self],
        grads: &[Self],
        square_avg: &mut [Self::SqAvg],
        momentum_buffer: Option<&mut [Self::Avg]>,
        grad_avg: Option<&mut [Self::Avg]>,
        c: &Self::Coeffs,
        aux: &mut Self::Aux,
    );
}

/// RMSprop over `N` parameters of type `S`. `M = On` adds the momentum buffer, `C = On` makes it
/// centered (torch's `centered=True`, which keeps `grad_avg`).
///
/// Memory, exactly (tested), for `S = f32`: `4·N·(1 + [M = On] + [C = On]) + 56` rounded up to a
/// multiple of 8 bytes (buffers, 48-byte configuration, step counter, the 4-byte [`StateBound`],
/// padding to 8 bytes).
#[derive(Clone, Copy, Debug)]
pub struct RmsProp<S: RmsPropNum, const N: usize, M: Slot = Off, C: Slot = Off> {
    config: RmsPropConfig,
    step: u32,
    /// What the overflow check knows of `square_avg`'s magnitudes (four bytes).
    bound: StateBound,
    aux: S::Aux,
    square_avg: [S::SqAvg; N],
    momentum_buffer: M::Buf<S::Avg, N>,
    grad_avg: C::Buf<S::Avg, N>,
}

impl<S: RmsPropNum, const N: usize, M: Slot, C: Slot> RmsProp<S, N, M, C> {
    /// An optimizer with zeroed state, or the first invalid hyperparameter (a nonzero momentum
    /// needs `M = On`).
    pub const fn new(config: RmsPropConfig) -> Result<Self, Error> {
        match Self::validate(&config) {
            Ok(()) => Ok(Self::zeroed(config)),
            Err(e) => Err(e),
        }
    }

    const fn validate(config: &RmsPropConfig) -> Result<(), Error> {
        match config.validate() {
            Ok(()) => check::all([check::require(
                M::ON || config.momentum == 0.0,
                "momentum",
                "0 unless the optimizer has its momentum buffer (RmsProp<_, _, On, _>)",
            )]),
            Err(e) => Err(e),
        }
    }

    const fn zeroed(config: RmsPropConfig) -> Self {
        RmsProp {
            config,
            step: 0,
            bound: StateBound::ZERO,
            aux: <S::Aux as StateValue>::ZERO,
            square_avg: [S::SqAvg::ZERO; N],
            momentum_buffer: <M::Buf<S::Avg, N> as SlotBuf<S::Avg>>::INIT,
            grad_avg: <C::Buf<S::Avg, N> as SlotBuf<S::Avg>>::INIT,
        }
    }

    /// Whether this is centered RMSprop.
    pub const fn centered(&self) -> bool {
        C::ON
    }

    /// The squared-gradient average (torch's `square_avg`).
    pub fn square_avg(&self) -> &[S::SqAvg; N] {
        &self.square_avg
    }

    /// The momentum buffer (torch's `momentum_buffer`), if `M = On`.
    pub fn momentum_buffer(&self) -> Option<&[S::Avg]> {
        self.momentum_buffer.as_slice()
    }

    /// The gradient average (torch's `grad_avg`), if centered.
    pub fn grad_avg(&self) -> Option<&[S::Avg]> {
        self.grad_avg.as_slice()
    }

    fn step_with(
        &mut self,
        params: &mut [S; N],
        grads: &[S; N],
        groups: Option<&[ParamGroup<RmsPropConfig>]>,
    ) -> Result<(), Error> {
        if let Some(groups) = groups {
            for g in groups {
                Self::validate(&g.config)?;
            }
        }
        let config = self.config;
        let groups = match groups {
            Some(g) => Groups::Listed(g),
            None => Groups::All(&config),
        };
        let mut count = self.step;
        // A refused step leaves the optimizer as it was, bound included.
        let bound = self.bound;
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
        config: &RmsPropConfig,
        _t: u32,
        small: bool,
    ) -> Result<(), Error> {
        let sq = self.square_avg.get(range.clone()).unwrap_or_default();
        let buf = self
            .momentum_buffer
            .as_slice()
            .map(|s| s.get(range.clone()).unwrap_or_default());
        let gbar = self
            .grad_avg
            .as_slice()
            .map(|s| s.get(range.clone()).unwrap_or_default());
        let whole = range.start == 0 && range.end == N;
        let bound = self.bound;
        match S::rmsprop_check(
            params,
            grads,
            small,
            sq,
            buf,
            gbar,
            &mut self.bound,
            whole,
            || S::rmsprop_coeffs(config),
        ) {
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

    /// Steps the elements `range` (`params`, `grads`) with `config`, drawing from `self.aux`.
    #[inline(always)]
    fn update_range(
        &mut self,
        range: &Range<usize>,
        params: &mut [S],
        grads: &[S],
        config: &RmsPropConfig,
        _t: u32,
    ) {
        S::rmsprop_update(
            params,
            grads,
            part(&mut self.square_avg, range),
            self.momentum_buffer.as_mut_slice().map(|s| part(s, range)),
            self.grad_avg.as_mut_slice().map(|s| part(s, range)),
            &S::rmsprop_coeffs(config),
            &mut self.aux,
        );
    }
}

crate::optim::impl_optimizer!(RmsProp<S: RmsPropNum, N, M, C>, RmsPropConfig, Self::validate);

/// The mutable parts of an [`RmsProp`]: configuration, step counter, the number type's state,
/// `square_avg` and the optional `momentum_buffer` and `grad_avg`.
pub(crate) type RmsPropStateMut<'a, S, const N: usize> = (
    &'a mut RmsPropConfig,
    &'a mut u32,
    &'a mut <S as Num>::Aux,
    &'a mut [<S as RmsPropNum>::SqAvg; N],
    Option<&'a mut [<S as RmsPropNum>::Avg]>,
    Option<&'a mut [<S as RmsPropNum>::Avg]>,
);

impl<S: RmsPropNum, const N: usize, M: Slot, C: Slot> RmsProp<S, N, M, C> {
    /// Every part of the state, mutably, for [`crate::checkpoint`] (which validates what it
    /// writes).
    pub(crate) fn state_mut(&mut self) -> RmsPropStateMut<'_, S, N> {
        // The caller may write any finite state.
        self.bound = StateBound::UNKNOWN;
        (
            &mut self.config,
            &mut self.step,
            &mut self.aux,
            &mut self.square_avg,
            self.momentum_buffer.as_mut_slice(),
            self.grad_avg.as_mut_slice(),
        )
    }

    /// Checks a configuration as [`new`](Self::new) does, for [`crate::checkpoint`].
    pub(crate) const fn check_config(config: &RmsPropConfig) -> Result<(), Error> {
        Self::validate(config)
    }
}
