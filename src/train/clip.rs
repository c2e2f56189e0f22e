//! Gradient clipping: by global L2 norm (torch's `clip_grad_norm_`) and by value (torch's
//! `clip_grad_value_`).

use super::error::check;
use super::TrainError;
use crate::nn::Scalar;

/// torch's `1e-6` in `max_norm / (total_norm + 1e-6)`.
const NORM_EPS: f64 = 1e-6;

/// The global L2 norm of `grads`, without changing anything.
///
/// See [`grad_norm_parts`] for how it is computed and how accurate it is.
///
/// # Errors
/// [`TrainError::NonFiniteGradient`] if an element is NaN or infinite.
pub fn grad_norm<S: Scalar>(grads: &[S]) -> Result<f64, TrainError> {
    global_norm(|| core::iter::once(grads))
}

/// The L2 norm of several gradient slices taken together (as if laid end to end), without changing
/// anything: torch's `total_norm` in `clip_grad_norm_(norm_type=2)`.
///
/// # How, and why it cannot overflow
/// Squaring an `f32` gradient above about `1.8e19` overflows to infinity, and summing many smaller
/// squares can overflow too; squares below about `1e-19` underflow to zero. So the norm is
/// computed in two read-only passes, as a *scaled* sum of squares (the approach of LAPACK's
/// `nrm2`, with a power-of-two scale so that scaling is exact):
/// 1. find `a = max |gᵢ|` (and check every element is finite);
/// 2. pick `s = 2⁻ᵉ` with `a·s ∈ [½, 1)` (moved towards 1 until `s` is exactly representable in
///    `S`), and sum `(gᵢ·s)²` in [`Scalar::Acc`]. Every term is at most 1, so the sum is at most
///    the element count: it cannot overflow for any finite gradients (every finite `f32`, so
///    certainly those up to `1e19`), and the largest terms cannot underflow;
/// 3. `‖g‖ = √(Σ) / s`, once, in `f64` (so a norm above `f32::MAX` is still returned finite).
///
/// Cost: two reads, one compare, one multiply and one multiply-add per element, plus a handful
/// of `f64` operations per call.
///
/// # Accuracy
/// The scaling is exact; the sum of squares is accumulated in `S` (for `f32`: in `f32`, left to
/// right), so its relative error is at most about `n·2⁻²⁴` for `n` elements in the worst case
/// (typically `√n·2⁻²⁴`), like any `f32` reduction.
///
/// # Errors
/// [`TrainError::NonFiniteGradient`] if an element is NaN or infinite; its index counts across
/// the slices laid end to end.
pub fn grad_norm_parts<S: Scalar>(grads: &[&[S]]) -> Result<f64, TrainError> {
    global_norm(|| grads.iter().copied())
}

/// Clips `grads` in place to global L2 norm at most `max_norm`: torch's
/// `clip_grad_norm_(params, max_norm, norm_type=2, error_if_nonfinite=True)` over one slice.
///
/// Returns the norm *before* clipping. See [`clip_grad_norm_parts`] for the exact rule.
///
/// ```
/// use edgetune::train::clip_grad_norm;
/// let mut g = [3.0f32, 4.0]; // norm 5
/// let norm = clip_grad_norm(&mut g, 1.0).unwrap();
/// assert_eq!(norm, 5.0);
/// assert!((g[0] - 0.6).abs() < 1e-6 && (g[1] - 0.8).abs() < 1e-6);
/// ```
///
/// # Errors
/// As [`clip_grad_norm_parts`]; on error nothing was changed.
pub fn clip_grad_norm<S: Scalar>(grads: &mut [S], max_norm: f64) -> Result<f64, TrainError> {
    clip_grad_norm_parts(&mut [grads], max_norm)
}

/// Clips several gradient slices together to global L2 norm at most `max_norm`: torch's
/// `clip_grad_norm_(params, max_norm, norm_type=2, error_if_nonfinite=True)`.
///
/// With `norm` the global norm ([`grad_norm_parts`]) and `coef = max_norm / (norm + 1e-6)`,
/// every element is multiplied by `coef` when `coef < 1`, and left alone otherwise. That is
/// torch's multiplication by `clamp(coef, max=1)` (multiplying by 1 changes no float), so an
/// element is scaled exactly when `norm > max_norm − 1e-6`: for `norm ≤ max_norm` by less
/// than `1e-6` torch (and this function) still scales by a factor just below 1. `coef` is
/// computed in `f64` and rounded once to `S` (torch computes it in the gradients' dtype).
///
/// Returns the norm before clipping, like torch.
///
/// # Errors
/// Nothing is changed on any error:
/// - [`TrainError::InvalidHyperparameter`] unless `max_norm` is finite and `>= 0` (torch takes
///   any float; a negative `max_norm` would flip the gradients' sign);
/// - [`TrainError::NonFiniteGradient`] if an element is NaN or infinite (torch's
///   `error_if_nonfinite=True`).
pub fn clip_grad_norm_parts<S: Scalar>(
    grads: &mut [&mut [S]],
    max_norm: f64,
) -> Result<f64, TrainError> {
    check::non_negative("max_norm", max_norm)?;
    let norm = global_norm(|| grads.iter().map(|g| &**g))?;
    let coef = max_norm / (norm + NORM_EPS);
    if coef < 1.0 {
        let c = S::from_f64(coef);
        for part in grads.iter_mut() {
            for g in part.iter_mut() {
                *g = g.mul(c);
            }
        }
    }
    Ok(norm)
}

