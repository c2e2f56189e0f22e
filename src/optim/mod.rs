//! Optimizers with torch.optim's exact semantics, over compile-time-sized state.
//!
//! | type | torch equivalent | state (`S = f32`) |
//! |---|---|---|
//! | [`Sgd<S, N>`] | `SGD(momentum=0)` | none |
//! | [`Momentum<S, N>`] | `SGD(momentum>0, dampening, nesterov)` | `momentum_buffer`: `4N` bytes |
//! | [`Adam<S, N>`] | `Adam`, `AdamW` (`decoupled_weight_decay`) | `exp_avg`, `exp_avg_sq`: `8N` |
//! | [`Adam<S, N, On>`] ([`AmsGrad`]) | `Adam(amsgrad=True)`, `AdamW(amsgrad=True)` | + `max_exp_avg_sq`: `12N` |
//! | [`RmsProp<S, N, M, C>`] | `RMSprop` (momentum if `M = On`, centered if `C = On`) | `square_avg` + optional `momentum_buffer`, `grad_avg`: `4N`..`12N` |
//! | [`Adagrad<S, N>`] | `Adagrad` | `sum`: `4N` |
//! | [`Lion<S, N>`] | Lion (Chen et al. 2023, authors' code) | `exp_avg`: `4N` |
//!
//! Each optimizer also holds its configuration (hyperparameters as `f64`, like torch's Python
//! floats) and a `u32` step counter; the exact `size_of` of every type is given in its docs and
//! tested. Constructors are `const fn`, so a whole optimizer can be a `static`:
//!
//! ```
//! use edgetune::optim::{Adam, AdamConfig, Optimizer};
//! // A compile-time error if the configuration is invalid.
//! const OPT: Adam<f32, 4> = match Adam::new(AdamConfig::adam(1e-2)) {
//!     Ok(opt) => opt,
//!     Err(_) => panic!("invalid Adam configuration"),
//! };
//! let mut opt = OPT;
//! let mut params = [1.0f32, -1.0, 0.5, 0.0];
//! opt.step(&mut params, &[0.5, -0.5, 0.0, 1.0]).unwrap();
//! assert!(params[0] < 1.0 && params[1] > -1.0);
//! ```
//!
//! # Where each optimizer lives
//! One folder per optimizer, with its kernels for every number type: `optim/adam/mod.rs` (the
//! optimizer, its configuration and its kernel trait [`AdamNum`]), `optim/adam/float.rs` (the
//! kernel for `f32` and `f64`, generic over [`Float`](crate::num::Float)) and
//! `optim/adam/fixed.rs` (the kernel for `FixedI32<Frac>`, fast path included). The same for
//! `sgd`, `momentum`, `rmsprop`, `adagrad` and `lion`.
//!
//! # One arena, several tensors
//! An optimizer steps one flat parameter arena `[S; N]` (a model's weights and biases laid end to
//! end). [`Optimizer::step`] applies the optimizer's own configuration to all of it;
//! [`Optimizer::step_groups`] takes [`ParamGroup`]s, disjoint ranges of the arena each with its own
//! configuration (for example no weight decay on biases, or a smaller learning rate for early
//! layers). Elements in no group are left alone, and so is their state.
//!
//! # Failure leaves everything as it was
//! Every step first validates the groups and their hyperparameters and checks every gradient it
//! will read (a read-only pass); only then does it write. A NaN or infinite gradient returns
//! [`Error::NonFiniteGradient`] with parameters and every state buffer bit-for-bit unchanged, and
//! the step counter not advanced.
//!
//! Parameters are not checked: with finite gradients, a floating-point parameter so large that
//! `weight_decay·p` or the update overflows makes the step return `Ok` with an infinite (or NaN)
//! parameter, as torch would. Checking them too would cost a second read of every parameter on
//! every step; [`crate::train::guard`] catches the resulting loss.
//!
//! # Deliberate differences from torch
//! - `eps` must be strictly positive (torch accepts `eps = 0`, which turns an element whose
//!   gradients have all been zero into `0/0 = NaN`).
//! - Centered RMSprop clamps `v - ḡ²` at zero before its square root (torch can round it below zero
//!   and write NaN).
//! - Optional buffers (AMSGrad, RMSprop momentum and centering) are chosen by a type parameter,
//!   so their memory exists only when used.

