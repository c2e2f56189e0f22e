//! int8 `FULLY_CONNECTED`: TFLite's `reference_integer_ops::FullyConnected` (per-tensor weights)
//! and `FullyConnectedPerChannel` (per-output-channel weights); which one is decided by the
//! requantiser's length (1 or `outputs`).
//!
//! `acc[o] = bias[o] + Σ_i filter[o][i] · (x[i] − input_zp)`, then the [`OutputStage`]. The
//! filter is TFLite's `[outputs][inputs]` (row per output), weights symmetric (zero point 0, as
//! TFLite's int8 scheme requires), bias `i32` `[outputs]`. One sample (`N = 1`): a flattened
//! NHWC map is already the input row, so TFLite's `RESHAPE` before a dense layer is a no-op.
//!
//! # Errors
//! [`NnError::InvalidShape`](crate::nn::NnError::InvalidShape) for a zero size or one whose
//! filter size overflows; [`NnError::InvalidQuantization`](crate::nn::NnError::InvalidQuantization)
//! for an unusable stage; [`Error::LengthMismatch`] for a slice of the wrong length (order:
//! shape, stage, filter, bias, `x`, `y`); nothing is written.

use super::conv2d::dot;
use super::requant::OutputStage;
use crate::nn::shape::{check_len, check_shape};
use crate::Error;

/// The sizes of a fully connected layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DenseShape {
    /// Input features.
    pub inputs: usize,
    /// Output features.
    pub outputs: usize,
}

impl DenseShape {
    /// `inputs → outputs`.
    pub const fn new(inputs: usize, outputs: usize) -> Self {
        DenseShape { inputs, outputs }
    }

    /// Nonzero sizes whose product fits `usize`.
    pub const fn valid(&self) -> bool {
        self.inputs > 0 && self.outputs > 0 && self.inputs.checked_mul(self.outputs).is_some()
    }

    /// Filter elements, `inputs·outputs` (saturating); also the multiply-accumulates.
    pub const fn weights(&self) -> usize {
        self.inputs.saturating_mul(self.outputs)
    }
}

/// The forward pass: writes `y` (`outputs`) from `x` (`inputs`), `filter` (`outputs·inputs`)
/// and `bias` (`outputs`, or `None`).
///
/// ```
/// use edgetune::nn::int8::{fully_connected, DenseShape, OutputStage, Requant};
/// let (m, sh) = ([1 << 30, 1 << 30], [0, -1]); // per channel: 0.5 and 0.25
/// let stage = OutputStage { input_zero_point: 0, requant: Requant::new(&m, &sh)?,
///                           output_zero_point: 0, act_min: 0, act_max: 127 }; // ReLU
/// let mut y = [0i8; 2];
/// fully_connected::forward(&DenseShape::new(2, 2), &stage, &[1, 2, -3, -4], Some(&[0, 0]), &[10, 20], &mut y)?;
/// assert_eq!(y, [25, 0]); // 50 · 0.5; −110 · 0.25 clamped by the ReLU
/// # Ok::<(), edgetune::Error>(())
/// ```
///
/// # Errors
/// See the module docs.
pub fn forward(
    shape: &DenseShape,
    stage: &OutputStage<'_>,
    filter: &[i8],
    bias: Option<&[i32]>,
    x: &[i8],
    y: &mut [i8],
) -> Result<(), Error> {
    check_shape(shape.valid())?;
    stage.check_for(shape.outputs)?;
    check_len(shape.weights(), filter.len())?;
    if let Some(b) = bias {
        check_len(shape.outputs, b.len())?;
    }
    check_len(shape.inputs, x.len())?;
    check_len(shape.outputs, y.len())?;
    let offset = -stage.input_zero_point;
    for (o, (yo, row)) in y
        .iter_mut()
        .zip(filter.chunks_exact(shape.inputs))
        .enumerate()
    {
        let mut acc = dot(x, row, offset);
        if let Some(b) = bias {
            acc = acc.wrapping_add(b[o]);
        }
        *yo = stage.finish(acc, o);
    }
    Ok(())
}
