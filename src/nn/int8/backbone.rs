//! [`Backbone`]: a frozen int8 network (a sequence of [`Int8Layer`]s with their constants) run
//! in two ping-pong buffers, checked once when it is built.

use super::layer::Int8Layer;
use super::quant::{dequantize, quantize, QuantParams};
use crate::nn::{NnError, Scalar};
use crate::Error;

/// The frozen int8 part of a network: its input quantisation, its layers in order and the
/// quantisation of its output, checked to fit together when built, so a `const` backbone that
/// does not fit is a compile error.
///
/// It runs in two caller buffers of [`buffer_len`](Backbone::buffer_len) bytes each (int8
/// activations at one byte per value): layer `k` reads one and writes the other. The constants
/// stay where the [`Int8Layer`]s point (a `const` or `static`: flash), so the backbone itself
/// costs no RAM beyond the two buffers. [`run_real`](Backbone::run_real) hands its output to a
/// trainable head.
///
/// ```
/// use edgetune::nn::int8::{Backbone, ConvShape, DenseShape, Int8Conv, Int8Dense, Int8Layer,
///     OutputStage, QuantParams, Requant};
/// use edgetune::nn::Conv2dShape;
/// const X: QuantParams = QuantParams { scale: 0.1, zero_point: 0 };
/// const Y: QuantParams = QuantParams { scale: 0.2, zero_point: -128 };
/// const HALF: Requant = Requant::from_slices(&[1 << 30], &[0]); // × 0.5
/// const LAYERS: [Int8Layer; 2] = [
///     // 1-D conv: 4 steps × 1 channel → 2 steps × 2 channels, ReLU.
///     Int8Layer::Conv(Int8Conv {
///         shape: ConvShape::new(Conv2dShape::new(1, 4, 1, 2, 1, 3)),
///         filter: &[1, 2, 1, -1, 0, 1],
///         bias: None,
///         stage: OutputStage { input_zero_point: 0, requant: HALF, output_zero_point: -128,
///                              act_min: -128, act_max: 127 },
///     }),
///     Int8Layer::Dense(Int8Dense {
///         shape: DenseShape::new(4, 2),
///         filter: &[1, 0, 0, 0, 0, 0, 0, 1],
///         bias: Some(&[0, 0]),
///         stage: OutputStage { input_zero_point: -128, requant: HALF, output_zero_point: -128,
///                              act_min: -128, act_max: 127 },
///     }),
/// ];
/// const NET: Backbone = match Backbone::new(X, &LAYERS, Y) {
///     Ok(b) => b,
///     Err(_) => panic!("the layers do not fit"),
/// };
/// assert_eq!((NET.input_len(), NET.output_len(), NET.buffer_len()), (4, 2, 4));
/// let (mut a, mut b) = ([0i8; NET.buffer_len()], [0i8; NET.buffer_len()]);
/// let mut features = [0.0f32; 2];
/// NET.run_real(&[1.0f32, 2.0, 3.0, 4.0], &mut a, &mut b, &mut features)?;
/// // conv: (10·1 + 20·2 + 30·1) · 0.5 = 40 → −88, …; dense picks 40 and 10, · 0.5 → 20, 5
/// assert_eq!(features, [4.0, 1.0]); // 0.2 · 20, 0.2 · 5
/// # Ok::<(), edgetune::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backbone<'a> {
    input: QuantParams,
    layers: &'a [Int8Layer<'a>],
    output: QuantParams,
    input_len: usize,
    output_len: usize,
    buffer_len: usize,
}