mod adagrad;
mod adam;
mod float;
mod lion;
mod momentum;
mod rmsprop;
mod sgd;
mod slot;

pub use adagrad::{Adagrad, AdagradConfig, AdagradNum};
pub use adam::{Adam, AdamConfig, AdamNum, AmsGrad};
pub use lion::{Lion, LionConfig, LionNum};
pub use momentum::{Momentum, MomentumConfig, MomentumNum};
pub use rmsprop::{RmsProp, RmsPropConfig, RmsPropNum};
pub use sgd::{Sgd, SgdConfig, SgdNum};
pub use slot::{Absent, Off, On, Slot, SlotBuf};

use crate::num::Num;
use crate::Error;
use core::ops::Range;

/// A configuration (set of hyperparameters) of one optimizer.
pub trait Hyperparameters: Copy + core::fmt::Debug {
    /// Checks every hyperparameter; the error names the first invalid one.
    fn validate(&self) -> Result<(), Error>;
    /// The learning rate.
    fn lr(&self) -> f64;
    /// Replaces the learning rate without validating it (see [`Optimizer::set_lr`]).
    fn with_lr(self, lr: f64) -> Self;
}

/// A range of the parameter arena with its own hyperparameters, like a torch param group.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamGroup<C> {
    /// The elements of the arena in this group.
    pub range: Range<usize>,
    /// The hyperparameters for these elements.
    pub config: C,
}

impl<C> ParamGroup<C> {
    /// A group over `range` with `config`. Ranges and configurations are checked at each step.
    pub const fn new(range: Range<usize>, config: C) -> Self {
        ParamGroup { range, config }
    }
}

/// What every optimizer offers, whatever its number type `S` and size `N`.
pub trait Optimizer<S: Num, const N: usize> {
    /// The hyperparameter set.
    type Config: Hyperparameters;

    /// The current configuration.
    fn config(&self) -> &Self::Config;

    /// Replaces the configuration after validating it; on error nothing changes.
    fn set_config(&mut self, config: Self::Config) -> Result<(), Error>;

    /// Sets the learning rate (for schedules); on error nothing changes.
    fn set_lr(&mut self, lr: f64) -> Result<(), Error> {
        let config = self.config().with_lr(lr);
        self.set_config(config)
    }

    /// Steps taken since construction or the last [`reset`](Optimizer::reset).
    fn step_count(&self) -> u32;

    /// Forgets all state: zero moments, step count 0, as if just constructed.
    fn reset(&mut self);

    /// The number type's own state ([`Num::Aux`]): nothing for floats, the stochastic-rounding
    /// generator for fixed point.
    fn aux(&self) -> &S::Aux;

    /// The number type's own state, mutably (for example to seed the rounding generator).
    fn aux_mut(&mut self) -> &mut S::Aux;

    /// One step over the whole arena with the optimizer's configuration.
    fn step(&mut self, params: &mut [S; N], grads: &[S; N]) -> Result<(), Error>;

    /// One step over the given groups, each with its own configuration.
    fn step_groups(
        &mut self,
        params: &mut [S; N],
        grads: &[S; N],
        groups: &[ParamGroup<Self::Config>],
    ) -> Result<(), Error>;

    /// [`step`](Optimizer::step) for slices, whose lengths are checked at run time:
    /// [`Error::LengthMismatch`] unless both have exactly `N` elements.
    fn step_slices(&mut self, params: &mut [S], grads: &[S]) -> Result<(), Error> {
        let found = if params.len() != N {
            params.len()
        } else {
            grads.len()
        };
        let mismatch = Error::LengthMismatch { expected: N, found };
        let params: &mut [S; N] = params.try_into().map_err(|_| mismatch)?;
        let grads: &[S; N] = grads.try_into().map_err(|_| mismatch)?;
        self.step(params, grads)
    }
}

