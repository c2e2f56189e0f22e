//! The adam kernel for `f32` and `f64`: one generic kernel over [`Float`].

use super::*;
use crate::num::pow::{one_minus_pow, one_minus_pow_accurate};
#[cfg(feature = "arm-vldm")]
use crate::num::AdamScalars;
use crate::num::Float;
use crate::optim::bound::StateBound;
use crate::optim::float::{
    first_nonfinite, float_grad, grads_exp, grads_known_in_range, in_safe_range, larger, magnitude,
    safe_exp_in, ROOT_BLOCK,
};
use crate::optim::threads::in_pieces;

/// Per-step scalars of the floating-point Adam kernel.
#[derive(Clone, Copy, Debug)]
pub struct FloatAdamCoeffs<T> {
    negate: bool,
    l2: Option<T>,
    decay: Option<T>,
    w1: T,
    omw1: T,
    lerp_from_m: bool,
    beta2: T,
    omb2: T,
    /// `lr / (1 − β1^t) · sqrt(1 − β2^t)`.
    step_size: T,
    /// `eps · sqrt(1 − β2^t)` (at least the smallest positive value of `T`).
    eps: T,
    /// Whether `eps` hides the roots of subnormal second moments ([`Float::plain_root_beside`]).
    plain_root: bool,
}

/// Whether the usual Adam configurations run four parameters per loop iteration. On a Cortex-M
/// this shares the loop's address arithmetic and branch (M4F: 47.3 → 42.0 instructions per
/// parameter, boards/ bench); on a host with SIMD the compiler vectorises the plain loop better
/// (x86-64, N = 1Mi: 437 against 317 Mparam/s, `benches/`).
const FOUR_WIDE: bool = !crate::num::VECTOR_HOST;

/// One element, with the square root `root`. `prep(g, p)` gives the gradient (maximize and L2
/// decay applied) and the decayed parameter (AdamW); `lerp_from_m` picks torch's lerp rounding.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn element<T: Float>(
    p: &mut T,
    g: T,
    m: &mut T,
    v: &mut T,
    vmax: Option<&mut T>,
    c: &FloatAdamCoeffs<T>,
    lerp_from_m: bool,
    prep: impl Fn(T, T) -> (T, T),
    root: impl Fn(T) -> T,
) {
    let (g, pd) = prep(g, *p);
    moments(g, m, v, c, lerp_from_m);
    // AMSGrad: the max of the RAW v, divided by the current sqrt(bc2).
    let vv = match vmax {
        Some(vm) => {
            if *v > *vm {
                *vm = *v;
            }
            *vm
        }
        None => *v,
    };
    write_param(p, pd, *m, vv, c, root);
}

/// The moments of one element from its gradient `g` (maximize and L2 decay applied).
#[inline(always)]
fn moments<T: Float>(g: T, m: &mut T, v: &mut T, c: &FloatAdamCoeffs<T>, lerp_from_m: bool) {
    // torch's lerp(m, g, 1-β1), rounded the way torch rounds it.
    let d = g - *m;
    *m = if lerp_from_m {
        *m + c.w1 * d
    } else {
        g - c.omw1 * d
    };
    *v = *v * c.beta2 + c.omb2 * (g * g);
}

/// The parameter from its decayed value `pd` and the new moments `m` and `vv`, with the square
/// root `root`.
#[inline(always)]
fn write_param<T: Float>(
    p: &mut T,
    pd: T,
    m: T,
    vv: T,
    c: &FloatAdamCoeffs<T>,
    root: impl Fn(T) -> T,
) {
    // eps after the bias-corrected square root, both scaled by sqrt(bc2) (see
    // the coefficients).
    let denom = root(vv) + c.eps;
    *p = pd - c.step_size * (m / denom);
}

