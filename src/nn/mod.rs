//! Layer math with backward passes: dense and 1-D convolution layers, activations, losses.
//!
//! Everything here is a plain function over arrays whose shapes are const generics: nothing is
//! allocated, nothing panics on any input (bad class labels are an [`NnError`]), and shapes that
//! do not fit are compile errors.
//!
//! | item | forward | backward needs | file |
//! |---|---|---|---|
//! | [`dense`] (`y = W x + b`) | [`dense::forward`] | input `x` | `dense.rs` |
//! | [`conv1d`] (valid, stride 1) | [`conv1d::forward`] | input `x` | `conv1d.rs` |
//! | [`Relu`], [`LeakyRelu`], [`Tanh`], [`Sigmoid`] | [`Activation::forward`] (or in place) | output `y` | one file each |
//! | [`softmax_cross_entropy`] | returns the loss | nothing more: writes `dlogits` | `softmax_ce.rs` |
//! | [`mse`] | returns the loss | nothing more: writes `dpred` | `mse.rs` |
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
//! - **Shape-preserving storage.** `W: [[S; I]; O]`, `b: [S; O]`, conv weights
//!   `[[[S; K]; C_IN]; C_OUT]`: no arithmetic on const generics is needed (stable Rust has
//!   none), and `as_flattened` gives the flat view. Where a size must be computed
//!   (`L_OUT = L_IN − K + 1`), it is another const generic checked by an inline `const` assertion.
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
//!   layer.
//!
//! # Memory per call
//! No function allocates or uses scratch buffers; stack use is a few scalars and one
//! accumulator. What must be kept from the forward pass for backward is listed in the table.

mod activation;
pub mod conv1d;
pub mod dense;
mod error;
pub mod init;
mod leaky_relu;
mod mse;
pub mod network;
mod relu;
mod sigmoid;
mod softmax_ce;
mod tanh;
mod tensor;

pub use crate::num::Scalar;
pub use activation::Activation;
pub use conv1d::Conv1d;
pub use dense::Dense;
pub use error::NnError;
pub use init::Init;
pub use leaky_relu::LeakyRelu;
pub use mse::mse;
pub use network::Network;
pub use relu::Relu;
pub use sigmoid::Sigmoid;
pub use softmax_ce::{softmax, softmax_cross_entropy};
pub use tanh::Tanh;
pub use tensor::Tensor;
