//! Learning-rate schedules with torch.optim.lr_scheduler's semantics, and [`Scheduler`], the
//! counter that steps one and hands its rate to an optimizer.
//!
//! A schedule is a pure function of the epoch (or step) count, [`LrSchedule::lr_at`]; it holds
//! only validated hyperparameters, including the base learning rate (torch takes that from the
//! optimizer's initial `lr`). The count lives apart, in [`Scheduler`], as optax keeps state apart
//! from hyperparameters.
//!
//! # torch's two forms
//! torch's `scheduler.step()` uses a *recursive* ("chainable") form that multiplies the
//! optimizer's current rate by a factor; `scheduler.step(epoch)` and `_get_closed_form_lr` use
//! the closed form. They agree up to rounding. Here every schedule evaluates its closed form
//! (given on each type), so `lr_at(t)` is exact to a few ulps for any `t` and never drifts; it
//! differs from torch's recursive sequence by at most the rounding that recursion accumulates
//! (relative `t·2⁻⁵³` or so, tested).
//!
//! # Parameter groups and the divergence guard
//! torch keeps one `initial_lr` per parameter group and evaluates the schedule's closed form on
//! each: `StepLR` gives group `g` the rate `initial_lr_g · γ^⌊t/step⌋`, `CosineAnnealingLR`
//! `eta_min + (initial_lr_g − eta_min)·(1 + cos(πt/T))/2`. [`LrSchedule::lr_for`] is that closed
//! form for any base rate, and [`Scheduler::apply_groups`] sets every [`ParamGroup`]'s rate from
//! its own base (recorded once with [`base_lrs`], as torch records `initial_lr`).
//!
//! A [`DivergenceGuard`](super::DivergenceGuard) lowers the rate by multiplying it; a schedule
//! that then set its own rate would undo that. Every `apply` here takes a `scale` (pass
//! [`DivergenceGuard::lr_scale`](super::DivergenceGuard::lr_scale), 1 without a guard) and sets
//! `lr = schedule rate · scale`, so the guard's reductions persist through every later schedule
//! step.

use super::error::check;
use super::TrainError;
use crate::num::Num;
use crate::optim::{Hyperparameters, Optimizer, ParamGroup};

/// A learning rate as a function of the epoch (or step) count `t`, torch's `last_epoch`.
pub trait LrSchedule {
    /// The base rate the schedule was built with (torch's `initial_lr` of a single group).
    fn base_lr(&self) -> f64;

    /// The rate at count `t` for a parameter group whose base rate is `base_lr`: torch's closed
    /// form evaluated with that group's `initial_lr` (the schedule's other hyperparameters, such
    /// as `gamma` or `eta_min`, are shared by every group, as in torch).
    fn lr_for(&self, base_lr: f64, t: u32) -> f64;

    /// The learning rate at count `t` (`t = 0` is the rate at construction, before any
    /// `scheduler.step()`): [`lr_for`](LrSchedule::lr_for) at the schedule's own base rate.
    fn lr_at(&self, t: u32) -> f64 {
        self.lr_for(self.base_lr(), t)
    }
}

/// The rate of every group, in order: the base rates for [`Scheduler::apply_groups`] (torch
/// records them as each group's `initial_lr` when the scheduler is built). Take them before the
/// first `apply_groups`, which overwrites the groups' rates.
pub fn base_lrs<C: Hyperparameters, const G: usize>(groups: &[ParamGroup<C>; G]) -> [f64; G] {
    core::array::from_fn(|i| groups.get(i).map_or(0.0, |g| g.config.lr()))
}

/// torch's `StepLR(optimizer, step_size, gamma)`: decays by `gamma` every `step_size` counts.
///
/// `lr(t) = base_lr · gamma^⌊t / step_size⌋` (torch's closed form). 24 bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepLr {
    base_lr: f64,
    gamma: f64,
    step_size: u32,
}

