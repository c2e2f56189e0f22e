//! The arithmetic of the fast paths (SGD, momentum and Lion in `optim/*/fixed.rs`; the moment
//! updates of Adam, RMSprop and Adagrad): 32-bit arithmetic only, no `i64`, no library call.
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
//! momentum, coefficients outside the range above) use the general kernels.

use super::arith::Scale;
use fixed::types::extra::LeEqU32;
use fixed::FixedI32;

/// A coefficient `m · 2^-(16+k)` of the fast paths (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fast {
    /// The 16-bit mantissa, in `[2^15, 2^16)`.
    pub(crate) m: u32,
    /// The extra shift, `0..=15`.
    pub(crate) k: u32,
    /// `16 − k`: the offset's shift.
    pub(crate) j: u32,
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
    pub(crate) fn mul_nearest_k1(self, x: i32, half: i32) -> i32 {
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

/// The generator's state after `draws` further draws from `state`, in `O(log draws)`: `n` steps
/// of `s ← a·s + c` are the one affine map `s ← A_n·s + C_n` (mod 2^32), built by repeated
/// squaring of `(a, c)`. `draws` is taken mod 2^32, the generator's period.
pub(crate) const fn lcg_skip(state: u32, draws: u32) -> u32 {
    // (mul, add): the map of the draws composed so far; (a, c): the map of 2^i draws.
    let (mut mul, mut add) = (1u32, 0u32);
    let (mut a, mut c) = (LCG_A, LCG_C);
    let mut n = draws;
    while n != 0 {
        if n & 1 != 0 {
            mul = mul.wrapping_mul(a);
            add = add.wrapping_mul(a).wrapping_add(c);
        }
        // Twice the map: a·(a·s + c) + c = a²·s + (a + 1)·c.
        c = a.wrapping_add(1).wrapping_mul(c);
        a = a.wrapping_mul(a);
        n >>= 1;
    }
    mul.wrapping_mul(state).wrapping_add(add)
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
pub(crate) fn scaled_step<F: LeEqU32, O: Offsets, const ASCEND: bool>(
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

impl Fast {
    /// The sign of `m + c·d` (exactly; 0 only for an exact 0) for `d` in `i32`: `> 0`, `< 0`
    /// or `0` as the returned value.
    #[inline(always)]
    pub(crate) fn interp_sign(self, m: i32, d: i32) -> i32 {
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
pub(crate) fn interp_sign_wide(m: i32, g: i32, c: Fast) -> i32 {
    let d = i64::from(g) - i64::from(m); // |d| < 2^32
    let v = (i64::from(m) << (16 + c.k)) + d * i64::from(c.m); // < 2^62 + 2^48
    v.signum() as i32
}

/// `m + round(c·(g − m))` (to nearest, ties up) when `g − m` overflows `i32`: exact, in `i64`.
#[cold]
#[inline(never)]
pub(crate) fn ema_nearest_wide(m: i32, g: i32, c: Fast) -> i32 {
    let d = i64::from(g) - i64::from(m);
    let sh = 16 + c.k;
    // Between m and g: fits.
    (i64::from(m) + ((d * i64::from(c.m) + (1 << (sh - 1))) >> sh)) as i32
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn lcg_skip_is_that_many_draws() {
        for seed in [0u32, 1, 0xDEAD_BEEF, u32::MAX] {
            let mut lcg = Lcg(seed);
            for n in 0..2_000u32 {
                assert_eq!(lcg_skip(seed, n), lcg.0, "{seed} {n}");
                lcg.next();
            }
            // Composition, and the full period.
            for (a, b) in [
                (12_345u32, 987_654_321u32),
                (u32::MAX, 1),
                (1 << 31, 1 << 31),
            ] {
                assert_eq!(
                    lcg_skip(lcg_skip(seed, a), b),
                    lcg_skip(seed, a.wrapping_add(b))
                );
            }
            assert_eq!(lcg_skip(seed, 0), seed);
        }
    }

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
