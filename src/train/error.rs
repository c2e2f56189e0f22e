//! [`TrainError`]: what the training utilities can reject.

use core::fmt;

/// A value the training utilities cannot use. Whenever one is returned, nothing was changed: no
/// gradient scaled, no counter advanced, no optimizer touched.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrainError {
    /// A gradient element is NaN or infinite.
    NonFiniteGradient {
        /// Index of the first offending element, counted across all the slices passed, laid end
        /// to end.
        index: usize,
    },
    /// A hyperparameter (of a clipping call or a schedule) is outside its valid range.
    InvalidHyperparameter {
        /// The hyperparameter's name, as torch spells it (`max_norm`, `gamma`, `T_max`, ...).
        name: &'static str,
        /// What a valid value looks like.
        requirement: &'static str,
    },
    /// A counter (a scheduler's epoch, an accumulator's sample count) would pass `u32::MAX`.
    CounterOverflow,
    /// A mini-batch asked for more distinct samples than the buffer holds.
    BatchTooLarge {
        /// The batch size asked for.
        requested: usize,
        /// The number of samples in the buffer.
        available: usize,
    },
    /// [`GradAccumulator::finish`](crate::train::GradAccumulator::finish) with no sample added:
    /// the mean of nothing is undefined.
    NothingAccumulated,
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TrainError::NonFiniteGradient { index } => {
                write!(f, "gradient element {index} is NaN or infinite")
            }
            TrainError::InvalidHyperparameter { name, requirement } => {
                write!(f, "invalid hyperparameter `{name}`: must be {requirement}")
            }
            TrainError::CounterOverflow => f.write_str("a counter would overflow u32"),
            TrainError::BatchTooLarge {
                requested,
                available,
            } => write!(
                f,
                "a batch of {requested} distinct samples asked of a buffer holding {available}"
            ),
            TrainError::NothingAccumulated => {
                f.write_str("no sample was accumulated: the mean is undefined")
            }
        }
    }
}

impl core::error::Error for TrainError {}

/// The shared hyperparameter checks ([`crate::check`]), reporting a [`TrainError`].
pub(crate) mod check {
    use super::TrainError;
    use crate::check::{self as shared, Invalid};

    /// The failure as a [`TrainError`].
    const fn train(r: Result<(), Invalid>) -> Result<(), TrainError> {
        match r {
            Ok(()) => Ok(()),
            Err(Invalid { name, requirement }) => {
                Err(TrainError::InvalidHyperparameter { name, requirement })
            }
        }
    }

    /// `x` finite and `>= 0`.
    pub(crate) const fn non_negative(name: &'static str, x: f64) -> Result<(), TrainError> {
        train(shared::non_negative(name, x))
    }

    /// `x` finite and `> 0`.
    pub(crate) const fn positive(name: &'static str, x: f64) -> Result<(), TrainError> {
        train(shared::positive(name, x))
    }

    /// `n >= 1`.
    pub(crate) const fn at_least_one(name: &'static str, n: u32) -> Result<(), TrainError> {
        train(shared::at_least_one(name, n))
    }

    /// A condition that must hold, with the error to report otherwise.
    pub(crate) const fn require(
        ok: bool,
        name: &'static str,
        requirement: &'static str,
    ) -> Result<(), TrainError> {
        train(shared::require(ok, name, requirement))
    }
}
