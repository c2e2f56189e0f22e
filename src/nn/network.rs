//! Small networks whose shape is in their type: the [`mlp!`](crate::mlp) macro and what it
//! builds on.
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
//!   exactly `PARAMS` long, or [`Error::LengthMismatch`] with nothing written.
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
//! assert!(data.iter().all(|(x, y)| net.predict(x) == *y));
//! ```

use super::{Activation, Scalar};
use crate::Error;

/// What fine-tuning may change in one dense layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Weights and bias are trained (`train` in [`mlp!`](crate::mlp)).
    Train,
    /// Only the bias is trained; the weights are frozen (`bias`).
    Bias,
    /// Nothing is trained (`frozen`).
    Frozen,
}

/// One dense layer of a network: its sizes and [`Mode`]. A generated network's `LAYERS` constant
/// is a table of these, from which every size is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerSpec {
    /// Inputs `I`.
    pub inputs: usize,
    /// Outputs `O`.
    pub outputs: usize,
    /// What fine-tuning may change.
    pub mode: Mode,
}

impl LayerSpec {
    /// `I·O` weights.
    pub const fn weights(&self) -> usize {
        self.inputs * self.outputs
    }

    /// `I·O + O` parameters.
    pub const fn params(&self) -> usize {
        self.weights() + self.outputs
    }

    /// Whether the weights are trained.
    pub const fn trains_weights(&self) -> bool {
        matches!(self.mode, Mode::Train)
    }

    /// Whether the bias is trained.
    pub const fn trains_bias(&self) -> bool {
        !matches!(self.mode, Mode::Frozen)
    }

    /// Trainable elements of this layer.
    pub const fn trainable(&self) -> usize {
        match self.mode {
            Mode::Train => self.params(),
            Mode::Bias => self.outputs,
            Mode::Frozen => 0,
        }
    }
}

/// All parameters of the layers, `Σ (I·O + O)`.
pub const fn params(layers: &[LayerSpec]) -> usize {
    let mut n = 0;
    let mut k = 0;
    while k < layers.len() {
        n += layers[k].params();
        k += 1;
    }
    n
}

/// Trainable elements of the layers.
pub const fn trainable(layers: &[LayerSpec]) -> usize {
    let mut n = 0;
    let mut k = 0;
    while k < layers.len() {
        n += layers[k].trainable();
        k += 1;
    }
    n
}

/// Frozen elements of the layers, `params − trainable`.
pub const fn frozen(layers: &[LayerSpec]) -> usize {
    params(layers) - trainable(layers)
}

/// Index of the first layer with any trainable element (`layers.len()` if none): backward runs
/// from the loss down to this layer and no further.
pub const fn first_trainable(layers: &[LayerSpec]) -> usize {
    let mut k = 0;
    while k < layers.len() {
        if layers[k].trainable() > 0 {
            return k;
        }
        k += 1;
    }
    layers.len()
}

/// Whether backward reaches layer `k` (it is at or after the first trainable layer).
pub const fn in_backward(layers: &[LayerSpec], k: usize) -> bool {
    k < layers.len() && k >= first_trainable(layers)
}

/// Whether backward computes the gradient of layer `k`'s input (a trainable layer lies below).
pub const fn has_input_grad(layers: &[LayerSpec], k: usize) -> bool {
    k < layers.len() && k > first_trainable(layers)
}

/// Whether the input of layer `k` (the output of layer `k − 1` after its activation) is kept
/// from forward for backward: for every layer above the first trainable one (its activation's
/// derivative and weight gradient need it), and for the first trainable one if it trains its
/// weights. Never for layer 0, whose input is the caller's `x`.
pub const fn keeps_input(layers: &[LayerSpec], k: usize) -> bool {
    if k == 0 || k >= layers.len() {
        return false;
    }
    let t = first_trainable(layers);
    k > t || (k == t && layers[k].trains_weights())
}

/// Elements of kept activations, without the loss gradient.
pub const fn kept_activations(layers: &[LayerSpec]) -> usize {
    let mut n = 0;
    let mut k = 0;
    while k < layers.len() {
        if keeps_input(layers, k) {
            n += layers[k].inputs;
        }
        k += 1;
    }
    n
}

/// Inputs of the first layer (0 for no layers).
pub const fn inputs(layers: &[LayerSpec]) -> usize {
    match layers.first() {
        Some(l) => l.inputs,
        None => 0,
    }
}

/// Outputs of the last layer (0 for no layers).
pub const fn outputs(layers: &[LayerSpec]) -> usize {
    match layers.last() {
        Some(l) => l.outputs,
        None => 0,
    }
}

/// The largest output of the hidden layers (all but the last) whose index has parity `odd`:
/// the size of one of the two ping-pong buffers of a [`Scratch`].
pub const fn hidden_width(layers: &[LayerSpec], odd: bool) -> usize {
    let mut m = 0;
    let mut k = if odd { 1 } else { 0 };
    while k + 1 < layers.len() {
        if layers[k].outputs > m {
            m = layers[k].outputs;
        }
        k += 2;
    }
    m
}

/// Whether every layer's input count equals the output count of the layer before, and there is
/// at least one layer with at least one input and one output.
pub const fn chain_ok(layers: &[LayerSpec]) -> bool {
    if layers.is_empty() {
        return false;
    }
    let mut k = 0;
    while k < layers.len() {
        if layers[k].inputs == 0 || layers[k].outputs == 0 {
            return false;
        }
        if k > 0 && layers[k].inputs != layers[k - 1].outputs {
            return false;
        }
        k += 1;
    }
    true
}

