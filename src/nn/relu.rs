//! [`Relu`]: `max(x, 0)`.

use super::{Activation, Scalar};

/// The rectifier `y = max(x, 0)`; `f'(x) = 1` for `x > 0`, else `0` (torch's convention at 0).
///
/// Backward reads the output: `y > 0` exactly when `x > 0`. Zero-sized.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relu;

impl<S: Scalar> Activation<S> for Relu {
    #[inline]
    fn apply(&self, x: S) -> S {
        if x > S::ZERO {
            x
        } else {
            S::ZERO
        }
    }

    #[inline]
    fn derivative_from_output(&self, y: S) -> S {
        if y > S::ZERO {
            S::ONE
        } else {
            S::ZERO
        }
    }

    #[inline]
    fn backward_one(&self, y: S, dy: S) -> S {
        self.backward_masked(y > S::ZERO, dy)
    }

    #[inline]
    fn backward_masked(&self, on: bool, dy: S) -> S {
        if on {
            dy
        } else {
            S::ZERO
        }
    }
}