/// The loop without AMSGrad where [`Float::ROOT_SELECTS`]: per block of [`ROOT_BLOCK`]
/// elements the moments first, then the parameters, with [`Float::root_plain`] when every
/// second moment of the block is a [plain root input](Float::plain_root_input): zero (a
/// gradient that has always been zero, as for a dead unit's weights) or positive normal; a
/// subnormal one comes from gradients near `2^-64` or long decayed. The same operations on each
/// element as [`element`], so the same bits.
#[inline(always)]
fn blocks<T: Float>(
    params: &mut [T],
    grads: &[T],
    m: &mut [T],
    v: &mut [T],
    c: &FloatAdamCoeffs<T>,
    lerp_from_m: bool,
    prep: impl Fn(T, T) -> (T, T) + Copy,
) {
    /// The parameters of one block, with the square root `root`.
    #[inline(always)]
    fn write<T: Float>(
        params: &mut [T],
        grads: &[T],
        m: &[T],
        v: &[T],
        c: &FloatAdamCoeffs<T>,
        prep: impl Fn(T, T) -> (T, T),
        root: impl Fn(T) -> T + Copy,
    ) {
        for ((p, &g), (&m, &v)) in params.iter_mut().zip(grads).zip(m.iter().zip(v)) {
            let (_, pd) = prep(g, *p);
            write_param(p, pd, m, v, c, root);
        }
    }
    let blocks = params
        .chunks_mut(ROOT_BLOCK)
        .zip(grads.chunks(ROOT_BLOCK))
        .zip(m.chunks_mut(ROOT_BLOCK).zip(v.chunks_mut(ROOT_BLOCK)));
    for ((params, grads), (m, v)) in blocks {
        let mut plain = true;
        let pgmv = params.iter().zip(grads).zip(m.iter_mut().zip(v.iter_mut()));
        for ((&p, &g), (m, v)) in pgmv {
            moments(prep(g, p).0, m, v, c, lerp_from_m);
            plain &= v.plain_root_input();
        }
        if plain {
            write(params, grads, m, v, c, prep, T::root_plain);
        } else {
            write(params, grads, m, v, c, prep, T::root);
        }
    }
}

/// The whole update as one scalar loop, out of line, for a compact [`AdamForm`]: the step and
/// the overflow check's trial run call this one copy (no four-wide loop, no loop per flag
/// combination), for the least flash at a few instructions more per parameter. The same
/// operations as the other loops, so the same bits.
#[inline(never)]
// With the hardware root the body is small enough that the optimizer would unroll it
// (M4F nightly: 1,232 bytes instead of about 300).
#[cfg_attr(feature = "nightly", optimize(size))]
#[allow(clippy::too_many_arguments)]
fn compact_loop<T: Float, const AMS: bool>(
    params: &mut [T],
    grads: &[T],
    m: &mut [T],
    v: &mut [T],
    vmax: &mut [T],
    c: &FloatAdamCoeffs<T>,
    negate: bool,
    l2: Option<T>,
    decay: Option<T>,
) {
    let c = &{ *c };
    let lerp = c.lerp_from_m;
    let pgmv = params
        .iter_mut()
        .zip(grads)
        .zip(m.iter_mut().zip(v.iter_mut()));
    let mut vmax = vmax.iter_mut();
    for ((p, &g), (m, v)) in pgmv {
        let vm = if AMS { vmax.next() } else { None };
        element(
            p,
            g,
            m,
            v,
            vm,
            c,
            lerp,
            |g, p| {
                // The expressions of `adam_update`'s loops, case by case.
                let g = match l2 {
                    Some(wd) if !negate && lerp => g + wd * p,
                    _ => float_grad(g, p, negate, l2),
                };
                (g, decay.map_or(p, |d| p * d))
            },
            T::root,
        );
    }
}

/// The safe range's exponent of a step with the coefficients `c` (see `adam_check`): the
/// bounds computed in `T`, then doubled ([`safe_exp_in`]).
#[inline(always)]
fn safe_exp_of<T: Float>(c: &FloatAdamCoeffs<T>) -> Option<i32> {
    let one = T::of(1.0);
    let a = one + c.l2.map_or(T::ZERO, magnitude);
    let decay = c.decay.map_or(one, magnitude);
    // The quotient `m/denom` is formed before the step size multiplies it: it must stay
    // finite on its own (a step size of 0 times an infinite quotient is NaN:
    // fuzz/regressions/optim_step/f32-adam-zero-lr-infinite-quotient-*).
    let step = larger(magnitude(c.step_size), one);
    let two_a = a + a;
    // Divided first: every intermediate is then at most the bound itself (`step/eps` is
    // multiplied by `2A + 1 ≥ 3`), so an overflow to `∞` means an exact bound with no range too.
    let amp = two_a + T::of(2.0) + decay + step / c.eps * (two_a + one);
    safe_exp_in::<T>(amp, a * a)
}