impl StepLr {
    /// A StepLR schedule.
    ///
    /// # Errors
    /// [`TrainError::InvalidHyperparameter`] unless `base_lr` is finite and `>= 0`,
    /// `step_size >= 1` and `gamma` is finite and `> 0`.
    pub const fn new(base_lr: f64, step_size: u32, gamma: f64) -> Result<Self, TrainError> {
        match base_lr_ok(base_lr) {
            Ok(()) => {}
            Err(e) => return Err(e),
        }
        match check::at_least_one("step_size", step_size) {
            Ok(()) => {}
            Err(e) => return Err(e),
        }
        match check::positive("gamma", gamma) {
            Ok(()) => Ok(StepLr {
                base_lr,
                gamma,
                step_size,
            }),
            Err(e) => Err(e),
        }
    }

    /// The rate at `t = 0`.
    pub const fn base_lr(&self) -> f64 {
        self.base_lr
    }
    /// The decay factor.
    pub const fn gamma(&self) -> f64 {
        self.gamma
    }
    /// The counts between decays.
    pub const fn step_size(&self) -> u32 {
        self.step_size
    }
}

impl LrSchedule for StepLr {
    fn base_lr(&self) -> f64 {
        self.base_lr
    }
    fn lr_for(&self, base_lr: f64, t: u32) -> f64 {
        // `step_size >= 1` by construction; `checked_div` keeps this panic-free regardless.
        let k = t.checked_div(self.step_size).unwrap_or(0);
        base_lr * libm::pow(self.gamma, f64::from(k))
    }
}

/// torch's `ExponentialLR(optimizer, gamma)`: decays by `gamma` every count.
///
/// `lr(t) = base_lr · gammaᵗ` (torch's closed form). 16 bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExponentialLr {
    base_lr: f64,
    gamma: f64,
}

impl ExponentialLr {
    /// An ExponentialLR schedule.
    ///
    /// # Errors
    /// [`TrainError::InvalidHyperparameter`] unless `base_lr` is finite and `>= 0` and `gamma`
    /// is finite and `> 0`.
    pub const fn new(base_lr: f64, gamma: f64) -> Result<Self, TrainError> {
        match base_lr_ok(base_lr) {
            Ok(()) => {}
            Err(e) => return Err(e),
        }
        match check::positive("gamma", gamma) {
            Ok(()) => Ok(ExponentialLr { base_lr, gamma }),
            Err(e) => Err(e),
        }
    }

    /// The rate at `t = 0`.
    pub const fn base_lr(&self) -> f64 {
        self.base_lr
    }
    /// The decay factor.
    pub const fn gamma(&self) -> f64 {
        self.gamma
    }
}

impl LrSchedule for ExponentialLr {
    fn base_lr(&self) -> f64 {
        self.base_lr
    }
    fn lr_for(&self, base_lr: f64, t: u32) -> f64 {
        base_lr * libm::pow(self.gamma, f64::from(t))
    }
}

/// torch's `CosineAnnealingLR(optimizer, T_max, eta_min)`, closed form.
///
/// `lr(t) = eta_min + (base_lr − eta_min) · (1 + cos(π·t / T_max)) / 2`, evaluated in that order
/// (`π·t` first, as torch's `math.pi * last_epoch / T_max`). It falls from `base_lr` at `t = 0`
/// to `eta_min` at `t = T_max`, then rises again with period `2·T_max`, like torch (whose
/// recursive form follows the same curve). For a rate that stays at `eta_min` after `T_max`,
/// put it first in a [`SequentialLr`]. 24 bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CosineAnnealingLr {
    base_lr: f64,
    eta_min: f64,
    t_max: u32,
}

