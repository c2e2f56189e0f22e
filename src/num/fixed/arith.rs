//! Integer arithmetic shared by the fixed-point kernels: per-step coefficients, wide products,
//! rounding of the parameter write, and a small working float for the normalising optimizers.
//!
//! Every per-element operation here uses only 32-bit multiplies (`MULS` on Cortex-M0, whose
//! product is the low 32 bits), 64-bit additions and shifts. No 32×32→64 multiply
//! (`__aeabi_lmul`) and no float is ever needed per element:
//!
//! - a coefficient has a 16-bit mantissa ([`Scale`]), so `x · c` for a 32-bit `x` is two
//!   16×16-bit partial products that each fit in 32 bits, recombined with a shift and an add;
//! - the working float [`Wf`] keeps a 31-bit mantissa and multiplies by splitting it the same way;
//!   its root and reciprocal are in the `norm` module (tables and Newton steps, no loops).

/// Fraction bits of the "wide" units below the parameter's LSB: 30, not 32, so that the
/// parameter range occupies only a quarter of the `i64` range and a saturated update (`±i64::MAX`,
/// four times the range) still drives `p − u` past the format's edge, where the write clamps it.
pub(crate) const WIDE: u32 = 30;

/// A per-step coefficient `c = ±m · 2^-sh` with a 16-bit mantissa `m ∈ [2^15, 2^16)` (or 0).
///
/// Relative quantisation error of `c`: at most `2^-16` (half a unit of a mantissa `≥ 2^15`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Scale {
    m: u32,
    sh: i32,
    neg: bool,
}

/// Relative error bound of [`Scale::from_f64`].
/// A parameter-format value in wide units (`2^-(F+30)`): the raw value shifted left by [`WIDE`].
#[inline(always)]
pub(crate) fn wide(raw: i32) -> i64 {
    i64::from(raw) << WIDE
}

