//! Affine int8 quantisation of a tensor (`real = scale · (q − zero_point)`), TFLite's fused
//! activation clamps, and the conversions at the boundary: [`quantize`] (TFLite's `QUANTIZE` of
//! `f32` to int8) and [`dequantize`] (int8 to any trainable [`Scalar`], TFLite's `DEQUANTIZE` in
//! `f32`).

use super::fixed_point::invalid;
use crate::nn::shape::check_len;
use crate::nn::Scalar;
use crate::Error;

/// The scale and zero point of an int8 tensor: `real = scale · (q − zero_point)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantParams {
    /// Real value of one step; finite and `> 0`.
    pub scale: f32,
    /// The int8 value that represents real 0, `-128..=127`.
    pub zero_point: i32,
}

impl QuantParams {
    /// Checked: the scale finite and positive, the zero point an int8 value.
    ///
    /// # Errors
    /// [`NnError::InvalidQuantization`](crate::nn::NnError::InvalidQuantization).
    pub fn new(scale: f32, zero_point: i32) -> Result<Self, Error> {
        let p = QuantParams { scale, zero_point };
        p.check()?;
        Ok(p)
    }

    /// The checks of [`new`](QuantParams::new), for a value built as a literal.
    ///
    /// # Errors
    /// [`NnError::InvalidQuantization`](crate::nn::NnError::InvalidQuantization).
    pub fn check(&self) -> Result<(), Error> {
        if self.valid() {
            Ok(())
        } else {
            Err(invalid())
        }
    }

    /// The checks of [`check`](QuantParams::check) as a `bool`, usable in a `const`.
    pub const fn valid(&self) -> bool {
        self.scale.is_finite()
            && self.scale > 0.0
            && super::requant::zero_point_valid(self.zero_point)
    }

    /// TFLite's `Quantize(scale, zero_point, f)`: `zero_point + round(f / scale)`, the division
    /// in `f32` and the rounding half away from zero, not clamped (`None` if it leaves `i32`).
    fn quantize_unclamped(&self, f: f32) -> Option<i32> {
        let t = libm::roundf(f / self.scale);
        if (-2_147_483_648.0..2_147_483_648.0).contains(&t) {
            (t as i32).checked_add(self.zero_point)
        } else {
            None
        }
    }
}

/// A fused activation of a TFLite operator, applied as a clamp of the int8 output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FusedActivation {
    /// No clamp beyond int8's range.
    None,
    /// `max(0, x)`.
    Relu,
    /// `min(max(0, x), 6)`.
    Relu6,
    /// `min(max(−1, x), 1)` (TFLite's `RELU_N1_TO_1`).
    ReluN1To1,
}

/// The int8 output range `[min, max]` of a fused activation, as TFLite's
/// `CalculateActivationRangeQuantized` computes it from the output's scale and zero point: `NONE`
/// is `[−128, 127]`; `RELU` is `[max(−128, q(0)), 127]`; `RELU6` is
/// `[max(−128, q(0)), min(127, q(6))]`; `RELU_N1_TO_1` is `[max(−128, q(−1)), min(127, q(1))]`,
/// where `q(f) = zero_point + round(f / scale)` ([`f32`] division, ties away from zero).
///
/// ```
/// use edgetune::nn::int8::{activation_range, FusedActivation, QuantParams};
/// let out = QuantParams::new(0.05, -128)?; // [0, 12.75]
/// assert_eq!(activation_range(FusedActivation::Relu6, &out)?, (-128, -8)); // q(6) = −128 + 120
/// assert_eq!(activation_range(FusedActivation::None, &out)?, (-128, 127));
/// # Ok::<(), edgetune::Error>(())
/// ```
///
/// # Errors
/// [`NnError::InvalidQuantization`](crate::nn::NnError::InvalidQuantization) for invalid
/// parameters, or a range that would be empty (a clamp wholly outside int8; TFLite would clamp
/// every output to one value there, a model no converter writes).
pub fn activation_range(act: FusedActivation, out: &QuantParams) -> Result<(i8, i8), Error> {
    out.check()?;
    let q = |f: f32| out.quantize_unclamped(f).ok_or_else(invalid);
    let (lo, hi) = match act {
        FusedActivation::None => (-128, 127),
        FusedActivation::Relu => (q(0.0)?.max(-128), 127),
        FusedActivation::Relu6 => (q(0.0)?.max(-128), q(6.0)?.min(127)),
        FusedActivation::ReluN1To1 => (q(-1.0)?.max(-128), q(1.0)?.min(127)),
    };
    if lo > hi || hi < -128 || lo > 127 {
        return Err(invalid());
    }
    Ok((lo as i8, hi as i8))
}

