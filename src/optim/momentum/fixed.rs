//! SGD with momentum for the fixed-point formats `FixedI32<Frac>`: the general kernel and the
//! 32-bit fast path (see [`crate::num::fixed`] for the formats, rounding and error bounds).

use super::*;
use crate::num::fixed::arith::{
    exact_sum, may_saturate, round_nearest, round_with, wide, Coef, Scale,
};
use crate::num::fixed::fast::{scaled_step, with_offsets, Fast, Offsets};
use crate::num::fixed::RoundingState;
use ::fixed::types::extra::LeEqU32;
use ::fixed::FixedI32;

/// Per-step scalars of the fixed-point momentum kernel.
#[derive(Clone, Copy, Debug)]
pub struct FixedMomentumCoeffs {
    enabled: bool,
    nesterov: bool,
    /// μ for the old buffer (0 on the first step).
    mu: Coef,
    /// Buffer input: `±(1−τ)` times `g` (`±1` on the first step) ...
    b_g: Coef,
    /// ... and `(1−τ)·wd` times `p` (`wd` on the first step).
    b_wd: Coef,
    lr: Scale,
    lr_g: Scale,
    lr_wd: Scale,
    lr_mu: Scale,
    /// General kernel: while every `b`, `g` (and `p` when `b_wd ≠ 0`) lies in `[−2^k, 2^k)`
    /// LSB for this `k`, no new buffer value can leave the format (see
    /// [`FixedMomentumCoeffs::bound`]); 31: never, 32: always.
    k: u32,
    /// The 32-bit fast path, when the configuration allows it.
    fast: Option<FastMomentum>,
    /// A product may saturate (a coefficient of 4 or more): the general kernel sums exactly.
    exact: bool,
}

impl FixedMomentumCoeffs {
    /// The general kernel's safe range `[−2^k, 2^k)`: `|μ·b + b_g·g + b_wd·p| ≤ S·M` for `M`
    /// the largest magnitude (in LSB) of the three and `S = |μ| + |b_g| + |b_wd|`, so the new
    /// buffer (rounded, `+½`) stays inside `i32` while `M ≤ 2^k` with `2^k·S' + 1 ≤ 2^31 − 1`.
    /// `S'` is `S` from the `f64` configuration enlarged by `2^-12` relative and `2^-20`
    /// absolute, more than the quantisation of each coefficient (`2^-16` relative to `|c|` or to
    /// `|c − 1|`). `k = 31` when no magnitude of the format can overflow, 32 when even 1 LSB
    /// can (a coefficient sum above `2^31`): then every element is checked exactly.
    fn bound(mu: f64, b_g: f64, b_wd: f64) -> u32 {
        let sum = (mu.abs() + b_g.abs() + b_wd.abs()) * (1.0 + 1.0 / 4096.0) + 1.0 / 1_048_576.0;
        let lim = (2_147_483_646.0 - 1.0) / sum;
        if lim >= 2_147_483_648.0 {
            return 31;
        }
        let mut k = 0;
        while k < 30 && libm::ldexp(1.0, k as i32 + 1) <= lim {
            k += 1;
        }
        // lim < 1: only 0 is safe, which no `[−2^k, 2^k)` expresses: check every element.
        if lim < 1.0 {
            32
        } else {
            k
        }
    }
}

/// The bits at or above `2^(k+1)` of `x + 2^k` over the raw values of `xs` and `ys`, ORed: zero
/// exactly when every value lies in `[−2^k, 2^k)` (`k ≤ 30`). One add and one OR per value.
#[inline(always)]
fn outside<F: LeEqU32>(xs: &[FixedI32<F>], ys: &[FixedI32<F>], k: u32) -> u32 {
    let off = 1u32 << k;
    xs.iter().zip(ys).fold(0u32, |acc, (x, y)| {
        acc | (x.to_bits() as u32).wrapping_add(off) | (y.to_bits() as u32).wrapping_add(off)
    }) >> (k + 1)
}

