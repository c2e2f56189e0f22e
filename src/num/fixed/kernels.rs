//! The kernel-trait implementations for `FixedI32<Frac>`: one section per optimizer.
//!
//! Conventions: `F` is the number of fraction bits; "wide" values are in units of `2^-(F+30)`
//! (the parameter's LSB with 30 more fraction bits, held in an `i64`); every parameter write is
//! `round_with(target, offset)`, stochastic or to nearest as [`RoundingState`] says; state in the
//! parameter's format is rounded to nearest.

use super::arith::{round_nearest, round_with, Coef, Scale, Wf, WIDE};
use super::fast::with_offsets;
use super::fast::{lion_fast, momentum_fast, sgd_fast, Fast, FastLion, FastMomentum, Offsets};
use super::norm::{
    add_pos, div_root_eps, ema, ema_pos, inv_root_eps, square, update, update_plain, wf_from_fixed,
};
use super::{MiniFloat, RoundingState};
use crate::optim::{
    AdagradConfig, AdagradNum, AdamConfig, AdamNum, LionConfig, LionNum, MomentumConfig,
    MomentumNum, RmsPropConfig, RmsPropNum, SgdConfig, SgdNum,
};
use fixed::types::extra::LeEqU32;
use fixed::FixedI32;

#[inline(always)]
fn wide(raw: i32) -> i64 {
    i64::from(raw) << WIDE
}

/// `g` (with `maximize` applied) plus optional L2 decay `wd·p`, as a working float.
///
/// The L2 gradient `g + wd·p` saturates at `±2^(31−F)` (the format's `|MIN|`) before it enters
/// any moment, so that every moment sees the same (saturated) gradient, as the module docs
/// state. Unsaturated, `wd·p` could reach `2^200` (a huge `wd`'s [`Scale`] cap): `m` would
/// saturate at [`MiniFloat::MAX`] only for `|g'| ≥ 2^51` but `v = (1 − β2)·g'²` already for
/// `|g'| ≥ 2^25.5/√(1 − β2)`, so `m̂/√v̂` (at most `K_t` for any gradient sequence) was
/// unbounded: one step moved a parameter by thousands of `lr` (fuzz/regressions/optim_step/
/// `fixed-…`). With `|g'| ≤ 2^(31−F)` the square stays below `2^(62−2F)`, inside the
/// [`MiniFloat`] range for `F ≥ 6` (`I16F16`: `2^30`).
#[inline(always)]
fn grad_wf(g: i32, p: i32, gsign_neg: bool, wd: Scale, frac: u32) -> Wf {
    let g = Wf::from_fixed(g, frac);
    let g = if gsign_neg { g.neg() } else { g };
    if wd.is_zero() {
        g
    } else {
        let s = g.add(Wf::from_fixed(p, frac).mul_scale(wd));
        // `m·2^e` with `m ∈ [2^30, 2^31)` is `≥ 2^(31−F)` exactly when `e ≥ 1 − F`.
        let e_sat = 1 - frac as i32;
        if s.e >= e_sat && s.m != 0 {
            Wf {
                neg: s.neg,
                m: 1 << 30,
                e: e_sat,
            }
        } else {
            s
        }
    }
}

// ---------------------------------------------------------------- SGD

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

