//! int8 `MAX_POOL_2D`: TFLite's `reference_integer_ops::MaxPool`.
//!
//! Each output is the largest **in-bounds** input of its window (padding is never a candidate),
//! clamped to the fused activation's range; same scale and zero point as the input. Geometry
//! and layouts as [`avg_pool`](super::avg_pool).
//!
//! # Errors
//! As [`avg_pool`](super::avg_pool); nothing is written.

use super::avg_pool::pool;
use super::fixed_point::invalid;
use crate::nn::shape::{check_len, check_shape};
use crate::nn::Pool2dShape;
use crate::Error;

/// The forward pass with the clamp `act = (min, max)`.
///
/// ```
/// use edgetune::nn::int8::max_pool;
/// use edgetune::nn::Pool2dShape;
/// let s = Pool2dShape::new(1, 4, 1, 1, 2); // window 2, stride 2
/// let mut y = [0i8; 2];
/// max_pool::forward(&s, (-128, 127), &[-5, -7, 3, 9], &mut y)?;
/// assert_eq!(y, [-5, 9]);
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
        i8::MIN,
        |m, v| m.max(v),
        |m| m.clamp(act.0, act.1),
    );
    Ok(())
}
