//! Step bounds for the optimizer target: interval arithmetic over an optimizer's update rule,
//! each operation widened by the rounding the number type's kernel documents.
//!
//! A bound is computed from the state *before* the step (read through the optimizer's public
//! accessors) and the configuration, following the update rule op by op: every coefficient is an
//! interval holding whatever the kernel quantises it to ([`Fmt::coef`]), every arithmetic result
//! is widened by that operation's rounding ([`Fmt::op`]), every stored state value by its store
//! ([`Fmt::store`], [`Fmt::store_param`]). The interval of the update `u` then holds the kernel's
//! update, and the parameter moves by at most `|u|` plus the rounding of the write
//! ([`Fmt::write`]). Where a term is documented only as a relative error of a combined operation
//! (the fixed-point `1/(√v + eps)`), the widening is at least that documented error.
//!
//! Sources of the error terms (module docs of `edgetune::num::fixed`, `num::fixed::arith`,
//! `num::fixed::minifloat`, `num::sqrt`):
//! - fixed point: per-step coefficients (`Scale`, `Coef`) carry a relative error `≤ 2^-16`
//!   (`ε_c`); `Scale` flushes `|c| < 2^-184` to 0 and caps `|c|` at about `2^216`; products are
//!   truncated at `2^-30` LSB ("wide" units); the working float `Wf` truncates to 31 bits (`2^-30`
//!   relative, `2^-29` for a product) and a moment's update `old + w·(new − old)` aligns its
//!   operands to 30 bits of the larger (`2^-28·max(|old|, |new|)`); `MiniFloat` stores round to
//!   `2^-24` relative, flush below `2^-77` and saturate at `±MAX` (`≈ 2.25e15`); `1/(√v + eps)`
//!   has a relative error `≤ 3.5e-6`; the L2 gradient of the normalising optimizers saturates at
//!   `±2^(31−F)`; a buffer in the parameter format is rounded to nearest (`½` LSB); the parameter
//!   write rounds stochastically (`< 1` LSB) or to nearest (`≤ ½` LSB) and saturates at the
//!   format's range (which only shortens the move).
//! - `f32`: every configuration value is used as `x as f32` (taken exactly here), every operation
//!   rounds to nearest (`2^-24` relative; `2^-149` absolute below the normal range), the square
//!   root is within 1 ulp (`sqrt_f32_refined`, the default on x86; `2^-23` relative), and the write
//!   `p − u` rounds once more (`½` ulp of the result).

use edgetune::num::fixed::{MiniFloat, I16F16, I8F24};

/// A closed interval `[lo, hi]` of reals (`lo ≤ hi`). NaN anywhere makes the bound unusable, and
/// the target then checks nothing for that element (a NaN bound bounds nothing).
#[derive(Clone, Copy, Debug)]
pub struct Iv {
    /// Lower end.
    pub lo: f64,
    /// Upper end.
    pub hi: f64,
}

impl Iv {
    /// The point `x`.
    pub fn pt(x: f64) -> Iv {
        Iv { lo: x, hi: x }
    }

    /// The interval between `a` and `b` (either order).
    pub fn new(a: f64, b: f64) -> Iv {
        Iv {
            lo: a.min(b),
            hi: a.max(b),
        }
    }

    /// The smallest interval holding both.
    pub fn hull(self, b: Iv) -> Iv {
        Iv {
            lo: self.lo.min(b.lo),
            hi: self.hi.max(b.hi),
        }
    }

    /// The largest magnitude in the interval.
    pub fn mag(self) -> f64 {
        self.lo.abs().max(self.hi.abs())
    }

    /// Widened by `a ≥ 0` on both sides.
    pub fn widen(self, a: f64) -> Iv {
        Iv {
            lo: self.lo - a,
            hi: self.hi + a,
        }
    }

    /// Every negation.
    pub fn neg(self) -> Iv {
        Iv {
            lo: -self.hi,
            hi: -self.lo,
        }
    }

    /// Every sum.
    pub fn add(self, b: Iv) -> Iv {
        Iv {
            lo: self.lo + b.lo,
            hi: self.hi + b.hi,
        }
    }

