//! [`GradAccumulator`]: mean-reduced mini-batch gradients in the gradient arena itself.

use super::TrainError;
use crate::nn::Scalar;

/// Counts the samples whose gradients were summed into a gradient arena, and turns the sum into
/// the mean at the end of the mini-batch: torch's `reduction="mean"` over the batch, with no
/// buffer beyond the arena.
///
/// The layer backward passes in [`nn`](crate::nn) *add* into their gradients, so a mini-batch is
/// summed by running backward once per sample; [`finish`](GradAccumulator::finish) then scales
/// the arena by `1/count` in place, ready for the optimizer. 4 bytes (one `u32`).
///
/// ```
/// use edgetune::train::GradAccumulator;
/// let mut grads = [0.0f32; 2];
/// let mut acc = GradAccumulator::new();
/// for g in [[1.0f32, 2.0], [3.0, 6.0]] {
///     grads[0] += g[0]; // stands for a backward pass
///     grads[1] += g[1];
///     acc.add_sample().unwrap();
/// }
/// assert_eq!(acc.finish(&mut grads), Ok(2));
/// assert_eq!(grads, [2.0, 4.0]); // the mean; now call the optimizer
/// acc.reset(&mut grads); // zero the arena for the next batch
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GradAccumulator {
    count: u32,
}

impl GradAccumulator {
    /// No sample counted yet.
    pub const fn new() -> Self {
        GradAccumulator { count: 0 }
    }

    /// The samples counted since the last [`finish`](GradAccumulator::finish) or
    /// [`reset`](GradAccumulator::reset).
    pub const fn count(&self) -> u32 {
        self.count
    }

    /// Counts one sample (call once per backward pass into the arena). Returns the new count.
    ///
    /// # Errors
    /// [`TrainError::CounterOverflow`] if the count is already `u32::MAX`; it is unchanged.
    pub fn add_sample(&mut self) -> Result<u32, TrainError> {
        self.add_samples(1)
    }

    /// Counts `n` samples at once (for a backward pass over a batch that sums `n` samples).
    ///
    /// # Errors
    /// [`TrainError::CounterOverflow`] if the count would pass `u32::MAX`; it is unchanged.
    pub fn add_samples(&mut self, n: u32) -> Result<u32, TrainError> {
        self.count = self
            .count
            .checked_add(n)
            .ok_or(TrainError::CounterOverflow)?;
        Ok(self.count)
    }

    /// Divides the summed gradients by the count (the mean), resets the count to 0 and returns
    /// the count the mean was taken over.
    ///
    /// Each element is multiplied by `1/count`, computed in `f64` and rounded once to `S` (one
    /// multiply per element, no division): for floats the result is `g/count` with two roundings,
    /// a relative error of at most `2·2⁻²⁴` for `f32` (within 1.5 ulp), and exact when the count
    /// is a power of two. A count of 1 leaves the arena untouched.
    ///
    /// # Errors
    /// [`TrainError::NothingAccumulated`] if the count is 0; nothing is changed.
    pub fn finish<S: Scalar>(&mut self, grads: &mut [S]) -> Result<u32, TrainError> {
        self.finish_parts(&mut [grads])
    }

    /// [`finish`](GradAccumulator::finish) over several gradient slices (for example one per
    /// layer).
    ///
    /// # Errors
    /// [`TrainError::NothingAccumulated`] if the count is 0; nothing is changed.
    pub fn finish_parts<S: Scalar>(&mut self, grads: &mut [&mut [S]]) -> Result<u32, TrainError> {
        let count = self.count;
        if count == 0 {
            return Err(TrainError::NothingAccumulated);
        }
        if count > 1 {
            let scale = S::from_f64(1.0 / f64::from(count));
            for part in grads.iter_mut() {
                for g in part.iter_mut() {
                    *g = g.mul(scale);
                }
            }
        }
        self.count = 0;
        Ok(count)
    }

    /// Zeroes the arena and the count, to start a mini-batch.
    pub fn reset<S: Scalar>(&mut self, grads: &mut [S]) {
        crate::nn::kernel::zero(grads);
        self.count = 0;
    }
}