/// The general kernel's new buffer value, in wide units (before rounding to nearest).
#[inline(always)]
fn buffer_wide(c: &FixedMomentumCoeffs, br: i32, gr: i32, pr: i32) -> i64 {
    c.mu.mul_wide(br)
        .saturating_add(c.b_g.mul_wide(gr))
        .saturating_add(c.b_wd.mul_wide(pr))
}

/// [`buffer_wide`] summed exactly (see [`exact_sum`]), or `None` when it is not decided.
#[inline]
fn buffer_exact(c: &FixedMomentumCoeffs, br: i32, gr: i32, pr: i32) -> Option<i64> {
    exact_sum([
        c.mu.mul_wide_exact(br),
        c.b_g.mul_wide_exact(gr),
        c.b_wd.mul_wide_exact(pr),
    ])
}

/// The update `u` (`p ← p − u`) summed exactly from the new buffer `bn`, or `None` when it is
/// not decided: SGD's `lr·g' ` without momentum, Nesterov's `lr·g' + lr·μ·bn`, else `lr·bn` (one
/// product: its saturation only moves `p` to the format's edge, as the exact value would).
#[inline]
fn update_exact(c: &FixedMomentumCoeffs, gr: i32, pr: i32, bn: i32) -> Option<i64> {
    let (g, p) = (c.lr_g.mul_wide_exact(gr), c.lr_wd.mul_wide_exact(pr));
    if !c.enabled {
        exact_sum([g, p])
    } else if c.nesterov {
        exact_sum([g, p, c.lr_mu.mul_wide_exact(bn)])
    } else {
        Some(c.lr.mul_wide(bn))
    }
}

/// Whether a wide value rounds to nearest inside `i32` (what [`round_nearest`] would not have to
/// saturate).
#[inline(always)]
fn rounds_inside_i32(w: i64) -> bool {
    let r = w.saturating_add(1 << (crate::num::fixed::arith::WIDE - 1))
        >> crate::num::fixed::arith::WIDE;
    i32::try_from(r).is_ok()
}

impl<Frac: LeEqU32> MomentumNum for FixedI32<Frac> {
    /// The buffer has the parameter's format (rounded to nearest, saturating).
    type Buffer = Self;
    type Coeffs = FixedMomentumCoeffs;

    fn momentum_coeffs(cfg: &MomentumConfig, t: u32) -> FixedMomentumCoeffs {
        let s = if cfg.maximize { -1.0 } else { 1.0 };
        let first = t == 1;
        let damp = if first { 1.0 } else { 1.0 - cfg.dampening };
        let enabled = cfg.momentum != 0.0;
        let plain = enabled
            && !cfg.nesterov
            && !cfg.maximize
            && cfg.weight_decay == 0.0
            && (first || cfg.dampening == 0.0)
            && (0.5..1.0).contains(&cfg.momentum);
        let fast = if plain {
            FastMomentum::new(
                Scale::from_f64(1.0 - cfg.momentum),
                Scale::from_f64(cfg.lr),
                first,
            )
        } else {
            None
        };
        if fast.is_some() {
            // The general coefficients are not used: skip their soft-float work.
            return FixedMomentumCoeffs {
                fast,
                enabled,
                nesterov: false,
                mu: Coef::from_f64(0.0),
                b_g: Coef::from_f64(0.0),
                b_wd: Coef::from_f64(0.0),
                lr: Scale::ZERO,
                lr_g: Scale::ZERO,
                lr_wd: Scale::ZERO,
                lr_mu: Scale::ZERO,
                k: 30,
                exact: false,
            };
        }
        FixedMomentumCoeffs {
            fast,
            enabled,
            nesterov: cfg.nesterov,
            mu: Coef::from_f64(if first { 0.0 } else { cfg.momentum }),
            b_g: Coef::from_f64(s * damp),
            b_wd: Coef::from_f64(damp * cfg.weight_decay),
            lr: Scale::from_f64(cfg.lr),
            lr_g: Scale::from_f64(s * cfg.lr),
            lr_wd: Scale::from_f64(cfg.lr * cfg.weight_decay),
            lr_mu: Scale::from_f64(cfg.lr * cfg.momentum),
            k: FixedMomentumCoeffs::bound(
                if first { 0.0 } else { cfg.momentum },
                damp,
                damp * cfg.weight_decay,
            ),
            exact: may_saturate(&[
                cfg.momentum,
                damp,
                damp * cfg.weight_decay,
                cfg.lr,
                cfg.lr * cfg.weight_decay,
                cfg.lr * cfg.momentum,
            ]),
        }
    }

