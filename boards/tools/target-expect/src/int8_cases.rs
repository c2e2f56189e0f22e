//! The int8 on-target cases: a converted TFLite model as a table of layers ([`Int8Layer`], with
//! the model's own constants and scales), run through edgetune's int8 kernels one layer at a
//! time. Shared by the host generator (`src/bin/int8_expect.rs`, which writes the tables and
//! TFLite's outputs to `boards/common-data/int8_expect.rs` after checking that the host's
//! kernels reproduce them) and the firmware (`int8_tests.rs`). `no_std`, no allocation: the
//! requantisation multipliers are computed into fixed arrays from the scales on the device
//! (TFLite's `QuantizeMultiplier` in `f64`, soft-float on the M0).
#![allow(dead_code)]

use edgetune::nn::int8::{
    activation_range, avg_pool, conv2d, depthwise, from_scales_into, fully_connected, max_pool,
    ConvShape, DenseShape, FusedActivation, OutputStage, QuantParams, Requant,
};
use edgetune::nn::{Conv2dShape, Pool2dShape};
use edgetune::Error;

/// Most output channels of a layer in the case tables.
pub const MAX_CHANNELS: usize = 32;

/// The operator of a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `CONV_2D`.
    Conv,
    /// `DEPTHWISE_CONV_2D`.
    Depthwise,
    /// `FULLY_CONNECTED`.
    Dense,
    /// `AVERAGE_POOL_2D`.
    AvgPool,
    /// `MAX_POOL_2D`.
    MaxPool,
    /// `RESHAPE` (a no-op on NHWC data).
    Reshape,
}

/// One TFLite operator with its constants: everything edgetune needs to run it.
#[derive(Clone, Copy, Debug)]
pub struct Int8Layer {
    pub kind: Kind,
    /// Input `[h, w, c]` (a dense layer: `[1, 1, inputs]`).
    pub input: [usize; 3],
    /// Output `[h, w, c]`.
    pub output: [usize; 3],
    /// Kernel or pool window `[h, w]`.
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// `SAME` padding (else `VALID`).
    pub same: bool,
    /// 0 `NONE`, 1 `RELU`, 3 `RELU6` (TFLite's codes).
    pub activation: u8,
    /// Filter in TFLite's layout (empty for pools).
    pub filter: &'static [i8],
    /// Bias (empty: none).
    pub bias: &'static [i32],
    pub input_scale: f32,
    pub input_zero_point: i32,
    /// Per output channel, or one (per tensor).
    pub filter_scales: &'static [f32],
    pub output_scale: f32,
    pub output_zero_point: i32,
}

impl Int8Layer {
    pub fn input_len(&self) -> usize {
        self.input[0] * self.input[1] * self.input[2]
    }
    pub fn output_len(&self) -> usize {
        self.output[0] * self.output[1] * self.output[2]
    }
    /// Multiply-accumulates of one forward pass (padding taps included).
    pub fn macs(&self) -> usize {
        match self.kind {
            Kind::Conv => self.conv_shape().macs(),
            Kind::Depthwise => self.conv_shape().macs(),
            Kind::Dense => self.input_len() * self.output[2],
            _ => 0,
        }
    }
    fn conv_shape(&self) -> ConvShape {
        let [in_h, in_w, in_c] = self.input;
        let out_c = self.output[2];
        let groups = match self.kind {
            Kind::Depthwise => in_c,
            // Filter [out_c][kh][kw][in_c / groups].
            _ => in_c * self.kernel[0] * self.kernel[1] * out_c / self.filter.len().max(1),
        };
        let s = ConvShape::new(
            Conv2dShape::new(in_h, in_w, in_c, out_c, self.kernel[0], self.kernel[1])
                .stride(self.stride[0], self.stride[1])
                .groups(groups),
        )
        .dilation(self.dilation[0], self.dilation[1]);
        if self.same {
            s.same()
        } else {
            s
        }
    }
    fn pool_shape(&self) -> Pool2dShape {
        let [in_h, in_w, c] = self.input;
        let s = Pool2dShape::new(in_h, in_w, c, self.kernel[0], self.kernel[1])
            .stride(self.stride[0], self.stride[1]);
        if self.same {
            s.same()
        } else {
            s
        }
    }
    fn activation(&self) -> FusedActivation {
        match self.activation {
            1 => FusedActivation::Relu,
            3 => FusedActivation::Relu6,
            _ => FusedActivation::None,
        }
    }
}

/// A layer made ready to run: its requantisation computed from the scales.
pub struct Prepared {
    pub layer: Int8Layer,
    multiplier: [i32; MAX_CHANNELS],
    shift: [i32; MAX_CHANNELS],
    act: (i8, i8),
}

impl Prepared {
    /// Computes the multipliers and shifts (`from_scales_into`) and the clamp.
    pub fn new(layer: &Int8Layer) -> Result<Prepared, Error> {
        let out = QuantParams::new(layer.output_scale, layer.output_zero_point)?;
        let mut p = Prepared {
            layer: *layer,
            multiplier: [0; MAX_CHANNELS],
            shift: [0; MAX_CHANNELS],
            act: activation_range(layer.activation(), &out)?,
        };
        let n = layer.filter_scales.len();
        if n > 0 {
            let (m, s) = (
                p.multiplier.get_mut(..n).ok_or(Error::LengthMismatch {
                    expected: MAX_CHANNELS,
                    found: n,
                })?,
                &mut p.shift[..n],
            );
            from_scales_into(
                layer.input_scale,
                layer.filter_scales,
                layer.output_scale,
                m,
                s,
            )?;
        }
        Ok(p)
    }

    fn stage(&self) -> Result<OutputStage<'_>, Error> {
        let n = self.layer.filter_scales.len();
        Ok(OutputStage {
            input_zero_point: self.layer.input_zero_point,
            requant: Requant::new(&self.multiplier[..n], &self.shift[..n])?,
            output_zero_point: self.layer.output_zero_point,
            act_min: self.act.0,
            act_max: self.act.1,
        })
    }

    /// Runs the layer: `y` (`output_len`) from `x` (`input_len`).
    pub fn run(&self, x: &[i8], y: &mut [i8]) -> Result<(), Error> {
        let l = &self.layer;
        let bias = if l.bias.is_empty() {
            None
        } else {
            Some(l.bias)
        };
        match l.kind {
            Kind::Conv => conv2d::forward(&l.conv_shape(), &self.stage()?, l.filter, bias, x, y),
            Kind::Depthwise => {
                depthwise::forward(&l.conv_shape(), &self.stage()?, l.filter, bias, x, y)
            }
            Kind::Dense => fully_connected::forward(
                &DenseShape::new(l.input_len(), l.output[2]),
                &self.stage()?,
                l.filter,
                bias,
                x,
                y,
            ),
            Kind::AvgPool => avg_pool::forward(&l.pool_shape(), self.act, x, y),
            Kind::MaxPool => max_pool::forward(&l.pool_shape(), self.act, x, y),
            Kind::Reshape => {
                if x.len() != y.len() {
                    return Err(Error::LengthMismatch {
                        expected: y.len(),
                        found: x.len(),
                    });
                }
                y.copy_from_slice(x);
                Ok(())
            }
        }
    }
}
