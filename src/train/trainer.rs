//! [`Trainer`]: one call per mini-batch (zero the gradients, accumulate every sample, take the
//! mean, clip, step, advance the schedule), and [`evaluate`] through `&self`; from slices of
//! samples or, one sample at a time, from a closure.
//!
//! # What a failed batch leaves
//! [`step_batch`](Trainer::step_batch), [`step_batch_groups`](Trainer::step_batch_groups) and
//! [`step_buffer`](Trainer::step_buffer) check every sample first ([`Network::check_sample`]:
//! input length and values, label range or target length and values), then the schedule's next learning rate is computed on a
//! copy and validated against the optimizer's configuration, and only then is anything written.
//! The gradient arena is the only thing written before the optimizer's own checks; if a gradient
//! then comes out NaN or infinite (an overflow inside the network), clipping or the optimizer
//! refuses it: **parameters, optimizer state and schedule are exactly as they were**, and the
//! gradient arena holds the batch's (unusable) mean gradient, to be zeroed by the next batch.
//!
//! [`Trainer::step_with`] (and [`evaluate_with`]) take the samples from a closure that writes one
//! input at a time, for data stored in another form: only one input is in RAM. Its samples are
//! read once, so each is checked as it is accumulated, after the clipping value and the learning
//! rate were validated; a bad one leaves a partial sum in the gradient arena, and again
//! parameters, optimizer state and schedule exactly as they were.
//!
//! ```
//! use edgetune::nn::{Init, Network};
//! use edgetune::optim::{Adam, AdamConfig};
//! use edgetune::train::{evaluate, Trainer};
//! edgetune::mlp! {
//!     struct Xor {
//!         dense 2 -> 8, tanh;
//!         dense 8 -> 2;
//!         loss softmax_cross_entropy;
//!     }
//! }
//! let data = [([0.0f32, 0.0], 0usize), ([0.0, 1.0], 1), ([1.0, 0.0], 1), ([1.0, 1.0], 0)];
//! let mut net = Xor::<f32>::zeroed();
//! net.init(Init::TorchDefault, 1).unwrap();
//! let mut trainer = Trainer::new(Adam::<f32, { Xor::<f32>::TRAINABLE }>::new(AdamConfig::adam(0.05)).unwrap())
//!     .clip_norm(5.0);
//! for _ in 0..300 {
//!     trainer.step_batch(&mut net, &data).unwrap();
//! }
//! let e = evaluate(&net, &data).unwrap();
//! assert_eq!((e.count, e.accuracy), (4, Some(1.0)));
//! ```

use core::borrow::Borrow;

use super::TrainError;
use super::{
    clip_grad_norm, clip_grad_value, GradAccumulator, LrSchedule, SampleBuffer, Scheduler,
};
use crate::nn::{Network, Scalar};
use crate::optim::{Hyperparameters, Optimizer, ParamGroup};
use crate::Error;

/// What the trainer does to the mean gradient before the step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Clip {
    /// Nothing.
    None,
    /// torch's `clip_grad_norm_(max_norm)` (with `error_if_nonfinite=True`).
    Norm(f64),
    /// torch's `clip_grad_value_(clip_value)`.
    Value(f64),
}

/// A learning-rate schedule advanced once per mini-batch by a [`Trainer`].
pub trait BatchSchedule: Clone {
    /// Advances by one step and returns the new learning rate (`None`: leave it alone).
    fn advance(&mut self) -> Result<Option<f64>, Error>;

    /// The rate at the current count for a parameter group whose base rate is `base_lr`
    /// (`None`: leave the group's rate alone).
    fn group_lr(&self, base_lr: f64) -> Option<f64>;
}

/// No schedule: the optimizer's learning rate stays as configured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoSchedule;

impl BatchSchedule for NoSchedule {
    fn advance(&mut self) -> Result<Option<f64>, Error> {
        Ok(None)
    }

    fn group_lr(&self, _base_lr: f64) -> Option<f64> {
        None
    }
}

impl<L: LrSchedule + Clone> BatchSchedule for Scheduler<L> {
    fn advance(&mut self) -> Result<Option<f64>, Error> {
        Ok(Some(self.step()?))
    }

