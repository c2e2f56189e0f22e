//! The normalising arithmetic of Adam, RMSprop and Adagrad: `1/(√v + eps)` from two tables and
//! one Newton step each, the moment updates in 32-bit integers, and the parameter write with the
//! fast path's exact rounding. No division, no square-root loop, no `i64`, no library call.
//!
//! Values are working floats ([`Wf`]: `±m·2^e`, `m ∈ [2^30, 2^31)` or 0). Every product is built
//! from 16×16-bit partial products that fit in 32 bits (one `MULS` each on Cortex-M0).
//!
//! - **Root** ([`inv_root_eps`]): `v = x·2^e` with `x ∈ [2^30, 2^32)` and `e` even; a 384-entry
//!   table on the top 9 bits of `x` gives `s0 ≈ √x` (16 bits, `|s0 − √x| ≤ 64.5`) and
//!   `t ≈ 2^30/s0`; one Newton step without division, `s = s0 + (x − s0²)·t/2^31`, leaves
//!   `(s0 − √x)²/(2·s0) ≤ 2^-19·√x` plus `2^-23` of truncation: relative error `≤ 2^-18.8`.
//! - **Reciprocal**: `d = √v + eps` (aligned add, truncation `≤ 2^-30`) with `d = D·2^e`,
//!   `D ∈ [2^30, 2^31)`; a 512-entry table on the 9 bits below `D`'s leading bit gives
//!   `r0 ≈ 2^61/D` to `2^-10 + 2^-16`; one Newton step `r = r0·(2 − D·r0)` leaves
//!   `(2^-10 + 2^-16)² ≤ 2^-19.9` (always from below) plus `2^-22` of truncation.
//! - **Products**: numerator × reciprocal keeps the three high partial products (error
//!   `≤ 2^-26`), the per-step coefficient (16-bit mantissa, quantised to `2^-16`) is applied with
//!   two more (`≤ 2^-27`).
//!
//! - **Stores** ([`ema`], [`ema_pos`], [`add_pos`]): each returns the [`MiniFloat`] it stored and
//!   that value unpacked (a [`Stored`]), so the step reads it without unpacking again; the
//!   leading bit comes from one byte-table load when the result is at least `2^23` units (the usual
//!   case), else from [`clz`] (two comparisons and a load). Bit-identical to packing and
//!   unpacking.
//!
//! See the module docs of `fixed` for the resulting bound.

use super::arith::{clz, shl_sat, Scale, Wf, CLZ8, WIDE};
use super::fast::Fast;
use super::minifloat::{MiniFloat, BIAS};

/// `x >> s` for any `s ≥ 0` (0 from 32 on); a negative `s` (only with `x = 0`) gives 0.
#[inline(always)]
fn shr(x: u32, s: i32) -> u32 {
    if (s as u32) < 32 {
        x >> s
    } else {
        0
    }
}

/// Integer `round(√n)` at compile time.
const fn isqrt_round(n: u64) -> u64 {
    let (mut lo, mut hi) = (0u64, 1u64 << 32);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if mid * mid <= n {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    // (lo + ½)² = lo² + lo + ¼: round up when n − lo² > lo.
    if n - lo * lo > lo {
        lo + 1
    } else {
        lo
    }
}

/// `(s0, t)` for `x ∈ [(i+128)·2^23, (i+129)·2^23)`: `s0 = round(√((i + 128.5)·2^23))`,
/// `t = round(2^30/s0)`.
static SQRT_TAB: [(u16, u16); 384] = {
    let mut t = [(0u16, 0u16); 384];
    let mut i = 0;
    while i < 384 {
        let s0 = isqrt_round((2 * i as u64 + 257) << 22);
        t[i] = (s0 as u16, (((1u64 << 30) + s0 / 2) / s0) as u16);
        i += 1;
    }
    t
};

/// `r0 = round(2^25/(512 + i + ½))` for `D ∈ [(512+i)·2^21, (513+i)·2^21)`: `r0 ≈ 2^46/D`.
static RECIP_TAB: [u16; 512] = {
    let mut t = [0u16; 512];
    let mut i = 0;
    while i < 512 {
        let d = 1025 + 2 * i as u64;
        t[i] = (((1u64 << 26) + d / 2) / d) as u16;
        i += 1;
    }
    t
};

/// A reciprocal `R·2^e` with `R ∈ [2^30, 2^31]`, or "infinite" (`R = 0`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Recip {
    r: u32,
    e: i32,
}

