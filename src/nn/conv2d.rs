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
//!
//! The loops are register-blocked (four output channels per loaded input; four by four weight
//! gradients summed over the pixels at once; depthwise layers eight or four channels at once),
//! and where `f32`/`f64` sums are done by an FPU (a host, a Cortex-M4F or M7) neighbouring
//! pixels whose windows tap the same kernel columns share each loaded weight (runs of four or
//! two output pixels forward, and a row's border pixel paired with the one below it; runs of
//! four, two or one input pixels in the input gradient of a one-group layer with horizontal
//! stride 1; two output or input pixels depthwise) and the weight gradient takes eight output
//! channels at once. A depthwise layer with three kernel columns and stride 1 across goes in
//! blocks of four channels whose kernel rows slide along the rows in runs of up to four
//! pixels, each loaded input (forward) or `dy` (input gradient) column feeding every pixel it
//! reaches. Every sum is still formed in the order the formulas above give, so results do not
//! depend on the blocking or the target (`tests/conv_gradcheck.rs` checks the `f32` bits
//! against the definitions). A depthwise layer
//! with at most 9 taps (3 × 3) copies a block's weights tap-major onto the stack: `9 × 8`
//! values of `S` (288 bytes for `f32`) during forward and the input gradient.
//!
//! Fixed point's 64-bit sums saturate. Each pass first bounds its operands
//! (`kernel::may_saturate`, one scan of the shorter operand, usually nothing more): where no
//! sum can reach the `i64` range, the kernels add without the range test (a Cortex-M3's
//! `smlal`), and where one might, the pass takes every sum by its definition with saturating
//! adds (`saturating`, one small loop per pass). Both orders are the ones above, so the bits
//! are those of saturating sums either way (`tests/fixed_sums.rs`).

use super::kernel;
use super::shape::{check_len, check_shape, tapped_by};
use super::split::{Params, Split};
use super::{Conv2dShape, Scalar};
use crate::Error;
use core::array::from_fn;
use core::iter::{once, Once};

pub(super) mod saturating;

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

pub(super) fn forward_in<'a, S: Scalar + 'a, W: Params<'a, S>, B: Params<'a, S>>(
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
    // Each sum: the bias and one product per weight of its output channel.
    let (wl, xl) = ((w.rows(d.wper), w.len()), (once(x), x.len()));
    if kernel::may_saturate::<S>(Some(b.rows(1)), d.wper, wl, xl) {
        saturating::forward(s, w, b, x, y);
        return Ok(());
    }
    if d.cig == 1 && d.cog == 1 {
        forward_depthwise(s, d, w, b, x, y);
        return Ok(());
    }
    // One group and narrow sums: runs of four or two neighbouring pixels whose windows clip the
    // same kernel columns (every interior run) share each loaded weight, and so do the pixels
    // of two rows whose windows clip the same kernel rows, where a row's border pixel has no
    // such neighbour in its row.
    if !(s.groups == 1 && kernel::blocked::<S>()) {
        forward_pixels(s, d, w, b, x, y);
        return Ok(());
    }
    let row_len = d.ow * s.out_c;
    let mut rest = y;
    let mut oh = 0;
    while !rest.is_empty() {
        let rows = Window::of(oh, s.stride_h, s.pad_h.before, s.in_h, s.kh);
        let below = Window::of(oh + 1, s.stride_h, s.pad_h.before, s.in_h, s.kh);
        let pair = oh + 1 < d.oh && (below.k0, below.k1) == (rows.k0, rows.k1);
        let n = if pair { 2 } else { 1 };
        let Some((y_now, tail)) = core::mem::take(&mut rest).split_at_mut_checked(n * row_len)
        else {
            break;
        };
        rest = tail;
        let (y_row, y_below) = y_now.split_at_mut(row_len.min(y_now.len()));
        let params = (w, b, x);
        if pair {
            forward_row(s, d, (rows, y_row), Pixels::PairedBelow(y_below), params);
            forward_row(s, d, (below, y_below), Pixels::PairedAbove, params);
        } else {
            forward_row(s, d, (rows, y_row), Pixels::Alone, params);
        }
        oh += n;
    }
    Ok(())
}

/// Every output pixel of a convolution, one at a time.
#[inline(always)]
fn forward_pixels<'a, S: Scalar + 'a, W: Params<'a, S>, B: Params<'a, S>>(
    s: &Conv2dShape,
    d: Dims,
    w: W,
    b: B,
    x: &[S],
    y: &mut [S],
) {
    for (p, y_px) in y.chunks_exact_mut(s.out_c).enumerate() {
        let (oh, ow) = (p / d.ow, p % d.ow);
        let rows = Window::of(oh, s.stride_h, s.pad_h.before, s.in_h, s.kh);
        let cols = Window::of(ow, s.stride_w, s.pad_w.before, s.in_w, s.kw);
        forward_grouped_px(s, d, rows, cols, w, b, x, y_px);
    }
}

/// What [`forward_row`] does with a pixel that no neighbour in its row shares a window with.
enum Pixels<'y, S> {
    /// Computes it alone.
    Alone,
    /// Computes it with the pixel below it, in this next row (whose windows clip the same
    /// kernel rows).
    PairedBelow(&'y mut [S]),
    /// Leaves it: the row above computed it.
    PairedAbove,
}

/// One output row (kernel rows `rows`) of a one-group convolution with narrow sums: runs of four
/// or two pixels whose windows clip the same kernel columns, and the other pixels as `lone`
/// says. One copy per type: each run kernel is inlined at one call site.
#[inline(never)]
fn forward_row<'a, S: Scalar + 'a, W: Params<'a, S>, B: Params<'a, S>>(
    s: &Conv2dShape,
    d: Dims,
    (rows, mut y_row): (Window, &mut [S]),
    mut lone: Pixels<'_, S>,
    (w, b, x): (W, B, &[S]),
) {
    let across = s.stride_w * s.in_c;
    let down = s.stride_h * s.in_w * s.in_c;
    let mut ow = 0;
    while !y_row.is_empty() {
        let cols = Window::of(ow, s.stride_w, s.pad_w.before, s.in_w, s.kw);
        // Windows clip fewer kernel columns inwards, so equal windows at both ends of a run of
        // pixels mean equal windows throughout.
        let twins = |n: usize| {
            ow + n <= d.ow && {
                let last = Window::of(ow + n - 1, s.stride_w, s.pad_w.before, s.in_w, s.kw);
                (last.k0, last.k1) == (cols.k0, cols.k1)
            }
        };
        let n = if twins(4) {
            4
        } else if twins(2) {
            2
        } else {
            1
        };
        let Some((y_now, tail)) = core::mem::take(&mut y_row).split_at_mut_checked(n * s.out_c)
        else {
            break;
        };
        y_row = tail;
        let mut partner = None;
        if let Pixels::PairedBelow(y_b) = &mut lone {
            if let Some((now, tail)) = core::mem::take(y_b).split_at_mut_checked(n * s.out_c) {
                (*y_b, partner) = (tail, Some(now));
            }
        }
        let at = (cols, w, b, x);
        let mut px = y_now.chunks_exact_mut(s.out_c);
        match (n, &lone) {
            (4, _) => {
                forward_px_run::<S, W, B, 4>(s, d, rows, across, at, from_fn(|_| px.next()));
            }
            (2, _) => {
                forward_px_run::<S, W, B, 2>(s, d, rows, across, at, from_fn(|_| px.next()));
            }
            (_, Pixels::PairedBelow(_)) => {
                forward_px_run::<S, W, B, 2>(s, d, rows, down, at, [px.next(), partner]);
            }
            (_, Pixels::Alone) => forward_grouped_px(s, d, rows, cols, w, b, x, y_now),
            (_, Pixels::PairedAbove) => {}
        }
        ow += n;
    }
}

