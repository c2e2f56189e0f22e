//! Two-dimensional convolution over channels-last maps: stride, zero padding, groups (depthwise
//! with any channel multiplier).
//!
//! `y[oh][ow][o] = b[o] + Σ_{ki,kj,ci} W[o][ki][kj][ci] · x[oh·sh + ki − top][ow·sw + kj − left][g·Cg + ci]`
//! with `g = o / (out_c / groups)`, `Cg = in_c / groups`, and taps outside the input reading zero.
//! Like torch's `conv2d` this is a cross-correlation. Layouts (see [`nn`](crate::nn)): input
//! `[in_h][in_w][in_c]`, output `[out_h][out_w][out_c]`, weights `[out_c][kh][kw][in_c/groups]`
//! (OHWI), bias `[out_c]`, all flat slices whose lengths [`Conv2dShape`] gives.
//!
//! A layer without a bias (one followed by batch normalisation) passes zeros and ignores `db`.
//!
//! ```
//! use edgetune::nn::{conv2d, global_avg_pool, pointwise, Activation, Conv2dShape, Relu6};
//! // One depthwise-separable block on a 4 × 3 map with 2 channels, then global pooling.
//! const DW: Conv2dShape = Conv2dShape::new(4, 3, 2, 2, 3, 3).same().groups(2);
//! const PW: Conv2dShape = Conv2dShape::new(4, 3, 2, 3, 1, 1);
//! const _: () = assert!(DW.valid() && PW.valid());
//! let (dw_w, dw_b) = ([0.1f32; DW.weights()], [0.0; 2]);
//! let (pw_w, pw_b) = ([0.5f32; PW.weights()], [0.1; 3]);
//! let x = [1.0f32; DW.input_len()];
//! let mut h = [0.0; DW.output_len()];
//! conv2d::forward(&DW, &dw_w, &dw_b, &x, &mut h)?;
//! for v in h.iter_mut() {
//!     *v = Relu6.apply(*v);
//! }
//! let mut z = [0.0; PW.output_len()];
//! pointwise::forward(&PW, &pw_w, &pw_b, &h, &mut z)?;
//! let mut pooled = [0.0; 3];
//! global_avg_pool::forward(4 * 3, 3, &z, &mut pooled)?;
//! // Backward from a gradient on the pooled features, accumulating the weight gradients.
//! let mut dz = [0.0; PW.output_len()];
//! global_avg_pool::backward(4 * 3, 3, &[1.0, 0.0, -1.0], &mut dz)?;
//! let (mut d_pw_w, mut d_pw_b) = ([0.0; PW.weights()], [0.0; 3]);
//! let mut dh = [0.0; DW.output_len()];
//! pointwise::backward(&PW, &pw_w, &h, &dz, Some((&mut d_pw_w, &mut d_pw_b)), Some(&mut dh))?;
//! let (mut d_dw_w, mut d_dw_b) = ([0.0; DW.weights()], [0.0; 2]);
//! // (ReLU6 backward on dh would go here.) A first layer passes `None` for dx.
//! conv2d::backward(&DW, &dw_w, &x, &dh, Some((&mut d_dw_w, &mut d_dw_b)), None)?;
//! // A wrong length is an error, and nothing is written.
//! assert!(conv2d::forward(&DW, &dw_w[1..], &dw_b, &x, &mut h).is_err());
//! # Ok::<(), edgetune::Error>(())
//! ```
//!
//! # Errors
//! Each function first checks [`Conv2dShape::valid`] ([`NnError::InvalidShape`](crate::nn::NnError::InvalidShape)) and
//! every slice length ([`Error::LengthMismatch`]); on an error nothing is written.
//!
//! # Numerics
//! Each output, each `dx` element and each per-call `dW`, `db` contribution is one sum formed in
//! [`Scalar::Acc`] and narrowed once (exact 64-bit accumulation for fixed point, so within `½ LSB`
//! of the exact value of the quantised operands), then `dW`, `db` add it to what they hold.
//!
//! # Memory and cost
//! No scratch. Forward and backward each take [`Conv2dShape::macs`] multiply-adds per output
//! (`dx` and `dW` once each). Backward needs the layer **input** `x` and `dy`.

use super::shape::{check_len, check_shape, tap, tapped_by};
use super::split::{Params, Split};
use super::{Conv2dShape, Scalar};
use crate::Error;