    fn group_lr(&self, base_lr: f64) -> Option<f64> {
        Some(self.lr_for_group(base_lr))
    }
}

/// An optimizer with what a mini-batch step does around it: clipping and a schedule. Its size
/// is the optimizer's plus the schedule's plus 16 bytes ([`Clip`]).
#[derive(Clone, Debug)]
pub struct Trainer<O, Sch = NoSchedule> {
    opt: O,
    schedule: Sch,
    clip: Clip,
}

/// The result of [`evaluate`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// The mean of the samples' losses (in `f64`).
    pub mean_loss: f64,
    /// The fraction of samples whose largest output is the target class (`None` for a
    /// regressor).
    pub accuracy: Option<f64>,
    /// The number of samples.
    pub count: usize,
}

impl<O> Trainer<O, NoSchedule> {
    /// A trainer around `opt`: no clipping, no schedule.
    pub const fn new(opt: O) -> Self {
        Trainer {
            opt,
            schedule: NoSchedule,
            clip: Clip::None,
        }
    }
}

impl<O, Sch> Trainer<O, Sch> {
    /// Clips the mean gradient's 2-norm to `max_norm` before each step (checked at each step).
    pub fn clip_norm(mut self, max_norm: f64) -> Self {
        self.clip = Clip::Norm(max_norm);
        self
    }

    /// Clips every mean gradient element to `[−clip_value, clip_value]` before each step.
    pub fn clip_value(mut self, clip_value: f64) -> Self {
        self.clip = Clip::Value(clip_value);
        self
    }

