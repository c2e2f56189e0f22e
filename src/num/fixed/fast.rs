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

/// Runs `$body` with `$o` bound to the offsets of `$aux` (monomorphised for both modes).
macro_rules! with_offsets {
    ($aux:expr, |$o:ident| $body:expr) => {{
        let aux: &mut RoundingState = $aux;
        if aux.is_stochastic() {
            let mut lcg = Lcg(aux.state());
            {
                let $o = &mut lcg;
                $body;
            }
            aux.set_state(lcg.0);
        } else {
            let $o = &mut Nearest;
            $body;
        }
    }};
}

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
        assert!(Fast::from_scale(Scale::from_f64(-0.1)).is_none());
        assert!(Fast::from_scale(Scale::from_f64(1e-5)).is_none());
    }
}
