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
//! # One configuration, one loop in flash
//! A step picks its loop from the configuration at run time (`maximize`, the kind of weight
//! decay), so a firmware links every loop of the optimizer. Adam's fourth type parameter, an
//! [`AdamForm`], fixes those flags by type instead: [`PlainAdam`] (descend, no weight decay) and
//! [`PlainAdamW`] (descend, decoupled decay) accept only such configurations (any other is an
//! [`Error::InvalidHyperparameter`]) and link only their own loops, with the same bits as the
//! default run-time form [`AnyAdam`]. Learning rate, betas and eps stay run-time values.
//! [`CompactAdam`] and [`CompactAdamW`] accept the same configurations and, in `f32`/`f64`, run
//! one scalar loop that the overflow check shares: the least flash, for a few instructions
//! more per parameter (the tables in the README give both).
//!
//! ```
//! use edgetune::optim::{Adam, AdamConfig, Off, Optimizer, PlainAdam};
//! let mut opt = Adam::<f32, 4, Off, PlainAdam>::new(AdamConfig::adam(1e-2)).unwrap();
//! let mut params = [1.0f32, -1.0, 0.5, 0.0];
//! opt.step(&mut params, &[0.5, -0.5, 0.0, 1.0]).unwrap();
//! // maximize is not this form's.
//! let up = AdamConfig { maximize: true, ..AdamConfig::adam(1e-2) };
//! assert!(opt.set_config(up).is_err());
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
//! # Fused updates
//! A fused (in-place) update steps each layer's parameters as soon as backward has finished that
//! layer's gradient, so the gradient storage is one layer's, not the whole network's. Backward
//! runs from the last layer to the first, so one step is applied part by part, in any order:
//!
//! ```
//! use edgetune::optim::{Adam, AdamConfig, Optimizer};
//! use edgetune::num::fixed::I16F16;
//! let mut opt = Adam::<I16F16, 6>::new(AdamConfig::adam(1e-2)).unwrap();
//! let mut params = [I16F16::from_num(0.5); 6];
//! let grads = [I16F16::from_num(0.25); 6];
//! let mut whole = (opt, params);
//! whole.0.step(&mut whole.1, &grads).unwrap();
//!
//! let mut part = opt.begin_parts().unwrap();
//! for range in [4..6, 1..4, 0..1] {
//!     // (In a network: the gradient of this layer, just computed by backward.)
//!     let (p, g) = (&mut params[range.clone()], &grads[range.clone()]);
//!     opt.step_part(&mut part, range, p, g).unwrap();
//! }
//! opt.end_parts(part);
//! assert_eq!(params, whole.1);
//! assert_eq!((opt.exp_avg(), opt.aux()), (whole.0.exp_avg(), whole.0.aux()));
//! ```
//!
//! [`Optimizer::begin_parts`] checks the configuration and the step count and writes nothing;
//! [`Optimizer::step_part`] steps one range of the arena with its parameters and gradients;
//! [`Optimizer::end_parts`] advances the step count and sets [`Optimizer::aux`]. When the parts
//! cover the arena once each, parameters, every state buffer, the step count and `aux` are bit for
//! bit those of one [`Optimizer::step`], for every optimizer, number type and configuration.
//! Stochastic rounding included: every fixed-point kernel draws exactly one value from the
//! rounding generator per element (fast and general paths alike, and Lion's even for a zero
//! sign), so a part starting at element `a` starts the generator `a` draws after the step's
//! start, reached by skip-ahead in `O(log a)` ([`Num::aux_after`]); the floats and round to
//! nearest draw nothing.
//!
//! The caller's contract, with what is checked:
//! - Apply each range at most once per step. Ranges are not remembered (that would cost memory
//!   per part), but the elements applied are counted ([`PartStep::elements`]): a part that would
//!   bring them above `N` is refused with [`Error::GroupsOverlap`]. A range applied twice while
//!   another is left out is not detected; `part.elements() == N` before `end_parts` confirms the
//!   cover.
//! - A range never applied is left alone, parameters and state (as an element in no
//!   [`ParamGroup`] is), but `aux` still ends where a whole step leaves it.
//! - Between `begin_parts` and `end_parts`, do not call [`step`](Optimizer::step),
//!   [`step_groups`](Optimizer::step_groups), [`reset`](Optimizer::reset) or
//!   [`aux_mut`](Optimizer::aux_mut); `aux` itself is meaningful only after `end_parts`. Each part
//!   is stepped with the configuration in effect when it is applied (so `set_lr` between parts
//!   gives those parts another rate, as a param group would).
//! - A part with an unusable gradient is refused with [`Error::NonFiniteGradient`] and nothing of
//!   it is written, but, unlike a whole step, **the parts applied before it stay applied**: the
//!   gradients of the other layers were never all in memory at once, so they cannot be checked
//!   first. The step is then partial; calling `end_parts` (after any remaining parts) keeps the
//!   step count and generator consistent, as if the refused range had been in no group. To undo
//!   it, restore a [`checkpoint`](crate::checkpoint) or a copy taken before `begin_parts`.
//!
//! # Failure leaves everything as it was
//! Every step first validates the groups and their hyperparameters (the optimizer's own
//! configuration was validated when it was set) and checks every gradient it will read (a
//! read-only pass); only then does it write. A NaN or infinite gradient returns
//! [`Error::NonFiniteGradient`] with parameters and every state buffer bit-for-bit unchanged, and
//! the step counter not advanced. A step that would take a value out of its number type's range
//! although every input is inside it returns [`Error::StepOverflow`] (the index of the first such
//! element), found by a read-only pass before any write, with the same guarantee:
//! - a fixed-point momentum buffer, which tends to `g/(1 − μ)` and may leave the parameter's
//!   format;
//! - a floating-point step whose `weight_decay·p`, update or state overflows to infinity (for
//!   example a parameter near `f32::MAX` with weight decay), where torch would write `inf`, or
//!   would be NaN (RMSprop with `alpha > 1`, whose `v` can go negative under the root), where
//!   torch would write NaN.
//!
//! (The one exception is a step applied in parts, whose earlier parts stay applied: see
//! [Fused updates](#fused-updates); a refused part itself writes nothing.)
//!
//! The floating-point check costs one read of the parameters, gradients and state per step: from
//! the configuration each step derives a safe range `[−2^k, 2^k)` (every intermediate value of
//! the update is at most a known multiple of the largest input, at most `2^(MAX_EXP − 2)` inside
//! the range), tested by arithmetic with an FPU (`Σ x·2^(128 − k)` stays finite: two
//! instructions per value on a Cortex-M4F) or on the bits without one. Only if a value lies
//! outside it does the check run the optimizer's own kernel on copies of 16 elements at a time to
//! find the first element that really overflows (so a large but harmless value is never
//! refused). Adam reads its moments, and RMSprop its `square_avg`, only when needed: each
//! carries a [`StateBound`] on their magnitudes from step to step (an average moves at most a
//! rounding beyond the larger of its old value and the new gradient or its square), and reads
//! them again only when that bound does not place them inside the step's range, after 255 steps,
//! or after a checkpoint's load.
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
mod bound;
mod dispatch;
mod float;
mod lion;
mod momentum;
mod rmsprop;
mod sgd;
mod slot;
pub(crate) mod threads;