/// Implements [`Optimizer`] for an optimizer type that has fields `config`, `step` and `aux`, a
/// `const fn zeroed(config)` and a `fn step_with(params, grads, Option<groups>)`. The configuration
/// is checked by `$validate` (by default the configuration's own `validate`).
macro_rules! impl_optimizer {
    ($ty:ident<S: $bound:ident, N $(, $slot:ident)*>, $config:ident) => {
        $crate::optim::impl_optimizer!($ty<S: $bound, N $(, $slot)*>, $config, $config::validate);
    };
    ($ty:ident<S: $bound:ident, N $(, $slot:ident)*>, $config:ident, $validate:path) => {
        impl<S: $bound, const N: usize $(, $slot: $crate::optim::Slot)*> $crate::optim::Optimizer<S, N>
            for $ty<S, N $(, $slot)*>
        {
            type Config = $config;

            fn config(&self) -> &$config {
                &self.config
            }

            fn set_config(&mut self, config: $config) -> Result<(), $crate::Error> {
                $validate(&config)?;
                self.config = config;
                Ok(())
            }

            fn step_count(&self) -> u32 {
                self.step
            }

            fn reset(&mut self) {
                *self = Self::zeroed(self.config);
            }

            fn aux(&self) -> &S::Aux {
                &self.aux
            }

            fn aux_mut(&mut self) -> &mut S::Aux {
                &mut self.aux
            }

            fn step(&mut self, params: &mut [S; N], grads: &[S; N]) -> Result<(), $crate::Error> {
                self.step_with(params, grads, None)
            }

            fn step_groups(
                &mut self,
                params: &mut [S; N],
                grads: &[S; N],
                groups: &[$crate::optim::ParamGroup<$config>],
            ) -> Result<(), $crate::Error> {
                self.step_with(params, grads, Some(groups))
            }
        }
    };
}
pub(crate) use impl_optimizer;

/// Implements [`Hyperparameters`] for a configuration with an `lr` field and a `const fn validate`.
macro_rules! impl_hyperparameters {
    ($config:ident) => {
        impl $crate::optim::Hyperparameters for $config {
            fn validate(&self) -> Result<(), $crate::Error> {
                $config::validate(self)
            }
            fn lr(&self) -> f64 {
                self.lr
            }
            fn with_lr(self, lr: f64) -> Self {
                $config { lr, ..self }
            }
        }
    };
}
pub(crate) use impl_hyperparameters;

/// Which elements a step touches.
pub(crate) enum Groups<'a, C> {
    /// The whole arena, one configuration.
    All(&'a C),
    /// Caller-supplied groups.
    Listed(&'a [ParamGroup<C>]),
}

impl<C: Hyperparameters> Groups<'_, C> {
    fn count(&self) -> usize {
        match self {
            Groups::All(_) => 1,
            Groups::Listed(groups) => groups.len(),
        }
    }

    fn get<const N: usize>(&self, i: usize) -> Option<(Range<usize>, &C)> {
        match self {
            Groups::All(c) if i == 0 => Some((0..N, *c)),
            Groups::All(_) => None,
            Groups::Listed(groups) => groups.get(i).map(|g| (g.range.clone(), &g.config)),
        }
    }
}

/// The part of a state buffer that belongs to `range` (empty if out of bounds, which validation
/// has already excluded).
#[inline(always)]
pub(crate) fn part<'a, T>(buf: &'a mut [T], range: &Range<usize>) -> &'a mut [T] {
    buf.get_mut(range.clone()).unwrap_or_default()
}