// ---------------------------------------------------------------- Momentum

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
    /// The 32-bit fast path, when the configuration allows it.
    fast: Option<FastMomentum>,
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
        }
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
        for ((p, g), b) in params.iter_mut().zip(grads).zip(buf.iter_mut()) {
            let (pr, gr) = (p.to_bits(), g.to_bits());
            // lr·g' + lr·wd·p: plain SGD, and Nesterov's first term.
            let sgd = c.lr_g.mul_wide(gr).saturating_add(c.lr_wd.mul_wide(pr));
            let u = if !c.enabled {
                sgd
            } else {
                let bw =
                    c.mu.mul_wide(b.to_bits())
                        .saturating_add(c.b_g.mul_wide(gr))
                        .saturating_add(c.b_wd.mul_wide(pr));
                let bn = round_nearest(bw);
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

// ---------------------------------------------------------------- Lion

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

// ---------------------------------------------------------------- Normalising helpers

/// `old + w·(new − old)` stored: the 32-bit [`ema`] when `w` is a fast coefficient, else the
/// working float (same or smaller error).
///
/// `w = 1` (`β = 0`, or `β < 2^-17`, whose `1 − β` quantises to 1) stores `new` itself:
/// `old + (new − old)` would truncate `new` at `2^-30` of `old` and cancel, so with `old ≫ new`
/// (Adam's `v` after a large gradient) `v` came out far below `g²` and the step beyond `lr·K_t`
/// (fuzz/regressions/optim_step/`fixed-adam-beta2-tiny-cancellation-…`).
#[inline(always)]
fn ema_any(old: Wf, new: Wf, fast: Option<Fast>, w: Scale) -> MiniFloat {
    match fast {
        Some(f) => ema(old, new, f).bits,
        None if w.is_one() => MiniFloat::pack(new),
        None => MiniFloat::pack(old.add(new.sub(old).mul_scale(w))),
    }
}

// ---------------------------------------------------------------- Adam

/// `1 − β^t` in `f64` (Adam's bias corrections) without `libm::pow`, whose shortcuts cover only
/// `t = 1` and `t = 2`: from the third step on, its soft-float evaluation cost about 22 000
/// instructions per call on a Cortex-M0 (two calls per step: +88 instructions per parameter of a
/// 512-parameter Adam, step 3 against step 2).
///
/// For `1 − β ≥ 2^-16` (`β ∈ [0, 1)`): `β^t` by binary exponentiation, at most `2·log2(t)`
/// multiplications, relative error `≤ 2t·2^-53`; since `β^t/(1 − β^t) ≤ β/(t·(1 − β))`, the
/// error of `1 − β^t` is `≤ 2^-52·β/(1 − β) + 2^-53 ≤ 2^-35` relative, against the `2^-16` of the
/// coefficients' quantisation. Once `t·(1 − β) ≥ 40`, `β^t ≤ e^-40 < 2^-57` and `1 − β^t` rounds
/// to exactly 1 in `f64`: returned without multiplying (so the cost stays below 44
/// multiplications for any `t`). Other `β` (outside the fast kernels' range) keep `libm::pow`.
fn one_minus_pow(beta: f64, t: u32) -> f64 {
    let omb = 1.0 - beta;
    if !(1.0 / 65_536.0..=1.0).contains(&omb) {
        return 1.0 - libm::pow(beta, f64::from(t));
    }
    if t == 0 {
        return 0.0;
    }
    // The cut-off test costs a conversion and a multiplication: only where it can apply.
    if t >= 40 && f64::from(t) * omb >= 40.0 {
        return 1.0;
    }
    // β^(2^j) for the lowest set bit of t, then the other bits: t = 2 costs one multiplication
    // (as `pow`'s own shortcut), t = 3 two.
    let (mut b, mut n) = (beta, t);
    while n & 1 == 0 {
        b *= b;
        n >>= 1;
    }
    let mut acc = b;
    n >>= 1;
    while n != 0 {
        b *= b;
        if n & 1 != 0 {
            acc *= b;
        }
        n >>= 1;
    }
    1.0 - acc
}

/// Per-step scalars of the fixed-point Adam kernel.
#[derive(Clone, Copy, Debug)]
pub struct FixedAdamCoeffs {
    gneg: bool,
    l2: Scale,
    lr_wd: Scale,
    w1: Scale,
    w2: Scale,
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
            fast_w: Fast::from_scale(w1).zip(Fast::from_scale(w2)),
            step: Scale::from_f64(cfg.lr * sq / bc1),
            eps: Wf::from_f64(cfg.eps * sq),
        }
    }

    #[inline]
    fn adam_update(
        params: &mut [Self],
        grads: &[Self],
        m: &mut [MiniFloat],
        v: &mut [MiniFloat],
        vmax: Option<&mut [MiniFloat]>,
        c: &FixedAdamCoeffs,
        aux: &mut RoundingState,
    ) {
        if let (Some(w), true, true) = (c.fast_w, c.l2.is_zero(), c.lr_wd.is_zero()) {
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
            *m = ema_any(m.unpack(), gw, f1, c.w1);
            *v = ema_any(v.unpack(), square(gw), f2, c.w2);
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

// ---------------------------------------------------------------- RMSprop

/// Per-step scalars of the fixed-point RMSprop kernel.
#[derive(Clone, Copy, Debug)]
pub struct FixedRmsPropCoeffs {
    gneg: bool,
    wd: Scale,
    /// `1 − α` (negative when torch's accepted `α > 1`).
    w: Scale,
    /// `1 − α` as a fast coefficient, when it is one.
    fast_w: Option<Fast>,
    eps: Wf,
    mu: Coef,
    lr: Scale,
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
            eps: Wf::from_f64(cfg.eps),
            mu: Coef::from_f64(cfg.momentum),
            lr: Scale::from_f64(cfg.lr),
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
            *v = ema_any(v.unpack(), square(gw), c.fast_w, c.w);
            let var = match gbar {
                Some(gb) => {
                    *gb = ema_any(gb.unpack(), gw, c.fast_w, c.w);
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

// ---------------------------------------------------------------- Adagrad

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

#[cfg(test)]
mod tests {
    use super::one_minus_pow;

    #[test]
    fn bias_corrections_match_pow_within_their_bound() {
        for beta in [0.0, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0 - 1.0 / 65_536.0] {
            let mut t = 1u32;
            while t < 4_000_000 {
                let want = 1.0 - libm::pow(beta, f64::from(t));
                let got = one_minus_pow(beta, t);
                // libm::pow's own error (1 ulp of β^t, ≤ 2^-37 of 1 − β^t here) on top.
                let tol = 2f64.powi(-35) + 2f64.powi(-37);
                assert!(
                    (got - want).abs() <= tol * want,
                    "{beta} {t}: {got} vs {want}"
                );
                t = t + 1 + t / 7;
            }
        }
    }
}