/// `g` (with `maximize` applied) plus optional L2 decay `wd·p`, as a working float.
///
/// The L2 gradient `g + wd·p` saturates at `±2^(31−F)` (the format's `|MIN|`) before it enters
/// any moment, so that every moment sees the same (saturated) gradient, as the module docs
/// state. Unsaturated, `wd·p` could reach `2^200` (a huge `wd`'s [`Scale`] cap): `m` would
/// saturate at [`MiniFloat::MAX`](super::MiniFloat::MAX) only for `|g'| ≥ 2^51` but `v = (1 − β2)·g'²` already for
/// `|g'| ≥ 2^25.5/√(1 − β2)`, so `m̂/√v̂` (at most `K_t` for any gradient sequence) was
/// unbounded: one step moved a parameter by thousands of `lr` (fuzz/regressions/optim_step/
/// `fixed-…`). With `|g'| ≤ 2^(31−F)` the square stays below `2^(62−2F)`, inside the
/// [`MiniFloat`](super::MiniFloat) range for `F ≥ 6` (`I16F16`: `2^30`).
#[inline(always)]
pub(crate) fn grad_wf(g: i32, p: i32, gsign_neg: bool, wd: Scale, frac: u32) -> Wf {
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

#[cfg(test)]
pub(crate) const SCALE_REL_ERR: f64 = 1.0 / 65_536.0;

impl Scale {
    /// The coefficient 0.
    pub(crate) const ZERO: Scale = Scale {
        m: 0,
        sh: 0,
        neg: false,
    };

    /// The nearest coefficient to `c` (0 for a non-finite `c`, which validation excludes).
    pub(crate) fn from_f64(c: f64) -> Scale {
        if c == 0.0 || !c.is_finite() {
            return Scale::ZERO;
        }
        let (f, e) = libm::frexp(c.abs()); // |c| = f · 2^e, f ∈ [0.5, 1)
        let mut m = libm::round(f * 65536.0) as u32; // [2^15, 2^16]
        let mut sh = 16 - e;
        if m == 65536 {
            m = 32768;
            sh -= 1;
        }
        // Far outside any useful range: flush tiny coefficients, cap huge ones (products then
        // saturate).
        if sh > 200 {
            return Scale::ZERO;
        }
        Scale {
            m,
            sh: sh.max(-200),
            neg: c < 0.0,
        }
    }

    /// The coefficient's exact value.
    #[cfg(test)]
    pub(crate) fn to_f64(self) -> f64 {
        let v = libm::ldexp(f64::from(self.m), -self.sh);
        if self.neg {
            -v
        } else {
            v
        }
    }

    /// `(mantissa, shift, negative)`: the coefficient is `±mantissa · 2^-shift`.
    #[inline(always)]
    pub(crate) fn parts(self) -> (u32, i32, bool) {
        (self.m, self.sh, self.neg)
    }

    /// Whether the coefficient is 0.
    #[inline(always)]
    pub(crate) fn is_zero(self) -> bool {
        self.m == 0
    }

    /// Whether the coefficient is exactly 1.
    #[inline(always)]
    pub(crate) fn is_one(self) -> bool {
        self.m == 1 << 15 && self.sh == 15 && !self.neg
    }

    /// [`mul_wide`](Self::mul_wide) without saturation: the same truncated product, exact, or
    /// [`WideTerm::Huge`] beyond `2^76`.
    pub(crate) fn mul_wide_exact(self, x: i32) -> WideTerm {
        let prod = u128::from(self.m) * u128::from(x.unsigned_abs()); // < 2^48
        let neg = self.neg != (x < 0);
        let s = WIDE as i32 - self.sh;
        let mag = if prod == 0 {
            0
        } else if s > 76 {
            return WideTerm::Huge { neg };
        } else if s >= 0 {
            prod << s
        } else if s <= -127 {
            0
        } else {
            prod >> -s
        };
        let mag = mag as i128;
        WideTerm::Exact(if neg { -mag } else { mag })
    }

    /// `x · c` in "wide" units (`2^-WIDE` of `x`'s unit), truncated toward zero at that
    /// resolution, saturating at the `i64` range.
    #[inline]
    pub(crate) fn mul_wide(self, x: i32) -> i64 {
        let ax = x.unsigned_abs();
        // (ax >> 16) ≤ 2^15 and m < 2^16: < 2^31. (ax & 0xFFFF) · m < 2^32.
        let hi = (ax >> 16) * self.m;
        let lo = (ax & 0xFFFF) * self.m;
        let prod = (u64::from(hi) << 16) + u64::from(lo); // exact, < 2^47
        let mag = shl_sat(prod, WIDE as i32 - self.sh);
        if self.neg != (x < 0) {
            -(mag as i64)
        } else {
            mag as i64
        }
    }
}

/// `v · 2^s` for `v ≥ 0`, truncated, saturating at `i64::MAX`.
#[inline(always)]
pub(crate) fn shl_sat(v: u64, s: i32) -> u64 {
    const MAX: u64 = i64::MAX as u64;
    if v == 0 {
        0
    } else if s >= 0 {
        if s >= 63 || v > (MAX >> s) {
            MAX
        } else {
            v << s
        }
    } else if s <= -64 {
        0
    } else {
        v >> (-s)
    }
}

/// A product in wide units for [`exact_sum`]: exact, or known only to be beyond `2^76` in
/// magnitude, with its sign.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WideTerm {
    /// The product as [`Scale::mul_wide`] truncates it, below `2^124` in magnitude.
    Exact(i128),
    /// At least `2^77` in magnitude (a coefficient of `2^61` or more), of this sign.
    Huge {
        /// Whether the product is negative.
        neg: bool,
    },
}

