//! [`Tanh`]: the hyperbolic tangent.

use super::{Activation, Scalar};

/// `y = tanh(x)`; backward uses `f'(x) = 1 − y²` from the stored output. Zero-sized.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tanh;

impl<S: Scalar> Activation<S> for Tanh {
    #[inline]
    fn apply(&self, x: S) -> S {
        x.tanh()
    }

    #[inline]
    fn derivative_from_output(&self, y: S) -> S {
        S::ONE.sub(y.mul(y))
    }
}
