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
