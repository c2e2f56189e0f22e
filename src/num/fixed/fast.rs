//! The fast paths of the linear kernels (SGD, momentum): 32-bit arithmetic only, no `i64`, no
//! library call.
//!
//! A fast-path coefficient is `c = m · 2^-(16+k)` with a 16-bit mantissa `m ∈ [2^15, 2^16)` and
//! `0 ≤ k ≤ 15`, i.e. `2^-16 ≤ c < 1`: every learning rate from `1.53e-5` to just under 1, and
//! `1 − μ` for `μ ∈ [0.5, 1 − 2^-16]`. It is the same quantised coefficient as the general
//! kernels' (`Scale`, relative error `≤ 2^-16`), so the error bounds do not change.
//!
//! For a 32-bit `x` the product `P = x·m` has 48 bits; it is never formed. With `x = xh·2^16 + xl`
//! (`xh` signed, `xl < 2^16`) it is two 16×16-bit `MULS`, `xh·m` (`|xh·m| ≤ 2^31 − 2^15`) and
//! `xl·m < 2^32`. A parameter update `x·c` is rounded with a 32-bit offset `r` as
//!
//! `⌊(P + R)/2^(16+k)⌋ = (xh·m + ((xl·m + (R mod 2^16)) >> 16) + (R >> 16)) >> k`, `R = r >> (16 − k)`,
//!
//! exactly (nested floors; no intermediate overflows, see [`Fast::mul_round`]). `R` is uniform on
//! `[0, 2^(16+k))` when `r` is, so stochastic rounding is exact in expectation and its error is
//! below 1 LSB, as in the general kernels; `r = 2^31` rounds to nearest. The momentum buffer is
//! rounded to nearest the same way (`(⌊P/2^16⌋ + 2^(k−1)) >> k`), error `≤ ½` LSB.
//!
//! Why two passes for momentum (buffer, then parameters), and why the loops are out of line:
//! ARMv6-M has eight low registers, and the fused loop (two products, two shifts, the generator,
//! three pointers) spills on every element. Measured on the Cortex-M0 benchmark (step 2,
//! instructions per parameter): SGD 217 → 37, momentum 654 → 57.
//!
//! Configurations outside the fast paths (weight decay, dampening, Nesterov, `maximize` for
//! momentum, coefficients outside the range above) use the general kernels in `kernels.rs`.

use super::arith::Scale;
use super::RoundingState;
use fixed::types::extra::LeEqU32;
use fixed::FixedI32;

/// A coefficient `m · 2^-(16+k)` of the fast paths (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fast {
    m: u32,
    k: u32,
    /// `16 − k`: the offset's shift.
    j: u32,
}

impl Fast {
    /// The same coefficient as `s` (exactly), if it is positive and in `[2^-16, 1)`
    /// (`k ≤ 15`).
    pub(crate) fn from_scale(s: Scale) -> Option<Fast> {
        let (m, sh, neg) = s.parts();
        if neg || m == 0 || !(16..=31).contains(&sh) {
            None
        } else {
            let k = (sh - 16) as u32;
            Some(Fast { m, k, j: 16 - k })
        }
    }

    /// `⌊(x·m + R)/2^(16+k)⌋` with `R = r >> (16 − k) < 2^(16+k)`: `x·c` rounded with the
    /// offset `R/2^(16+k)`, exactly. With `r` uniform on `u32` this is unbiased stochastic
    /// rounding (`E = x·c`, error `< 1`); with `r = 2^31` round to nearest (ties up).
    #[inline(always)]
    pub(crate) fn mul_round(self, x: i32, r: u32) -> i32 {
        let r = r >> self.j;
        // xh·m: |xh| ≤ 2^15, m < 2^16, so |xh·m| ≤ 2^31 − 2^15. xl·m ≤ (2^16 − 1)², plus
        // R mod 2^16 stays below 2^32 − 2^16; its top half is ≤ 2^16 − 2, so
        // hi + that ≤ 2^31 − 2^15 − 1, and adding ⌊R/2^16⌋ < 2^15 (k ≤ 15) cannot overflow.
        // The wrapping forms only state that no wrap-around happens.
        let hi = (x >> 16).wrapping_mul(self.m as i32);
        let lo = (x as u32 & 0xFFFF).wrapping_mul(self.m);
        let low = (lo.wrapping_add(r & 0xFFFF) >> 16) as i32;
        hi.wrapping_add(low).wrapping_add((r >> 16) as i32) >> self.k
    }

    /// `⌊x·c + ½⌋` for `k ≥ 1`: `(⌊x·m/2^16⌋ + 2^(k−1)) >> k` (exact: nested floors).
    #[inline(always)]
    fn mul_nearest_k1(self, x: i32, half: i32) -> i32 {
        let hi = (x >> 16).wrapping_mul(self.m as i32);
        let lo = (x as u32 & 0xFFFF).wrapping_mul(self.m);
        // ⌊x·m/2^16⌋ ≤ 2^31 − 2^15 − 1, plus 2^(k−1) ≤ 2^14: no overflow.
        hi.wrapping_add((lo >> 16) as i32).wrapping_add(half) >> self.k
    }
}