/// Mutable gradient storage `(dW, db)` of a convolution, as [`backward`] takes it.
pub type GradsMut<'a, S> = (&'a mut [S], &'a mut [S]);

/// Index arithmetic shared by forward and backward, from a valid shape.
#[derive(Clone, Copy)]
struct Dims {
    oh: usize,
    ow: usize,
    cig: usize,
    cog: usize,
    /// Weights per kernel row, `kw·cig`.
    wrow: usize,
    /// Weights per output channel, `kh·kw·cig`.
    wper: usize,
}

impl Dims {
    fn of(s: &Conv2dShape) -> Dims {
        let cig = s.in_c_per_group();
        Dims {
            oh: s.out_h(),
            ow: s.out_w(),
            cig,
            cog: s.out_c_per_group(),
            wrow: s.kw * cig,
            wper: s.kh * s.kw * cig,
        }
    }
}

/// The forward pass: writes `y` (`output_len` elements) from `w` (`weights`), `b` (`out_c`) and
/// `x` (`input_len`). Accumulates in [`Scalar::Acc`] starting from the bias. No scratch.
///
/// # Errors
/// [`NnError::InvalidShape`](crate::nn::NnError::InvalidShape) or [`Error::LengthMismatch`]
/// (checked in the order shape, `w`, `b`, `x`, `y`); nothing is written.
pub fn forward<S: Scalar>(
    s: &Conv2dShape,
    w: &[S],
    b: &[S],
    x: &[S],
    y: &mut [S],
) -> Result<(), Error> {
    forward_in(s, w, b, x, y)
}

/// [`forward`] with the weights and bias each in two runs (a layer that trains only its first
/// output channels, see [`Split`]).
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
    check_shape(s.valid())?;
    check_len(s.weights(), w.len())?;
    check_len(s.out_c, b.len())?;
    check_len(s.input_len(), x.len())?;
    check_len(s.output_len(), y.len())?;
    let d = Dims::of(s);
    for (p, y_px) in y.chunks_exact_mut(s.out_c).enumerate() {
        let (oh, ow) = (p / d.ow, p % d.ow);
        for ((o, y_o), (&b_o, w_o)) in y_px
            .iter_mut()
            .enumerate()
            .zip(b.elems().zip(w.rows(d.wper)))
        {
            let c0 = (o / d.cog) * d.cig;
            let mut acc = b_o.widen();
            for (ki, w_row) in w_o.chunks_exact(d.wrow).enumerate() {
                let Some(ih) = tap(oh, s.stride_h, ki, s.pad_h.before, s.in_h) else {
                    continue;
                };
                for (kj, w_k) in w_row.chunks_exact(d.cig).enumerate() {
                    let Some(iw) = tap(ow, s.stride_w, kj, s.pad_w.before, s.in_w) else {
                        continue;
                    };
                    let base = (ih * s.in_w + iw) * s.in_c + c0;
                    let Some(x_k) = x.get(base..base + d.cig) else {
                        continue;
                    };
                    for (&wv, &xv) in w_k.iter().zip(x_k) {
                        acc = S::mul_acc(acc, wv, xv);
                    }
                }
            }
            *y_o = S::narrow(acc);
        }
    }
    Ok(())
}

/// The backward pass, given the layer's input `x` and `dy = ∂L/∂y`.
///
/// - `grads = Some((dW, db))`: **accumulates** `dW[o][ki][kj][ci] += Σ_{oh,ow} dy·x` (over the
///   taps inside the input) and `db[o] += Σ_{oh,ow} dy[oh][ow][o]`; `None` for a frozen layer.
/// - `dx = Some(dx)`: **overwrites** `dx` with `Σ W·dy` over every (output, kernel offset) pair
///   that taps each input element; `None` for a first layer.
///
/// # Errors
/// As [`forward`] (shape, `w`, `x`, `dy`, then `dW`, `db`, `dx`); nothing is written.
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
    let channels = w.head.len() / Dims::of(s).wper.max(1);
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
    check_shape(s.valid() && channels <= s.out_c)?;
    check_len(s.weights(), w.len())?;
    check_len(s.input_len(), x.len())?;
    check_len(s.output_len(), dy.len())?;
    if let Some((dw, db)) = &grads {
        check_len(channels.saturating_mul(Dims::of(s).wper), dw.len())?;
        check_len(channels, db.len())?;
    }
    if let Some(dx) = &dx {
        check_len(s.input_len(), dx.len())?;
    }
    let d = Dims::of(s);
    if let Some(dx) = dx {
        input_gradient(s, d, w, dy, dx);
    }
    if let Some((dw, db)) = grads {
        weight_gradient(s, d, x, dy, dw, db);
    }
    Ok(())
}

