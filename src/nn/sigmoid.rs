//! [`Sigmoid`]: the logistic function.

use super::{Activation, Scalar};

/// `y = 1 / (1 + e⁻ˣ)`; backward uses `f'(x) = y(1 − y)` from the stored output. Zero-sized.
///
/// Where `y` rounds to exactly 1 (`x ≳ 17` in `f32`), the derivative computed from `y` is 0
/// (the true value is below `4e-8`); torch behaves the same.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sigmoid;

impl<S: Scalar> Activation<S> for Sigmoid {
    #[inline]
    fn apply(&self, x: S) -> S {
        x.sigmoid()
    }

    #[inline]
    fn derivative_from_output(&self, y: S) -> S {
        y.mul(S::ONE.sub(y))
    }
}
