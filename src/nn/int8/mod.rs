//! int8 layers for a frozen backbone, bit-exact to TensorFlow Lite's reference kernels.
//!
//! Forward only: these run the part of a network that stays as converted on the host (a
//! full-integer TFLite model), and [`dequantize`] hands its output to a trainable head in `f32`
//! or fixed point. `tests/int8_tflite.rs` checks every layer of two converted CNNs (and a variant whose
//! fused clamps bind) bit for bit
//! against the TFLite interpreter's `BUILTIN_REF` kernels (TensorFlow 2.21), both layer by layer
//! and as a whole chain (`scripts/tflite_golden.py` makes the files).
//!
//! # Quantisation scheme (TFLite's int8)
//! - Activations: int8 with a scale and a zero point per tensor ([`QuantParams`]),
//!   `real = scale · (q − zero_point)`.
//! - Weights: int8, symmetric (zero point 0), per output channel (conv, depthwise, and dense
//!   as TF 2.21 converts it) or per tensor (dense with the converter's per-channel option off).
//! - Bias: `i32` with scale `input_scale · filter_scale[o]` and zero point 0; accumulation in
//!   `i32`.
//! - Requantisation: a fixed-point multiplier and shift per output channel ([`Requantizer`],
//!   computed by TFLite's `QuantizeMultiplier` in [`Requantizer::from_scales`]), applied by
//!   [`multiply_by_quantized_multiplier`] in TFLite's default **double-rounding** form
//!   (`SaturatingRoundingDoublingHighMul` then `RoundingDivideByPOT`), which is what the Python
//!   interpreter runs; the `TFLITE_SINGLE_ROUNDING` form is
//!   [`multiply_by_quantized_multiplier_single_rounding`], not used by the kernels.
//! - Fused activations (`NONE`, `RELU`, `RELU6`, `RELU_N1_TO_1`) are clamps whose bounds
//!   [`activation_range`] computes from the output's scale and zero point, as TFLite does.
//!
//! # Operators and layouts
//! TFLite's own layouts, so a model's constants copy straight in; one sample (`N = 1`).
//!
//! | TFLite operator | function | geometry | filter layout |
//! |---|---|---|---|
//! | `CONV_2D` (stride, `SAME`/`VALID`, dilation, groups) | [`conv2d::forward`] | [`ConvShape`] | `[out_c][kh][kw][in_c/groups]` (OHWI) |
//! | `CONV_2D` at height 1 (Keras `Conv1D`) | [`conv2d::forward`] | [`ConvShape::from_1d`] | `[out_c][1][k][in_c]` |
//! | `DEPTHWISE_CONV_2D` (depth multiplier) | [`depthwise::forward`] | [`ConvShape`], `groups = in_c` | `[1][kh][kw][in_c·mult]` |
//! | `FULLY_CONNECTED` (per tensor, per channel) | [`fully_connected::forward`] | [`DenseShape`] | `[outputs][inputs]` |
//! | `AVERAGE_POOL_2D` | [`avg_pool::forward`] | [`Pool2dShape`](crate::nn::Pool2dShape) | – |
//! | `MAX_POOL_2D` | [`max_pool::forward`] | [`Pool2dShape`](crate::nn::Pool2dShape) | – |
//! | `RESHAPE` (flatten) | nothing: NHWC is already flat | – | – |
//! | `QUANTIZE` / `DEQUANTIZE` (graph edges) | [`quantize`] / [`dequantize`] | – | – |
//!
//! Maps are NHWC without the batch: `[h][w][c]`. `SAME` padding is TF's
//! ([`Padding::same`](crate::nn::Padding::same): the odd element after), computed over the
//! dilated kernel span for convolutions ([`ConvShape::same`]); a padding tap reads real 0 (the
//! zero point) in a convolution and is skipped by the pools (an average counts in-bounds inputs
//! only).
//!
//! ```
//! use edgetune::nn::int8::{activation_range, conv2d, dequantize, ConvShape, FusedActivation,
//!     OutputStage, QuantParams, Requantizer};
//! use edgetune::nn::Conv2dShape;
//! // A 3-tap 1-D conv, 4 steps × 2 channels → 2 steps × 2 channels, ReLU.
//! const S: ConvShape = ConvShape::new(Conv2dShape::new(1, 4, 2, 2, 1, 3));
//! let (x_q, y_q) = (QuantParams::new(0.1, -5)?, QuantParams::new(0.2, -128)?);
//! let requant = Requantizer::<2>::from_scales(x_q.scale, &[0.01, 0.02], y_q.scale)?;
//! let act = activation_range(FusedActivation::Relu, &y_q)?;
//! let stage = OutputStage::new(&x_q, requant.view(), &y_q, act);
//! let filter = [10i8; S.weights()];
//! let x = [20i8; S.input_len()];
//! let mut y = [0i8; S.output_len()];
//! conv2d::forward(&S, &stage, &filter, Some(&[0, 0]), &x, &mut y)?;
//! let mut head_input = [0.0f32; S.output_len()];
//! dequantize(&y_q, &y, &mut head_input)?; // to the trainable head
//! assert!(head_input.iter().all(|&v| v >= 0.0));
//! # Ok::<(), edgetune::Error>(())
//! ```
//!
//! # Errors and panics
//! Every function checks its shape ([`NnError::InvalidShape`](crate::nn::NnError::InvalidShape)),
//! quantisation parameters
//! ([`NnError::InvalidQuantization`](crate::nn::NnError::InvalidQuantization)) and slice lengths
//! ([`Error::LengthMismatch`](crate::Error::LengthMismatch)) before writing anything; on an error
//! nothing is written. No function panics, allocates or uses scratch memory.
//!
//! # Memory and cost
//! A [`Requantizer<C>`] is `8·C` bytes; the kernels keep one `i32` accumulator. Cost: one
//! multiply-add per [`ConvShape::macs`] (or `inputs·outputs`) plus one requantisation per
//! output. On a Cortex-M the inner loop is an 8-bit load pair, a subtract (the input offset)
//! and a 32-bit multiply-accumulate (`ldrsb`, `ldrsb`, `sub`, `mla` on a Cortex-M4F: LLVM does
//! not form the DSP extension's `smlad`, which needs the int8 pairs widened by `sxtb16` first,
//! out of reach of safe stable Rust; the opt-in feature `arm-dsp` does it in inline assembly for
//! the dense and conv dot products, the same bits). The boards' bench firmware measures it per MAC: 4.58
//! (dense), 8.91 (conv) and 14.64 (depthwise) instructions per MAC on a Cortex-M4F, 7.21,
//! 14.46 and 23.92 on a Cortex-M0 (`README.md`, "int8 backbones").

pub mod avg_pool;
mod backbone;
pub mod conv2d;
pub mod depthwise;
mod fixed_point;
pub mod fully_connected;
mod layer;
pub mod max_pool;
mod quant;
mod requant;
mod shape;

pub use backbone::Backbone;
pub use fixed_point::{
    multiply_by_quantized_multiplier, multiply_by_quantized_multiplier_single_rounding,
    quantize_multiplier, rounding_divide_by_pot, saturating_rounding_doubling_high_mul,
};
pub use fully_connected::DenseShape;
pub use layer::{Int8Conv, Int8Dense, Int8Layer, Int8Pool};
pub use quant::{activation_range, dequantize, quantize, FusedActivation, QuantParams};
pub use requant::{from_scales_into, OutputStage, Requant, Requantizer};
pub use shape::ConvShape;
