//! Pointwise (1 × 1) convolution: a dense layer applied to every pixel of a channels-last map.
//!
//! With the channels of a pixel contiguous (`[pixels][in_c]`) and weights `[out_c][in_c]` (OHWI
//! with a 1 × 1 kernel: the same bytes as [`conv2d`]'s weights for that shape),
//! `y[p] = W x[p] + b` for each pixel `p`. It is [`conv2d`] on a 1 × 1, stride 1,
//! unpadded, one-group shape, which it checks: the same values, the same single rounding per
//! element, and the same register-blocked kernels (runs of pixels sharing each loaded weight,
//! blocks of output channels sharing each loaded input); a map of one pixel (a dense layer)
//! goes forward as a dense layer's rows, without the convolution's window bookkeeping.
//!
//! # Memory and cost
//! No scratch; `pixels·in_c·out_c` multiply-adds for forward, the same for each of `dx` and `dW`.
//! Backward needs the input `x`.

use super::conv2d::{self, saturating, GradsMut};
use super::kernel;
use super::shape::{check_len, check_shape};
use super::split::{Params, Split};
use super::{Conv2dShape, Scalar};
use crate::Error;
use core::iter::once;

/// Whether `s` is a pointwise shape: 1 × 1 kernel, stride 1, no padding, one group, and valid.
pub const fn is_pointwise(s: &Conv2dShape) -> bool {
    s.kh == 1
        && s.kw == 1
        && s.stride_h == 1
        && s.stride_w == 1
        && s.pad_h.before == 0
        && s.pad_h.after == 0
        && s.pad_w.before == 0
        && s.pad_w.after == 0
        && s.groups == 1
        && s.valid()
}

/// The forward pass, `y[p][o] = b[o] + Σ_i W[o][i]·x[p][i]`, accumulated in [`Scalar::Acc`].
///
/// # Errors
/// [`NnError::InvalidShape`](crate::nn::NnError::InvalidShape) unless [`is_pointwise`]; then
/// [`Error::LengthMismatch`] for `w`, `b`, `x`, `y` in that order. Nothing is written.
pub fn forward<S: Scalar>(
    s: &Conv2dShape,
    w: &[S],
    b: &[S],
    x: &[S],
    y: &mut [S],
) -> Result<(), Error> {
    forward_in(s, w, b, x, y)
}

/// [`forward`] with the weights and bias each in two runs ([`Split`]).
///
/// # Errors
/// As [`forward`], with the lengths of both runs together.
pub fn forward_split<S: Scalar>(
    s: &Conv2dShape,
    w: Split<'_, S>,
    b: Split<'_, S>,
    x: &[S],
    y: &mut [S],
) -> Result<(), Error> {
    forward_in(s, w, b, x, y)
}

fn forward_in<'a, S: Scalar + 'a, W: Params<'a, S>, B: Params<'a, S>>(
    s: &Conv2dShape,
    w: W,
    b: B,
    x: &[S],
    y: &mut [S],
) -> Result<(), Error> {
    check_shape(is_pointwise(s))?;
    if s.in_h * s.in_w != 1 {
        return conv2d::forward_in(s, w, b, x, y);
    }
    // One pixel (a dense layer): no runs of pixels to share weights, so the output rows as a
    // dense layer's, without the convolution's window bookkeeping.
    check_len(s.weights(), w.len())?;
    check_len(s.out_c, b.len())?;
    check_len(s.input_len(), x.len())?;
    check_len(s.output_len(), y.len())?;
    let (wl, xl) = ((w.rows(s.in_c), w.len()), (once(x), x.len()));
    if kernel::may_saturate::<S>(Some(b.rows(1)), s.in_c, wl, xl) {
        saturating::forward(s, w, b, x, y);
        return Ok(());
    }
    // Four outputs at a time share each loaded input (as a dense layer's rows), then one by one;
    // each sum in ascending input order.
    // (Fixed point's 64-bit sums go one by one: see `kernel::wide_acc`.)
    let (mut rows, mut biases) = (w.rows(s.in_c), b.elems());
    let (y4, y1) = if kernel::wide_acc::<S>() {
        (Default::default(), y)
    } else {
        y.as_chunks_mut::<4>()
    };
    for y_o in y4 {
        let (Some(r0), Some(r1), Some(r2), Some(r3)) =
            (rows.next(), rows.next(), rows.next(), rows.next())
        else {
            break;
        };
        let mut acc = [S::ZERO.widen(); 4];
        for a in acc.iter_mut() {
            *a = biases.next().map_or(S::ZERO.widen(), |&b_o| b_o.widen());
        }
        kernel::dot4::<S>(&mut acc, x, [r0, r1, r2, r3]);
        *y_o = acc.map(S::narrow);
    }
    for ((y_o, &b_o), w_o) in y1.iter_mut().zip(biases).zip(rows) {
        let mut acc = b_o.widen();
        for (&wv, &xv) in w_o.iter().zip(x) {
            acc = kernel::mac::<S>(acc, wv, xv);
        }
        *y_o = S::narrow(acc);
    }
    Ok(())
}

