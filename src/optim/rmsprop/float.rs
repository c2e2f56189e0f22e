//! The rmsprop kernel for `f32` and `f64`: one generic kernel over [`Float`].

use super::*;
use crate::num::Float;
use crate::optim::bound::StateBound;
use crate::optim::float::{
    first_nonfinite, grads_exp, grads_known_in_range, in_safe_range, larger, magnitude, nonzero,
    safe_exp_in, with_float_grad, ROOT_BLOCK,
};
use crate::optim::threads::in_pieces;

/// Per-step scalars of the floating-point RMSprop kernel.
#[derive(Clone, Copy, Debug)]
pub struct FloatRmsPropCoeffs<T> {
    negate: bool,
    wd: Option<T>,
    alpha: T,
    oma: T,
    w: T,
    omw: T,
    lerp_from_avg: bool,
    eps: T,
    mu: T,
    lr: T,
    /// Whether `eps` hides the roots of subnormal averages ([`Float::plain_root_beside`]) and
    /// `α ≤ 1` keeps the averages from going negative.
    plain_root: bool,
}

impl<T: Float> RmsPropNum for T {
    type SqAvg = T;
    type Avg = T;
    type Coeffs = FloatRmsPropCoeffs<T>;

    fn rmsprop_coeffs(cfg: &RmsPropConfig) -> Self::Coeffs {
        let w = T::of(1.0 - cfg.alpha);
        FloatRmsPropCoeffs {
            negate: cfg.maximize,
            wd: nonzero::<T>(cfg.weight_decay),
            alpha: T::of(cfg.alpha),
            oma: T::of(1.0 - cfg.alpha),
            w,
            omw: T::of(1.0) - w,
            lerp_from_avg: w < T::of(0.5),
            eps: T::of(cfg.eps),
            mu: T::of(cfg.momentum),
            lr: T::of(cfg.lr),
            plain_root: cfg.alpha <= 1.0 && T::plain_root_beside(T::of(cfg.eps)),
        }
    }

    /// With `A = 1 + wd`: `g'` is at most `A`, `ḡ` at most `2A + 1` times the largest input, so
    /// the squares at most `(2A + 1)²` times its square; `g'/avg` at most `A/eps` times it, the
    /// buffer and the step at most `(1 + lr)·(μ + 1 + A/eps)`; beyond the safe range a trial run.
    fn rmsprop_check(
        params: &[Self],
        grads: &[Self],
        small: bool,
        square_avg: &[Self],
        momentum_buffer: Option<&[Self]>,
        grad_avg: Option<&[Self]>,
        bound: &mut StateBound,
        whole: bool,
        coeffs: impl FnOnce() -> Self::Coeffs,
    ) -> Option<usize> {
        let c = &coeffs();
        let k = safe_exp_of(c);
        let safe = |x: &[T]| in_safe_range(k, x);
        // With α > 1 (`1 − α < 0`) `v' = α·v + (1 − α)·g'²` can go negative whatever the
        // magnitudes, and uncentered its root is NaN: only the trial run can tell (centered
        // clamps `v − ḡ²` at 0). Nor is it then an average, which the bound needs.
        let average = c.oma >= T::ZERO;
        let root_of_negative = grad_avg.is_none() && !average;
        let grads_small = grads_known_in_range(k, small);
        let passed = k.is_some_and(|k| {
            !root_of_negative
                && safe(params)
                && (grads_small || safe(grads))
                // `square_avg` is read only where its bound does not already place it inside
                // the range (`optim::bound`).
                && bound.squares_within_or_read(k, whole, |e| in_safe_range(Some(e), square_avg))
                && momentum_buffer.is_none_or(safe)
                && grad_avg.is_none_or(safe)
        });
        if let (true, Some(k)) = (passed, k) {
            // The gradients as they enter the average: `±g`; an L2 term adds the parameter,
            // which the bound does not follow.
            let bounded = c.wd.is_none() && average;
            bound.stepped(bounded.then(|| grads_exp(k, grads_small)));
            return None;
        }
        bound.forget();
        let mut aux = <T::Aux as StateValue>::ZERO;
        // Absent buffers ride along as copies of `square_avg`, unused.
        let (b, gb) = (
            momentum_buffer.unwrap_or(square_avg),
            grad_avg.unwrap_or(square_avg),
        );
        let (has_b, has_gb) = (momentum_buffer.is_some(), grad_avg.is_some());
        first_nonfinite(params, grads, [square_avg, b, gb], |p, g, [v, b, gb]| {
            let b = if has_b { Some(b) } else { None };
            let gb = if has_gb { Some(gb) } else { None };
            Self::rmsprop_update(p, g, v, b, gb, c, &mut aux)
        })
    }

