//! What every float kernel (`optim/<name>/float.rs`) shares: the gradient with `maximize` and L2
//! decay applied, chosen once per call.

use crate::num::Float;

/// The gradient a float kernel works with: negated first under `maximize`, then L2 decay added
/// only when it is on (by [`Float::madd`]: torch's fused `grad.add(param, alpha=wd)` in `f64`). Skipping the `wd·p` multiply-add when `wd = 0` (rather than adding `0·p`)
/// is what torch does, and on an FPU-less core it saves two soft-float calls per element.
#[inline(always)]
pub(crate) fn float_grad<T: Float>(g: T, p: T, negate: bool, wd: Option<T>) -> T {
    let g = if negate { -g } else { g };
    match wd {
        Some(wd) => T::madd(wd, p, g),
        None => g,
    }
}

/// Runs `$body` once for whichever case of the kernel gradient applies (see [`float_grad`]), with
/// `$grad` bound to a closure `(g, p) -> gradient` specialised to that case. The flags are tested
/// here, once per call, and never inside the element loop: a loop-invariant compare left in a loop
/// is sunk into it by the code generator (with an `f64` flag that is a soft-float call per element,
/// even on a Cortex-M4F). A macro, not a function, because the four closures have four types and
/// `$body` is generic over them.
macro_rules! with_float_grad {
    ($t:ty, $negate:expr, $wd:expr, |$grad:ident| $body:block) => {
        match ($negate, $wd) {
            (false, None) => {
                let $grad = |g: $t, _p: $t| -> $t { g };
                $body
            }
            (true, None) => {
                let $grad = |g: $t, _p: $t| -> $t { -g };
                $body
            }
            (false, Some(wd)) => {
                let $grad = move |g: $t, p: $t| -> $t { <$t as Float>::madd(wd, p, g) };
                $body
            }
            (true, Some(wd)) => {
                let $grad = move |g: $t, p: $t| -> $t { <$t as Float>::madd(wd, p, -g) };
                $body
            }
        }
    };
}
pub(crate) use with_float_grad;

/// Elements per block of a loop in two passes over a block (see [`Float::ROOT_SELECTS`]): the
/// state pass, then the parameter pass with the root, the block's values still in L1 (1 KiB per
/// `f32` buffer).
pub(crate) const ROOT_BLOCK: usize = 256;

/// `Some(x as T)` unless `x == 0`: an optional per-step factor.
#[inline(always)]
pub(crate) fn nonzero<T: Float>(x: f64) -> Option<T> {
    if x != 0.0 {
        Some(T::of(x))
    } else {
        None
    }
}

/// Elements per chunk of [`first_nonfinite`]'s trial run (on the stack: `(2 + B)·16` values).
const TRIAL: usize = 16;

/// The exponent `k` of the safe range of a float step: when every input magnitude (parameter,
/// gradient, state) is below `2^k`, every intermediate value of the step stays below
/// `2^(MAX_EXP − 2)` and so is finite. `amplification` bounds every intermediate as a multiple
/// of the largest input, `square` (Adam's, RMSprop's and Adagrad's `g'²`) as a multiple of the
/// largest input's square (0 without squares). `None` when no range is safe (a huge or
/// non-finite coefficient): then every element is checked by a trial run.
pub(crate) fn safe_exp<T: Float>(amplification: f64, square: f64) -> Option<i32> {
    let top = T::MAX_EXP - 2;
    let lin = top - ceil_log2(amplification)?;
    let sq = if square > 0.0 {
        (top - ceil_log2(square)?) / 2
    } else {
        lin
    };
    let k = lin.min(sq);
    (k >= 1).then_some(k)
}

/// [`safe_exp`] of bounds computed in `T` rather than in `f64`, where every operation is a
/// library call on a core without a double-precision FPU (a few hundred instructions per step on
/// a Cortex-M4F). Each bound must be built from the step's non-negative coefficients by sums,
/// products and quotients, with at most a dozen roundings to nearest from any coefficient to the
/// result (no cancellation): then it is no lower than `(1 − 2^-24)^12 > 1/2` times the exact
/// bound, and doubled here it is an upper bound. An overflow gives `∞` and no safe range. The
/// range may be half what the exact bound allows; that only sends more inputs to the trial run,
/// whose verdict is exact, so no step's result changes.
#[inline(always)]
pub(crate) fn safe_exp_in<T: Float>(amplification: T, square: T) -> Option<i32> {
    let two = T::of(2.0);
    safe_exp::<T>((amplification * two).wide(), (square * two).wide())
}

