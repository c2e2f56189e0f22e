//! [`Activation`]: the element-wise nonlinearity trait shared by [`Relu`](super::Relu),
//! [`Relu6`](super::Relu6), [`LeakyRelu`](super::LeakyRelu), [`Tanh`](super::Tanh) and
//! [`Sigmoid`](super::Sigmoid).

use super::{Scalar, Tensor};

/// An element-wise activation `y = f(x)` whose derivative can be computed from the output `y`
/// alone.
///
/// # Memory
/// Backward needs only the stored **output** `y`, never the input. So the forward pass can run
/// in place ([`forward_in_place`](Activation::forward_in_place)): the pre-activation buffer
/// becomes the activation buffer and a layer `dense → activation` keeps one `[S; O]` buffer for
/// backward, not two. Likewise [`backward_in_place`](Activation::backward_in_place) turns the
/// incoming `dy` into `dx` in its own buffer. Nothing is allocated and no scratch is used.
///
/// All five activations here have this property (ReLU, ReLU6 and LeakyReLU with a non-negative slope
/// preserve the sign, `tanh' = 1 − y²`, `σ' = y(1 − y)`), which is also how torch computes
/// their backward passes.
///
/// Shapes agree at compile time: `x`, `y`, `dy` and `dx` are one [`Tensor`] type.
pub trait Activation<S: Scalar> {
    /// `f(x)` for one element.
    fn apply(&self, x: S) -> S;

    /// `f'(x)` for one element, expressed through the output `y = f(x)`.
    fn derivative_from_output(&self, y: S) -> S;

    /// `dy · f'(x)` for one element, from its output `y`. An activation whose derivative is 1 or
    /// 0 selects instead of multiplying, as torch's `threshold_backward` does: a gated element
    /// is `+0` whatever `dy` is (a product would give `−0` for a negative `dy` and NaN for an
    /// infinite one), and no multiply is spent (a whole fixed-point product on a Cortex-M0).
    #[inline]
    fn backward_one(&self, y: S, dy: S) -> S {
        dy.mul(self.derivative_from_output(y))
    }

    /// [`backward_one`](Activation::backward_one) from a stored 1-bit mask instead of the
    /// output: `on` is whether `f'` was 1 there; otherwise `f'` is its value at 0. Gives the
    /// same bits as `backward_one` from the output the mask was packed from.
    #[inline]
    fn backward_masked(&self, on: bool, dy: S) -> S {
        if on {
            dy
        } else {
            dy.mul(self.derivative_from_output(S::ZERO))
        }
    }

    /// `y = f(x)` element-wise.
    #[inline]
    fn forward<T: Tensor<S>>(&self, x: &T, y: &mut T) {
        for (yi, &xi) in y.flat_mut().iter_mut().zip(x.flat()) {
            *yi = self.apply(xi);
        }
    }

    /// `x ← f(x)` element-wise (the buffer then holds the output backward needs).
    #[inline]
    fn forward_in_place<T: Tensor<S>>(&self, xy: &mut T) {
        for v in xy.flat_mut() {
            *v = self.apply(*v);
        }
    }

    /// `dx = dy · f'(x)` element-wise, from the stored output `y`. `dx` is overwritten.
    #[inline]
    fn backward<T: Tensor<S>>(&self, y: &T, dy: &T, dx: &mut T) {
        for ((dxi, &dyi), &yi) in dx.flat_mut().iter_mut().zip(dy.flat()).zip(y.flat()) {
            *dxi = self.backward_one(yi, dyi);
        }
    }

    /// `grad ← grad · f'(x)` element-wise, from the stored output `y`: `grad` holds `dy` on entry
    /// and `dx` on return.
    #[inline]
    fn backward_in_place<T: Tensor<S>>(&self, y: &T, grad: &mut T) {
        for (g, &yi) in grad.flat_mut().iter_mut().zip(y.flat()) {
            *g = self.backward_one(yi, *g);
        }
    }
}
