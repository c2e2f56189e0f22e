//! The sgd kernel for `f32` and `f64`: one generic kernel over [`Float`].

use super::*;
use crate::num::Float;
use crate::optim::float::{
    first_nonfinite, grads_in_safe_range, in_safe_range, nonzero, safe_exp, with_float_grad,
};
use crate::optim::threads::in_pieces;

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

    /// Every intermediate of `p − lr·(±g + wd·p)` is at most `(1 + wd)·(1 + lr)` times the
    /// largest input: below the safe range's edge nothing can overflow; otherwise a trial run.
    fn sgd_check(
        params: &[Self],
        grads: &[Self],
        small: bool,
        cfg: &SgdConfig,
        coeffs: impl FnOnce() -> Self::Coeffs,
    ) -> Option<usize> {
        let c = &coeffs();
        let k = safe_exp::<T>((1.0 + cfg.weight_decay) * (1.0 + cfg.lr), 0.0);
        if in_safe_range(k, params) && grads_in_safe_range(k, grads, small) {
            return None;
        }
        let mut aux = <T::Aux as StateValue>::ZERO;
        first_nonfinite(params, grads, [], |p, g, []| {
            Self::sgd_update(p, g, c, &mut aux)
        })
    }

    #[cfg_attr(feature = "host-simd", inline(always))]
    #[cfg_attr(not(feature = "host-simd"), inline)]
    fn sgd_update(params: &mut [Self], grads: &[Self], c: &Self::Coeffs, _aux: &mut Self::Aux) {
        in_pieces!(params.len(), (params, grads), c, {
            let lr = c.lr;
            with_float_grad!(T, c.negate, c.wd, |grad| {
                for (p, &g) in params.iter_mut().zip(grads) {
                    *p -= lr * grad(g, *p);
                }
            });
        },);
    }
}
