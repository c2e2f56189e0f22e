//! Conversions from `f64` into every number type: `try_from_f64` refuses what the type cannot
//! hold (NaN/±∞ as `NotFinite`, finite values beyond the range as `OutOfRange`), and
//! `saturating_from_f64` (`from_f64`) saturates, with every saturated value one that
//! `is_usable_gradient` rejects.

use edgetune::num::fixed::{I16F16, I8F24};
use edgetune::num::{Num, Scalar};
use edgetune::{Error, ValueFault};

const NOT_FINITE: Error = Error::NotRepresentable {
    fault: ValueFault::NotFinite,
};
const OUT_OF_RANGE: Error = Error::NotRepresentable {
    fault: ValueFault::OutOfRange,
};

/// NaN and ±∞ are `NotFinite` for every type.
fn non_finite_is_refused<S: Scalar>() {
    for x in [f64::NAN, -f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(S::try_from_f64(x), Err(NOT_FINITE), "{x}");
    }
}

#[test]
fn nan_and_infinities_are_not_finite_in_every_type() {
    non_finite_is_refused::<f32>();
    non_finite_is_refused::<f64>();
    non_finite_is_refused::<I16F16>();
    non_finite_is_refused::<I8F24>();
}

#[test]
fn i16f16_refuses_plus_minus_1e6_and_saturates_them() {
    assert_eq!(<I16F16 as Scalar>::try_from_f64(1e6), Err(OUT_OF_RANGE));
    assert_eq!(<I16F16 as Scalar>::try_from_f64(-1e6), Err(OUT_OF_RANGE));
    assert_eq!(<I16F16 as Scalar>::saturating_from_f64(1e6), I16F16::MAX);
    assert_eq!(<I16F16 as Scalar>::saturating_from_f64(-1e6), I16F16::MIN);
    // The short name is the saturating conversion.
    assert_eq!(<I16F16 as Scalar>::from_f64(1e6), I16F16::MAX);
    assert_eq!(<I16F16 as Scalar>::from_f64(-1e6), I16F16::MIN);
}

#[test]
fn fixed_point_limits_are_inclusive_and_one_lsb_beyond_is_out_of_range() {
    fn check<S: Scalar + core::fmt::Debug>(min: S, max: S, lsb: f64) {
        let (lo, hi) = (min.to_f64(), max.to_f64());
        assert_eq!(S::try_from_f64(lo), Ok(min));
        assert_eq!(S::try_from_f64(hi), Ok(max));
        assert_eq!(S::try_from_f64(lo - lsb), Err(OUT_OF_RANGE));
        assert_eq!(S::try_from_f64(hi + lsb), Err(OUT_OF_RANGE));
        // Just beyond MAX by less than ½ LSB still rounds to MAX, but it is outside [MIN, MAX].
        assert_eq!(S::try_from_f64(hi + lsb / 4.0), Err(OUT_OF_RANGE));
        assert_eq!(S::saturating_from_f64(hi + lsb), max);
        assert_eq!(S::saturating_from_f64(lo - lsb), min);
        // The limits convert, but a gradient at a limit may be saturated: it is rejected.
        assert!(!min.is_usable_gradient() && !max.is_usable_gradient());
    }
    check(I16F16::MIN, I16F16::MAX, 2f64.powi(-16));
    check(I8F24::MIN, I8F24::MAX, 2f64.powi(-24));
    assert_eq!(I16F16::MIN.to_f64(), -32768.0);
    assert_eq!(I16F16::MAX.to_f64(), 32768.0 - 2f64.powi(-16));
    assert_eq!(I8F24::MIN.to_f64(), -128.0);
    assert_eq!(I8F24::MAX.to_f64(), 128.0 - 2f64.powi(-24));
    assert_eq!(<I8F24 as Scalar>::try_from_f64(128.0), Err(OUT_OF_RANGE));
    assert_eq!(<I8F24 as Scalar>::try_from_f64(-128.0), Ok(I8F24::MIN));
    assert_eq!(<I8F24 as Scalar>::try_from_f64(-129.0), Err(OUT_OF_RANGE));
}

