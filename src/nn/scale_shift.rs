//! A trainable per-channel scale and shift, `y[p][c] = scale[c]·x[p][c] + shift[c]`, over a
//! channels-last map: batch normalisation in evaluation mode with `scale`, `shift` as the
//! parameters (from [`to_scale_shift`](super::bn_fold::to_scale_shift)), or torch's affine part of
//! a norm layer.
//!
//! Backward: `dscale[c] += Σ_p dy·x`, `dshift[c] += Σ_p dy` (each sum formed in
//! [`Scalar::Acc`], then added), `dx = dy·scale` (one rounding). Backward needs the layer's
//! **input** `x`. No scratch.

use super::kernel;
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
        // Blocks of eight channels (four with fixed point's 64-bit sums, then one) per pass
        // over the pixels, each channel's sums still over the pixels in order.
        let mut c = 0;
        while c < trained {
            c += match trained - c {
                left if left >= 8 && kernel::blocked::<S>() => {
                    grads_block::<S, 8>(channels, c, x, dy, ds, db)
                }
                left if left >= 4 => grads_block::<S, 4>(channels, c, x, dy, ds, db),
                _ => grads_block::<S, 1>(channels, c, x, dy, ds, db),
            };
        }
    }
    Ok(())
}

/// `dscale[c + j] += Σ_p dy[p][c + j]·x[p][c + j]`, `dshift[c + j] += Σ_p dy[p][c + j]` over
/// the pixels `p` in order; returns `N`.
#[inline(always)]
fn grads_block<S: Scalar, const N: usize>(
    channels: usize,
    c: usize,
    x: &[S],
    dy: &[S],
    ds: &mut [S],
    db: &mut [S],
) -> usize {
    let (mut acc_s, mut acc_b) = ([S::ZERO.widen(); N], [S::ZERO.widen(); N]);
    let pixels = x
        .chunks_exact(channels.max(1))
        .zip(dy.chunks_exact(channels.max(1)));
    for (x_p, dy_p) in pixels {
        let at = |v: &[S]| v.get(c..).and_then(|r| r.first_chunk::<N>()).copied();
        let (Some(xv), Some(gv)) = (at(x_p), at(dy_p)) else {
            break;
        };
        for j in 0..N {
            acc_s[j] = S::mul_acc(acc_s[j], gv[j], xv[j]);
            acc_b[j] = S::add_acc(acc_b[j], gv[j]);
        }
    }
    let ds_c = ds.get_mut(c..).and_then(|r| r.first_chunk_mut::<N>());
    let db_c = db.get_mut(c..).and_then(|r| r.first_chunk_mut::<N>());
    if let (Some(ds_c), Some(db_c)) = (ds_c, db_c) {
        for j in 0..N {
            ds_c[j] = ds_c[j].add(S::narrow(acc_s[j]));
            db_c[j] = db_c[j].add(S::narrow(acc_b[j]));
        }
    }
    N
}

#[cfg(test)]
mod tests {
    use super::{backward, backward_split, Split};
    use crate::nn::Scalar;
    use fixed::types::I16F16;

    /// The gradients by channel blocks agree with one channel at a time over the pixels in
    /// order (each sum in the accumulator, narrowed once, then added), for every channel count
    /// up to 19 (blocks of eight, four and one) and every trained prefix.
    fn blocks_agree<S: Scalar + core::fmt::Debug>(from: impl Fn(f32) -> S) {
        for channels in 1..20 {
            let pixels = 7;
            let n = channels * pixels;
            let val = |i: usize, k: u32| {
                from((((i as u32).wrapping_mul(2_654_435_761) ^ k) % 2001) as f32 / 1000.0 - 1.0)
            };
            let x: std::vec::Vec<S> = (0..n).map(|i| val(i, 1)).collect();
            let dy: std::vec::Vec<S> = (0..n).map(|i| val(i, 2)).collect();
            let scale: std::vec::Vec<S> = (0..channels).map(|i| val(i, 3)).collect();
            for trained in 0..=channels {
                let (mut ds, mut db) =
                    (std::vec![val(9, 4); trained], std::vec![val(8, 5); trained]);
                let (mut want_s, mut want_b) = (ds.clone(), db.clone());
                for c in 0..trained {
                    let (mut a_s, mut a_b) = (S::ZERO.widen(), S::ZERO.widen());
                    for p in 0..pixels {
                        let (g, v) = (dy[p * channels + c], x[p * channels + c]);
                        a_s = S::mul_acc(a_s, g, v);
                        a_b = S::add_acc(a_b, g);
                    }
                    want_s[c] = want_s[c].add(S::narrow(a_s));
                    want_b[c] = want_b[c].add(S::narrow(a_b));
                }
                let grads = Some((&mut ds[..], &mut db[..]));
                if trained == channels {
                    backward(&scale, &x, &dy, grads, None).unwrap();
                } else {
                    let (head, tail) = scale.split_at(trained);
                    backward_split(Split { head, tail }, &x, &dy, grads, None).unwrap();
                }
                assert_eq!(
                    (ds, db),
                    (want_s, want_b),
                    "channels {channels} trained {trained}"
                );
            }
        }
    }

    #[test]
    fn gradient_blocks_agree_with_one_channel_at_a_time() {
        blocks_agree::<f32>(|v| v);
        blocks_agree::<I16F16>(I16F16::from_num);
    }
}
