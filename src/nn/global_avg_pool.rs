//! Global average pooling: the mean of each channel over all pixels of a channels-last map
//! (torch's `adaptive_avg_pool2d(x, 1)` flattened; DS-CNN's final 25 × 5 average pooling).
//!
//! `y[c] = Σ_p x[p][c] / pixels`; backward `dx[p][c] = dy[c] / pixels`. Each value is one exact
//! sum in [`Scalar::Acc`] divided once ([`Scalar::narrow_div`]): within `½ LSB` in fixed point.
//! No scratch; backward needs only `dy`.

use super::shape::{check_len, check_shape};
use super::Scalar;
use crate::Error;

/// Checks `pixels`, `channels` (both nonzero, `pixels ≤ u32::MAX`, no overflow) and the lengths.
fn check(pixels: usize, channels: usize, map: usize, vec: usize) -> Result<u32, Error> {
    let n = u32::try_from(pixels).ok().filter(|&n| n > 0);
    let len = pixels.checked_mul(channels).filter(|_| channels > 0);
    check_shape(n.is_some() && len.is_some())?;
    check_len(len.unwrap_or(0), map)?;
    check_len(channels, vec)?;
    Ok(n.unwrap_or(1))
}

/// Forward: `y[c]` (`channels` elements) is the mean of channel `c` of `x`
/// (`pixels·channels` elements, channels-last).
///
/// # Errors
/// [`NnError::InvalidShape`](crate::nn::NnError::InvalidShape) for zero sizes or more than
/// `u32::MAX` pixels, [`Error::LengthMismatch`] for `x`, then `y`; nothing is written.
pub fn forward<S: Scalar>(
    pixels: usize,
    channels: usize,
    x: &[S],
    y: &mut [S],
) -> Result<(), Error> {
    let n = check(pixels, channels, x.len(), y.len())?;
    for (c, y_c) in y.iter_mut().enumerate() {
        let mut acc = S::ZERO.widen();
        for &v in x.iter().skip(c).step_by(channels) {
            acc = S::add_acc(acc, v);
        }
        *y_c = S::narrow_div(acc, n);
    }
    Ok(())
}

/// Backward: **overwrites** `dx` (`pixels·channels`) with `dy[c] / pixels` at every pixel.
///
/// # Errors
/// As [`forward`] (`dx`, then `dy`); nothing is written.
pub fn backward<S: Scalar>(
    pixels: usize,
    channels: usize,
    dy: &[S],
    dx: &mut [S],
) -> Result<(), Error> {
    let n = check(pixels, channels, dx.len(), dy.len())?;
    for dx_p in dx.chunks_exact_mut(channels) {
        for (d, &g) in dx_p.iter_mut().zip(dy) {
            *d = S::narrow_div(g.widen(), n);
        }
    }
    Ok(())
}