    #[cfg_attr(feature = "host-simd", inline(always))]
    #[cfg_attr(not(feature = "host-simd"), inline)]
    fn rmsprop_update(
        params: &mut [Self],
        grads: &[Self],
        square_avg: &mut [Self],
        momentum_buffer: Option<&mut [Self]>,
        grad_avg: Option<&mut [Self]>,
        c: &Self::Coeffs,
        _aux: &mut Self::Aux,
    ) {
        in_pieces!(
            params.len(),
            (params, grads, square_avg, momentum_buffer, grad_avg),
            c,
            {
                #[inline(always)]
                #[allow(clippy::too_many_arguments)]
                fn element<T: Float>(
                    p: &mut T,
                    g: T,
                    v: &mut T,
                    buf: Option<&mut T>,
                    gbar: Option<&mut T>,
                    c: &FloatRmsPropCoeffs<T>,
                    grad: impl Fn(T, T) -> T,
                    root: impl Fn(T) -> T,
                ) {
                    let g = grad(g, *p);
                    next_square_avg(v, g, c, gbar.is_some());
                    let avg = match gbar {
                        Some(gbar) => {
                            // ḡ = lerp(ḡ, g, 1-α), torch's two-sided form; v - ḡ² is clamped at 0
                            // (torch may write NaN). torch: v.addcmul(ḡ, ḡ, value=-1), fused, as here
                            // in every type (the cancellation).
                            let d = g - *gbar;
                            *gbar = if c.lerp_from_avg {
                                T::madd(c.w, d, *gbar)
                            } else {
                                T::madd(-c.omw, d, g)
                            };
                            let var = T::fused(-*gbar, *gbar, *v);
                            root(if var > T::ZERO { var } else { T::ZERO })
                        }
                        None => root(*v),
                    } + c.eps; // eps outside the square root
                    match buf {
                        // The buffer starts at 0 (unlike SGD's); lr stays outside it. torch:
                        // buf.mul_(μ).addcdiv_(g, avg); p.add_(buf, alpha=-lr) (fused in f64).
                        Some(b) => {
                            *b = c.mu * *b + g / avg;
                            *p = T::madd(-c.lr, *b, *p);
                        }
                        None => descend(p, g, avg, c),
                    }
                }
                let plain = momentum_buffer.is_none() && grad_avg.is_none();
                if plain && c.plain_root && !c.negate && c.wd.is_none() {
                    // torch's defaults, one loop (a second loop for every case would cost
                    // flash). The averages are never negative (`α ≤ 1`; checkpoints refuse
                    // negative ones) and the check keeps them finite: every root is the plain
                    // one, the same bits.
                    let pgv = params.iter_mut().zip(grads).zip(square_avg.iter_mut());
                    for ((p, &g), v) in pgv {
                        element(p, g, v, None, None, c, |g, _| g, T::root_plain);
                    }
                } else {
                    // maximize and weight decay are chosen once, outside the loops.
                    with_float_grad!(T, c.negate, c.wd, |grad| {
                        if T::ROOT_SELECTS && plain {
                            blocks(params, grads, square_avg, c, grad);
                        } else {
                            let pgv = params.iter_mut().zip(grads).zip(square_avg.iter_mut());
                            match (momentum_buffer, grad_avg) {
                                (Some(bufs), Some(gbars)) => {
                                    for (((p, &g), v), (b, gb)) in
                                        pgv.zip(bufs.iter_mut().zip(gbars.iter_mut()))
                                    {
                                        element(p, g, v, Some(b), Some(gb), c, grad, T::root);
                                    }
                                }
                                (Some(bufs), None) => {
                                    for (((p, &g), v), b) in pgv.zip(bufs.iter_mut()) {
                                        element(p, g, v, Some(b), None, c, grad, T::root);
                                    }
                                }
                                (None, Some(gbars)) => {
                                    for (((p, &g), v), gb) in pgv.zip(gbars.iter_mut()) {
                                        element(p, g, v, None, Some(gb), c, grad, T::root);
                                    }
                                }
                                (None, None) => {
                                    for ((p, &g), v) in pgv {
                                        element(p, g, v, None, None, c, grad, T::root);
                                    }
                                }
                            }
                        }
                    });
                }
            },
        );
    }
}

