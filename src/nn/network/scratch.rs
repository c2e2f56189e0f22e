//! [`Scratch`]: the forward buffers, the identity activation and [`argmax`].

use crate::nn::{Activation, Scalar, Tensor};

/// The buffers a forward pass writes: hidden layers alternate between `even` (layers 0, 2, ...)
/// and `odd` (layers 1, 3, ...), sized for the widest layer of each parity, and the last layer
/// writes `out`. Backward reuses the two hidden buffers for the gradients flowing down.
///
/// Size: `(A + B + O) · size_of::<S>()` (three arrays of `S`, no padding). For a 64-32-10 MLP
/// that is `32 + 0 + 10` elements: the largest pair of activation buffers, nothing more.
#[derive(Clone, Debug, PartialEq)]
pub struct Scratch<S, const A: usize, const B: usize, const O: usize> {
    /// Outputs of the even-numbered hidden layers.
    pub even: [S; A],
    /// Outputs of the odd-numbered hidden layers.
    pub odd: [S; B],
    /// Outputs of the last layer (the logits).
    pub out: [S; O],
}

impl<S: Scalar, const A: usize, const B: usize, const O: usize> Scratch<S, A, B, O> {
    /// All zeros (`const`: can be a `static`).
    pub const fn zeroed() -> Self {
        Scratch {
            even: [S::ZERO; A],
            odd: [S::ZERO; B],
            out: [S::ZERO; O],
        }
    }
}

/// The identity, for a dense layer with no activation: forward and backward do nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Identity;

impl<S: Scalar> Activation<S> for Identity {
    #[inline(always)]
    fn apply(&self, x: S) -> S {
        x
    }
    #[inline(always)]
    fn derivative_from_output(&self, _y: S) -> S {
        S::ONE
    }
    #[inline(always)]
    fn forward_in_place<T: Tensor<S>>(&self, _xy: &mut T) {}
    #[inline(always)]
    fn backward_in_place<T: Tensor<S>>(&self, _y: &T, _grad: &mut T) {}
}

/// The index of the largest value (the predicted class); ties and NaNs go to the lowest index,
/// and an empty slice gives 0.
pub fn argmax<S: PartialOrd + Copy>(values: &[S]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if let Some(b) = values.get(best) {
            if v > b {
                best = i;
            }
        }
    }
    best
}