    /// Advances `schedule` after each step and sets the optimizer's learning rate from it. The
    /// optimizer's learning rate is not changed now: call the schedule's `apply` first for
    /// torch's behaviour (the constructor sets the initial rate).
    pub fn schedule<Sch2: BatchSchedule>(self, schedule: Sch2) -> Trainer<O, Sch2> {
        Trainer {
            opt: self.opt,
            schedule,
            clip: self.clip,
        }
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &O {
        &self.opt
    }

    /// The optimizer, mutably (for example to save it in a checkpoint).
    pub fn optimizer_mut(&mut self) -> &mut O {
        &mut self.opt
    }

    /// The schedule.
    pub fn schedule_ref(&self) -> &Sch {
        &self.schedule
    }

    /// The clipping applied before each step.
    pub fn clip(&self) -> Clip {
        self.clip
    }

    /// The optimizer and the schedule back.
    pub fn into_parts(self) -> (O, Sch) {
        (self.opt, self.schedule)
    }

    /// One mini-batch over `samples` (inputs and targets): mean loss in `f64`. `N` is the
    /// optimizer's size and must equal `Net::TRAINABLE` ([`Error::LengthMismatch`] otherwise).
    ///
    /// # Errors
    /// An empty batch ([`TrainError::NothingAccumulated`]), a bad sample
    /// ([`Error::InvalidInput`], [`Error::InvalidTarget`], a label out of range, a wrong length),
    /// an invalid clipping value or scheduled learning rate, a non-finite gradient. Parameters,
    /// optimizer state and schedule are then unchanged (see [`crate::train::trainer`]).
    pub fn step_batch<S, const N: usize, Net, X, T>(
        &mut self,
        net: &mut Net,
        samples: &[(X, T)],
    ) -> Result<f64, Error>
    where
        S: Scalar,
        O: Optimizer<S, N>,
        Sch: BatchSchedule,
        Net: Network<S> + ?Sized,
        X: AsRef<[S]>,
        T: Borrow<Net::Target>,
    {
        self.run(net, samples.iter(), None)
    }

    /// [`step_batch`](Trainer::step_batch) with parameter groups (ranges of the trainable arena,
    /// for example from [`Network::layer_ranges`], each with its configuration). The step uses
    /// each group's configuration as it is; with a schedule, each group's rate then moves to the
    /// schedule's rate for that group's own base rate (`base_lrs[i]`, torch's per-group
    /// `initial_lr`: record it once with [`base_lrs`](crate::train::base_lrs)), as torch's
    /// `scheduler.step()` does for every param group.
    ///
    /// # Errors
    /// Those of [`step_batch`](Trainer::step_batch), and, with a schedule,
    /// [`Error::LengthMismatch`] unless `base_lrs` has one rate per group, or a group's
    /// [`Error::InvalidHyperparameter`] if its next rate does not validate; all checked before
    /// anything is written.
    pub fn step_batch_groups<S, const N: usize, Net, X, T>(
        &mut self,
        net: &mut Net,
        samples: &[(X, T)],
        groups: &mut [ParamGroup<O::Config>],
        base_lrs: &[f64],
    ) -> Result<f64, Error>
    where
        S: Scalar,
        O: Optimizer<S, N>,
        Sch: BatchSchedule,
        Net: Network<S> + ?Sized,
        X: AsRef<[S]>,
        T: Borrow<Net::Target>,
    {
        self.run(net, samples.iter(), Some((groups, base_lrs)))
    }

    /// [`step_batch`](Trainer::step_batch) over a batch drawn from `buffer`: `indices.len()`
    /// distinct samples ([`SampleBuffer::draw_batch`]; its error, with nothing changed, if the
    /// buffer holds fewer).
    pub fn step_buffer<S, const N: usize, const CAP: usize, Net, X, T>(
        &mut self,
        net: &mut Net,
        buffer: &mut SampleBuffer<(X, T), CAP>,
        indices: &mut [usize],
    ) -> Result<f64, Error>
    where
        S: Scalar,
        O: Optimizer<S, N>,
        Sch: BatchSchedule,
        Net: Network<S> + ?Sized,
        X: AsRef<[S]> + Copy,
        T: Borrow<Net::Target> + Copy,
    {
        buffer.draw_batch(indices)?;
        let buffer = &*buffer;
        self.run(net, indices.iter().filter_map(|&i| buffer.get(i)), None)
    }

    /// One mini-batch of `count` samples that `source` writes one at a time: for `i` in
    /// `0..count`, in order, `source(i, x)` writes sample `i`'s input into `x` (`I` elements,
    /// `I` = `Net::INPUTS`, else [`Error::LengthMismatch`]) and returns its target. For samples
    /// stored in another form (8-bit pixels, features to compute): only one input is in RAM at
    /// a time, on the stack, instead of a whole batch. `x` is one buffer for the whole batch,
    /// zeroed before the first call: write every element.
    ///
    /// With the same samples the result is bit for bit that of
    /// [`step_batch`](Trainer::step_batch) (same accumulation order, mean, clipping, step and
    /// schedule).
    ///
    /// # Errors
    /// As [`step_batch`](Trainer::step_batch) (`count` = 0 is
    /// [`TrainError::NothingAccumulated`]), and `source`'s own error. Unlike `step_batch`,
    /// which checks every sample before it writes anything, `source` is called **once** per
    /// sample and each sample is checked as it is accumulated: a bad sample (or an error of
    /// `source`) at index `i` stops the batch with the gradient arena holding the sum of samples
    /// `0..i`. Parameters, optimizer state and schedule are unchanged, as for `step_batch`.
    /// Clipping and the scheduled learning rate are validated before `source` is first called.
    pub fn step_with<S, const N: usize, const I: usize, Net, T, F>(
        &mut self,
        net: &mut Net,
        count: usize,
        mut source: F,
    ) -> Result<f64, Error>
    where
        S: Scalar,
        O: Optimizer<S, N>,
        Sch: BatchSchedule,
        Net: Network<S> + ?Sized,
        T: Borrow<Net::Target>,
        F: FnMut(usize, &mut [S; I]) -> Result<T, Error>,
    {
        check_trainable::<S, N, Net>()?;
        if I != Net::INPUTS {
            return Err(Error::LengthMismatch {
                expected: Net::INPUTS,
                found: I,
            });
        }
        let count32 = u32::try_from(count).map_err(|_| TrainError::CounterOverflow)?;
        let (next, lr) = self.prepare(count32, None)?;
        net.zero_grad();
        let mut x = [S::ZERO; I];
        let mut loss_sum = 0.0f64;
        for i in 0..count {
            let t = source(i, &mut x)?;
            loss_sum += net.accumulate(&x, t.borrow())?.to_f64();
        }
        self.finish(net, count32, None, lr, next)?;
        Ok(loss_sum / f64::from(count32))
    }

    fn run<'a, S, const N: usize, Net, X, T>(
        &mut self,
        net: &mut Net,
        samples: impl Iterator<Item = &'a (X, T)> + Clone,
        groups: GroupsMut<'_, O::Config>,
    ) -> Result<f64, Error>
    where
        S: Scalar,
        O: Optimizer<S, N>,
        Sch: BatchSchedule,
        Net: Network<S> + ?Sized,
        X: AsRef<[S]> + 'a,
        T: Borrow<Net::Target> + 'a,
    {
        check_trainable::<S, N, Net>()?;
        // 1. Read-only checks: every sample, the batch size, clipping, the next learning rate.
        let mut count = 0u32;
        for (x, t) in samples.clone() {
            Net::check_sample(x.as_ref(), t.borrow())?;
            count = count.checked_add(1).ok_or(TrainError::CounterOverflow)?;
        }
        let (next, lr) = self.prepare(count, groups.as_ref().map(|(g, b)| (&**g, *b)))?;
        // 2. Gradients: zero, sum (then mean and clip in `finish`).
        net.zero_grad();
        let mut loss_sum = 0.0f64;
        for (x, t) in samples {
            // Checked above: each value is read once.
            loss_sum += net.accumulate_checked(x.as_ref(), t.borrow())?.to_f64();
        }
        self.finish(net, count, groups, lr, next)?;
        Ok(loss_sum / f64::from(count))
    }