/// The square average of one element from its gradient `g` (maximize and L2 decay applied).
#[inline(always)]
fn next_square_avg<T: Float>(v: &mut T, g: T, c: &FloatRmsPropCoeffs<T>, centered: bool) {
    // torch: square_avg.mul_(α).addcmul_(g, g, value=1-α), which torch's kernel rounds as
    // fma((1-α)·g, g, α·v). So in f64 (`TORCH_ORDER`) and, in every type, when centered, where
    // `v − ḡ²` cancels and amplifies any extra rounding (unfused, f32 measured 10 × torch's own
    // f32 drift on a corner case); plain f32 stays unfused.
    *v = if T::TORCH_ORDER || centered {
        T::fused(c.oma * g, g, *v * c.alpha)
    } else {
        *v * c.alpha + c.oma * (g * g)
    };
}

/// The parameter step without a momentum buffer, from the gradient `g` and `avg = √v + eps`.
#[inline(always)]
fn descend<T: Float>(p: &mut T, g: T, avg: T, c: &FloatRmsPropCoeffs<T>) {
    if T::TORCH_ORDER {
        // torch: p.addcdiv_(g, avg, value=-lr), which rounds (−lr·g)/avg.
        *p += (-c.lr * g) / avg;
    } else {
        *p -= c.lr * (g / avg);
    }
}

/// The loop without momentum, uncentered, where [`Float::ROOT_SELECTS`]: per block of
/// [`ROOT_BLOCK`] elements the square averages first, then the parameters, with
/// [`Float::root_plain`] when every average of the block is a
/// [plain root input](Float::plain_root_input) (zero or positive normal). The same operations on
/// each element as the plain loop, so the same bits.
#[inline(always)]
fn blocks<T: Float>(
    params: &mut [T],
    grads: &[T],
    square_avgs: &mut [T],
    c: &FloatRmsPropCoeffs<T>,
    grad: impl Fn(T, T) -> T + Copy,
) {
    /// The parameters of one block, with the square root `root`.
    #[inline(always)]
    fn write<T: Float>(
        params: &mut [T],
        grads: &[T],
        square_avgs: &[T],
        c: &FloatRmsPropCoeffs<T>,
        grad: impl Fn(T, T) -> T,
        root: impl Fn(T) -> T,
    ) {
        for ((p, &g), &v) in params.iter_mut().zip(grads).zip(square_avgs) {
            let g = grad(g, *p);
            descend(p, g, root(v) + c.eps, c);
        }
    }
    let blocks = params
        .chunks_mut(ROOT_BLOCK)
        .zip(grads.chunks(ROOT_BLOCK))
        .zip(square_avgs.chunks_mut(ROOT_BLOCK));
    for ((params, grads), square_avgs) in blocks {
        let mut plain = true;
        for ((&p, &g), v) in params.iter().zip(grads).zip(square_avgs.iter_mut()) {
            next_square_avg(v, grad(g, p), c, false);
            plain &= v.plain_root_input();
        }
        if plain {
            write(params, grads, square_avgs, c, grad, T::root_plain);
        } else {
            write(params, grads, square_avgs, c, grad, T::root);
        }
    }
}

