//! The adagrad kernel for `f32` and `f64`: one generic kernel over [`Float`].

use super::*;
use crate::num::Float;
use crate::optim::float::{
    first_nonfinite, grads_in_safe_range, in_safe_range, magnitude, nonzero, safe_exp_in,
    with_float_grad, ROOT_BLOCK,
};
use crate::optim::threads::in_pieces;

/// Per-step scalars of the floating-point Adagrad kernel.
#[derive(Clone, Copy, Debug)]
pub struct FloatAdagradCoeffs<T> {
    negate: bool,
    wd: Option<T>,
    clr: T,
    eps: T,
    /// Whether `eps` hides the roots of subnormal sums ([`Float::plain_root_beside`]).
    plain_root: bool,
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
            plain_root: T::plain_root_beside(T::of(cfg.eps)),
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
        let k = safe_exp_of(c);
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
            if c.plain_root && !c.negate && c.wd.is_none() {
                // torch's defaults, one loop (a second loop for every case would cost flash).
                // The sums are never negative (`initial_accumulator_value ≥ 0`; checkpoints
                // refuse negative ones) and the check keeps them finite: every root is the
                // plain one, the same bits.
                for ((p, &g), s) in params.iter_mut().zip(grads).zip(sum.iter_mut()) {
                    *s += g * g;
                    descend(p, g, *s, clr, eps, T::root_plain);
                }
            } else {
                with_float_grad!(T, c.negate, c.wd, |grad| {
                    if T::ROOT_SELECTS {
                        blocks(params, grads, sum, clr, eps, grad);
                    } else {
                        for ((p, &g), s) in params.iter_mut().zip(grads).zip(sum.iter_mut()) {
                            let g = grad(g, *p);
                            *s += g * g;
                            descend(p, g, *s, clr, eps, T::root);
                        }
                    }
                });
            }
        },);
    }
}

/// The parameter step from the gradient `g` (maximize and L2 decay applied) and the new sum
/// `s`, with the square root `root`.
#[inline(always)]
fn descend<T: Float>(p: &mut T, g: T, s: T, clr: T, eps: T, root: impl Fn(T) -> T) {
    let std = root(s) + eps; // eps outside the square root
    *p -= clr * (g / std);
}

/// The loop where [`Float::ROOT_SELECTS`]: per block of [`ROOT_BLOCK`] elements the sums first,
/// then the parameters, with [`Float::root_plain`] when every sum of the block is a
/// [plain root input](Float::plain_root_input) (zero or positive normal). The same operations on
/// each element as the plain loop, so the same bits.
#[inline(always)]
fn blocks<T: Float>(
    params: &mut [T],
    grads: &[T],
    sums: &mut [T],
    clr: T,
    eps: T,
    grad: impl Fn(T, T) -> T + Copy,
) {
    /// The parameters of one block, with the square root `root`.
    #[inline(always)]
    fn write<T: Float>(
        params: &mut [T],
        grads: &[T],
        sums: &[T],
        (clr, eps): (T, T),
        grad: impl Fn(T, T) -> T,
        root: impl Fn(T) -> T + Copy,
    ) {
        for ((p, &g), &s) in params.iter_mut().zip(grads).zip(sums) {
            let g = grad(g, *p);
            descend(p, g, s, clr, eps, root);
        }
    }
    let blocks = params
        .chunks_mut(ROOT_BLOCK)
        .zip(grads.chunks(ROOT_BLOCK))
        .zip(sums.chunks_mut(ROOT_BLOCK));
    for ((params, grads), sums) in blocks {
        let mut plain = true;
        for ((&p, &g), s) in params.iter().zip(grads).zip(sums.iter_mut()) {
            let g = grad(g, p);
            *s += g * g;
            plain &= s.plain_root_input();
        }
        if plain {
            write(params, grads, sums, (clr, eps), grad, T::root_plain);
        } else {
            write(params, grads, sums, (clr, eps), grad, T::root);
        }
    }
}

/// The safe range's exponent of a step with the coefficients `c` (see `adagrad_check`): the
/// bounds computed in `T`, then doubled ([`safe_exp_in`]). A learning rate below 1 can bring an
/// overflowing `A/eps` back into range: such a step has no safe range (the trial run decides).
#[inline(always)]
fn safe_exp_of<T: Float>(c: &FloatAdagradCoeffs<T>) -> Option<i32> {
    let one = T::of(1.0);
    let a = one + c.wd.map_or(T::ZERO, magnitude);
    let amp = one + a + a / c.eps * magnitude(c.clr);
    safe_exp_in::<T>(amp, a * a)
}

#[cfg(test)]
mod blocks_tests {
    use super::*;
    use crate::num::sqrt::SQRT_F32_REFINED;
    use crate::optim::float::{block_test_grads, block_test_params, BLOCKS_LEN};

