//! [`NnError`]: what layer math can reject.

use core::fmt;

/// A caller value the layer math cannot use. Whenever one is returned, no output was written.
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NnError {
    /// A class label is not below the number of classes.
    LabelOutOfRange {
        /// The label given.
        label: usize,
        /// The number of classes (valid labels are `0..classes`).
        classes: usize,
    },
    /// A LeakyReLU slope is negative or not finite (see [`LeakyRelu`](crate::nn::LeakyRelu)).
    InvalidSlope,
    /// A layer shape is not valid (see
    /// [`Conv2dShape::valid`](crate::nn::Conv2dShape::valid) and the pooling shapes): a zero size,
    /// a kernel larger than the padded input, groups that do not divide the channels, or a size
    /// that overflows.
    InvalidShape,
    /// An int8 quantisation parameter is unusable (see [`nn::int8`](crate::nn::int8)): a scale
    /// that is zero, negative or not finite, a zero point outside `-128..=127`, a negative
    /// multiplier, a shift outside `-31..=31`, or an activation range with `min > max`.
    InvalidQuantization,
    /// A layer of an int8 [`Backbone`](crate::nn::int8::Backbone) does not fit: an invalid
    /// shape or quantisation, a filter or bias of the wrong length, an input length or zero
    /// point that is not what the layer before produces, or (for the last layer) an output
    /// zero point other than the declared output's.
    BackboneLayer {
        /// The layer's position in the backbone.
        index: usize,
    },
}

impl fmt::Display for NnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            NnError::LabelOutOfRange { label, classes } => {
                write!(
                    f,
                    "class label {label} is out of range for {classes} classes"
                )
            }
            NnError::InvalidSlope => f.write_str("LeakyReLU slope must be finite and non-negative"),
            NnError::InvalidShape => f.write_str("invalid layer shape"),
            NnError::InvalidQuantization => f.write_str("invalid int8 quantisation parameter"),
            NnError::BackboneLayer { index } => {
                write!(
                    f,
                    "int8 backbone layer {index} does not fit its neighbours or constants"
                )
            }
        }
    }
}

impl core::error::Error for NnError {}