/// The safe range's exponent of a step with the coefficients `c` (see `rmsprop_check`): the
/// bounds computed in `T`, then doubled ([`safe_exp_in`]). Every factor that multiplies a term
/// is at least 1 except `w`, whose product with `A + 1` cannot overflow unless `A` does, so an
/// overflow means an exact bound with no range too.
#[inline(always)]
pub(super) fn safe_exp_of<T: Float>(c: &FloatRmsPropCoeffs<T>) -> Option<i32> {
    let one = T::of(1.0);
    let a = one + c.wd.map_or(T::ZERO, magnitude);
    let (mu, lr) = (magnitude(c.mu), magnitude(c.lr));
    // α and 1 − α are not bounded by validation (torch accepts any α ≥ 0): `v·α` and
    // `(1 − α)·g'²` (and centered, `ḡ + (1 − α)·(g' − ḡ)`, whose square enters `var`) grow
    // with them: a huge α (as `f32`: ∞) must fail the range test, or the step writes NaN
    // into `v` and every parameter (fuzz/regressions/optim_step/
    // fixed-rmsprop-f32-huge-alpha-*).
    let (alpha, w) = (magnitude(c.alpha), larger(magnitude(c.oma), magnitude(c.w)));
    let two_a = a + a;
    let amp = two_a + T::of(2.0) + alpha + w * (a + one) + (one + lr) * (mu + one + a / c.eps);
    let sq = (two_a + one) * (two_a + one) * (one + w) * (one + w);
    safe_exp_in::<T>(amp, sq)
}

#[cfg(test)]
mod blocks_tests {
    use super::*;
    use crate::num::sqrt::SQRT_F32_REFINED;
    use crate::optim::float::{block_test_grads, block_test_params, BLOCKS_LEN};

