//! TFLite's requantisation arithmetic: `SaturatingRoundingDoublingHighMul`,
//! `RoundingDivideByPOT`, `MultiplyByQuantizedMultiplier` and `QuantizeMultiplier`, with the same
//! results as TFLite's reference build for every input.
//!
//! A real multiplier `M > 0` is stored as `(m, shift)` with `m` in `[2^30, 2^31)` (a Q0.31
//! fraction in `[0.5, 1)`) and `M ≈ m · 2^(shift − 31)`. Applying it to an `i32` accumulator in
//! TFLite's default ("double rounding") form:
//!
//! ```text
//! multiply_by_quantized_multiplier(x, m, shift)
//!     = rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x · 2^max(shift, 0), m), max(−shift, 0))
//! ```
//!
//! where the left shift wraps in two's complement (as TFLite's `x * (1 << left_shift)` does on
//! every compiler it is built with), the high multiply rounds to nearest with ties toward `+∞`
//! (its nudge is `2^30` for a non-negative product and `1 − 2^30` for a negative one, then C's
//! truncating division) and saturates only `i32::MIN · i32::MIN`, and the divide by a power of
//! two rounds to nearest with ties away from zero. That is two roundings. TFLite's build option `TFLITE_SINGLE_ROUNDING` replaces this by one rounding
//! (`(x·m + 2^(30−shift)) >> (31 − shift)` in 64 bits, half up); the pip wheel's interpreter
//! (TensorFlow 2.21, `BUILTIN_REF` kernels) uses the double-rounding form, which
//! `tests/int8_tflite.rs` shows on every layer of its golden files (and shows that the
//! single-rounding form does not match them). [`multiply_by_quantized_multiplier_single_rounding`]
//! is provided for models built for a single-rounding runtime.

use crate::nn::NnError;
use crate::Error;

/// `InvalidQuantization`.
pub(crate) const fn invalid() -> Error {
    Error::Nn(NnError::InvalidQuantization)
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul`: the high 32 bits of `2·a·b` rounded to
/// nearest, `⌊(a·b + 2^30) / 2^31⌋` (a tie goes toward `+∞`: `0.5 → 1`, `−0.5 → 0`); the one
/// overflowing case, `a = b = i32::MIN`, gives `i32::MAX`.
///
/// ```
/// use edgetune::nn::int8::saturating_rounding_doubling_high_mul as srdhm;
/// assert_eq!(srdhm(1 << 30, 1 << 30), 1 << 29); // 0.5 · 0.5 = 0.25 in Q0.31
/// assert_eq!(srdhm(i32::MIN, i32::MIN), i32::MAX);
/// assert_eq!((srdhm(1, 1 << 30), srdhm(-1, 1 << 30)), (1, 0)); // ±0.5: ties toward +∞
/// ```
#[inline]
pub const fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge = if ab >= 0 {
        1i64 << 30
    } else {
        1 - (1i64 << 30)
    };
    // C's `/` truncates toward zero, as Rust's does; the quotient fits i32 (|ab| < 2^62).
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp's `RoundingDivideByPOT`: `x / 2^exponent` rounded to nearest, ties away from zero.
/// `exponent` is taken modulo 32 (TFLite requires `0..=31`; the kernels check it).
///
/// ```
/// use edgetune::nn::int8::rounding_divide_by_pot as rdbp;
/// assert_eq!((rdbp(5, 1), rdbp(-5, 1), rdbp(7, 2), rdbp(-6, 2)), (3, -3, 2, -2));
/// ```
#[inline]
pub const fn rounding_divide_by_pot(x: i32, exponent: u32) -> i32 {
    let exponent = exponent & 31;
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + if x < 0 { 1 } else { 0 };
    (x >> exponent) + if remainder > threshold { 1 } else { 0 }
}

/// TFLite's default `MultiplyByQuantizedMultiplier(x, m, shift)`: `x · m · 2^(shift − 31)` with
/// two roundings (see the module docs). For `m >= 0` and `shift` in `-31..=31`, the kernels'
/// range; outside it the shifts are taken modulo 32, and nothing panics.
///
/// ```
/// use edgetune::nn::int8::{multiply_by_quantized_multiplier as mbqm, quantize_multiplier};
/// let (m, shift) = quantize_multiplier(0.25)?; // (2^30, −1)
/// assert_eq!(mbqm(1000, m, shift), 250);
/// assert_eq!(mbqm(-6, m, shift), -2); // −1.5 rounds away from zero
/// # Ok::<(), edgetune::Error>(())
/// ```
#[inline]
pub const fn multiply_by_quantized_multiplier(x: i32, m: i32, shift: i32) -> i32 {
    let left = if shift > 0 { shift as u32 } else { 0 };
    let right = if shift > 0 { 0 } else { shift.unsigned_abs() };
    let shifted = x.wrapping_mul(1i32.wrapping_shl(left));
    rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, m), right)
}

