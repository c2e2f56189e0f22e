//! [`DivergenceGuard`]: watch the loss, and on divergence roll back to the last good state and
//! lower the learning rate.
//!
//! A run diverges when a batch is poisoned (flipped labels, a sensor glitch giving huge inputs),
//! when the learning rate is too high for the data, or when a fixed-point run saturates. The guard
//! sees it in the loss: NaN, infinite, or more than `rise_factor` times the mean of the last `W`
//! healthy losses (and above `floor`). It then copies back an in-RAM snapshot of the parameters
//! and the optimizer (both `Copy`), taken every `snapshot_every` healthy observations, and
//! multiplies the learning rate by `lr_factor` (through
//! [`Optimizer::set_lr`]). Every event is counted in
//! [`GuardStats`].
//!
//! With a learning-rate schedule, set the rate through
//! [`Scheduler::step_apply_scaled`](super::Scheduler::step_apply_scaled)`(opt, guard.lr_scale())`
//! (or [`apply_groups`](super::Scheduler::apply_groups) with the same scale): the schedule's rate
//! times the product of the guard's reductions. A plain `step_apply` would set the schedule's rate
//! and undo the reductions at the next schedule step.
//!
//! To roll back from a flash checkpoint instead (no RAM for a snapshot), use
//! [`check`](DivergenceGuard::check) to detect, [`Store::restore`](crate::checkpoint::Store::restore)
//! to roll back, and [`lower_lr`](DivergenceGuard::lower_lr).
//!
//! ```
//! use edgetune::optim::{Optimizer, Sgd, SgdConfig};
//! use edgetune::train::{DivergenceGuard, GuardConfig, Verdict};
//!
//! let mut w = [0.0f32];
//! let mut opt = Sgd::<f32, 1>::new(SgdConfig::new(0.1)).unwrap();
//! let mut guard = DivergenceGuard::<f32, 1, _, 4>::new(GuardConfig::new()).unwrap();
//! for i in 0..200 {
//!     // y = 3x, with a glitched label on one sample.
//!     let x = 1.0 + (i % 3) as f32;
//!     let y = if i == 100 { 1.0e4 } else { 3.0 * x };
//!     let err = w[0] * x - y;
//!     let loss = f64::from(err * err);
//!     if guard.observe(loss, &mut w, &mut opt).unwrap() != Verdict::Healthy {
//!         continue; // rolled back: do not step with this batch's gradient
//!     }
//!     opt.step(&mut w, &[2.0 * err * x]).unwrap();
//! }
//! assert!((w[0] - 3.0).abs() < 1e-3);
//! assert_eq!(guard.stats().rollbacks, 1);
//! assert_eq!(opt.config().lr, 0.05);
//! ```

use super::TrainError;
use crate::num::Num;
use crate::optim::{Hyperparameters, Optimizer};

/// When the guard calls a loss divergent and what it does then.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GuardConfig {
    /// A finite loss above `rise_factor` × the mean of the last `W` healthy losses is a
    /// divergence (`> 1`). Only counted once `W` healthy losses have been seen.
    pub rise_factor: f64,
    /// Losses at or below this are never a rise (`>= 0`): near zero, relative rises are noise.
    pub floor: f64,
    /// The learning rate is multiplied by this on every rollback (`(0, 1]`).
    pub lr_factor: f64,
    /// Healthy observations between snapshots (`>= 1`); the first healthy one is always taken.
    pub snapshot_every: u32,
}

impl GuardConfig {
    /// Defaults: `rise_factor` 4, `floor` 0, `lr_factor` 0.5, `snapshot_every` 10.
    pub const fn new() -> Self {
        GuardConfig {
            rise_factor: 4.0,
            floor: 0.0,
            lr_factor: 0.5,
            snapshot_every: 10,
        }
    }

    /// Checks every field (`const`).
    pub const fn validate(&self) -> Result<(), TrainError> {
        if !(self.rise_factor.is_finite() && self.rise_factor > 1.0) {
            return bad("rise_factor", "finite and > 1");
        }
        if !(self.floor.is_finite() && self.floor >= 0.0) {
            return bad("floor", "finite and >= 0");
        }
        if !(self.lr_factor > 0.0 && self.lr_factor <= 1.0) {
            return bad("lr_factor", "in (0, 1]");
        }
        if self.snapshot_every == 0 {
            return bad("snapshot_every", ">= 1");
        }
        Ok(())
    }
}