impl CosineAnnealingLr {
    /// A CosineAnnealingLR schedule.
    ///
    /// # Errors
    /// [`TrainError::InvalidHyperparameter`] unless `base_lr` and `eta_min` are finite and
    /// `>= 0` and `t_max >= 1`.
    pub const fn new(base_lr: f64, t_max: u32, eta_min: f64) -> Result<Self, TrainError> {
        match base_lr_ok(base_lr) {
            Ok(()) => {}
            Err(e) => return Err(e),
        }
        match check::at_least_one("T_max", t_max) {
            Ok(()) => {}
            Err(e) => return Err(e),
        }
        match check::non_negative("eta_min", eta_min) {
            Ok(()) => Ok(CosineAnnealingLr {
                base_lr,
                eta_min,
                t_max,
            }),
            Err(e) => Err(e),
        }
    }

    /// The rate at `t = 0`.
    pub const fn base_lr(&self) -> f64 {
        self.base_lr
    }
    /// The rate at `t = T_max`.
    pub const fn eta_min(&self) -> f64 {
        self.eta_min
    }
    /// Half the period, torch's `T_max`.
    pub const fn t_max(&self) -> u32 {
        self.t_max
    }
}

impl LrSchedule for CosineAnnealingLr {
    fn base_lr(&self) -> f64 {
        self.base_lr
    }
    fn lr_for(&self, base_lr: f64, t: u32) -> f64 {
        let angle = core::f64::consts::PI * f64::from(t) / f64::from(self.t_max);
        self.eta_min + (base_lr - self.eta_min) * (1.0 + libm::cos(angle)) / 2.0
    }
}

/// torch's `LinearLR(optimizer, start_factor, end_factor, total_iters)`: a linear ramp of the
/// rate's factor, the usual warmup.
///
/// `lr(t) = base_lr · (start_factor + (end_factor − start_factor) · min(t, total_iters) /
/// total_iters)` (torch's closed form, evaluated in that order), constant at
/// `base_lr · end_factor` from `total_iters` on. 32 bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearLr {
    base_lr: f64,
    start_factor: f64,
    end_factor: f64,
    total_iters: u32,
}

impl LinearLr {
    /// A LinearLR schedule. torch's defaults are `start_factor = 1/3`, `end_factor = 1`,
    /// `total_iters = 5`.
    ///
    /// # Errors
    /// [`TrainError::InvalidHyperparameter`] unless `base_lr` is finite and `>= 0`,
    /// `0 < start_factor <= 1` and `0 <= end_factor <= 1` (torch's own checks) and
    /// `total_iters >= 1` (torch would divide by zero).
    pub const fn new(
        base_lr: f64,
        start_factor: f64,
        end_factor: f64,
        total_iters: u32,
    ) -> Result<Self, TrainError> {
        match base_lr_ok(base_lr) {
            Ok(()) => {}
            Err(e) => return Err(e),
        }
        match check::require(
            start_factor > 0.0 && start_factor <= 1.0,
            "start_factor",
            "in (0, 1]",
        ) {
            Ok(()) => {}
            Err(e) => return Err(e),
        }
        match check::require(
            end_factor >= 0.0 && end_factor <= 1.0,
            "end_factor",
            "in [0, 1]",
        ) {
            Ok(()) => {}
            Err(e) => return Err(e),
        }
        match check::at_least_one("total_iters", total_iters) {
            Ok(()) => Ok(LinearLr {
                base_lr,
                start_factor,
                end_factor,
                total_iters,
            }),
            Err(e) => Err(e),
        }
    }

    /// The rate the factors multiply.
    pub const fn base_lr(&self) -> f64 {
        self.base_lr
    }
    /// The factor at `t = 0`.
    pub const fn start_factor(&self) -> f64 {
        self.start_factor
    }
    /// The factor from `t = total_iters` on.
    pub const fn end_factor(&self) -> f64 {
        self.end_factor
    }
    /// The length of the ramp.
    pub const fn total_iters(&self) -> u32 {
        self.total_iters
    }
}

impl LrSchedule for LinearLr {
    fn base_lr(&self) -> f64 {
        self.base_lr
    }
    fn lr_for(&self, base_lr: f64, t: u32) -> f64 {
        let done = f64::from(if t < self.total_iters {
            t
        } else {
            self.total_iters
        });
        let factor = self.start_factor
            + (self.end_factor - self.start_factor) * done / f64::from(self.total_iters);
        base_lr * factor
    }
}