/// `1/(√v + eps)` for `v ≥ 0` (a negative `v` counts as 0) and `eps ≥ 0`; infinite when both are 0.
/// Relative error `≤ 2^-18.8 + 2^-19.9 + 2^-22 + 2^-30 < 2^-17.9` (see the module docs).
#[inline(always)]
pub(crate) fn inv_root_eps(v: Wf, eps: Wf) -> Recip {
    // √v as S·2^se, S ∈ [2^30, 2^31) (Q15 root of x ∈ [2^30, 2^32)).
    let (sm, se) = if v.m == 0 || v.neg {
        (0, 0)
    } else {
        let (x, ex) = if v.e & 1 != 0 {
            (v.m << 1, v.e - 1)
        } else {
            (v.m, v.e)
        };
        let (s0, t) = SQRT_TAB[(x >> 23) as usize - 128];
        let (s0, t) = (u32::from(s0), i32::from(t));
        // |x − s0²| ≤ 2·s0·64.5 < 2^23.1; (r >> 8)·t < 2^15.1·2^15.
        let r = x.wrapping_sub(s0 * s0) as i32;
        let s = ((s0 << 15) as i32).wrapping_add(((r >> 8) * t) >> 8);
        (s as u32, (ex >> 1) - 15)
    };
    // d = √v + eps, aligned (the smaller operand truncated), D ∈ [2^30, 2^31).
    let (mut dm, mut de) = if eps.m == 0 {
        (sm, se)
    } else if sm == 0 {
        (eps.m, eps.e)
    } else if se >= eps.e {
        (sm + shr(eps.m, se - eps.e), se)
    } else {
        (shr(sm, eps.e - se) + eps.m, eps.e)
    };
    if dm == 0 {
        return Recip { r: 0, e: 0 };
    }
    if dm >= 1 << 31 {
        dm >>= 1;
        de += 1;
    } else if dm < 1 << 30 {
        // Only the root's truncation can leave it just below 2^30.
        dm <<= 1;
        de -= 1;
    }
    let r0 = u32::from(RECIP_TAB[(dm >> 21) as usize - 512]);
    // D·r0/2^16 ≈ 2^30: (D >> 16)·r0 < 2^31, (D & 0xFFFF)·r0 < 2^32.
    let p = (dm >> 16) * r0 + (((dm & 0xFFFF) * r0) >> 16);
    let err = (1u32 << 30).wrapping_sub(p) as i32; // |err| ≤ 2^20.1
    let r = ((r0 << 15) as i32).wrapping_add(((err >> 6) * r0 as i32) >> 9) as u32;
    Recip { r, e: -61 - de }
}

/// `num · rec` as `(negative, Q, e)`, the value `±Q·2^e` with `Q < 2^31` (`Q ≥ 2^28` unless 0):
/// the three high partial products of the 31×31-bit product.
#[inline(always)]
pub(crate) fn mul_recip(num: Wf, rec: Recip) -> (bool, u32, i32) {
    let (ah, al) = (num.m >> 16, num.m & 0xFFFF);
    let (bh, bl) = (rec.r >> 16, rec.r & 0xFFFF);
    let q = ah * bh + ((ah * bl) >> 16) + ((al * bh) >> 16);
    (num.neg, q, num.e + rec.e + 32)
}

/// `num / (√v + eps)` as a working float (for state that holds it, e.g. RMSprop's buffer).
#[inline]
pub(crate) fn div_root_eps(num: Wf, v: Wf, eps: Wf) -> Wf {
    if num.m == 0 {
        return Wf::ZERO;
    }
    let rec = inv_root_eps(v, eps);
    if rec.r == 0 {
        // x/0: the largest working float (saturates wherever it goes).
        return Wf {
            neg: num.neg,
            m: (1 << 31) - 1,
            e: 1 << 20,
        };
    }
    let (neg, q, e) = mul_recip(num, rec);
    Wf::norm(neg, q, e)
}