/// `Σ terms` as the `i64` wide value the kernels round, clamped to `±i64::MAX` (four times any
/// format's range, so the rounding then saturates at the right edge), or `None` when a huge
/// product meets a nonzero product of the other sign: their sum is then not decided here.
///
/// The kernels' sums of saturating products are wrong exactly when saturated products of opposite
/// signs cancel (SGD's `lr·g + lr·wd·p` with `g ≈ −wd·p`, momentum's `μ·b + (1 − τ)·g'` with
/// `μ > 1`): the fuzz target's step bound found both. Summed here in `i128`, they are exact.
pub(crate) fn exact_sum<const K: usize>(terms: [WideTerm; K]) -> Option<i64> {
    let mut sum = 0i128;
    let (mut pos, mut neg, mut huge) = (false, false, None);
    for t in terms {
        match t {
            // K ≤ 4 terms below 2^124 each: no overflow.
            WideTerm::Exact(v) => {
                sum += v;
                pos |= v > 0;
                neg |= v < 0;
            }
            WideTerm::Huge { neg: n } => {
                pos |= !n;
                neg |= n;
                huge = Some(n);
            }
        }
    }
    match huge {
        Some(_) if pos && neg => None,
        Some(n) => Some(if n { -i64::MAX } else { i64::MAX }),
        None => Some(sum.clamp(-i128::from(i64::MAX), i128::from(i64::MAX)) as i64),
    }
}

/// Whether a product `c·x` of a coefficient of magnitude `|c|` and a 32-bit `x` can saturate the
/// wide `i64` (`|c·x| ≥ 2^33` LSB needs `|c| ≥ 4`, less `2^-16` of quantisation): only then do the
/// kernels sum exactly.
pub(crate) fn may_saturate(coefficients: &[f64]) -> bool {
    coefficients.iter().any(|c| c.abs() >= 3.5)
}

/// A coefficient `c = [one] + r`: coefficients near 1 (momentum and decay factors) are held as
/// `1 + r` so that their absolute error is `2^-16·|r|`, not `2^-17`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Coef {
    one: bool,
    r: Scale,
}

impl Coef {
    /// The nearest coefficient to `c`.
    pub(crate) fn from_f64(c: f64) -> Coef {
        if (0.5..=1.5).contains(&c) {
            Coef {
                one: true,
                r: Scale::from_f64(c - 1.0),
            }
        } else {
            Coef {
                one: false,
                r: Scale::from_f64(c),
            }
        }
    }

    /// The coefficient's exact value.
    #[cfg(test)]
    pub(crate) fn to_f64(self) -> f64 {
        if self.one {
            1.0 + self.r.to_f64()
        } else {
            self.r.to_f64()
        }
    }

    /// Whether the coefficient is 0.
    #[inline(always)]
    pub(crate) fn is_zero(self) -> bool {
        !self.one && self.r.is_zero()
    }

    /// [`mul_wide`](Self::mul_wide) without saturation (see [`Scale::mul_wide_exact`]).
    pub(crate) fn mul_wide_exact(self, x: i32) -> WideTerm {
        match self.r.mul_wide_exact(x) {
            // `1 + r` has `|r| ≤ ½`: its product is below 2^62, always exact.
            WideTerm::Exact(v) if self.one => WideTerm::Exact((i128::from(x) << WIDE) + v),
            t => t,
        }
    }

    /// `x · c` in wide units, saturating.
    #[inline]
    pub(crate) fn mul_wide(self, x: i32) -> i64 {
        let base = if self.one { i64::from(x) << WIDE } else { 0 };
        base.saturating_add(self.r.mul_wide(x))
    }

    /// `w · c` for a working float.
    #[inline]
    pub(crate) fn mul_wf(self, w: Wf) -> Wf {
        let r = w.mul_scale(self.r);
        if self.one {
            w.add(r)
        } else {
            r
        }
    }
}

/// A value in wide units rounded to the nearest integer unit (ties up), saturating at `i32`.
#[inline(always)]
pub(crate) fn round_nearest(w: i64) -> i32 {
    sat_i32(w.saturating_add(1 << (WIDE - 1)) >> WIDE)
}