/// The shared body of every optimizer's step: validate, check every gradient, then let `apply`
/// update each group with the new 1-based step count. Nothing is written unless all checks pass.
pub(crate) fn run_step<S: Num, C: Hyperparameters, const N: usize>(
    step_count: &mut u32,
    params: &mut [S; N],
    grads: &[S; N],
    groups: Groups<'_, C>,
    mut apply: impl FnMut(&Range<usize>, &mut [S], &[S], &C, u32),
) -> Result<(), Error> {
    let count = groups.count();
    for i in 0..count {
        let Some((range, config)) = groups.get::<N>(i) else {
            continue;
        };
        if range.start > range.end || range.end > N {
            return Err(Error::GroupOutOfBounds { group: i });
        }
        config.validate()?;
        for j in 0..i {
            if let Some((other, _)) = groups.get::<N>(j) {
                if range.start < other.end && other.start < range.end {
                    return Err(Error::GroupsOverlap {
                        first: j,
                        second: i,
                    });
                }
            }
        }
        let g = grads.get(range.clone()).unwrap_or_default();
        if let Some(pos) = S::first_unusable(g) {
            return Err(Error::NonFiniteGradient {
                index: range.start + pos,
            });
        }
    }
    let t = step_count.checked_add(1).ok_or(Error::StepCountOverflow)?;
    for i in 0..count {
        let Some((range, config)) = groups.get::<N>(i) else {
            continue;
        };
        let (Some(p), Some(g)) = (params.get_mut(range.clone()), grads.get(range.clone())) else {
            continue;
        };
        apply(&range, p, g, config, t);
    }
    *step_count = t;
    Ok(())
}

// The documented layouts, checked at compile time on every target the crate is built for
// (x86-64 hosts and the thumbv6m/thumbv7em cross builds alike).
const _: () = {
    use core::mem::size_of;
    assert!(size_of::<Sgd<f32, 1024>>() == 32);
    assert!(size_of::<Momentum<f32, 1024>>() == 4 * 1024 + 48);
    assert!(size_of::<Adam<f32, 1024>>() == 8 * 1024 + 56);
    assert!(size_of::<AmsGrad<f32, 1024>>() == 12 * 1024 + 56);
    assert!(size_of::<RmsProp<f32, 1024, On, On>>() == 12 * 1024 + 56);
    assert!(size_of::<Adagrad<f32, 1024>>() == 4 * 1024 + 56);
    assert!(size_of::<Lion<f32, 1024>>() == 4 * 1024 + 40);
};

#[cfg(test)]
mod tests {
    /// At `u32::MAX` steps the next step is refused with `StepCountOverflow`, and nothing moves:
    /// parameters, moments and the count stay exactly as they were (f32 and I16F16).
    #[test]
    fn step_count_overflow_is_an_error_and_changes_nothing() {
        use crate::optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
        use fixed::types::I16F16;

        let mut sgd = Sgd::<f32, 4>::new(SgdConfig::new(0.1)).unwrap();
        let (mut p, g) = ([1.0f32, -2.0, 3.0, 0.5], [0.25f32; 4]);
        sgd.step(&mut p, &g).unwrap();
        *sgd.state_mut().1 = u32::MAX;
        let before = p;
        assert_eq!(sgd.step(&mut p, &g), Err(crate::Error::StepCountOverflow));
        assert_eq!(p, before);
        assert_eq!(sgd.step_count(), u32::MAX);

        let mut adam = Adam::<I16F16, 4>::new(AdamConfig::adam(1e-2)).unwrap();
        let mut q = [I16F16::from_num(0.5); 4];
        let h = [I16F16::from_num(-0.125); 4];
        adam.step(&mut q, &h).unwrap();
        *adam.state_mut().1 = u32::MAX;
        let (q0, m0, v0) = (q, *adam.exp_avg(), *adam.exp_avg_sq());
        assert_eq!(adam.step(&mut q, &h), Err(crate::Error::StepCountOverflow));
        assert_eq!(q, q0);
        assert_eq!((*adam.exp_avg(), *adam.exp_avg_sq()), (m0, v0));
        assert_eq!(adam.step_count(), u32::MAX);
    }
}
