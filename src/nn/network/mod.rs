//! Small networks whose shape is in their type: the [`mlp!`](crate::mlp) and
//! [`cnn!`](crate::cnn) macros and what they build on.
//!
//! # Why a macro
//! Stable Rust has no arithmetic on const generics, so a generic `Mlp<S, 64, 32, 10>` could not
//! declare its parameter arena `[S; 64·32 + 32 + 32·10 + 10]`. A declarative macro can: the user
//! writes the layers once with literal sizes, and the macro writes a struct whose every buffer
//! (parameters, gradients, activations kept for backward, scratch) has a size computed at compile
//! time by the `const fn`s of this module from the literal [`LayerSpec`] table. The struct stays
//! generic over the number type `S: Scalar`, so `f32` on the device and `f64` in host tests run
//! the same code. Nothing is allocated; the whole training state can be one `static`.
//!
//! # Syntax
//! ```
//! edgetune::mlp! {
//!     /// A digits classifier fine-tuned on the device: the feature layer stays as trained on
//!     /// the host, the head learns.
//!     pub struct Digits {
//!         dense 64 -> 32, relu, frozen;
//!         dense 32 -> 10;
//!         loss softmax_cross_entropy;
//!     }
//! }
//! assert_eq!(Digits::<f32>::PARAMS, 64 * 32 + 32 + 32 * 10 + 10);
//! assert_eq!(Digits::<f32>::TRAINABLE, 32 * 10 + 10);
//! ```
//! One line per dense layer, `dense I -> O`, read like torch's `nn.Linear(I, O)`, then in this
//! order and both optional:
//! - an activation applied to the layer's output: `relu`, `leaky_relu(SLOPE)` (a literal `f64`
//!   slope, checked to be finite and `>= 0` at compile time), `tanh`, `sigmoid`; none for a
//!   linear layer (the last layer's output is the logits, so it usually has none);
//! - what fine-tuning may change ([`Mode`]): `train` (weights and bias, the default), `bias`
//!   (bias only, weights frozen) or `frozen` (nothing).
//!
//! The last line names the loss: `loss softmax_cross_entropy;` (the target is a class index
//! `usize`) or `loss mse;` (the target is a `&[S; O]`). Adjacent sizes must agree (`I` of a layer
//! is `O` of the one before): a mismatch is a compile error saying so.
//!
//! Fine-tuning modes are declarations: full training is every layer `train`; last layer only is
//! every layer but the last `frozen`; bias only is every layer `bias`; any set of layers can be
//! frozen. Declare one struct per mode you use (they share the parameter layout, so
//! [`export`](#generated-api)/`import` move weights between them).
//!
//! # Memory layout
//! The generated struct `Name<S, F = [S; FROZEN]>` holds, as arrays of `S`:
//!
//! | field | elements | what |
//! |---|---|---|
//! | frozen parameters (`F`) | `FROZEN` | every element no optimizer touches, torch order |
//! | trainable arena | `TRAINABLE` | every element the optimizer steps, torch order |
//! | gradient arena | `TRAINABLE` | same layout as the trainable arena |
//! | kept activations | `KEPT − O_last` | inputs of trainable-suffix layers (see below) |
//! | loss gradient | `O_last` | `∂L/∂logits` |
//! | scratch | `SCRATCH` | a [`Scratch`]: two ping-pong hidden buffers and the logits |
//!
//! The optimizer steps the trainable arena with one call, `Adam<S, { Name::<f32>::TRAINABLE }>`,
//! through [`trainable_and_grads`](#generated-api). Frozen layers cost no gradient, no moment, no
//! backward compute and, if they form a prefix, no kept activation: with `t` the first layer that
//! has any trainable element, only the inputs of layers `t + 1 ..` are kept (they feed the
//! activation derivatives and weight gradients), plus the input of layer `t` itself if it trains
//! its weights (and is not the first layer, whose input is the caller's `x`).
//!
//! `F` is where the frozen parameters live: `[S; FROZEN]` (the default) keeps them in RAM, and
//! a reference `&'a [S; FROZEN]` leaves them wherever they are, typically a `static` in flash
//! built at compile time by `split_frozen` from the torch-order weights. See [`FrozenParams`].
//!
//! # Generated API
//! Constants (on `Name<S>`, that is with the default `F`; element counts do not depend on `S`):
//! - `PARAMS`, `TRAINABLE`, `FROZEN`, `KEPT`, `SCRATCH`: element counts as above; `INPUTS`,
//!   `OUTPUTS`; `LAYERS`: the [`LayerSpec`] table.
//! - `INFER_BYTES = (PARAMS + SCRATCH) · size_of::<S>()`: the RAM [`forward`](#generated-api)
//!   reads and writes with every parameter in RAM (subtract `FROZEN_BYTES` when they are in
//!   flash). The caller's input `x` is not counted.
//! - `TRAIN_BYTES = (PARAMS + TRAINABLE + KEPT + SCRATCH) · size_of::<S>()` (parameters, gradients, kept activations, scratch), which is
//!   exactly `size_of::<Name<S>>()` (tested): everything `accumulate` needs, **without** the
//!   optimizer. `train_bytes_with::<O>()` adds `size_of::<O>()` for optimizer `O`; with the
//!   frozen part in flash, `size_of::<Name<S, &[S; FROZEN]>>()` is
//!   `TRAIN_BYTES − FROZEN_BYTES + size_of::<usize>()`, rounded up to the pointer's alignment.
//!
//! Construction (all `const fn`, so a network can be a `static`): `zeroed()` (frozen part in
//! RAM), `with_frozen(f)` (trainable arena zeroed), `from_parts(f, trainable)`; and
//! `split_frozen(&all)`, `split_trainable(&all)` that cut a torch-order `[S; PARAMS]` into the
//! two arenas at compile time.
//!
//! Methods:
//! - `forward(&self, x, &mut scratch) -> &[S; O]` (inference; `Name::<S>::scratch()` makes a
//!   scratch), `infer(&mut self, x)` (the same with the internal scratch), `predict(&mut self, x)
//!   -> usize` (index of the largest output; ties go to the lowest index).
//! - `accumulate(&mut self, x, target) -> Result<S, NnError>`: forward, loss and backward,
//!   **adding** into the gradient arena (a mini-batch accumulates with no extra buffer); an
//!   invalid label is an error and changes no gradient. `loss(&mut self, x, target)`: forward
//!   and loss only.
//! - `zero_grad`, `grads`, `grads_mut`, `trainable`, `trainable_mut`, `frozen`,
//!   `trainable_and_grads(&mut self) -> (&mut [S; TRAINABLE], &[S; TRAINABLE])` (what
//!   `Optimizer::step` takes, borrowed together).
//! - `export(&self, out: &mut [S])`, `import(&mut self, src: &[S])` (frozen part in RAM) and
//!   `import_trainable(&mut self, src)` (any `F`: copies only the trainable elements): all
//!   parameters as one flat slice in torch order (`dense 0 W` row by row, `b`, `dense 1 W`, ...),
//!   exactly `PARAMS` long, or [`Error::LengthMismatch`](crate::Error::LengthMismatch) with nothing written.
//!
//! ```
//! use edgetune::optim::{Adam, AdamConfig, Optimizer};
//! edgetune::mlp! {
//!     /// XOR, every layer trained.
//!     struct Xor {
//!         dense 2 -> 4, tanh;
//!         dense 4 -> 2;
//!         loss softmax_cross_entropy;
//!     }
//! }
//! let mut net = Xor::<f32>::zeroed();
//! let init: [f32; Xor::<f32>::PARAMS] = [
//!     0.5, -0.4, -0.6, 0.7, 0.8, 0.9, -0.7, -0.8, // W0
//!     0.1, -0.1, 0.0, 0.2, // b0
//!     0.3, -0.5, 0.6, -0.2, -0.4, 0.5, -0.3, 0.6, // W1
//!     0.0, 0.0, // b1
//! ];
//! net.import(&init).unwrap();
//! let mut opt = Adam::<f32, { Xor::<f32>::TRAINABLE }>::new(AdamConfig::adam(0.05)).unwrap();
//! let data = [([0.0, 0.0], 0), ([0.0, 1.0], 1), ([1.0, 0.0], 1), ([1.0, 1.0], 0)];
//! for _ in 0..300 {
//!     net.zero_grad();
//!     for (x, y) in &data {
//!         net.accumulate(x, *y).unwrap();
//!     }
//!     let (params, grads) = net.trainable_and_grads();
//!     opt.step(params, grads).unwrap();
//! }
//! assert!(data.iter().all(|(x, y)| net.predict(x) == Ok(*y)));
//! ```
//!
//! # Convolutional networks: `cnn!`
//! [`cnn!`](crate::cnn) declares a sequential network of convolution, pooling, batch-norm and
//! dense layers over channels-last data (see [`nn`](crate::nn) for why channels-last). It
//! generates the same constants, methods and [`Network`] implementation as `mlp!`, plus `MACS`,
//! `WEIGHT_SHAPES` (for [`io::weights`](crate::io::weights)) and `PLAN`.
//!
//! ```text
//! input [LEN, C];  or  input [H, W, C];
//! conv1d(C_in, C_out, K [, stride = S] [, padding = P | same | valid] [, groups = G])
//! conv2d(C_in, C_out, K | (KH, KW) [, stride = S | (SH, SW)] [, padding = P | (PH, PW) | same | valid] [, groups = G])
//! batch_norm(C)                  per-channel y = scale·x + shift (parameters: scale, shift)
//! max_pool1d(K [, stride = S] [, padding = P])    avg_pool1d(...)   (stride defaults to K)
//! max_pool2d(K | (KH, KW) ...)   avg_pool2d(...)  (average pooling counts padding, as torch)
//! global_avg_pool                [H, W, C] → [1, 1, C]
//! flatten                        [H, W, C] → [1, 1, H·W·C] (nothing moves)
//! dense(I, O)                    I = H·W·C of what it receives
//! loss softmax_cross_entropy;  or  loss mse;
//! ```
//! Each layer line may end with an activation (`relu`, `relu6`, `leaky_relu(SLOPE)`, `tanh`,
//! `sigmoid`) and then a mode (`train`, `bias`, `frozen`): for a batch norm `bias` trains the
//! shift only. `train(K)` and `bias(K)` apply the mode to the first `K` output channels only (a
//! sub-tensor sparse update): their weights (output-major, so one leading run) and biases go to
//! the trainable arena, with gradients and optimizer state, and the others stay frozen. Fine-tuning only the batch norms ("BN-affine") is every `batch_norm` line
//! `train` and every other layer `frozen`. Depthwise is `groups = C_in`; a residual add is not
//! expressible (the declaration is a chain).
//!
//! Shapes flow from `input` through the layers at compile time ([`Plan`]): a layer whose
//! channels, height (1-D layers need height 1), window, groups or dense inputs do not fit what
//! it receives is a compile error quoting that layer's line.
//!
//! Parameters in torch order are, per layer: a convolution's weights `[C_out][KH][KW][C_in/G]`
//! then bias; a batch norm's scale then shift; a dense layer's `[O][I]` then bias.
//!
//! Memory follows `mlp!`: frozen arena (in RAM or referenced in flash), trainable and gradient
//! arenas, kept inputs, loss gradient, a [`Scratch`] sized by the widest hidden outputs of each
//! parity. A layer's input values are kept only when backward reads them: a training
//! convolution or dense layer (weight gradient), a training batch-norm scale, a max pool whose
//! input gradient is wanted, or the output of a tanh or sigmoid whose derivative backward
//! applies. Where backward needs nothing of an input but the derivative of the ReLU, ReLU6 or
//! leaky ReLU that produced it, one bit per element is kept instead (`MASK_WORDS` words of
//! `u32`), which gives bit for bit the same gradients. Frozen layers below the first trainable
//! one keep nothing and run no backward.
//!
//! A line `update fused;` just before the loss declares a network trained one sample at a time
//! with the update fused into backward: `net.step(&mut optimizer, x, target)` steps each layer
//! as soon as its gradient is complete ([`Optimizer::step_part`](crate::optim::Optimizer::step_part)),
//! so the gradient storage is the largest layer's trainable elements (`GRADS`), not the
//! network's. The result is bit for bit `accumulate` then `step`. Such a network has no
//! `accumulate` and does not implement [`Network`] (mini-batches need every gradient at once).
//!
//! `memory_plan::<Optimizer>(frozen_in_ram)` gives the RAM
//! of a training step by part at compile time, and `memory_floor` its floor
//! ([`MemoryPlan`]).