/// TFLite's `QUANTIZE` from `f32` to int8: `clamp(zero_point + round(x / scale), −128, 127)`,
/// the division in `f32`, ties away from zero (`AffineQuantize`). Any [`Scalar`] input is
/// first rounded to `f32` (exact for `f32`; for fixed point the same value TFLite would see from a
/// float sensor reading of it).
///
/// # Errors
/// [`NnError::InvalidQuantization`](crate::nn::NnError::InvalidQuantization) for invalid
/// parameters, [`Error::LengthMismatch`] if `y` and `x` differ in length, and
/// [`Error::InvalidInput`] for an element a network would refuse as input (NaN or infinite; a
/// fixed-point `MIN` or `MAX`, see [`Network`](crate::nn::network::Network)); nothing is written.
pub fn quantize<S: Scalar>(p: &QuantParams, x: &[S], y: &mut [i8]) -> Result<(), Error> {
    p.check()?;
    check_len(x.len(), y.len())?;
    crate::nn::network::check_input(x)?;
    for (o, v) in y.iter_mut().zip(x) {
        let t = libm::roundf(v.to_f64() as f32 / p.scale);
        // A float-to-int `as` saturates; adding the zero point after clamping to a wide range
        // keeps it exact.
        let q = (t.clamp(-1024.0, 1024.0) as i32) + p.zero_point;
        *o = q.clamp(-128, 127) as i8;
    }
    Ok(())
}

/// int8 to a trainable number type, the boundary between a frozen int8 backbone and a trainable
/// head: `y = scale · (q − zero_point)`, computed in `f64` (exact: a 24-bit scale times a 9-bit
/// integer) and rounded once to `S`. For `S = f32` this is TFLite's `DEQUANTIZE` bit for bit
/// (it computes `scale · (q − zero_point)` in `double` and narrows to `float`).
///
/// ```
/// use edgetune::nn::int8::{dequantize, QuantParams};
/// use fixed::types::I16F16;
/// let p = QuantParams::new(0.5, -3)?;
/// let mut y = [0.0f32; 3];
/// dequantize(&p, &[-3, 0, 127], &mut y)?;
/// assert_eq!(y, [0.0, 1.5, 65.0]);
/// let mut z = [I16F16::ZERO; 1];
/// dequantize(&p, &[-128], &mut z)?;
/// assert_eq!(z[0], I16F16::from_num(-62.5));
/// # Ok::<(), edgetune::Error>(())
/// ```
///
/// # Errors
/// [`NnError::InvalidQuantization`](crate::nn::NnError::InvalidQuantization),
/// [`Error::LengthMismatch`], or [`Error::NotRepresentable`] if a value lies outside `S`'s range
/// (fixed point; e.g. beyond ±128 in I8F24); nothing is written.
pub fn dequantize<S: Scalar>(p: &QuantParams, q: &[i8], y: &mut [S]) -> Result<(), Error> {
    p.check()?;
    check_len(q.len(), y.len())?;
    let real = |v: i8| p.scale as f64 * (v as i32 - p.zero_point) as f64;
    // The extremes of the affine map are at q = −128 and 127: checking both checks every value.
    if let (Some(lo), Some(hi)) = (q.iter().min(), q.iter().max()) {
        S::try_from_f64(real(*lo))?;
        S::try_from_f64(real(*hi))?;
    }
    for (o, &v) in y.iter_mut().zip(q) {
        *o = S::from_f64(real(v));
    }
    Ok(())
}