/// The backward pass: `dW[o][i] += Σ_p dy[p][o]·x[p][i]`, `db[o] += Σ_p dy[p][o]` (if `grads`),
/// `dx[p][i] = Σ_o W[o][i]·dy[p][o]` overwritten (if `dx`); each sum formed in the accumulator.
///
/// # Errors
/// As [`forward`] (shape, `w`, `x`, `dy`, `dW`, `db`, `dx`); nothing is written.
pub fn backward<S: Scalar>(
    s: &Conv2dShape,
    w: &[S],
    x: &[S],
    dy: &[S],
    grads: Option<GradsMut<'_, S>>,
    dx: Option<&mut [S]>,
) -> Result<(), Error> {
    backward_in(s, w, s.out_c, x, dy, grads, dx)
}

/// [`backward`] for a layer whose first output channels train: `w.head` holds their weights,
/// and `grads` (if given) their `dW` (`w.head.len()` elements) and `db` (one per such channel).
///
/// # Errors
/// As [`backward`], with `dW` and `db` sized for the leading channels.
pub fn backward_split<S: Scalar>(
    s: &Conv2dShape,
    w: Split<'_, S>,
    x: &[S],
    dy: &[S],
    grads: Option<GradsMut<'_, S>>,
    dx: Option<&mut [S]>,
) -> Result<(), Error> {
    let channels = w.head.len() / s.in_c.max(1);
    backward_in(s, w, channels, x, dy, grads, dx)
}

/// `channels`: the leading output channels whose `dW` and `db` `grads` holds.
fn backward_in<'a, S: Scalar + 'a, W: Params<'a, S>>(
    s: &Conv2dShape,
    w: W,
    channels: usize,
    x: &[S],
    dy: &[S],
    grads: Option<GradsMut<'_, S>>,
    dx: Option<&mut [S]>,
) -> Result<(), Error> {
    check_shape(is_pointwise(s))?;
    conv2d::backward_in(s, w, channels, x, dy, grads, dx)
}

/// The input gradient alone: **overwrites** `dx` with `Σ_o W[o][i]·dy[p][o]`, as [`backward`]
/// does, for a layer whose weights do not train (so its input was not kept).
///
/// # Errors
/// As [`backward`] (shape, `w`, `dy`, `dx`); nothing is written.
pub fn backward_input<S: Scalar>(
    s: &Conv2dShape,
    w: &[S],
    dy: &[S],
    dx: &mut [S],
) -> Result<(), Error> {
    backward_input_in(s, w, dy, dx)
}

/// [`backward_input`] with the weights in two runs ([`Split`]).
///
/// # Errors
/// As [`backward_input`].
pub fn backward_input_split<S: Scalar>(
    s: &Conv2dShape,
    w: Split<'_, S>,
    dy: &[S],
    dx: &mut [S],
) -> Result<(), Error> {
    backward_input_in(s, w, dy, dx)
}

fn backward_input_in<'a, S: Scalar + 'a, W: Params<'a, S>>(
    s: &Conv2dShape,
    w: W,
    dy: &[S],
    dx: &mut [S],
) -> Result<(), Error> {
    check_shape(is_pointwise(s))?;
    conv2d::backward_input_in(s, w, dy, dx)
}
