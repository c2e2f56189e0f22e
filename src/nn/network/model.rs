//! [`Network`]: what every network offers, whatever its layers, so that one training function
//! serves them all.
//!
//! # Why a trait with slices
//! A generated network's sizes are literals in its own type, but generic code cannot name
//! `[S; Net::INPUTS]` on stable Rust ("generic parameters may not be used in const
//! operations"). The trait therefore takes and returns slices, checks their lengths at run time
//! ([`Error::LengthMismatch`]) and exposes the sizes as associated constants; the generated
//! inherent methods keep their array signatures for code that names the concrete type.
//!
//! An optimizer `O: Optimizer<S, N>` is stepped from generic code with
//! [`Optimizer::step_slices`](crate::optim::Optimizer::step_slices) on
//! [`trainable_and_grads`](Network::trainable_and_grads): `N` is inferred from `O`'s type at the
//! call site, and a mismatch with [`TRAINABLE`](Network::TRAINABLE) is a `LengthMismatch`.
//!
//! # Bad input
//! Every input (and every regression target) is read once before anything else happens. A value
//! [`Num::is_usable_gradient`](crate::num::Num::is_usable_gradient) rejects (NaN or ±∞ in
//! floating point, the saturated `MIN`/`MAX` in fixed point, which is what a NaN or an
//! out-of-range `f64` becomes through `from_f64`) is an [`Error::InvalidInput`] or
//! [`Error::InvalidTarget`] with its index, and nothing (parameters, gradients) is changed. A
//! class label that is not below [`OUTPUTS`](Network::OUTPUTS) is
//! [`NnError::LabelOutOfRange`](crate::nn::NnError::LabelOutOfRange), again with nothing changed.
//! Parameters are not checked (an optimizer step with finite gradients keeps them usable).

use core::ops::Range;

use crate::error::ValueFault;
use crate::nn::Scalar;
use crate::Error;

/// Where one layer's parameters lie in the trainable arena: `None` for a run that is frozen
/// (or that the layer does not have).
///
/// ```
/// use edgetune::nn::network::{LayerRanges, Network};
/// edgetune::mlp! {
///     struct Net {
///         dense 3 -> 4, relu, frozen;
///         dense 4 -> 2;
///         loss softmax_cross_entropy;
///     }
/// }
/// assert_eq!(<Net<f32> as Network<f32>>::layer_ranges(0), Some(LayerRanges { weights: None, bias: None }));
/// assert_eq!(
///     <Net<f32> as Network<f32>>::layer_ranges(1),
///     Some(LayerRanges { weights: Some(0..8), bias: Some(8..10) })
/// );
/// assert_eq!(<Net<f32> as Network<f32>>::layer_ranges(2), None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerRanges {
    /// The weights' elements in the trainable arena, if they train.
    pub weights: Option<Range<usize>>,
    /// The bias's elements in the trainable arena, if it trains.
    pub bias: Option<Range<usize>>,
}

/// One layer as initialisation sees it: its fans, how many weights and biases it has (in torch
/// order: all weights, then all biases) and how much of each run trains.
///
/// For a dense layer `fan_in = I`, `fan_out = O`; for a convolution `fan_in = C_in·K` and
/// `fan_out = C_out·K`, as torch's `_calculate_fan_in_and_fan_out` computes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerShape {
    /// Inputs that feed one output (torch's `fan_in`).
    pub fan_in: usize,
    /// Outputs one input feeds (torch's `fan_out`).
    pub fan_out: usize,
    /// Number of weight elements.
    pub weights: usize,
    /// Number of bias elements.
    pub bias: usize,
    /// How many leading weights are in the trainable arena (all, none, or the leading output
    /// channels' of a sparse update); the rest are frozen.
    pub trained_weights: usize,
    /// How many leading biases are in the trainable arena.
    pub trained_bias: usize,
    /// A per-channel scale and shift (a batch norm's affine form): every initialiser sets the
    /// scale to 1 and the shift to 0, as torch initialises `BatchNorm`, and draws nothing.
    pub scale: bool,
}

/// The index and the fault of the first value in `values` that cannot be used as a network
/// input or target (see [`Network`]), or `None`. One read pass.
#[inline]
pub fn first_invalid<S: Scalar>(values: &[S]) -> Option<(usize, ValueFault)> {
    let i = S::first_unusable(values)?;
    let v = values.get(i)?.to_f64();
    // A float that is unusable is NaN or infinite; a fixed-point one is finite but saturated.
    let fault = if v.is_finite() {
        ValueFault::OutOfRange
    } else {
        ValueFault::NotFinite
    };
    Some((i, fault))
}

/// [`Error::InvalidInput`] for the first unusable element of `x`.
#[inline]
pub fn check_input<S: Scalar>(x: &[S]) -> Result<(), Error> {
    match first_invalid(x) {
        Some((index, fault)) => Err(Error::InvalidInput { index, fault }),
        None => Ok(()),
    }
}

/// [`Error::InvalidTarget`] for the first unusable element of a regression target.
#[inline]
pub fn check_target<S: Scalar>(t: &[S]) -> Result<(), Error> {
    match first_invalid(t) {
        Some((index, fault)) => Err(Error::InvalidTarget { index, fault }),
        None => Ok(()),
    }
}

