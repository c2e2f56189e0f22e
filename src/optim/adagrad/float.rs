//! The adagrad kernel for `f32` and `f64`: one generic kernel over [`Float`].

use super::*;
use crate::num::Float;
use crate::optim::float::{nonzero, with_float_grad};

/// Per-step scalars of the floating-point Adagrad kernel.
#[derive(Clone, Copy, Debug)]
pub struct FloatAdagradCoeffs<T> {
    negate: bool,
    wd: Option<T>,
    clr: T,
    eps: T,
}

impl<T: Float> AdagradNum for T {
    type Sum = T;
    type Coeffs = FloatAdagradCoeffs<T>;

    fn adagrad_coeffs(cfg: &AdagradConfig, t: u32) -> Self::Coeffs {
        // t − 1: the first step uses the full learning rate.
        let clr = cfg.lr / (1.0 + f64::from(t - 1) * cfg.lr_decay);
        FloatAdagradCoeffs {
            negate: cfg.maximize,
            wd: nonzero::<T>(cfg.weight_decay),
            clr: T::of(clr),
            eps: T::of(cfg.eps),
        }
    }

    fn adagrad_initial_sum(cfg: &AdagradConfig) -> T {
        T::of(cfg.initial_accumulator_value)
    }

    #[cfg_attr(feature = "host-simd", inline(always))]
    #[cfg_attr(not(feature = "host-simd"), inline)]
    fn adagrad_update(
        params: &mut [Self],
        grads: &[Self],
        sum: &mut [Self],
        c: &Self::Coeffs,
        _aux: &mut Self::Aux,
    ) {
        let (clr, eps) = (c.clr, c.eps);
        with_float_grad!(T, c.negate, c.wd, |grad| {
            for ((p, &g), s) in params.iter_mut().zip(grads).zip(sum.iter_mut()) {
                let g = grad(g, *p);
                *s += g * g;
                let std = T::root(*s) + eps; // eps outside the square root
                *p -= clr * (g / std);
            }
        });
    }
}
