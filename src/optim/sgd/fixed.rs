//! SGD for the fixed-point formats `FixedI32<Frac>`: the general kernel and the 32-bit fast path
//! (see [`crate::num::fixed`] for the formats, rounding and error bounds).

use super::*;
use crate::num::fixed::arith::{round_with, wide, Scale};
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
        }
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
        for (p, g) in params.iter_mut().zip(grads) {
            let pr = p.to_bits();
            let u = c
                .lr_g
                .mul_wide(g.to_bits())
                .saturating_add(c.lr_wd.mul_wide(pr));
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