/// `N` output pixels of a one-group convolution whose windows tap the same kernel offsets (a
/// run along a row, or a pixel and the one below it): each pixel's input runs start `step`
/// after the previous one's, the weight runs are the same, so a block of four output channels
/// keeps `4·N` sums and each loaded weight feeds `N` of them. Every sum in the order of [`forward_grouped_px`].
#[inline(always)]
fn forward_px_run<'a, S: Scalar + 'a, W: Params<'a, S>, B: Params<'a, S>, const N: usize>(
    s: &Conv2dShape,
    d: Dims,
    rows: Window,
    step: usize,
    (cols, w, b, x): (Window, W, B, &[S]),
    mut y_px: [Option<&mut [S]>; N],
) {
    let run = cols.len() * d.cig;
    let mut w_rows = w.rows(d.wper);
    let mut biases = b.elems();
    // The output channel the next block starts at.
    let mut o = 0;
    // The `N` pixels' input runs of kernel row `ki`, and the weights' offset.
    let runs = |ki: usize| -> Option<([&[S]; N], usize)> {
        let ih = rows.i0 + (ki - rows.k0);
        let xs = (ih * s.in_w + cols.i0) * s.in_c;
        let mut xr: [&[S]; N] = [&[]; N];
        for (j, r) in xr.iter_mut().enumerate() {
            let at = xs + j * step;
            *r = x.get(at..at + run)?;
        }
        Some((xr, ki * d.wrow + cols.k0 * d.cig))
    };
    // The window's runs as one frame, for a kernel that takes them all at once.
    #[cfg(feature = "arm-vldm")]
    let window = {
        let first = (rows.i0 * s.in_w + cols.i0) * s.in_c;
        crate::num::WindowRuns {
            x: core::array::from_fn(|j| first + j * step),
            x_step: s.in_w * s.in_c,
            w: rows.k0 * d.wrow + cols.k0 * d.cig,
            w_step: d.wrow,
            rows: rows.k1.saturating_sub(rows.k0),
            run,
        }
    };
    let mut left = d.cog;
    while left >= 4 {
        let (Some(w0), Some(w1), Some(w2), Some(w3)) =
            (w_rows.next(), w_rows.next(), w_rows.next(), w_rows.next())
        else {
            return;
        };
        let mut b4 = [S::ZERO.widen(); 4];
        for a in b4.iter_mut() {
            if let Some(&b_o) = biases.next() {
                *a = b_o.widen();
            }
        }
        let mut acc = [b4; N];
        // A hardware kernel may take the whole window in one call (`arm-vldm`).
        #[cfg(feature = "arm-vldm")]
        let whole = S::window4xn(&mut acc, x, [w0, w1, w2, w3], &window);
        #[cfg(not(feature = "arm-vldm"))]
        let whole = false;
        if !whole {
            for ki in rows.k0..rows.k1 {
                let Some((xr, ws)) = runs(ki) else { continue };
                let (Some(r0), Some(r1), Some(r2), Some(r3)) = (
                    w0.get(ws..ws + run),
                    w1.get(ws..ws + run),
                    w2.get(ws..ws + run),
                    w3.get(ws..ws + run),
                ) else {
                    continue;
                };
                kernel::dot4xn::<S, N>(&mut acc, xr, [r0, r1, r2, r3]);
            }
        }
        for (a, y) in acc.iter().zip(y_px.iter_mut()) {
            let dst = y.as_deref_mut().and_then(|y| y.get_mut(o..));
            if let Some(dst) = dst.and_then(|r| r.first_chunk_mut::<4>()) {
                *dst = a.map(S::narrow);
            }
        }
        o += 4;
        left -= 4;
    }
    for _ in 0..left {
        let (Some(w0), Some(&b_o)) = (w_rows.next(), biases.next()) else {
            return;
        };
        let mut acc = [b_o.widen(); N];
        for ki in rows.k0..rows.k1 {
            let Some((xr, ws)) = runs(ki) else { continue };
            let Some(r0) = w0.get(ws..ws + run) else {
                continue;
            };
            for (a, xp) in acc.iter_mut().zip(xr) {
                for (&wv, &xv) in r0.iter().zip(xp) {
                    *a = S::mul_acc(*a, wv, xv);
                }
            }
        }
        for (&v, y) in acc.iter().zip(y_px.iter_mut()) {
            if let Some(dst) = y.as_deref_mut().and_then(|y| y.get_mut(o)) {
                *dst = S::narrow(v);
            }
        }
        o += 1;
    }
}

/// One output pixel of a convolution whose groups each have several channels: blocks of four
/// output channels of one group share each loaded input value.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn forward_grouped_px<'a, S: Scalar + 'a, W: Params<'a, S>, B: Params<'a, S>>(
    s: &Conv2dShape,
    d: Dims,
    rows: Window,
    cols: Window,
    w: W,
    b: B,
    x: &[S],
    y_px: &mut [S],
) {
    let nk = cols.len();
    // With one group the taps of a kernel row are one contiguous run in both `x` and `W`.
    let (runs, run) = if s.groups == 1 {
        (1, nk * d.cig)
    } else {
        (nk, d.cig)
    };
    let mut w_rows = w.rows(d.wper);
    let mut biases = b.elems();
    let mut y_out = y_px.iter_mut();
    for g in 0..s.groups {
        let c0 = g * d.cig;
        let mut left = d.cog;
        while left > 0 {
            if left >= 4 {
                let (Some(w0), Some(w1), Some(w2), Some(w3)) =
                    (w_rows.next(), w_rows.next(), w_rows.next(), w_rows.next())
                else {
                    return;
                };
                let mut acc = [S::ZERO.widen(); 4];
                for a in acc.iter_mut() {
                    if let Some(&b_o) = biases.next() {
                        *a = b_o.widen();
                    }
                }
                for ki in rows.k0..rows.k1 {
                    let ih = rows.i0 + (ki - rows.k0);
                    let xb = (ih * s.in_w + cols.i0) * s.in_c + c0;
                    let wb = ki * d.wrow + cols.k0 * d.cig;
                    for r in 0..runs {
                        let (xs, ws) = (xb + r * s.in_c, wb + r * d.cig);
                        let (Some(xr), Some(r0), Some(r1), Some(r2), Some(r3)) = (
                            x.get(xs..xs + run),
                            w0.get(ws..ws + run),
                            w1.get(ws..ws + run),
                            w2.get(ws..ws + run),
                            w3.get(ws..ws + run),
                        ) else {
                            continue;
                        };
                        kernel::dot4::<S>(&mut acc, xr, [r0, r1, r2, r3]);
                    }
                }
                for a in acc {
                    if let Some(y_o) = y_out.next() {
                        *y_o = S::narrow(a);
                    }
                }
                left -= 4;
            } else {
                let (Some(w0), Some(&b_o)) = (w_rows.next(), biases.next()) else {
                    return;
                };
                let mut acc = b_o.widen();
                for ki in rows.k0..rows.k1 {
                    let ih = rows.i0 + (ki - rows.k0);
                    let xb = (ih * s.in_w + cols.i0) * s.in_c + c0;
                    let wb = ki * d.wrow + cols.k0 * d.cig;
                    for r in 0..runs {
                        let (xs, ws) = (xb + r * s.in_c, wb + r * d.cig);
                        let (Some(xr), Some(r0)) = (x.get(xs..xs + run), w0.get(ws..ws + run))
                        else {
                            continue;
                        };
                        for (&wv, &xv) in r0.iter().zip(xr) {
                            acc = kernel::mac::<S>(acc, wv, xv);
                        }
                    }
                }
                if let Some(y_o) = y_out.next() {
                    *y_o = S::narrow(acc);
                }
                left -= 1;
            }
        }
    }
}

/// Kernel taps (`kh·kw`) up to which the depthwise kernels gather a block's weights tap-major
/// on the stack (3 × 3 and smaller: at most `9·8` elements).
const DW_TAPS: usize = 9;

/// A depthwise convolution (one input and one output channel per group): blocks of eight, four
/// or one channels, whose inputs are contiguous in the channels-last map, over every pixel.
fn forward_depthwise<'a, S: Scalar + 'a, W: Params<'a, S>, B: Params<'a, S>>(
    s: &Conv2dShape,
    d: Dims,
    w: W,
    b: B,
    x: &[S],
    y: &mut [S],
) {
    let mut w_rows = w.rows(d.wper);
    let mut biases = b.elems();
    let mut c = 0;
    while c < s.out_c {
        let n = match s.out_c - c {
            left if left >= 8 && d.wper <= DW_TAPS && !slides::<S, 4>(s) => 8,
            left if left >= 4 && d.wper <= DW_TAPS => 4,
            _ => 1,
        };
        let (rows, bias) = (w_rows.by_ref().take(n), biases.by_ref().take(n));
        match n {
            8 => forward_dw_block::<S, 8>(
                s,
                d,
                c,
                gather(rows, &[]),
                gather(bias.copied(), S::ZERO),
                x,
                y,
            ),
            4 => forward_dw_block::<S, 4>(
                s,
                d,
                c,
                gather(rows, &[]),
                gather(bias.copied(), S::ZERO),
                x,
                y,
            ),
            _ => {
                if let (Some(w_c), Some(&b_c)) = (rows.last(), bias.last()) {
                    forward_dw_channel(s, d, c, w_c, b_c, x, y);
                }
            }
        }
        c += n;
    }
}

