//! The momentum kernel for `f32` and `f64`: one generic kernel over [`Float`].

use super::*;
use crate::num::Float;
use crate::optim::float::{
    first_nonfinite, grads_in_safe_range, in_safe_range, nonzero, safe_exp, with_float_grad,
};
use crate::optim::threads::in_pieces;

/// Per-step scalars of the floating-point momentum kernel.
#[derive(Clone, Copy, Debug)]
pub struct FloatMomentumCoeffs<T> {
    negate: bool,
    wd: Option<T>,
    mu: T,
    /// `1 − τ`.
    damp: T,
    /// The first step, which sets the buffer to `g`.
    first: bool,
    nesterov: bool,
    lr: T,
    enabled: bool,
    /// τ = 0: the buffer adds `g` itself.
    undamped: bool,
}

impl<T: Float> MomentumNum for T {
    type Buffer = T;
    type Coeffs = FloatMomentumCoeffs<T>;

    fn momentum_coeffs(cfg: &MomentumConfig, t: u32) -> Self::Coeffs {
        FloatMomentumCoeffs {
            negate: cfg.maximize,
            wd: nonzero::<T>(cfg.weight_decay),
            mu: T::of(cfg.momentum),
            damp: T::of(1.0 - cfg.dampening),
            first: t == 1,
            nesterov: cfg.nesterov,
            lr: T::of(cfg.lr),
            enabled: cfg.momentum != 0.0,
            undamped: cfg.dampening == 0.0,
        }
    }

    /// With `A = 1 + wd` (the gradient with L2 decay) and `B = μ + max(|1 − τ|, 1)·A` (the new
    /// buffer), every intermediate is at most `(1 + lr)·(A + (1 + μ)·B)` times the largest
    /// input; beyond the safe range a trial run.
    fn momentum_check(
        params: &[Self],
        grads: &[Self],
        small: bool,
        buf: &[Self],
        c: &Self::Coeffs,
    ) -> Option<usize> {
        let (mu, damp, lr) = (c.mu.wide().abs(), c.damp.wide().abs(), c.lr.wide().abs());
        let a = 1.0 + c.wd.map_or(0.0, |w| w.wide().abs());
        let b = mu + damp.max(1.0) * a;
        let k = safe_exp::<T>((1.0 + lr) * (a + (1.0 + mu) * b), 0.0);
        if in_safe_range(k, params) && grads_in_safe_range(k, grads, small) && in_safe_range(k, buf)
        {
            return None;
        }
        let mut aux = <T::Aux as StateValue>::ZERO;
        first_nonfinite(params, grads, [buf], |p, g, [b]| {
            Self::momentum_update(p, g, b, c, &mut aux)
        })
    }

    #[cfg_attr(feature = "host-simd", inline(always))]
    #[cfg_attr(not(feature = "host-simd"), inline)]
    fn momentum_update(
        params: &mut [Self],
        grads: &[Self],
        buf: &mut [Self],
        c: &Self::Coeffs,
        _aux: &mut Self::Aux,
    ) {
        in_pieces!(params.len(), (params, grads, buf), c, {
            let (mu, damp, lr) = (c.mu, c.damp, c.lr);
            if !c.enabled {
                // torch with momentum = 0: plain SGD, the buffer is never touched.
                with_float_grad!(T, c.negate, c.wd, |grad| {
                    for (p, &g) in params.iter_mut().zip(grads) {
                        *p -= lr * grad(g, *p);
                    }
                });
                return;
            }
            // One loop per case, chosen here: no flag is tested per element.
            with_float_grad!(T, c.negate, c.wd, |grad| {
                let pgb = params.iter_mut().zip(grads).zip(buf.iter_mut());
                if c.first {
                    // First step: buf = copy(g), not (1-τ)·g; dampening applies from step 2.
                    // `g + 0·g == g` exactly for finite g, so one loop serves both cases.
                    let nmu = if c.nesterov { mu } else { T::ZERO };
                    for ((p, &g), b) in pgb {
                        let g = grad(g, *p);
                        *b = g;
                        *p -= lr * (g + nmu * g);
                    }
                } else if c.nesterov {
                    // Nesterov needs dampening 0 (validated), so (1-τ)·g = g exactly.
                    for ((p, &g), b) in pgb {
                        let g = grad(g, *p);
                        *b = mu * *b + g;
                        *p -= lr * (g + mu * *b);
                    }
                } else if c.undamped {
                    // torch's add_(g, alpha=1) adds g itself: skipping the 1·g is exact.
                    for ((p, &g), b) in pgb {
                        let g = grad(g, *p);
                        *b = mu * *b + g;
                        *p -= lr * *b;
                    }
                } else {
                    for ((p, &g), b) in pgb {
                        let g = grad(g, *p);
                        *b = mu * *b + damp * g;
                        *p -= lr * *b;
                    }
                }
            });
        },);
    }
}