/// Clamps every element of `grads` to `[−clip_value, clip_value]`: torch's `clip_grad_value_`
/// over one slice. Returns how many elements were changed.
///
/// ```
/// use edgetune::train::clip_grad_value;
/// let mut g = [3.0f32, -0.5, -4.0];
/// assert_eq!(clip_grad_value(&mut g, 1.0), Ok(2));
/// assert_eq!(g, [1.0, -0.5, -1.0]);
/// ```
///
/// # Errors
/// As [`clip_grad_value_parts`]; on error nothing was changed.
pub fn clip_grad_value<S: Scalar>(grads: &mut [S], clip_value: f64) -> Result<usize, TrainError> {
    clip_grad_value_parts(&mut [grads], clip_value)
}

/// Clamps every element of several gradient slices to `[−clip_value, clip_value]`: torch's
/// `clip_grad_value_`. `clip_value` is rounded once to `S`. Returns how many elements were
/// changed.
///
/// # Errors
/// Nothing is changed on any error:
/// - [`TrainError::InvalidHyperparameter`] unless `clip_value` is finite and `>= 0`;
/// - [`TrainError::NonFiniteGradient`] if an element is NaN or infinite. This is a deliberate
///   difference from torch, which clamps `±inf` to `±clip_value` and passes NaN through: a
///   non-finite gradient means the step has already gone wrong, and every optimizer in this
///   crate rejects it anyway.
pub fn clip_grad_value_parts<S: Scalar>(
    grads: &mut [&mut [S]],
    clip_value: f64,
) -> Result<usize, TrainError> {
    check::non_negative("clip_value", clip_value)?;
    check_finite(grads.iter().map(|g| &**g))?;
    let hi = S::from_f64(clip_value);
    let lo = S::from_f64(-clip_value);
    let mut changed = 0;
    for part in grads.iter_mut() {
        for g in part.iter_mut() {
            if *g > hi {
                *g = hi;
                changed += 1;
            } else if *g < lo {
                *g = lo;
                changed += 1;
            }
        }
    }
    Ok(changed)
}

/// Fails with the index of the first non-finite element, counted across the slices.
fn check_finite<'a, S: Scalar + 'a>(
    parts: impl Iterator<Item = &'a [S]>,
) -> Result<(), TrainError> {
    let mut base = 0usize;
    for part in parts {
        if let Some(i) = part.iter().position(|g| !g.is_usable_gradient()) {
            return Err(TrainError::NonFiniteGradient { index: base + i });
        }
        base += part.len();
    }
    Ok(())
}

/// `|x|` with the trait's operations (`-0.0` and `0.0` both give themselves, which compare equal).
#[inline(always)]
fn abs<S: Scalar>(x: S) -> S {
    if x < S::ZERO {
        S::ZERO.sub(x)
    } else {
        x
    }
}

/// The scaled two-pass L2 norm described on [`grad_norm_parts`]. `parts` is called once per
/// pass.
fn global_norm<'a, S: Scalar + 'a, I: Iterator<Item = &'a [S]>>(
    parts: impl Fn() -> I,
) -> Result<f64, TrainError> {
    // Pass 1: finiteness and the largest magnitude.
    let mut base = 0usize;
    let mut amax = S::ZERO;
    for part in parts() {
        for (i, &g) in part.iter().enumerate() {
            if !g.is_usable_gradient() {
                return Err(TrainError::NonFiniteGradient { index: base + i });
            }
            let a = abs(g);
            if a > amax {
                amax = a;
            }
        }
        base += part.len();
    }
    let amax = amax.to_f64();
    if amax == 0.0 {
        return Ok(0.0);
    }
    // Power-of-two scale 2^k with amax·2^k in [1/2, 1), moved towards 2^0 until S holds it
    // exactly (f32 cannot hold 2^k for k > 127; a fixed-point type holds few negative k).
    let (_, e) = libm::frexp(amax);
    let mut k = -e;
    let mut scale = libm::ldexp(1.0, k);
    while k != 0 && !(scale.is_finite() && S::from_f64(scale).to_f64() == scale) {
        k -= k.signum();
        scale = libm::ldexp(1.0, k);
    }
    let s = S::from_f64(scale);
    // Pass 2: the sum of squares of the scaled elements, each term at most 1.
    let mut acc = S::ZERO.widen();
    for part in parts() {
        for &g in part {
            let y = g.mul(s);
            acc = S::mul_acc(acc, y, y);
        }
    }
    let ssq = S::narrow(acc).to_f64();
    Ok(libm::sqrt(ssq) / scale)
}
