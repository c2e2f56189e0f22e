//! [`Scalar`]: the arithmetic the layer math needs, on top of [`Num`].

use crate::num::Num;

/// The arithmetic of layer math: ring operations, a wide accumulator for dot products, and the
/// few transcendental functions the activations and the softmax need.
///
/// Every layer and loss in [`nn`](crate::nn) is written against this trait only, so a new number
/// type is added by implementing it, without touching the layers.
///
/// # Why methods instead of `core::ops`
/// `a + b` on the `fixed` crate's types panics on overflow in debug builds and wraps in release;
/// layer math on a device must do neither. With named methods a fixed-point implementation can
/// saturate, while `f32`/`f64` simply use IEEE arithmetic. In generic code (`S: Scalar`)
/// `x.exp()` resolves to [`Scalar::exp`]; in code on a concrete `f32` with `std` linked it would
/// resolve to std's inherent method, so write `Scalar::exp(x)` there.
///
/// # Accumulator
/// Dot products and sums run in [`Acc`](Scalar::Acc): start with [`widen`](Scalar::widen), add
/// products with [`mul_acc`](Scalar::mul_acc), finish with [`narrow`](Scalar::narrow). For `f32`
/// and `f64` the accumulator is the type itself (no double-precision software float on an FPU-less
/// core). A 32-bit fixed-point type would accumulate exact 64-bit products and round once in
/// `narrow`, as fixed-point MAC loops on Cortex-M do.
///
/// # Domains used by this crate
/// - [`exp`](Scalar::exp) is called only with `x ≤ 0` (softmax after subtracting the maximum), so
///   its result lies in `(0, 1]`; a fixed-point implementation need only be accurate there.
/// - [`ln`](Scalar::ln) is called only with `1 ≤ x ≤ C` (the softmax normaliser, `C` classes).
/// - [`recip`](Scalar::recip) is called only with `1 ≤ x ≤ C` (the same normaliser).
/// - [`tanh`](Scalar::tanh) and [`sigmoid`](Scalar::sigmoid) are called on any value.
///
/// A later fixed-point implementation (for example I16F16 with lookup tables or piecewise
/// polynomials) states its worst-case error on these domains in its own docs.
pub trait Scalar: Num {
    /// The multiplicative identity.
    const ONE: Self;

    /// The accumulator of dot products and sums (the type itself for `f32` and `f64`).
    type Acc: Copy;

    /// `self + rhs` (IEEE for floats; a fixed-point type saturates).
    fn add(self, rhs: Self) -> Self;
    /// `self − rhs`.
    fn sub(self, rhs: Self) -> Self;
    /// `self · rhs`.
    fn mul(self, rhs: Self) -> Self;

    /// Starts an accumulation at `self`.
    fn widen(self) -> Self::Acc;
    /// `acc + a·b` in the accumulator.
    fn mul_acc(acc: Self::Acc, a: Self, b: Self) -> Self::Acc;
    /// `acc + a` in the accumulator.
    fn add_acc(acc: Self::Acc, a: Self) -> Self::Acc;
    /// Rounds an accumulation back to `Self`.
    fn narrow(acc: Self::Acc) -> Self;

    /// `eˣ` (called by this crate only for `x ≤ 0`).
    fn exp(self) -> Self;
    /// The natural logarithm (called by this crate only for `1 ≤ x ≤ C`).
    fn ln(self) -> Self;
    /// `1 / x` (called by this crate only for `1 ≤ x ≤ C`).
    fn recip(self) -> Self;
    /// The hyperbolic tangent.
    fn tanh(self) -> Self;
    /// The logistic function `1 / (1 + e⁻ˣ)`.
    fn sigmoid(self) -> Self;
}

macro_rules! float_scalar {
    ($t:ty, $exp:path, $ln:path, $tanh:path) => {
        /// IEEE arithmetic; `exp`, `ln` and `tanh` from `libm` (never std's, so the device and
        /// host tests run the same code). `sigmoid` evaluates `eˣ` only for `x ≤ 0`, so it never
        /// overflows: `1/(1 + e⁻ˣ)` for `x ≥ 0`, `eˣ/(1 + eˣ)` otherwise.
        impl Scalar for $t {
            const ONE: Self = 1.0;
            type Acc = $t;

            #[inline(always)]
            fn add(self, rhs: Self) -> Self {
                self + rhs
            }
            #[inline(always)]
            fn sub(self, rhs: Self) -> Self {
                self - rhs
            }
            #[inline(always)]
            fn mul(self, rhs: Self) -> Self {
                self * rhs
            }
            #[inline(always)]
            fn widen(self) -> Self::Acc {
                self
            }
            #[inline(always)]
            fn mul_acc(acc: Self::Acc, a: Self, b: Self) -> Self::Acc {
                acc + a * b
            }
            #[inline(always)]
            fn add_acc(acc: Self::Acc, a: Self) -> Self::Acc {
                acc + a
            }
            #[inline(always)]
            fn narrow(acc: Self::Acc) -> Self {
                acc
            }
            #[inline]
            fn exp(self) -> Self {
                $exp(self)
            }
            #[inline]
            fn ln(self) -> Self {
                $ln(self)
            }
            #[inline(always)]
            fn recip(self) -> Self {
                1.0 / self
            }
            #[inline]
            fn tanh(self) -> Self {
                $tanh(self)
            }
            #[inline]
            fn sigmoid(self) -> Self {
                if self >= 0.0 {
                    1.0 / (1.0 + $exp(-self))
                } else {
                    let e = $exp(self);
                    e / (1.0 + e)
                }
            }
        }
    };
}

float_scalar!(f32, libm::expf, libm::logf, libm::tanhf);
float_scalar!(f64, libm::exp, libm::log, libm::tanh);
