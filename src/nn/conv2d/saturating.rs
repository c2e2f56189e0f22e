//! Convolution sums by their definitions, with saturating adds ([`Scalar::mul_acc`]): the pass a
//! fixed-point layer takes where its operands' bounds do not rule out a saturating sum
//! (`kernel::may_saturate`). Each sum goes in the order of the fast kernels (bias, then kernel
//! rows, kernel columns and input channels forward; kernel rows, kernel columns and the group's
//! output channels for `dx`; output pixels for `dW`), so where nothing saturates both give the
//! same bits. One plain loop per pass, for the least flash: such data are rare.

use super::super::shape::{tap, tapped_by};
use super::super::split::Params;
use super::super::{Conv2dShape, Scalar};

/// `y` from the bias and the products over the kernel offsets inside the input, in order.
/// Lengths checked by the caller.
#[inline(never)]
pub(crate) fn forward<'a, S: Scalar + 'a, W: Params<'a, S>, B: Params<'a, S>>(
    s: &Conv2dShape,
    w: W,
    b: B,
    x: &[S],
    y: &mut [S],
) {
    let (cig, cog) = (s.in_c_per_group(), s.out_c_per_group().max(1));
    let (ow_n, wper) = (s.out_w().max(1), s.kh * s.kw * cig);
    for (p, y_px) in y.chunks_exact_mut(s.out_c).enumerate() {
        let (oh, ow) = (p / ow_n, p % ow_n);
        let outputs = y_px.iter_mut().zip(w.rows(wper)).zip(b.elems());
        for (o, ((y_o, w_o), &b_o)) in outputs.enumerate() {
            let c0 = o / cog * cig;
            let mut acc = b_o.widen();
            for ki in 0..s.kh {
                let Some(ih) = tap(oh, s.stride_h, ki, s.pad_h.before, s.in_h) else {
                    continue;
                };
                for kj in 0..s.kw {
                    let Some(iw) = tap(ow, s.stride_w, kj, s.pad_w.before, s.in_w) else {
                        continue;
                    };
                    let (xb, wb) = ((ih * s.in_w + iw) * s.in_c + c0, (ki * s.kw + kj) * cig);
                    let xs = x.get(xb..xb + cig).unwrap_or_default();
                    for (&wv, &xv) in w_o.get(wb..wb + cig).unwrap_or_default().iter().zip(xs) {
                        acc = S::mul_acc(acc, wv, xv);
                    }
                }
            }
            *y_o = S::narrow(acc);
        }
    }
}

/// `dx` (overwritten) from the products of the weights and `dy` over the kernel offsets whose
/// output exists, then the group's output channels, in order. Lengths checked by the caller.
#[inline(never)]
pub(crate) fn input_gradient<'a, S: Scalar + 'a, W: Params<'a, S>>(
    s: &Conv2dShape,
    w: W,
    dy: &[S],
    dx: &mut [S],
) {
    let (cig, cog) = (s.in_c_per_group().max(1), s.out_c_per_group());
    let (oh_n, ow_n) = (s.out_h(), s.out_w());
    for (p, dx_px) in dx.chunks_exact_mut(s.in_c).enumerate() {
        let (ih, iw) = (p / s.in_w.max(1), p % s.in_w.max(1));
        for (ci, dx_c) in dx_px.iter_mut().enumerate() {
            let g = ci / cig;
            let mut acc = S::ZERO.widen();
            for ki in 0..s.kh {
                let Some(oh) = tapped_by(ih, s.stride_h, ki, s.pad_h.before, oh_n) else {
                    continue;
                };
                for kj in 0..s.kw {
                    let Some(ow) = tapped_by(iw, s.stride_w, kj, s.pad_w.before, ow_n) else {
                        continue;
                    };
                    for o in g * cog..(g + 1) * cog {
                        let wi = ((o * s.kh + ki) * s.kw + kj) * cig + ci - g * cig;
                        let gi = (oh * ow_n + ow) * s.out_c + o;
                        if let (Some(&wv), Some(&gv)) = (w.at(wi), dy.get(gi)) {
                            acc = S::mul_acc(acc, wv, gv);
                        }
                    }
                }
            }
            *dx_c = S::narrow(acc);
        }
    }
}

/// `dW += Σ dy·x` over the output pixels whose tap lies inside the input, in order, for the
/// leading output channels `dw` holds. Lengths checked by the caller.
#[inline(never)]
pub(crate) fn weight_gradient<S: Scalar>(s: &Conv2dShape, x: &[S], dy: &[S], dw: &mut [S]) {
    let (cig, cog) = (s.in_c_per_group(), s.out_c_per_group().max(1));
    let (oh_n, ow_n) = (s.out_h(), s.out_w());
    let wper = s.kh * s.kw * cig;
    for (o, dw_o) in dw.chunks_exact_mut(wper.max(1)).enumerate() {
        let c0 = o / cog * cig;
        for (t, dw_t) in dw_o.iter_mut().enumerate() {
            let (ki, kj, ci) = (
                t / (s.kw * cig),
                t / cig.max(1) % s.kw.max(1),
                t % cig.max(1),
            );
            let mut acc = S::ZERO.widen();
            for oh in 0..oh_n {
                let Some(ih) = tap(oh, s.stride_h, ki, s.pad_h.before, s.in_h) else {
                    continue;
                };
                for ow in 0..ow_n {
                    let Some(iw) = tap(ow, s.stride_w, kj, s.pad_w.before, s.in_w) else {
                        continue;
                    };
                    let xi = (ih * s.in_w + iw) * s.in_c + c0 + ci;
                    let gi = (oh * ow_n + ow) * s.out_c + o;
                    if let (Some(&xv), Some(&gv)) = (x.get(xi), dy.get(gi)) {
                        acc = S::mul_acc(acc, gv, xv);
                    }
                }
            }
            *dw_t = dw_t.add(S::narrow(acc));
        }
    }
}
