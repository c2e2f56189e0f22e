//! Mean squared error, for regression.

use super::{Scalar, Tensor};

/// Mean squared error `L = (1/N) Σᵢ (predᵢ − targetᵢ)²` over the `N` elements of one sample, and
/// its gradient `dpred = ∂L/∂pred = (2/N)(pred − target)`: torch's `F.mse_loss` with the default
/// mean reduction. `pred`, `target` and `dpred` are the same [`Tensor`] type, so their shapes
/// agree at compile time; a compile error if `N == 0`.
///
/// For a mini-batch, sum the per-sample gradients and divide the learning rate by the batch
/// size (or scale `dpred`) to get torch's mean over the batch as well.
///
/// # Memory
/// No scratch; `dpred` is overwritten. The squares are summed in [`Scalar::Acc`].
pub fn mse<S: Scalar, T: Tensor<S>>(pred: &T, target: &T, dpred: &mut T) -> S {
    const { assert!(T::LEN > 0, "mean squared error needs at least one element") };
    let inv_n = S::from_f64(1.0 / T::LEN as f64);
    let two_inv_n = S::from_f64(2.0 / T::LEN as f64);
    let mut sum = S::ZERO.widen();
    for ((d, &p), &t) in dpred
        .flat_mut()
        .iter_mut()
        .zip(pred.flat())
        .zip(target.flat())
    {
        let e = p.sub(t);
        sum = S::mul_acc(sum, e, e);
        *d = two_inv_n.mul(e);
    }
    S::narrow(sum).mul(inv_n)
}
