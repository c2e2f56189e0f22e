//! [`Scalar`] for [`I4F12`]: conversions, the 16×16→32-bit products with a 64-bit accumulator,
//! and the transcendental functions of the 32-bit formats evaluated at 12 fraction bits.
//!
//! Bounds and costs are in the [module docs](super).

use super::I4F12;
use crate::num::fixed::scalar::{
    div_round_sat, exp_raw, ln_raw, recip_raw, round_shift_sat, sigmoid_raw, tanh_raw,
};
use crate::num::scalar::not_representable;
use crate::num::Scalar;
use crate::{Error, ValueFault};

/// Fraction bits.
const F: u32 = 12;

/// An `i32` raw value saturated to I4F12.
#[inline(always)]
fn sat(r: i32) -> I4F12 {
    I4F12::from_bits(r.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16)
}

/// The raw value as `i32`.
#[inline(always)]
fn raw(x: I4F12) -> i32 {
    i32::from(x.to_bits())
}

/// Saturating 16-bit fixed point with an exact 64-bit accumulator; see the
/// [module docs](crate::num::fixed16) for every bound.
impl Scalar for I4F12 {
    const ONE: Self = I4F12::ONE;
    /// Raw `i64` with 24 fraction bits: every product of two I4F12 values (`|a·b| ≤ 2^30` raw)
    /// is exact in it.
    type Acc = i64;

    #[inline(always)]
    fn add(self, rhs: Self) -> Self {
        self.saturating_add(rhs)
    }
    #[inline(always)]
    fn sub(self, rhs: Self) -> Self {
        self.saturating_sub(rhs)
    }
    #[inline(always)]
    fn mul(self, rhs: Self) -> Self {
        // One 16×16→32-bit product (exact: |a·b| ≤ 2^30), rounded to nearest, ties up.
        let p = raw(self) * raw(rhs);
        sat(((p >> (F - 1)) + 1) >> 1)
    }
    #[inline(always)]
    fn widen(self) -> i64 {
        i64::from(raw(self)) << F
    }
    #[inline(always)]
    fn mul_acc(acc: i64, a: Self, b: Self) -> i64 {
        // The product is one 32-bit `MULS`; the 64-bit add is `ADDS`/`ADCS`. Each term is at
        // most 2^30 in magnitude (a widened value 2^27), so a sum of fewer than 2^32 terms stays
        // below 2^62 and never wraps (see the module docs).
        acc.wrapping_add(i64::from(raw(a) * raw(b)))
    }
    #[inline(always)]
    fn add_acc(acc: i64, a: Self) -> i64 {
        acc.wrapping_add(i64::from(raw(a)) << F)
    }
    #[inline(always)]
    fn narrow(acc: i64) -> Self {
        sat(round_shift_sat(acc, F))
    }
    #[inline]
    fn narrow_div(acc: i64, n: u32) -> Self {
        sat(div_round_sat(acc, n, F))
    }
    #[inline]
    fn exp(self) -> Self {
        sat(exp_raw::<12>(raw(self)))
    }
    #[inline]
    fn ln(self) -> Self {
        sat(ln_raw::<12>(raw(self)))
    }
    #[inline]
    fn recip(self) -> Self {
        sat(recip_raw::<12>(raw(self)))
    }
    #[inline]
    fn tanh(self) -> Self {
        sat(tanh_raw::<12>(raw(self)))
    }
    #[inline]
    fn sigmoid(self) -> Self {
        sat(sigmoid_raw::<12>(raw(self)))
    }
    #[inline]
    fn try_from_f64(x: f64) -> Result<Self, Error> {
        if !x.is_finite() {
            Err(not_representable(ValueFault::NotFinite))
        } else if !(-8.0..=8.0 - 1.0 / 4096.0).contains(&x) {
            Err(not_representable(ValueFault::OutOfRange))
        } else {
            Ok(Self::saturating_from_f64(x))
        }
    }
    #[inline]
    fn saturating_from_f64(x: f64) -> Self {
        if x.is_nan() {
            return I4F12::MAX;
        }
        // Round to nearest, ties away from zero (as the 32-bit formats).
        let s = libm::round(x * 4096.0);
        if s >= 32767.0 {
            I4F12::MAX
        } else if s <= -32768.0 {
            I4F12::MIN
        } else {
            I4F12::from_bits(s as i16)
        }
    }
    #[inline]
    fn to_f64(self) -> f64 {
        f64::from(self.to_bits()) / 4096.0
    }
}
