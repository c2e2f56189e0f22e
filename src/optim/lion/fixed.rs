//! Lion for the fixed-point formats `FixedI32<Frac>`: the general kernel and the 32-bit fast path
//! (see [`crate::num::fixed`] for the formats, rounding and error bounds).

use super::*;
use crate::num::fixed::arith::{round_nearest, round_with, wide, Coef, Scale, WIDE};
use crate::num::fixed::fast::{ema_nearest_wide, interp_sign_wide, with_offsets, Fast, Offsets};
use crate::num::fixed::RoundingState;
use ::fixed::types::extra::LeEqU32;
use ::fixed::FixedI32;

/// Per-step scalars of the fixed-point Lion kernel.
#[derive(Clone, Copy, Debug)]
pub struct FixedLionCoeffs {
    lr_wd: Scale,
    /// `lr` in wide units.
    lr_w: i64,
    b1: Coef,
    omb1: Coef,
    b2: Coef,
    omb2: Coef,
    /// The 32-bit fast path (no weight decay, `β1, β2 ∈ [0.5, 1)`, `lr < 2^30` LSB).
    fast: Option<FastLion>,
}

impl<Frac: LeEqU32> LionNum for FixedI32<Frac> {
    /// The momentum has the parameter's format (rounded to nearest, saturating).
    type Moment = Self;
    type Coeffs = FixedLionCoeffs;

    fn lion_coeffs(cfg: &LionConfig) -> FixedLionCoeffs {
        let lr_w = libm::round(libm::ldexp(cfg.lr, (Frac::U32 + WIDE) as i32));
        let betas_fast = (0.5..1.0).contains(&cfg.beta1) && (0.5..1.0).contains(&cfg.beta2);
        let fast = if cfg.weight_decay == 0.0 && betas_fast {
            FastLion::new(
                libm::ldexp(cfg.lr, Frac::U32 as i32),
                Scale::from_f64(1.0 - cfg.beta1),
                Scale::from_f64(1.0 - cfg.beta2),
            )
        } else {
            None
        };
        FixedLionCoeffs {
            fast,
            lr_wd: Scale::from_f64(cfg.lr * cfg.weight_decay),
            lr_w: if lr_w >= 9.2e18 {
                i64::MAX
            } else {
                lr_w as i64
            },
            b1: Coef::from_f64(cfg.beta1),
            omb1: Coef::from_f64(1.0 - cfg.beta1),
            b2: Coef::from_f64(cfg.beta2),
            omb2: Coef::from_f64(1.0 - cfg.beta2),
        }
    }

    #[inline]
    fn lion_update(
        params: &mut [Self],
        grads: &[Self],
        m: &mut [Self],
        c: &FixedLionCoeffs,
        aux: &mut RoundingState,
    ) {
        if let Some(f) = c.fast {
            return lion_fast(params, grads, m, f, aux);
        }
        for ((p, g), m) in params.iter_mut().zip(grads).zip(m.iter_mut()) {
            let (pr, gr, mr) = (p.to_bits(), g.to_bits(), m.to_bits());
            // The interpolation is kept wide (never rounded), so its sign is exact up to the
            // coefficients' quantisation; sign(0) = 0 as in torch.
            let cw = c.b1.mul_wide(mr).saturating_add(c.omb1.mul_wide(gr));
            let s = match cw.signum() {
                1 => c.lr_w,
                -1 => -c.lr_w,
                _ => 0,
            };
            let u = c.lr_wd.mul_wide(pr).saturating_add(s);
            *p = Self::from_bits(round_with(wide(pr).saturating_sub(u), aux.offset()));
            let mw = c.b2.mul_wide(mr).saturating_add(c.omb2.mul_wide(gr));
            *m = Self::from_bits(round_nearest(mw));
        }
    }
}

/// The fast Lion path: no weight decay, `β1, β2 ∈ [0.5, 1)` with `1 − β1`, `1 − β2` fast
/// coefficients (the general kernel's `β = 1 − (1 − β)` quantisation, so the interpolation and
/// the moment are the same numbers), and `lr < 2^30` LSB.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FastLion {
    /// `1 − β1`: `sign(m + w1·(g − m))`.
    w1: Fast,
    /// `1 − β2`: `m ← m + w2·(g − m)`.
    w2: Fast,
    /// `lr` in LSB as `int + frac/2^32`, rounded to nearest (error `≤ 2^-33` LSB).
    lr_int: i32,
    lr_frac: u32,
}