/// torch's `SequentialLR(optimizer, [first, second], milestones=[milestone])`: `first` until the
/// milestone, then `second` restarted from its own `t = 0` (typically a [`LinearLr`] warmup, then
/// a decay).
///
/// `lr(t) = first.lr_at(t)` for `t < milestone`, `second.lr_at(t − milestone)` from then on. As
/// in torch, both schedules should have the same base rate (torch takes both from the
/// optimizer's initial `lr`). A milestone of 0 is allowed and means `second` alone.
///
/// ```
/// use edgetune::train::{CosineAnnealingLr, LinearLr, LrSchedule, SequentialLr};
/// // 10 counts of warmup from 0.1·lr, then a cosine decay over 90 counts.
/// const SCHEDULE: SequentialLr<LinearLr, CosineAnnealingLr> = match (
///     LinearLr::new(1e-2, 0.1, 1.0, 10),
///     CosineAnnealingLr::new(1e-2, 90, 0.0),
/// ) {
///     (Ok(warmup), Ok(decay)) => SequentialLr::new(warmup, decay, 10),
///     _ => panic!("invalid schedule"),
/// };
/// assert!((SCHEDULE.lr_at(0) - 1e-3).abs() < 1e-15);
/// assert_eq!(SCHEDULE.lr_at(10), 1e-2);
/// assert!(SCHEDULE.lr_at(100) < 1e-15);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SequentialLr<A, B> {
    first: A,
    second: B,
    milestone: u32,
}

impl<A, B> SequentialLr<A, B> {
    /// `first` for counts `0..milestone`, then `second` from its own count 0.
    pub const fn new(first: A, second: B, milestone: u32) -> Self {
        SequentialLr {
            first,
            second,
            milestone,
        }
    }

    /// The schedule before the milestone.
    pub const fn first(&self) -> &A {
        &self.first
    }
    /// The schedule from the milestone on.
    pub const fn second(&self) -> &B {
        &self.second
    }
    /// The count at which `second` takes over.
    pub const fn milestone(&self) -> u32 {
        self.milestone
    }
}

impl<A: LrSchedule, B: LrSchedule> LrSchedule for SequentialLr<A, B> {
    /// The first schedule's (torch builds both from the optimizer's initial rate).
    fn base_lr(&self) -> f64 {
        self.first.base_lr()
    }
    fn lr_for(&self, base_lr: f64, t: u32) -> f64 {
        match t.checked_sub(self.milestone) {
            Some(after) => self.second.lr_for(base_lr, after),
            None => self.first.lr_for(base_lr, t),
        }
    }
    fn lr_at(&self, t: u32) -> f64 {
        // Each part at its own base rate (they may differ, as the type allows).
        match t.checked_sub(self.milestone) {
            Some(after) => self.second.lr_at(after),
            None => self.first.lr_at(t),
        }
    }
}

/// `base_lr` finite and `>= 0`, like every optimizer's `lr`.
const fn base_lr_ok(base_lr: f64) -> Result<(), TrainError> {
    check::non_negative("base_lr", base_lr)
}

/// A schedule and its count: torch's scheduler object, `last_epoch` included.
///
/// Size: the schedule's plus a `u32`, padded to the schedule's alignment (for example 32 bytes
/// for `Scheduler<StepLr>`, 24 for `Scheduler<ExponentialLr>`).
///
/// ```
/// use edgetune::optim::{Optimizer, Sgd, SgdConfig};
/// use edgetune::train::{Scheduler, StepLr};
/// let mut opt = Sgd::<f32, 2>::new(SgdConfig::new(0.1)).unwrap();
/// let mut sched = Scheduler::new(StepLr::new(0.1, 2, 0.5).unwrap());
/// sched.apply(&mut opt).unwrap(); // as torch's constructor does: lr = lr_at(0)
/// let mut params = [1.0f32, 2.0];
/// for _epoch in 0..4 {
///     opt.step(&mut params, &[0.1, 0.1]).unwrap(); // ... train one epoch ...
///     sched.step_apply(&mut opt).unwrap(); // scheduler.step()
/// }
/// assert_eq!(sched.epoch(), 4);
/// assert_eq!(opt.config().lr, 0.025);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scheduler<L> {
    schedule: L,
    epoch: u32,
}