/// Gathers the elements of a torch-order parameter array whose trainability is `trainable` (the
/// trainable or the frozen arena of a network with these `layers`), at compile time.
pub const fn gather<S: Scalar, const N: usize, const M: usize>(
    layers: &[LayerSpec],
    all: &[S; N],
    trainable: bool,
) -> [S; M] {
    let mut out = [S::ZERO; M];
    let mut src = 0;
    let mut dst = 0;
    let mut k = 0;
    while k < layers.len() {
        let l = layers[k];
        // Weights, then bias: two runs with their own trainability.
        let runs = [
            (l.weights(), l.trains_weights()),
            (l.outputs, l.trains_bias()),
        ];
        let mut r = 0;
        while r < 2 {
            let (len, t) = runs[r];
            let mut i = 0;
            while i < len {
                if t == trainable && dst < M && src < N {
                    out[dst] = all[src];
                    dst += 1;
                }
                src += 1;
                i += 1;
            }
            r += 1;
        }
        k += 1;
    }
    out
}

/// Where a network's frozen parameters live: in RAM (`[S; N]`, writable, so `import` can fill
/// it) or behind a reference (`&[S; N]`, read-only: a `static` or `const` in flash costs no RAM).
pub trait FrozenParams<S, const N: usize> {
    /// The frozen parameters.
    fn params(&self) -> &[S; N];
    /// The frozen parameters, mutably, if they are held in RAM.
    fn params_mut(&mut self) -> Option<&mut [S; N]>;
}

impl<S, const N: usize> FrozenParams<S, N> for [S; N] {
    #[inline]
    fn params(&self) -> &[S; N] {
        self
    }
    #[inline]
    fn params_mut(&mut self) -> Option<&mut [S; N]> {
        Some(self)
    }
}

impl<S, const N: usize> FrozenParams<S, N> for &[S; N] {
    #[inline]
    fn params(&self) -> &[S; N] {
        self
    }
    #[inline]
    fn params_mut(&mut self) -> Option<&mut [S; N]> {
        None
    }
}

/// The buffers a forward pass writes: hidden layers alternate between `even` (layers 0, 2, ...)
/// and `odd` (layers 1, 3, ...), sized for the widest layer of each parity, and the last layer
/// writes `out`. Backward reuses the two hidden buffers for the gradients flowing down.
///
/// Size: `(A + B + O) · size_of::<S>()` (three arrays of `S`, no padding). For a 64-32-10 MLP
/// that is `32 + 0 + 10` elements: the largest pair of activation buffers, nothing more.
#[derive(Clone, Debug, PartialEq)]
pub struct Scratch<S, const A: usize, const B: usize, const O: usize> {
    /// Outputs of the even-numbered hidden layers.
    pub even: [S; A],
    /// Outputs of the odd-numbered hidden layers.
    pub odd: [S; B],
    /// Outputs of the last layer (the logits).
    pub out: [S; O],
}

impl<S: Scalar, const A: usize, const B: usize, const O: usize> Scratch<S, A, B, O> {
    /// All zeros (`const`: can be a `static`).
    pub const fn zeroed() -> Self {
        Scratch {
            even: [S::ZERO; A],
            odd: [S::ZERO; B],
            out: [S::ZERO; O],
        }
    }
}

/// The identity, for a dense layer with no activation: forward and backward do nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Identity;

impl<S: Scalar> Activation<S> for Identity {
    #[inline(always)]
    fn apply(&self, x: S) -> S {
        x
    }
    #[inline(always)]
    fn derivative_from_output(&self, _y: S) -> S {
        S::ONE
    }
    #[inline(always)]
    fn forward_in_place<T: super::Tensor<S>>(&self, _xy: &mut T) {}
    #[inline(always)]
    fn backward_in_place<T: super::Tensor<S>>(&self, _y: &T, _grad: &mut T) {}
}

/// The index of the largest value (the predicted class); ties and NaNs go to the lowest index,
/// and an empty slice gives 0.
pub fn argmax<S: PartialOrd + Copy>(values: &[S]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if let Some(b) = values.get(best) {
            if v > b {
                best = i;
            }
        }
    }
    best
}

/// Copies all parameters into `out` in torch order, reading each run from the frozen or the
/// trainable arena. [`Error::LengthMismatch`] (and nothing written) unless `out` holds exactly
/// the layers' parameters and the arenas their parts.
pub fn export<S: Copy>(
    layers: &[LayerSpec],
    frozen: &[S],
    trainable: &[S],
    out: &mut [S],
) -> Result<(), Error> {
    check_len(layers, out.len(), frozen.len(), trainable.len())?;
    let (mut f, mut t, mut o) = (frozen, trainable, out);
    for l in layers {
        for (len, is_t) in [
            (l.weights(), l.trains_weights()),
            (l.outputs, l.trains_bias()),
        ] {
            let src = if is_t { &mut t } else { &mut f };
            let (Some((s, s_rest)), Some((d, d_rest))) = (
                src.split_at_checked(len),
                core::mem::take(&mut o).split_at_mut_checked(len),
            ) else {
                return Err(mismatch(layers, 0));
            };
            d.copy_from_slice(s);
            *src = s_rest;
            o = d_rest;
        }
    }
    Ok(())
}