pub use adagrad::{Adagrad, AdagradConfig, AdagradNum};
pub use adam::{
    Adam, AdamConfig, AdamDecay, AdamFlags, AdamForm, AdamNum, AmsGrad, AnyAdam, CompactAdam,
    CompactAdamW, PlainAdam, PlainAdamW,
};
pub use bound::StateBound;
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

/// One step being applied in parts ([fused updates](self#fused-updates)), from
/// [`Optimizer::begin_parts`] to [`Optimizer::end_parts`], which consumes it. It holds the new
/// step count, the number type's state at the step's start (from which each part's stochastic
/// rounding starts) and how much has been applied. Deliberately neither `Clone` nor `Copy`, so
/// that a step cannot be ended twice.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a step begun in parts is finished by `end_parts`"]
pub struct PartStep<A> {
    t: u32,
    aux: A,
    elements: usize,
    parts: usize,
}

impl<A: Copy> PartStep<A> {
    /// The token for the step after `step_count`, or `StepCountOverflow`.
    pub(crate) fn begin(step_count: u32, aux: A) -> Result<Self, Error> {
        let t = step_count.checked_add(1).ok_or(Error::StepCountOverflow)?;
        Ok(PartStep {
            t,
            aux,
            elements: 0,
            parts: 0,
        })
    }