#[inline(never)]
fn outlined_in_safe_range<T: Float>(k: Option<i32>, values: &[T]) -> bool {
    in_safe_range(k, values)
}

impl<T: Float> AdamNum for T {
    type Moment = T;
    type SqMoment = T;
    type Coeffs = FloatAdamCoeffs<T>;

    // Inlined into each step even when a firmware has several Adam types: out of line, its
    // result lives in memory that the loop cannot keep in registers (M4F: +1 instruction per
    // parameter); the bias corrections' loop is out of line (`one_minus_pow`).
    #[inline(always)]
    fn adam_coeffs(cfg: &AdamConfig, t: u32) -> Self::Coeffs {
        let (bc1, bc2) = if T::ACCURATE_STEP_SCALARS {
            (
                one_minus_pow_accurate(cfg.beta1, t),
                one_minus_pow_accurate(cfg.beta2, t),
            )
        } else {
            (one_minus_pow(cfg.beta1, t), one_minus_pow(cfg.beta2, t))
        };
        let (l2, decay) = match (cfg.weight_decay != 0.0, cfg.decoupled_weight_decay) {
            (true, false) => (Some(T::of(cfg.weight_decay)), None),
            (true, true) => (None, Some(T::of(1.0 - cfg.lr * cfg.weight_decay))),
            (false, _) => (None, None),
        };
        let w1 = T::of(1.0 - cfg.beta1);
        let eps = {
            let e = T::of(cfg.eps * libm::sqrt(bc2));
            // A positive eps must stay positive (else 0/0 where v = m = 0).
            if e > T::ZERO {
                e
            } else {
                T::TINY
            }
        };
        FloatAdamCoeffs {
            negate: cfg.maximize,
            l2,
            decay,
            w1,
            omw1: T::of(1.0) - w1,
            // w1 in (0, 1]: an integer compare of the bits (no float compare to sink).
            lerp_from_m: w1.below_half(),
            beta2: T::of(cfg.beta2),
            omb2: T::of(1.0 - cfg.beta2),
            // torch's `lr/bc1 · m / (sqrt(v)/sqrt(bc2) + eps)`, with numerator and
            // denominator multiplied by `sqrt(bc2)` (in f64, rounded once each):
            // `(lr/bc1·sqrt(bc2)) · m / (sqrt(v) + eps·sqrt(bc2))`. The same value up to
            // rounding, with one operation less per element (no divide by sqrt(bc2)).
            step_size: T::of(cfg.lr / bc1 * libm::sqrt(bc2)),
            eps,
            plain_root: T::plain_root_beside(eps),
        }
    }