/// Fills the arenas from all parameters in torch order; with `frozen = None` the frozen runs of
/// `src` are skipped (only the trainable part is loaded). [`Error::LengthMismatch`] (and nothing
/// written) unless `src` holds exactly the layers' parameters and the arenas their parts.
pub fn import<S: Copy>(
    layers: &[LayerSpec],
    frozen: Option<&mut [S]>,
    trainable: &mut [S],
    src: &[S],
) -> Result<(), Error> {
    let frozen_len = match &frozen {
        Some(f) => f.len(),
        None => self::frozen(layers),
    };
    check_len(layers, src.len(), frozen_len, trainable.len())?;
    let mut f: Option<&mut [S]> = frozen;
    let mut t = trainable;
    let mut s = src;
    for l in layers {
        for (len, is_t) in [
            (l.weights(), l.trains_weights()),
            (l.outputs, l.trains_bias()),
        ] {
            let Some((run, s_rest)) = s.split_at_checked(len) else {
                return Err(mismatch(layers, src.len()));
            };
            s = s_rest;
            let dst = if is_t { Some(&mut t) } else { f.as_mut() };
            if let Some(dst) = dst {
                let Some((d, d_rest)) = core::mem::take(dst).split_at_mut_checked(len) else {
                    return Err(mismatch(layers, src.len()));
                };
                d.copy_from_slice(run);
                *dst = d_rest;
            }
        }
    }
    Ok(())
}

fn mismatch(layers: &[LayerSpec], found: usize) -> Error {
    Error::LengthMismatch {
        expected: params(layers),
        found,
    }
}

fn check_len(
    layers: &[LayerSpec],
    flat: usize,
    frozen_len: usize,
    trainable_len: usize,
) -> Result<(), Error> {
    if flat != params(layers) {
        return Err(mismatch(layers, flat));
    }
    if frozen_len != frozen(layers) {
        return Err(Error::LengthMismatch {
            expected: frozen(layers),
            found: frozen_len,
        });
    }
    if trainable_len != trainable(layers) {
        return Err(Error::LengthMismatch {
            expected: trainable(layers),
            found: trainable_len,
        });
    }
    Ok(())
}

/// Takes a dense layer's `W` (`I·O` elements) from the front of `arena` and advances it.
#[doc(hidden)]
#[inline(always)]
pub fn take_w<'a, S, const I: usize, const O: usize>(
    arena: &mut &'a [S],
) -> Option<&'a [[S; I]; O]> {
    let (w, rest) = arena.split_at_checked(I.checked_mul(O)?)?;
    let (rows, _) = w.as_chunks::<I>();
    *arena = rest;
    rows.try_into().ok()
}

/// Takes `N` elements from the front of `arena` and advances it.
#[doc(hidden)]
#[inline(always)]
pub fn take<'a, S, const N: usize>(arena: &mut &'a [S]) -> Option<&'a [S; N]> {
    let (v, rest) = arena.split_first_chunk::<N>()?;
    *arena = rest;
    Some(v)
}

/// Takes `N` elements from the front of a mutable `arena` and advances it.
#[doc(hidden)]
#[inline(always)]
pub fn take_mut<'a, S, const N: usize>(arena: &mut &'a mut [S]) -> Option<&'a mut [S; N]> {
    let (v, rest) = core::mem::take(arena).split_first_chunk_mut::<N>()?;
    *arena = rest;
    Some(v)
}

/// Takes a dense layer's `W` from the back of `arena` and shortens it.
#[doc(hidden)]
#[inline(always)]
pub fn take_w_back<'a, S, const I: usize, const O: usize>(
    arena: &mut &'a [S],
) -> Option<&'a [[S; I]; O]> {
    let at = arena.len().checked_sub(I.checked_mul(O)?)?;
    let (rest, w) = arena.split_at_checked(at)?;
    let (rows, _) = w.as_chunks::<I>();
    *arena = rest;
    rows.try_into().ok()
}

/// Takes `N` elements from the back of `arena` and shortens it.
#[doc(hidden)]
#[inline(always)]
pub fn take_back<'a, S, const N: usize>(arena: &mut &'a [S]) -> Option<&'a [S; N]> {
    let (rest, v) = arena.split_last_chunk::<N>()?;
    *arena = rest;
    Some(v)
}

/// Takes a dense layer's `dW` from the back of a mutable `arena` and shortens it.
#[doc(hidden)]
#[inline(always)]
pub fn take_w_back_mut<'a, S, const I: usize, const O: usize>(
    arena: &mut &'a mut [S],
) -> Option<&'a mut [[S; I]; O]> {
    let at = arena.len().checked_sub(I.checked_mul(O)?)?;
    let (rest, w) = core::mem::take(arena).split_at_mut_checked(at)?;
    let (rows, _) = w.as_chunks_mut::<I>();
    *arena = rest;
    rows.try_into().ok()
}

/// Takes `N` elements from the back of a mutable `arena` and shortens it.
#[doc(hidden)]
#[inline(always)]
pub fn take_back_mut<'a, S, const N: usize>(arena: &mut &'a mut [S]) -> Option<&'a mut [S; N]> {
    let (rest, v) = core::mem::take(arena).split_last_chunk_mut::<N>()?;
    *arena = rest;
    Some(v)
}