    /// The step being taken (1-based): the step count after [`Optimizer::end_parts`].
    pub const fn step(&self) -> u32 {
        self.t
    }

    /// How many elements the parts applied so far cover (`N` once the whole arena is done, if
    /// no range was applied twice).
    pub const fn elements(&self) -> usize {
        self.elements
    }

    /// How many parts have been applied so far.
    pub const fn parts(&self) -> usize {
        self.parts
    }

    /// The number type's state at the step's start.
    pub(crate) fn start_aux(&self) -> A {
        self.aux
    }

    /// Every check of [`Optimizer::step_part`], before anything is written; `Ok(small)` with
    /// `small` as [`Num::first_unusable_and_small`] gives it.
    pub(crate) fn check<S: Num, const N: usize>(
        &self,
        range: &Range<usize>,
        params: usize,
        grads: &[S],
    ) -> Result<bool, Error> {
        if range.start > range.end || range.end > N {
            return Err(Error::GroupOutOfBounds { group: self.parts });
        }
        let len = range.end - range.start;
        for found in [params, grads.len()] {
            if found != len {
                return Err(Error::LengthMismatch {
                    expected: len,
                    found,
                });
            }
        }
        if len > N - self.elements.min(N) {
            return Err(Error::GroupsOverlap {
                first: self.parts,
                second: self.parts,
            });
        }
        match S::first_unusable_and_small(grads) {
            (Some(pos), _) => Err(Error::NonFiniteGradient {
                index: range.start + pos,
            }),
            (None, small) => Ok(small),
        }
    }

