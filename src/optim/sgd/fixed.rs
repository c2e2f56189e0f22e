//! SGD for the fixed-point formats `FixedI32<Frac>`: the general kernel and the 32-bit fast path
//! (see [`crate::num::fixed`] for the formats, rounding and error bounds).

use super::*;
use crate::num::fixed::arith::{exact_sum, may_saturate, round_with, wide, Scale};
use crate::num::fixed::fast::{scaled_step, with_offsets, Fast};
use crate::num::fixed::RoundingState;
use ::fixed::types::extra::LeEqU32;
use ::fixed::FixedI32;

/// Per-step scalars of the fixed-point SGD kernel.
#[derive(Clone, Copy, Debug)]
pub struct FixedSgdCoeffs {
    /// `±lr` (sign from `maximize`).
    lr_g: Scale,
    /// `lr · weight_decay`.
    lr_wd: Scale,
    /// The 32-bit fast path (no weight decay, `lr` in its range), with `maximize`.
    fast: Option<(Fast, bool)>,
    /// A product may saturate ([`may_saturate`]): sum exactly ([`exact_sum`]).
    exact: bool,
}

/// `lr·g + lr·wd·p` exactly (see [`exact_sum`]), or `None` when it is not decided.
#[inline]
fn update_exact(c: &FixedSgdCoeffs, gr: i32, pr: i32) -> Option<i64> {
    exact_sum([c.lr_g.mul_wide_exact(gr), c.lr_wd.mul_wide_exact(pr)])
}

impl<Frac: LeEqU32> SgdNum for FixedI32<Frac> {
    type Coeffs = FixedSgdCoeffs;

    fn sgd_coeffs(cfg: &SgdConfig) -> FixedSgdCoeffs {
        let s = if cfg.maximize { -1.0 } else { 1.0 };
        let lr_wd = Scale::from_f64(cfg.lr * cfg.weight_decay);
        let fast = if lr_wd.is_zero() {
            Fast::from_scale(Scale::from_f64(cfg.lr)).map(|f| (f, cfg.maximize))
        } else {
            None
        };
        FixedSgdCoeffs {
            lr_g: Scale::from_f64(s * cfg.lr),
            lr_wd,
            fast,
            exact: may_saturate(&[cfg.lr, cfg.lr * cfg.weight_decay]),
        }
    }

    /// Refuses an element whose update cannot be decided: a product beyond `2^76` wide units
    /// (a coefficient of `2^61` or more) against one of the other sign. Nothing to do unless a
    /// product may saturate.
    fn sgd_check(
        params: &[Self],
        grads: &[Self],
        _small: bool,
        config: &SgdConfig,
        c: impl FnOnce() -> FixedSgdCoeffs,
    ) -> Option<usize> {
        if !may_saturate(&[config.lr, config.lr * config.weight_decay]) {
            return None;
        }
        let c = c();
        params
            .iter()
            .zip(grads)
            .position(|(p, g)| update_exact(&c, g.to_bits(), p.to_bits()).is_none())
    }

    #[inline]
    fn sgd_update(
        params: &mut [Self],
        grads: &[Self],
        c: &FixedSgdCoeffs,
        aux: &mut RoundingState,
    ) {
        if let Some((lr, ascend)) = c.fast {
            return sgd_fast(params, grads, lr, ascend, aux);
        }
        let saturating = |g: i32, p: i32| c.lr_g.mul_wide(g).saturating_add(c.lr_wd.mul_wide(p));
        if c.exact {
            for (p, g) in params.iter_mut().zip(grads) {
                let (pr, gr) = (p.to_bits(), g.to_bits());
                // `None` was refused by the check.
                let u = update_exact(c, gr, pr).unwrap_or_else(|| saturating(gr, pr));
                *p = Self::from_bits(round_with(wide(pr).saturating_sub(u), aux.offset()));
            }
            return;
        }
        for (p, g) in params.iter_mut().zip(grads) {
            let pr = p.to_bits();
            let u = saturating(g.to_bits(), pr);
            *p = Self::from_bits(round_with(wide(pr).saturating_sub(u), aux.offset()));
        }
    }
}

/// Dispatches [`scaled_step`] over the rounding mode and direction.
pub(crate) fn sgd_fast<F: LeEqU32>(
    p: &mut [FixedI32<F>],
    g: &[FixedI32<F>],
    lr: Fast,
    ascend: bool,
    aux: &mut RoundingState,
) {
    with_offsets!(aux, |o| if ascend {
        scaled_step::<_, _, true>(p, g, lr, o)
    } else {
        scaled_step::<_, _, false>(p, g, lr, o)
    });
}
