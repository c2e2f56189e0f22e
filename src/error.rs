//! The crate's one error type.

use core::fmt;

/// Everything that can go wrong in edgetune, as a value.
///
/// No public function panics on caller data; each failure is one of these variants, and a failed
/// optimizer step leaves parameters and optimizer state bit-for-bit as they were.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// A gradient element is NaN or infinite. Nothing was changed.
    NonFiniteGradient {
        /// Index of the first offending element in the parameter arena.
        index: usize,
    },
    /// A hyperparameter is outside the range the optimizer accepts.
    InvalidHyperparameter {
        /// The hyperparameter's name, as torch spells it (`lr`, `betas`, `eps`, ...).
        name: &'static str,
        /// What a valid value looks like.
        requirement: &'static str,
    },
    /// A slice had a different length from the optimizer's `N`.
    LengthMismatch {
        /// The length the optimizer was built for.
        expected: usize,
        /// The length it was given.
        found: usize,
    },
    /// A parameter group's range lies outside the parameter arena, or is reversed.
    GroupOutOfBounds {
        /// Index of the group in the slice passed to the step.
        group: usize,
    },
    /// Two parameter groups share an element, which would step it twice.
    GroupsOverlap {
        /// Index of the first group of the overlapping pair.
        first: usize,
        /// Index of the second group of the overlapping pair.
        second: usize,
    },
    /// The step counter would pass `u32::MAX`. Nothing was changed; call `reset` to start over.
    StepCountOverflow,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::NonFiniteGradient { index } => {
                write!(f, "gradient element {index} is NaN or infinite")
            }
            Error::InvalidHyperparameter { name, requirement } => {
                write!(f, "invalid hyperparameter `{name}`: must be {requirement}")
            }
            Error::LengthMismatch { expected, found } => {
                write!(
                    f,
                    "length mismatch: expected {expected} elements, found {found}"
                )
            }
            Error::GroupOutOfBounds { group } => {
                write!(
                    f,
                    "parameter group {group} lies outside the parameter arena"
                )
            }
            Error::GroupsOverlap { first, second } => {
                write!(f, "parameter groups {first} and {second} overlap")
            }
            Error::StepCountOverflow => f.write_str("the step counter would overflow u32"),
        }
    }
}

impl core::error::Error for Error {}
