//! The bias correction `1 − β^t` in `f64`, once per step (torch computes `beta ** step` in Python
//! doubles). A general `pow` costs tens of thousands of instructions per call on an FPU-less core
//! (its shortcuts end at `t = 2`), so neither form calls it.

use crate::num::fixed::scalar::wide_umul;

/// `1 − β^t` by binary exponentiation in 64-bit fixed point, for `β ∈ [0, 1)`: `β` as a fraction
/// `X/2^64` (exact for `β ≥ 2^-11`, truncated below), `β^t` from at most `2·log2 t` products of
/// such fractions (the lowest set bit of `t` first), each the floor of the exact product, and
/// `1 − β^t = (2^64 − X_t)/2^64` exact in integers, rounded once to `f64`.
///
/// Each floor loses less than `2^-64`, and a squaring at most doubles the error it is given, so
/// `β^t` is low by less than `(2t + 64)·2^-64` (and by no more than `β^t` itself): the result is
/// off by at most that plus half an ulp. For `1 − β ≥ 2^-16` the relative error is below `2^-40`.
///
/// The integer products cost a few multiply instructions where an `f64` product is a library
/// call on every Cortex-M (about 90 instructions on a Cortex-M4F).
///
/// Once `t·(1 − β) ≥ 40`, `β^t ≤ e^-40 < 2^-57`, so `1 − β^t` rounds to exactly 1 in `f64`
/// (whatever the products' error): returned without multiplying. The result is the same as
/// without the cut-off. A `β` outside `[0, 1)`, which no validated configuration has
/// (`AdamConfig::validate`), gives NaN: a fallback would be flash in every Adam firmware.
#[inline(never)]
pub(crate) fn one_minus_pow(beta: f64, t: u32) -> f64 {
    if t == 0 {
        return 0.0;
    }
    let Some(x) = fraction(beta) else {
        return f64::NAN;
    };
    if t >= 40 && at_least_40(t, x.wrapping_neg()) {
        return 1.0;
    }
    let (mut b, mut n) = (x, t);
    // The first factor is taken as it is (no product, no floor).
    let mut acc: Option<u64> = None;
    loop {
        if n & 1 != 0 {
            acc = Some(acc.map_or(b, |a| mul_floor(a, b)));
        }
        n >>= 1;
        if n == 0 {
            break;
        }
        b = mul_floor(b, b);
    }
    match acc {
        // 2^64 − X_t, as f64, scaled by 2^-64 (exact: a power of two).
        Some(x_t) if x_t != 0 => x_t.wrapping_neg() as f64 * TWO_POW_MINUS_64,
        _ => 1.0,
    }
}

/// The largest `f64` below 1.
const BELOW_ONE: f64 = f64::from_bits(0x3FEF_FFFF_FFFF_FFFF);

/// Whether `0 ≤ β ≤ max` (for a non-negative `max`), from the bits rather than with two
/// soft-float compares (library calls on every Cortex-M): the non-negative doubles order as
/// their bits, and the sign bit set leaves only −0 in range (NaN of either sign fails).
#[inline(always)]
pub(crate) fn beta_at_most(beta: f64, max: f64) -> bool {
    let bits = beta.to_bits();
    bits <= max.to_bits() || bits == (-0.0f64).to_bits()
}

/// `2^-64`.
const TWO_POW_MINUS_64: f64 = 1.0 / 18_446_744_073_709_551_616.0;

/// `β·2^64` truncated to an integer, for `β ∈ [0, 1)`; `None` outside (and for NaN).
#[inline(always)]
fn fraction(beta: f64) -> Option<u64> {
    if !beta_at_most(beta, BELOW_ONE) {
        return None;
    }
    let bits = beta.to_bits();
    // The sign bit masked off: −0 is in the range (and a valid β).
    let biased = ((bits >> 52) & 0x7ff) as u32;
    if biased == 0 {
        // ±0 and subnormals: below 2^-1022, nothing of them is left at 2^-64.
        return Some(0);
    }
    // β = m·2^(biased − 1075), so β·2^64 = m·2^(biased − 1011), with biased ≤ 1022 for β < 1.
    let m = (bits & ((1 << 52) - 1)) | (1 << 52);
    let shift = i64::from(biased) - 1011;
    Some(if shift >= 0 {
        m << shift
    } else {
        m.checked_shr(shift.unsigned_abs() as u32).unwrap_or(0)
    })
}

/// `t·d ≥ 40·2^64` (that is `t·(1 − β) ≥ 40` for `d = 2^64 − X`; `d = 0` stands for `2^64`,
/// `β = 0`), without a 96-bit product: `⌊t·d/2^32⌋ ≥ 40·2^32`.
#[inline(always)]
fn at_least_40(t: u32, d: u64) -> bool {
    if d == 0 {
        return t >= 40;
    }
    let scaled = wide_umul((d >> 32) as u32, t) + (wide_umul(d as u32, t) >> 32);
    scaled >= 40 << 32
}

/// `⌊a·b/2^64⌋`: the high half of the 128-bit product, from four 32 × 32 → 64-bit products
/// ([`wide_umul`]: one `umull` each on a Cortex-M3/M4, four `muls` on a Cortex-M0; a `u128`
/// product is a library call on both).
#[inline(always)]
fn mul_floor(a: u64, b: u64) -> u64 {
    let (a0, a1) = (a as u32, (a >> 32) as u32);
    let (b0, b1) = (b as u32, (b >> 32) as u32);
    let (p01, p10) = (wide_umul(a0, b1), wide_umul(a1, b0));
    let mid = (wide_umul(a0, b0) >> 32) + (p01 & 0xffff_ffff) + (p10 & 0xffff_ffff);
    wide_umul(a1, b1) + (p01 >> 32) + (p10 >> 32) + (mid >> 32)
}