    /// Every difference.
    pub fn sub(self, b: Iv) -> Iv {
        Iv {
            lo: self.lo - b.hi,
            hi: self.hi - b.lo,
        }
    }

    /// Every product.
    pub fn mul(self, b: Iv) -> Iv {
        let ps = [
            self.lo * b.lo,
            self.lo * b.hi,
            self.hi * b.lo,
            self.hi * b.hi,
        ];
        Iv {
            lo: ps.iter().copied().fold(f64::INFINITY, f64::min),
            hi: ps.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
        .nan_if(ps.iter().any(|p| p.is_nan()))
    }

    /// Every square (the same value squared: never negative).
    pub fn sq(self) -> Iv {
        let (a, b) = (self.lo.abs(), self.hi.abs());
        let lo = if self.lo <= 0.0 && self.hi >= 0.0 {
            0.0
        } else {
            a.min(b) * a.min(b)
        };
        Iv {
            lo,
            hi: a.max(b) * a.max(b),
        }
    }

    /// Every quotient by a positive interval (`b.lo > 0`); NaN otherwise.
    pub fn div_pos(self, b: Iv) -> Iv {
        if b.lo.is_nan() || b.lo <= 0.0 {
            return Iv::pt(f64::NAN);
        }
        self.mul(Iv {
            lo: 1.0 / b.hi,
            hi: 1.0 / b.lo,
        })
    }

    /// Clamped to `[a, b]` (what a saturating operation keeps).
    pub fn clamp(self, a: f64, b: f64) -> Iv {
        Iv {
            lo: self.lo.clamp(a, b),
            hi: self.hi.clamp(a, b),
        }
    }

    /// `max(x, 0)` (the clamp of centered RMSprop's `v − ḡ²`, and of a negative `v`).
    pub fn max0(self) -> Iv {
        Iv {
            lo: self.lo.max(0.0),
            hi: self.hi.max(0.0),
        }
    }

    /// Every square root of the interval's non-negative part.
    pub fn sqrt(self) -> Iv {
        let x = self.max0();
        Iv {
            lo: x.lo.sqrt(),
            hi: x.hi.sqrt(),
        }
    }

    fn nan_if(self, nan: bool) -> Iv {
        if nan {
            Iv::pt(f64::NAN)
        } else {
            self
        }
    }
}

/// A number type's arithmetic, as the optimizer kernels' error terms describe it.
pub trait Fmt: Copy {
    /// Whether this is a fixed-point format (the kernels' structure differs in a few places).
    const FIXED: bool;
    /// The L2 gradient `g + wd·p` of the normalising optimizers saturates at `±GSAT`.
    const GSAT: f64;
    /// The coefficient the kernel uses for the configuration value (or `f64` expression) `x`.
    fn coef(x: f64) -> Iv;
    /// The result of one arithmetic operation whose exact value lies in `x`, with operands of
    /// total magnitude at most `scale`.
    fn op(x: Iv, scale: f64) -> Iv;
    /// A division or square root (fixed point: the table-and-Newton `1/(√v + eps)`).
    fn root_op(x: Iv) -> Iv;
    /// A state value stored in the moment format (`MiniFloat` / `f32`).
    fn store(x: Iv) -> Iv;
    /// A state value stored in the parameter format (a fixed-point momentum buffer).
    fn store_param(x: Iv) -> Iv;
    /// A bound on `|p_new − p|` for the write `p − u`, `u` in the interval.
    fn write(p: f64, u: Iv) -> f64;
}

/// `2^-16`, the relative quantisation of every fixed-point per-step coefficient.
pub const EPS_C: f64 = 1.0 / 65536.0;
/// One fixed-point operation's rounding, relative to its operands: twice the largest documented
/// one (`2^-28`, a moment's alignment).
const FIXED_OP: f64 = 1.0 / (1u64 << 27) as f64;
/// The fixed-point `1/(√v + eps)`: documented `≤ 3.5e-6` relative; split here over the root
/// and the division, each given the whole of it.
const FIXED_ROOT: f64 = 3.5e-6;
/// `f32`: one rounding, `2^-24` relative, taken twice (a few ulps: compound operations such as
/// `a·b + c` round twice).
const F32_OP: f64 = 2.0 / (1u64 << 24) as f64;

macro_rules! fixed_fmt {
    ($t:ty, $frac:expr) => {
        impl Fmt for $t {
            const FIXED: bool = true;
            const GSAT: f64 = (1u64 << (31 - $frac)) as f64;
            fn coef(x: f64) -> Iv {
                let mut iv = Iv::new(x * (1.0 - EPS_C), x * (1.0 + EPS_C));
                // `Scale` flushes tiny coefficients to 0 and caps huge ones near 2^216.
                if x.abs() < 2f64.powi(-180) {
                    iv = iv.hull(Iv::pt(0.0));
                }
                if x.abs() > 2f64.powi(200) {
                    iv = iv.hull(Iv::pt(2f64.powi(200).copysign(x)));
                }
                iv
            }
            fn op(x: Iv, scale: f64) -> Iv {
                // Relative to the operands, plus the wide units' truncation (2^-30 LSB each).
                x.widen(FIXED_OP * scale + 2.0 * 2f64.powi(-30 - $frac))
            }
            fn root_op(x: Iv) -> Iv {
                x.widen(FIXED_ROOT * x.mag())
            }
            fn store(x: Iv) -> Iv {
                let max = MiniFloat::MAX.to_f64();
                // Rounded to 2^-24 relative, flushed to 0 below 2^-77, saturated at ±MAX.
                x.widen(2f64.powi(-24) * x.mag() + 2f64.powi(-77))
                    .clamp(-max, max)
            }
            fn store_param(x: Iv) -> Iv {
                x.widen(0.5 * 2f64.powi(-$frac))
            }
            fn write(_p: f64, u: Iv) -> f64 {
                // Stochastic rounding moves by less than 1 LSB from the exact update (round to
                // nearest by ½); saturation at MIN/MAX only shortens the move.
                u.mag() + 2f64.powi(-$frac)
            }
        }
    };
}
fixed_fmt!(I16F16, 16);
fixed_fmt!(I8F24, 24);

impl Fmt for f32 {
    const FIXED: bool = false;
    const GSAT: f64 = f64::INFINITY;
    fn coef(x: f64) -> Iv {
        Iv::pt(f64::from(x as f32))
    }
    fn op(x: Iv, _scale: f64) -> Iv {
        // Relative to the result, plus the absolute error of a subnormal result.
        x.widen(F32_OP * x.mag() + 2f64.powi(-148))
    }
    fn root_op(x: Iv) -> Iv {
        // sqrt_f32_refined: within 1 ulp (2^-23 relative), then one rounding of the next
        // operation, taken by its own `op`.
        x.widen(2.0 * F32_OP * x.mag() + 2f64.powi(-148))
    }
    fn store(x: Iv) -> Iv {
        x
    }
    fn store_param(x: Iv) -> Iv {
        x
    }
    fn write(p: f64, u: Iv) -> f64 {
        // fl(p − u): half an ulp of the result, at most 2^-24·(|p| + |u|), or 2^-149.
        u.mag() + F32_OP * (p.abs() + u.mag()) + 2f64.powi(-148)
    }
}

/// A stored state value as `f64` (exact).
pub trait St: Copy {
    /// The exact value.
    fn f(self) -> f64;
}
impl St for f32 {
    fn f(self) -> f64 {
        f64::from(self)
    }
}
impl St for MiniFloat {
    fn f(self) -> f64 {
        self.to_f64()
    }
}
impl St for I16F16 {
    fn f(self) -> f64 {
        self.to_num::<f64>()
    }
}
impl St for I8F24 {
    fn f(self) -> f64 {
        self.to_num::<f64>()
    }
}

// ---- the update rules, op by op (each returns the interval of the update `u`, p ← p − u) ----

/// `a + b`, one operation.
pub fn add<S: Fmt>(a: Iv, b: Iv) -> Iv {
    S::op(a.add(b), a.mag() + b.mag())
}
/// `a · b`, one operation.
pub fn mul<S: Fmt>(a: Iv, b: Iv) -> Iv {
    let x = a.mul(b);
    S::op(x, x.mag())
}

/// The gradient the kernels work with: `±g` (`maximize`) plus `wd·p` when `wd ≠ 0`.
/// Fixed point computes `g + wd·p` in one working-float sum (one `op`); `f32` as `wd·p + g`
/// (two roundings). `sat`: the normalising optimizers saturate it at `±GSAT`.
pub fn grad<S: Fmt>(g: f64, p: f64, maximize: bool, wd: f64, sat: bool) -> Iv {
    let g = Iv::pt(if maximize { -g } else { g });
    let gp = if wd == 0.0 {
        g
    } else {
        add::<S>(mul::<S>(S::coef(wd), Iv::pt(p)), g)
    };
    if sat {
        gp.clamp(-S::GSAT, S::GSAT)
    } else {
        gp
    }
}

/// `a·g' = a·(±g + wd·p)` as the kernels form it: fixed point as `(±a)·g + (a·wd)·p` with the two
/// coefficients quantised apart (each within `ε_c` of itself, so where `g` and `wd·p` cancel the
/// error is `ε_c·(|a·g| + |a·wd·p|)`, which the product of the intervals `a` and `g'` does not
/// hold: found by this target on momentum 0 with L2 decay); `f32` as `a·(wd·p + g)`.
pub fn scaled_grad<S: Fmt>(a: f64, g: f64, p: f64, maximize: bool, wd: f64) -> Iv {
    if !S::FIXED {
        return mul::<S>(S::coef(a), grad::<S>(g, p, maximize, wd, false));
    }
    let t = mul::<S>(S::coef(a), Iv::pt(if maximize { -g } else { g }));
    if wd == 0.0 {
        t
    } else {
        add::<S>(t, mul::<S>(S::coef(a * wd), Iv::pt(p)))
    }
}

/// SGD: `u = lr·(g + wd·p)` ([`scaled_grad`]).
pub fn sgd<S: Fmt>(lr: f64, wd: f64, maximize: bool, p: f64, g: f64) -> Iv {
    scaled_grad::<S>(lr, g, p, maximize, wd)
}

/// Momentum (torch's SGD with `momentum > 0`), step `t`, buffer `b` before the step:
/// `buf' = μ·b + (1 − τ)·g'` (on step 1 `buf' = g'`: no μ, no dampening), stored in the parameter
/// format (fixed point: rounded to nearest, ½ LSB); then `u = lr·buf'`, or with Nesterov
/// `u = lr·(g' + μ·buf')`. `μ = 0`: plain SGD. Fixed point holds `μ`, `1 − τ`, `(1 − τ)·wd`,
/// `lr·wd` and `lr·μ` each within `ε_c` (`μ` as `1 + r` for `μ ∈ [0.5, 1.5]`, within `ε_c·|r|
/// ≤ ε_c·μ`; the fast path's `1 − (1 − μ)` likewise); the interval products contain them.
#[allow(clippy::too_many_arguments)]
pub fn momentum<S: Fmt>(
    lr: f64,
    mu: f64,
    dampening: f64,
    wd: f64,
    nesterov: bool,
    maximize: bool,
    t: u32,
    b: f64,
    p: f64,
    g: f64,
) -> Iv {
    // `a·g'` as the kernel forms it; `f32`'s `g'` itself is one sum, not scaled.
    let lin = |a: f64| scaled_grad::<S>(a, g, p, maximize, wd);
    let gp = if S::FIXED {
        lin(1.0)
    } else {
        grad::<S>(g, p, maximize, wd, false)
    };
    if mu == 0.0 {
        return lin(lr);
    }
    let bn = if t == 1 {
        gp
    } else {
        let damped = if dampening == 0.0 {
            gp
        } else {
            lin(1.0 - dampening)
        };
        add::<S>(mul::<S>(S::coef(mu), Iv::pt(b)), damped)
    };
    let bn = S::store_param(bn);
    if nesterov {
        // Step 1: `g + μ·g` (the buffer is g').
        add::<S>(lin(lr), mul::<S>(mul::<S>(S::coef(lr), S::coef(mu)), bn))
    } else {
        mul::<S>(S::coef(lr), bn)
    }
}

/// An exponential moving average `old + (1 − α)·(new − old)`, as the kernel computes it: fixed
/// point with the weight `w = 1 − α` within `ε_c` (which also contains centered RMSprop's
/// `new + α·(old − new)` for `α < 0.5`, `α` within `ε_c` of itself) and the alignment error
/// relative to the larger operand; `f32` as `α·old + (1 − α)·new` (`v`, two coefficients
/// rounded apart) or `old + w·(new − old)` (`ḡ`: torch's lerp, either of its forms).
pub fn ema<S: Fmt>(old: Iv, new: Iv, alpha: f64, lerp: bool) -> Iv {
    let w = S::coef(1.0 - alpha);
    if S::FIXED || lerp {
        add::<S>(old, mul::<S>(w, add::<S>(new, old.neg())))
    } else {
        add::<S>(mul::<S>(S::coef(alpha), old), mul::<S>(w, new))
    }
}

/// `x²`, one operation (never negative).
pub fn square<S: Fmt>(x: Iv) -> Iv {
    let q = x.sq();
    S::op(q, q.hi).max0()
}

/// RMSprop: `v' = α·v + (1 − α)·g'²`; centered `ḡ' = α·ḡ + (1 − α)·g'`, `var = max(v' − ḡ'², 0)`
/// (else `var = max(v', 0)`: `α > 1` can make `v` negative); `q = g'/(√var + eps)`; with the
/// momentum buffer `buf' = μ·buf + q`, `u = lr·buf'`, else `u = lr·q`. `v`, `ḡ`, `buf` are the
/// stored values before the step.
#[allow(clippy::too_many_arguments)]
pub fn rmsprop<S: Fmt>(
    lr: f64,
    alpha: f64,
    eps: f64,
    wd: f64,
    mu: f64,
    maximize: bool,
    v: f64,
    gbar: Option<f64>,
    buf: Option<f64>,
    p: f64,
    g: f64,
) -> Iv {
    let gp = grad::<S>(g, p, maximize, wd, true);
    let vn = S::store(ema::<S>(Iv::pt(v), square::<S>(gp), alpha, false));
    let var = match gbar {
        Some(gb) => {
            let gbn = S::store(ema::<S>(Iv::pt(gb), gp, alpha, true));
            add::<S>(vn, square::<S>(gbn).neg())
        }
        None => vn,
    };
    let den = add::<S>(S::root_op(var.sqrt()), S::coef(eps));
    let q = S::root_op(gp.div_pos(den));
    match buf {
        Some(b) => {
            let bn = S::store(add::<S>(mul::<S>(S::coef(mu), Iv::pt(b)), q));
            mul::<S>(S::coef(lr), bn)
        }
        None => mul::<S>(S::coef(lr), q),
    }
}

/// Adagrad: `lr_t = lr/(1 + (t − 1)·lr_decay)`, `s' = s + g'²` (`s` before the step; on step 1
/// the initial accumulator value), `u = lr_t·g'/(√s' + eps)`.
#[allow(clippy::too_many_arguments)]
pub fn adagrad<S: Fmt>(
    lr: f64,
    lr_decay: f64,
    eps: f64,
    wd: f64,
    maximize: bool,
    t: u32,
    s: f64,
    p: f64,
    g: f64,
) -> Iv {
    let clr = lr / (1.0 + f64::from(t - 1) * lr_decay);
    let gp = grad::<S>(g, p, maximize, wd, true);
    let sn = S::store(add::<S>(Iv::pt(s), square::<S>(gp)));
    let den = add::<S>(S::root_op(sn.sqrt()), S::coef(eps));
    mul::<S>(S::coef(clr), S::root_op(gp.div_pos(den)))
}

/// Lion: `u = lr·sign(c) + lr·wd·p` (decoupled decay; `sign(0) = 0`). Fixed point: `lr` in wide
/// units (rounded, `2^-30` LSB; the fast path `2^-32`), `lr·wd` within `ε_c`. `f32`: `p·decay −
/// s·lr` with `decay = (1 − lr·wd) as f32`, so the decay moves `p` by `p·(1 − decay)`.
pub fn lion<S: Fmt>(lr: f64, wd: f64, p: f64) -> Iv {
    let step = S::coef(lr).mag();
    let sign = Iv::new(-step, step);
    let decay = if wd == 0.0 {
        Iv::pt(0.0)
    } else if S::FIXED {
        mul::<S>(S::coef(lr * wd), Iv::pt(p))
    } else {
        let d = S::coef(1.0 - lr * wd);
        // p − fl(p·decay): the product rounds relative to itself, not to the change.
        Iv::pt(p)
            .mul(Iv::pt(1.0).sub(d))
            .widen(F32_OP * (p * d.lo).abs() + 2f64.powi(-148))
    };
    S::op(sign.add(decay), step + decay.mag())
}

/// Adam / AdamW in `f32` (`optim::adam::float`), step `t`, from the stored `m`, `v` and (AMSGrad)
/// `vmax` before the step: `g'` as [`grad`] (L2 only without decoupling); `m' = lerp(m, g', 1 −
/// β1)` in either of the kernel's rounding forms (`m + w1·(g' − m)` or `g' − (1 − w1)·(g' − m)`:
/// the hull of both); `v' = β2·v + (1 − β2)·g'²`; `v̂ = max(vmax, v')` with AMSGrad;
/// `u = s·m'/(√v̂ + e)` with `s = lr/bc1·√bc2` and `e = eps·√bc2` computed in `f64` and rounded
/// once to `f32` (widened here by one `f32` operation for the `f64` work and the rounding; a
/// positive `e` that rounds to 0 becomes the smallest subnormal). AdamW first decays `p` to
/// `p·(1 − lr·wd)`, which moves it by `p·(1 − d)` plus the product's rounding. Returns the
/// interval of the whole move `p − p_new` before the final write's rounding.
#[allow(clippy::too_many_arguments)]
pub fn adam_f32(
    lr: f64,
    (b1, b2): (f64, f64),
    eps: f64,
    wd: f64,
    decoupled: bool,
    maximize: bool,
    t: u32,
    (m, v, vmax): (f64, f64, Option<f64>),
    p: f64,
    g: f64,
) -> Iv {
    type S = f32;
    let gp = grad::<S>(g, p, maximize, if decoupled { 0.0 } else { wd }, false);
    let d = add::<S>(gp, Iv::pt(m).neg());
    let w1 = S::coef(1.0 - b1);
    let from_m = add::<S>(Iv::pt(m), mul::<S>(w1, d));
    let omw1 = S::op(Iv::pt(1.0).sub(w1), 1.0);
    let from_g = add::<S>(gp, mul::<S>(omw1, d).neg());
    let mn = from_m.hull(from_g);
    let vn = add::<S>(
        mul::<S>(Iv::pt(v), S::coef(b2)),
        mul::<S>(S::coef(1.0 - b2), square::<S>(gp)),
    );
    let vv = match vmax {
        Some(x) => Iv::new(vn.lo.max(x), vn.hi.max(x)),
        None => vn,
    };
    let t = t as i32;
    let (bc1, bc2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
    let scalar = |x: f64| S::op(S::coef(x), 0.0);
    let e = {
        let e = S::coef(eps * bc2.sqrt());
        if e.lo > 0.0 {
            S::op(e, 0.0)
        } else {
            Iv::pt(2f64.powi(-149))
        }
    };
    let den = add::<S>(S::root_op(vv.max0().sqrt()), e).clamp(2f64.powi(-149), f64::INFINITY);
    let ratio = S::root_op(mn.div_pos(den));
    let u = mul::<S>(scalar(lr / bc1 * bc2.sqrt()), ratio);
    let decay = if decoupled && wd != 0.0 {
        let dc = S::coef(1.0 - lr * wd);
        Iv::pt(p)
            .mul(Iv::pt(1.0).sub(dc))
            .widen(F32_OP * (p * dc.lo).abs() + 2f64.powi(-148))
    } else {
        Iv::pt(0.0)
    };
    S::op(decay.add(u), decay.mag() + u.mag())
}