/// An update `±Y·2^-s` LSB of the parameter, `Y < 2^31`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Update {
    neg: bool,
    y: u32,
    /// Right shift to the parameter's LSB (`≤ 0`: at least `Y` LSB).
    s: i32,
}

/// `c · num/(√v + eps)` in the parameter's LSB units (`frac` fraction bits), `c ≥ 0`.
#[inline(always)]
pub(crate) fn update(num: Wf, rec: Recip, c: Scale, frac: u32) -> Update {
    let (cm, csh, _) = c.parts();
    if num.m == 0 || cm == 0 {
        return Update {
            neg: false,
            y: 0,
            s: 0,
        };
    }
    if rec.r == 0 {
        return Update {
            neg: num.neg,
            y: (1 << 31) - 1,
            s: -64,
        };
    }
    let (neg, q, e) = mul_recip(num, rec);
    // Q·cm/2^16: (Q >> 16)·cm ≤ 2^30, (Q & 0xFFFF)·cm < 2^32.
    let y = (q >> 16) * cm + (((q & 0xFFFF) * cm) >> 16);
    Update {
        neg,
        y,
        s: csh - 16 - e - frac as i32,
    }
}

/// `c · x` in the parameter's LSB units (`frac` fraction bits), `c ≥ 0` (two partial products).
#[inline(always)]
pub(crate) fn update_plain(x: Wf, c: Scale, frac: u32) -> Update {
    let (cm, csh, _) = c.parts();
    // x.m < 2^31: (x.m >> 16)·cm + ((x.m & 0xFFFF)·cm >> 16) < 2^31.
    let y = (x.m >> 16) * cm + (((x.m & 0xFFFF) * cm) >> 16);
    Update {
        neg: x.neg,
        y,
        s: csh - 16 - x.e - frac as i32,
    }
}

impl Update {
    /// `p ∓ u` rounded with the 32-bit offset `rnd` (`floor(|u| + rnd/2^32)` for `|u| < 2^31`
    /// LSB: exact when the shift is at most 31, then the offset's top 31 bits decide), saturating
    /// at the format's range.
    #[inline(always)]
    pub(crate) fn apply(self, p: i32, rnd: u32) -> i32 {
        let Update { neg, y, s } = self;
        let q = if s >= 1 {
            if s <= 31 {
                // y < 2^31 and the offset < 2^s: no overflow.
                (y + (rnd >> (32 - s))) >> s
            } else if s <= 62 {
                // 1 when rnd/2^32 ≥ 1 − |u|, to 2^-31 LSB.
                u32::from((!rnd >> 1) < (y >> (s - 31)))
            } else {
                0
            }
        } else {
            let l = -s;
            if y == 0 {
                0
            } else if l < 31 && y <= (i32::MAX as u32) >> l {
                y << l
            } else {
                // |u| ≥ 2^31 LSB. Only `|u| ≥ 2^32` LSB (the format's whole width) leaves the
                // range from anywhere; below that `p ∓ u` may land inside it (`p` near one edge,
                // `u` toward the other: I16F16 `p = 32768 − 2^-16`, `u = 32831` gives −63;
                // fuzz/regressions/optim_step/fixed-rmsprop-i16f16-wide-update-*). Rare: the
                // exact 64-bit sum, clamped.
                let u = if l < 33 {
                    i64::from(y) << l // y < 2^31: below 2^63
                } else {
                    return if neg { i32::MAX } else { i32::MIN };
                };
                let r = if neg {
                    i64::from(p) + u
                } else {
                    i64::from(p) - u
                };
                return r.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
            }
        } as i32;
        if neg {
            p.saturating_add(q)
        } else {
            p.saturating_sub(q)
        }
    }

    /// The update in wide units (`2^-WIDE` LSB), truncated, saturating.
    #[inline]
    pub(crate) fn wide(self) -> i64 {
        let mag = shl_sat(u64::from(self.y), WIDE as i32 - self.s) as i64;
        if self.neg {
            -mag
        } else {
            mag
        }
    }
}

