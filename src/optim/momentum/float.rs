//! The momentum kernel for `f32` and `f64`: one generic kernel over [`Float`].

use super::*;
use crate::num::Float;
use crate::optim::float::{nonzero, with_float_grad};

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

    fn momentum_check(
        _params: &[Self],
        _grads: &[Self],
        _buf: &[Self],
        _c: &Self::Coeffs,
    ) -> Option<usize> {
        None
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
    }
}