    /// Exact, and cheap when nothing is near the edge: one pass tests that the buffer and the
    /// gradients (and the parameters, with weight decay) lie in a per-step safe range
    /// `[−2^k, 2^k)`; only if one does not is the new buffer value computed for each element,
    /// exactly as the update will compute it, until the first that would leave the format.
    fn momentum_check(
        params: &[Self],
        grads: &[Self],
        _small: bool,
        buf: &[Self],
        c: &FixedMomentumCoeffs,
    ) -> Option<usize> {
        if c.exact {
            // A product may saturate: decide every element as the exact kernel will.
            return params.iter().zip(grads).zip(buf).position(|((p, g), b)| {
                let (pr, gr) = (p.to_bits(), g.to_bits());
                let bn = if c.enabled {
                    match buffer_exact(c, b.to_bits(), gr, pr) {
                        Some(w) if rounds_inside_i32(w) => round_nearest(w),
                        _ => return true,
                    }
                } else {
                    0
                };
                update_exact(c, gr, pr, bn).is_none()
            });
        }
        if !c.enabled {
            return None;
        }
        if let Some(f) = c.fast {
            // Step 1 copies `g`. Later `b − round(r·b)` lies between 0 and `b`, so the sum with
            // `g` stays in `i32` when both lie in `[−2^30, 2^30)`.
            if f.first || outside(buf, grads, 30) == 0 {
                return None;
            }
            return buf.iter().zip(grads).position(|(b, g)| {
                let br = b.to_bits();
                br.wrapping_sub(f.omm.mul_nearest_k1(br, f.half))
                    .checked_add(g.to_bits())
                    .is_none()
            });
        }
        if c.k == 31 {
            return None;
        }
        if c.k < 31 {
            let mut out = outside(buf, grads, c.k);
            if !c.b_wd.is_zero() {
                out |= outside(params, params, c.k);
            }
            if out == 0 {
                return None;
            }
        }
        params.iter().zip(grads).zip(buf).position(|((p, g), b)| {
            !rounds_inside_i32(buffer_wide(c, b.to_bits(), g.to_bits(), p.to_bits()))
        })
    }

    #[inline]
    fn momentum_update(
        params: &mut [Self],
        grads: &[Self],
        buf: &mut [Self],
        c: &FixedMomentumCoeffs,
        aux: &mut RoundingState,
    ) {
        if let Some(f) = c.fast {
            return momentum_fast(params, grads, buf, f, aux);
        }
        if c.exact {
            for ((p, g), b) in params.iter_mut().zip(grads).zip(buf.iter_mut()) {
                let (pr, gr) = (p.to_bits(), g.to_bits());
                // `None` (and a buffer outside `i32`) was refused by the check.
                let saturating = || buffer_wide(c, b.to_bits(), gr, pr);
                let bn = if c.enabled {
                    let bn = round_nearest(
                        buffer_exact(c, b.to_bits(), gr, pr).unwrap_or_else(saturating),
                    );
                    *b = Self::from_bits(bn);
                    bn
                } else {
                    0
                };
                let u = update_exact(c, gr, pr, bn).unwrap_or_else(|| c.lr.mul_wide(bn));
                *p = Self::from_bits(round_with(wide(pr).saturating_sub(u), aux.offset()));
            }
            return;
        }
        for ((p, g), b) in params.iter_mut().zip(grads).zip(buf.iter_mut()) {
            let (pr, gr) = (p.to_bits(), g.to_bits());
            // lr·g' + lr·wd·p: plain SGD, and Nesterov's first term.
            let sgd = c.lr_g.mul_wide(gr).saturating_add(c.lr_wd.mul_wide(pr));
            let u = if !c.enabled {
                sgd
            } else {
                let bn = round_nearest(buffer_wide(c, b.to_bits(), gr, pr));
                *b = Self::from_bits(bn);
                if c.nesterov {
                    sgd.saturating_add(c.lr_mu.mul_wide(bn))
                } else {
                    c.lr.mul_wide(bn)
                }
            };
            *p = Self::from_bits(round_with(wide(pr).saturating_sub(u), aux.offset()));
        }
    }
}