    /// The loop in blocks gives the bits of the plain loop's element (uncentered, no momentum)
    /// on each element, over blocks that need the root's rare path and blocks that do not, for
    /// four steps of each variant; with an eps far below the roots of subnormal averages, so that
    /// the rare path shows (`root_plain` everywhere gives other bits).
    #[test]
    fn blocks_give_the_element_bits() {
        let tiny = RmsPropConfig {
            eps: 1e-35,
            ..RmsPropConfig::new(1e-2)
        };
        let variants = [
            RmsPropConfig::new(1e-2),
            tiny,
            RmsPropConfig {
                weight_decay: 0.1,
                ..tiny
            },
        ];
        let mut rare_path_seen = false;
        for cfg in variants {
            let c = &f32::rmsprop_coeffs(&cfg);
            let wd = c.wd.unwrap_or(0.0);
            let grad = move |g: f32, p: f32| f32::madd(wd, p, g);
            let (mut pb, mut pe) = (block_test_params(), block_test_params());
            let (mut vb, mut ve) = ([0.0f32; BLOCKS_LEN], [0.0f32; BLOCKS_LEN]);
            for t in 1..=4 {
                let g = block_test_grads(t);
                let (p0, v0) = (pe, ve);
                blocks(&mut pb, &g, &mut vb, c, grad);
                let element = |p: &mut f32, g: f32, v: &mut f32, root: fn(f32) -> f32| {
                    let g = grad(g, *p);
                    next_square_avg(v, g, c, false);
                    descend(p, g, root(*v) + c.eps, c);
                };
                for ((p, &g), v) in pe.iter_mut().zip(&g).zip(ve.iter_mut()) {
                    element(p, g, v, f32::root);
                }
                assert_eq!(pb.map(f32::to_bits), pe.map(f32::to_bits), "{cfg:?} {t}");
                assert_eq!(vb.map(f32::to_bits), ve.map(f32::to_bits), "{cfg:?} {t}");
                let (mut p1, mut v1) = (p0, v0);
                for ((p, &g), v) in p1.iter_mut().zip(&g).zip(v1.iter_mut()) {
                    element(p, g, v, f32::root_plain);
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

    /// The step's loop (uncentered, no momentum) gives the bits of the element with the full
    /// root over averages that are zero, subnormal and normal, for four steps of each variant:
    /// with the plain root where `eps` hides the roots of subnormals and `α ≤ 1`, the full root
    /// where not (at `eps = 1e-35` the plain root would change the parameters; `α = 1.5` can
    /// make an average negative).
    #[test]
    fn plain_root_loop_gives_the_element_bits() {
        let variants = [
            RmsPropConfig::new(1e-2),
            RmsPropConfig {
                weight_decay: 0.1,
                ..RmsPropConfig::new(1e-2)
            },
            RmsPropConfig {
                alpha: 1.0,
                ..RmsPropConfig::new(1e-2)
            },
            RmsPropConfig {
                eps: 1e-35,
                ..RmsPropConfig::new(1e-2)
            },
            RmsPropConfig {
                alpha: 1.5,
                ..RmsPropConfig::new(1e-2)
            },
        ];
        let (mut plain, mut full, mut subnormal) = (0, 0, 0);
        for cfg in variants {
            let c = &f32::rmsprop_coeffs(&cfg);
            // As the step's loops (`with_float_grad`): `0·p` would carry a NaN parameter.
            let grad = |g: f32, p: f32| c.wd.map_or(g, |wd| f32::madd(wd, p, g));
            let (mut ps, mut pe) = (block_test_params(), block_test_params());
            let (mut vs, mut ve) = ([0.0f32; BLOCKS_LEN], [0.0f32; BLOCKS_LEN]);
            for t in 1..=4 {
                let g = block_test_grads(t);
                f32::rmsprop_update(&mut ps, &g, &mut vs, None, None, c, &mut ());
                for ((p, &g), v) in pe.iter_mut().zip(&g).zip(ve.iter_mut()) {
                    let g = grad(g, *p);
                    next_square_avg(v, g, c, false);
                    descend(p, g, f32::root(*v) + c.eps, c);
                }
                assert_eq!(ps.map(f32::to_bits), pe.map(f32::to_bits), "{cfg:?} {t}");
                assert_eq!(vs.map(f32::to_bits), ve.map(f32::to_bits), "{cfg:?} {t}");
                subnormal += ve.iter().filter(|v| v.is_subnormal()).count();
            }
            let hides = c.eps >= 2f32.powi(-38) || !SQRT_F32_REFINED;
            assert_eq!(c.plain_root, cfg.alpha <= 1.0 && hides, "{cfg:?}");
            plain += usize::from(c.plain_root);
            full += usize::from(!c.plain_root);
        }
        assert!(plain >= 3 && full >= 1 && subnormal > 0);
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
        let mut draw = spread_f32(0xDA94_2042_E4DD_58B5);
        let mut compared = 0;
        for case in 0..200_000 {
            let c = FloatRmsPropCoeffs {
                negate: false,
                wd: (case % 3 == 0).then(&mut draw),
                alpha: draw(),
                oma: draw(),
                w: draw(),
                omw: 0.5f32,
                lerp_from_avg: false,
                eps: draw().abs().max(f32::from_bits(1)),
                mu: draw(),
                lr: draw(),
                plain_root: false,
            };
            let wide = |x: f32| f64::from(x).abs();
            let a = 1.0 + c.wd.map_or(0.0, wide);
            let (mu, lr, alpha) = (wide(c.mu), wide(c.lr), wide(c.alpha));
            let w = wide(c.oma).max(wide(c.w));
            let amp = 2.0 * a
                + 2.0
                + alpha
                + w * (a + 1.0)
                + (1.0 + lr) * (mu + 1.0 + a / f64::from(c.eps));
            let sq = (2.0 * a + 1.0) * (2.0 * a + 1.0) * (1.0 + w) * (1.0 + w);
            let exact = safe_exp::<f32>(amp, sq);
            compared += usize::from(agrees_with_exact(safe_exp_of(&c), exact, false));
        }
        assert!(compared > 20_000, "{compared}");
    }
}