/// `db += dy` (the bias gradient of a dense layer whose weights are frozen).
#[doc(hidden)]
#[inline(always)]
pub fn add_into<S: Scalar, const O: usize>(db: &mut [S; O], dy: &[S; O]) {
    for (d, &g) in db.iter_mut().zip(dy) {
        *d = d.add(g);
    }
}

/// A checked LeakyReLU for the macro (the slope was checked at compile time, so the default is
/// never used).
#[doc(hidden)]
#[inline(always)]
pub fn leaky_relu<S: Scalar>(slope: f64) -> super::LeakyRelu<S> {
    super::LeakyRelu::new(slope).unwrap_or_default()
}

/// Defines a multilayer perceptron whose every buffer is sized at compile time, with per-layer
/// fine-tuning modes. See [`nn::network`](crate::nn::network) for the syntax, the memory layout
/// and the generated API.
///
/// ```
/// edgetune::mlp! {
///     /// Two blobs, bias-only fine-tuning of a 3-layer net.
///     pub struct Blobs {
///         dense 2 -> 8, leaky_relu(0.1), bias;
///         dense 8 -> 8, sigmoid, bias;
///         dense 8 -> 2, bias;
///         loss softmax_cross_entropy;
///     }
/// }
/// assert_eq!(Blobs::<f32>::TRAINABLE, 8 + 8 + 2);
/// assert_eq!(Blobs::<f32>::TRAIN_BYTES, core::mem::size_of::<Blobs<f32>>());
/// ```
#[macro_export]
macro_rules! mlp {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($body:tt)* }) => {
        $crate::__mlp_parse! { [$(#[$meta])* $vis $name] [] $($body)* }
    };
}

/// Parses the layer lines of [`mlp!`](crate::mlp) into `{ I O (activation) Mode }` entries.
#[doc(hidden)]
#[macro_export]
macro_rules! __mlp_parse {
    ([$($h:tt)*] [$($l:tt)*] dense $i:literal -> $o:literal $($rest:tt)*) => {
        $crate::__mlp_parse! { @opts [$($h)*] [$($l)*] [$i $o] [] [] $($rest)* }
    };
    ([$($h:tt)*] [$($l:tt)*] loss softmax_cross_entropy ;) => {
        $crate::__mlp_index! {
            [$($h)*] softmax_cross_entropy [0] [even odd] [($crate::nn::network::Identity)] [] [] $($l)*
        }
    };
    ([$($h:tt)*] [$($l:tt)*] loss mse ;) => {
        $crate::__mlp_index! {
            [$($h)*] mse [0] [even odd] [($crate::nn::network::Identity)] [] [] $($l)*
        }
    };
    ([$($h:tt)*] [$($l:tt)*] loss $loss:ident ;) => {
        ::core::compile_error!(::core::concat!(
            "mlp!: unknown loss `", ::core::stringify!($loss),
            "`: use `softmax_cross_entropy` or `mse`"
        ));
    };
    (@opts $h:tt $l:tt $io:tt [] [] , relu $($rest:tt)*) => {
        $crate::__mlp_parse! { @opts $h $l $io [($crate::nn::Relu)] [] $($rest)* }
    };
    (@opts $h:tt $l:tt $io:tt [] [] , tanh $($rest:tt)*) => {
        $crate::__mlp_parse! { @opts $h $l $io [($crate::nn::Tanh)] [] $($rest)* }
    };
    (@opts $h:tt $l:tt $io:tt [] [] , sigmoid $($rest:tt)*) => {
        $crate::__mlp_parse! { @opts $h $l $io [($crate::nn::Sigmoid)] [] $($rest)* }
    };
    (@opts $h:tt $l:tt $io:tt [] [] , leaky_relu ($slope:literal) $($rest:tt)*) => {
        const _: () = ::core::assert!(
            ($slope as f64).is_finite() && $slope as f64 >= 0.0,
            "mlp!: the LeakyReLU slope must be finite and >= 0"
        );
        $crate::__mlp_parse! {
            @opts $h $l $io [($crate::nn::network::leaky_relu::<S>($slope as f64))] [] $($rest)*
        }
    };
    (@opts $h:tt $l:tt $io:tt [$($a:tt)*] [] , train $($rest:tt)*) => {
        $crate::__mlp_parse! { @opts $h $l $io [$($a)*] [Train] $($rest)* }
    };
    (@opts $h:tt $l:tt $io:tt [$($a:tt)*] [] , bias $($rest:tt)*) => {
        $crate::__mlp_parse! { @opts $h $l $io [$($a)*] [Bias] $($rest)* }
    };
    (@opts $h:tt $l:tt $io:tt [$($a:tt)*] [] , frozen $($rest:tt)*) => {
        $crate::__mlp_parse! { @opts $h $l $io [$($a)*] [Frozen] $($rest)* }
    };
    (@opts $h:tt [$($l:tt)*] [$i:literal $o:literal] [] [$($m:ident)?] ; $($rest:tt)*) => {
        $crate::__mlp_parse! { @opts $h [$($l)*] [$i $o] [($crate::nn::network::Identity)] [$($m)?] ; $($rest)* }
    };
    (@opts $h:tt [$($l:tt)*] [$i:literal $o:literal] [$a:tt] [] ; $($rest:tt)*) => {
        $crate::__mlp_parse! { @opts $h [$($l)*] [$i $o] [$a] [Train] ; $($rest)* }
    };
    (@opts $h:tt [$($l:tt)*] [$i:literal $o:literal] [$a:tt] [$m:ident] ; $($rest:tt)*) => {
        $crate::__mlp_parse! { $h [$($l)* { $i $o $a $m }] $($rest)* }
    };
    (@opts $h:tt $l:tt $io:tt $a:tt $m:tt $($rest:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "mlp!: expected `, relu`, `, leaky_relu(SLOPE)`, `, tanh`, `, sigmoid` (activation), then ",
            "`, train`, `, bias` or `, frozen` (mode), then `;`, near: ",
            ::core::stringify!($($rest)*)
        ));
    };
    ($h:tt $l:tt $($rest:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "mlp!: expected `dense I -> O ...;` lines then `loss softmax_cross_entropy;` or ",
            "`loss mse;`, near: ",
            ::core::stringify!($($rest)*)
        ));
    };
}

