//! [`Relu6`]: `min(max(x, 0), 6)` (MobileNet's activation; TFLite fuses it as `RELU6`).

use super::{Activation, Scalar};

/// The clipped rectifier `y = min(max(x, 0), 6)`; `f'(x) = 1` for `0 < x < 6`, else `0` (torch's
/// `hardtanh` convention at both kinks).
///
/// Backward reads the output: `0 < y < 6` exactly when `0 < x < 6`. Zero-sized. The bound `6` is
/// formed with three additions of [`Scalar::ONE`] (exact in every number type; no float
/// conversion on the device).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relu6;

/// `6` in `S`.
#[inline(always)]
fn six<S: Scalar>() -> S {
    let two = S::ONE.add(S::ONE);
    two.add(two).add(two)
}

impl<S: Scalar> Activation<S> for Relu6 {
    #[inline]
    fn apply(&self, x: S) -> S {
        let six = six::<S>();
        if x > six {
            six
        } else if x > S::ZERO {
            x
        } else {
            S::ZERO
        }
    }

    #[inline]
    fn derivative_from_output(&self, y: S) -> S {
        if y > S::ZERO && y < six::<S>() {
            S::ONE
        } else {
            S::ZERO
        }
    }

    #[inline]
    fn backward_one(&self, y: S, dy: S) -> S {
        self.backward_masked(y > S::ZERO && y < six::<S>(), dy)
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