    /// The loop in blocks gives the bits of the plain loop on each element, over blocks that
    /// need the root's rare path and blocks that do not, for four steps of each variant; with an
    /// eps far below the roots of subnormal sums, so that the rare path shows (`root_plain`
    /// everywhere gives other bits).
    #[test]
    fn blocks_give_the_element_bits() {
        let tiny = AdagradConfig {
            eps: 1e-35,
            ..AdagradConfig::new(0.1)
        };
        let variants = [
            AdagradConfig::new(0.1),
            tiny,
            AdagradConfig {
                weight_decay: 0.1,
                ..tiny
            },
        ];
        let mut rare_path_seen = false;
        for cfg in variants {
            let (mut pb, mut pe) = (block_test_params(), block_test_params());
            let (mut sb, mut se) = ([0.0f32; BLOCKS_LEN], [0.0f32; BLOCKS_LEN]);
            for t in 1..=4 {
                let c = f32::adagrad_coeffs(&cfg, t);
                let wd = c.wd.unwrap_or(0.0);
                let grad = move |g: f32, p: f32| f32::madd(wd, p, g);
                let g = block_test_grads(u64::from(t));
                let (p0, s0) = (pe, se);
                blocks(&mut pb, &g, &mut sb, c.clr, c.eps, grad);
                let element = |p: &mut f32, g: f32, s: &mut f32, root: fn(f32) -> f32| {
                    let g = grad(g, *p);
                    *s += g * g;
                    descend(p, g, *s, c.clr, c.eps, root);
                };
                for ((p, &g), s) in pe.iter_mut().zip(&g).zip(se.iter_mut()) {
                    element(p, g, s, f32::root);
                }
                assert_eq!(pb.map(f32::to_bits), pe.map(f32::to_bits), "{cfg:?} {t}");
                assert_eq!(sb.map(f32::to_bits), se.map(f32::to_bits), "{cfg:?} {t}");
                let (mut p1, mut s1) = (p0, s0);
                for ((p, &g), s) in p1.iter_mut().zip(&g).zip(s1.iter_mut()) {
                    element(p, g, s, f32::root_plain);
                }
                rare_path_seen |= p1.map(f32::to_bits) != pe.map(f32::to_bits);
            }
        }
        // Where the root has no selects (`fast-sqrt`, `exact-sqrt`), the plain root is the root.
        assert!(
            rare_path_seen || !f32::ROOT_SELECTS,
            "no block needed the rare path"
        );
    }

    /// The step's loop gives the bits of the element with the full root over sums that are
    /// zero, subnormal and normal, for four steps of each variant: with the plain root where
    /// `eps` hides the roots of subnormals, the full root where not (at `eps = 1e-35` the plain
    /// root would change the parameters).
    #[test]
    fn plain_root_loop_gives_the_element_bits() {
        let variants = [
            AdagradConfig::new(0.1),
            AdagradConfig {
                weight_decay: 0.1,
                ..AdagradConfig::new(0.1)
            },
            AdagradConfig {
                eps: 1e-35,
                ..AdagradConfig::new(0.1)
            },
        ];
        let (mut plain, mut subnormal) = (0, 0);
        for cfg in variants {
            let (mut ps, mut pe) = (block_test_params(), block_test_params());
            let (mut ss, mut se) = ([0.0f32; BLOCKS_LEN], [0.0f32; BLOCKS_LEN]);
            for t in 1..=4 {
                let c = &f32::adagrad_coeffs(&cfg, t);
                // As the step's loops (`with_float_grad`).
                let grad = |g: f32, p: f32| c.wd.map_or(g, |wd| f32::madd(wd, p, g));
                let g = block_test_grads(u64::from(t));
                f32::adagrad_update(&mut ps, &g, &mut ss, c, &mut ());
                for ((p, &g), s) in pe.iter_mut().zip(&g).zip(se.iter_mut()) {
                    let g = grad(g, *p);
                    *s += g * g;
                    descend(p, g, *s, c.clr, c.eps, f32::root);
                }
                assert_eq!(ps.map(f32::to_bits), pe.map(f32::to_bits), "{cfg:?} {t}");
                assert_eq!(ss.map(f32::to_bits), se.map(f32::to_bits), "{cfg:?} {t}");
                let hides = c.eps >= 2f32.powi(-38) || !SQRT_F32_REFINED;
                assert_eq!(c.plain_root, hides, "{cfg:?}");
                plain += usize::from(c.plain_root);
                subnormal += se.iter().filter(|s| s.is_subnormal()).count();
            }
        }
        assert!(plain >= 8 && subnormal > 0);
    }
}

#[cfg(test)]
mod safe_range_tests {
    use super::*;
    use crate::optim::float::{agrees_with_exact, safe_exp, spread_f32};

    /// The safe range from the bounds in `f32` against the same bounds in `f64`, over coefficients
    /// from `2^-149` to `2^127`, with and without weight decay.
    #[test]
    fn safe_range_from_f32_bounds_is_within_the_exact_one() {
        let mut draw = spread_f32(0x5851_F42D_4C95_7F2D);
        let mut compared = 0;
        for case in 0..200_000 {
            let c = FloatAdagradCoeffs {
                negate: false,
                wd: (case % 3 == 0).then(&mut draw),
                clr: draw(),
                eps: draw().abs().max(f32::from_bits(1)),
                plain_root: false,
            };
            let a = 1.0 + c.wd.map_or(0.0, |w| f64::from(w).abs());
            let quotient = a / f64::from(c.eps);
            let amp = 1.0 + a + quotient * f64::from(c.clr).abs();
            let exact = safe_exp::<f32>(amp, a * a);
            // `A/eps` beyond `f32` (times a learning rate below 1): no range in `f32`.
            let spurious = quotient >= f64::from(f32::MAX);
            compared += usize::from(agrees_with_exact(safe_exp_of(&c), exact, spurious));
        }
        assert!(compared > 50_000, "{compared}");
    }
}