/// A value just stored as a [`MiniFloat`], with its exact working-float value (what
/// [`MiniFloat::unpack`] of `bits` gives), so that a kernel does not unpack what it has just
/// packed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stored {
    pub(crate) bits: MiniFloat,
    pub(crate) wf: Wf,
}

/// `old + w·(new − old)` stored as a [`MiniFloat`] (round to nearest) for `w ∈ [2^-16, 1)`:
/// both operands aligned to the larger exponent with 30-bit mantissas (truncating the smaller),
/// the product floored: absolute error `≤ 3·2^-30·max(|old|, |new|)` before the store.
#[inline(always)]
pub(crate) fn ema(old: Wf, new: Wf, w: Fast) -> Stored {
    let e = if old.m == 0 || (new.m != 0 && new.e > old.e) {
        new.e
    } else {
        old.e
    };
    let a = signed(new, e);
    let b = signed(old, e);
    // |a|, |b| < 2^30: the difference fits; floor(d·w) lies between 0 and d.
    let r = b + w.mul_round(a - b, 0);
    pack(r < 0, r.unsigned_abs(), e + 1)
}

/// [`ema`] for two non-negative operands (a second moment and `g²`): the same numbers, without
/// the signs, except that a nonzero result below [`MiniFloat::MIN_POSITIVE`] is kept as
/// `MIN_POSITIVE` ([`keep_positive`]).
#[inline(always)]
pub(crate) fn ema_pos(old: Wf, new: Wf, w: Fast) -> Stored {
    let e = if old.m == 0 || (new.m != 0 && new.e > old.e) {
        new.e
    } else {
        old.e
    };
    let a = shr(new.m, 1 + e - new.e) as i32;
    let b = shr(old.m, 1 + e - old.e) as i32;
    // Between a and b: non-negative.
    let r = b + w.mul_round(a - b, 0);
    pack_as::<true>(false, r as u32, e + 1)
}

/// `±(x.m >> (1 + e − x.e))`: `x` in units of `2^(e+1)`, `|·| < 2^30`.
#[inline(always)]
fn signed(x: Wf, e: i32) -> i32 {
    let m = shr(x.m, 1 + e - x.e) as i32;
    if x.neg {
        -m
    } else {
        m
    }
}

/// `a + b` of two non-negative values, stored as a [`MiniFloat`] (Adagrad's sum; a nonzero sum
/// below [`MiniFloat::MIN_POSITIVE`] is kept as `MIN_POSITIVE`, see [`keep_positive`]).
#[inline(always)]
pub(crate) fn add_pos(a: Wf, b: Wf) -> Stored {
    let e = if a.m == 0 || (b.m != 0 && b.e > a.e) {
        b.e
    } else {
        a.e
    };
    pack_as::<true>(false, shr(a.m, 1 + e - a.e) + shr(b.m, 1 + e - b.e), e + 1)
}

/// The fixed-point value `raw · 2^-frac` as a working float (exact; the same value as
/// `Wf::from_fixed`, written out and always inlined for the 32-bit loops, whose register
/// allocation it is measured in).
#[inline(always)]
pub(crate) fn wf_from_fixed(raw: i32, frac: u32) -> Wf {
    let a = raw.unsigned_abs();
    if a == 0 {
        return Wf::ZERO;
    }
    let lz = clz(a) as i32;
    if lz == 0 {
        Wf {
            neg: raw < 0,
            m: a >> 1,
            e: 1 - frac as i32,
        }
    } else {
        Wf {
            neg: raw < 0,
            m: a << (lz - 1),
            e: -(lz - 1) - frac as i32,
        }
    }
}

/// `±a·2^e` (`a < 2^31`) rounded to a 24-bit mantissa, to nearest (ties away from 0).
#[inline(always)]
fn pack(neg: bool, a: u32, e: i32) -> Stored {
    pack_as::<false>(neg, a, e)
}

