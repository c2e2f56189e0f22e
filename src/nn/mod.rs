//! Layer math with backward passes: dense, convolution and pooling layers, batch normalisation,
//! activations, losses.
//!
//! Everything here is a plain function: nothing is allocated and nothing panics on any input.
//! Dense layers and activations take arrays whose shapes are const generics (a mismatch is a
//! compile error); convolutions and pools take a `Copy` shape descriptor and flat slices, checked
//! at entry (a mismatch is an [`Error`](crate::Error) and nothing is written; see [`shape`]).
//!
//! | item | forward | backward needs | file |
//! |---|---|---|---|
//! | [`dense`] (`y = W x + b`) | [`dense::forward`] | input `x` | `dense.rs` |
//! | [`conv2d`] (stride, padding, groups, depthwise) | [`conv2d::forward`] | input `x` | `conv2d.rs` |
//! | [`conv1d`] (the same at height 1) | [`conv1d::forward`] | input `x` | `conv1d.rs` |
//! | [`pointwise`] (1 × 1 convolution) | [`pointwise::forward`] | input `x` | `pointwise.rs` |
//! | [`max_pool`] (2-D and 1-D) | [`max_pool::forward`] | input `x` | `max_pool.rs` |
//! | [`avg_pool`] (2-D and 1-D) | [`avg_pool::forward`] | nothing (`dy` only) | `avg_pool.rs` |
//! | [`global_avg_pool`] | [`global_avg_pool::forward`] | nothing | `global_avg_pool.rs` |
//! | [`flatten`](flatten::flatten) | a no-op on the layout | nothing | `flatten.rs` |
//! | [`scale_shift`] (per-channel affine; BN in eval mode) | [`scale_shift::forward`] | input `x` | `scale_shift.rs` |
//! | BN folding [`bn_fold`], statistics re-estimation [`bn_stats`] | once, not per sample | – | `bn_fold.rs`, `bn_stats.rs` |
//! | [`Relu`], [`Relu6`], [`LeakyRelu`], [`Tanh`], [`Sigmoid`] | [`Activation::forward`] (or in place) | output `y` | one file each |
//! | [`softmax_cross_entropy`] | returns the loss | nothing more: writes `dlogits` | `softmax_ce.rs` |
//! | [`mse`] | returns the loss | nothing more: writes `dpred` | `mse.rs` |
//! | [`int8`] layers (frozen backbone, bit-exact to TFLite): conv, depthwise, dense, pools | forward only | – | `int8/` |
//! | [`mlp!`](crate::mlp) networks ([`network`]) | `forward`, `infer`, `predict` | kept inside the network | `network.rs` |
//!
//! ```
//! use edgetune::nn::{softmax_cross_entropy, Activation, Dense, Relu};
//! let layer1 = Dense::<f32, 2, 3> { weights: [[0.5, -0.5], [1.0, 0.0], [0.0, 1.0]], bias: [0.0; 3] };
//! let layer2 = Dense::<f32, 3, 2> { weights: [[1.0, 0.0, -1.0], [0.0, 1.0, 1.0]], bias: [0.1, 0.0] };
//! let (mut g1, mut g2) = (Dense::zeroed(), Dense::zeroed()); // gradient accumulators
//! let x = [1.0f32, 2.0];
//! // Forward: keep x, h (ReLU applied in place) and the logits.
//! let mut h = [0.0; 3];
//! layer1.forward(&x, &mut h);
//! Relu.forward_in_place(&mut h);
//! let mut z = [0.0; 2];
//! layer2.forward(&h, &mut z);
//! // Loss and backward; a bad label would be an error, not a panic.
//! let mut dz = [0.0; 2];
//! let loss = softmax_cross_entropy(&z, 1, &mut dz).unwrap();
//! let mut dh = [0.0; 3];
//! layer2.backward(&h, &dz, Some(&mut g2), Some(&mut dh));
//! Relu.backward_in_place(&h, &mut dh);
//! layer1.backward(&x, &dh, Some(&mut g1), None); // first layer: no dx
//! assert!(loss > 0.0 && g1.weights[1][1] != 0.0);
//! assert!(softmax_cross_entropy(&z, 2, &mut dz).is_err());
//! ```
//!
//! # Design
//! - **Parameters are arguments, not fields.** [`dense::forward`]`(w, b, x, y)` and
//!   [`dense::backward`]`(w, x, dy, grads, dx)` take the weights and gradients by reference, so the
//!   same math serves a [`Dense`] struct, a view into a flat `[S; N]` parameter arena that an
//!   [`Optimizer`](crate::optim::Optimizer) steps ([`dense::split_mut`]), and frozen layers in
//!   flash (`const`/`static`, with `grads = None`). `nn` does not depend on `optim`; the two meet
//!   only in the flat arena.
//! - **Shape-preserving storage for dense layers.** `W: [[S; I]; O]`, `b: [S; O]`: no arithmetic
//!   on const generics is needed (stable Rust has none), and `as_flattened` gives the flat view.
//! - **Shape descriptors for convolutions and pools.** Their output sizes
//!   (`(H + pad − K)/stride + 1`) cannot be const generics on stable Rust, so each takes a small
//!   `Copy` shape ([`Conv2dShape`], [`Conv1dShape`], [`Pool2dShape`], [`Pool1dShape`]) with
//!   `const fn` sizes and a `const fn valid()`, and flat slices checked against it at entry. A
//!   network can check its shapes at compile time (`const _: () = assert!(S.valid());`), and
//!   each layer has one monomorphisation per number type whatever its sizes (flash matters).
//!
//! # Memory layout of maps and weights
//! - **Maps are channels-last**, `[H][W][C]` row-major (`[len][C]` in 1-D), as TFLite and
//!   CMSIS-NN store them. Why: the int8 backbone that a later issue runs must be bit-exact to
//!   TFLite, whose kernels, zero points and per-channel quantisation all index NHWC; the
//!   depthwise and pointwise kernels that dominate DS-CNN and MobileNet read a pixel's channels
//!   contiguously (a pointwise layer is a dense layer per pixel: [`pointwise`]); an IMU FIFO
//!   delivers one sample's axes together, i.e. channels-last; and flatten is then TensorFlow's
//!   order and a no-op ([`flatten`]). torch's NCHW would have made `conv2d` with `groups = 1`
//!   slightly simpler and nothing else.
//! - **Convolution weights are OHWI**, `[C_out][KH][KW][C_in/groups]` (`[C_out][K][C_in/groups]`
//!   in 1-D), TFLite's `CONV_2D` filter layout: each output channel is one contiguous block, so
//!   batch-norm folding ([`bn_fold`]) and per-channel scales are a loop over blocks, and the inner
//!   loop of the forward pass runs over contiguous input channels. TFLite stores depthwise
//!   filters as `[1][KH][KW][C_out]`, a transpose the int8 importer must apply. **From torch**
//!   (`OIHW`, `weight[o, i, kh, kw]`) the exporter writes `weight.permute(0, 2, 3, 1)` (1-D:
//!   `weight.permute(0, 2, 1)`); biases are unchanged; a dense layer after a flatten permutes its
//!   columns from `[C][H][W]` to `[H][W][C]` ([`flatten::torch_flat_index`]).
//! - **Gradients accumulate.** Backward adds into `dW` and `db`, so a mini-batch is summed in the
//!   gradient arena without per-sample buffers; zero it between batches. The input gradient `dx`
//!   is overwritten, and optional (`None` for a first layer saves its `O·I` multiply-adds).
//! - **Backward from whichever activation is already kept.** Dense and conv backward need the
//!   layer input (which is the previous activation's output, kept anyway); the activations need
//!   only their own output, so their forward and backward can run in place. A network
//!   `x → dense → act → dense → loss` therefore keeps `x`, the hidden activation and the logits:
//!   one buffer per layer boundary.
//! - **One number trait.** [`Scalar`] (defined in [`num`](crate::num), on top of
//!   [`Num`](crate::num::Num)) has conversions, named arithmetic, a wide accumulator ([`Scalar::Acc`]) and the transcendental functions, with the
//!   input domain this module actually uses stated for each. `f32` and `f64` implement it with
//!   `libm`; the fixed-point formats I16F16 and I8F24 implement it with saturating arithmetic,
//!   an exact 64-bit accumulator and integer-only approximations within 0.52 LSB (see
//!   [`num::fixed::scalar`](crate::num::fixed::scalar) for the method and measured bound of each function), without changing any
//!   layer; the 16-bit storage format I4F12 ([`num::fixed16`](crate::num::fixed16)) the same way,
//!   with 16×16→32-bit products.
//!
//! # Memory per call
//! No function allocates or uses scratch buffers; stack use is a few scalars and one
//! accumulator. What must be kept from the forward pass for backward is listed in the table.

mod activation;
pub mod avg_pool;
pub mod bn_fold;
pub mod bn_stats;
pub mod conv1d;
pub mod conv2d;
pub mod dense;
mod error;
pub mod flatten;
pub mod global_avg_pool;
pub mod init;
pub mod int8;
pub(crate) mod kernel;
mod leaky_relu;
pub mod max_pool;
mod mse;
pub mod network;
pub mod pointwise;
mod relu;
mod relu6;
pub mod scale_shift;
pub mod shape;
mod sigmoid;
mod softmax_ce;
pub mod split;
mod tanh;
mod tensor;

pub use crate::num::Scalar;
pub use activation::Activation;
pub use dense::Dense;
pub use error::NnError;
pub use init::Init;
pub use leaky_relu::LeakyRelu;
pub use mse::mse;
pub use network::Network;
pub use relu::Relu;
pub use relu6::Relu6;
pub use shape::{Conv1dShape, Conv2dShape, Padding, Pool1dShape, Pool2dShape};
pub use sigmoid::Sigmoid;
#[cfg(feature = "std")]
pub(crate) use softmax_ce::softmax_cross_entropy_slices;
pub use softmax_ce::{softmax, softmax_cross_entropy};
pub use tanh::Tanh;
pub use tensor::Tensor;
