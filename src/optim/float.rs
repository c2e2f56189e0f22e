//! What every float kernel (`optim/<name>/float.rs`) shares: the gradient with `maximize` and L2
//! decay applied, chosen once per call.

use crate::num::Float;

/// The gradient a float kernel works with: negated first under `maximize`, then L2 decay added
/// only when it is on. Skipping the `wd·p` multiply-add when `wd = 0` (rather than adding `0·p`)
/// is what torch does, and on an FPU-less core it saves two soft-float calls per element.
#[inline(always)]
pub(crate) fn float_grad<T: Float>(g: T, p: T, negate: bool, wd: Option<T>) -> T {
    let g = if negate { -g } else { g };
    match wd {
        Some(wd) => g + wd * p,
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
                let $grad = move |g: $t, p: $t| -> $t { g + wd * p };
                $body
            }
            (true, Some(wd)) => {
                let $grad = move |g: $t, p: $t| -> $t { -g + wd * p };
                $body
            }
        }
    };
}
pub(crate) use with_float_grad;

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
    let lin = top - libm::ceil(libm::log2(amplification.max(1.0))) as i32;
    let sq = if square > 0.0 {
        (top - libm::ceil(libm::log2(square.max(1.0))) as i32) / 2
    } else {
        lin
    };
    let k = lin.min(sq);
    if amplification.is_finite() && square.is_finite() && k >= 1 {
        Some(k)
    } else {
        None
    }
}

/// Whether every value of `values` lies in the safe range `[−2^k, 2^k)` of [`safe_exp`]
/// (`None`: there is none).
#[inline(always)]
pub(crate) fn in_safe_range<T: Float>(k: Option<i32>, values: &[T]) -> bool {
    k.is_some_and(|k| T::all_below_pow2(values, k))
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