    /// The read-only checks after the samples': a non-empty batch, the clipping value, the
    /// schedule's next learning rate (advanced on a copy, validated against the optimizer's
    /// configuration). Returns the advanced schedule and the rate.
    fn prepare<S, const N: usize>(
        &self,
        count: u32,
        groups: Groups<'_, O::Config>,
    ) -> Result<(Sch, Option<f64>), Error>
    where
        S: Scalar,
        O: Optimizer<S, N>,
        Sch: BatchSchedule,
    {
        if count == 0 {
            return Err(TrainError::NothingAccumulated.into());
        }
        match self.clip {
            Clip::Norm(v) | Clip::Value(v) if !(v.is_finite() && v >= 0.0) => {
                return Err(TrainError::InvalidHyperparameter {
                    name: if matches!(self.clip, Clip::Norm(_)) {
                        "max_norm"
                    } else {
                        "clip_value"
                    },
                    requirement: "finite and >= 0",
                }
                .into());
            }
            _ => {}
        }
        let mut next = self.schedule.clone();
        let lr = next.advance()?;
        if let Some(lr) = lr {
            self.opt.config().with_lr(lr).validate()?;
            if let Some((groups, base_lrs)) = groups {
                if base_lrs.len() != groups.len() {
                    return Err(Error::LengthMismatch {
                        expected: groups.len(),
                        found: base_lrs.len(),
                    });
                }
                for (g, &base) in groups.iter().zip(base_lrs) {
                    if let Some(lr) = next.group_lr(base) {
                        g.config.with_lr(lr).validate()?;
                    }
                }
            }
        }
        Ok((next, lr))
    }

    /// The summed gradients of `count` samples to the step: mean, clip, the step (which checks
    /// every gradient before writing), then the schedule.
    fn finish<S, const N: usize, Net>(
        &mut self,
        net: &mut Net,
        count: u32,
        groups: GroupsMut<'_, O::Config>,
        lr: Option<f64>,
        next: Sch,
    ) -> Result<(), Error>
    where
        S: Scalar,
        O: Optimizer<S, N>,
        Sch: BatchSchedule,
        Net: Network<S> + ?Sized,
    {
        let mut acc = GradAccumulator::new();
        acc.add_samples(count)?;
        acc.finish(net.grads_mut())?;
        match self.clip {
            Clip::None => {}
            Clip::Norm(max) => {
                clip_grad_norm(net.grads_mut(), max)?;
            }
            Clip::Value(v) => {
                clip_grad_value(net.grads_mut(), v)?;
            }
        }
        let (params, grads) = net.trainable_and_grads();
        match &groups {
            None => self.opt.step_slices(params, grads)?,
            Some((groups, _)) => {
                let found = params.len();
                let mismatch = Error::LengthMismatch { expected: N, found };
                let params: &mut [S; N] = params.try_into().map_err(|_| mismatch)?;
                let grads: &[S; N] = grads.try_into().map_err(|_| mismatch)?;
                self.opt.step_groups(params, grads, groups)?;
            }
        }
        if let Some(lr) = lr {
            // Validated in `prepare` with the same configurations: cannot fail.
            self.opt.set_lr(lr)?;
            if let Some((groups, base_lrs)) = groups {
                for (g, &base) in groups.iter_mut().zip(base_lrs) {
                    if let Some(lr) = next.group_lr(base) {
                        g.config = g.config.with_lr(lr);
                    }
                }
            }
        }
        self.schedule = next;
        Ok(())
    }
}