/// `MultiplyByQuantizedMultiplier` as TFLite builds it with `TFLITE_SINGLE_ROUNDING`:
/// `(x·m + 2^(30 − shift)) >> (31 − shift)` in 64 bits (one rounding, ties up), for `shift` in
/// `-31..=30` (clamped into it here) and the result narrowed to `i32` with wrap-around. Not what
/// the kernels use; see the module docs.
#[inline]
pub const fn multiply_by_quantized_multiplier_single_rounding(x: i32, m: i32, shift: i32) -> i32 {
    let shift = if shift < -31 {
        -31
    } else if shift > 30 {
        30
    } else {
        shift
    };
    let total = (31 - shift) as u32;
    let round = 1i64 << (total - 1);
    ((x as i64 * m as i64 + round) >> total) as i32
}

/// TFLite's `QuantizeMultiplier`: `(m, shift)` with `multiplier ≈ m · 2^(shift − 31)`, from
/// `frexp` (`multiplier = q · 2^shift`, `q` in `[0.5, 1)`) and `m = round(q · 2^31)` (half away
/// from zero); a rounding up to `2^31` halves `m` and increments `shift`; a `shift < −31` (a
/// multiplier below about `2^-32`) flushes to `(0, 0)`; `0.0` gives `(0, 0)`. `no_std`:
/// `libm::frexp` and `libm::round` on `f64`, as TFLite computes in `double`.
///
/// # Errors
/// [`NnError::InvalidQuantization`] for a negative or non-finite multiplier, or one of `2^31`
/// or more (its shift would exceed 31).
pub fn quantize_multiplier(multiplier: f64) -> Result<(i32, i32), Error> {
    if !multiplier.is_finite() || multiplier < 0.0 {
        return Err(invalid());
    }
    if multiplier == 0.0 {
        return Ok((0, 0));
    }
    let (q, mut shift) = libm::frexp(multiplier);
    let mut q_fixed = libm::round(q * (1u64 << 31) as f64) as i64;
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        return Ok((0, 0));
    }
    if shift > 31 {
        return Err(invalid());
    }
    // q in [0.5, 1) rounds to at most 2^31, handled above.
    Ok((q_fixed as i32, shift))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `⌊(a·b + 2^30) / 2^31⌋` (to nearest, ties toward +∞), saturated, in exact i128
    /// arithmetic.
    fn srdhm_exact(a: i32, b: i32) -> i32 {
        let p = a as i128 * b as i128;
        let r = (p + (1i128 << 30)).div_euclid(1i128 << 31);
        r.clamp(i32::MIN as i128, i32::MAX as i128) as i32
    }

    /// `x / 2^e` to nearest, ties away from zero, exact.
    fn rdbp_exact(x: i32, e: u32) -> i32 {
        let d = 1i128 << e;
        let x = x as i128;
        let q = (x.abs() * 2 + d) / (2 * d);
        (if x < 0 { -q } else { q }) as i32
    }

    #[test]
    fn high_mul_matches_exact_rounding_including_ties_and_saturation() {
        let vals = [
            i32::MIN,
            i32::MIN + 1,
            -(1 << 30),
            -3,
            -1,
            0,
            1,
            2,
            3,
            (1 << 30) - 1,
            1 << 30,
            i32::MAX - 1,
            i32::MAX,
            1_234_567_891,
            -987_654_321,
        ];
        for &a in &vals {
            for &b in &vals {
                assert_eq!(
                    saturating_rounding_doubling_high_mul(a, b),
                    srdhm_exact(a, b),
                    "{a} * {b}"
                );
            }
        }
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
            i32::MAX
        );
        // Exact ties: ±1 · 2^30 / 2^31 = ±0.5 → 1 and 0; -3 · 2^30 / 2^31 = -1.5 → -1.
        assert_eq!(saturating_rounding_doubling_high_mul(1, 1 << 30), 1);
        assert_eq!(saturating_rounding_doubling_high_mul(-1, 1 << 30), 0);
        assert_eq!(saturating_rounding_doubling_high_mul(-3, 1 << 30), -1);
        assert_eq!(saturating_rounding_doubling_high_mul(3, 1 << 30), 2);
    }

    #[test]
    fn divide_by_pot_rounds_ties_away_from_zero_for_every_exponent() {
        for e in 0..=31u32 {
            for x in [
                i32::MIN,
                i32::MIN + 1,
                -7,
                -6,
                -5,
                -2,
                -1,
                0,
                1,
                2,
                5,
                6,
                7,
                i32::MAX,
            ] {
                assert_eq!(rounding_divide_by_pot(x, e), rdbp_exact(x, e), "{x} >> {e}");
            }
            if e > 0 {
                // Exact ties ±0.5 and ±1.5 go away from zero.
                let half = 1i32 << (e - 1);
                assert_eq!(rounding_divide_by_pot(half, e), 1, "positive tie, e = {e}");
                assert_eq!(
                    rounding_divide_by_pot(-half, e),
                    -1,
                    "negative tie, e = {e}"
                );
                if e < 30 {
                    assert_eq!(rounding_divide_by_pot(-3 * half, e), -2, "e = {e}");
                }
            }
        }
        assert_eq!(rounding_divide_by_pot(-3, 0), -3, "shift 0 is the identity");
    }

    #[test]
    fn quantize_multiplier_edges() {
        assert_eq!(quantize_multiplier(0.0), Ok((0, 0)));
        assert_eq!(quantize_multiplier(0.5), Ok((1 << 30, 0)));
        assert_eq!(quantize_multiplier(1.0), Ok((1 << 30, 1)));
        // Rounds up to 2^31: halved, shift incremented.
        assert_eq!(quantize_multiplier(1.0 - 1e-12), Ok((1 << 30, 1)));
        assert_eq!(quantize_multiplier(2f64.powi(-40)), Ok((0, 0)), "flushed");
        assert_eq!(quantize_multiplier(2f64.powi(-32)), Ok((1 << 30, -31)));
        assert!(quantize_multiplier(-1.0).is_err());
        assert!(quantize_multiplier(f64::NAN).is_err());
        assert!(quantize_multiplier(f64::INFINITY).is_err());
        assert!(quantize_multiplier(2f64.powi(31)).is_err());
        assert_eq!(quantize_multiplier(2f64.powi(30)), Ok((1 << 30, 31)));
    }

    #[test]
    fn multiply_matches_exact_double_rounding_for_shift_0_and_extremes() {
        for &(x, m, shift) in &[
            (i32::MIN, i32::MIN, 0),
            (100, 1 << 30, 0),
            (-100, 1 << 30, -31),
            (i32::MAX, i32::MAX, -31),
            (3, 1 << 30, 31),
            (-3, 1 << 30, 1),
            (i32::MIN, 1 << 30, 0),
        ] {
            let left = shift.max(0) as u32;
            let right = (-shift).max(0) as u32;
            let shifted = (x as i64 * (1i64 << left)) as i32; // wraps like C's int multiply
            let want = rdbp_exact(srdhm_exact(shifted, m), right);
            assert_eq!(
                multiply_by_quantized_multiplier(x, m, shift),
                want,
                "{x} {m} {shift}"
            );
        }
        // The single-rounding form is a different function (it rounds once, ties up).
        let m = (1 << 30) + 1;
        let differs = (-4096..4096).any(|x| {
            multiply_by_quantized_multiplier(x, m, -3)
                != multiply_by_quantized_multiplier_single_rounding(x, m, -3)
        });
        assert!(differs);
    }
}
