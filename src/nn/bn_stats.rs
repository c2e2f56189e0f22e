//! Re-estimating batch-norm running statistics on the device's own data (torch's
//! `BatchNorm2d` in training mode, statistics only).
//!
//! After fine-tuning, or when a sensor's distribution drifts, the running mean and variance of
//! each batch-norm layer can be recomputed from unlabelled samples without any gradient. Each
//! call of [`update`] is one torch "batch": the positions of `x` (every pixel of one sample, or of
//! several samples laid end to end) give the batch mean and the **unbiased** batch variance of
//! each channel, and then, as torch does,
//! - [`Momentum::Exponential`]`(m)`: `running ← running + m·(batch − running)` (torch's
//!   `momentum=m`, default `0.1`);
//! - [`Momentum::Cumulative`]: `running ← running + (batch − running)/k` with `k` the number of
//!   batches tracked so far including this one (torch's `momentum=None`): after `k` calls, the
//!   plain average of the `k` batch statistics.
//!
//! `batches_tracked` (torch's `num_batches_tracked`) is incremented in both cases; zero it and
//! use `Cumulative` to re-estimate from scratch.
//!
//! # Numerics
//! Two passes per channel: the mean is one exact accumulator sum divided once
//! ([`Scalar::narrow_div`], `½ LSB` in fixed point); the variance is `Σ(x − mean)²` (each square
//! exact in the fixed-point accumulator) divided once by `n − 1`. Subtracting the mean before
//! squaring avoids the cancellation of `E[x²] − mean²` in `f32`. In fixed point the accumulator
//! saturates once a channel's `Σ(x − mean)²` passes `2^31` (I16F16) or `2^15` (I8F24) real
//! units (for I8F24, 8,000 positions of deviation 2); split larger batches.
//!
//! No scratch; stack use is two accumulators.

use super::shape::{check_len, check_shape};
use super::Scalar;
use crate::Error;

/// How the running statistics follow the batch statistics (torch's `momentum`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Momentum<S> {
    /// `running ← (1 − m)·running + m·batch` (torch's `momentum=m`).
    Exponential(S),
    /// The cumulative average over all batches tracked (torch's `momentum=None`).
    Cumulative,
}

/// Updates `running_mean` and `running_var` (one per channel, `channels = running_mean.len()`)
/// from the batch `x` (`n ≥ 2` whole positions, channels-last) and increments `batches_tracked`.
///
/// # Errors
/// [`NnError::InvalidShape`](crate::nn::NnError::InvalidShape) for zero channels, fewer than 2
/// or more than `u32::MAX` positions; [`Error::LengthMismatch`] for `running_var`, or `x` not
/// whole positions; [`Error::StepCountOverflow`] if `batches_tracked` is `u32::MAX`. Nothing is
/// written on error.
pub fn update<S: Scalar>(
    x: &[S],
    momentum: Momentum<S>,
    batches_tracked: &mut u32,
    running_mean: &mut [S],
    running_var: &mut [S],
) -> Result<(), Error> {
    let channels = running_mean.len();
    check_shape(channels > 0)?;
    check_len(channels, running_var.len())?;
    if !x.len().is_multiple_of(channels) {
        return Err(Error::LengthMismatch {
            expected: (x.len() / channels + 1).saturating_mul(channels),
            found: x.len(),
        });
    }
    let n = u32::try_from(x.len() / channels).unwrap_or(0);
    check_shape(n >= 2)?;
    let k = batches_tracked
        .checked_add(1)
        .ok_or(Error::StepCountOverflow)?;
    for (c, (rm, rv)) in running_mean
        .iter_mut()
        .zip(running_var.iter_mut())
        .enumerate()
    {
        let mut acc = S::ZERO.widen();
        for &v in x.iter().skip(c).step_by(channels) {
            acc = S::add_acc(acc, v);
        }
        let mean = S::narrow_div(acc, n);
        let mut acc = S::ZERO.widen();
        for &v in x.iter().skip(c).step_by(channels) {
            let d = v.sub(mean);
            acc = S::mul_acc(acc, d, d);
        }
        let var = S::narrow_div(acc, n - 1);
        for (r, stat) in [(rm, mean), (rv, var)] {
            let step = match momentum {
                Momentum::Exponential(m) => m.mul(stat.sub(*r)),
                Momentum::Cumulative => S::narrow_div(stat.sub(*r).widen(), k),
            };
            *r = r.add(step);
        }
    }
    *batches_tracked = k;
    Ok(())
}