    // Always inlined into the step: out of line, the Cortex-M4F step costs about 2 % more
    // (`scripts/embedded.sh`).
    /// With `A = 1 + wd` (L2) every linear intermediate is at most
    /// `2A + 2 + |1 − lr·wd| + step_size·(2A + 1)/eps'` times the largest input (`m/(√v + eps')`
    /// is at most `|m|/eps'`), and `g'²` at most `A²` times its square; beyond the safe range a
    /// trial run.
    fn adam_check<K: AdamForm>(
        params: &[Self],
        grads: &[Self],
        small: bool,
        m: &[Self],
        v: &[Self],
        vmax: Option<&[Self]>,
        bound: &mut StateBound,
        whole: bool,
        coeffs: impl FnOnce() -> Self::Coeffs,
    ) -> Option<usize> {
        let c = &coeffs();
        let k = safe_exp_of(c);
        // A compact form scans every buffer with one out-of-line copy of the scan.
        let safe_at = |k: i32, x: &[T]| {
            if K::COMPACT {
                outlined_in_safe_range(Some(k), x)
            } else {
                in_safe_range(Some(k), x)
            }
        };
        let grads_small = grads_known_in_range(k, small);
        let first_at = |e: i32| safe_at(e, m);
        let squares_at = |e: i32| safe_at(e, v) && vmax.is_none_or(|vm| safe_at(e, vm));
        let safe = k.is_some_and(|k| {
            safe_at(k, params)
                && (grads_small || safe_at(k, grads))
                // A compact form reads the state buffers every step: its code is the smaller
                // (M4F: 276 bytes of flash less, for 4 instructions more per parameter). The
                // other forms read them only where their bound does not already place them
                // inside the range (`optim::bound`).
                && if K::COMPACT {
                    first_at(k) && squares_at(k)
                } else {
                    bound.first_within_or_read(k, whole, first_at)
                        && bound.squares_within_or_read(k, whole, squares_at)
                }
        });
        if let (true, Some(k)) = (safe, k) {
            // The gradients as they enter the moments: `±g`; an L2 term adds the parameter,
            // which the bound does not follow.
            if !K::COMPACT {
                bound.stepped(c.l2.is_none().then(|| grads_exp(k, grads_small)));
            }
            return None;
        }
        bound.forget();
        let mut aux = <T::Aux as StateValue>::ZERO;
        match vmax {
            Some(vm) => first_nonfinite(params, grads, [m, v, vm], |p, g, [m, v, vm]| {
                Self::adam_update::<K>(p, g, m, v, Some(vm), c, &mut aux)
            }),
            None => first_nonfinite(params, grads, [m, v], |p, g, [m, v]| {
                Self::adam_update::<K>(p, g, m, v, None, c, &mut aux)
            }),
        }
    }

    #[inline(always)]
    fn adam_update<K: AdamForm>(
        params: &mut [Self],
        grads: &[Self],
        m: &mut [Self],
        v: &mut [Self],
        vmax: Option<&mut [Self]>,
        c: &Self::Coeffs,
        _aux: &mut Self::Aux,
    ) {
        in_pieces!(
            params.len(),
            (params, grads, m, v, vmax),
            c,
            update::<T, K>(params, grads, m, v, vmax, c),
        );
    }
}

