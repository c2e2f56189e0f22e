//! The lion kernel for `f32` and `f64`: one generic kernel over [`Float`].

use super::*;
use crate::num::Float;
use crate::optim::float::{first_nonfinite, grads_in_safe_range, in_safe_range, nonzero, safe_exp};
use crate::optim::threads::in_pieces;

/// Per-step scalars of the floating-point Lion kernel.
#[derive(Clone, Copy, Debug)]
pub struct FloatLionCoeffs<T> {
    decay: Option<T>,
    b1: T,
    omb1: T,
    b2: T,
    omb2: T,
    lr: T,
}

impl<T: Float> LionNum for T {
    type Moment = T;
    type Coeffs = FloatLionCoeffs<T>;

    fn lion_coeffs(cfg: &LionConfig) -> Self::Coeffs {
        FloatLionCoeffs {
            decay: nonzero::<f64>(cfg.weight_decay).map(|wd| T::of(1.0 - cfg.lr * wd)),
            b1: T::of(cfg.beta1),
            omb1: T::of(1.0 - cfg.beta1),
            b2: T::of(cfg.beta2),
            omb2: T::of(1.0 - cfg.beta2),
            lr: T::of(cfg.lr),
        }
    }

    /// `c` and the new `m` are at most twice the largest input, the step `|1 − lr·wd|` times it
    /// plus `lr`; beyond the safe range a trial run.
    fn lion_check(
        params: &[Self],
        grads: &[Self],
        small: bool,
        m: &[Self],
        coeffs: impl FnOnce() -> Self::Coeffs,
    ) -> Option<usize> {
        let c = &coeffs();
        let decay = c.decay.map_or(1.0, |d| d.wide().abs());
        let k = safe_exp::<T>(2.0 + decay + c.lr.wide().abs(), 0.0);
        let safe = |x: &[T]| in_safe_range(k, x);
        if safe(params) && grads_in_safe_range(k, grads, small) && safe(m) {
            return None;
        }
        let mut aux = <T::Aux as StateValue>::ZERO;
        first_nonfinite(params, grads, [m], |p, g, [m]| {
            Self::lion_update(p, g, m, c, &mut aux)
        })
    }

    #[cfg_attr(feature = "host-simd", inline(always))]
    #[cfg_attr(not(feature = "host-simd"), inline)]
    fn lion_update(
        params: &mut [Self],
        grads: &[Self],
        m: &mut [Self],
        c: &Self::Coeffs,
        _aux: &mut Self::Aux,
    ) {
        in_pieces!(params.len(), (params, grads, m), c, {
            #[inline(always)]
            fn element<T: Float>(p: &mut T, g: T, m: &mut T, c: &FloatLionCoeffs<T>, pd: T) {
                let u = *m * c.b1 + g * c.omb1; // the OLD m, with β1
                                                // torch.sign: sign(±0) = 0, unlike f32::signum.
                let s = if u > T::ZERO {
                    c.lr
                } else if u < T::ZERO {
                    -c.lr
                } else {
                    T::ZERO
                };
                *p = pd - s;
                *m = *m * c.b2 + g * c.omb2; // the EMA after the step, with β2
            }
            let pgm = params.iter_mut().zip(grads).zip(m.iter_mut());
            // Decoupled decay first (torch multiplies by 1 when wd = 0; skipping it is exact).
            match c.decay {
                Some(decay) => {
                    for ((p, &g), m) in pgm {
                        element(p, g, m, c, *p * decay);
                    }
                }
                None => {
                    for ((p, &g), m) in pgm {
                        element(p, g, m, c, *p);
                    }
                }
            }
        },);
    }
}