/// Gives every layer its index, its ping-pong buffer and the activation of the layer below, in
/// forward and in reverse order.
#[doc(hidden)]
#[macro_export]
macro_rules! __mlp_index {
    // The last layer writes the scratch's `out`.
    (
        $h:tt $loss:ident [$($k:tt)*] [$cur:ident $other:ident] [$pact:tt] [$($fwd:tt)*] [$($rev:tt)*]
        { $i:literal $o:literal $act:tt $m:ident }
    ) => {
        $crate::__mlp_index! {
            $h $loss [$($k)* + 1] [$other $cur] [$act]
            [$($fwd)* { ($($k)*) $i $o $act $m out $other $pact }]
            [{ ($($k)*) $i $o $act $m out $other $pact } $($rev)*]
        }
    };
    (
        $h:tt $loss:ident [$($k:tt)*] [$cur:ident $other:ident] [$pact:tt] [$($fwd:tt)*] [$($rev:tt)*]
        { $i:literal $o:literal $act:tt $m:ident } $($rest:tt)*
    ) => {
        $crate::__mlp_index! {
            $h $loss [$($k)* + 1] [$other $cur] [$act]
            [$($fwd)* { ($($k)*) $i $o $act $m $cur $other $pact }]
            [{ ($($k)*) $i $o $act $m $cur $other $pact } $($rev)*]
            $($rest)*
        }
    };
    ($h:tt $loss:ident $k:tt $bufs:tt $pact:tt [$({ $kk:tt $i:literal $o:literal $act:tt $m:ident $cur:ident $other:ident $pa:tt })*] $rev:tt) => {
        $crate::__mlp_emit! {
            $h $loss
            (&[$($crate::nn::network::LayerSpec {
                inputs: $i,
                outputs: $o,
                mode: $crate::nn::network::Mode::$m,
            }),*])
            [$({ $kk $i $o $act $m $cur $other $pa })*] $rev
        }
    };
}

/// The target type and the loss call of each loss of [`mlp!`](crate::mlp).
#[doc(hidden)]
#[macro_export]
macro_rules! __mlp_loss {
    (type softmax_cross_entropy, $s:ty, $n:expr) => {
        usize
    };
    (type mse, $s:ty, $n:expr) => {
        &[$s; $n]
    };
    (run softmax_cross_entropy, $z:expr, $t:expr, $dz:expr) => {
        $crate::nn::softmax_cross_entropy($z, $t, $dz)
    };
    (run mse, $z:expr, $t:expr, $dz:expr) => {
        ::core::result::Result::Ok($crate::nn::mse($z, $t, $dz))
    };
}

