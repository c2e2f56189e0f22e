//! SGD with momentum (heavy ball, dampening, Nesterov): torch.optim.SGD with `momentum > 0`.

mod fixed;
mod fixed16;
mod float;

use crate::check;
use crate::num::{Num, StateValue};
use crate::optim::{part, run_step_checked, Groups, ParamGroup, Pass};
use crate::Error;
use core::ops::Range;

/// Hyperparameters of [`Momentum`], under torch's names.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MomentumConfig {
    /// Learning rate (`>= 0`), applied outside the buffer: `p ← p − lr·buf`.
    pub lr: f64,
    /// Momentum factor μ (`>= 0`; with 0 the buffer is unused, as in torch).
    pub momentum: f64,
    /// Dampening τ (finite): `buf ← μ·buf + (1 − τ)·g` from the second step on.
    pub dampening: f64,
    /// L2 weight decay added to the gradient (`>= 0`).
    pub weight_decay: f64,
    /// Nesterov momentum: step along `g + μ·buf` (needs μ > 0 and τ = 0).
    pub nesterov: bool,
    /// Ascend instead of descend (the gradient is negated first).
    pub maximize: bool,
}

impl MomentumConfig {
    /// Heavy-ball momentum `momentum` with learning rate `lr`, no dampening, no decay.
    pub const fn new(lr: f64, momentum: f64) -> Self {
        MomentumConfig {
            lr,
            momentum,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            maximize: false,
        }
    }

    /// Nesterov momentum with learning rate `lr`.
    pub const fn nesterov(lr: f64, momentum: f64) -> Self {
        MomentumConfig {
            nesterov: true,
            ..Self::new(lr, momentum)
        }
    }

    /// Checks every hyperparameter (`const`: usable at compile time).
    pub const fn validate(&self) -> Result<(), Error> {
        check::all([
            check::non_negative("lr", self.lr),
            check::non_negative("momentum", self.momentum),
            check::finite("dampening", self.dampening),
            check::non_negative("weight_decay", self.weight_decay),
            check::require(
                !self.nesterov || (self.momentum > 0.0 && self.dampening == 0.0),
                "nesterov",
                "used with momentum > 0 and dampening = 0",
            ),
        ])
    }
}

crate::optim::impl_hyperparameters!(MomentumConfig);

/// The per-element momentum update for a number type, which also picks the buffer's format.
pub trait MomentumNum: Num {
    /// Storage of the momentum buffer.
    type Buffer: StateValue;
    /// Per-step scalars, computed once per step and group.
    type Coeffs: Copy;
    /// The per-step scalars for step `t` (1-based), from the `f64` configuration.
    fn momentum_coeffs(config: &MomentumConfig, t: u32) -> Self::Coeffs;
    /// The position of the first element whose update [`momentum_update`](Self::momentum_update)
    /// cannot take exactly (its new buffer value would leave the buffer's range), or `None`.
    /// Read only; the step is refused with [`Error::StepOverflow`] before anything is written.
    /// `small`: every gradient is known to lie below `2^29`.
    fn momentum_check(
        params: &[Self],
        grads: &[Self],
        small: bool,
        buf: &[Self::Buffer],
        c: &Self::Coeffs,
    ) -> Option<usize>;
    /// Updates `params` and `buf` in place (slices of equal length).
    fn momentum_update(
        params: &mut [Self],
        grads: &[Self],
        buf: &mut [Self::Buffer],
        c: &Self::Coeffs,
        aux: &mut Self::Aux,
    );
}

/// SGD with momentum over `N` parameters of type `S`.
///
/// Memory, exactly (tested): `size_of::<Momentum<f32, N>>()` is `4·N + 44` rounded up to a
/// multiple of 8 bytes (buffer, 40-byte configuration, step counter, padding to 8 bytes).
#[derive(Clone, Copy, Debug)]
pub struct Momentum<S: MomentumNum, const N: usize> {
    config: MomentumConfig,
    step: u32,
    aux: S::Aux,
    momentum_buffer: [S::Buffer; N],
}

impl<S: MomentumNum, const N: usize> Momentum<S, N> {
    /// An optimizer with a zeroed buffer, or the first invalid hyperparameter.
    pub const fn new(config: MomentumConfig) -> Result<Self, Error> {
        match config.validate() {
            Ok(()) => Ok(Self::zeroed(config)),
            Err(e) => Err(e),
        }
    }

    const fn zeroed(config: MomentumConfig) -> Self {
        Momentum {
            config,
            step: 0,
            aux: <S::Aux as StateValue>::ZERO,
            momentum_buffer: [S::Buffer::ZERO; N],
        }
    }

    /// The momentum buffer (torch's `momentum_buffer`).
    pub fn momentum_buffer(&self) -> &[S::Buffer; N] {
        &self.momentum_buffer
    }

    fn step_with(
        &mut self,
        params: &mut [S; N],
        grads: &[S; N],
        groups: Option<&[ParamGroup<MomentumConfig>]>,
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
    /// take a buffer value out of its range; reads only.
    fn check_range(
        &self,
        range: &Range<usize>,
        params: &[S],
        grads: &[S],
        config: &MomentumConfig,
        t: u32,
        small: bool,
    ) -> Result<(), Error> {
        let buf = self.momentum_buffer.get(range.clone()).unwrap_or_default();
        match S::momentum_check(params, grads, small, buf, &S::momentum_coeffs(config, t)) {
            Some(i) => Err(Error::StepOverflow {
                index: range.start + i,
            }),
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
        config: &MomentumConfig,
        t: u32,
    ) {
        S::momentum_update(
            params,
            grads,
            part(&mut self.momentum_buffer, range),
            &S::momentum_coeffs(config, t),
            &mut self.aux,
        );
    }
}

crate::optim::impl_optimizer!(Momentum<S: MomentumNum, N>, MomentumConfig);

/// The mutable parts of a [`Momentum`]: configuration, step counter, the number type's state and
/// the momentum buffer.
pub(crate) type MomentumStateMut<'a, S, const N: usize> = (
    &'a mut MomentumConfig,
    &'a mut u32,
    &'a mut <S as Num>::Aux,
    &'a mut [<S as MomentumNum>::Buffer; N],
);

impl<S: MomentumNum, const N: usize> Momentum<S, N> {
    /// Every part of the state, mutably, for [`crate::checkpoint`] (which validates what it
    /// writes).
    pub(crate) fn state_mut(&mut self) -> MomentumStateMut<'_, S, N> {
        (
            &mut self.config,
            &mut self.step,
            &mut self.aux,
            &mut self.momentum_buffer,
        )
    }
}