/// A value in wide units rounded with the 32-bit offset `r` (its top `WIDE` bits are used):
/// `floor(w/2^WIDE + r/2^32)`, saturating at `i32`. With `r` uniform this is unbiased stochastic
/// rounding; with `r = 2^31` it is round to nearest.
#[inline(always)]
pub(crate) fn round_with(w: i64, r: u32) -> i32 {
    sat_i32(w.saturating_add(i64::from(r >> (32 - WIDE))) >> WIDE)
}

#[inline(always)]
fn sat_i32(x: i64) -> i32 {
    if x > i64::from(i32::MAX) {
        i32::MAX
    } else if x < i64::from(i32::MIN) {
        i32::MIN
    } else {
        x as i32
    }
}

/// Leading zeros of each byte value (`CLZ8[0] = 8`), shared by [`clz`] and the `norm` module.
pub(crate) static CLZ8: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let mut n = 8;
        let mut v = i;
        while v != 0 {
            v >>= 1;
            n -= 1;
        }
        t[i] = n;
        i += 1;
    }
    t
};

/// `x.leading_zeros()` without `__clzsi2` (ARMv6-M has no `CLZ`; the library routine costs about
/// 30 instructions plus the call): two comparisons pick the byte that holds the leading bit, one
/// table load counts within it (`clz(0) = 24 + CLZ8[0] = 32`).
#[inline(always)]
pub(crate) fn clz(x: u32) -> u32 {
    if x >= 1 << 16 {
        if x >= 1 << 24 {
            u32::from(CLZ8[(x >> 24) as usize])
        } else {
            8 + u32::from(CLZ8[(x >> 16) as usize])
        }
    } else if x >= 1 << 8 {
        16 + u32::from(CLZ8[(x >> 8) as usize])
    } else {
        24 + u32::from(CLZ8[x as usize])
    }
}

/// The working float of the normalising optimizers: `±m · 2^e` with `m = 0` or
/// `m ∈ [2^30, 2^31)` (31 significant bits) and an unbounded `i32` exponent. It never leaves
/// a kernel; state is stored as [`super::MiniFloat`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Wf {
    pub(crate) neg: bool,
    pub(crate) m: u32,
    pub(crate) e: i32,
}

impl Wf {
    /// Zero.
    pub(crate) const ZERO: Wf = Wf {
        neg: false,
        m: 0,
        e: 0,
    };

    /// Normalises any 32-bit magnitude (truncating the last bit when it has 32).
    #[inline]
    pub(crate) fn norm(neg: bool, m: u32, e: i32) -> Wf {
        if m == 0 {
            return Wf::ZERO;
        }
        let lz = clz(m) as i32;
        if lz == 0 {
            Wf {
                neg,
                m: m >> 1,
                e: e + 1,
            }
        } else {
            Wf {
                neg,
                m: m << (lz - 1),
                e: e - (lz - 1),
            }
        }
    }

    /// Normalises a 64-bit magnitude (truncating to 31 significant bits).
    #[inline]
    pub(crate) fn norm64(neg: bool, m: u64, e: i32) -> Wf {
        let hi = (m >> 32) as u32;
        if hi == 0 {
            return Wf::norm(neg, m as u32, e);
        }
        let s = 33 - clz(hi) as i32; // shift right so that 31 bits remain
        Wf::norm(neg, (m >> s) as u32, e + s)
    }

    /// The fixed-point value `raw · 2^-frac` (exact).
    #[inline]
    pub(crate) fn from_fixed(raw: i32, frac: u32) -> Wf {
        Wf::norm(raw < 0, raw.unsigned_abs(), -(frac as i32))
    }

    /// The nearest working float to a finite `x` (for per-step constants).
    pub(crate) fn from_f64(x: f64) -> Wf {
        if x == 0.0 || !x.is_finite() {
            return Wf::ZERO;
        }
        let (f, e) = libm::frexp(x.abs());
        let m = libm::round(f * 2_147_483_648.0) as u64; // [2^30, 2^31]
        Wf::norm64(x < 0.0, m, e - 31)
    }