/// A network with a trainable parameter arena: what a training loop, an initialiser and an
/// evaluator need, over slices, whatever the layers. Every [`mlp!`](crate::mlp) network
/// implements it.
///
/// Inference (`forward_into`, `predict`, `loss`) borrows the network immutably and works in a
/// scratch on the stack (`SCRATCH` elements of `S`, the widest pair of hidden layers plus the
/// outputs); training (`accumulate`) uses the network's own buffers.
pub trait Network<S: Scalar> {
    /// Inputs of the first layer.
    const INPUTS: usize;
    /// Outputs of the last layer (the classes, for softmax cross-entropy).
    const OUTPUTS: usize;
    /// All parameters, frozen and trainable.
    const PARAMS: usize;
    /// Elements of the trainable arena (what the optimizer steps).
    const TRAINABLE: usize;
    /// Elements of the frozen arena.
    const FROZEN: usize;
    /// Number of layers with parameters (the valid `k` of [`layer_shape`](Network::layer_shape)).
    const LAYER_COUNT: usize;

    /// What the loss compares the outputs with, borrowed by every method: `usize` (a class
    /// index) for softmax cross-entropy, `[S]` (`OUTPUTS` values) for mean squared error.
    type Target: ?Sized;

    /// Layer `k`'s shape, or `None` past the last layer.
    fn layer_shape(k: usize) -> Option<LayerShape>;

    /// Where layer `k`'s weights and bias lie in the trainable arena, or `None` past the last
    /// layer.
    fn layer_ranges(k: usize) -> Option<LayerRanges>;

    /// Checks one sample without touching the network: the input's length and values, and the
    /// target (label range, or length and values).
    fn check_sample(x: &[S], target: &Self::Target) -> Result<(), Error>;

    /// Writes the outputs (logits) for input `x` into `out` (`OUTPUTS` elements).
    fn forward_into(&self, x: &[S], out: &mut [S]) -> Result<(), Error>;

    /// The index of the largest output (the predicted class; ties go to the lowest).
    fn predict(&self, x: &[S]) -> Result<usize, Error>;

    /// Forward and loss for one sample; nothing is changed.
    fn loss(&self, x: &[S], target: &Self::Target) -> Result<S, Error>;

    /// Forward and loss for one sample, with whether the prediction is right (`Some` for a
    /// classifier: the largest output is the target class; `None` for a regressor). Nothing is
    /// changed.
    fn evaluate_sample(&self, x: &[S], target: &Self::Target) -> Result<(S, Option<bool>), Error>;

    /// Forward, loss and backward for one sample: **adds** the loss gradient into the gradient
    /// arena and returns the loss. A bad sample is an error with the gradients unchanged.
    fn accumulate(&mut self, x: &[S], target: &Self::Target) -> Result<S, Error>;

    /// [`accumulate`](Network::accumulate) for a sample that has already passed
    /// [`check_sample`](Network::check_sample), without reading its values a second time: the
    /// [`Trainer`](crate::train::Trainer) checks a whole batch before it writes anything. Lengths
    /// and labels are still checked; unchecked non-finite values would reach the gradients,
    /// where the optimizer's own check refuses them.
    #[doc(hidden)]
    fn accumulate_checked(&mut self, x: &[S], target: &Self::Target) -> Result<S, Error> {
        self.accumulate(x, target)
    }

    /// Sets every gradient to zero.
    fn zero_grad(&mut self);

    /// The trainable arena, torch order.
    fn trainable(&self) -> &[S];

    /// The trainable arena, mutably.
    fn trainable_mut(&mut self) -> &mut [S];

    /// The gradient arena (same layout as [`trainable`](Network::trainable)).
    fn grads(&self) -> &[S];

    /// The gradient arena, mutably.
    fn grads_mut(&mut self) -> &mut [S];

    /// The trainable and gradient arenas together, as
    /// [`Optimizer::step_slices`](crate::optim::Optimizer::step_slices) takes them.
    fn trainable_and_grads(&mut self) -> (&mut [S], &[S]);

    /// The frozen arena, torch order.
    fn frozen(&self) -> &[S];

    /// The frozen arena mutably, if it is held in RAM (`None` when it is referenced, e.g. in
    /// flash).
    fn frozen_mut(&mut self) -> Option<&mut [S]>;

    /// Writes all parameters in torch order into `out` (`PARAMS` elements).
    fn export(&self, out: &mut [S]) -> Result<(), Error>;

    /// Loads the trainable elements from all parameters in torch order (`PARAMS` elements; the
    /// frozen ones are skipped).
    fn import_trainable(&mut self, src: &[S]) -> Result<(), Error>;

    /// Loads all parameters in torch order (`PARAMS` elements). With the frozen part not in RAM
    /// this is a [`LengthMismatch`](Error::LengthMismatch) with `expected = FROZEN`, `found =
    /// 0`, nothing written; use [`import_trainable`](Network::import_trainable) there.
    fn import(&mut self, src: &[S]) -> Result<(), Error>;

    /// Initialises the parameters with `init` from `seed` (see [`nn::init`](crate::nn::init)):
    /// every value is drawn in torch order, so the result equals
    /// [`init::fill`](crate::nn::init::fill) over the flat parameters, and is the same for every
    /// number type. Frozen parameters not in RAM are skipped (their draws are still made, so the
    /// trainable ones get the same values either way). The gradients are not touched.
    fn init(&mut self, init: crate::nn::init::Init, seed: u64) -> Result<(), Error> {
        crate::nn::init::init_network::<S, Self>(self, init, seed)
    }
}