/// `N` consecutive channels of a depthwise convolution with at most [`DW_TAPS`] taps: their
/// weights gathered tap-major, so each tap is one contiguous load of weights and one of inputs.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn forward_dw_block<S: Scalar, const N: usize>(
    s: &Conv2dShape,
    d: Dims,
    c: usize,
    rows: [&[S]; N],
    bias: [S; N],
    x: &[S],
    y: &mut [S],
) {
    let wt = tap_major::<S, N>(rows);
    if slides::<S, N>(s) {
        return forward_dw_slide(s, d, c, &wt, bias, x, y);
    }
    let mut pixels = y.chunks_exact_mut(s.out_c);
    let mut p = 0;
    while let Some(y_px) = pixels.next() {
        let (oh, ow) = (p / d.ow, p % d.ow);
        let rows = Window::of(oh, s.stride_h, s.pad_h.before, s.in_h, s.kh);
        let cols = Window::of(ow, s.stride_w, s.pad_w.before, s.in_w, s.kw);
        // A neighbour whose window taps the same kernel columns shares each loaded weight.
        let twin = kernel::blocked::<S>() && ow + 1 < d.ow && {
            let next = Window::of(ow + 1, s.stride_w, s.pad_w.before, s.in_w, s.kw);
            (next.k0, next.k1) == (cols.k0, cols.k1)
        };
        let y_next = if twin { pixels.next() } else { None };
        let window = (rows, cols);
        match y_next {
            Some(y_n) => {
                let [a, b] = dw_sums::<S, N, 2>(s, c, &wt, bias, window, x);
                if let Some(y_c) = dw_block::<S, N>(y_px, c) {
                    *y_c = a;
                }
                if let Some(y_c) = dw_block::<S, N>(y_n, c) {
                    *y_c = b;
                }
                p += 2;
            }
            None => {
                let [a] = dw_sums::<S, N, 1>(s, c, &wt, bias, window, x);
                if let Some(y_c) = dw_block::<S, N>(y_px, c) {
                    *y_c = a;
                }
                p += 1;
            }
        }
    }
}

/// [`forward_dw_block`] for a layer that [`slides`]: each output row in runs of four pixels
/// (three, two or one at its end), each kernel row sliding along its input row.
#[inline(always)]
fn forward_dw_slide<S: Scalar, const N: usize>(
    s: &Conv2dShape,
    d: Dims,
    c: usize,
    wt: &[[S; N]; DW_TAPS],
    bias: [S; N],
    x: &[S],
    y: &mut [S],
) {
    for (oh, y_row) in y.chunks_mut((d.ow * s.out_c).max(1)).enumerate() {
        let rows = Window::of(oh, s.stride_h, s.pad_h.before, s.in_h, s.kh);
        #[cfg(not(feature = "arm-vldm"))]
        let mut ow = 0;
        // A hardware kernel may take the row's first runs (`arm-vldm`); the rest goes on here.
        #[cfg(feature = "arm-vldm")]
        let mut ow = {
            let at = crate::num::DwRow {
                x: rows.i0 * s.in_w * s.in_c + c,
                x_row: isize::try_from(s.in_w * s.in_c).unwrap_or(isize::MAX),
                x_col: s.in_c,
                in_w: s.in_w,
                pad: s.pad_w.before,
                w: rows.k0 * DW_SLIDE,
                rows: rows.k1 - rows.k0,
                y: c,
                y_col: s.out_c,
                out_w: d.ow,
                flip: false,
            };
            S::dw_row_prefix::<N>(y_row, x, wt, &bias, &at)
        };
        while ow < d.ow {
            let Some(y_p) = y_row.get_mut(ow * s.out_c..) else {
                return;
            };
            let at = (rows, ow);
            ow += match d.ow - ow {
                4.. => dw_slide_out::<S, N, 4>(s, c, wt, bias, at, x, y_p),
                3 => dw_slide_out::<S, N, 3>(s, c, wt, bias, at, x, y_p),
                2 => dw_slide_out::<S, N, 2>(s, c, wt, bias, at, x, y_p),
                _ => dw_slide_out::<S, N, 1>(s, c, wt, bias, at, x, y_p),
            };
        }
    }
}

/// The kernel width that depthwise blocks slide along a row ([`kernel::slide`]).
const DW_SLIDE: usize = 3;

/// The columns that a slide of at most four pixels reads.
const DW_SLIDE_COLS: usize = 4 + DW_SLIDE - 1;

/// The offsets in a row of `len` pixels of `stride` elements of channel `c` of the slide's
/// columns `first + j` (wrapping), or an offset past every row for a column outside it.
#[inline(always)]
fn slide_offsets(first: usize, len: usize, stride: usize, c: usize) -> [usize; DW_SLIDE_COLS] {
    from_fn(|j| {
        let col = first.wrapping_add(j);
        if col < len {
            col * stride + c
        } else {
            usize::MAX
        }
    })
}

/// Whether the depthwise kernels slide `N`-channel blocks of this layer along its rows: `f32`
/// in hardware, stride 1 across, [`DW_SLIDE`] kernel columns and at most four channels (the
/// three taps' weights, a column and four pixels' sums fill the 32 FPU registers).
#[inline(always)]
fn slides<S: Scalar, const N: usize>(s: &Conv2dShape) -> bool {
    kernel::blocked::<S>()
        && N <= 4
        && s.kw == DW_SLIDE
        && s.stride_w == 1
        && s.kh * s.kw <= DW_TAPS
}

/// The `P` output pixels `ow…` of one row (channels `c..c + N`, written from `y` on), whose
/// kernel rows `rows` tap the input: each kernel row slides along its input row, the columns
/// outside the input (padding) adding nothing. Returns `P`.
#[inline(always)]
fn dw_slide_out<S: Scalar, const N: usize, const P: usize>(
    s: &Conv2dShape,
    c: usize,
    wt: &[[S; N]; DW_TAPS],
    bias: [S; N],
    (rows, ow): (Window, usize),
    x: &[S],
    y: &mut [S],
) -> usize {
    let mut acc = [bias.map(S::widen); P];
    // Column `j` of the slide is input column `ow + j − left`; its offset in an input row, or
    // an offset past every row if it lies in the padding.
    let first = ow.wrapping_sub(s.pad_w.before);
    let offsets = slide_offsets(first, s.in_w, s.in_c, c);
    for ki in rows.k0..rows.k1 {
        let ih = rows.i0 + (ki - rows.k0);
        let x_row = x.get(ih * s.in_w * s.in_c..).unwrap_or_default();
        slide_row::<S, N, P, false>(&mut acc, wt, ki, x_row, &offsets);
    }
    store_pixels(acc.map(|a| a.map(S::narrow)), s.out_c, c, y)
}

/// Kernel row `ki` of `wt` sliding (flipped with `REV`) along `row`, whose columns start at
/// `offsets` ([`slide_offsets`]).
#[inline(always)]
fn slide_row<S: Scalar, const N: usize, const P: usize, const REV: bool>(
    acc: &mut [[S::Acc; N]; P],
    wt: &[[S; N]; DW_TAPS],
    ki: usize,
    row: &[S],
    offsets: &[usize; DW_SLIDE_COLS],
) {
    let Some(w) = wt
        .get(ki * DW_SLIDE..)
        .and_then(|r| r.first_chunk::<DW_SLIDE>())
    else {
        return;
    };
    kernel::slide::<S, N, P, DW_SLIDE, REV>(acc, *w, |j| {
        let at = *offsets.get(j)?;
        row.get(at..)?.first_chunk::<N>()
    });
}

/// Writes channels `c..c + N` of `P` consecutive pixels of `len` elements from `v` on (as far as
/// `v` holds them). Returns `P`.
#[inline(always)]
fn store_pixels<S: Copy, const N: usize, const P: usize>(
    sums: [[S; N]; P],
    len: usize,
    c: usize,
    v: &mut [S],
) -> usize {
    for (q, sum) in sums.into_iter().enumerate() {
        if let Some(out) = dw_block::<S, N>(v, q * len + c) {
            *out = sum;
        }
    }
    P
}

/// Channels `c..c + N` of an output pixel.
#[inline(always)]
fn dw_block<S, const N: usize>(y: &mut [S], c: usize) -> Option<&mut [S; N]> {
    y.get_mut(c..)?.first_chunk_mut::<N>()
}