#[test]
fn saturated_nan_is_max_and_rejected_as_a_gradient() {
    assert_eq!(
        <I16F16 as Scalar>::saturating_from_f64(f64::NAN),
        I16F16::MAX
    );
    assert_eq!(<I8F24 as Scalar>::saturating_from_f64(f64::NAN), I8F24::MAX);
    assert!(!<I16F16 as Scalar>::saturating_from_f64(f64::NAN).is_usable_gradient());
    assert!(<f32 as Scalar>::saturating_from_f64(f64::NAN).is_nan());
    assert!(!<f32 as Scalar>::saturating_from_f64(f64::NAN).is_usable_gradient());
}

#[test]
fn f32_out_of_range_is_what_rounds_to_infinity() {
    let max = f64::from(f32::MAX);
    // Half an ulp of f32::MAX (2^103) above it rounds to ∞ (ties to even: MAX is odd).
    let half_ulp = 2f64.powi(103);
    assert_eq!(<f32 as Scalar>::try_from_f64(max), Ok(f32::MAX));
    assert_eq!(<f32 as Scalar>::try_from_f64(-max), Ok(f32::MIN));
    assert_eq!(
        <f32 as Scalar>::try_from_f64(max + half_ulp / 2.0),
        Ok(f32::MAX)
    );
    assert_eq!(
        <f32 as Scalar>::try_from_f64(max + half_ulp),
        Err(OUT_OF_RANGE)
    );
    assert_eq!(<f32 as Scalar>::try_from_f64(1e39), Err(OUT_OF_RANGE));
    assert_eq!(<f32 as Scalar>::try_from_f64(-1e39), Err(OUT_OF_RANGE));
    assert_eq!(<f32 as Scalar>::saturating_from_f64(1e39), f32::INFINITY);
    assert_eq!(
        <f32 as Scalar>::saturating_from_f64(-1e39),
        f32::NEG_INFINITY
    );
    assert!(!<f32 as Scalar>::saturating_from_f64(1e39).is_usable_gradient());
    // Tiny values round to zero or a subnormal: representable.
    assert_eq!(<f32 as Scalar>::try_from_f64(1e-50), Ok(0.0));
    assert_eq!(<f64 as Scalar>::try_from_f64(f64::MAX), Ok(f64::MAX));
}

#[test]
fn exact_values_convert_exactly_and_round_to_nearest() {
    for x in [0.0, -0.0, 1.0, -1.0, 0.5, 1.5, -2.25, 1234.0625, -32768.0] {
        assert_eq!(<f32 as Scalar>::try_from_f64(x), Ok(x as f32));
        assert_eq!(<f64 as Scalar>::try_from_f64(x), Ok(x));
        assert_eq!(
            <I16F16 as Scalar>::try_from_f64(x).map(Scalar::to_f64),
            Ok(x)
        );
    }
    for x in [
        0.0,
        1.0,
        -1.0,
        0.5,
        -2.25,
        127.0,
        2f64.powi(-24),
        -2f64.powi(-24),
    ] {
        assert_eq!(
            <I8F24 as Scalar>::try_from_f64(x).map(Scalar::to_f64),
            Ok(x)
        );
    }
    // Nearest, ties away from zero: 1 + 0.6 LSB → 1 + 1 LSB; ±½ LSB → ±1 LSB.
    let lsb = 2f64.powi(-16);
    assert_eq!(
        <I16F16 as Scalar>::try_from_f64(1.0 + 0.6 * lsb).map(I16F16::to_bits),
        Ok(65537)
    );
    assert_eq!(
        <I16F16 as Scalar>::try_from_f64(0.5 * lsb).map(I16F16::to_bits),
        Ok(1)
    );
    assert_eq!(
        <I16F16 as Scalar>::try_from_f64(-0.5 * lsb).map(I16F16::to_bits),
        Ok(-1)
    );
    // f32: nearest (0.1 is not exact).
    assert_eq!(<f32 as Scalar>::try_from_f64(0.1), Ok(0.1f32));
}

/// In generic code `S::from_f64` names one function, whatever else `S` is bound by.
#[test]
fn from_f64_is_unambiguous_in_generic_code() {
    fn half<S: Scalar + Num>() -> S {
        S::from_f64(0.5)
    }
    assert_eq!(half::<I16F16>(), I16F16::from_bits(1 << 15));
    assert_eq!(half::<f32>(), 0.5);
    assert_eq!(edgetune::nn::Scalar::to_f64(half::<I8F24>()), 0.5);
}
