//! RMSprop for the fixed-point formats `FixedI32<Frac>`: state as [`MiniFloat`], the general
//! kernel and the 32-bit loop (see [`crate::num::fixed`] for the formats, rounding and error
//! bounds).

use super::*;
use crate::num::fixed::arith::{grad_wf, round_with, wide, Coef, Scale, Wf};
use crate::num::fixed::fast::{with_offsets, Fast, Offsets};
use crate::num::fixed::norm::{
    div_root_eps, ema, ema_any, ema_any_pos, ema_pos, inv_root_eps, square, update, update_plain,
    wf_from_fixed,
};
use crate::num::fixed::{MiniFloat, RoundingState};
use ::fixed::types::extra::LeEqU32;
use ::fixed::FixedI32;

/// Per-step scalars of the fixed-point RMSprop kernel.
#[derive(Clone, Copy, Debug)]
pub struct FixedRmsPropCoeffs {
    gneg: bool,
    wd: Scale,
    /// `1 − α` (negative when torch's accepted `α > 1`).
    w: Scale,
    /// `1 − α` as a fast coefficient, when it is one.
    fast_w: Option<Fast>,
    /// `α` as a fast coefficient when `α ∈ [2^-16, 0.5)`: centered RMSprop then updates both
    /// moments as `x_new = new + α·(old − new)` (torch's `lerp` for a weight `≥ 0.5`), with `α`
    /// to `2^-16` of itself. `1 − α` is held to `2^-16` of 1, which leaves `α` wrong by up to
    /// `2^-16/α` of itself (0.8 % at α = 0.002), and `v − ḡ² ≈ α·(1 − α)·(g − ḡ)²` inherits that
    /// relative error: issue 16's centered cases with α near 0 were up to 79 times over the bound.
    fast_a: Option<Fast>,
    eps: Wf,
    mu: Coef,
    lr: Scale,
    /// `α` itself, for a `1 − α` that quantises to 1 (`norm::ema_any`).
    alpha: Scale,
}

/// The fast RMSprop loop: no momentum, not centered, no weight decay, `1 − α ∈ [2^-16, 1)`.
#[inline(never)]
fn rmsprop_fast<F: LeEqU32, O: Offsets>(
    p: &mut [FixedI32<F>],
    g: &[FixedI32<F>],
    v: &mut [MiniFloat],
    c: &FixedRmsPropCoeffs,
    w: Fast,
    o: &mut O,
) {
    let frac = F::U32;
    for ((p, g), v) in p.iter_mut().zip(g).zip(v.iter_mut()) {
        let gr = if c.gneg { -g.to_bits() } else { g.to_bits() };
        let gw = wf_from_fixed(gr, frac);
        let vn = ema_pos(v.unpack(), square(gw), w);
        *v = vn.bits;
        let u = update(gw, inv_root_eps(vn.wf, c.eps), c.lr, frac);
        *p = FixedI32::from_bits(u.apply(p.to_bits(), o.next()));
    }
}

impl<Frac: LeEqU32> RmsPropNum for FixedI32<Frac> {
    /// `square_avg` as a [`MiniFloat`].
    type SqAvg = MiniFloat;
    /// `momentum_buffer` (which holds `g/avg`, up to `|g|/eps`) and `grad_avg` as [`MiniFloat`].
    type Avg = MiniFloat;
    type Coeffs = FixedRmsPropCoeffs;

    fn rmsprop_coeffs(cfg: &RmsPropConfig) -> FixedRmsPropCoeffs {
        let w = Scale::from_f64(1.0 - cfg.alpha);
        FixedRmsPropCoeffs {
            gneg: cfg.maximize,
            wd: Scale::from_f64(cfg.weight_decay),
            w,
            fast_w: Fast::from_scale(w),
            fast_a: if cfg.alpha < 0.5 {
                Fast::from_scale(Scale::from_f64(cfg.alpha))
            } else {
                None
            },
            eps: Wf::from_f64(cfg.eps),
            mu: Coef::from_f64(cfg.momentum),
            lr: Scale::from_f64(cfg.lr),
            alpha: Scale::from_f64(cfg.alpha),
        }
    }

    #[inline]
    fn rmsprop_update(
        params: &mut [Self],
        grads: &[Self],
        square_avg: &mut [MiniFloat],
        momentum_buffer: Option<&mut [MiniFloat]>,
        grad_avg: Option<&mut [MiniFloat]>,
        c: &FixedRmsPropCoeffs,
        aux: &mut RoundingState,
    ) {
        if let (Some(w), None, None, true) = (
            c.fast_w,
            momentum_buffer.as_ref(),
            grad_avg.as_ref(),
            c.wd.is_zero(),
        ) {
            with_offsets!(aux, |o| rmsprop_fast(params, grads, square_avg, c, w, o));
            return;
        }
        let frac = Frac::U32;
        let mut element = |p: &mut Self,
                           g: Self,
                           v: &mut MiniFloat,
                           buf: Option<&mut MiniFloat>,
                           gbar: Option<&mut MiniFloat>| {
            let pr = p.to_bits();
            let gw = grad_wf(g.to_bits(), pr, c.gneg, c.wd, frac);
            // Centered with α < 0.5: `new + α·(old − new)`, α to 2^-16 of itself (`fast_a`).
            let centered_ema = |old: Wf, new: Wf| match c.fast_a {
                Some(a) => ema(new, old, a).bits,
                None => ema_any(old, new, c.fast_w, c.w, c.alpha),
            };
            // A positive v is never flushed to 0 (`norm::keep_positive`): centered as
            // `centered_ema`, by the non-negative forms of the same updates.
            *v = match (gbar.is_some(), c.fast_a) {
                (true, Some(a)) => ema_pos(square(gw), v.unpack(), a).bits,
                _ => ema_any_pos(v.unpack(), square(gw), c.fast_w, c.w, c.alpha),
            };
            let var = match gbar {
                Some(gb) => {
                    *gb = centered_ema(gb.unpack(), gw);
                    let gn = gb.unpack();
                    // v − ḡ², clamped at 0 by the root (torch may produce NaN).
                    v.unpack().sub(gn.mul(gn))
                }
                None => v.unpack(),
            };
            let u = match buf {
                Some(b) => {
                    let q = div_root_eps(gw, var, c.eps);
                    *b = MiniFloat::pack(c.mu.mul_wf(b.unpack()).add(q));
                    update_plain(b.unpack(), c.lr, frac)
                }
                None => update(gw, inv_root_eps(var, c.eps), c.lr, frac),
            }
            .wide();
            *p = Self::from_bits(round_with(wide(pr).saturating_sub(u), aux.offset()));
        };
        let pgv = params.iter_mut().zip(grads).zip(square_avg.iter_mut());
        match (momentum_buffer, grad_avg) {
            (Some(bufs), Some(gbars)) => {
                for (((p, &g), v), (b, gb)) in pgv.zip(bufs.iter_mut().zip(gbars.iter_mut())) {
                    element(p, g, v, Some(b), Some(gb));
                }
            }
            (Some(bufs), None) => {
                for (((p, &g), v), b) in pgv.zip(bufs.iter_mut()) {
                    element(p, g, v, Some(b), None);
                }
            }
            (None, Some(gbars)) => {
                for (((p, &g), v), gb) in pgv.zip(gbars.iter_mut()) {
                    element(p, g, v, None, Some(gb));
                }
            }
            (None, None) => {
                for ((p, &g), v) in pgv {
                    element(p, g, v, None, None);
                }
            }
        }
    }
}
