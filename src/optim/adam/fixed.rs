//! Adam for the fixed-point formats `FixedI32<Frac>`: moments as [`MiniFloat`], the general
//! kernel and the 32-bit loop (see [`crate::num::fixed`] for the formats, rounding and error
//! bounds).

use super::*;
use crate::num::fixed::arith::{grad_wf, round_with, wide, Scale, Wf};
use crate::num::fixed::fast::{with_offsets, Fast, Offsets};
use crate::num::fixed::norm::{
    ema, ema_any, ema_any_pos, ema_pos, inv_root_eps, square, update, wf_from_fixed,
};
use crate::num::fixed::{MiniFloat, RoundingState};
use ::fixed::types::extra::LeEqU32;
use ::fixed::FixedI32;

/// The largest `β` of the fast kernels' range, `1 − β ≥ 2^-16`.
const FAST_BETA_MAX: f64 = 1.0 - 1.0 / 65_536.0;

/// `1 − β^t` in `f64` (Adam's bias corrections): binary exponentiation
/// ([`one_minus_pow`](crate::num::pow::one_minus_pow), relative error `≤ 2^-40`) for
/// `1 − β ≥ 2^-16`, the range of the fast kernels and of the error bounds; `libm::pow` for other
/// `β`, whose soft-float shortcuts cover only `t ≤ 2` (about 22 000 instructions per call on a
/// Cortex-M0 from the third step on).
fn one_minus_pow(beta: f64, t: u32) -> f64 {
    // `1 − β ∈ [2^-16, 1]` is `β ∈ [−0, FAST_BETA_MAX]` (no soft-float subtraction).
    if !crate::num::pow::beta_at_most(beta, FAST_BETA_MAX) {
        return 1.0 - libm::pow(beta, f64::from(t));
    }
    crate::num::pow::one_minus_pow(beta, t)
}

/// Per-step scalars of the fixed-point Adam kernel.
#[derive(Clone, Copy, Debug)]
pub struct FixedAdamCoeffs {
    gneg: bool,
    l2: Scale,
    lr_wd: Scale,
    w1: Scale,
    w2: Scale,
    /// `β1`, `β2` themselves, for a `1 − β` that quantises to 1 (`norm::ema_any`).
    b1: Scale,
    b2: Scale,
    /// `1 − β1` and `1 − β2` as fast coefficients (both in `[2^-16, 1)`).
    fast_w: Option<(Fast, Fast)>,
    /// `lr·√bc2/bc1`: the bias corrections folded into one coefficient.
    step: Scale,
    /// `eps·√bc2`.
    eps: Wf,
}

/// The fast Adam loop: no weight decay of either kind, `1 − β1`, `1 − β2 ∈ [2^-16, 1)`; 32-bit
/// integer arithmetic only.
#[inline(never)]
#[allow(clippy::too_many_arguments)] // one loop, its slices and constants
fn adam_fast<F: LeEqU32, O: Offsets, const AMS: bool>(
    p: &mut [FixedI32<F>],
    g: &[FixedI32<F>],
    m: &mut [MiniFloat],
    v: &mut [MiniFloat],
    vmax: &mut [MiniFloat],
    c: &FixedAdamCoeffs,
    (w1, w2): (Fast, Fast),
    o: &mut O,
) {
    let frac = F::U32;
    let mut vmax = vmax.iter_mut();
    for ((p, g), (m, v)) in p.iter_mut().zip(g).zip(m.iter_mut().zip(v.iter_mut())) {
        let gr = if c.gneg { -g.to_bits() } else { g.to_bits() };
        let gw = wf_from_fixed(gr, frac);
        let mn = ema(m.unpack(), gw, w1);
        *m = mn.bits;
        let vn = ema_pos(v.unpack(), square(gw), w2);
        *v = vn.bits;
        let mut vv = vn.wf;
        if AMS {
            if let Some(vm) = vmax.next() {
                // Non-negative MiniFloats order as their bits.
                if vm.to_bits() > vn.bits.to_bits() {
                    vv = vm.unpack();
                } else {
                    *vm = vn.bits;
                }
            }
        }
        let u = update(mn.wf, inv_root_eps(vv, c.eps), c.step, frac);
        *p = FixedI32::from_bits(u.apply(p.to_bits(), o.next()));
    }
}

impl<Frac: LeEqU32> AdamNum for FixedI32<Frac> {
    /// `exp_avg` as a [`MiniFloat`] (24-bit mantissa): `m` follows gradients of any size.
    type Moment = MiniFloat;
    /// `exp_avg_sq` (and `max_exp_avg_sq`) as a [`MiniFloat`]: `g²` from `1e-8` to `1e6` with
    /// the same relative resolution.
    type SqMoment = MiniFloat;
    type Coeffs = FixedAdamCoeffs;

    fn adam_coeffs(cfg: &AdamConfig, t: u32) -> FixedAdamCoeffs {
        let bc1 = one_minus_pow(cfg.beta1, t);
        let bc2 = one_minus_pow(cfg.beta2, t);
        let (l2, lr_wd) = match (cfg.weight_decay != 0.0, cfg.decoupled_weight_decay) {
            (true, false) => (cfg.weight_decay, 0.0),
            (true, true) => (0.0, cfg.lr * cfg.weight_decay),
            (false, _) => (0.0, 0.0),
        };
        let w1 = Scale::from_f64(1.0 - cfg.beta1);
        let w2 = Scale::from_f64(1.0 - cfg.beta2);
        let sq = libm::sqrt(bc2);
        FixedAdamCoeffs {
            gneg: cfg.maximize,
            l2: Scale::from_f64(l2),
            lr_wd: Scale::from_f64(lr_wd),
            w1,
            w2,
            b1: Scale::from_f64(cfg.beta1),
            b2: Scale::from_f64(cfg.beta2),
            fast_w: Fast::from_scale(w1).zip(Fast::from_scale(w2)),
            step: Scale::from_f64(cfg.lr * sq / bc1),
            eps: Wf::from_f64(cfg.eps * sq),
        }
    }