impl FastLion {
    /// The fast path for `lr` (in LSB of the parameter format) and the quantised `1 − β`, if they
    /// allow it (see the type's docs).
    pub(crate) fn new(lr_lsb: f64, omb1: Scale, omb2: Scale) -> Option<FastLion> {
        let (w1, w2) = (Fast::from_scale(omb1)?, Fast::from_scale(omb2)?);
        // β ≥ 0.5: 1 − β ≤ ½ (k = 0 only for exactly ½).
        if (w1.k == 0 && w1.m != 1 << 15) || (w2.k == 0 && w2.m != 1 << 15) {
            return None;
        }
        let x = libm::round(libm::ldexp(lr_lsb, 32));
        if !(0.0..4_611_686_018_427_387_904.0).contains(&x) {
            return None; // lr ≥ 2^30 LSB (or NaN)
        }
        let x = x as u64;
        Some(FastLion {
            w1,
            w2,
            lr_int: (x >> 32) as i32,
            lr_frac: x as u32,
        })
    }
}

/// Lion's parameter pass: `p ← p − lr·sign(m + w1·(g − m))` with the OLD moment.
/// `lr = A + f/2^32` LSB; descending, `⌊p − lr + r/2^32⌋ = p − A − [r < f]`; ascending,
/// `⌊p + lr + r/2^32⌋ = p + A + [r ≥ 2^32 − f] = p + A + [!r < f]`. With `r` uniform (so `!r`
/// too) both are exactly unbiased, error `< 1` LSB; with `r = 2^31` both round to nearest, ties up.
#[inline(never)]
fn lion_params<F: LeEqU32, O: Offsets>(
    p: &mut [FixedI32<F>],
    g: &[FixedI32<F>],
    m: &[FixedI32<F>],
    c: FastLion,
    o: &mut O,
) {
    for ((p, g), m) in p.iter_mut().zip(g).zip(m) {
        let (gr, mr) = (g.to_bits(), m.to_bits());
        let s = match gr.checked_sub(mr) {
            Some(d) => c.w1.interp_sign(mr, d),
            None => interp_sign_wide(mr, gr, c.w1),
        };
        let r = o.next();
        let pr = p.to_bits();
        // sign(0) = 0 as in torch: the offset is drawn, the parameter is unchanged.
        let pn = if s > 0 {
            pr.saturating_sub(c.lr_int + i32::from(r < c.lr_frac))
        } else if s < 0 {
            pr.saturating_add(c.lr_int + i32::from(!r < c.lr_frac))
        } else {
            pr
        };
        *p = FixedI32::from_bits(pn);
    }
}

/// Lion's moment pass: `m ← m + round(w2·(g − m))`, to nearest (ties up): the general kernel's
/// `round(β2·m + (1 − β2)·g)` exactly (same quantised coefficient; `m` is an integer).
#[inline(never)]
fn lion_moment<F: LeEqU32>(g: &[FixedI32<F>], m: &mut [FixedI32<F>], w2: Fast) {
    for (m, g) in m.iter_mut().zip(g) {
        let (gr, mr) = (g.to_bits(), m.to_bits());
        let mn = match gr.checked_sub(mr) {
            // Between m and g: no overflow.
            Some(d) => mr.wrapping_add(w2.mul_round(d, 1 << 31)),
            None => ema_nearest_wide(mr, gr, w2),
        };
        *m = FixedI32::from_bits(mn);
    }
}

/// The fast Lion kernel: the parameter pass (which reads the old moment), then the moment pass.
/// Two loops for the same reason as momentum's (ARMv6-M's eight low registers).
pub(crate) fn lion_fast<F: LeEqU32>(
    p: &mut [FixedI32<F>],
    g: &[FixedI32<F>],
    m: &mut [FixedI32<F>],
    c: FastLion,
    aux: &mut RoundingState,
) {
    with_offsets!(aux, |o| lion_params(p, g, m, c, o));
    lion_moment(g, m, c.w2);
}