/// `1 − β^t` as `−expm1(t·log1p(β − 1))`: the product is rounded once and `expm1`/`log1p` are
/// accurate to about an ulp, so the result carries a relative error of a few `2^-53` however
/// close `β` is to 1 and however small `1 − β^t` is (what the `f64` kernels use).
#[inline]
pub(crate) fn one_minus_pow_accurate(beta: f64, t: u32) -> f64 {
    if beta == 0.0 {
        return if t == 0 { 0.0 } else { 1.0 };
    }
    -libm::expm1(f64::from(t) * libm::log1p(beta - 1.0))
}

#[cfg(test)]
mod tests {
    use super::{
        at_least_40, fraction, mul_floor, one_minus_pow, one_minus_pow_accurate, BELOW_ONE,
    };

    /// `1 − β^t` from `pow`, the way torch gets it (`pow` is accurate to about an ulp of `β^t`;
    /// near `β^t ≈ 1` its own absolute error dominates the comparison).
    fn reference(beta: f64, t: u32) -> f64 {
        1.0 - libm::pow(beta, f64::from(t))
    }

    const BETAS: [f64; 13] = [
        0.0,
        -0.0,
        1e-300,
        3e-4,
        0.123_456_789,
        0.5,
        0.9,
        0.99,
        0.999,
        0.9999,
        0.999_99,
        1.0 - 1.0 / 65_536.0,
        0.999_999,
    ];

    #[test]
    fn bias_correction_is_accurate_in_both_forms() {
        let u = f64::EPSILON / 2.0;
        for beta in BETAS {
            for t in (1..5000u32).chain([65_535, 1 << 20, u32::MAX]) {
                let exact = reference(beta, t);
                // pow's own error: about one ulp of β^t, absolute.
                let pow_err = 2.0 * u * (1.0 - exact).abs();
                let accurate = one_minus_pow_accurate(beta, t);
                assert!(
                    (accurate - exact).abs() <= 8.0 * u * exact + pow_err,
                    "accurate 1 - {beta}^{t}: {accurate:e} vs {exact:e}"
                );
                // The derived bound (see `one_minus_pow`): β^t low by < (2t + 64)·2^-64, then
                // one rounding of the result.
                let fast = one_minus_pow(beta, t);
                let bound =
                    (2.0 * f64::from(t) + 64.0) * super::TWO_POW_MINUS_64 + u * exact + pow_err;
                assert!(
                    (fast - exact).abs() <= bound,
                    "fast 1 - {beta}^{t}: {fast:e} vs {exact:e}"
                );
            }
        }
    }

    /// The same binary exponentiation with `u128` products and a float-to-integer cast, and no
    /// cut-off: the same bits for every `t` (the cut-off returns what the products would).
    #[test]
    fn matches_u128_exponentiation_without_cut_off() {
        fn plain(beta: f64, t: u32) -> f64 {
            let mut base = (beta * 18_446_744_073_709_551_616.0) as u64;
            let (mut e, mut acc) = (t, None::<u64>);
            while e > 0 {
                if e & 1 == 1 {
                    acc = Some(
                        acc.map_or(base, |a| ((u128::from(a) * u128::from(base)) >> 64) as u64),
                    );
                }
                e >>= 1;
                base = ((u128::from(base) * u128::from(base)) >> 64) as u64;
            }
            match acc {
                Some(a) if a != 0 => {
                    ((1u128 << 64) - u128::from(a)) as f64 / 18_446_744_073_709_551_616.0
                }
                _ => 1.0,
            }
        }
        for beta in BETAS {
            for t in (1..3000u32).chain([40_000, 65_535, 1 << 20, 1 << 26, u32::MAX]) {
                assert_eq!(one_minus_pow(beta, t), plain(beta, t), "{beta} {t}");
            }
        }
    }

    #[test]
    fn integer_parts_match_u128_arithmetic() {
        let edges = [
            0,
            1,
            2,
            0xffff_ffff,
            1 << 32,
            (1 << 63) + 12_345,
            u64::MAX - 1,
            u64::MAX,
        ];
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut values = edges.to_vec();
        for _ in 0..200 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            values.push(s);
        }
        for &a in &values {
            for &b in &values {
                assert_eq!(
                    mul_floor(a, b),
                    ((u128::from(a) * u128::from(b)) >> 64) as u64
                );
            }
            for t in [1, 39, 40, 41, 1000, u32::MAX] {
                let d = if a == 0 { 1u128 << 64 } else { u128::from(a) };
                assert_eq!(
                    at_least_40(t, a),
                    u128::from(t) * d >= 40u128 << 64,
                    "{t} {a}"
                );
            }
        }
        for beta in BETAS {
            assert_eq!(
                fraction(beta),
                Some((beta * 18_446_744_073_709_551_616.0) as u64)
            );
        }
        assert!(BELOW_ONE < 1.0 && BELOW_ONE.next_up() == 1.0);
        assert_eq!(fraction(BELOW_ONE), Some(u64::MAX << 11));
        for bad in [
            -0.5,
            -f64::MIN_POSITIVE,
            -f64::from_bits(1),
            1.0,
            1.5,
            f64::MAX,
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            assert_eq!(fraction(bad), None, "{bad}");
        }
        for bad in [-0.5, 1.0, f64::NAN] {
            assert!(one_minus_pow(bad, 3).is_nan());
        }
    }
}
