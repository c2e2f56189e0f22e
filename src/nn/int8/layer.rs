//! [`Int8Layer`]: one layer of a frozen int8 backbone together with its constants, in a form a
//! `const` (and so flash) can hold, for [`Backbone`](super::Backbone) to run in order.

use super::fully_connected::DenseShape;
use super::requant::OutputStage;
use super::shape::ConvShape;
use crate::nn::Pool2dShape;
use crate::Error;

/// A convolution (`CONV_2D`, or `DEPTHWISE_CONV_2D` in [`Int8Layer::Depthwise`]) with its
/// constants in TFLite's layouts (see the [module docs](super)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Int8Conv<'a> {
    /// Geometry (stride, padding, dilation, groups).
    pub shape: ConvShape,
    /// `shape.weights()` filter values.
    pub filter: &'a [i8],
    /// One `i32` per output channel, or none.
    pub bias: Option<&'a [i32]>,
    /// Input zero point, requantisation, output zero point and fused clamp.
    pub stage: OutputStage<'a>,
}

/// A `FULLY_CONNECTED` layer with its constants (`[outputs][inputs]` filter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Int8Dense<'a> {
    /// Inputs and outputs.
    pub shape: DenseShape,
    /// `inputs · outputs` filter values.
    pub filter: &'a [i8],
    /// One `i32` per output, or none.
    pub bias: Option<&'a [i32]>,
    /// Input zero point, requantisation, output zero point and fused clamp.
    pub stage: OutputStage<'a>,
}

/// A pooling layer: the output keeps the input's scale and zero point (TFLite requires it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Int8Pool {
    /// Geometry.
    pub shape: Pool2dShape,
    /// The fused activation's clamp `(min, max)`
    /// ([`activation_range`](super::activation_range)).
    pub act: (i8, i8),
}

/// One layer of an int8 backbone. `RESHAPE` (flatten) needs no layer: NHWC data is already flat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Int8Layer<'a> {
    /// `CONV_2D` (also a 1-D convolution at height 1, and grouped convolutions).
    Conv(Int8Conv<'a>),
    /// `DEPTHWISE_CONV_2D`: `shape.conv.groups == in_c`, `out_c = in_c · multiplier`.
    Depthwise(Int8Conv<'a>),
    /// `FULLY_CONNECTED`.
    Dense(Int8Dense<'a>),
    /// `AVERAGE_POOL_2D`.
    AvgPool(Int8Pool),
    /// `MAX_POOL_2D`.
    MaxPool(Int8Pool),
}

impl Int8Layer<'_> {
    /// Input elements.
    pub const fn input_len(&self) -> usize {
        match self {
            Int8Layer::Conv(c) | Int8Layer::Depthwise(c) => c.shape.input_len(),
            Int8Layer::Dense(d) => d.shape.inputs,
            Int8Layer::AvgPool(p) | Int8Layer::MaxPool(p) => p.shape.input_len(),
        }
    }

    /// Output elements.
    pub const fn output_len(&self) -> usize {
        match self {
            Int8Layer::Conv(c) | Int8Layer::Depthwise(c) => c.shape.output_len(),
            Int8Layer::Dense(d) => d.shape.outputs,
            Int8Layer::AvgPool(p) | Int8Layer::MaxPool(p) => p.shape.output_len(),
        }
    }

    /// Multiply-accumulates of one forward pass (0 for a pool).
    pub const fn macs(&self) -> usize {
        match self {
            Int8Layer::Conv(c) | Int8Layer::Depthwise(c) => c.shape.macs(),
            Int8Layer::Dense(d) => d.shape.weights(),
            Int8Layer::AvgPool(_) | Int8Layer::MaxPool(_) => 0,
        }
    }

    /// Bytes of the layer's constants: filter, bias and requantisation (where a `const` or
    /// `static` puts them: flash on a microcontroller).
    pub const fn constant_bytes(&self) -> usize {
        let (filter, bias, stage) = match self {
            Int8Layer::Conv(c) | Int8Layer::Depthwise(c) => (c.filter.len(), c.bias, &c.stage),
            Int8Layer::Dense(d) => (d.filter.len(), d.bias, &d.stage),
            Int8Layer::AvgPool(_) | Int8Layer::MaxPool(_) => return 0,
        };
        let bias = match bias {
            Some(b) => b.len() * 4,
            None => 0,
        };
        filter + bias + stage.requant.len() * 8
    }

    /// The zero points of the input and of the output (a pool's output keeps its input's,
    /// so it has no input zero point of its own: `None`).
    pub(crate) const fn zero_points(&self) -> (Option<i32>, Option<i32>) {
        match self {
            Int8Layer::Conv(c) | Int8Layer::Depthwise(c) => (
                Some(c.stage.input_zero_point),
                Some(c.stage.output_zero_point),
            ),
            Int8Layer::Dense(d) => (
                Some(d.stage.input_zero_point),
                Some(d.stage.output_zero_point),
            ),
            Int8Layer::AvgPool(_) | Int8Layer::MaxPool(_) => (None, None),
        }
    }

    /// `true` if the shape, the constants' lengths and the quantisation are usable: what the
    /// kernel checks on every call, done once.
    pub(crate) const fn valid(&self) -> bool {
        match self {
            Int8Layer::Conv(c) => conv_valid(c, false),
            Int8Layer::Depthwise(c) => conv_valid(c, true),
            Int8Layer::Dense(d) => {
                d.shape.valid()
                    && d.filter.len() == d.shape.weights()
                    && bias_valid(d.bias, d.shape.outputs)
                    && d.stage.valid_for(d.shape.outputs)
            }
            Int8Layer::AvgPool(p) | Int8Layer::MaxPool(p) => p.shape.valid() && p.act.0 <= p.act.1,
        }
    }

    /// Runs the layer's kernel from `x` into `y` (lengths as declared).
    pub(crate) fn forward(&self, x: &[i8], y: &mut [i8]) -> Result<(), Error> {
        match self {
            Int8Layer::Conv(c) => {
                super::conv2d::forward(&c.shape, &c.stage, c.filter, c.bias, x, y)
            }
            Int8Layer::Depthwise(c) => {
                super::depthwise::forward(&c.shape, &c.stage, c.filter, c.bias, x, y)
            }
            Int8Layer::Dense(d) => {
                super::fully_connected::forward(&d.shape, &d.stage, d.filter, d.bias, x, y)
            }
            Int8Layer::AvgPool(p) => super::avg_pool::forward(&p.shape, p.act, x, y),
            Int8Layer::MaxPool(p) => super::max_pool::forward(&p.shape, p.act, x, y),
        }
    }
}

const fn conv_valid(c: &Int8Conv<'_>, depthwise: bool) -> bool {
    let s = &c.shape.conv;
    c.shape.valid()
        && (!depthwise || s.groups == s.in_c)
        && c.filter.len() == c.shape.weights()
        && bias_valid(c.bias, s.out_c)
        && c.stage.valid_for(s.out_c)
}

const fn bias_valid(bias: Option<&[i32]>, outputs: usize) -> bool {
    match bias {
        Some(b) => b.len() == outputs,
        None => true,
    }
}