    #[inline]
    fn adam_update<K: AdamForm>(
        params: &mut [Self],
        grads: &[Self],
        m: &mut [MiniFloat],
        v: &mut [MiniFloat],
        vmax: Option<&mut [MiniFloat]>,
        c: &FixedAdamCoeffs,
        aux: &mut RoundingState,
    ) {
        // A form without decay makes this a constant (`c` has none: the form was checked); a
        // decay may still quantise to 0, which takes the fast loop as at run time.
        let no_decay = matches!(
            K::FIXED,
            Some(AdamFlags {
                decay: AdamDecay::Off,
                ..
            })
        ) || (c.l2.is_zero() && c.lr_wd.is_zero());
        if let (Some(w), true) = (c.fast_w, no_decay) {
            match vmax {
                Some(vm) => with_offsets!(aux, |o| adam_fast::<_, _, true>(
                    params, grads, m, v, vm, c, w, o
                )),
                None => with_offsets!(aux, |o| adam_fast::<_, _, false>(
                    params,
                    grads,
                    m,
                    v,
                    &mut [],
                    c,
                    w,
                    o
                )),
            }
            return;
        }
        let frac = Frac::U32;
        let (f1, f2) = match c.fast_w {
            Some((a, b)) => (Some(a), Some(b)),
            None => (None, None),
        };
        let mut element = |p: &mut Self,
                           g: Self,
                           m: &mut MiniFloat,
                           v: &mut MiniFloat,
                           vm: Option<&mut MiniFloat>| {
            let pr = p.to_bits();
            let gw = grad_wf(g.to_bits(), pr, c.gneg, c.l2, frac);
            // AdamW's decay first (a no-op when lr·wd = 0).
            let target = wide(pr).saturating_sub(c.lr_wd.mul_wide(pr));
            *m = ema_any(m.unpack(), gw, f1, c.w1, c.b1);
            // A positive v is never flushed to 0 (`norm::keep_positive`).
            *v = ema_any_pos(v.unpack(), square(gw), f2, c.w2, c.b2);
            // AMSGrad: the max of the raw stored v.
            let vv = match vm {
                Some(vm) => {
                    let mx = vm.unpack().max_nonneg(v.unpack());
                    *vm = MiniFloat::pack(mx);
                    mx
                }
                None => v.unpack(),
            };
            let u = update(m.unpack(), inv_root_eps(vv, c.eps), c.step, frac).wide();
            *p = Self::from_bits(round_with(target.saturating_sub(u), aux.offset()));
        };
        let pgmv = params
            .iter_mut()
            .zip(grads)
            .zip(m.iter_mut().zip(v.iter_mut()));
        match vmax {
            Some(vmax) => {
                for (((p, &g), (m, v)), vm) in pgmv.zip(vmax.iter_mut()) {
                    element(p, g, m, v, Some(vm));
                }
            }
            None => {
                for ((p, &g), (m, v)) in pgmv {
                    element(p, g, m, v, None);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{one_minus_pow, FAST_BETA_MAX};

    #[test]
    fn bias_corrections_match_pow_within_their_bound() {
        for beta in [0.0, 0.5, 0.9, 0.99, 0.999, 0.9999, FAST_BETA_MAX] {
            let mut t = 1u32;
            while t < 4_000_000 {
                let want = 1.0 - libm::pow(beta, f64::from(t));
                let got = one_minus_pow(beta, t);
                // libm::pow's own error (1 ulp of β^t, ≤ 2^-37 of 1 − β^t here) on top.
                let tol = 2f64.powi(-40) + 2f64.powi(-37);
                assert!(
                    (got - want).abs() <= tol * want,
                    "{beta} {t}: {got} vs {want}"
                );
                t = t + 1 + t / 7;
            }
        }
    }

    /// The bit test routes each `β` as the float compares `0 ≤ β ≤ 1 − 2^-16` do (for `β ≥ 0`,
    /// `1 − β ∈ [2^-16, 1]`): binary exponentiation inside (the same bits), `libm::pow` outside,
    /// at the edges of the range and beyond.
    #[test]
    fn fast_range_is_one_minus_beta_in_range() {
        let edge = FAST_BETA_MAX;
        let betas = [
            0.0,
            -0.0,
            f64::from_bits(1),
            0.5,
            edge,
            f64::from_bits(edge.to_bits() - 1),
            f64::from_bits(edge.to_bits() + 1),
            0.999_999,
            -f64::from_bits(1),
            -0.5,
            1.0,
            1.5,
        ];
        for beta in betas {
            let fast = (0.0..=edge).contains(&beta);
            for t in [1, 2, 3, 10, 1000] {
                let want = if fast {
                    crate::num::pow::one_minus_pow(beta, t)
                } else {
                    1.0 - libm::pow(beta, f64::from(t))
                };
                assert_eq!(
                    one_minus_pow(beta, t).to_bits(),
                    want.to_bits(),
                    "{beta} {t}"
                );
            }
        }
        assert!(one_minus_pow(f64::NAN, 3).is_nan());
    }
}