const fn bad(name: &'static str, requirement: &'static str) -> Result<(), TrainError> {
    Err(TrainError::InvalidHyperparameter { name, requirement })
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a loss was called divergent.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Divergence {
    /// The loss is NaN.
    NotANumber,
    /// The loss is infinite.
    Infinite,
    /// The loss rose beyond `rise_factor` × the recent mean.
    Rise {
        /// The loss.
        loss: f64,
        /// The mean of the window it was compared with.
        mean: f64,
    },
}

/// What [`DivergenceGuard::observe`] found and did.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// The loss is healthy: go on and step.
    Healthy,
    /// Divergence: parameters and optimizer were restored from the snapshot and the learning
    /// rate lowered. Do not step with this batch's gradients.
    RolledBack(Divergence),
    /// Divergence before any snapshot existed: only the learning rate was lowered.
    Diverged(Divergence),
}

/// Event counters (each saturates at `u32::MAX`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GuardStats {
    /// Losses observed.
    pub observed: u32,
    /// NaN losses.
    pub nan: u32,
    /// Infinite losses.
    pub infinite: u32,
    /// Rises beyond the factor.
    pub rises: u32,
    /// Rollbacks to the snapshot.
    pub rollbacks: u32,
    /// Learning-rate reductions.
    pub lr_reductions: u32,
    /// Snapshots taken.
    pub snapshots: u32,
}

/// Watches the loss of a run over `[S; N]` with optimizer `O`, keeping the last `W` healthy
/// losses and a snapshot of the parameters and optimizer.
///
/// Memory: the snapshot `N·size_of::<S>() + size_of::<O>()` plus `8·W` bytes of window, the
/// configuration (32 bytes), the counters (28) and a few words; the whole guard can be a
/// `static` (`new` is `const`).
#[derive(Clone, Copy, Debug)]
pub struct DivergenceGuard<S, const N: usize, O, const W: usize> {
    config: GuardConfig,
    window: [f64; W],
    len: usize,
    next: usize,
    since_snapshot: u32,
    lr_scale: f64,
    snapshot: Option<([S; N], O)>,
    stats: GuardStats,
}