/// A source of 32-bit rounding offsets (in units of `2^-32` LSB).
pub(crate) trait Offsets {
    /// The next offset.
    fn next(&mut self) -> u32;
}

/// The stochastic-rounding generator of [`RoundingState`]: a 32-bit linear congruential
/// generator `s ← a·s + c` (full period 2^32 for any seed), one `MULS` per draw. The offset is
/// the state; a kernel uses its top `16 + k` bits, which over a period take every value equally
/// often (the low bits of an LCG are weak, its top bits are not).
pub(crate) struct Lcg(pub(crate) u32);

/// LCG multiplier (`≡ 1 mod 4`) and increment (odd): full period.
pub(crate) const LCG_A: u32 = 747_796_405;
pub(crate) const LCG_C: u32 = 1;

impl Offsets for Lcg {
    #[inline(always)]
    fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(LCG_A).wrapping_add(LCG_C);
        self.0
    }
}

/// Round to nearest: the offset ½.
pub(crate) struct Nearest;

impl Offsets for Nearest {
    #[inline(always)]
    fn next(&mut self) -> u32 {
        1 << 31
    }
}

/// Runs `$body` with `$o` bound to an [`Offsets`] for `$aux` (monomorphised for both modes); used
/// by every fixed-point kernel that writes parameters.
macro_rules! with_offsets {
    ($aux:expr, |$o:ident| $body:expr) => {{
        let aux: &mut $crate::num::fixed::RoundingState = $aux;
        if aux.is_stochastic() {
            let mut lcg = $crate::num::fixed::fast::Lcg(aux.state());
            {
                let $o = &mut lcg;
                $body;
            }
            aux.set_state(lcg.0);
        } else {
            let $o = &mut $crate::num::fixed::fast::Nearest;
            $body;
        }
    }};
}
pub(crate) use with_offsets;

// ---------------------------------------------------------------- SGD

/// SGD without weight decay: `p ← p ∓ lr·g`, one rounded product per element.
/// Kept out of line (as is every fast loop): a loop compiled on its own gets the eight low
/// registers to itself; inlined into a large caller it inherits the caller's spills.
#[inline(never)]
fn sgd<F: LeEqU32, O: Offsets, const ASCEND: bool>(
    p: &mut [FixedI32<F>],
    g: &[FixedI32<F>],
    lr: Fast,
    o: &mut O,
) {
    for (p, g) in p.iter_mut().zip(g) {
        let u = lr.mul_round(g.to_bits(), o.next());
        let pr = p.to_bits();
        // torch's `maximize` ascends: p + lr·g.
        // Descent: ⌊p − x + U⌋ = p − ⌈x − U⌉, and ⌈x − U⌉ has the law of ⌊x + U⌋ (U uniform):
        // so both directions round `lr·g` itself.
        *p = FixedI32::from_bits(if ASCEND {
            pr.saturating_add(u)
        } else {
            pr.saturating_sub(u)
        });
    }
}

/// Dispatches [`sgd`] over the rounding mode and direction.
pub(crate) fn sgd_fast<F: LeEqU32>(
    p: &mut [FixedI32<F>],
    g: &[FixedI32<F>],
    lr: Fast,
    ascend: bool,
    aux: &mut RoundingState,
) {
    with_offsets!(aux, |o| if ascend {
        sgd::<_, _, true>(p, g, lr, o)
    } else {
        sgd::<_, _, false>(p, g, lr, o)
    });
}

// ---------------------------------------------------------------- Momentum

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
    sgd::<F, O, false>(p, b, c.lr, o);
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
    sgd::<F, O, false>(p, g, lr, o);
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

// ---------------------------------------------------------------- Lion

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

impl Fast {
    /// The sign of `m + c·d` (exactly; 0 only for an exact 0) for `d` in `i32`: `> 0`, `< 0`
    /// or `0` as the returned value.
    #[inline(always)]
    fn interp_sign(self, m: i32, d: i32) -> i32 {
        // ⌊d·cm/2^16⌋ as in `mul_round` (no overflow), then ⌊d·c⌋ = that >> k.
        let hi = (d >> 16).wrapping_mul(self.m as i32);
        let lo = (d as u32 & 0xFFFF).wrapping_mul(self.m);
        let top = hi.wrapping_add((lo >> 16) as i32);
        // ⌊m + d·c⌋ lies between m and g = m + d: no overflow.
        let f = m.wrapping_add(top >> self.k);
        if f != 0 {
            f
        } else {
            // m + d·c ∈ [0, 1): positive unless the dropped fraction is 0.
            i32::from((lo & 0xFFFF) != 0 || (top as u32) << (31 - self.k) << 1 != 0)
        }
    }
}