/// The fast momentum path: `μ ∈ [0.5, 1)` with `1 − μ` a fast coefficient with `k ≥ 1`, no
/// dampening (from step 2), no weight decay, no Nesterov, no `maximize`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FastMomentum {
    /// `1 − μ`, with `k ≥ 1`.
    omm: Fast,
    /// `2^(k−1)` of `omm`.
    half: i32,
    lr: Fast,
    /// Step 1: the buffer becomes `g`.
    first: bool,
}

impl FastMomentum {
    /// The fast path for these quantised coefficients, if they allow it.
    pub(crate) fn new(one_minus_mu: Scale, lr: Scale, first: bool) -> Option<FastMomentum> {
        let omm = Fast::from_scale(one_minus_mu)?;
        let lr = Fast::from_scale(lr)?;
        if omm.k == 0 {
            return None;
        }
        Some(FastMomentum {
            omm,
            half: 1 << (omm.k - 1),
            lr,
            first,
        })
    }
}

#[inline(never)]
fn momentum<F: LeEqU32, O: Offsets>(
    p: &mut [FixedI32<F>],
    g: &[FixedI32<F>],
    b: &mut [FixedI32<F>],
    c: FastMomentum,
    o: &mut O,
) {
    // Two passes (buffer, then parameters): each loop keeps its few constants in the eight low
    // registers of ARMv6-M, which one fused loop cannot (its spills cost more than the reload).
    for (b, g) in b.iter_mut().zip(g) {
        // b ← round(μ·b + g) = b + g − round(r·b), r = 1 − μ ≤ ½: |round(r·b)| ≤ |b| with b's
        // sign, so b − round(r·b) cannot overflow; the sum with g saturates.
        let br = b.to_bits();
        let bn = br
            .wrapping_sub(c.omm.mul_nearest_k1(br, c.half))
            .saturating_add(g.to_bits());
        *b = FixedI32::from_bits(bn);
    }
    scaled_step::<F, O, false>(p, b, c.lr, o);
}

#[inline(never)]
fn momentum_first<F: LeEqU32, O: Offsets>(
    p: &mut [FixedI32<F>],
    g: &[FixedI32<F>],
    b: &mut [FixedI32<F>],
    lr: Fast,
    o: &mut O,
) {
    for (b, &g) in b.iter_mut().zip(g) {
        *b = g;
    }
    scaled_step::<F, O, false>(p, g, lr, o);
}

/// Dispatches the fast momentum kernel over the rounding mode and the first step.
pub(crate) fn momentum_fast<F: LeEqU32>(
    p: &mut [FixedI32<F>],
    g: &[FixedI32<F>],
    b: &mut [FixedI32<F>],
    c: FastMomentum,
    aux: &mut RoundingState,
) {
    with_offsets!(aux, |o| if c.first {
        momentum_first(p, g, b, c.lr, o)
    } else {
        momentum(p, g, b, c, o)
    });
}