/// The input gradient alone: **overwrites** `dx` with `Σ W·dy`, as [`backward`] does, for a
/// layer whose weights do not train (so its input was not kept).
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
    check_shape(s.valid())?;
    check_len(s.weights(), w.len())?;
    check_len(s.output_len(), dy.len())?;
    check_len(s.input_len(), dx.len())?;
    input_gradient(s, Dims::of(s), w, dy, dx);
    Ok(())
}

/// `dx[ih][iw][c] = Σ W[o][ki][kj][ci]·dy[oh][ow][o]` over the outputs `o` of `c`'s group and the
/// offsets with `oh·sh + ki − top = ih`, `ow·sw + kj − left = iw`. Lengths checked by the caller.
fn input_gradient<'a, S: Scalar + 'a, W: Params<'a, S>>(
    s: &Conv2dShape,
    d: Dims,
    w: W,
    dy: &[S],
    dx: &mut [S],
) {
    for (p, dx_px) in dx.chunks_exact_mut(s.in_c).enumerate() {
        let (ih, iw) = (p / s.in_w, p % s.in_w);
        for (c, dx_c) in dx_px.iter_mut().enumerate() {
            let (g, ci) = (c / d.cig, c % d.cig);
            let o0 = g * d.cog;
            let mut acc = S::ZERO.widen();
            for ki in 0..s.kh {
                let Some(oh) = tapped_by(ih, s.stride_h, ki, s.pad_h.before, d.oh) else {
                    continue;
                };
                for kj in 0..s.kw {
                    let Some(ow) = tapped_by(iw, s.stride_w, kj, s.pad_w.before, d.ow) else {
                        continue;
                    };
                    let base = (oh * d.ow + ow) * s.out_c + o0;
                    let Some(dy_g) = dy.get(base..base + d.cog) else {
                        continue;
                    };
                    let offset = ki * d.wrow + kj * d.cig + ci;
                    for (j, &g_o) in dy_g.iter().enumerate() {
                        if let Some(&wv) = w.at((o0 + j) * d.wper + offset) {
                            acc = S::mul_acc(acc, wv, g_o);
                        }
                    }
                }
            }
            *dx_c = S::narrow(acc);
        }
    }
}

/// `dW += Σ dy·x`, `db += Σ dy`, each sum formed in the accumulator. Lengths checked by the caller.
fn weight_gradient<S: Scalar>(
    s: &Conv2dShape,
    d: Dims,
    x: &[S],
    dy: &[S],
    dw: &mut [S],
    db: &mut [S],
) {
    for (o, (dw_o, db_o)) in dw.chunks_exact_mut(d.wper).zip(db.iter_mut()).enumerate() {
        let c0 = (o / d.cog) * d.cig;
        for (ki, dw_row) in dw_o.chunks_exact_mut(d.wrow).enumerate() {
            for (kj, dw_k) in dw_row.chunks_exact_mut(d.cig).enumerate() {
                for (ci, dw_v) in dw_k.iter_mut().enumerate() {
                    let mut acc = S::ZERO.widen();
                    for oh in 0..d.oh {
                        let Some(ih) = tap(oh, s.stride_h, ki, s.pad_h.before, s.in_h) else {
                            continue;
                        };
                        for ow in 0..d.ow {
                            let Some(iw) = tap(ow, s.stride_w, kj, s.pad_w.before, s.in_w) else {
                                continue;
                            };
                            let xi = (ih * s.in_w + iw) * s.in_c + c0 + ci;
                            let gi = (oh * d.ow + ow) * s.out_c + o;
                            if let (Some(&xv), Some(&g)) = (x.get(xi), dy.get(gi)) {
                                acc = S::mul_acc(acc, g, xv);
                            }
                        }
                    }
                    *dw_v = dw_v.add(S::narrow(acc));
                }
            }
        }
        let mut acc = S::ZERO.widen();
        for g in dy.iter().skip(o).step_by(s.out_c) {
            acc = S::add_acc(acc, *g);
        }
        *db_o = db_o.add(S::narrow(acc));
    }
}
