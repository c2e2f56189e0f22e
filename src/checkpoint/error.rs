//! [`CheckpointError`]: why a checkpoint could not be saved or restored.

use core::fmt;
use embedded_storage::nor_flash::NorFlashErrorKind;

/// Which part of a checkpoint a shape or type mismatch is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Part {
    /// The parameter arena.
    Params,
    /// The optimizer.
    Optimizer,
    /// The training position ([`Progress`](super::Progress)).
    Progress,
}

/// Why a checkpoint could not be saved or restored, as a value.
///
/// A failed [`restore`](super::Store::restore) has written nothing to its destinations (see the
/// module docs for the one exception, a flash read that fails after validation). A failed
/// [`save`](super::Store::save) has left the newest valid checkpoint in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The flash driver reported an error.
    Flash(NorFlashErrorKind),
    /// The store's geometry does not fit the flash (alignment, capacity, or a write/read size
    /// that does not divide the 128-byte transfer buffer).
    Geometry {
        /// What is wrong.
        reason: &'static str,
    },
    /// The checkpoint does not fit in one slot.
    TooLarge {
        /// Bytes one slot would need (record, CRC, alignment padding).
        needed: usize,
        /// Bytes in one slot.
        slot: usize,
    },
    /// Neither slot holds anything that looks like a checkpoint (no magic).
    NoCheckpoint,
    /// The newest candidate's header describes a record longer than its slot, or is malformed
    /// (header length, part count or a reserved word). No slot holds a valid checkpoint.
    BadHeader,
    /// A slot has the magic but its CRC-32 does not match (a torn write or corruption), and no
    /// slot holds a valid checkpoint.
    BadCrc {
        /// The CRC stored in the slot.
        stored: u32,
        /// The CRC of the record as read.
        computed: u32,
    },
    /// The newest valid checkpoint has a format version this code does not read.
    UnsupportedVersion {
        /// The version in the checkpoint.
        found: u32,
    },
    /// The checkpoint was saved with a different number type.
    WrongNumberType {
        /// Which part.
        part: Part,
        /// The destination's number-type code.
        expected: u32,
        /// The code in the checkpoint.
        found: u32,
    },
    /// The checkpoint holds a different kind of state (another optimizer, or other variant flags
    /// such as AMSGrad or centered RMSprop).
    WrongKind {
        /// Which part.
        part: Part,
        /// The destination's kind code and flags (`kind | flags << 8`).
        expected: u32,
        /// The code in the checkpoint.
        found: u32,
    },
    /// The checkpoint has a different element count or payload length.
    WrongShape {
        /// Which part.
        part: Part,
        /// The destination's element count (or payload words).
        expected: u32,
        /// The count in the checkpoint.
        found: u32,
    },
    /// The stored optimizer configuration is invalid (the optimizer's own check, as in
    /// [`Optimizer::set_config`](crate::optim::Optimizer::set_config)).
    InvalidConfig {
        /// The hyperparameter's name, as torch spells it.
        name: &'static str,
        /// What a valid value looks like.
        requirement: &'static str,
    },
    /// A stored value is not one the destination can hold (an invalid hyperparameter, an unknown
    /// flag bit, a non-canonical state encoding).
    InvalidValue {
        /// What was invalid.
        what: &'static str,
    },
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CheckpointError::Flash(kind) => write!(f, "flash error: {kind}"),
            CheckpointError::Geometry { reason } => {
                write!(f, "checkpoint store geometry: {reason}")
            }
            CheckpointError::TooLarge { needed, slot } => {
                write!(f, "checkpoint needs {needed} bytes, a slot has {slot}")
            }
            CheckpointError::NoCheckpoint => f.write_str("no checkpoint in either slot"),
            CheckpointError::BadHeader => f.write_str("checkpoint header is malformed"),
            CheckpointError::BadCrc { stored, computed } => write!(
                f,
                "checkpoint CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ),
            CheckpointError::UnsupportedVersion { found } => {
                write!(f, "unsupported checkpoint format version {found}")
            }
            CheckpointError::WrongNumberType {
                part,
                expected,
                found,
            } => write!(
                f,
                "{part:?}: number type {found:#x} in the checkpoint, {expected:#x} expected"
            ),
            CheckpointError::WrongKind {
                part,
                expected,
                found,
            } => write!(
                f,
                "{part:?}: kind {found:#x} in the checkpoint, {expected:#x} expected"
            ),
            CheckpointError::WrongShape {
                part,
                expected,
                found,
            } => write!(
                f,
                "{part:?}: {found} elements in the checkpoint, {expected} expected"
            ),
            CheckpointError::InvalidConfig { name, requirement } => write!(
                f,
                "stored configuration: hyperparameter `{name}` must be {requirement}"
            ),
            CheckpointError::InvalidValue { what } => write!(f, "invalid stored value: {what}"),
        }
    }
}

impl core::error::Error for CheckpointError {}

/// Written out by variant: the flash driver's `NorFlashErrorKind` has no `defmt::Format`, and
/// going through `Display` would link `core::fmt` into every firmware that logs an error.
#[cfg(feature = "defmt")]
impl defmt::Format for CheckpointError {
    fn format(&self, f: defmt::Formatter<'_>) {
        use defmt::write;
        match *self {
            CheckpointError::Flash(kind) => {
                let kind = match kind {
                    NorFlashErrorKind::NotAligned => "not aligned",
                    NorFlashErrorKind::OutOfBounds => "out of bounds",
                    _ => "other",
                };
                write!(f, "flash error: {=str}", kind)
            }
            CheckpointError::Geometry { reason } => write!(f, "geometry: {=str}", reason),
            CheckpointError::TooLarge { needed, slot } => {
                write!(f, "checkpoint needs {} bytes, slot has {}", needed, slot)
            }
            CheckpointError::NoCheckpoint => write!(f, "no checkpoint"),
            CheckpointError::BadHeader => write!(f, "bad header"),
            CheckpointError::BadCrc { stored, computed } => {
                write!(
                    f,
                    "bad CRC: stored {=u32:#x}, computed {=u32:#x}",
                    stored, computed
                )
            }
            CheckpointError::UnsupportedVersion { found } => {
                write!(f, "unsupported version {}", found)
            }
            CheckpointError::WrongNumberType {
                part,
                expected,
                found,
            } => write!(f, "{}: number type {}, expected {}", part, found, expected),
            CheckpointError::WrongKind {
                part,
                expected,
                found,
            } => write!(f, "{}: kind {:#x}, expected {:#x}", part, found, expected),
            CheckpointError::WrongShape {
                part,
                expected,
                found,
            } => write!(f, "{}: {} elements, expected {}", part, found, expected),
            CheckpointError::InvalidConfig { name, requirement } => write!(
                f,
                "stored configuration: `{=str}` must be {=str}",
                name, requirement
            ),
            CheckpointError::InvalidValue { what } => write!(f, "invalid value: {=str}", what),
        }
    }
}