impl<'a> Backbone<'a> {
    /// Checks that the layers fit together and builds the backbone: each layer's shape,
    /// constants (filter and bias lengths) and quantisation valid; each layer's input length the
    /// output length of the one before; each layer's input zero point the zero point of what it
    /// receives (`input`'s for the first, the previous convolution's or dense layer's output
    /// zero point after that; a pool keeps its input's); `output`'s zero point that of the last
    /// layer's output.
    ///
    /// # Errors
    /// [`NnError::InvalidQuantization`] if `input` or `output` is invalid;
    /// [`NnError::BackboneLayer`] with the index of the first layer that does not fit (0 for an
    /// empty list; the last layer's index if `output` is not what it produces).
    pub const fn new(
        input: QuantParams,
        layers: &'a [Int8Layer<'a>],
        output: QuantParams,
    ) -> Result<Self, Error> {
        if !input.valid() || !output.valid() {
            return Err(Error::Nn(NnError::InvalidQuantization));
        }
        if layers.is_empty() {
            return Err(Error::Nn(NnError::BackboneLayer { index: 0 }));
        }
        let input_len = layers[0].input_len();
        let (mut len, mut zero_point, mut buffer_len) = (input_len, input.zero_point, input_len);
        let mut k = 0;
        while k < layers.len() {
            let layer = &layers[k];
            let (zin, zout) = layer.zero_points();
            let zin_fits = match zin {
                Some(z) => z == zero_point,
                None => true,
            };
            if !layer.valid() || layer.input_len() != len || !zin_fits {
                return Err(Error::Nn(NnError::BackboneLayer { index: k }));
            }
            if let Some(z) = zout {
                zero_point = z;
            }
            len = layer.output_len();
            if len > buffer_len {
                buffer_len = len;
            }
            k += 1;
        }
        if output.zero_point != zero_point {
            return Err(Error::Nn(NnError::BackboneLayer {
                index: layers.len() - 1,
            }));
        }
        Ok(Backbone {
            input,
            layers,
            output,
            input_len,
            output_len: len,
            buffer_len,
        })
    }

    /// Input elements (int8 after [`quantize`], or real values for
    /// [`run_real`](Backbone::run_real)).
    pub const fn input_len(&self) -> usize {
        self.input_len
    }

    /// Output elements: the features a trainable head receives.
    pub const fn output_len(&self) -> usize {
        self.output_len
    }

    /// Bytes of each of the two buffers the backbone runs in: its widest activation (the input
    /// included), one byte per value.
    pub const fn buffer_len(&self) -> usize {
        self.buffer_len
    }

    /// The layers.
    pub const fn layers(&self) -> &'a [Int8Layer<'a>] {
        self.layers
    }

    /// The input's quantisation.
    pub const fn input_quant(&self) -> QuantParams {
        self.input
    }

    /// The output's quantisation (what [`dequantize`] uses at the boundary).
    pub const fn output_quant(&self) -> QuantParams {
        self.output
    }

    /// Multiply-accumulates of one forward pass.
    pub const fn macs(&self) -> usize {
        let (mut k, mut macs) = (0, 0usize);
        while k < self.layers.len() {
            macs = macs.saturating_add(self.layers[k].macs());
            k += 1;
        }
        macs
    }

    /// Bytes of every layer's constants (filters, biases, requantisation): flash when they are
    /// `const` or `static`.
    pub const fn constant_bytes(&self) -> usize {
        let (mut k, mut bytes) = (0, 0usize);
        while k < self.layers.len() {
            bytes = bytes.saturating_add(self.layers[k].constant_bytes());
            k += 1;
        }
        bytes
    }

    /// Runs the layers on the int8 input `x` with `a` and `b` as the ping-pong buffers (at
    /// least [`buffer_len`](Backbone::buffer_len) each) and returns the int8 output, which lies
    /// in one of them.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `x` is not [`input_len`](Backbone::input_len) long or a
    /// buffer is shorter than [`buffer_len`](Backbone::buffer_len) (`expected` is the length
    /// needed); the buffers are then untouched.
    pub fn run<'b>(&self, x: &[i8], a: &'b mut [i8], b: &'b mut [i8]) -> Result<&'b [i8], Error> {
        self.check_buffers(x.len(), a, b)?;
        a[..self.input_len].copy_from_slice(x);
        self.run_from_a(a, b)
    }

    /// [`quantize`] `x` (real values in any [`Scalar`]) with the input's quantisation, run the
    /// layers, and [`dequantize`] the output into `features` in the head's number type: the
    /// whole boundary, forward only.
    ///
    /// # Errors
    /// As [`run`](Backbone::run) (`features` must be [`output_len`](Backbone::output_len)
    /// long), [`Error::InvalidInput`] for an unusable input value, and
    /// [`Error::NotRepresentable`] if a feature lies outside `S`'s range (fixed point). On an
    /// error `features` is untouched (the buffers may have been written).
    pub fn run_real<S: Scalar>(
        &self,
        x: &[S],
        a: &mut [i8],
        b: &mut [i8],
        features: &mut [S],
    ) -> Result<(), Error> {
        self.check_buffers(x.len(), a, b)?;
        crate::nn::shape::check_len(self.output_len, features.len())?;
        quantize(&self.input, x, &mut a[..self.input_len])?;
        let y = self.run_from_a(a, b)?;
        dequantize(&self.output, y, features)
    }

    fn check_buffers(&self, x_len: usize, a: &[i8], b: &[i8]) -> Result<(), Error> {
        crate::nn::shape::check_len(self.input_len, x_len)?;
        for buffer in [a, b] {
            if buffer.len() < self.buffer_len {
                return Err(Error::LengthMismatch {
                    expected: self.buffer_len,
                    found: buffer.len(),
                });
            }
        }
        Ok(())
    }

    /// The layers from the input in `a[..input_len]`; the buffers are checked.
    fn run_from_a<'b>(&self, a: &'b mut [i8], b: &'b mut [i8]) -> Result<&'b [i8], Error> {
        let (mut src, mut dst) = (a, b);
        let mut len = self.input_len;
        for layer in self.layers {
            let out = layer.output_len();
            layer.forward(&src[..len], &mut dst[..out])?;
            core::mem::swap(&mut src, &mut dst);
            len = out;
        }
        Ok(&src[..len])
    }
}