/// The outputs of channels `c..c + N` at `P` horizontally neighbouring pixels whose windows
/// (`rows`, `cols` of the first) tap the same kernel offsets: each loaded tap-major weight
/// feeds the `P` pixels' sums, each in the one-pixel order.
#[inline(always)]
fn dw_sums<S: Scalar, const N: usize, const P: usize>(
    s: &Conv2dShape,
    c: usize,
    wt: &[[S; N]; DW_TAPS],
    bias: [S; N],
    (rows, cols): (Window, Window),
    x: &[S],
) -> [[S; N]; P] {
    // Each next pixel reads its inputs this much further on.
    let step = s.stride_w * s.in_c;
    let mut acc = [bias.map(S::widen); P];
    for ki in rows.k0..rows.k1 {
        let ih = rows.i0 + (ki - rows.k0);
        let t0 = ki * s.kw + cols.k0;
        let Some(wt_row) = wt.get(t0..t0 + cols.len()) else {
            continue;
        };
        let mut off = (ih * s.in_w + cols.i0) * s.in_c + c;
        for wv in wt_row {
            for (q, a) in acc.iter_mut().enumerate() {
                let at = off + q * step;
                let Some(xv) = x.get(at..).and_then(|r| r.first_chunk::<N>()) else {
                    continue;
                };
                for j in 0..N {
                    a[j] = kernel::mac::<S>(a[j], wv[j], xv[j]);
                }
            }
            off += s.in_c;
        }
    }
    acc.map(|a| a.map(S::narrow))
}

/// One channel of a depthwise convolution (any kernel size).
fn forward_dw_channel<S: Scalar>(
    s: &Conv2dShape,
    d: Dims,
    c: usize,
    w_c: &[S],
    b_c: S,
    x: &[S],
    y: &mut [S],
) {
    for (p, y_px) in y.chunks_exact_mut(s.out_c).enumerate() {
        let (oh, ow) = (p / d.ow, p % d.ow);
        let rows = Window::of(oh, s.stride_h, s.pad_h.before, s.in_h, s.kh);
        let cols = Window::of(ow, s.stride_w, s.pad_w.before, s.in_w, s.kw);
        let mut acc = b_c.widen();
        for ki in rows.k0..rows.k1 {
            let ih = rows.i0 + (ki - rows.k0);
            let t0 = ki * s.kw + cols.k0;
            let Some(w_row) = w_c.get(t0..t0 + cols.len()) else {
                continue;
            };
            let base = (ih * s.in_w + cols.i0) * s.in_c + c;
            for (&wv, xv) in w_row
                .iter()
                .zip(x.get(base..).unwrap_or_default().iter().step_by(s.in_c))
            {
                acc = kernel::mac::<S>(acc, wv, *xv);
            }
        }
        if let Some(y_c) = y_px.get_mut(c) {
            *y_c = S::narrow(acc);
        }
    }
}

/// The first `N` items of `it` (`fill` for missing ones, which the callers never leave).
#[inline(always)]
fn gather<T: Copy, const N: usize>(mut it: impl Iterator<Item = T>, fill: T) -> [T; N] {
    core::array::from_fn(|_| it.next().unwrap_or(fill))
}

/// The kernel offsets `k0..k1` of one output position whose taps fall inside the input, and the
/// input index `i0` that offset `k0` taps.
#[derive(Clone, Copy)]
struct Window {
    k0: usize,
    k1: usize,
    i0: usize,
}

impl Window {
    /// For output position `o` with `stride`, `before` padding, input length `len`, kernel `k`.
    #[inline(always)]
    fn of(o: usize, stride: usize, before: usize, len: usize, k: usize) -> Window {
        let start = o * stride;
        let k0 = before.saturating_sub(start).min(k);
        let k1 = (len + before).saturating_sub(start).clamp(k0, k.max(k0));
        Window {
            k0,
            k1,
            i0: (start + k0).saturating_sub(before),
        }
    }

    fn len(self) -> usize {
        self.k1.saturating_sub(self.k0)
    }
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
pub(super) fn backward_in<'a, S: Scalar + 'a, W: Params<'a, S>>(
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
        input_gradient_of(s, d, w, dy, dx);
    }
    if let Some((dw, db)) = grads {
        // Each sum: one product per output pixel.
        let (gl, xl) = ((once(dy), dy.len()), (once(x), x.len()));
        if kernel::may_saturate::<S>(None::<Once<&[S]>>, d.oh * d.ow, gl, xl) {
            saturating::weight_gradient(s, x, dy, dw);
            bias_gradient(s.out_c, dy, db);
        } else {
            weight_gradient(s, d, x, dy, dw, db);
        }
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

pub(super) fn backward_input_in<'a, S: Scalar + 'a, W: Params<'a, S>>(
    s: &Conv2dShape,
    w: W,
    dy: &[S],
    dx: &mut [S],
) -> Result<(), Error> {
    check_shape(s.valid())?;
    check_len(s.weights(), w.len())?;
    check_len(s.output_len(), dy.len())?;
    check_len(s.input_len(), dx.len())?;
    input_gradient_of(s, Dims::of(s), w, dy, dx);
    Ok(())
}

/// [`input_gradient`], or its saturating definition where a sum might saturate.
#[inline(always)]
fn input_gradient_of<'a, S: Scalar + 'a, W: Params<'a, S>>(
    s: &Conv2dShape,
    d: Dims,
    w: W,
    dy: &[S],
    dx: &mut [S],
) {
    // Each sum: one product per kernel offset and output channel of the group.
    let (wl, gl) = ((w.rows(d.wper), w.len()), (once(dy), dy.len()));
    if kernel::may_saturate::<S>(None::<Once<&[S]>>, s.kh * s.kw * d.cog, wl, gl) {
        saturating::input_gradient(s, w, dy, dx);
    } else {
        input_gradient(s, d, w, dy, dx);
    }
}

/// `dx[ih][iw][c] = Σ W[o][ki][kj][ci]·dy[oh][ow][o]` over the outputs `o` of `c`'s group and the
/// offsets with `oh·sh + ki − top = ih`, `ow·sw + kj − left = iw`, each sum in the order
/// `ki`, `kj`, `o`. Lengths checked by the caller.
fn input_gradient<'a, S: Scalar + 'a, W: Params<'a, S>>(
    s: &Conv2dShape,
    d: Dims,
    w: W,
    dy: &[S],
    dx: &mut [S],
) {
    let mut c = 0;
    if d.cig == 1 && d.cog == 1 && d.wper <= DW_TAPS {
        // Depthwise: blocks of channels, contiguous in `dy` and `dx`.
        let mut rows = w.rows(d.wper);
        while s.in_c - c >= 4 {
            let n = if s.in_c - c >= 8 && !slides::<S, 4>(s) {
                8
            } else {
                4
            };
            let r = rows.by_ref().take(n);
            match n {
                8 => input_gradient_dw::<S, 8>(s, d, c, gather(r, &[]), dy, dx),
                _ => input_gradient_dw::<S, 4>(s, d, c, gather(r, &[]), dy, dx),
            }
            c += n;
        }
    }
    if c == s.in_c {
        return;
    }
    // One group, stride 1 across, narrow sums: runs of four or two neighbouring input pixels
    // tapped by the same kernel columns share each loaded weight.
    let runs = s.groups == 1 && s.stride_w == 1 && c == 0 && kernel::blocked::<S>();
    let mut rest = dx;
    let (mut ih, mut iw) = (0, 0);
    while !rest.is_empty() {
        // Both ends of the tapping columns only grow with `iw`, so equal sets at both ends of
        // a run mean equal sets throughout.
        let cols = |i| tap_columns(s, d, i);
        let twins = |n: usize| runs && iw + n <= s.in_w && cols(iw + n - 1) == cols(iw);
        let n = if twins(4) {
            4
        } else if twins(2) {
            2
        } else {
            1
        };
        let Some((dx_now, tail)) = core::mem::take(&mut rest).split_at_mut_checked(n * s.in_c)
        else {
            break;
        };
        rest = tail;
        if !runs {
            input_gradient_px(s, d, w, dy, (ih, iw), c, dx_now);
        } else {
            let at = (ih, iw);
            match n {
                4 => pixels(dx_now, s.in_c)
                    .map(|px| input_gradient_run::<S, W, 4>(s, d, w, dy, at, px)),
                2 => pixels(dx_now, s.in_c)
                    .map(|px| input_gradient_run::<S, W, 2>(s, d, w, dy, at, px)),
                _ => pixels(dx_now, s.in_c)
                    .map(|px| input_gradient_run::<S, W, 1>(s, d, w, dy, at, px)),
            };
        }
        iw += n;
        if iw >= s.in_w {
            (ih, iw) = (ih + 1, 0);
        }
    }
}