    /// The exact value, for tests and inspection.
    pub(crate) fn to_f64(self) -> f64 {
        let v = libm::ldexp(f64::from(self.m), self.e);
        if self.neg {
            -v
        } else {
            v
        }
    }

    /// `-self`.
    #[inline(always)]
    pub(crate) fn neg(self) -> Wf {
        Wf {
            neg: !self.neg && self.m != 0,
            ..self
        }
    }

    /// `self + b`, truncating the smaller operand's bits below the larger one's 31 bits.
    #[inline]
    pub(crate) fn add(self, b: Wf) -> Wf {
        if b.m == 0 {
            return self;
        }
        if self.m == 0 {
            return b;
        }
        let (big, small) = if self.e > b.e || (self.e == b.e && self.m >= b.m) {
            (self, b)
        } else {
            (b, self)
        };
        let d = big.e - small.e; // ≥ 0
        let sm = if d >= 32 { 0 } else { small.m >> d };
        if big.neg == small.neg {
            Wf::norm(big.neg, big.m + sm, big.e) // < 2^32
        } else {
            Wf::norm(big.neg, big.m - sm, big.e) // big.m ≥ sm
        }
    }

    /// `self − b`.
    #[inline(always)]
    pub(crate) fn sub(self, b: Wf) -> Wf {
        self.add(b.neg())
    }

    /// `self · c` (the 31×16-bit product is exact before normalisation).
    #[inline]
    pub(crate) fn mul_scale(self, c: Scale) -> Wf {
        if c.m == 0 || self.m == 0 {
            return Wf::ZERO;
        }
        let hi = (self.m >> 16) * c.m; // < 2^15 · 2^16
        let lo = (self.m & 0xFFFF) * c.m; // < 2^32
        let prod = (u64::from(hi) << 16) + u64::from(lo);
        Wf::norm64(self.neg != c.neg, prod, self.e - c.sh)
    }

    /// `self · b`, relative error below `2^-29` (the low×low partial product is dropped).
    #[inline]
    pub(crate) fn mul(self, b: Wf) -> Wf {
        if self.m == 0 || b.m == 0 {
            return Wf::ZERO;
        }
        let (ah, al) = (self.m >> 15, self.m & 0x7FFF); // 16 and 15 bits
        let (bh, bl) = (b.m >> 15, b.m & 0x7FFF);
        let hh = u64::from(ah * bh) << 15; // ah·bh < 2^32
        let cross = u64::from(ah * bl) + u64::from(al * bh); // each < 2^31
        Wf::norm64(self.neg != b.neg, hh + cross, self.e + b.e + 15)
    }

    /// `max(self, b)` for non-negative values.
    #[inline]
    pub(crate) fn max_nonneg(self, b: Wf) -> Wf {
        if self.m == 0 {
            return b;
        }
        if b.m == 0 || self.e > b.e || (self.e == b.e && self.m >= b.m) {
            self
        } else {
            b
        }
    }
}