impl<L: LrSchedule> Scheduler<L> {
    /// The schedule at count 0.
    pub const fn new(schedule: L) -> Self {
        Scheduler { schedule, epoch: 0 }
    }

    /// The schedule at count `epoch` (to resume from a checkpoint).
    pub const fn at(schedule: L, epoch: u32) -> Self {
        Scheduler { schedule, epoch }
    }

    /// The schedule.
    pub const fn schedule(&self) -> &L {
        &self.schedule
    }

    /// The current count, torch's `last_epoch`.
    pub const fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The rate at the current count, torch's `get_last_lr()`.
    pub fn lr(&self) -> f64 {
        self.schedule.lr_at(self.epoch)
    }

    /// Advances the count by one and returns the new rate: torch's `scheduler.step()`.
    ///
    /// # Errors
    /// [`TrainError::CounterOverflow`] if the count is already `u32::MAX`; nothing changes.
    pub fn step(&mut self) -> Result<f64, TrainError> {
        let next = self
            .epoch
            .checked_add(1)
            .ok_or(TrainError::CounterOverflow)?;
        self.epoch = next;
        Ok(self.schedule.lr_at(next))
    }

    /// Sets `opt`'s learning rate to the current rate ([`lr`](Scheduler::lr)) and returns it.
    ///
    /// With a [`DivergenceGuard`](super::DivergenceGuard), use
    /// [`apply_scaled`](Scheduler::apply_scaled) instead, or the guard's reductions are undone.
    ///
    /// # Errors
    /// The optimizer's [`InvalidHyperparameter`](crate::Error::InvalidHyperparameter) if it
    /// refuses the rate (for example an infinite rate from a `gamma > 1` schedule); the optimizer
    /// is then unchanged.
    pub fn apply<S: Num, const N: usize, O: Optimizer<S, N>>(
        &self,
        opt: &mut O,
    ) -> Result<f64, crate::Error> {
        self.apply_scaled(opt, 1.0)
    }

    /// Sets `opt`'s learning rate to the current rate times `scale` and returns it. Pass
    /// [`DivergenceGuard::lr_scale`](super::DivergenceGuard::lr_scale) so that the rate the
    /// guard lowered stays lowered.
    ///
    /// # Errors
    /// As [`apply`](Scheduler::apply) (a negative or non-finite `scale` gives a rate the
    /// optimizer refuses); the optimizer is then unchanged.
    pub fn apply_scaled<S: Num, const N: usize, O: Optimizer<S, N>>(
        &self,
        opt: &mut O,
        scale: f64,
    ) -> Result<f64, crate::Error> {
        let lr = self.lr() * scale;
        opt.set_lr(lr)?;
        Ok(lr)
    }

    /// [`step`](Scheduler::step), then sets `opt`'s learning rate to the new rate, which it
    /// returns: the usual `scheduler.step()` with the optimizer attached.
    ///
    /// With a [`DivergenceGuard`](super::DivergenceGuard), use
    /// [`step_apply_scaled`](Scheduler::step_apply_scaled) instead, or the guard's reductions are
    /// undone at the next schedule step.
    ///
    /// # Errors
    /// [`TrainError::CounterOverflow`] (as [`crate::Error::Train`]) or the optimizer's
    /// [`InvalidHyperparameter`](crate::Error::InvalidHyperparameter); on either, neither the
    /// count nor the optimizer changes.
    pub fn step_apply<S: Num, const N: usize, O: Optimizer<S, N>>(
        &mut self,
        opt: &mut O,
    ) -> Result<f64, crate::Error> {
        self.step_apply_scaled(opt, 1.0)
    }

