//! One-dimensional convolution over channels-last sensor windows: stride, zero padding, groups.
//!
//! `y[t][o] = b[o] + Σ_{k,ci} W[o][k][ci] · x[t·stride + k − pad.before][g·Cg + ci]` (taps outside
//! the window read zero; `g = o / (out_c/groups)`, `Cg = in_c/groups`). Input `[len][in_c]`
//! (one row per time step: an IMU sample's axes are contiguous, as a sensor FIFO delivers them),
//! output `[out_len][out_c]`, weights `[out_c][k][in_c/groups]`, bias `[out_c]`, lengths from
//! [`Conv1dShape`]. Torch's `Conv1d.weight[o, ci, k]` is `W[o][k][ci]` here
//! (`weight.permute(0, 2, 1)`).
//!
//! This is exactly [`conv2d`] on a map of height 1 ([`Conv1dShape::to_2d`]), and
//! calls it: one implementation, its errors, numerics and memory (no scratch; backward needs
//! the input `x`).

use super::{conv2d, Conv1dShape, Scalar};
use crate::Error;

pub use conv2d::GradsMut;

/// The forward pass: writes `y` from `w`, `b` and `x` (see the module docs).
///
/// # Errors
/// As [`conv2d::forward`]; nothing is written.
#[inline]
pub fn forward<S: Scalar>(
    s: &Conv1dShape,
    w: &[S],
    b: &[S],
    x: &[S],
    y: &mut [S],
) -> Result<(), Error> {
    conv2d::forward(&s.to_2d(), w, b, x, y)
}

/// The backward pass: accumulates `dW`, `db` (if given) and overwrites `dx` (if given), from the
/// layer's input `x` and `dy` (see [`conv2d::backward`]).
///
/// # Errors
/// As [`conv2d::backward`]; nothing is written.
#[inline]
pub fn backward<S: Scalar>(
    s: &Conv1dShape,
    w: &[S],
    x: &[S],
    dy: &[S],
    grads: Option<GradsMut<'_, S>>,
    dx: Option<&mut [S]>,
) -> Result<(), Error> {
    conv2d::backward(&s.to_2d(), w, x, dy, grads, dx)
}