/// The first `P` pixels of `len` elements of `v`, if it holds them.
#[inline(always)]
fn pixels<S, const P: usize>(v: &mut [S], len: usize) -> Option<[&mut [S]; P]> {
    let mut out: [&mut [S]; P] = core::array::from_fn(|_| <&mut [S]>::default());
    let mut rest = v;
    for px in out.iter_mut() {
        let (this, tail) = core::mem::take(&mut rest).split_at_mut_checked(len)?;
        (*px, rest) = (this, tail);
    }
    Some(out)
}

/// Whether input column `iw + 1` exists and, with horizontal stride 1, is tapped by exactly the
/// kernel columns that tap `iw` (through output `ow + 1` where `iw` goes through `ow`): then the
/// two pixels can share each loaded weight.
#[inline(always)]
fn tapped_like_next(s: &Conv2dShape, d: Dims, iw: usize) -> bool {
    iw + 1 < s.in_w && tap_columns(s, d, iw) == tap_columns(s, d, iw + 1)
}

/// The kernel columns `kj0..kj1` that tap input column `iw` with horizontal stride 1: those with
/// `ow = iw + left − kj` inside `0..out_w` (`(0, 0)` if none).
#[inline(always)]
fn tap_columns(s: &Conv2dShape, d: Dims, iw: usize) -> (usize, usize) {
    let t = iw + s.pad_w.before;
    let (kj0, kj1) = ((t + 1).saturating_sub(d.ow), (t + 1).min(s.kw));
    if kj0 < kj1 {
        (kj0, kj1)
    } else {
        (0, 0)
    }
}

/// The input gradient of the `P` (1, 2 or 4) neighbouring input pixels `(ih, iw)…` of a
/// one-group convolution with horizontal stride 1, which the same kernel columns tap: each
/// loaded weight feeds every pixel's sums, each sum in the order of [`input_gradient_at`].
#[inline(always)]
fn input_gradient_run<'a, S: Scalar + 'a, W: Params<'a, S>, const P: usize>(
    s: &Conv2dShape,
    d: Dims,
    w: W,
    dy: &[S],
    (ih, iw): (usize, usize),
    mut dx: [&mut [S]; P],
) {
    let at = (ih, iw);
    let mut ci = 0;
    while ci < d.cig {
        // Blocks of four input channels, then a pair, then a single one.
        let n = match d.cig - ci {
            1 => 1,
            2 | 3 => 2,
            _ => 4,
        };
        match n {
            4 => store_run(
                &mut dx,
                ci,
                input_gradient_run_at::<S, W, P, 4>(s, d, w, dy, at, ci),
            ),
            2 => store_run(
                &mut dx,
                ci,
                input_gradient_run_at::<S, W, P, 2>(s, d, w, dy, at, ci),
            ),
            _ => store_run(
                &mut dx,
                ci,
                input_gradient_run_at::<S, W, P, 1>(s, d, w, dy, at, ci),
            ),
        }
        ci += n;
    }
}

/// `dx[p][ci..ci + M] = v[p]` for the pixels of [`input_gradient_run`].
#[inline(always)]
fn store_run<S: Scalar, const P: usize, const M: usize>(
    dx: &mut [&mut [S]; P],
    ci: usize,
    v: [[S; M]; P],
) {
    for (px, vals) in dx.iter_mut().zip(v) {
        if let Some(dst) = px.get_mut(ci..).and_then(|r| r.first_chunk_mut::<M>()) {
            *dst = vals;
        }
    }
}

/// [`input_gradient_at`] for the channels `ci..ci + M` of the pixels of [`input_gradient_run`].
#[inline(always)]
fn input_gradient_run_at<'a, S: Scalar + 'a, W: Params<'a, S>, const P: usize, const M: usize>(
    s: &Conv2dShape,
    d: Dims,
    w: W,
    dy: &[S],
    (ih, iw): (usize, usize),
    ci: usize,
) -> [[S; M]; P] {
    let mut acc = [[S::ZERO.widen(); M]; P];
    let (kj0, kj1) = tap_columns(s, d, iw);
    let t = iw + s.pad_w.before;
    for ki in 0..s.kh {
        let Some(oh) = tapped_by(ih, s.stride_h, ki, s.pad_h.before, d.oh) else {
            continue;
        };
        for kj in kj0..kj1 {
            // Pixel `iw + p` goes through output `t − kj + p` (inside the map: `tap_columns`).
            let base = (oh * d.ow + t - kj) * s.out_c;
            let Some(gk) = dy.get(base..base + (P - 1) * s.out_c + d.cog) else {
                continue;
            };
            // Pixel `p`'s `dy` from its first channel on (the loop reads the first `cog`).
            let g: [&[S]; P] = core::array::from_fn(|p| gk.get(p * s.out_c..).unwrap_or(&[]));
            let offset = ki * d.wrow + kj * d.cig + ci;
            // A hardware kernel may take four pixels' block of four channels (`arm-vldm`).
            #[cfg(feature = "arm-vldm")]
            if P == 4 && M == 4 {
                let at = crate::num::Columns {
                    w: offset,
                    w_row: d.wper,
                    dy: base,
                    dy_px: s.out_c,
                    rows: d.cog,
                };
                let flat = acc.as_flattened_mut().first_chunk_mut::<16>();
                let runs = w.runs();
                if let (Some(flat), Some(runs)) = (flat, runs) {
                    if S::columns4x4(flat, runs, dy, &at) {
                        continue;
                    }
                }
            }
            kernel::columns(w.rows(d.wper), g, |row, u| {
                let Some(wv) = row.get(offset..).and_then(|r| r.first_chunk::<M>()) else {
                    return;
                };
                for (a, &u_p) in acc.iter_mut().zip(&u) {
                    for m in 0..M {
                        a[m] = S::mul_acc(a[m], wv[m], u_p);
                    }
                }
            });
        }
    }
    acc.map(|a| a.map(S::narrow))
}

/// The input gradient of input pixel `(ih, iw)`, every group, from channel `c` of each group on
/// (the channels before it were done by the depthwise blocks).
#[inline(always)]
fn input_gradient_px<'a, S: Scalar + 'a, W: Params<'a, S>>(
    s: &Conv2dShape,
    d: Dims,
    w: W,
    dy: &[S],
    (ih, iw): (usize, usize),
    c: usize,
    dx_px: &mut [S],
) {
    for g in 0..s.groups {
        let Some(dx_g) = dx_px.get_mut((g * d.cig).max(c)..(g + 1) * d.cig) else {
            continue;
        };
        // Within the group: runs of four input channels, then single ones.
        let ci0 = d.cig - dx_g.len();
        let (dx4, dx1) = dx_g.as_chunks_mut::<4>();
        let n4 = dx4.len();
        for (blk, dx_b) in dx4.iter_mut().enumerate() {
            *dx_b = input_gradient_at::<S, W, 4>(s, d, w, dy, (ih, iw), g, ci0 + 4 * blk);
        }
        // The last one to three channels: a pair, then a single one.
        let ci = ci0 + 4 * n4;
        let (dx2, dx_last) = dx1.as_chunks_mut::<2>();
        if let Some(dx_p) = dx2.first_mut() {
            *dx_p = input_gradient_at::<S, W, 2>(s, d, w, dy, (ih, iw), g, ci);
        }
        if let Some(dx_c) = dx_last.first_mut() {
            let [v] = input_gradient_at::<S, W, 1>(s, d, w, dy, (ih, iw), g, ci + 2 * dx2.len());
            *dx_c = v;
        }
    }
}

/// `dx` at input pixel `(ih, iw)` for the `M` channels `ci..ci + M` of group `g`.
#[inline(always)]
fn input_gradient_at<'a, S: Scalar + 'a, W: Params<'a, S>, const M: usize>(
    s: &Conv2dShape,
    d: Dims,
    w: W,
    dy: &[S],
    (ih, iw): (usize, usize),
    g: usize,
    ci: usize,
) -> [S; M] {
    let o0 = g * d.cog;
    let mut acc = [S::ZERO.widen(); M];
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
            for (row, &g_o) in w.rows(d.wper).skip(o0).zip(dy_g) {
                let Some(wv) = row.get(offset..).and_then(|r| r.first_chunk::<M>()) else {
                    continue;
                };
                for m in 0..M {
                    acc[m] = kernel::mac::<S>(acc[m], wv[m], g_o);
                }
            }
        }
    }
    acc.map(S::narrow)
}