/// Writes the network struct and its methods.
#[doc(hidden)]
#[macro_export]
macro_rules! __mlp_emit {
    (
        [$(#[$meta:meta])* $vis:vis $name:ident] $loss:ident $spec:tt
        [$({ $k:tt $i:literal $o:literal ($($act:tt)*) $m:ident $cur:ident $other:ident $pact:tt })*]
        [$({ $rk:tt $ri:literal $ro:literal $ract:tt $rm:ident $rcur:ident $rother:ident ($($rpact:tt)*) })*]
    ) => {
        const _: () = ::core::assert!(
            $crate::nn::network::chain_ok($spec),
            ::core::concat!(
                "mlp! ", ::core::stringify!($name), ": every layer's input count must equal the output ",
                "count of the layer before, and no size may be 0"
            )
        );

        $(#[$meta])*
        ///
        /// Generated by [`edgetune::mlp!`]: see `edgetune::nn::network` for the layout, the RAM
        /// constants and the methods.
        #[derive(Clone, Debug)]
        $vis struct $name<S, F = [S; $crate::nn::network::frozen($spec)]> {
            frozen: F,
            trainable: [S; $crate::nn::network::trainable($spec)],
            grads: [S; $crate::nn::network::trainable($spec)],
            kept: [S; $crate::nn::network::kept_activations($spec)],
            dlogits: [S; $crate::nn::network::outputs($spec)],
            work: $crate::nn::network::Scratch<
                S,
                { $crate::nn::network::hidden_width($spec, false) },
                { $crate::nn::network::hidden_width($spec, true) },
                { $crate::nn::network::outputs($spec) },
            >,
        }

        #[allow(dead_code)]
        impl<S: $crate::nn::Scalar> $name<S> {
            /// The layer table every size is computed from.
            pub const LAYERS: &'static [$crate::nn::network::LayerSpec] = $spec;
            /// All parameters.
            pub const PARAMS: usize = $crate::nn::network::params($spec);
            /// Elements the optimizer steps (the trainable arena, and the gradient arena).
            pub const TRAINABLE: usize = $crate::nn::network::trainable($spec);
            /// Elements no optimizer touches (the frozen arena).
            pub const FROZEN: usize = $crate::nn::network::frozen($spec);
            /// Elements kept from forward for backward: activations and the loss gradient.
            pub const KEPT: usize = $crate::nn::network::kept_activations($spec)
                + $crate::nn::network::outputs($spec);
            /// Elements of the forward scratch (two ping-pong buffers and the outputs).
            pub const SCRATCH: usize = $crate::nn::network::hidden_width($spec, false)
                + $crate::nn::network::hidden_width($spec, true)
                + $crate::nn::network::outputs($spec);
            /// Inputs of the first layer.
            pub const INPUTS: usize = $crate::nn::network::inputs($spec);
            /// Outputs of the last layer.
            pub const OUTPUTS: usize = $crate::nn::network::outputs($spec);
            /// Bytes of the frozen parameters (RAM unless they are referenced in flash).
            pub const FROZEN_BYTES: usize = Self::FROZEN * ::core::mem::size_of::<S>();
            /// RAM for inference: every parameter plus the scratch, `(PARAMS + SCRATCH)·size_of::<S>()`.
            pub const INFER_BYTES: usize =
                (Self::PARAMS + Self::SCRATCH) * ::core::mem::size_of::<S>();
            /// RAM for training without the optimizer, `size_of::<Self>()`:
            /// `(PARAMS + TRAINABLE + KEPT + SCRATCH)·size_of::<S>()`.
            pub const TRAIN_BYTES: usize = (Self::PARAMS
                + Self::TRAINABLE
                + Self::KEPT
                + Self::SCRATCH)
                * ::core::mem::size_of::<S>();

            /// [`TRAIN_BYTES`](Self::TRAIN_BYTES) plus the optimizer `O` (its moments,
            /// configuration and step counter).
            pub const fn train_bytes_with<O>() -> usize {
                Self::TRAIN_BYTES + ::core::mem::size_of::<O>()
            }

            /// Everything zero, frozen parameters in RAM (`const`: a `static` in `.bss`); fill it
            /// with `import`.
            pub const fn zeroed() -> Self {
                Self::with_frozen([<S as $crate::num::StateValue>::ZERO; $crate::nn::network::frozen($spec)])
            }

            /// A zeroed scratch for [`forward`](Self::forward).
            pub const fn scratch() -> $crate::nn::network::Scratch<
                S,
                { $crate::nn::network::hidden_width($spec, false) },
                { $crate::nn::network::hidden_width($spec, true) },
                { $crate::nn::network::outputs($spec) },
            > {
                $crate::nn::network::Scratch::zeroed()
            }

            /// The frozen elements of all parameters in torch order (`const`: builds a flash
            /// `static` for `with_frozen(&FROZEN)` at compile time).
            pub const fn split_frozen(
                all: &[S; $crate::nn::network::params($spec)],
            ) -> [S; $crate::nn::network::frozen($spec)] {
                $crate::nn::network::gather($spec, all, false)
            }

            /// The trainable elements of all parameters in torch order (`const`).
            pub const fn split_trainable(
                all: &[S; $crate::nn::network::params($spec)],
            ) -> [S; $crate::nn::network::trainable($spec)] {
                $crate::nn::network::gather($spec, all, true)
            }

            /// Loads all parameters from one flat slice in torch order (`dense 0 W` row by row,
            /// `b`, `dense 1 W`, ...). [`LengthMismatch`]($crate::Error::LengthMismatch), with
            /// nothing written, unless it has exactly `PARAMS` elements.
            pub fn import(&mut self, src: &[S]) -> ::core::result::Result<(), $crate::Error> {
                $crate::nn::network::import($spec, Some(&mut self.frozen[..]), &mut self.trainable, src)
            }
        }

        #[allow(dead_code)]
        impl<S, F> $name<S, F>
        where
            S: $crate::nn::Scalar,
            F: $crate::nn::network::FrozenParams<S, { $crate::nn::network::frozen($spec) }>,
        {
            /// A network over the given frozen parameters and trainable arena.
            pub const fn from_parts(
                frozen: F,
                trainable: [S; $crate::nn::network::trainable($spec)],
            ) -> Self {
                $name {
                    frozen,
                    trainable,
                    grads: [<S as $crate::num::StateValue>::ZERO; $crate::nn::network::trainable($spec)],
                    kept: [<S as $crate::num::StateValue>::ZERO; $crate::nn::network::kept_activations($spec)],
                    dlogits: [<S as $crate::num::StateValue>::ZERO; $crate::nn::network::outputs($spec)],
                    work: $crate::nn::network::Scratch::zeroed(),
                }
            }

            /// A network over the given frozen parameters (for example `&FLASH_STATIC`), with the
            /// trainable arena zeroed (fill it with `import_trainable`).
            pub const fn with_frozen(frozen: F) -> Self {
                Self::from_parts(
                    frozen,
                    [<S as $crate::num::StateValue>::ZERO; $crate::nn::network::trainable($spec)],
                )
            }

            /// The outputs (logits) for input `x`, computed in `scratch`; `&self` only reads.
            pub fn forward<'s>(
                &self,
                x: &[S; $crate::nn::network::inputs($spec)],
                scratch: &'s mut $crate::nn::network::Scratch<
                    S,
                    { $crate::nn::network::hidden_width($spec, false) },
                    { $crate::nn::network::hidden_width($spec, true) },
                    { $crate::nn::network::outputs($spec) },
                >,
            ) -> &'s [S; $crate::nn::network::outputs($spec)] {
                Self::run_forward(self.frozen.params(), &self.trainable, x, scratch, None);
                &scratch.out
            }

            /// [`forward`](Self::forward) in the network's own scratch.
            pub fn infer(
                &mut self,
                x: &[S; $crate::nn::network::inputs($spec)],
            ) -> &[S; $crate::nn::network::outputs($spec)] {
                Self::run_forward(self.frozen.params(), &self.trainable, x, &mut self.work, None);
                &self.work.out
            }

            /// The index of the largest output (the predicted class; ties go to the lowest).
            pub fn predict(&mut self, x: &[S; $crate::nn::network::inputs($spec)]) -> usize {
                $crate::nn::network::argmax(self.infer(x))
            }

            /// Forward and loss only (evaluation); the gradient arena is not touched.
            pub fn loss(
                &mut self,
                x: &[S; $crate::nn::network::inputs($spec)],
                target: $crate::__mlp_loss!(type $loss, S, $crate::nn::network::outputs($spec)),
            ) -> ::core::result::Result<S, $crate::nn::NnError> {
                Self::run_forward(self.frozen.params(), &self.trainable, x, &mut self.work, None);
                $crate::__mlp_loss!(run $loss, &self.work.out, target, &mut self.dlogits)
            }

            /// Forward, loss and backward for one sample: **adds** the gradient of the loss into
            /// the gradient arena (call [`zero_grad`](Self::zero_grad) between batches) and
            /// returns the loss. An invalid target is an error and leaves the gradients as they
            /// were. Frozen layers get no gradient; backward stops at the first trainable layer.
            pub fn accumulate(
                &mut self,
                x: &[S; $crate::nn::network::inputs($spec)],
                target: $crate::__mlp_loss!(type $loss, S, $crate::nn::network::outputs($spec)),
            ) -> ::core::result::Result<S, $crate::nn::NnError> {
                let frozen = self.frozen.params();
                Self::run_forward(frozen, &self.trainable, x, &mut self.work, Some(&mut self.kept));
                let loss = $crate::__mlp_loss!(run $loss, &self.work.out, target, &mut self.dlogits)?;
                Self::run_backward(
                    frozen,
                    &self.trainable,
                    &mut self.grads,
                    x,
                    &self.kept,
                    &mut self.work,
                    &mut self.dlogits,
                );
                Ok(loss)
            }

            /// Sets every gradient to zero.
            pub fn zero_grad(&mut self) {
                self.grads = [<S as $crate::num::StateValue>::ZERO; $crate::nn::network::trainable($spec)];
            }

            /// The gradient arena (same layout as [`trainable`](Self::trainable)).
            pub fn grads(&self) -> &[S; $crate::nn::network::trainable($spec)] {
                &self.grads
            }

            /// The gradient arena, mutably (for example to scale a summed batch gradient).
            pub fn grads_mut(&mut self) -> &mut [S; $crate::nn::network::trainable($spec)] {
                &mut self.grads
            }

            /// The trainable arena: every trainable element in torch order.
            pub fn trainable(&self) -> &[S; $crate::nn::network::trainable($spec)] {
                &self.trainable
            }

            /// The trainable arena, mutably (what an optimizer steps).
            pub fn trainable_mut(&mut self) -> &mut [S; $crate::nn::network::trainable($spec)] {
                &mut self.trainable
            }

            /// The trainable arena and the gradient arena together, as
            /// `Optimizer::step(params, grads)` takes them.
            pub fn trainable_and_grads(
                &mut self,
            ) -> (
                &mut [S; $crate::nn::network::trainable($spec)],
                &[S; $crate::nn::network::trainable($spec)],
            ) {
                (&mut self.trainable, &self.grads)
            }

            /// The frozen parameters: every frozen element in torch order.
            pub fn frozen(&self) -> &[S; $crate::nn::network::frozen($spec)] {
                self.frozen.params()
            }

            /// Writes all parameters into `out` in torch order. [`LengthMismatch`]($crate::Error::LengthMismatch),
            /// with nothing written, unless it has exactly `PARAMS` elements.
            pub fn export(&self, out: &mut [S]) -> ::core::result::Result<(), $crate::Error> {
                $crate::nn::network::export($spec, self.frozen.params(), &self.trainable, out)
            }

            /// Loads the trainable elements from all parameters in torch order (`PARAMS`
            /// elements; the frozen ones are skipped, so this works with frozen parameters in
            /// flash). [`LengthMismatch`]($crate::Error::LengthMismatch), with nothing written,
            /// on any other length.
            pub fn import_trainable(&mut self, src: &[S]) -> ::core::result::Result<(), $crate::Error> {
                $crate::nn::network::import($spec, None, &mut self.trainable, src)
            }

            // Every view below is sized by the same `const fn`s as the arrays it is cut from, so
            // none of the `?` can fail; if one did, buffers would be left partly written (never a
            // panic). The tests run every mode through every path.
            fn run_forward(
                frozen: &[S],
                trainable: &[S],
                x: &[S],
                work: &mut $crate::nn::network::Scratch<
                    S,
                    { $crate::nn::network::hidden_width($spec, false) },
                    { $crate::nn::network::hidden_width($spec, true) },
                    { $crate::nn::network::outputs($spec) },
                >,
                kept: Option<&mut [S]>,
            ) -> Option<()> {
                const LAYERS: &[$crate::nn::network::LayerSpec] = $spec;
                let mut fz: &[S] = frozen;
                let mut tr: &[S] = trainable;
                let training = kept.is_some();
                let mut kept: &mut [S] = kept.unwrap_or_default();
                let prev: &[S] = x;
                $(
                    let w = if const { LAYERS[$k].trains_weights() } {
                        $crate::nn::network::take_w::<S, $i, $o>(&mut tr)
                    } else {
                        $crate::nn::network::take_w::<S, $i, $o>(&mut fz)
                    }?;
                    let b = if const { LAYERS[$k].trains_bias() } {
                        $crate::nn::network::take::<S, $o>(&mut tr)
                    } else {
                        $crate::nn::network::take::<S, $o>(&mut fz)
                    }?;
                    let input: &[S; $i] = prev.first_chunk::<$i>()?;
                    let out: &mut [S; $o] = if training && const { $crate::nn::network::keeps_input(LAYERS, $k + 1) } {
                        $crate::nn::network::take_mut::<S, $o>(&mut kept)?
                    } else {
                        work.$cur.first_chunk_mut::<$o>()?
                    };
                    $crate::nn::dense::forward(w, b, input, out);
                    $crate::nn::Activation::<S>::forward_in_place(&$($act)*, out);
                    let prev: &[S] = out;
                )*
                let _ = (prev, kept, fz, tr);
                Some(())
            }

            #[allow(clippy::too_many_arguments)]
            fn run_backward(
                frozen: &[S],
                trainable: &[S],
                grads: &mut [S],
                x: &[S],
                kept: &[S],
                work: &mut $crate::nn::network::Scratch<
                    S,
                    { $crate::nn::network::hidden_width($spec, false) },
                    { $crate::nn::network::hidden_width($spec, true) },
                    { $crate::nn::network::outputs($spec) },
                >,
                dlogits: &mut [S],
            ) -> Option<()> {
                const LAYERS: &[$crate::nn::network::LayerSpec] = $spec;
                let mut fz: &[S] = frozen;
                let mut tr: &[S] = trainable;
                let mut gr: &mut [S] = grads;
                let mut kept: &[S] = kept;
                let dy: &mut [S] = dlogits;
                $(
                    let dy: &mut [S] = if const { $crate::nn::network::in_backward(LAYERS, $rk) } {
                        let trains_w = const { LAYERS[$rk].trains_weights() };
                        let trains_b = const { LAYERS[$rk].trains_bias() };
                        // From the back of each arena: b, then W.
                        if trains_b {
                            $crate::nn::network::take_back::<S, $ro>(&mut tr)?;
                        } else {
                            $crate::nn::network::take_back::<S, $ro>(&mut fz)?;
                        }
                        let w = if trains_w {
                            $crate::nn::network::take_w_back::<S, $ri, $ro>(&mut tr)
                        } else {
                            $crate::nn::network::take_w_back::<S, $ri, $ro>(&mut fz)
                        }?;
                        let db = if trains_b {
                            Some($crate::nn::network::take_back_mut::<S, $ro>(&mut gr)?)
                        } else {
                            None
                        };
                        let dw = if trains_w {
                            Some($crate::nn::network::take_w_back_mut::<S, $ri, $ro>(&mut gr)?)
                        } else {
                            None
                        };
                        let input: Option<&[S; $ri]> =
                            if const { $crate::nn::network::keeps_input(LAYERS, $rk) } {
                                Some($crate::nn::network::take_back::<S, $ri>(&mut kept)?)
                            } else if const { $rk == 0 } {
                                Some(x.first_chunk::<$ri>()?)
                            } else {
                                None
                            };
                        let dyv: &mut [S; $ro] = dy.first_chunk_mut::<$ro>()?;
                        let mut dx: Option<&mut [S; $ri]> =
                            if const { $crate::nn::network::has_input_grad(LAYERS, $rk) } {
                                Some(work.$rother.first_chunk_mut::<$ri>()?)
                            } else {
                                None
                            };
                        match (dw, db) {
                            (Some(dw), Some(db)) => {
                                $crate::nn::dense::backward(w, input?, dyv, Some((dw, db)), dx.as_deref_mut());
                            }
                            (_, db) => {
                                if let Some(db) = db {
                                    $crate::nn::network::add_into(db, dyv);
                                }
                                if let Some(dx) = dx.as_deref_mut() {
                                    $crate::nn::dense::backward(w, input?, dyv, None, Some(dx));
                                }
                            }
                        }
                        match dx {
                            Some(dx) => {
                                $crate::nn::Activation::<S>::backward_in_place(&$($rpact)*, input?, dx);
                                dx
                            }
                            None => &mut [],
                        }
                    } else {
                        // Below the first trainable layer: nothing left to do.
                        let _ = dy;
                        &mut []
                    };
                )*
                let _ = (dy, kept, gr, fz, tr);
                Some(())
            }
        }
    };
}