    /// Counts a part of `len` elements as applied.
    pub(crate) fn record(&mut self, len: usize) {
        self.elements = self.elements.saturating_add(len);
        self.parts = self.parts.saturating_add(1);
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

    /// Starts one step to be applied in parts ([fused updates](self#fused-updates)): validates
    /// the configuration and checks that the step count can advance. Nothing is written.
    ///
    /// # Errors
    /// The first invalid hyperparameter, or [`Error::StepCountOverflow`] at `u32::MAX` steps.
    fn begin_parts(&mut self) -> Result<PartStep<S::Aux>, Error>;

    /// Applies the step begun by [`begin_parts`](Optimizer::begin_parts) to the elements `range`
    /// of the arena: `params` and `grads` are that range of the parameters and their gradients
    /// (`range.len()` elements each), and the state of that range is updated, exactly as
    /// [`step`](Optimizer::step) would for these elements (bit for bit, stochastic rounding
    /// included), with the configuration in effect now. Parts may come in any order.
    ///
    /// # Errors
    /// Nothing is written, to the parameters, the state or `part`, when
    /// - `range` is reversed or ends beyond `N`: [`Error::GroupOutOfBounds`] with `group` the
    ///   number of parts applied so far;
    /// - `params` or `grads` is not `range.len()` long: [`Error::LengthMismatch`];
    /// - the parts applied in this step and this one add up to more than `N` elements, so some
    ///   element would be stepped twice: [`Error::GroupsOverlap`] with `first` and `second` both
    ///   the number of parts applied so far (which earlier part it overlaps is not known);
    /// - a gradient is unusable: [`Error::NonFiniteGradient`] with `index` its position in the
    ///   arena (`range.start + i`). The parts already applied stay applied;
    /// - a state value would leave its range: [`Error::StepOverflow`], likewise.
    fn step_part(
        &mut self,
        part: &mut PartStep<S::Aux>,
        range: Range<usize>,
        params: &mut [S],
        grads: &[S],
    ) -> Result<(), Error>;

    /// Ends the step begun by [`begin_parts`](Optimizer::begin_parts): the step count advances
    /// and [`aux`](Optimizer::aux) becomes what a whole [`step`](Optimizer::step) would have
    /// left, whichever parts were applied.
    fn end_parts(&mut self, part: PartStep<S::Aux>);

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
/// `const fn zeroed(config)`, a `fn step_with(params, grads, Option<groups>)`, a
/// `fn update_range(range, params, grads, config, t)` that updates one range with `self.aux` (the
/// one kernel call that both `step_with` and `step_part` make) and a read-only
/// `fn check_range(range, params, grads, config, t, small) -> Result<(), Error>` that
/// `step_part` calls first (`small`: the gradients are known to lie below `2^29`). The configuration is checked by
/// `$validate` (by default the configuration's own `validate`).
macro_rules! impl_optimizer {
    ($ty:ident<S: $bound:ident, N $(, $slot:ident)*>, $config:ident) => {
        $crate::optim::impl_optimizer!($ty<S: $bound, N $(, $slot)*>, $config, $config::validate);
    };
    // `; K: Bound`: one more type parameter after the slots (Adam's compile-time form).
    (
        $ty:ident<S: $bound:ident, N $(, $slot:ident)* $(; $form:ident: $fbound:path)?>,
        $config:ident,
        $validate:path
    ) => {
        impl<S: $bound, const N: usize $(, $slot: $crate::optim::Slot)* $(, $form: $fbound)?>
            $crate::optim::Optimizer<S, N> for $ty<S, N $(, $slot)* $(, $form)?>
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

            fn begin_parts(&mut self) -> Result<$crate::optim::PartStep<S::Aux>, $crate::Error> {
                $validate(&self.config)?;
                $crate::optim::PartStep::begin(self.step, self.aux)
            }

            fn step_part(
                &mut self,
                part: &mut $crate::optim::PartStep<S::Aux>,
                range: core::ops::Range<usize>,
                params: &mut [S],
                grads: &[S],
            ) -> Result<(), $crate::Error> {
                let small = part.check::<S, N>(&range, params.len(), grads)?;
                let config = self.config;
                let t = part.step();
                self.check_range(&range, params, grads, &config, t, small)?;
                // Where a whole step's generator would be on reaching `range.start`.
                self.aux = <S as $crate::num::Num>::aux_after(part.start_aux(), range.start);
                $crate::optim::dispatch::widest(
                    #[cfg_attr(feature = "host-simd", inline(always))]
                    || self.update_range(&range, params, grads, &config, t));
                part.record(range.len());
                Ok(())
            }

            fn end_parts(&mut self, part: $crate::optim::PartStep<S::Aux>) {
                self.step = part.step();
                self.aux = <S as $crate::num::Num>::aux_after(part.start_aux(), N);
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

    /// Group `i` of an arena of `n` elements.
    #[inline(always)]
    fn get(&self, n: usize, i: usize) -> Option<(Range<usize>, &C)> {
        match self {
            Groups::All(c) if i == 0 => Some((0..n, *c)),
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

/// What [`run_step_checked`] asks of its `apply`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pass {
    /// Read only: return [`Error::StepOverflow`] (or another error) if this group's update
    /// cannot be taken; write nothing. `small`: the gradient scan established that every
    /// gradient of the group lies below `2^29` ([`Num::first_unusable_and_small`]).
    Check {
        /// The gradients are known to lie below `2^29`.
        small: bool,
    },
    /// Update the group (every check has passed).
    Write,
}

/// The shared body of every optimizer's step: validate the groups, check every gradient and the
/// step count, then a read-only pass of the optimizer's own before any write: `apply(Pass::Check, ..)` runs on every group, and
/// only if each returns `Ok` does `apply(Pass::Write, ..)` run on every group (its result is then
/// ignored: a write cannot fail).
pub(crate) fn run_step_checked<S: Num, C: Hyperparameters, const N: usize>(
    step_count: &mut u32,
    params: &mut [S; N],
    grads: &[S; N],
    groups: Groups<'_, C>,
    apply: impl FnMut(Pass, &Range<usize>, &mut [S], &[S], &C, u32) -> Result<(), Error>,
) -> Result<(), Error> {
    run_step_checked_n(N, step_count, params, grads, groups, apply)
}

/// [`run_step_checked`] over an arena of `n` elements (`params` and `grads` are `n` long: the
/// callers check it), shared by the `[S; N]` optimizers (`n = N`, inlined, so the constant
/// folds as before) and the run-time-sized ones of [`crate::dynamic`].
#[inline(always)]
pub(crate) fn run_step_checked_n<S: Num, C: Hyperparameters>(
    n: usize,
    step_count: &mut u32,
    params: &mut [S],
    grads: &[S],
    groups: Groups<'_, C>,
    mut apply: impl FnMut(Pass, &Range<usize>, &mut [S], &[S], &C, u32) -> Result<(), Error>,
) -> Result<(), Error> {
    let count = groups.count();
    let mut small_groups = 0u64;
    for i in 0..count {
        let Some((range, config)) = groups.get(n, i) else {
            continue;
        };
        if range.start > range.end || range.end > n {
            return Err(Error::GroupOutOfBounds { group: i });
        }
        // `All` is the optimizer's own configuration, valid since every write to it (`new`,
        // `set_config`, a checkpoint's load) validated it; checking it again on every step costs
        // each step's flash its inlined checks (about 600 bytes for Adam on a Cortex-M4F).
        if let Groups::Listed(_) = groups {
            config.validate()?;
        }
        for j in 0..i {
            if let Some((other, _)) = groups.get(n, j) {
                if range.start < other.end && other.start < range.end {
                    return Err(Error::GroupsOverlap {
                        first: j,
                        second: i,
                    });
                }
            }
        }
        let g = grads.get(range.clone()).unwrap_or_default();
        match S::first_unusable_and_small(g) {
            (Some(pos), _) => {
                return Err(Error::NonFiniteGradient {
                    index: range.start + pos,
                })
            }
            // Remembered for the first 64 groups (more are checked in full).
            (None, small) => {
                if small && i < 64 {
                    small_groups |= 1 << i;
                }
            }
        }
    }
    let t = step_count.checked_add(1).ok_or(Error::StepCountOverflow)?;
    for check in [true, false] {
        for i in 0..count {
            let pass = if check {
                Pass::Check {
                    small: i < 64 && small_groups & (1 << i) != 0,
                }
            } else {
                Pass::Write
            };
            let Some((range, config)) = groups.get(n, i) else {
                continue;
            };
            let (Some(p), Some(g)) = (params.get_mut(range.clone()), grads.get(range.clone()))
            else {
                continue;
            };
            if check {
                apply(pass, &range, p, g, config, t)?;
            } else {
                dispatch::widest(
                    #[cfg_attr(feature = "host-simd", inline(always))]
                    || {
                        let _ = apply(pass, &range, p, g, config, t);
                    },
                );
            }
        }
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

    /// A step in parts cannot begin at `u32::MAX` steps either, and nothing changes (the count,
    /// the rounding state); one step before, it begins and ends at `u32::MAX`.
    #[test]
    fn begin_parts_at_the_last_step_count_is_an_overflow() {
        use crate::num::fixed::RoundingState;
        use crate::optim::{Adam, AdamConfig, Optimizer};
        use fixed::types::I16F16;

        let mut adam = Adam::<I16F16, 4>::new(AdamConfig::adam(1e-2)).unwrap();
        *adam.aux_mut() = RoundingState::stochastic(42);
        let mut q = [I16F16::from_num(0.5); 4];
        let h = [I16F16::from_num(-0.125); 4];
        adam.step(&mut q, &h).unwrap();
        *adam.state_mut().1 = u32::MAX;
        let before = (*adam.aux(), *adam.exp_avg(), *adam.exp_avg_sq());
        assert!(matches!(
            adam.begin_parts(),
            Err(crate::Error::StepCountOverflow)
        ));
        assert_eq!((*adam.aux(), *adam.exp_avg(), *adam.exp_avg_sq()), before);
        assert_eq!(adam.step_count(), u32::MAX);

        *adam.state_mut().1 = u32::MAX - 1;
        let mut whole = (adam, q);
        whole.0.step(&mut whole.1, &h).unwrap();
        let mut part = adam.begin_parts().unwrap();
        assert_eq!(part.step(), u32::MAX);
        adam.step_part(&mut part, 2..4, &mut q[2..], &h[2..])
            .unwrap();
        adam.step_part(&mut part, 0..2, &mut q[..2], &h[..2])
            .unwrap();
        adam.end_parts(part);
        assert_eq!((q, adam.step_count()), (whole.1, u32::MAX));
        assert_eq!(
            (adam.aux(), adam.exp_avg()),
            (whole.0.aux(), whole.0.exp_avg())
        );
    }
}