impl<S: Num, const N: usize, O: Optimizer<S, N> + Copy, const W: usize>
    DivergenceGuard<S, N, O, W>
{
    /// A guard with no history and no snapshot.
    ///
    /// # Errors
    /// [`TrainError::InvalidHyperparameter`] for an invalid configuration, or `W == 0`
    /// (`window`).
    pub const fn new(config: GuardConfig) -> Result<Self, TrainError> {
        if let Err(e) = config.validate() {
            return Err(e);
        }
        if W == 0 {
            return Err(TrainError::InvalidHyperparameter {
                name: "window",
                requirement: ">= 1",
            });
        }
        Ok(DivergenceGuard {
            config,
            window: [0.0; W],
            len: 0,
            next: 0,
            since_snapshot: 0,
            lr_scale: 1.0,
            snapshot: None,
            stats: GuardStats {
                observed: 0,
                nan: 0,
                infinite: 0,
                rises: 0,
                rollbacks: 0,
                lr_reductions: 0,
                snapshots: 0,
            },
        })
    }

    /// The configuration.
    pub const fn config(&self) -> &GuardConfig {
        &self.config
    }

    /// The counters.
    pub const fn stats(&self) -> &GuardStats {
        &self.stats
    }

    /// The product of all learning-rate reductions so far (`lr_factor` to the number of
    /// reductions): the `scale` to pass to [`Scheduler::step_apply_scaled`](super::Scheduler::step_apply_scaled)
    /// and [`Scheduler::apply_groups`](super::Scheduler::apply_groups), so that a schedule's rate
    /// keeps the guard's reductions.
    pub const fn lr_scale(&self) -> f64 {
        self.lr_scale
    }

    /// Whether a snapshot exists.
    pub const fn has_snapshot(&self) -> bool {
        self.snapshot.is_some()
    }

    /// The mean of the healthy-loss window, once it is full.
    pub fn mean(&self) -> Option<f64> {
        (self.len == W).then(|| self.window.iter().sum::<f64>() / W as f64)
    }

    /// Classifies `loss` without touching any state but the window and counters: a healthy loss
    /// enters the window and returns `None`.
    pub fn check(&mut self, loss: f64) -> Option<Divergence> {
        let s = &mut self.stats;
        s.observed = s.observed.saturating_add(1);
        let verdict = if loss.is_nan() {
            s.nan = s.nan.saturating_add(1);
            Some(Divergence::NotANumber)
        } else if loss.is_infinite() {
            s.infinite = s.infinite.saturating_add(1);
            Some(Divergence::Infinite)
        } else {
            match self.mean() {
                Some(mean) if loss > self.config.floor && loss > self.config.rise_factor * mean => {
                    self.stats.rises = self.stats.rises.saturating_add(1);
                    Some(Divergence::Rise { loss, mean })
                }
                _ => None,
            }
        };
        if verdict.is_none() {
            if let Some(slot) = self.window.get_mut(self.next) {
                *slot = loss;
            }
            self.next = (self.next + 1) % W;
            self.len = (self.len + 1).min(W);
        }
        verdict
    }

    /// Multiplies `opt`'s learning rate (and the snapshot's) by `lr_factor`.
    ///
    /// # Errors
    /// The optimizer's [`InvalidHyperparameter`](crate::Error::InvalidHyperparameter) if it
    /// refuses the rate; nothing changes then.
    pub fn lower_lr(&mut self, opt: &mut O) -> Result<(), crate::Error> {
        let lr = opt.config().lr() * self.config.lr_factor;
        opt.set_lr(lr)?;
        if let Some((_, snap)) = self.snapshot.as_mut() {
            // The snapshot's configuration differs from the live one only in the rate.
            let _ = snap.set_lr(lr);
        }
        self.lr_scale *= self.config.lr_factor;
        self.stats.lr_reductions = self.stats.lr_reductions.saturating_add(1);
        Ok(())
    }

    /// Takes a snapshot of `params` and `opt` now.
    pub fn snapshot(&mut self, params: &[S; N], opt: &O) {
        self.snapshot = Some((*params, *opt));
        self.since_snapshot = 0;
        self.stats.snapshots = self.stats.snapshots.saturating_add(1);
    }

    /// Observes the loss of the current parameters (computed before this batch's step):
    /// a healthy loss may trigger a snapshot and returns [`Verdict::Healthy`]; a divergent one
    /// restores the snapshot into `params` and `opt` (if there is one) and lowers the
    /// learning rate.
    ///
    /// # Errors
    /// The optimizer's [`InvalidHyperparameter`](crate::Error::InvalidHyperparameter) if it
    /// refuses the lowered rate (not for a rate that was valid before: every optimizer accepts
    /// any rate `>= 0`).
    pub fn observe(
        &mut self,
        loss: f64,
        params: &mut [S; N],
        opt: &mut O,
    ) -> Result<Verdict, crate::Error> {
        match self.check(loss) {
            None => {
                if self.snapshot.is_none() || self.since_snapshot + 1 >= self.config.snapshot_every
                {
                    self.snapshot(params, opt);
                } else {
                    self.since_snapshot += 1;
                }
                Ok(Verdict::Healthy)
            }
            Some(d) => {
                let lr = opt.config().lr();
                match self.snapshot {
                    Some((p, o)) => {
                        *params = p;
                        *opt = o;
                        // Keep the live rate (a schedule may have moved it), then lower it.
                        let _ = opt.set_lr(lr);
                        self.lower_lr(opt)?;
                        self.stats.rollbacks = self.stats.rollbacks.saturating_add(1);
                        #[cfg(feature = "defmt")]
                        defmt::warn!(
                            "edgetune guard: {} at loss #{}: rolled back to the snapshot, lr scale {}",
                            d,
                            self.stats.observed,
                            self.lr_scale
                        );
                        Ok(Verdict::RolledBack(d))
                    }
                    None => {
                        self.lower_lr(opt)?;
                        #[cfg(feature = "defmt")]
                        defmt::warn!(
                            "edgetune guard: {} at loss #{} before any snapshot: lr scale {}",
                            d,
                            self.stats.observed,
                            self.lr_scale
                        );
                        Ok(Verdict::Diverged(d))
                    }
                }
            }
        }
    }
}
