//! The crate's error type: every fallible public function returns [`Error`] or a module error
//! that converts into it with `?`.

use core::fmt;

use crate::checkpoint::CheckpointError;
use crate::io::LoadError;
use crate::nn::NnError;
use crate::train::TrainError;

/// Why a value could not be used: what a NaN, an infinity or an out-of-range number is, in any
/// number type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ValueFault {
    /// NaN or ±∞.
    NotFinite,
    /// Finite, but outside the range the number type holds (fixed point), or one that would
    /// overflow to infinity (`f32`).
    OutOfRange,
}

impl fmt::Display for ValueFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueFault::NotFinite => "NaN or infinite",
            ValueFault::OutOfRange => "outside the number type's range",
        })
    }
}

/// Everything that can go wrong in edgetune, as a value.
///
/// The optimizers return the first seven kinds directly; the layers, the training helpers, the
/// checkpoints and the weight loader have errors of their own ([`NnError`], [`TrainError`],
/// [`CheckpointError`], [`LoadError`]) that convert into this type, so `?` works across all of
/// them in a function returning `Result<_, edgetune::Error>`.
///
/// No public function panics on caller data; each failure is one of these variants, and a failed
/// step leaves parameters and optimizer state bit-for-bit as they were.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// A gradient element is NaN or infinite (in fixed point: saturated). Nothing was changed.
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
    /// A slice had a different length from the one the type was built for.
    LengthMismatch {
        /// The length the type was built for.
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
    /// The step would take a value out of its number type's range although every input is inside
    /// it: a fixed-point momentum buffer beyond the format's range (the buffer tends to
    /// `g/(1 − μ)`, up to 100·|g| at μ = 0.99), or a floating-point parameter or state value that
    /// would overflow to infinity (or become NaN: RMSprop with `alpha > 1`, whose `v` can go
    /// negative under its square root). Nothing was changed: parameters, optimizer state and the
    /// step counter are as they were. A smaller learning rate or momentum, or a wider format,
    /// avoids it.
    StepOverflow {
        /// Index in the parameter arena of the first element that would leave the range.
        index: usize,
    },
    /// A fused training step (each layer stepped as soon as its gradient is complete) met a
    /// non-finite gradient: that layer and every layer below it are unchanged, the `layers`
    /// layers above it have been stepped, and the optimizer's step counter has advanced.
    FusedStepStopped {
        /// Layers with trainable parameters already stepped (from the last layer down).
        layers: usize,
        /// Index in the trainable arena of the first unusable gradient.
        index: usize,
    },
    /// A value cannot be converted into the number type (a checked conversion such as
    /// `try_from_f64`).
    NotRepresentable {
        /// NaN/infinite, or out of range.
        fault: ValueFault,
    },
    /// An input element given to training or inference cannot be used. Nothing was changed.
    InvalidInput {
        /// Index of the first offending element of the input.
        index: usize,
        /// What is wrong with it.
        fault: ValueFault,
    },
    /// A regression target element cannot be used. Nothing was changed.
    InvalidTarget {
        /// Index of the first offending element of the target.
        index: usize,
        /// What is wrong with it.
        fault: ValueFault,
    },
    /// A layer or loss refused its arguments.
    Nn(NnError),
    /// A training helper (clipping, schedule, buffer, accumulation, guard) refused.
    Train(TrainError),
    /// A checkpoint could not be written or read.
    Checkpoint(CheckpointError),
    /// A weight or data file could not be loaded.
    Load(LoadError),
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
            Error::StepOverflow { index } => write!(
                f,
                "the step would take element {index} (or its optimizer state) out of the number type's range"
            ),
            Error::FusedStepStopped { layers, index } => write!(
                f,
                "fused step stopped at a non-finite gradient (trainable element {index}) after stepping {layers} layers"
            ),
            Error::NotRepresentable { fault } => {
                write!(f, "value not representable: {fault}")
            }
            Error::InvalidInput { index, fault } => write!(f, "input element {index} is {fault}"),
            Error::InvalidTarget { index, fault } => {
                write!(f, "target element {index} is {fault}")
            }
            Error::Nn(e) => write!(f, "layer: {e}"),
            Error::Train(e) => write!(f, "training: {e}"),
            Error::Checkpoint(e) => write!(f, "checkpoint: {e}"),
            Error::Load(e) => write!(f, "load: {e}"),
        }
    }
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Error::Nn(e) => Some(e),
            Error::Train(e) => Some(e),
            Error::Checkpoint(e) => Some(e),
            Error::Load(e) => Some(e),
            _ => None,
        }
    }
}

impl From<NnError> for Error {
    fn from(e: NnError) -> Self {
        Error::Nn(e)
    }
}

impl From<TrainError> for Error {
    fn from(e: TrainError) -> Self {
        Error::Train(e)
    }
}

impl From<CheckpointError> for Error {
    fn from(e: CheckpointError) -> Self {
        Error::Checkpoint(e)
    }
}

impl From<LoadError> for Error {
    fn from(e: LoadError) -> Self {
        Error::Load(e)
    }
}
