//! Windows of accelerometer readings and the features the network sees.
//!
//! A window is [`WINDOW`] consecutive readings (0.64 s at 50 Hz). Its features, per axis, in
//! this order: the mean (which way gravity points: the board's orientation) and the mean
//! absolute deviation from that mean (how much it moves). Both are computed exactly in integer
//! milli-g; only the six results are converted to the network's number type, in g.
//!
//! The mean absolute deviation rather than the standard deviation: no square root, and the same
//! units as the mean.

use edgetune::num::Scalar;

use crate::lis3dh::Accel;

/// Readings per window.
pub const WINDOW: usize = 32;
/// Features per window: mean x, y, z, then mean absolute deviation x, y, z.
pub const FEATURES: usize = 6;

/// The features of one window, in milli-g.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Features {
    /// Per-axis mean (x, y, z), rounded toward zero.
    pub mean_mg: [i32; 3],
    /// Per-axis mean absolute deviation from the exact mean, rounded toward zero.
    pub mad_mg: [i32; 3],
}

impl Features {
    /// The features of a window. Exact: sums of at most 32 values of magnitude < 2^15 fit in
    /// `i32`, and deviations are taken from the exact mean (in units of 1/`WINDOW` mg).
    pub fn of(window: &[Accel; WINDOW]) -> Self {
        let n = WINDOW as i32;
        let axis = |a: &Accel, k: usize| -> i32 {
            i32::from(match k {
                0 => a.x,
                1 => a.y,
                _ => a.z,
            })
        };
        let mut mean_mg = [0i32; 3];
        let mut mad_mg = [0i32; 3];
        for k in 0..3 {
            let sum: i32 = window.iter().map(|a| axis(a, k)).sum();
            // Σ|n·x − sum| / n² = Σ|x − mean| / n, in integers.
            let dev: i32 = window.iter().map(|a| (n * axis(a, k) - sum).abs()).sum();
            mean_mg[k] = sum / n;
            mad_mg[k] = dev / (n * n);
        }
        Features { mean_mg, mad_mg }
    }

    /// The network's input: the six values in g (mean x, y, z, deviation x, y, z).
    pub fn input<S: Scalar>(&self) -> [S; FEATURES] {
        let g = |mg: i32| S::from_f64(f64::from(mg) / 1000.0);
        [
            g(self.mean_mg[0]),
            g(self.mean_mg[1]),
            g(self.mean_mg[2]),
            g(self.mad_mg[0]),
            g(self.mad_mg[1]),
            g(self.mad_mg[2]),
        ]
    }
}
