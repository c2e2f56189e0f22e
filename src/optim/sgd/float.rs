//! The sgd kernel for `f32` and `f64`: one generic kernel over [`Float`].

use super::*;
use crate::num::Float;
use crate::optim::float::{nonzero, with_float_grad};

/// Per-step scalars of the floating-point SGD kernel.
#[derive(Clone, Copy, Debug)]
pub struct FloatSgdCoeffs<T> {
    negate: bool,
    wd: Option<T>,
    lr: T,
}

impl<T: Float> SgdNum for T {
    type Coeffs = FloatSgdCoeffs<T>;

    fn sgd_coeffs(cfg: &SgdConfig) -> Self::Coeffs {
        FloatSgdCoeffs {
            negate: cfg.maximize,
            wd: nonzero::<T>(cfg.weight_decay),
            lr: T::of(cfg.lr),
        }
    }

    #[cfg_attr(feature = "host-simd", inline(always))]
    #[cfg_attr(not(feature = "host-simd"), inline)]
    fn sgd_update(params: &mut [Self], grads: &[Self], c: &Self::Coeffs, _aux: &mut Self::Aux) {
        let lr = c.lr;
        with_float_grad!(T, c.negate, c.wd, |grad| {
            for (p, &g) in params.iter_mut().zip(grads) {
                *p -= lr * grad(g, *p);
            }
        });
    }
}