/// The input gradient of `N` consecutive channels of a depthwise convolution with at most
/// [`DW_TAPS`] taps, weights gathered tap-major (as [`forward_dw_block`]).
#[inline(never)]
fn input_gradient_dw<S: Scalar, const N: usize>(
    s: &Conv2dShape,
    d: Dims,
    c: usize,
    rows: [&[S]; N],
    dy: &[S],
    dx: &mut [S],
) {
    let wt = tap_major::<S, N>(rows);
    if slides::<S, N>(s) {
        return input_gradient_dw_slide(s, d, c, &wt, dy, dx);
    }
    let pairs = s.stride_w == 1 && kernel::blocked::<S>();
    let mut pixels = dx.chunks_exact_mut(s.in_c);
    let mut p = 0;
    while let Some(dx_px) = pixels.next() {
        let (ih, iw) = (p / s.in_w, p % s.in_w);
        // With stride 1 across, input pixel `iw + 1` is tapped through output `ow + 1` by the
        // same kernel column; where the same columns tap both, they share each loaded weight.
        let twin = pairs && tapped_like_next(s, d, iw);
        let dx_next = if twin { pixels.next() } else { None };
        match dx_next {
            Some(dx_n) => {
                let [a, b] = dw_grad_sums::<S, N, 2>(s, d, c, &wt, (ih, iw), dy);
                if let Some(dx_c) = dw_block::<S, N>(dx_px, c) {
                    *dx_c = a;
                }
                if let Some(dx_c) = dw_block::<S, N>(dx_n, c) {
                    *dx_c = b;
                }
                p += 2;
            }
            None => {
                let [a] = dw_grad_sums::<S, N, 1>(s, d, c, &wt, (ih, iw), dy);
                if let Some(dx_c) = dw_block::<S, N>(dx_px, c) {
                    *dx_c = a;
                }
                p += 1;
            }
        }
    }
}

/// [`input_gradient_dw`] for a layer that [`slides`]: each input row in runs of four pixels
/// (three, two or one at its end), each kernel row sliding flipped along an output row.
#[inline(always)]
fn input_gradient_dw_slide<S: Scalar, const N: usize>(
    s: &Conv2dShape,
    d: Dims,
    c: usize,
    wt: &[[S; N]; DW_TAPS],
    dy: &[S],
    dx: &mut [S],
) {
    for (ih, dx_row) in dx.chunks_mut((s.in_w * s.in_c).max(1)).enumerate() {
        #[cfg(not(feature = "arm-vldm"))]
        let mut iw = 0;
        // A hardware kernel may take the row's first runs (`arm-vldm`); the rest goes on here.
        #[cfg(feature = "arm-vldm")]
        let mut iw = dw_grad_row_prefix::<S, N>(s, d, c, wt, ih, dy, dx_row);
        while iw < s.in_w {
            let Some(dx_p) = dx_row.get_mut(iw * s.in_c..) else {
                return;
            };
            let at = (ih, iw);
            iw += match s.in_w - iw {
                4.. => dw_slide_grad::<S, N, 4>(s, d, c, wt, at, dy, dx_p),
                3 => dw_slide_grad::<S, N, 3>(s, d, c, wt, at, dy, dx_p),
                2 => dw_slide_grad::<S, N, 2>(s, d, c, wt, at, dy, dx_p),
                _ => dw_slide_grad::<S, N, 1>(s, d, c, wt, at, dy, dx_p),
            };
        }
    }
}

/// The first pixels of input row `ih`'s gradient (channels `c..c + N`) by a hardware kernel
/// ([`Scalar::dw_row_prefix`], flipped), bit for bit as [`dw_slide_grad`]: with stride 1 down,
/// kernel rows `k0..k1` tap the output rows `ih + top − k`, going up as `k` goes on. Returns how
/// many pixels it wrote.
#[cfg(feature = "arm-vldm")]
#[inline(always)]
fn dw_grad_row_prefix<S: Scalar, const N: usize>(
    s: &Conv2dShape,
    d: Dims,
    c: usize,
    wt: &[[S; N]; DW_TAPS],
    ih: usize,
    dy: &[S],
    dx_row: &mut [S],
) -> usize {
    let below = ih + s.pad_h.before;
    let (Some(pad), true) = ((DW_SLIDE - 1).checked_sub(s.pad_w.before), s.stride_h == 1) else {
        return 0;
    };
    let k0 = (below + 1).saturating_sub(d.oh);
    let k1 = s.kh.min(below + 1);
    if k0 >= k1 {
        return 0;
    }
    let dy_row = d.ow * s.out_c;
    let at = crate::num::DwRow {
        x: (below - k0) * dy_row + c,
        x_row: isize::try_from(dy_row).map_or(isize::MAX, |r| -r),
        x_col: s.out_c,
        in_w: d.ow,
        pad,
        w: k0 * DW_SLIDE,
        rows: k1 - k0,
        y: c,
        y_col: s.in_c,
        out_w: s.in_w,
        flip: true,
    };
    S::dw_row_prefix::<N>(dx_row, dy, wt, &[S::ZERO; N], &at)
}

/// The input gradient of the `P` input pixels `(ih, iw)…` (channels `c..c + N`, written from
/// `dx` on): pixel `iw + q` goes through output `iw + q + left − kj`, so each kernel row slides
/// flipped along the output row that taps it, each pixel adding its taps in ascending `kj` as
/// [`dw_grad_sums`] does; outputs outside the map add nothing. Returns `P`.
#[inline(always)]
fn dw_slide_grad<S: Scalar, const N: usize, const P: usize>(
    s: &Conv2dShape,
    d: Dims,
    c: usize,
    wt: &[[S; N]; DW_TAPS],
    (ih, iw): (usize, usize),
    dy: &[S],
    dx: &mut [S],
) -> usize {
    let mut acc = [[S::ZERO.widen(); N]; P];
    // Column `j` of the slide is output column `iw + left − (kw − 1) + j`.
    let first = (iw + s.pad_w.before).wrapping_sub(DW_SLIDE - 1);
    let offsets = slide_offsets(first, d.ow, s.out_c, c);
    for ki in 0..s.kh {
        let Some(oh) = tapped_by(ih, s.stride_h, ki, s.pad_h.before, d.oh) else {
            continue;
        };
        let dy_row = dy.get(oh * d.ow * s.out_c..).unwrap_or_default();
        slide_row::<S, N, P, true>(&mut acc, wt, ki, dy_row, &offsets);
    }
    store_pixels(acc.map(|a| a.map(S::narrow)), s.in_c, c, dx)
}

/// The input gradient of channels `c..c + N` at `P` horizontally neighbouring input pixels from
/// `(ih, iw)` on, which (with stride 1 across) the same kernel offsets tap: pixel `iw + q` goes
/// through output `ow + q`, so each loaded tap-major weight feeds the `P` pixels' sums, each in
/// the one-pixel order.
#[inline(always)]
fn dw_grad_sums<S: Scalar, const N: usize, const P: usize>(
    s: &Conv2dShape,
    d: Dims,
    c: usize,
    wt: &[[S; N]; DW_TAPS],
    (ih, iw): (usize, usize),
    dy: &[S],
) -> [[S; N]; P] {
    let mut acc = [[S::ZERO.widen(); N]; P];
    for ki in 0..s.kh {
        let Some(oh) = tapped_by(ih, s.stride_h, ki, s.pad_h.before, d.oh) else {
            continue;
        };
        for kj in 0..s.kw {
            let Some(ow) = tapped_by(iw, s.stride_w, kj, s.pad_w.before, d.ow) else {
                continue;
            };
            let Some(wv) = wt.get(ki * s.kw + kj) else {
                continue;
            };
            let off = (oh * d.ow + ow) * s.out_c + c;
            for (q, a) in acc.iter_mut().enumerate() {
                let at = off + q * s.out_c;
                let Some(gv) = dy.get(at..).and_then(|r| r.first_chunk::<N>()) else {
                    continue;
                };
                for j in 0..N {
                    a[j] = kernel::mac::<S>(a[j], wv[j], gv[j]);
                }
            }
        }
    }
    acc.map(|a| a.map(S::narrow))
}

/// `N` channels' weight rows gathered tap-major: `wt[t][j] = rows[j][t]` for `t < DW_TAPS`.
#[inline(always)]
fn tap_major<S: Scalar, const N: usize>(rows: [&[S]; N]) -> [[S; N]; DW_TAPS] {
    let mut wt = [[S::ZERO; N]; DW_TAPS];
    for (t, wt_t) in wt.iter_mut().enumerate() {
        for (v, row) in wt_t.iter_mut().zip(rows) {
            if let Some(&r) = row.get(t) {
                *v = r;
            }
        }
    }
    wt
}