/// [`pack`]; with `KEEP`, a nonzero non-negative value below
/// [`MiniFloat::MIN_POSITIVE`] is stored as `MIN_POSITIVE` instead of 0 (second moments: see
/// [`keep_positive`]). Only the rare out-of-range branch tests it.
#[inline(always)]
fn pack_as<const KEEP: bool>(neg: bool, a: u32, e: i32) -> Stored {
    // mant = round(a / 2^s) ∈ [2^23, 2^24], s = (bit length of a) − 24.
    let (mut mant, mut ex) = if a >= 1 << 23 {
        // The usual case (a moment within 2^7 of its larger operand): s ∈ [0, 7] from one load
        // (bits 23..30 of a; a < 2^31).
        let s = 7 - u32::from(CLZ8[(a >> 23) as usize]);
        ((a + ((1 << s) >> 1)) >> s, e + s as i32)
    } else if a == 0 {
        return Stored {
            bits: MiniFloat::ZERO_BITS,
            wf: Wf::ZERO,
        };
    } else {
        let l = clz(a) - 8; // ≥ 1
        (a << l, e - l as i32)
    };
    if mant == 1 << 24 {
        mant = 1 << 23;
        ex += 1;
    }
    let bits = MiniFloat::from_parts(neg, mant, ex + BIAS);
    if (ex + BIAS) as u32 > 127 {
        if KEEP && !neg && ex + BIAS < 0 {
            return Stored {
                bits: MiniFloat::MIN_POSITIVE,
                wf: MiniFloat::MIN_POSITIVE.unpack(),
            };
        }
        // Flushed to 0 or saturated: the stored value is not `mant·2^ex`.
        return Stored {
            bits,
            wf: bits.unpack(),
        };
    }
    Stored {
        bits,
        wf: Wf {
            neg,
            m: mant << 7,
            e: ex - 7,
        },
    }
}

/// `g²` for a working float `g` (relative error `≤ 2^-29`).
#[inline(always)]
pub(crate) fn square(g: Wf) -> Wf {
    if g.m == 0 {
        return Wf::ZERO;
    }
    let (gh, gl) = (g.m >> 15, g.m & 0x7FFF);
    // m²/2^30 = gh² + gh·gl/2^14 + gl²/2^30 < 2^62/2^30: fits.
    let sq = gh * gh + ((gh * gl) >> 14);
    if sq >= 1 << 31 {
        Wf {
            neg: false,
            m: sq >> 1,
            e: 2 * g.e + 31,
        }
    } else {
        Wf {
            neg: false,
            m: sq,
            e: 2 * g.e + 30,
        }
    }
}

/// `old + w·(new − old)` stored: the 32-bit [`ema`] when `w` is a fast coefficient, else the
/// working float (same or smaller error).
///
/// `w = 1` (`β = 0`, or `β < 2^-17`, whose `1 − β` quantises to 1) does not compute
/// `old + (new − old)`, which would truncate `new` at `2^-30` of `old` and cancel, so with
/// `old ≫ new` (Adam's `v` after a large gradient) `v` came out far below `g²` and the step
/// beyond `lr·K_t` (fuzz/regressions/optim_step/`fixed-adam-beta2-tiny-cancellation-…`): with
/// `β = 0` it stores `new` itself.
///
/// When `w` quantises to 1 while `β = 1 − w` is not 0 (`β < 2^-17`), the value is
/// `new + β·(old − new)` with `β` (`beta`, quantised to `2^-16` of itself): dropping `β·old`
/// (storing `new`) left `v` far below its exact value when `old ≫ new` (I16F16 Adam with
/// `β2 ≈ 2.8e-9`, `v_old ≈ 2.3e4`, `g'² ≈ 5e-10`: `v` stored as `5e-10` where it is `6.5e-5`, a
/// step of 14 LSB where `lr·K_2` allows 1.7; fuzz/regressions/optim_step/
/// `fixed-adam-tiny-beta2-dropped-*`).
#[inline(always)]
pub(crate) fn ema_any(old: Wf, new: Wf, fast: Option<Fast>, w: Scale, beta: Scale) -> MiniFloat {
    match fast {
        Some(f) => ema(old, new, f).bits,
        None if w.is_one() => MiniFloat::pack(small_beta(old, new, beta)),
        None => MiniFloat::pack(old.add(new.sub(old).mul_scale(w))),
    }
}

