//! The one error type of [`crate::io`].

use core::fmt;

use super::weights::NumberType;

/// Why a file could not be read, as a value. A failed load writes nothing to its destination.
///
/// The variants are listed in the order parsing checks them (see [`crate::io`]).
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadError {
    /// The first four bytes are not this file type's magic.
    BadMagic {
        /// The four bytes found.
        found: [u8; 4],
    },
    /// The file is shorter than its header says (or than a header).
    Truncated {
        /// The length the header describes, in bytes (`usize::MAX` if it overflows `usize`).
        needed: usize,
        /// The length of the slice given.
        found: usize,
    },
    /// The format version is not one this reader knows.
    UnsupportedVersion {
        /// The version in the file.
        found: u16,
    },
    /// The file is longer than its header says.
    TrailingBytes {
        /// The length the header describes, in bytes.
        expected: usize,
        /// The length of the slice given.
        found: usize,
    },
    /// The CRC-32 at the end does not match the bytes before it: the file is damaged.
    CrcMismatch {
        /// The CRC stored in the file.
        stored: u32,
        /// The CRC of the bytes as read.
        computed: u32,
    },
    /// A reserved field is not zero (a file from a later version, or a bad writer).
    ReservedNotZero {
        /// Byte offset of the field in the file.
        offset: usize,
    },
    /// The number-type code of a weight file is not one in [`NumberType`].
    UnknownNumberType {
        /// The code in the file.
        code: u8,
    },
    /// The weights are stored as a different number type from the one asked for.
    WrongNumberType {
        /// The number type the caller asked for.
        expected: NumberType,
        /// The number type in the file.
        found: NumberType,
    },
    /// A layer's kind code is not one this version knows (`1` = dense).
    UnknownLayerKind {
        /// Index of the layer, from 0.
        layer: usize,
        /// The kind code in the file.
        kind: u16,
    },
    /// The file has a different number of layers from the caller's model.
    LayerCountMismatch {
        /// The number of layers the caller expects.
        expected: usize,
        /// The number of layers in the file.
        found: usize,
    },
    /// A layer's shape differs from the caller's model. Shapes are `(inputs, outputs)`.
    ShapeMismatch {
        /// Index of the first mismatched layer, from 0.
        layer: usize,
        /// The shape the caller expects.
        expected: (usize, usize),
        /// The shape in the file (saturated at `usize::MAX` on targets with a narrow `usize`).
        found: (usize, usize),
    },
    /// The header's payload length disagrees with the layer shapes.
    PayloadLengthMismatch {
        /// The payload length the shapes imply, in bytes.
        expected: usize,
        /// The payload length in the header, in bytes.
        found: usize,
    },
    /// The destination slice has a different length from the file's element count.
    DestinationLength {
        /// The number of elements in the file.
        expected: usize,
        /// The length of the destination.
        found: usize,
    },
    /// A record of a data file holds a value its format forbids (for the examples' digits set: a
    /// pixel above 16 or a label above 9).
    InvalidSample {
        /// Index of the first bad sample, from 0.
        index: usize,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LoadError::BadMagic { found } => write!(f, "bad magic {found:02x?}"),
            LoadError::Truncated { needed, found } => {
                write!(f, "truncated: {found} bytes, need {needed}")
            }
            LoadError::UnsupportedVersion { found } => {
                write!(f, "unsupported format version {found}")
            }
            LoadError::TrailingBytes { expected, found } => {
                write!(f, "trailing bytes: {found} bytes, expected {expected}")
            }
            LoadError::CrcMismatch { stored, computed } => write!(
                f,
                "CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ),
            LoadError::ReservedNotZero { offset } => {
                write!(f, "reserved field at byte {offset} is not zero")
            }
            LoadError::UnknownNumberType { code } => write!(f, "unknown number type {code}"),
            LoadError::WrongNumberType { expected, found } => {
                write!(f, "weights are {found:?}, expected {expected:?}")
            }
            LoadError::UnknownLayerKind { layer, kind } => {
                write!(f, "layer {layer} has unknown kind {kind}")
            }
            LoadError::LayerCountMismatch { expected, found } => {
                write!(f, "file has {found} layers, expected {expected}")
            }
            LoadError::ShapeMismatch {
                layer,
                expected,
                found,
            } => write!(
                f,
                "layer {layer} is {}x{} (in x out), expected {}x{}",
                found.0, found.1, expected.0, expected.1
            ),
            LoadError::PayloadLengthMismatch { expected, found } => {
                write!(f, "payload is {found} bytes, the shapes need {expected}")
            }
            LoadError::DestinationLength { expected, found } => write!(
                f,
                "destination holds {found} elements, the file has {expected}"
            ),
            LoadError::InvalidSample { index } => {
                write!(f, "sample {index} holds a value outside its format's range")
            }
        }
    }
}

impl core::error::Error for LoadError {}
