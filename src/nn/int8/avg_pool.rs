//! int8 `AVERAGE_POOL_2D`: TFLite's `reference_integer_ops::AveragePool`.
//!
//! Each output is the sum of the window's **in-bounds** inputs (padding taps are not counted)
//! divided by their count `n`, rounded to nearest with ties away from zero (`(sum ± n/2) / n`,
//! truncating), then clamped to the fused activation's range. The output has the input's scale
//! and zero point (TFLite requires it), so there is no requantisation. Geometry: a
//! [`Pool2dShape`] (use [`Pool2dShape::same`] for TF `SAME`); layouts `[in_h][in_w][c]` →
//! `[out_h][out_w][c]`.
//!
//! # Errors
//! [`NnError::InvalidShape`](crate::nn::NnError::InvalidShape) if `!shape.valid()`,
//! [`NnError::InvalidQuantization`](crate::nn::NnError::InvalidQuantization) if
//! `act.0 > act.1`, [`Error::LengthMismatch`] (order `x`, `y`); nothing is written.

use super::fixed_point::invalid;
use crate::nn::shape::{check_len, check_shape, tap};
use crate::nn::Pool2dShape;
use crate::Error;

/// The forward pass with the clamp `act = (min, max)` ([`activation_range`](super::activation_range)).
///
/// ```
/// use edgetune::nn::int8::avg_pool;
/// use edgetune::nn::Pool2dShape;
/// // 1 × 3 × 1, window 2, stride 2, SAME: the second window holds one input.
/// let s = Pool2dShape::new(1, 3, 1, 1, 2).same();
/// let mut y = [0i8; 2];
/// avg_pool::forward(&s, (-128, 127), &[-3, -2, 7], &mut y)?;
/// assert_eq!(y, [-3, 7]); // −2.5 rounds away from zero; 7 / 1
/// # Ok::<(), edgetune::Error>(())
/// ```
///
/// # Errors
/// See the module docs.
pub fn forward(shape: &Pool2dShape, act: (i8, i8), x: &[i8], y: &mut [i8]) -> Result<(), Error> {
    check_shape(shape.valid())?;
    if act.0 > act.1 {
        return Err(invalid());
    }
    check_len(shape.input_len(), x.len())?;
    check_len(shape.output_len(), y.len())?;
    pool(
        shape,
        x,
        y,
        (0i32, 0i32),
        |(sum, n), v| (sum + v as i32, n + 1),
        |(sum, n)| {
            // A valid shape has at least one in-bounds input per window.
            let n = n.max(1);
            let avg = if sum > 0 {
                (sum + n / 2) / n
            } else {
                (sum - n / 2) / n
            };
            avg.clamp(act.0 as i32, act.1 as i32) as i8
        },
    );
    Ok(())
}

/// For each output (channels innermost): folds the in-bounds inputs of its window with `step`
/// from `init`, and writes `finish` of the result. The shape and lengths must be checked.
pub(crate) fn pool<A: Copy>(
    s: &Pool2dShape,
    x: &[i8],
    y: &mut [i8],
    init: A,
    step: impl Fn(A, i8) -> A,
    finish: impl Fn(A) -> i8,
) {
    let (oh, ow) = (s.out_h(), s.out_w());
    let mut out = y.iter_mut();
    for oy in 0..oh {
        for ox in 0..ow {
            for c in 0..s.c {
                let Some(yo) = out.next() else { return };
                let mut acc = init;
                for ky in 0..s.kh {
                    let Some(iy) = tap(oy, s.stride_h, ky, s.pad_h.before, s.in_h) else {
                        continue;
                    };
                    for kx in 0..s.kw {
                        let Some(ix) = tap(ox, s.stride_w, kx, s.pad_w.before, s.in_w) else {
                            continue;
                        };
                        acc = step(acc, x[(iy * s.in_w + ix) * s.c + c]);
                    }
                }
                *yo = finish(acc);
            }
        }
    }
}