/// Test support for the bounds in `T`: `f32` values of either sign whose magnitudes spread over
/// the whole range (`2^-149` to `2^127`), from a 64-bit LCG.
#[cfg(test)]
pub(crate) fn spread_f32(seed: u64) -> impl FnMut() -> f32 {
    let mut s = seed;
    move || {
        s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let e = ((s >> 33) % 276) as i32 - 149;
        let m = 1.0 + ((s >> 8) & 0xFFFF) as f64 / 65_536.0;
        let x = (m * 2f64.powi(e)) as f32;
        if s & 1 == 0 {
            x
        } else {
            -x
        }
    }
}

/// Test support for the loops in blocks of [`ROOT_BLOCK`]: three whole blocks and a tail.
#[cfg(test)]
pub(crate) const BLOCKS_LEN: usize = 3 * ROOT_BLOCK + 77;

/// Test support for the loops in blocks: gradients in `[-0.5, 0.5)` from a 64-bit LCG (`step`
/// varies them), then per block: the first as drawn; the second with one exact zero (a zero
/// state value: a plain root input); the third tiny (subnormal squares); the tail with a zero
/// and a tiny one.
#[cfg(test)]
pub(crate) fn block_test_grads(step: u64) -> [f32; BLOCKS_LEN] {
    let mut x = 0x9E37_79B9_7F4A_7C15 ^ step;
    let mut g: [f32; BLOCKS_LEN] = core::array::from_fn(|_| {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((x >> 11) as f64 / (1u64 << 53) as f64 - 0.5) as f32
    });
    g[ROOT_BLOCK + 100] = 0.0;
    for v in &mut g[2 * ROOT_BLOCK..3 * ROOT_BLOCK] {
        *v *= 1e-20;
    }
    g[3 * ROOT_BLOCK + 5] = 0.0;
    g[3 * ROOT_BLOCK + 50] *= 1e-21;
    g
}

/// Test support for the loops in blocks: parameters in `(-1, 1)`.
#[cfg(test)]
pub(crate) fn block_test_params() -> [f32; BLOCKS_LEN] {
    core::array::from_fn(|i| libm::sinf(i as f32 * 0.37))
}

/// Test support: the exponent from bounds in `f32` ([`safe_exp_in`]) against the one from the
/// same bounds in `f64` (exact to about `2^-50` for `f32` inputs, far inside the factor 2): never
/// above it, at most one below, and no range only where the exact one starts at 1 (or where
/// `spurious` allows an `f32` overflow that the exact bound does not have). Whether both had a
/// range.
#[cfg(test)]
pub(crate) fn agrees_with_exact(got: Option<i32>, exact: Option<i32>, spurious: bool) -> bool {
    match (got, exact) {
        (Some(g), Some(e)) => {
            assert!(g <= e && g + 1 >= e, "{g} against {e}");
            true
        }
        (Some(g), None) => panic!("{g} where the exact bound has no range"),
        (None, Some(e)) => {
            assert!(e == 1 || spurious, "no range against {e}");
            false
        }
        (None, None) => false,
    }
}

/// `|x|`, for a step coefficient (a NaN stays NaN, and the bounds it enters give no safe range).
#[inline(always)]
pub(crate) fn magnitude<T: Float>(x: T) -> T {
    if x < T::ZERO {
        -x
    } else {
        x
    }
}

/// The larger of `x` and `y` (`y` when they are unordered).
#[inline(always)]
pub(crate) fn larger<T: Float>(x: T, y: T) -> T {
    if x > y {
        x
    } else {
        y
    }
}

/// `⌈log2 x⌉` for `x ≥ 1` (0 below), from the bits (no soft-float `log2` per step on a core
/// without a double-precision FPU); `None` for an infinite or NaN `x`.
fn ceil_log2(x: f64) -> Option<i32> {
    if !x.is_finite() {
        return None;
    }
    if x <= 1.0 {
        return Some(0);
    }
    let bits = x.to_bits();
    let e = ((bits >> 52) & 0x7FF) as i32 - 1023; // x ≥ 1: normal, 2^e ≤ x < 2^(e+1)
    Some(if bits & ((1 << 52) - 1) == 0 {
        e
    } else {
        e + 1
    })
}

/// Whether every value of `values` lies in the safe range `[−2^k, 2^k)` of [`safe_exp`]
/// (`None`: there is none).
#[inline(always)]
pub(crate) fn in_safe_range<T: Float>(k: Option<i32>, values: &[T]) -> bool {
    k.is_some_and(|k| {
        let scan = super::threads::scan(
            values,
            #[cfg_attr(feature = "host-simd", inline(always))]
            |v: &[T]| (None, T::all_below_pow2(v, k)),
        );
        scan.1
    })
}

