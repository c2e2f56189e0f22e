//! Max pooling, 2-D and 1-D, over channels-last maps (torch's `max_pool2d`/`max_pool1d` with
//! `ceil_mode=False`, no dilation).
//!
//! `y[oh][ow][c]` is the largest input in the window of rows `oh·sh − top ..+ kh` and columns
//! `ow·sw − left ..+ kw`; padding never wins (torch pads max pooling with `−∞`), and
//! [`Pool2dShape::valid`] makes sure every window holds an input. Backward routes each `dy` to
//! the **first** maximum of its window in row-major order (the first strictly greater value
//! wins), as torch does; overlapping windows (stride < window) add into the same `dx`. A NaN
//! input is selected only when it comes first in its window (torch always propagates NaN); keep
//! inputs finite.
//!
//! The 1-D functions are the 2-D ones on a map of height 1 ([`Pool1dShape::to_2d`]).
//!
//! # Memory and cost
//! No scratch and no stored indices: backward needs the layer's **input** `x` and recomputes each
//! window's maximum (`kh·kw` comparisons per output, as forward).

use super::shape::{check_len, check_shape, tap};
use super::{Pool1dShape, Pool2dShape, Scalar};
use crate::Error;

/// The index into `x` of the first maximum of output `(oh, ow)`'s window in channel `c`.
fn argmax<S: Scalar>(s: &Pool2dShape, x: &[S], oh: usize, ow: usize, c: usize) -> Option<usize> {
    let mut best: Option<(usize, S)> = None;
    for ki in 0..s.kh {
        let Some(ih) = tap(oh, s.stride_h, ki, s.pad_h.before, s.in_h) else {
            continue;
        };
        for kj in 0..s.kw {
            let Some(iw) = tap(ow, s.stride_w, kj, s.pad_w.before, s.in_w) else {
                continue;
            };
            let i = (ih * s.in_w + iw) * s.c + c;
            if let Some(&v) = x.get(i) {
                if best.is_none_or(|(_, m)| v > m) {
                    best = Some((i, v));
                }
            }
        }
    }
    best.map(|(i, _)| i)
}

/// 2-D forward pass: writes `y` (`output_len`) from `x` (`input_len`).
///
/// # Errors
/// [`NnError::InvalidShape`](crate::nn::NnError::InvalidShape), then [`Error::LengthMismatch`]
/// for `x`, `y`; nothing is written.
pub fn forward<S: Scalar>(s: &Pool2dShape, x: &[S], y: &mut [S]) -> Result<(), Error> {
    check_shape(s.valid())?;
    check_len(s.input_len(), x.len())?;
    check_len(s.output_len(), y.len())?;
    let ow_n = s.out_w();
    for (p, y_px) in y.chunks_exact_mut(s.c).enumerate() {
        for (c, y_c) in y_px.iter_mut().enumerate() {
            if let Some(&v) = argmax(s, x, p / ow_n, p % ow_n, c).and_then(|i| x.get(i)) {
                *y_c = v;
            }
        }
    }
    Ok(())
}

/// 2-D backward pass: **overwrites** `dx` (`input_len`) with zeros, then adds each `dy` to the
/// first maximum of its window in the input `x`.
///
/// # Errors
/// As [`forward`] (shape, `x`, `dy`, `dx`); nothing is written.
pub fn backward<S: Scalar>(s: &Pool2dShape, x: &[S], dy: &[S], dx: &mut [S]) -> Result<(), Error> {
    check_shape(s.valid())?;
    check_len(s.input_len(), x.len())?;
    check_len(s.output_len(), dy.len())?;
    check_len(s.input_len(), dx.len())?;
    super::kernel::zero(dx);
    let ow_n = s.out_w();
    for (p, dy_px) in dy.chunks_exact(s.c).enumerate() {
        for (c, &g) in dy_px.iter().enumerate() {
            if let Some(d) = argmax(s, x, p / ow_n, p % ow_n, c).and_then(|i| dx.get_mut(i)) {
                *d = d.add(g);
            }
        }
    }
    Ok(())
}

/// 1-D forward pass ([`forward`] at height 1).
///
/// # Errors
/// As [`forward`].
#[inline]
pub fn forward_1d<S: Scalar>(s: &Pool1dShape, x: &[S], y: &mut [S]) -> Result<(), Error> {
    forward(&s.to_2d(), x, y)
}

/// 1-D backward pass ([`backward`] at height 1).
///
/// # Errors
/// As [`backward`].
#[inline]
pub fn backward_1d<S: Scalar>(
    s: &Pool1dShape,
    x: &[S],
    dy: &[S],
    dx: &mut [S],
) -> Result<(), Error> {
    backward(&s.to_2d(), x, dy, dx)
}
