//! A trainable per-channel scale and shift, `y[p][c] = scale[c]·x[p][c] + shift[c]`, over a
//! channels-last map: batch normalisation in evaluation mode with `scale`, `shift` as the
//! parameters (from [`to_scale_shift`](super::bn_fold::to_scale_shift)), or torch's affine part of
//! a norm layer.
//!
//! Backward: `dscale[c] += Σ_p dy·x`, `dshift[c] += Σ_p dy` (each sum formed in
//! [`Scalar::Acc`], then added), `dx = dy·scale` (one rounding). Backward needs the layer's
//! **input** `x`. No scratch.

use super::shape::{check_len, check_shape};
use super::split::{Params, Split};
use super::Scalar;
use crate::Error;

/// Mutable gradient storage `(dscale, dshift)`, as [`backward`] takes it.
pub type GradsMut<'a, S> = (&'a mut [S], &'a mut [S]);

/// Checks `channels > 0` and that `map` holds whole pixels.
fn check_map(channels: usize, map: usize) -> Result<(), Error> {
    check_shape(channels > 0)?;
    if !map.is_multiple_of(channels) {
        return Err(Error::LengthMismatch {
            expected: (map / channels + 1).saturating_mul(channels),
            found: map,
        });
    }
    Ok(())
}

/// Forward: `y = scale·x + shift` per channel (`channels = scale.len()`; `x`, `y` any number of
/// whole pixels, the same length).
///
/// # Errors
/// [`NnError::InvalidShape`](crate::nn::NnError::InvalidShape) for zero channels,
/// [`Error::LengthMismatch`] for `shift`, `x` (not whole pixels), `y`; nothing is written.
pub fn forward<S: Scalar>(scale: &[S], shift: &[S], x: &[S], y: &mut [S]) -> Result<(), Error> {
    forward_in(scale, shift, x, y)
}

/// [`forward`] with the scale and the shift each in two runs (a layer that trains only its
/// first channels, see [`Split`]).
///
/// # Errors
/// As [`forward`].
pub fn forward_split<S: Scalar>(
    scale: Split<'_, S>,
    shift: Split<'_, S>,
    x: &[S],
    y: &mut [S],
) -> Result<(), Error> {
    forward_in(scale, shift, x, y)
}

fn forward_in<'a, S: Scalar + 'a, A: Params<'a, S>, B: Params<'a, S>>(
    scale: A,
    shift: B,
    x: &[S],
    y: &mut [S],
) -> Result<(), Error> {
    let channels = scale.len();
    check_map(channels, x.len())?;
    check_len(channels, shift.len())?;
    check_len(x.len(), y.len())?;
    for (x_p, y_p) in x.chunks_exact(channels).zip(y.chunks_exact_mut(channels)) {
        for (((y_c, &x_c), &a), &b) in y_p
            .iter_mut()
            .zip(x_p)
            .zip(scale.elems())
            .zip(shift.elems())
        {
            *y_c = S::narrow(S::mul_acc(b.widen(), a, x_c));
        }
    }
    Ok(())
}

/// Backward: accumulates `(dscale, dshift)` (if given), overwrites `dx = dy·scale` (if given).
///
/// # Errors
/// As [`forward`] (`x`, `dy`, `dscale`, `dshift`, `dx`); nothing is written.
pub fn backward<S: Scalar>(
    scale: &[S],
    x: &[S],
    dy: &[S],
    grads: Option<GradsMut<'_, S>>,
    dx: Option<&mut [S]>,
) -> Result<(), Error> {
    backward_in(scale, scale.len(), x, dy, grads, dx)
}

/// [`backward`] for a layer whose first channels train: `scale.head` holds their scales, and
/// `grads` (if given) their `dscale` and `dshift`.
///
/// # Errors
/// As [`backward`], with the gradients sized for the leading channels.
pub fn backward_split<S: Scalar>(
    scale: Split<'_, S>,
    x: &[S],
    dy: &[S],
    grads: Option<GradsMut<'_, S>>,
    dx: Option<&mut [S]>,
) -> Result<(), Error> {
    backward_in(scale, scale.head.len(), x, dy, grads, dx)
}

/// `trained`: the leading channels whose gradients `grads` holds.
fn backward_in<'a, S: Scalar + 'a, A: Params<'a, S>>(
    scale: A,
    trained: usize,
    x: &[S],
    dy: &[S],
    grads: Option<GradsMut<'_, S>>,
    dx: Option<&mut [S]>,
) -> Result<(), Error> {
    let channels = scale.len();
    check_map(channels, x.len())?;
    check_len(x.len(), dy.len())?;
    check_shape(trained <= channels)?;
    if let Some((ds, db)) = &grads {
        check_len(trained, ds.len())?;
        check_len(trained, db.len())?;
    }
    if let Some(dx) = &dx {
        check_len(x.len(), dx.len())?;
    }
    if let Some(dx) = dx {
        for (dx_p, dy_p) in dx.chunks_exact_mut(channels).zip(dy.chunks_exact(channels)) {
            for ((d, &g), &a) in dx_p.iter_mut().zip(dy_p).zip(scale.elems()) {
                *d = g.mul(a);
            }
        }
    }
    if let Some((ds, db)) = grads {
        for (c, (ds_c, db_c)) in ds.iter_mut().zip(db.iter_mut()).enumerate() {
            let (mut acc_s, mut acc_b) = (S::ZERO.widen(), S::ZERO.widen());
            for (&g, &v) in dy
                .iter()
                .skip(c)
                .step_by(channels)
                .zip(x.iter().skip(c).step_by(channels))
            {
                acc_s = S::mul_acc(acc_s, g, v);
                acc_b = S::add_acc(acc_b, g);
            }
            *ds_c = ds_c.add(S::narrow(acc_s));
            *db_c = db_c.add(S::narrow(acc_b));
        }
    }
    Ok(())
}
