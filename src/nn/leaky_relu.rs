//! [`LeakyRelu`]: `x` for `x > 0`, `slope·x` otherwise.

use super::{Activation, NnError, Scalar};

/// `y = x` for `x > 0`, `y = slope·x` otherwise; `f'(x) = 1` for `x > 0`, else `slope` (torch's
/// convention at 0).
///
/// The slope must be finite and non-negative: then `y > 0` exactly when `x > 0`, so backward
/// reads the output like the other activations. (A negative slope would map negative inputs to
/// positive outputs and the output would no longer tell the branch.)
///
/// Size: one `S` (the slope).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeakyRelu<S> {
    slope: S,
}

impl<S: Scalar> LeakyRelu<S> {
    /// A LeakyReLU with the given negative-side slope (torch's `negative_slope`, default 0.01).
    ///
    /// [`NnError::InvalidSlope`] if the slope is negative or not finite.
    pub fn new(slope: f64) -> Result<Self, NnError> {
        if slope.is_finite() && slope >= 0.0 {
            Ok(LeakyRelu {
                slope: S::from_f64(slope),
            })
        } else {
            Err(NnError::InvalidSlope)
        }
    }

    /// The slope, in `S`.
    pub fn slope(&self) -> S {
        self.slope
    }
}

impl<S: Scalar> Default for LeakyRelu<S> {
    /// torch's default slope, 0.01.
    fn default() -> Self {
        LeakyRelu {
            slope: S::from_f64(0.01),
        }
    }
}

impl<S: Scalar> Activation<S> for LeakyRelu<S> {
    #[inline]
    fn apply(&self, x: S) -> S {
        if x > S::ZERO {
            x
        } else {
            self.slope.mul(x)
        }
    }

    #[inline]
    fn derivative_from_output(&self, y: S) -> S {
        if y > S::ZERO {
            S::ONE
        } else {
            self.slope
        }
    }
}