/// [`AdamNum::adam_update`] on one piece of the buffers.
#[inline(always)]
fn update<T: Float, K: AdamForm>(
    params: &mut [T],
    grads: &[T],
    m: &mut [T],
    v: &mut [T],
    vmax: Option<&mut [T]>,
    c: &FloatAdamCoeffs<T>,
) {
    /// The loop, with or without AMSGrad's running maximum.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn run<T: Float>(
        params: &mut [T],
        grads: &[T],
        m: &mut [T],
        v: &mut [T],
        vmax: Option<&mut [T]>,
        c: &FloatAdamCoeffs<T>,
        lerp_from_m: bool,
        unroll: bool,
        prep: impl Fn(T, T) -> (T, T) + Copy,
    ) {
        /// The loop without AMSGrad with the square root `root`: four elements per iteration
        /// where `four` (see `FOUR_WIDE`), then the rest one by one.
        #[inline(always)]
        #[allow(clippy::too_many_arguments)]
        fn plain<T: Float>(
            params: &mut [T],
            grads: &[T],
            m: &mut [T],
            v: &mut [T],
            c: &FloatAdamCoeffs<T>,
            lerp_from_m: bool,
            four: bool,
            prep: impl Fn(T, T) -> (T, T) + Copy,
            root: impl Fn(T) -> T + Copy,
        ) {
            let mut p2 = params.chunks_exact_mut(4);
            let mut g2 = grads.chunks_exact(4);
            let mut m2 = m.chunks_exact_mut(4);
            let mut v2 = v.chunks_exact_mut(4);
            if four {
                for (((p, g), m), v) in (&mut p2).zip(&mut g2).zip(&mut m2).zip(&mut v2) {
                    for ((p, &g), (m, v)) in p.iter_mut().zip(g).zip(m.iter_mut().zip(v.iter_mut()))
                    {
                        element(p, g, m, v, None, c, lerp_from_m, prep, root);
                    }
                }
            }
            let (params, grads, m, v) = if four {
                (
                    p2.into_remainder(),
                    g2.remainder(),
                    m2.into_remainder(),
                    v2.into_remainder(),
                )
            } else {
                (params, grads, m, v)
            };
            let pgmv = params
                .iter_mut()
                .zip(grads)
                .zip(m.iter_mut().zip(v.iter_mut()));
            for ((p, &g), (m, v)) in pgmv {
                element(p, g, m, v, None, c, lerp_from_m, prep, root);
            }
        }
        // The second moments are never negative (`v·β2 + (1 − β2)·g²` is at least `+0`;
        // checkpoints refuse negative ones) and the check keeps them finite, so where `eps`
        // hides the roots of subnormal ones every root is the plain one, the same bits
        // (`Float::plain_root_beside`).
        // Only the usual cases (`unroll`) get the plain-root loop: a second loop for every
        // case would cost flash.
        match vmax {
            None if unroll && c.plain_root => plain(
                params,
                grads,
                m,
                v,
                c,
                lerp_from_m,
                FOUR_WIDE,
                prep,
                T::root_plain,
            ),
            None if T::ROOT_SELECTS => blocks(params, grads, m, v, c, lerp_from_m, prep),
            // Other cases, or an `eps` below `2^-38`: one by one, for the least flash.
            None => plain(params, grads, m, v, c, lerp_from_m, false, prep, T::root),
            Some(vmax) => {
                let pgmv = params
                    .iter_mut()
                    .zip(grads)
                    .zip(m.iter_mut().zip(v.iter_mut()));
                for (((p, &g), (m, v)), vm) in pgmv.zip(vmax.iter_mut()) {
                    element(p, g, m, v, Some(vm), c, lerp_from_m, prep, T::root);
                }
            }
        }
    }
    // A local copy: when `adam_coeffs` is out of line (a firmware with two Adam types), `c`
    // points into its result's memory, whose address escaped to that call, and the loop
    // would reload every coefficient after each store (M4F: +2.7 instructions per
    // parameter); the copy is promoted to registers.
    let c = &{ *c };
    // A fixed form's flags are constants (`c` has them: the form was checked), so only
    // its loops remain.
    let (negate, l2, decay) = match K::FIXED {
        None => (c.negate, c.l2, c.decay),
        Some(f) => match f.decay {
            AdamDecay::Off => (f.maximize, None, None),
            AdamDecay::L2 => (f.maximize, Some(c.l2.unwrap_or(T::ZERO)), None),
            AdamDecay::Decoupled => (f.maximize, None, Some(c.decay.unwrap_or(T::ZERO))),
        },
    };
    if K::COMPACT {
        match vmax {
            None => compact_loop::<T, false>(params, grads, m, v, &mut [], c, negate, l2, decay),
            Some(vm) => compact_loop::<T, true>(params, grads, m, v, vm, c, negate, l2, decay),
        }
        return;
    }
    // Every flag is tested here, outside the loops. The usual cases (descend, torch's
    // lerp branch for β1 > 0.5) get loops without any per-element select; Adam and
    // AdamW without L2 also get the four-wide loop.
    if !negate && c.lerp_from_m {
        match (l2, decay) {
            (Some(wd), _) => run(params, grads, m, v, vmax, c, true, false, move |g, p| {
                (g + wd * p, p)
            }),
            (None, decay) => {
                // A hardware kernel may take a prefix (`arm-vldm`); the rest continues the
                // same way.
                #[cfg(feature = "arm-vldm")]
                let (params, grads, m, v) = {
                    let done = if vmax.is_none() {
                        let s = AdamScalars {
                            w1: c.w1,
                            beta2: c.beta2,
                            omb2: c.omb2,
                            eps: c.eps,
                            step_size: c.step_size,
                            decay,
                        };
                        T::adam_prefix(params, grads, m, v, &s)
                    } else {
                        0
                    };
                    (
                        &mut params[done..],
                        &grads[done..],
                        &mut m[done..],
                        &mut v[done..],
                    )
                };
                match decay {
                    Some(decay) => run(params, grads, m, v, vmax, c, true, true, move |g, p| {
                        (g, p * decay)
                    }),
                    None => run(params, grads, m, v, vmax, c, true, true, |g, p| (g, p)),
                }
            }
        }
    } else {
        let lerp = c.lerp_from_m;
        match (l2, decay) {
            (Some(wd), _) => run(params, grads, m, v, vmax, c, lerp, false, move |g, p| {
                (float_grad(g, p, negate, Some(wd)), p)
            }),
            (None, Some(decay)) => run(params, grads, m, v, vmax, c, lerp, false, move |g, p| {
                (float_grad(g, p, negate, None), p * decay)
            }),
            (None, None) => run(params, grads, m, v, vmax, c, lerp, false, move |g, p| {
                (float_grad(g, p, negate, None), p)
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::num::sqrt::SQRT_F32_REFINED;
    use crate::optim::float::{
        agrees_with_exact, block_test_grads, block_test_params, safe_exp, spread_f32, BLOCKS_LEN,
    };

    /// The loop in blocks gives the bits of [`element`] run on each element, over blocks that
    /// need the root's rare path and blocks that do not, for four steps of each variant; with
    /// an eps far below the roots of subnormal moments, so that the rare path shows (the
    /// element loop with `root_plain` everywhere gives other bits).
    #[test]
    fn blocks_give_the_element_bits() {
        let tiny = AdamConfig {
            eps: 1e-35,
            ..AdamConfig::adam(1e-2)
        };
        let variants = [
            AdamConfig::adam(1e-2),
            tiny,
            AdamConfig::adamw(1e-2),
            AdamConfig {
                weight_decay: 0.1,
                ..tiny
            },
            AdamConfig { beta1: 0.3, ..tiny },
        ];
        let mut rare_path_seen = false;
        for cfg in variants {
            let (mut pb, mut pe) = (block_test_params(), block_test_params());
            let z = [0.0f32; BLOCKS_LEN];
            let (mut mb, mut vb, mut me, mut ve) = (z, z, z, z);
            for t in 1..=4 {
                let c = &f32::adam_coeffs(&cfg, t);
                let g = block_test_grads(u64::from(t));
                let wd = c.l2.unwrap_or(0.0);
                let decay = c.decay.unwrap_or(1.0);
                let prep = move |g: f32, p: f32| (g + wd * p, p * decay);
                let (p0, m0, v0) = (pe, me, ve);
                blocks(&mut pb, &g, &mut mb, &mut vb, c, c.lerp_from_m, prep);
                let pgmv = pe.iter_mut().zip(&g).zip(me.iter_mut().zip(ve.iter_mut()));
                for ((p, &g), (m, v)) in pgmv {
                    element(p, g, m, v, None, c, c.lerp_from_m, prep, f32::root);
                }
                assert_eq!(pb.map(f32::to_bits), pe.map(f32::to_bits), "{cfg:?} {t}");
                assert_eq!(mb.map(f32::to_bits), me.map(f32::to_bits), "{cfg:?} {t}");
                assert_eq!(vb.map(f32::to_bits), ve.map(f32::to_bits), "{cfg:?} {t}");
                // The same step with the fast root everywhere.
                let (mut p1, mut m1, mut v1) = (p0, m0, v0);
                for ((p, &g), (m, v)) in p1.iter_mut().zip(&g).zip(m1.iter_mut().zip(&mut v1)) {
                    let (g, pd) = prep(g, *p);
                    moments(g, m, v, c, c.lerp_from_m);
                    write_param(p, pd, *m, *v, c, f32::root_plain);
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

    /// The step's loops give the bits of [`element`] with the full root over second moments
    /// that are zero, subnormal and normal, for four steps of each variant: with the plain root
    /// where `eps` hides the roots of subnormals, the full root where it does not (`eps = 1e-10`
    /// crosses `2^-38` after the first step's bias correction, `1e-11` never does; at `1e-35`
    /// the plain root would change the parameters).
    #[test]
    fn plain_root_loops_give_the_element_bits() {
        let variants = [
            AdamConfig::adam(1e-2),
            AdamConfig::adamw(1e-2),
            AdamConfig {
                weight_decay: 0.1,
                ..AdamConfig::adam(1e-2)
            },
            AdamConfig {
                beta1: 0.3,
                ..AdamConfig::adam(1e-2)
            },
            AdamConfig {
                eps: 1e-10,
                ..AdamConfig::adam(1e-2)
            },
            AdamConfig {
                eps: 1e-11,
                ..AdamConfig::adam(1e-2)
            },
            AdamConfig {
                eps: 1e-35,
                ..AdamConfig::adam(1e-2)
            },
        ];
        let (mut plain_steps, mut full_steps, mut subnormal_moments) = (0, 0, 0);
        for cfg in variants {
            let (mut ps, mut pe) = (block_test_params(), block_test_params());
            let z = [0.0f32; BLOCKS_LEN];
            let (mut ms, mut vs, mut me, mut ve) = (z, z, z, z);
            for t in 1..=4 {
                let c = &f32::adam_coeffs(&cfg, t);
                let g = block_test_grads(u64::from(t));
                f32::adam_update::<AnyAdam>(&mut ps, &g, &mut ms, &mut vs, None, c, &mut ());
                // The expressions of the step's loops (as `compact_loop`).
                let prep = |g: f32, p: f32| {
                    let g = match c.l2 {
                        Some(wd) if !c.negate && c.lerp_from_m => g + wd * p,
                        l2 => float_grad(g, p, c.negate, l2),
                    };
                    (g, c.decay.map_or(p, |d| p * d))
                };
                let pgmv = pe.iter_mut().zip(&g).zip(me.iter_mut().zip(ve.iter_mut()));
                for ((p, &g), (m, v)) in pgmv {
                    element(p, g, m, v, None, c, c.lerp_from_m, prep, f32::root);
                }
                assert_eq!(ps.map(f32::to_bits), pe.map(f32::to_bits), "{cfg:?} {t}");
                assert_eq!(ms.map(f32::to_bits), me.map(f32::to_bits), "{cfg:?} {t}");
                assert_eq!(vs.map(f32::to_bits), ve.map(f32::to_bits), "{cfg:?} {t}");
                assert_eq!(c.plain_root, c.eps >= 2f32.powi(-38) || !SQRT_F32_REFINED);
                plain_steps += usize::from(c.plain_root);
                full_steps += usize::from(!c.plain_root);
                subnormal_moments += ve.iter().filter(|v| v.is_subnormal()).count();
            }
        }
        assert!(plain_steps > 0 && subnormal_moments > 0);
        assert!(full_steps > 0 || !SQRT_F32_REFINED);
    }

    /// The safe range from the bounds in `f32` against the same bounds in `f64`, over coefficients
    /// from `2^-149` to `2^127`, with and without both decays.
    #[test]
    fn safe_range_from_f32_bounds_is_within_the_exact_one() {
        let mut draw = spread_f32(0x853C_49E6_748F_EA9B);
        let mut compared = 0;
        for case in 0..200_000 {
            let c = FloatAdamCoeffs {
                negate: false,
                l2: (case % 3 == 0).then(&mut draw),
                decay: (case % 5 == 0).then(&mut draw),
                w1: 0.1f32,
                omw1: 0.9,
                lerp_from_m: true,
                beta2: 0.999,
                omb2: 0.001,
                step_size: draw(),
                eps: draw().abs().max(f32::from_bits(1)),
                plain_root: false,
            };
            let a = 1.0 + c.l2.map_or(0.0, |w| f64::from(w).abs());
            let decay = c.decay.map_or(1.0, |d| f64::from(d).abs());
            let step = f64::from(c.step_size).abs().max(1.0);
            let amp = 2.0 * a + 2.0 + decay + step * (2.0 * a + 1.0) / f64::from(c.eps);
            let exact = safe_exp::<f32>(amp, a * a);
            compared += usize::from(agrees_with_exact(safe_exp_of(&c), exact, false));
        }
        assert!(compared > 50_000, "{compared}");
    }
}
