//! Adagrad for the fixed-point formats `FixedI32<Frac>`: the accumulator as [`MiniFloat`], the
//! general kernel and the 32-bit loop (see [`crate::num::fixed`] for the formats, rounding and
//! error bounds).

use super::*;
use crate::num::fixed::arith::{grad_wf, round_with, wide, Scale, Wf};
use crate::num::fixed::fast::{with_offsets, Offsets};
use crate::num::fixed::norm::{add_pos, inv_root_eps, square, update, wf_from_fixed};
use crate::num::fixed::{MiniFloat, RoundingState};
use ::fixed::types::extra::LeEqU32;
use ::fixed::FixedI32;

/// Per-step scalars of the fixed-point Adagrad kernel.
#[derive(Clone, Copy, Debug)]
pub struct FixedAdagradCoeffs {
    gneg: bool,
    wd: Scale,
    clr: Scale,
    eps: Wf,
}

/// The fast Adagrad loop (no weight decay).
#[inline(never)]
fn adagrad_fast<F: LeEqU32, O: Offsets>(
    p: &mut [FixedI32<F>],
    g: &[FixedI32<F>],
    sum: &mut [MiniFloat],
    c: &FixedAdagradCoeffs,
    o: &mut O,
) {
    let frac = F::U32;
    for ((p, g), s) in p.iter_mut().zip(g).zip(sum.iter_mut()) {
        let gr = if c.gneg { -g.to_bits() } else { g.to_bits() };
        let gw = wf_from_fixed(gr, frac);
        let sn = add_pos(s.unpack(), square(gw));
        *s = sn.bits;
        let u = update(gw, inv_root_eps(sn.wf, c.eps), c.clr, frac);
        *p = FixedI32::from_bits(u.apply(p.to_bits(), o.next()));
    }
}

impl<Frac: LeEqU32> AdagradNum for FixedI32<Frac> {
    /// `sum` as a [`MiniFloat`]: it grows without bound, by `g²` of any size.
    type Sum = MiniFloat;
    type Coeffs = FixedAdagradCoeffs;

    fn adagrad_coeffs(cfg: &AdagradConfig, t: u32) -> FixedAdagradCoeffs {
        let clr = cfg.lr / (1.0 + f64::from(t.saturating_sub(1)) * cfg.lr_decay);
        FixedAdagradCoeffs {
            gneg: cfg.maximize,
            wd: Scale::from_f64(cfg.weight_decay),
            clr: Scale::from_f64(clr),
            eps: Wf::from_f64(cfg.eps),
        }
    }

    fn adagrad_initial_sum(cfg: &AdagradConfig) -> MiniFloat {
        MiniFloat::from_f64(cfg.initial_accumulator_value)
    }

    #[inline]
    fn adagrad_update(
        params: &mut [Self],
        grads: &[Self],
        sum: &mut [MiniFloat],
        c: &FixedAdagradCoeffs,
        aux: &mut RoundingState,
    ) {
        if c.wd.is_zero() {
            with_offsets!(aux, |o| adagrad_fast(params, grads, sum, c, o));
            return;
        }
        let frac = Frac::U32;
        for ((p, g), s) in params.iter_mut().zip(grads).zip(sum.iter_mut()) {
            let pr = p.to_bits();
            let gw = grad_wf(g.to_bits(), pr, c.gneg, c.wd, frac);
            *s = add_pos(s.unpack(), square(gw)).bits;
            let u = update(gw, inv_root_eps(s.unpack(), c.eps), c.clr, frac).wide();
            *p = Self::from_bits(round_with(wide(pr).saturating_sub(u), aux.offset()));
        }
    }
}
