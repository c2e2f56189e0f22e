//! Pointwise (1 × 1) convolution: a dense layer applied to every pixel of a channels-last map.
//!
//! With the channels of a pixel contiguous (`[pixels][in_c]`) and weights `[out_c][in_c]` (OHWI
//! with a 1 × 1 kernel: the same bytes as [`conv2d`](super::conv2d)'s weights for that shape),
//! `y[p] = W x[p] + b` for each pixel `p`: the inner loop is a contiguous dot product, with none
//! of the general convolution's tap and padding arithmetic. It computes the same values as
//! [`conv2d`](super::conv2d) on a 1 × 1, stride 1, unpadded, one-group shape, with the same
//! single rounding per element.
//!
//! # Memory and cost
//! No scratch; `pixels·in_c·out_c` multiply-adds for forward, the same for each of `dx` and `dW`.
//! Backward needs the input `x`.

use super::conv2d::{saturating, GradsMut};
use super::kernel;
use super::shape::{check_len, check_shape};
use super::split::{Params, Split};
use super::{Conv2dShape, Scalar};
use crate::Error;
use core::iter::{once, Once};

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
    check_len(s.weights(), w.len())?;
    check_len(s.out_c, b.len())?;
    check_len(s.input_len(), x.len())?;
    check_len(s.output_len(), y.len())?;
    // Each sum: the bias and one product per input channel.
    let (wl, xl) = ((w.rows(s.in_c), w.len()), (once(x), x.len()));
    if kernel::may_saturate::<S>(Some(b.rows(1)), s.in_c, wl, xl) {
        saturating::forward(s, w, b, x, y);
        return Ok(());
    }
    for (x_p, y_p) in x.chunks_exact(s.in_c).zip(y.chunks_exact_mut(s.out_c)) {
        for ((y_o, &b_o), w_o) in y_p.iter_mut().zip(b.elems()).zip(w.rows(s.in_c)) {
            let mut acc = b_o.widen();
            for (&wv, &xv) in w_o.iter().zip(x_p) {
                acc = kernel::mac::<S>(acc, wv, xv);
            }
            *y_o = S::narrow(acc);
        }
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
    check_shape(is_pointwise(s) && channels <= s.out_c)?;
    check_len(s.weights(), w.len())?;
    check_len(s.input_len(), x.len())?;
    check_len(s.output_len(), dy.len())?;
    if let Some((dw, db)) = &grads {
        check_len(channels.saturating_mul(s.in_c), dw.len())?;
        check_len(channels, db.len())?;
    }
    if let Some(dx) = &dx {
        check_len(s.input_len(), dx.len())?;
    }
    if let Some(dx) = dx {
        input_gradient(s, w, dy, dx);
    }
    if let Some((dw, db)) = grads {
        // Each sum: one product per pixel.
        let pixels = x.len() / s.in_c.max(1);
        let (gl, xl) = ((once(dy), dy.len()), (once(x), x.len()));
        let sat = kernel::may_saturate::<S>(None::<Once<&[S]>>, pixels, gl, xl);
        if sat {
            saturating::weight_gradient(s, x, dy, dw);
        }
        for (o, (dw_o, db_o)) in dw.chunks_exact_mut(s.in_c).zip(db.iter_mut()).enumerate() {
            // (`dW` was done above where a sum might saturate.)
            if !sat {
                for (i, dw_v) in dw_o.iter_mut().enumerate() {
                    let mut acc = S::ZERO.widen();
                    for (x_p, dy_p) in x.chunks_exact(s.in_c).zip(dy.chunks_exact(s.out_c)) {
                        if let (Some(&xv), Some(&g)) = (x_p.get(i), dy_p.get(o)) {
                            acc = kernel::mac::<S>(acc, g, xv);
                        }
                    }
                    *dw_v = dw_v.add(S::narrow(acc));
                }
            }
            let mut acc = S::ZERO.widen();
            for g in dy.iter().skip(o).step_by(s.out_c) {
                acc = S::add_acc(acc, *g);
            }
            *db_o = db_o.add(S::narrow(acc));
        }
    }
    Ok(())
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
    check_len(s.weights(), w.len())?;
    check_len(s.output_len(), dy.len())?;
    check_len(s.input_len(), dx.len())?;
    input_gradient(s, w, dy, dx);
    Ok(())
}

/// `dx[p][i] = Σ_o W[o][i]·dy[p][o]`, each sum formed in the accumulator. Lengths checked by
/// the callers.
fn input_gradient<'a, S: Scalar + 'a, W: Params<'a, S>>(
    s: &Conv2dShape,
    w: W,
    dy: &[S],
    dx: &mut [S],
) {
    // Each sum: one product per output channel.
    let (wl, gl) = ((w.rows(s.in_c), w.len()), (once(dy), dy.len()));
    if kernel::may_saturate::<S>(None::<Once<&[S]>>, s.out_c, wl, gl) {
        return saturating::input_gradient(s, w, dy, dx);
    }
    for (dx_p, dy_p) in dx.chunks_exact_mut(s.in_c).zip(dy.chunks_exact(s.out_c)) {
        for (i, dx_i) in dx_p.iter_mut().enumerate() {
            let mut acc = S::ZERO.widen();
            for (w_o, &g) in w.rows(s.in_c).zip(dy_p) {
                if let Some(&wv) = w_o.get(i) {
                    acc = kernel::mac::<S>(acc, wv, g);
                }
            }
            *dx_i = S::narrow(acc);
        }
    }
}