/// The outputs `o0..o1` whose kernel offset `k` taps inside an input of `len`: `o·stride + k −
/// before ∈ [0, len)`, `o < out`.
#[inline(always)]
fn outputs_tapping(
    k: usize,
    stride: usize,
    before: usize,
    len: usize,
    out: usize,
) -> (usize, usize) {
    let stride = stride.max(1);
    let o0 = before.saturating_sub(k).div_ceil(stride);
    let o1 = match (len + before).checked_sub(k + 1) {
        Some(last) => (last / stride + 1).min(out),
        None => 0,
    };
    (o0.min(o1), o1)
}

/// `dW += Σ dy·x`, `db += Σ dy`, each sum over the output pixels in order, formed in the
/// accumulator. Lengths checked by the caller.
fn weight_gradient<S: Scalar>(
    s: &Conv2dShape,
    d: Dims,
    x: &[S],
    dy: &[S],
    dw: &mut [S],
    db: &mut [S],
) {
    let mut rows = dw.chunks_exact_mut(d.wper.max(1));
    let mut o = 0;
    while let Some(first) = rows.next() {
        let in_group = d.cog - o % d.cog.max(1);
        let depthwise = d.cig == 1 && d.cog == 1;
        // Eight rows at once where float sums leave the registers for it (see
        // `weight_gradient_block`), else four.
        let n = if depthwise || (in_group >= 8 && kernel::blocked::<S>()) {
            8
        } else {
            4
        };
        let mut block: [&mut [S]; 8] = Default::default();
        block[0] = first;
        let mut k = 1;
        if depthwise || in_group >= 4 {
            while k < n && (depthwise || k < in_group) {
                let Some(r) = rows.next() else { break };
                block[k] = r;
                k += 1;
            }
        }
        match (depthwise, k) {
            (true, 8) => {
                let [a, b, c, e, f, g, h, i] = block;
                weight_gradient_dw::<S, 8>(s, d, o, [a, b, c, e, f, g, h, i], x, dy);
            }
            (true, 4) => {
                let [a, b, c, e, ..] = block;
                weight_gradient_dw::<S, 4>(s, d, o, [a, b, c, e], x, dy);
            }
            // (The guard keeps the eight-row version out of fixed-point and soft-float builds.)
            (false, 8) if kernel::blocked::<S>() => {
                weight_gradient_block::<S, 8>(s, d, o, block, x, dy);
            }
            (false, 4) => {
                let [a, b, c, e, ..] = block;
                weight_gradient_block::<S, 4>(s, d, o, [a, b, c, e], x, dy);
            }
            _ => {
                for (j, r) in block.into_iter().take(k).enumerate() {
                    weight_gradient_block::<S, 1>(s, d, o + j, [r], x, dy);
                }
            }
        }
        o += k;
    }
    bias_gradient(s.out_c, dy, db);
}

/// `db[o] += Σ dy[p][o]` over the pixels `p` in order, in blocks of eight channels (four with
/// fixed point's 64-bit sums) per pass over `dy` (`out_c` channels per pixel; `db` may hold
/// only the leading ones).
pub(crate) fn bias_gradient<S: Scalar>(out_c: usize, dy: &[S], db: &mut [S]) {
    let mut o = 0;
    while o < db.len() {
        let left = db.len() - o;
        o += if left >= 8 && kernel::blocked::<S>() {
            bias_block::<S, 8>(out_c, o, dy, db)
        } else if left >= 4 {
            bias_block::<S, 4>(out_c, o, dy, db)
        } else {
            bias_block::<S, 1>(out_c, o, dy, db)
        };
    }
}

/// `db[o..o + N] += Σ dy[p][o..o + N]`; returns `N`.
#[inline(always)]
fn bias_block<S: Scalar, const N: usize>(out_c: usize, o: usize, dy: &[S], db: &mut [S]) -> usize {
    let mut acc = [S::ZERO.widen(); N];
    for px in dy.chunks_exact(out_c.max(1)) {
        let Some(g) = px.get(o..).and_then(|r| r.first_chunk::<N>()) else {
            break;
        };
        for j in 0..N {
            acc[j] = S::add_acc(acc[j], g[j]);
        }
    }
    if let Some(d) = db.get_mut(o..).and_then(|r| r.first_chunk_mut::<N>()) {
        for (d_j, a) in d.iter_mut().zip(acc) {
            *d_j = d_j.add(S::narrow(a));
        }
    }
    N
}

/// `dW` of the `N` consecutive output channels `o..o + N` of one group: for each kernel offset,
/// `N × 4` (then `N × 2`, `N × 1`) weights accumulate over the output pixels in registers; with
/// `N = 8` the blocks of four input channels go as two halves of four rows (`8 × 4` sums would
/// not fit the registers), the narrower ones with all eight rows.
#[inline(never)]
fn weight_gradient_block<S: Scalar, const N: usize>(
    s: &Conv2dShape,
    d: Dims,
    o: usize,
    mut rows: [&mut [S]; N],
    x: &[S],
    dy: &[S],
) {
    let c0 = (o / d.cog.max(1)) * d.cig;
    let n4 = d.cig / 4;
    for ki in 0..s.kh {
        let (oh0, oh1) = outputs_tapping(ki, s.stride_h, s.pad_h.before, s.in_h, d.oh);
        for kj in 0..s.kw {
            let (ow0, ow1) = outputs_tapping(kj, s.stride_w, s.pad_w.before, s.in_w, d.ow);
            let wk = ki * d.wrow + kj * d.cig;
            for blk in 0..n4 {
                let c = c0 + 4 * blk;
                if N == 8 {
                    for (half, rows4) in rows.chunks_mut(4).enumerate() {
                        let at = (ki, kj);
                        let sums = weight_sums::<S, 4, 4>(
                            s,
                            d,
                            (oh0, oh1),
                            (ow0, ow1),
                            at,
                            c,
                            o + 4 * half,
                            x,
                            dy,
                        );
                        add_sums(rows4, wk + 4 * blk, sums);
                    }
                } else {
                    let sums =
                        weight_sums::<S, N, 4>(s, d, (oh0, oh1), (ow0, ow1), (ki, kj), c, o, x, dy);
                    add_sums(&mut rows, wk + 4 * blk, sums);
                }
            }
            let mut ci = 4 * n4;
            if d.cig - ci >= 2 {
                let sums = weight_sums::<S, N, 2>(
                    s,
                    d,
                    (oh0, oh1),
                    (ow0, ow1),
                    (ki, kj),
                    c0 + ci,
                    o,
                    x,
                    dy,
                );
                add_sums(&mut rows, wk + ci, sums);
                ci += 2;
            }
            if ci < d.cig {
                let sums = weight_sums::<S, N, 1>(
                    s,
                    d,
                    (oh0, oh1),
                    (ow0, ow1),
                    (ki, kj),
                    c0 + ci,
                    o,
                    x,
                    dy,
                );
                add_sums(&mut rows, wk + ci, sums);
            }
        }
    }
}

/// `rows[j][at + m] += sums[j][m]`.
#[inline(always)]
fn add_sums<S: Scalar, const N: usize, const M: usize>(
    rows: &mut [&mut [S]],
    at: usize,
    sums: [[S; M]; N],
) {
    for (row, sum) in rows.iter_mut().zip(sums) {
        if let Some(dst) = row.get_mut(at..).and_then(|r| r.first_chunk_mut::<M>()) {
            for (v, s_m) in dst.iter_mut().zip(sum) {
                *v = v.add(s_m);
            }
        }
    }
}

/// `Σ dy[oh][ow][o + j]·x[ih][iw][c + m]` over the output pixels that kernel offset `(ki, kj)`
/// maps inside the input, in pixel order.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn weight_sums<S: Scalar, const N: usize, const M: usize>(
    s: &Conv2dShape,
    d: Dims,
    (oh0, oh1): (usize, usize),
    (ow0, ow1): (usize, usize),
    (ki, kj): (usize, usize),
    c: usize,
    o: usize,
    x: &[S],
    dy: &[S],
) -> [[S; M]; N] {
    // A hardware kernel may take a block of four by four (`arm-vldm`).
    #[cfg(feature = "arm-vldm")]
    if N == 4 && M == 4 {
        let at = (|| {
            let ih0 = (oh0 * s.stride_h + ki).checked_sub(s.pad_h.before)?;
            let iw0 = (ow0 * s.stride_w + kj).checked_sub(s.pad_w.before)?;
            Some(crate::num::PixelRows {
                x: (ih0 * s.in_w + iw0) * s.in_c + c,
                dy: (oh0 * d.ow + ow0) * s.out_c + o,
                rows: oh1.saturating_sub(oh0),
                pixels: ow1.saturating_sub(ow0),
                x_px: s.stride_w * s.in_c,
                dy_px: s.out_c,
                x_row: s.stride_h * s.in_w * s.in_c,
                dy_row: d.ow * s.out_c,
            })
        })();
        let mut sums = [S::ZERO.widen(); 16];
        if at.is_some_and(|at| S::pixel_sums4x4(&mut sums, x, dy, &at)) {
            return from_fn(|j| {
                from_fn(|m| S::narrow(sums.get(j * M + m).copied().unwrap_or(S::ZERO.widen())))
            });
        }
    }
    let mut acc = [[S::ZERO.widen(); M]; N];
    for oh in oh0..oh1 {
        let ih = (oh * s.stride_h + ki).saturating_sub(s.pad_h.before);
        let iw0 = (ow0 * s.stride_w + kj).saturating_sub(s.pad_w.before);
        let px0 = (ih * s.in_w + iw0, oh * d.ow + ow0);
        row_pixels::<S, M, N>(s, x, dy, px0, (c, o), ow1.saturating_sub(ow0), |xv, gv| {
            for j in 0..N {
                for m in 0..M {
                    acc[j][m] = kernel::mac::<S>(acc[j][m], gv[j], xv[m]);
                }
            }
        });
    }
    acc.map(|a| a.map(S::narrow))
}