/// `sign(m + c·(g − m))` when `g − m` overflows `i32` (only for state far from the gradients,
/// e.g. restored from a checkpoint): exact, in `i64`.
#[cold]
#[inline(never)]
fn interp_sign_wide(m: i32, g: i32, c: Fast) -> i32 {
    let d = i64::from(g) - i64::from(m); // |d| < 2^32
    let v = (i64::from(m) << (16 + c.k)) + d * i64::from(c.m); // < 2^62 + 2^48
    v.signum() as i32
}

/// `m + round(c·(g − m))` (to nearest, ties up) when `g − m` overflows `i32`: exact, in `i64`.
#[cold]
#[inline(never)]
fn ema_nearest_wide(m: i32, g: i32, c: Fast) -> i32 {
    let d = i64::from(g) - i64::from(m);
    let sh = 16 + c.k;
    // Between m and g: fits.
    (i64::from(m) + ((d * i64::from(c.m) + (1 << (sh - 1))) >> sh)) as i32
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

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn products_round_exactly() {
        let xs = [
            0,
            1,
            -1,
            65535,
            -65536,
            65536,
            i32::MAX,
            i32::MIN,
            123_456_789,
            -987_654,
        ];
        for &c in &[0.9999, 0.5, 0.1, 1e-2, 1e-3, 3.3e-5, 1.6e-5] {
            let f = Fast::from_scale(Scale::from_f64(c)).unwrap();
            let cq = Scale::from_f64(c).to_f64();
            for &x in &xs {
                let exact = f64::from(x) * cq; // exact in f64: 48 significant bits at most
                for r in [0, 1, 1 << 31, 0x1234_5678, 0xFFFF_0000, u32::MAX] {
                    // ⌊x·c + R/2^(16+k)⌋, R = r >> (16 − k).
                    let off = f64::from(r >> f.j) / 2f64.powi(16 + f.k as i32);
                    assert_eq!(
                        f64::from(f.mul_round(x, r)),
                        (exact + off).floor(),
                        "{x} {c} {r}"
                    );
                }
                if f.k >= 1 {
                    let h = 1 << (f.k - 1);
                    assert_eq!(f64::from(f.mul_nearest_k1(x, h)), (exact + 0.5).floor());
                }
            }
        }
        assert!(Fast::from_scale(Scale::from_f64(1.0)).is_none());
        // Lion's interpolation sign and moment against the exact i64 forms.
        let mut x = 0x9E37_79B9_u32;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as i32
        };
        for &c in &[0.5, 0.25, 0.1, 1e-2, 1e-3, 3.3e-5, 1.6e-5] {
            let f = Fast::from_scale(Scale::from_f64(c)).unwrap();
            let mut pairs = std::vec![(-1, 3), (1, -3), (0, 0), (5, 5), (-7, 9), (i32::MAX, -2)];
            // Exact zeros: m = −c·d·... with c = cm/2^(16+k): m·(2^(16+k) − cm) = −g·cm.
            let (cm, sh) = (i64::from(f.m), 16 + f.k);
            let big = (1i64 << sh) - cm;
            pairs.push(((-cm) as i32, big as i32));
            pairs.push((cm as i32, (-big) as i32));
            for _ in 0..20_000 {
                let (a, b) = (next(), next());
                pairs.push((a, b));
                pairs.push((a >> (next() as u32 % 31), b >> (next() as u32 % 31)));
            }
            for (m, g) in pairs {
                let want = interp_sign_wide(m, g, f).signum();
                let got = match g.checked_sub(m) {
                    Some(d) => f.interp_sign(m, d).signum(),
                    None => continue,
                };
                assert_eq!(got, want, "{c} {m} {g}");
                let d = g.wrapping_sub(m);
                if g.checked_sub(m).is_some() {
                    assert_eq!(
                        m.wrapping_add(f.mul_round(d, 1 << 31)),
                        ema_nearest_wide(m, g, f),
                        "{c} {m} {g}"
                    );
                }
                // The wide forms against f64 (exact below 2^20: 20 + 31 fraction bits < 53).
                if m.unsigned_abs().max(g.unsigned_abs()) >= 1 << 20 {
                    continue;
                }
                let exact =
                    f64::from(m) + (f64::from(g) - f64::from(m)) * Scale::from_f64(c).to_f64();
                assert_eq!(
                    f64::from(want),
                    exact.signum() * f64::from(u8::from(exact != 0.0))
                );
                assert_eq!(f64::from(ema_nearest_wide(m, g, f)), (exact + 0.5).floor());
            }
        }
        assert!(Fast::from_scale(Scale::from_f64(-0.1)).is_none());
        assert!(Fast::from_scale(Scale::from_f64(1e-5)).is_none());
    }
}
