//! Average pooling, 2-D and 1-D, over channels-last maps (torch's `avg_pool2d`/`avg_pool1d` with
//! `ceil_mode=False`, no `divisor_override`).
//!
//! `y[oh][ow][c] = Σ x / n` over the window's inputs, where the divisor `n` depends on
//! `count_include_pad`:
//! - `true` (**torch's default**): `n = kh·kw` always, padding counting as zeros;
//! - `false` (TensorFlow's `SAME` average pooling, and torch with `count_include_pad=False`): `n` is
//!   the number of real inputs in the window.
//!
//! Without padding the two agree. Backward gives each input `Σ dy / n` over the windows that
//! contain it.
//!
//! # Numerics
//! The window sum is exact in [`Scalar::Acc`] (fixed point) and divided once
//! ([`Scalar::narrow_div`]): each output is within `½ LSB` of the exact mean. `dx` with
//! `count_include_pad = true` is one sum divided once (`½ LSB`); with `false` each window's share
//! is rounded separately (`½ LSB` per window containing the element).
//!
//! # Memory and cost
//! No scratch; backward needs nothing from the forward pass (only `dy`).

use super::shape::{check_len, check_shape, outputs_covering, tap};
use super::{Pool1dShape, Pool2dShape, Scalar};
use crate::Error;

/// The number of real inputs in the window of output `(oh, ow)`, or `kh·kw` with
/// `count_include_pad`.
fn divisor(s: &Pool2dShape, oh: usize, ow: usize, count_include_pad: bool) -> u32 {
    let n = if count_include_pad {
        s.kh.saturating_mul(s.kw)
    } else {
        let rows = (0..s.kh)
            .filter(|&k| tap(oh, s.stride_h, k, s.pad_h.before, s.in_h).is_some())
            .count();
        let cols = (0..s.kw)
            .filter(|&k| tap(ow, s.stride_w, k, s.pad_w.before, s.in_w).is_some())
            .count();
        rows * cols
    };
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// 2-D forward pass: writes `y` (`output_len`) from `x` (`input_len`).
///
/// # Errors
/// [`NnError::InvalidShape`](crate::nn::NnError::InvalidShape) (also for a window of more than
/// `u32::MAX` elements), then [`Error::LengthMismatch`] for `x`, `y`; nothing is written.
pub fn forward<S: Scalar>(
    s: &Pool2dShape,
    count_include_pad: bool,
    x: &[S],
    y: &mut [S],
) -> Result<(), Error> {
    check_shape(s.valid() && u32::try_from(s.kh.saturating_mul(s.kw)).is_ok())?;
    check_len(s.input_len(), x.len())?;
    check_len(s.output_len(), y.len())?;
    let ow_n = s.out_w();
    for (p, y_px) in y.chunks_exact_mut(s.c).enumerate() {
        let (oh, ow) = (p / ow_n, p % ow_n);
        let n = divisor(s, oh, ow, count_include_pad);
        for (c, y_c) in y_px.iter_mut().enumerate() {
            let mut acc = S::ZERO.widen();
            for ki in 0..s.kh {
                let Some(ih) = tap(oh, s.stride_h, ki, s.pad_h.before, s.in_h) else {
                    continue;
                };
                for kj in 0..s.kw {
                    let Some(iw) = tap(ow, s.stride_w, kj, s.pad_w.before, s.in_w) else {
                        continue;
                    };
                    if let Some(&v) = x.get((ih * s.in_w + iw) * s.c + c) {
                        acc = S::add_acc(acc, v);
                    }
                }
            }
            *y_c = S::narrow_div(acc, n);
        }
    }
    Ok(())
}

/// 2-D backward pass: **overwrites** `dx` (`input_len`) with `Σ dy / n` over the windows
/// containing each input.
///
/// # Errors
/// As [`forward`] (shape, `dy`, `dx`); nothing is written.
pub fn backward<S: Scalar>(
    s: &Pool2dShape,
    count_include_pad: bool,
    dy: &[S],
    dx: &mut [S],
) -> Result<(), Error> {
    check_shape(s.valid() && u32::try_from(s.kh.saturating_mul(s.kw)).is_ok())?;
    check_len(s.output_len(), dy.len())?;
    check_len(s.input_len(), dx.len())?;
    let (oh_n, ow_n) = (s.out_h(), s.out_w());
    let whole = divisor(s, 0, 0, true);
    for (p, dx_px) in dx.chunks_exact_mut(s.c).enumerate() {
        let (ih, iw) = (p / s.in_w, p % s.in_w);
        for (c, dx_c) in dx_px.iter_mut().enumerate() {
            let mut acc = S::ZERO.widen();
            let mut sum = S::ZERO;
            // Each window's taps in ascending kernel offsets (the outputs latest first).
            for oh in outputs_covering(ih, s.stride_h, s.kh, s.pad_h.before, oh_n) {
                for ow in outputs_covering(iw, s.stride_w, s.kw, s.pad_w.before, ow_n) {
                    let Some(&g) = dy.get((oh * ow_n + ow) * s.c + c) else {
                        continue;
                    };
                    if count_include_pad {
                        acc = S::add_acc(acc, g);
                    } else {
                        let n = divisor(s, oh, ow, false);
                        sum = sum.add(S::narrow_div(g.widen(), n));
                    }
                }
            }
            *dx_c = if count_include_pad {
                S::narrow_div(acc, whole)
            } else {
                sum
            };
        }
    }
    Ok(())
}

/// 1-D forward pass ([`forward`] at height 1).
///
/// # Errors
/// As [`forward`].
#[inline]
pub fn forward_1d<S: Scalar>(
    s: &Pool1dShape,
    count_include_pad: bool,
    x: &[S],
    y: &mut [S],
) -> Result<(), Error> {
    forward(&s.to_2d(), count_include_pad, x, y)
}

/// 1-D backward pass ([`backward`] at height 1).
///
/// # Errors
/// As [`backward`].
#[inline]
pub fn backward_1d<S: Scalar>(
    s: &Pool1dShape,
    count_include_pad: bool,
    dy: &[S],
    dx: &mut [S],
) -> Result<(), Error> {
    backward(&s.to_2d(), count_include_pad, dy, dx)
}