/// Calls `f` on `n` output pixels of one row, in order, with the input channels `c..c + M` of
/// the pixel each taps (starting from input pixel `px0.0`, `stride_w` pixels apart) and the
/// output channels `o..o + N` of `dy` (starting from output pixel `px0.1`).
#[inline(always)]
fn row_pixels<S: Scalar, const M: usize, const N: usize>(
    s: &Conv2dShape,
    x: &[S],
    dy: &[S],
    px0: (usize, usize),
    (c, o): (usize, usize),
    n: usize,
    mut f: impl FnMut(&[S; M], &[S; N]),
) {
    let (xo, go) = (px0.0 * s.in_c, px0.1 * s.out_c);
    // A second copy of the loop, worth its flash only where the sums are FPU multiply-adds.
    if s.stride_w == 1 && kernel::blocked::<S>() {
        // Whole pixels: the windows `c..c + M` and `o..o + N` are checked against the pixels'
        // constant lengths, a check the compiler hoists, so the loop body is only the sums.
        // Exactly `n` pixels each, so the zip's one length is the loop's only counter.
        let xs = x
            .get(xo..xo + n * s.in_c)
            .unwrap_or(&[])
            .chunks_exact(s.in_c);
        let gs = dy
            .get(go..go + n * s.out_c)
            .unwrap_or(&[])
            .chunks_exact(s.out_c);
        for (xp, gp) in xs.zip(gs) {
            let (Some(xv), Some(gv)) = (
                xp.get(c..).and_then(|r| r.first_chunk::<M>()),
                gp.get(o..).and_then(|r| r.first_chunk::<N>()),
            ) else {
                return;
            };
            f(xv, gv);
        }
        return;
    }
    let (mut xo, mut go) = (xo + c, go + o);
    for _ in 0..n {
        let (Some(xv), Some(gv)) = (
            x.get(xo..).and_then(|r| r.first_chunk::<M>()),
            dy.get(go..).and_then(|r| r.first_chunk::<N>()),
        ) else {
            return;
        };
        f(xv, gv);
        xo += s.stride_w * s.in_c;
        go += s.out_c;
    }
}

/// `dW` of the `N` consecutive channels `c..c + N` of a depthwise convolution with at most
/// [`DW_TAPS`] taps: per tap, `N` sums over the output pixels in registers.
#[inline(never)]
fn weight_gradient_dw<S: Scalar, const N: usize>(
    s: &Conv2dShape,
    d: Dims,
    c: usize,
    mut rows: [&mut [S]; N],
    x: &[S],
    dy: &[S],
) {
    for ki in 0..s.kh {
        let (oh0, oh1) = outputs_tapping(ki, s.stride_h, s.pad_h.before, s.in_h, d.oh);
        // A hardware kernel may take the kernel row's taps at once (`arm-vldm`).
        #[cfg(feature = "arm-vldm")]
        if let Some(sums) = dw_taps_sums::<S, N>(s, d, c, (ki, oh0, oh1), x, dy) {
            for (kj, tap) in sums.into_iter().enumerate() {
                add_sums(&mut rows, ki * s.kw + kj, tap.map(|a| [S::narrow(a)]));
            }
            continue;
        }
        for kj in 0..s.kw {
            let (ow0, ow1) = outputs_tapping(kj, s.stride_w, s.pad_w.before, s.in_w, d.ow);
            let mut acc = [S::ZERO.widen(); N];
            for oh in oh0..oh1 {
                let ih = (oh * s.stride_h + ki).saturating_sub(s.pad_h.before);
                let iw0 = (ow0 * s.stride_w + kj).saturating_sub(s.pad_w.before);
                let px0 = (ih * s.in_w + iw0, oh * d.ow + ow0);
                let n = ow1.saturating_sub(ow0);
                row_pixels::<S, N, N>(s, x, dy, px0, (c, c), n, |xv, gv| {
                    for j in 0..N {
                        acc[j] = kernel::mac::<S>(acc[j], gv[j], xv[j]);
                    }
                });
            }
            let sums = acc.map(|a| [S::narrow(a)]);
            add_sums(&mut rows, ki * s.kw + kj, sums);
        }
    }
}

/// Kernel row `ki`'s three taps of [`weight_gradient_dw`] (its output rows `oh0..oh1`) by a
/// hardware kernel ([`Scalar::dw_taps_sums`]), bit for bit as the loops there, where the layer
/// slides along its rows ([`DW_SLIDE`] kernel columns, stride 1 across); `None` where it does not
/// or the kernel does not take them.
#[cfg(feature = "arm-vldm")]
#[inline(always)]
fn dw_taps_sums<S: Scalar, const N: usize>(
    s: &Conv2dShape,
    d: Dims,
    c: usize,
    (ki, oh0, oh1): (usize, usize, usize),
    x: &[S],
    dy: &[S],
) -> Option<[[S::Acc; N]; DW_SLIDE]> {
    if !(kernel::blocked::<S>() && s.kw == DW_SLIDE && s.stride_w == 1 && oh0 < oh1) {
        return None;
    }
    let ih0 = (oh0 * s.stride_h + ki).checked_sub(s.pad_h.before)?;
    let at = crate::num::DwTaps {
        x: ih0 * s.in_w * s.in_c + c,
        x_row: s.stride_h * s.in_w * s.in_c,
        x_col: s.in_c,
        in_w: s.in_w,
        pad: s.pad_w.before,
        dy: oh0 * d.ow * s.out_c + c,
        dy_col: s.out_c,
        out_w: d.ow,
        rows: oh1 - oh0,
    };
    let mut acc = [[S::ZERO.widen(); N]; DW_SLIDE];
    S::dw_taps_sums::<N>(&mut acc, x, dy, &at).then_some(acc)
}

#[cfg(test)]
mod tests {
    use super::{outputs_tapping, Window};
    use std::vec::Vec;

    /// `Window` (per output: the kernel offsets inside the input) and `outputs_tapping` (per
    /// kernel offset: the outputs inside the input) list exactly the pairs that a brute-force scan
    /// of `o·stride + k − before ∈ [0, len)` finds, for every output count up to the shape's.
    #[test]
    fn windows_and_tapping_outputs_match_a_brute_force_scan() {
        for stride in 1usize..4 {
            for k in 1usize..6 {
                for before in 0usize..5 {
                    for len in 1usize..9 {
                        let inside = |o: usize, kk: usize| {
                            (o * stride + kk).checked_sub(before).filter(|&i| i < len)
                        };
                        let max_out = (len + 2 * before).saturating_sub(k) / stride + 1;
                        for o in 0..max_out {
                            let want: Vec<(usize, usize)> = (0..k)
                                .filter_map(|kk| inside(o, kk).map(|i| (kk, i)))
                                .collect();
                            let w = Window::of(o, stride, before, len, k);
                            let got: Vec<(usize, usize)> =
                                (w.k0..w.k1).map(|kk| (kk, w.i0 + (kk - w.k0))).collect();
                            assert_eq!(
                                got, want,
                                "window o={o} s={stride} k={k} b={before} len={len}"
                            );
                        }
                        for out in 1..=max_out {
                            for kk in 0..k {
                                let want: Vec<usize> =
                                    (0..out).filter(|&o| inside(o, kk).is_some()).collect();
                                let (o0, o1) = outputs_tapping(kk, stride, before, len, out);
                                let got: Vec<usize> = (o0..o1).collect();
                                assert_eq!(
                                    got, want,
                                    "outputs k={kk} s={stride} b={before} len={len} out={out}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