mod arena;
mod cnn;
mod frozen;
mod int8;
mod layer;
mod memory;
mod mlp;
mod model;
mod network_impl;
mod params;
mod plan;
mod run;
mod scratch;
mod spec;

#[doc(hidden)]
pub use crate::nn::kernel::zero;
#[doc(hidden)]
pub use arena::{
    add_into, input_array, leaky_relu, take, take_back, take_back_mut, take_mut, take_w,
    take_w_back, take_w_back_mut,
};
pub use frozen::FrozenParams;
pub use int8::Int8Network;
pub use layer::{Act, Dims, Layer, Op, Opt, Pad, Window};
pub use memory::MemoryPlan;
pub use model::{check_input, check_target, first_invalid, LayerRanges, LayerShape, Network};
pub use params::{export, export_plan, import, import_plan};
pub use plan::{Place, Plan};
pub use run::{
    backward as run_backward, backward_fused as run_backward_fused, forward as run_forward,
    BackwardBuffers, Buffers, Kept, Saved, StepLayer,
};
pub use scratch::{argmax, Identity, Scratch};
pub use spec::{
    chain_ok, first_trainable, frozen, gather, has_input_grad, hidden_width, in_backward, inputs,
    keeps_input, kept_activations, layer_ranges, outputs, params, trainable, LayerSpec, Mode,
};