/// Whether the gradients lie in the safe range `[−2^k, 2^k)`: known without reading them when
/// the gradient scan established `|g| < 2^29` (`small`) and `k ≥ 29`.
#[inline(always)]
pub(crate) fn grads_in_safe_range<T: Float>(k: Option<i32>, grads: &[T], small: bool) -> bool {
    grads_known_in_range(k, small) || in_safe_range(k, grads)
}

/// Whether the gradient scan's bound (`small`: every `|g| < 2^SMALL_GRADIENT_EXP`) alone places
/// the gradients inside the safe range `[−2^k, 2^k)`.
#[inline(always)]
pub(crate) fn grads_known_in_range(k: Option<i32>, small: bool) -> bool {
    matches!(k, Some(k) if small && k >= crate::num::SMALL_GRADIENT_EXP)
}

/// After a passed check with safe range `[−2^k, 2^k)`: an `e` with every gradient below `2^e`,
/// from the gradient scan where it placed them in range (`known`, [`grads_known_in_range`]),
/// else from the check's read. For the state's bound (`optim::bound`).
#[inline(always)]
pub(crate) fn grads_exp(k: i32, known: bool) -> i32 {
    if known {
        crate::num::SMALL_GRADIENT_EXP
    } else {
        k
    }
}

/// The first element whose step gives a non-finite parameter or state value, found by running
/// the optimizer's own kernel (`step`: parameters, gradients, state buffers) on copies of
/// chunks of the elements: exactly what the step would write, nothing written. `None` if every
/// element stays finite.
pub(crate) fn first_nonfinite<T: Float, const B: usize>(
    params: &[T],
    grads: &[T],
    state: [&[T]; B],
    mut step: impl FnMut(&mut [T], &[T], [&mut [T]; B]),
) -> Option<usize> {
    let mut start = 0;
    while start < params.len() {
        let end = params.len().min(start + TRIAL);
        let n = end - start;
        let mut p = [T::ZERO; TRIAL];
        let mut st = [[T::ZERO; TRIAL]; B];
        p[..n].copy_from_slice(params.get(start..end)?);
        for (s, src) in st.iter_mut().zip(state) {
            s[..n].copy_from_slice(src.get(start..end)?);
        }
        step(
            &mut p[..n],
            grads.get(start..end)?,
            st.each_mut().map(|s| &mut s[..n]),
        );
        for i in 0..n {
            if !p[i].finite() || st.iter().any(|s| !s[i].finite()) {
                return Some(start + i);
            }
        }
        start = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ceil_log2` is the smallest `n ≥ 0` with `2^n ≥ x` (found by comparison with exact
    /// powers of two; `libm`'s `ceil(log2(x))` rounds `16·(1 + ε)` to 4), on powers of two,
    /// their neighbours and other values.
    #[test]
    fn ceil_log2_is_the_smallest_power_of_two_above() {
        let mut xs = std::vec![1.0, 1.5, 2.0, 3.0, 4.0, 1e10, 1e300, f64::MAX];
        for e in 0..1000 {
            let p = libm::ldexp(1.0, e);
            xs.extend([p, p * (1.0 + f64::EPSILON), p * (1.0 - f64::EPSILON / 2.0)]);
        }
        for x in xs {
            let want = (0..1100).find(|&n| libm::ldexp(1.0, n) >= x).unwrap();
            assert_eq!(ceil_log2(x), Some(want), "{x:e}");
        }
        assert_eq!(ceil_log2(0.5), Some(0));
        assert_eq!(ceil_log2(f64::INFINITY), None);
        assert_eq!(ceil_log2(f64::NAN), None);
        assert_eq!(safe_exp::<f32>(1.0, 0.0), Some(126));
        assert_eq!(safe_exp::<f32>(3.0, 4.0), Some(62));
        assert_eq!(safe_exp::<f32>(2f64.powi(130), 0.0), None);
    }

    /// The scaled-sum range test: `true` below `2^k`, `false` at and above it and for NaN.
    #[test]
    fn all_below_pow2_separates_at_the_edge() {
        for k in [1, 10, 64, 100, 126, 127] {
            let edge = libm::ldexpf(1.0, k);
            let below = f32::from_bits(edge.to_bits() - 1);
            assert!(f32::all_below_pow2(&[0.0, -below, below], k), "{k}");
            assert!(!f32::all_below_pow2(&[0.0, edge], k), "{k}");
            assert!(!f32::all_below_pow2(&[-edge * 3.0], k), "{k}");
            assert!(!f32::all_below_pow2(&[f32::NAN], k));
            assert!(!f32::all_below_pow2(&[f32::INFINITY], k));
        }
    }
}