/// The stochastic-rounding generator (see [`super::fast::Lcg`]): a full-period 32-bit linear
/// congruential generator; any state is valid, including 0. The general kernels use all 32 bits
/// as the offset (the low bits, which are the weak bits of an LCG, only matter below `2^-16` LSB).
#[inline(always)]
pub(crate) fn next_u32(state: &mut u32) -> u32 {
    *state = state
        .wrapping_mul(super::fast::LCG_A)
        .wrapping_add(super::fast::LCG_C);
    *state
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn scale_quantises_within_its_bound() {
        for &c in &[1e-3, 0.999, 0.1, 3.0, 1e-9, 12345.678, -0.25, 1.0, 0.5] {
            let s = Scale::from_f64(c);
            assert!((s.to_f64() - c).abs() <= SCALE_REL_ERR * c.abs(), "{c}");
            let k = Coef::from_f64(c);
            assert!((k.to_f64() - c).abs() <= SCALE_REL_ERR * c.abs(), "{c}");
        }
        // Near 1 the absolute error is relative to |c − 1|.
        let k = Coef::from_f64(0.999);
        assert!((k.to_f64() - 0.999).abs() <= 1e-3 * SCALE_REL_ERR * 1.001);
    }

    #[test]
    fn wide_products_are_exact_when_they_fit() {
        for &x in &[0, 1, -1, 65535, -65536, i32::MAX, i32::MIN + 1, 123_456_789] {
            for &c in &[0.75, 1e-3, 2.5, -0.3] {
                let s = Scale::from_f64(c);
                let exact = f64::from(x) * s.to_f64() * 2f64.powi(WIDE as i32);
                let got = s.mul_wide(x) as f64;
                if exact.abs() >= 9.2e18 {
                    assert_eq!(got.abs(), i64::MAX as f64);
                    continue;
                }
                assert!((got - exact).abs() <= 1.0 + exact.abs() * 1e-15, "{x} {c}");
            }
        }
        assert_eq!(Scale::from_f64(1e30).mul_wide(i32::MAX), i64::MAX);
        assert_eq!(Scale::from_f64(1e30).mul_wide(i32::MIN), -i64::MAX);
    }

    #[test]
    fn working_float_arithmetic_is_accurate() {
        let vals = [1e-9, 3.5e-5, 0.7, 1.0, 2.0, 12345.5, 7.7e8, -0.3, -4.0e4];
        for &a in &vals {
            let wa = Wf::from_f64(a);
            assert!((wa.to_f64() - a).abs() <= a.abs() * 2f64.powi(-30));
            for &b in &vals {
                let wb = Wf::from_f64(b);
                let rel = |got: f64, want: f64, tol: f64| {
                    assert!(
                        (got - want).abs() <= want.abs() * tol + 1e-300,
                        "{a} {b}: {got} vs {want}"
                    );
                };
                rel(wa.mul(wb).to_f64(), a * b, 2f64.powi(-28));
                // Addition: error relative to the larger operand.
                let s = wa.add(wb).to_f64();
                assert!((s - (a + b)).abs() <= a.abs().max(b.abs()) * 2f64.powi(-29));
                rel(
                    wa.mul_scale(Scale::from_f64(b)).to_f64(),
                    a * Scale::from_f64(b).to_f64(),
                    2f64.powi(-29),
                );
            }
        }
    }

    #[test]
    fn table_clz_matches_leading_zeros() {
        let mut x = 1u64;
        while x <= u64::from(u32::MAX) {
            for d in [0u64, 1, 2, 3, 7] {
                let v = (x.saturating_sub(d)) as u32;
                assert_eq!(clz(v), v.leading_zeros(), "{v}");
                let v = (x + d).min(u64::from(u32::MAX)) as u32;
                assert_eq!(clz(v), v.leading_zeros(), "{v}");
            }
            x = x * 3 / 2 + 1;
        }
        assert_eq!(clz(0), 32);
        assert_eq!(clz(u32::MAX), 0);
    }

    #[test]
    fn rounding_helpers() {
        let one = 1i64 << WIDE;
        assert_eq!(round_nearest(3 * one / 2), 2); // 1.5 → 2
        assert_eq!(round_nearest(-3 * one / 2), -1); // −1.5 → −1 (ties up)
        assert_eq!(round_nearest(i64::MAX), i32::MAX);
        assert_eq!(round_nearest(i64::MIN), i32::MIN);
        assert_eq!(round_with(5 * one, u32::MAX), 5);
        assert_eq!(round_with(5 * one + 1, u32::MAX), 6);
        // A saturated update moves any parameter past the edge.
        let top = i64::from(i32::MAX) << WIDE;
        assert_eq!(round_with(top.saturating_sub(i64::MAX), 0), i32::MIN);
    }
}