    /// [`step`](Scheduler::step), then sets `opt`'s learning rate to the new rate times `scale`
    /// (the guard's [`lr_scale`](super::DivergenceGuard::lr_scale)) and returns it.
    ///
    /// # Errors
    /// As [`step_apply`](Scheduler::step_apply); neither the count nor the optimizer changes.
    pub fn step_apply_scaled<S: Num, const N: usize, O: Optimizer<S, N>>(
        &mut self,
        opt: &mut O,
        scale: f64,
    ) -> Result<f64, crate::Error> {
        let next = self.next()?;
        let lr = self.schedule.lr_at(next) * scale;
        opt.set_lr(lr)?;
        self.epoch = next;
        Ok(lr)
    }

    /// Sets every group's rate to the schedule's closed form at the current count for that
    /// group's base rate, times `scale`: `groups[g].config.lr = lr_for(base_lrs[g], epoch) ·
    /// scale`, as torch's schedulers set each param group's `lr` from its `initial_lr`. Take
    /// `base_lrs` from the groups once, with [`base_lrs`], before the first call.
    ///
    /// # Errors
    /// Nothing changes on any error: [`LengthMismatch`](crate::Error::LengthMismatch) if
    /// `base_lrs` does not have one rate per group; the group's
    /// [`InvalidHyperparameter`](crate::Error::InvalidHyperparameter) if its configuration with
    /// the new rate does not validate.
    pub fn apply_groups<C: Hyperparameters>(
        &self,
        groups: &mut [ParamGroup<C>],
        base_lrs: &[f64],
        scale: f64,
    ) -> Result<(), crate::Error> {
        set_group_lrs(&self.schedule, self.epoch, groups, base_lrs, scale)
    }

    /// [`step`](Scheduler::step), then [`apply_groups`](Scheduler::apply_groups) at the new
    /// count.
    ///
    /// # Errors
    /// [`TrainError::CounterOverflow`] (as [`crate::Error::Train`]) or those of
    /// [`apply_groups`](Scheduler::apply_groups); on any, neither the count nor a group changes.
    pub fn step_apply_groups<C: Hyperparameters>(
        &mut self,
        groups: &mut [ParamGroup<C>],
        base_lrs: &[f64],
        scale: f64,
    ) -> Result<(), crate::Error> {
        let next = self.next()?;
        set_group_lrs(&self.schedule, next, groups, base_lrs, scale)?;
        self.epoch = next;
        Ok(())
    }

    /// The rate at the current count for a parameter group whose base rate is `base_lr`
    /// (torch's per-group `initial_lr`).
    pub fn lr_for_group(&self, base_lr: f64) -> f64 {
        self.schedule.lr_for(base_lr, self.epoch)
    }

    /// The count after this one.
    fn next(&self) -> Result<u32, TrainError> {
        self.epoch.checked_add(1).ok_or(TrainError::CounterOverflow)
    }
}

/// Validates every group's new configuration first, then writes them all: all or nothing.
fn set_group_lrs<L: LrSchedule, C: Hyperparameters>(
    schedule: &L,
    t: u32,
    groups: &mut [ParamGroup<C>],
    base_lrs: &[f64],
    scale: f64,
) -> Result<(), crate::Error> {
    if base_lrs.len() != groups.len() {
        return Err(crate::Error::LengthMismatch {
            expected: groups.len(),
            found: base_lrs.len(),
        });
    }
    for (g, &base) in groups.iter().zip(base_lrs) {
        g.config
            .with_lr(schedule.lr_for(base, t) * scale)
            .validate()?;
    }
    for (g, &base) in groups.iter_mut().zip(base_lrs) {
        g.config = g.config.with_lr(schedule.lr_for(base, t) * scale);
    }
    Ok(())
}