/// `new + β·(old − new)` for a weight `1 − β` that quantised to 1 (`β = 0`: `new` exactly).
#[inline(always)]
fn small_beta(old: Wf, new: Wf, beta: Scale) -> Wf {
    if beta.is_zero() {
        new
    } else {
        new.add(old.sub(new).mul_scale(beta))
    }
}

/// [`ema_any`] for a second moment (`v`, `square_avg`: `old`, `new ≥ 0`), stored by
/// [`keep_positive`]: the same numbers except that a positive value below
/// [`MiniFloat::MIN_POSITIVE`] is stored as `MIN_POSITIVE`, not 0.
#[inline(always)]
pub(crate) fn ema_any_pos(
    old: Wf,
    new: Wf,
    fast: Option<Fast>,
    w: Scale,
    beta: Scale,
) -> MiniFloat {
    match fast {
        Some(f) => ema_pos(old, new, f).bits,
        None if w.is_one() => keep_positive(small_beta(old, new, beta)),
        None => keep_positive(old.add(new.sub(old).mul_scale(w))),
    }
}

/// A second moment stored as a [`MiniFloat`] that never flushes a positive value to 0: below
/// [`MiniFloat::MIN_POSITIVE`] (`2^-77`) it is kept as `MIN_POSITIVE`.
///
/// A flushed `v` next to an unflushed `m` made `m̂/(√v̂ + eps)` unbounded: `v = (1 − β2)·g'²`
/// drops below `2^-77` while `m = (1 − β1)·g'` does not for `|g'| < 2^-38.5/√(1 − β2)`, which an
/// L2 gradient `g + wd·p` reaches with a tiny `wd` (it is not a format value), and a format
/// gradient with `β2` within `2^-45` of 1 (I16F16; `2^-29` for I8F24). One I16F16 Adam step with
/// `wd ≈ 2.3e-14`, `eps ≈ 7e-125` and `g = 0` moved a parameter from −437.7 to MAX where
/// `lr·K_1 = lr = 0.1` (found by fuzzing: fuzz/regressions/optim_step/
/// `fixed-adam-l2-tiny-v-flushed-*`). Kept at `MIN_POSITIVE`, the stored `v` is at least the
/// exact one, so the step is at most the exact step (within `lr·K_t`); it differs from the
/// flushing store only where that one stored 0 for a positive value.
#[inline]
pub(crate) fn keep_positive(x: Wf) -> MiniFloat {
    let s = MiniFloat::pack(x);
    if s.to_bits() == 0 && x.m != 0 && !x.neg {
        MiniFloat::MIN_POSITIVE
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    fn wf(x: f64) -> Wf {
        Wf::from_f64(x)
    }

    #[test]
    fn inverse_root_is_within_its_derived_bound_on_a_dense_sweep() {
        let bound = 2f64.powf(-17.9);
        let mut worst = 0.0f64;
        // v over four octaves of mantissa and both exponent parities, eps from 0 to dominant.
        let mut x = 1.0f64;
        while x < 16.0 {
            for eps in [0.0, 1e-9, 1e-4, 0.3, 2.0, 50.0] {
                let v = wf(x).to_f64();
                let want = 1.0 / (v.sqrt() + wf(eps).to_f64());
                let r = inv_root_eps(wf(x), wf(eps));
                let got = libm::ldexp(f64::from(r.r), r.e);
                worst = worst.max((got - want).abs() / want);
            }
            x *= 1.000_037;
        }
        std::println!(
            "inverse root worst relative error {worst:e} (2^{:.2})",
            worst.log2()
        );
        assert!(worst <= bound, "{worst:e}");
    }

    #[test]
    fn ema_square_and_pack_are_accurate() {
        let w = Fast::from_scale(Scale::from_f64(0.1)).unwrap();
        let wq = Scale::from_f64(0.1).to_f64();
        for &old in &[0.0, 1e-8, -3.5, 0.7, 1e6, -2e-5] {
            for &new in &[0.0, 1e-7, 2.5, -0.7, 3e5, 1.0] {
                let (o, n) = (MiniFloat::from_f64(old).to_f64(), wf(new).to_f64());
                let want = o + wq * (n - o);
                let got = ema(wf(o), wf(n), w).bits.to_f64();
                let tol = want.abs() * 2f64.powi(-24) + 3.0 * 2f64.powi(-30) * o.abs().max(n.abs());
                assert!(
                    (got - want).abs() <= tol * 1.0001,
                    "{old} {new}: {got} vs {want}"
                );
            }
            let s = square(wf(old)).to_f64();
            assert!((s - old * old).abs() <= old * old * 2f64.powi(-28), "{old}");
        }
    }

    #[test]
    fn fast_clz_and_pack_agree_with_the_reference_forms() {
        let mut x = 1u64;
        while x <= u64::from(u32::MAX) {
            for d in [0u64, 1, 2, 3, 7] {
                for v in [x.saturating_sub(d).max(1), (x + d).min(u64::from(u32::MAX))] {
                    let v = v as u32;
                    assert_eq!(clz(v), v.leading_zeros(), "{v}");
                    for raw in [v as i32, (v as i32).wrapping_neg()] {
                        for frac in [16, 24] {
                            assert_eq!(wf_from_fixed(raw, frac), Wf::from_fixed(raw, frac));
                        }
                    }
                    if v < 1 << 31 {
                        // The unpacked value handed back is exactly the stored one, and the
                        // mantissa is rounded to nearest.
                        for e in [-150, -120, -40, 0, 20, 30] {
                            for neg in [false, true] {
                                let st = pack(neg, v, e);
                                assert_eq!(st.wf, st.bits.unpack(), "{v} {e}");
                                let want = f64::from(v) * 2f64.powi(e);
                                let got = st.bits.to_f64().abs();
                                let stored = (2f64.powi(-77)..2f64.powi(51)).contains(&want);
                                if stored {
                                    assert!((got - want).abs() <= want * 2f64.powi(-24), "{v} {e}");
                                }
                            }
                        }
                    }
                }
            }
            x = x * 3 / 2 + 1;
        }
    }

    #[test]
    fn update_rounds_and_saturates() {
        // 1/(√4 + 0) · 1.0 · x, with 16 fraction bits.
        let rec = inv_root_eps(wf(4.0), Wf::ZERO);
        let u = update(wf(3.0), rec, Scale::from_f64(0.5), 16);
        let want = 0.75 * 65536.0;
        assert_eq!(f64::from(-u.apply(0, 1 << 31)), want);
        // Tiny updates: nearest gives 0, a large offset gives 1.
        let u = update(wf(1e-9), rec, Scale::from_f64(1e-3), 16);
        assert_eq!(u.apply(5, 1 << 31), 5);
        assert_eq!(u.apply(5, u32::MAX), 4);
        // Infinite reciprocal saturates.
        let u = update(
            wf(-1.0),
            inv_root_eps(Wf::ZERO, Wf::ZERO),
            Scale::from_f64(1.0),
            16,
        );
        assert_eq!(u.apply(7, 0), i32::MAX);
        let u = update(wf(1.0), rec, Scale::from_f64(1e12), 24);
        assert_eq!(u.apply(i32::MAX - 5, 0), i32::MIN);
        // 2^31 ≤ |u| < 2^32 LSB from the opposite edge lands inside the range (the fuzz
        // regression `fixed-rmsprop-i16f16-wide-update-*`): u = 1.5·2^31 LSB, within the
        // reciprocal's relative error (3.5e-6); toward the near edge it saturates.
        let near = |got: i32, want: i64| {
            let err = (i64::from(got) - want).abs() as f64;
            assert!(err <= 3.5e-6 * 3.0 * 2f64.powi(30), "{got} vs {want}");
        };
        let u = update(wf(3.0), rec, Scale::from_f64(32768.0), 16);
        near(u.apply(i32::MAX, 0), i64::from(i32::MAX) - 3 * (1 << 30));
        assert_eq!(u.apply(i32::MIN + 7, 0), i32::MIN);
        let u = update(wf(-3.0), rec, Scale::from_f64(32768.0), 16);
        near(u.apply(i32::MIN, 0), i64::from(i32::MIN) + 3 * (1 << 30));
        assert_eq!(u.apply(i32::MAX - 7, 0), i32::MAX);
    }
}
