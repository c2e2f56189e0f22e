//! The adagrad kernel for `f32` and `f64`: one generic kernel over [`Float`].

use super::*;
use crate::num::Float;
use crate::optim::float::{
    first_nonfinite, grads_in_safe_range, in_safe_range, nonzero, safe_exp, with_float_grad,
};
use crate::optim::threads::in_pieces;

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

    /// With `A = 1 + wd`: `g'` at most `A` times the largest input, `g'²` `A²` times its
    /// square, the step `clr·A/eps` times it; beyond the safe range a trial run.
    fn adagrad_check(
        params: &[Self],
        grads: &[Self],
        small: bool,
        sum: &[Self],
        initial: Option<Self>,
        coeffs: impl FnOnce() -> Self::Coeffs,
    ) -> Option<usize> {
        let c = &coeffs();
        let a = 1.0 + c.wd.map_or(0.0, |w| w.wide().abs());
        let amp = 1.0 + a + c.clr.wide().abs() * a / c.eps.wide();
        let k = safe_exp::<T>(amp, a * a);
        let safe = |x: &[T]| in_safe_range(k, x);
        let sum_safe = match initial {
            Some(s0) => safe(&[s0]),
            None => safe(sum),
        };
        if safe(params) && grads_in_safe_range(k, grads, small) && sum_safe {
            return None;
        }
        let mut aux = <T::Aux as StateValue>::ZERO;
        first_nonfinite(params, grads, [sum], |p, g, [s]| {
            if let Some(s0) = initial {
                s.fill(s0);
            }
            Self::adagrad_update(p, g, s, c, &mut aux)
        })
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
        in_pieces!(params.len(), (params, grads, sum), c, {
            let (clr, eps) = (c.clr, c.eps);
            with_float_grad!(T, c.negate, c.wd, |grad| {
                for ((p, &g), s) in params.iter_mut().zip(grads).zip(sum.iter_mut()) {
                    let g = grad(g, *p);
                    *s += g * g;
                    let std = T::root(*s) + eps; // eps outside the square root
                    *p -= clr * (g / std);
                }
            });
        },);
    }
}