/// Parameter groups and their base rates, as `step_batch_groups` hands them on.
type GroupsMut<'g, C> = Option<(&'g mut [ParamGroup<C>], &'g [f64])>;
/// The same, read only (the checks before anything is written).
type Groups<'g, C> = Option<(&'g [ParamGroup<C>], &'g [f64])>;

/// [`Error::LengthMismatch`] unless the optimizer's size `N` is the network's trainable arena.
fn check_trainable<S: Scalar, const N: usize, Net: Network<S> + ?Sized>() -> Result<(), Error> {
    if N != Net::TRAINABLE {
        return Err(Error::LengthMismatch {
            expected: Net::TRAINABLE,
            found: N,
        });
    }
    Ok(())
}

/// The mean loss and (for a classifier) the accuracy of `net` over `samples`, through `&self`.
///
/// # Errors
/// An empty slice ([`TrainError::NothingAccumulated`]) or the first bad sample (as
/// [`Trainer::step_batch`]).
pub fn evaluate<S, Net, X, T>(net: &Net, samples: &[(X, T)]) -> Result<Evaluation, Error>
where
    S: Scalar,
    Net: Network<S> + ?Sized,
    X: AsRef<[S]>,
    T: Borrow<Net::Target>,
{
    if samples.is_empty() {
        return Err(TrainError::NothingAccumulated.into());
    }
    let mut loss_sum = 0.0f64;
    let mut hits = 0usize;
    let mut classified = false;
    for (x, t) in samples {
        let (loss, hit) = net.evaluate_sample(x.as_ref(), t.borrow())?;
        loss_sum += loss.to_f64();
        if let Some(h) = hit {
            classified = true;
            hits += usize::from(h);
        }
    }
    let count = samples.len();
    Ok(Evaluation {
        mean_loss: loss_sum / count as f64,
        accuracy: classified.then(|| hits as f64 / count as f64),
        count,
    })
}

/// [`evaluate`] over `count` samples that `source` writes one at a time, as
/// [`Trainer::step_with`] takes them: for `i` in `0..count`, in order, `source(i, x)` writes
/// sample `i`'s input into `x` (`I` = `Net::INPUTS` elements, else [`Error::LengthMismatch`])
/// and returns its target. Same result as `evaluate` over the same samples.
///
/// # Errors
/// `count` = 0 ([`TrainError::NothingAccumulated`]), the first bad sample (as [`evaluate`]) or
/// `source`'s own error.
pub fn evaluate_with<S, const I: usize, Net, T, F>(
    net: &Net,
    count: usize,
    mut source: F,
) -> Result<Evaluation, Error>
where
    S: Scalar,
    Net: Network<S> + ?Sized,
    T: Borrow<Net::Target>,
    F: FnMut(usize, &mut [S; I]) -> Result<T, Error>,
{
    if I != Net::INPUTS {
        return Err(Error::LengthMismatch {
            expected: Net::INPUTS,
            found: I,
        });
    }
    if count == 0 {
        return Err(TrainError::NothingAccumulated.into());
    }
    let mut x = [S::ZERO; I];
    let mut loss_sum = 0.0f64;
    let mut hits = 0usize;
    let mut classified = false;
    for i in 0..count {
        let t = source(i, &mut x)?;
        let (loss, hit) = net.evaluate_sample(&x, t.borrow())?;
        loss_sum += loss.to_f64();
        if let Some(h) = hit {
            classified = true;
            hits += usize::from(h);
        }
    }
    Ok(Evaluation {
        mean_loss: loss_sum / count as f64,
        accuracy: classified.then(|| hits as f64 / count as f64),
        count,
    })
}
