//! Plain, independent `f64` reference multilayer perceptron, for host-side agreement tests of whole networks.
//!
//! Like the optimizers in [`super`], it shares no code with the rest of the crate: nothing from `crate::nn`
//! (or anything else outside `reference`) is used. It favours plainness over speed: every layer is a
//! `Vec<Vec<f64>>`, every pass a plain loop, each line one formula.
//!
//! # Model
//! A [`RefMlp`] is a stack of dense layers, each followed by one [`RefActivation`] (use
//! [`RefActivation::None`] for a linear layer; the last layer usually has none, its output being the logits).
//! `torch.nn.Sequential(Linear(3, 4), ReLU(), Linear(4, 2))` is
//! `layers = [3 → 4, 4 → 2]`, `activations = [Relu, None]`.
//!
//! A [`RefDense`] stores its weights as torch's `nn.Linear` does: `w[o][i]` (`[out][in]`), `y = W·x + b`.
//!
//! # Flat parameter order
//! The flat order is torch's `state_dict` order: layer 0's `weight` row-major (`w[0][0], w[0][1], …,
//! w[1][0], …`), then layer 0's `bias`, then layer 1's `weight` and `bias`, and so on. [`RefMlp::from_flat`],
//! [`RefMlp::load_flat`] and [`RefMlp::to_flat`] use it, and so do the gradients.
//!
//! # Loss
//! The [`RefTarget`] picks the loss: [`RefTarget::Class`] is softmax cross-entropy on the network's output
//! (the logits, max-subtracted: torch's `F.cross_entropy`), [`RefTarget::Values`] is the mean squared error
//! over the outputs (torch's `F.mse_loss`, mean reduction). A mini-batch takes the mean over its samples, as
//! torch's default `reduction="mean"` does.
//!
//! # Fine-tuning
//! Each layer has two flags: `trainable` (false: frozen, nothing in it changes) and `bias_only` (only its
//! bias changes, its weights are frozen; has no effect on a frozen layer). Gradients keep the full flat layout,
//! with exactly `0.0` at every frozen element; the optimizer steps only the trainable elements, gathered in
//! flat order into one vector ([`RefMlp::trainable_params`]).
//!
//! Compiled only with the `reference` feature (which links `std`).

// The loops index several slices with the same index on purpose: each line then reads like its formula.
#![allow(clippy::needless_range_loop)]

use core::fmt;
use std::vec;
use std::vec::Vec;

use super::{Hyper, Kind, RefError, Reference};
use crate::ValueFault;

/// The activation applied to a layer's output.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RefActivation {
    /// Identity (a linear layer).
    None,
    /// `max(0, z)`; derivative 0 at `z = 0` (torch's convention).
    Relu,
    /// `z` for `z > 0`, `slope·z` otherwise; derivative `slope` at `z = 0` (torch's convention).
    LeakyRelu(f64),
    /// `min(max(z, 0), 6)`; derivative 1 for `0 < z < 6` and 0 elsewhere, both kinks included (torch's
    /// `relu6` is `hardtanh(z, 0, 6)`, whose backward passes the gradient only strictly inside the bounds).
    Relu6,
    /// `tanh(z)`.
    Tanh,
    /// `1 / (1 + exp(−z))`.
    Sigmoid,
}

impl RefActivation {
    /// The activation of the pre-activation `z`.
    pub fn apply(self, z: f64) -> f64 {
        match self {
            RefActivation::None => z,
            // torch: relu(z) = z > 0 ? z : 0
            RefActivation::Relu => {
                if z > 0.0 {
                    z
                } else {
                    0.0
                }
            }
            // torch: leaky_relu(z) = z > 0 ? z : z * slope
            RefActivation::LeakyRelu(slope) => {
                if z > 0.0 {
                    z
                } else {
                    z * slope
                }
            }
            // torch: hardtanh(z, 0, 6) = min(max(z, 0), 6) (NaN stays NaN)
            RefActivation::Relu6 => z.clamp(0.0, 6.0),
            RefActivation::Tanh => z.tanh(),
            RefActivation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
        }
    }

    /// The derivative `d act / dz` at `z`. At the kinks, torch's choice: 0 for ReLU at `z = 0`, `slope` for
    /// LeakyReLU at `z = 0`, 0 for ReLU6 at both `z = 0` and `z = 6`.
    pub fn derivative(self, z: f64) -> f64 {
        match self {
            RefActivation::None => 1.0,
            // torch: relu backward = z > 0 ? 1 : 0
            RefActivation::Relu => {
                if z > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            // torch: leaky_relu backward = z > 0 ? 1 : slope
            RefActivation::LeakyRelu(slope) => {
                if z > 0.0 {
                    1.0
                } else {
                    slope
                }
            }
            // torch: hardtanh backward = (z > 0 && z < 6) ? 1 : 0
            RefActivation::Relu6 => {
                if z > 0.0 && z < 6.0 {
                    1.0
                } else {
                    0.0
                }
            }
            // tanh' = 1 - tanh²
            RefActivation::Tanh => {
                let y = z.tanh();
                1.0 - y * y
            }
            // σ' = σ (1 - σ)
            RefActivation::Sigmoid => {
                let y = 1.0 / (1.0 + (-z).exp());
                y * (1.0 - y)
            }
        }
    }
}

/// What one sample's output is compared with; it also picks the loss.
#[derive(Clone, Debug, PartialEq)]
pub enum RefTarget {
    /// Softmax cross-entropy with this class index (`0 ≤ class < outputs`).
    Class(usize),
    /// Mean squared error against these values (one per output).
    Values(Vec<f64>),
}

/// Error of the reference network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefNetError {
    /// A slice or list does not have the length required.
    LengthMismatch {
        /// What was measured: `"parameters"`, `"trainable parameters"`, `"activations"`, `"input"`,
        /// `"target values"`, `"targets"` (one per input of a batch) or `"labels"` (one per input of
        /// [`RefMlp::accuracy`]).
        what: &'static str,
        /// The length required.
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// Layer `layer` is malformed: a size is 0, its rows or bias disagree with each other, or its input
    /// size is not the previous layer's output size.
    Shape {
        /// Index of the layer.
        layer: usize,
        /// The size required: 1 (at least) for an empty layer, the number of biases for the number of weight
        /// rows, the first row's length for another row, the previous layer's outputs for the inputs.
        expected: usize,
        /// The size found.
        found: usize,
    },
    /// The network has no layer.
    NoLayers,
    /// Layer `layer` of a [`RefCnn`](super::cnn::RefCnn) cannot be built: a size, kernel, stride or
    /// group count is 0, `groups` does not divide the channels, the kernel does not fit the padded input,
    /// a pool's padding is not smaller than its window, or the input shape has a zero dimension
    /// (reported as layer 0). Size mismatches with the incoming tensor are [`RefNetError::Shape`].
    InvalidLayer {
        /// Index of the layer.
        layer: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A mini-batch has no sample.
    EmptyBatch,
    /// A class target is not below the number of outputs.
    ClassOutOfRange {
        /// The class given.
        class: usize,
        /// The number of outputs.
        outputs: usize,
    },
    /// [`argmax`] was given no value.
    NoValues,
    /// An input element is NaN or infinite. Nothing was changed.
    InvalidInput {
        /// Index of the sample in the batch (0 for the single-sample methods).
        sample: usize,
        /// Index of the first offending element of that input.
        index: usize,
        /// What is wrong with it (always [`ValueFault::NotFinite`] for `f64`).
        fault: ValueFault,
    },
    /// A [`RefTarget::Values`] element is NaN or infinite. Nothing was changed.
    InvalidTarget {
        /// Index of the sample in the batch (0 for the single-sample methods).
        sample: usize,
        /// Index of the first offending element of that target.
        index: usize,
        /// What is wrong with it (always [`ValueFault::NotFinite`] for `f64`).
        fault: ValueFault,
    },
    /// The optimizer refused the step: its `n` is not the number of trainable parameters, a hyperparameter is
    /// invalid, or a gradient is not finite.
    Optimizer(RefError),
}

impl From<RefNetError> for crate::Error {
    /// Each kind becomes the crate error that means the same. The reference's `what`, `layer` and `sample`
    /// fields have no place in [`crate::Error`] and are dropped.
    ///
    /// - `LengthMismatch`, `Shape` → [`crate::Error::LengthMismatch`] with the same sizes;
    /// - `NoLayers`, `NoValues` → [`crate::Error::LengthMismatch`] `{ expected: 1, found: 0 }` (at least one
    ///   layer or value was needed; the generic network and heads cannot be empty, their types forbid it);
    /// - `InvalidLayer` → [`crate::nn::NnError::InvalidShape`];
    /// - `EmptyBatch` → [`crate::train::TrainError::NothingAccumulated`] (the mean of no sample);
    /// - `ClassOutOfRange` → [`crate::nn::NnError::LabelOutOfRange`];
    /// - `InvalidInput`, `InvalidTarget` → [`crate::Error::InvalidInput`], [`crate::Error::InvalidTarget`];
    /// - `Optimizer(e)` → the conversion of `e`.
    fn from(e: RefNetError) -> crate::Error {
        match e {
            RefNetError::LengthMismatch {
                expected, found, ..
            }
            | RefNetError::Shape {
                expected, found, ..
            } => crate::Error::LengthMismatch { expected, found },
            RefNetError::NoLayers | RefNetError::NoValues => crate::Error::LengthMismatch {
                expected: 1,
                found: 0,
            },
            RefNetError::InvalidLayer { .. } => crate::Error::Nn(crate::nn::NnError::InvalidShape),
            RefNetError::EmptyBatch => {
                crate::Error::Train(crate::train::TrainError::NothingAccumulated)
            }
            RefNetError::ClassOutOfRange { class, outputs } => {
                crate::Error::Nn(crate::nn::NnError::LabelOutOfRange {
                    label: class,
                    classes: outputs,
                })
            }
            RefNetError::InvalidInput { index, fault, .. } => {
                crate::Error::InvalidInput { index, fault }
            }
            RefNetError::InvalidTarget { index, fault, .. } => {
                crate::Error::InvalidTarget { index, fault }
            }
            RefNetError::Optimizer(e) => e.into(),
        }
    }
}

impl fmt::Display for RefNetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefNetError::LengthMismatch {
                what,
                expected,
                found,
            } => write!(f, "{what}: expected {expected} elements, found {found}"),
            RefNetError::Shape {
                layer,
                expected,
                found,
            } => write!(
                f,
                "layer {layer} is malformed: expected size {expected}, found {found}"
            ),
            RefNetError::NoLayers => write!(f, "the network has no layer"),
            RefNetError::InvalidLayer { layer, reason } => {
                write!(f, "layer {layer} is invalid: {reason}")
            }
            RefNetError::EmptyBatch => write!(f, "the mini-batch is empty"),
            RefNetError::ClassOutOfRange { class, outputs } => {
                write!(f, "class {class} is out of range for {outputs} outputs")
            }
            RefNetError::NoValues => write!(f, "argmax of no values"),
            RefNetError::InvalidInput {
                sample,
                index,
                fault,
            } => write!(f, "input {sample}, element {index} is {fault}"),
            RefNetError::InvalidTarget {
                sample,
                index,
                fault,
            } => write!(f, "target {sample}, element {index} is {fault}"),
            RefNetError::Optimizer(e) => write!(f, "optimizer: {e}"),
        }
    }
}

impl std::error::Error for RefNetError {}

impl From<RefError> for RefNetError {
    fn from(e: RefError) -> RefNetError {
        RefNetError::Optimizer(e)
    }
}

/// What [`RefMlp::trace`] records of one forward pass: the pre-activations `z[k]` of every layer and the
/// activations `a[k]` (`a[0]` the input).
type Trace = (Vec<Vec<f64>>, Vec<Vec<f64>>);

/// One dense layer, `y = W·x + b`, in torch's `nn.Linear` layout.
#[derive(Clone, Debug, PartialEq)]
pub struct RefDense {
    /// Weights, `w[o][i]`: one row of `inputs` per output.
    pub w: Vec<Vec<f64>>,
    /// Bias, one per output.
    pub b: Vec<f64>,
    /// `false`: the layer is frozen (no element changes, its gradient is reported as 0).
    pub trainable: bool,
    /// `true`: only the bias trains, the weights are frozen. No effect when `trainable` is `false`.
    pub bias_only: bool,
}

impl RefDense {
    /// An all-zero, fully trainable layer of `inputs → outputs`.
    pub fn zeros(inputs: usize, outputs: usize) -> RefDense {
        RefDense {
            w: vec![vec![0.0; inputs]; outputs],
            b: vec![0.0; outputs],
            trainable: true,
            bias_only: false,
        }
    }

    /// Number of inputs (the length of a weight row; 0 if the layer has no output).
    pub fn inputs(&self) -> usize {
        match self.w.first() {
            Some(row) => row.len(),
            None => 0,
        }
    }

    /// Number of outputs.
    pub fn outputs(&self) -> usize {
        self.b.len()
    }

    /// Whether the weights train: `trainable && !bias_only`.
    pub fn w_trainable(&self) -> bool {
        self.trainable && !self.bias_only
    }

    /// Whether the bias trains: `trainable`.
    pub fn b_trainable(&self) -> bool {
        self.trainable
    }
}

/// A multilayer perceptron: `layers[k]` followed by `activations[k]`, for every `k`.
#[derive(Clone, Debug, PartialEq)]
pub struct RefMlp {
    /// The dense layers, input first.
    pub layers: Vec<RefDense>,
    /// One activation per layer, applied to its output.
    pub activations: Vec<RefActivation>,
}

impl RefMlp {
    /// A network from its parts, checked by [`RefMlp::check`].
    pub fn new(
        layers: Vec<RefDense>,
        activations: Vec<RefActivation>,
    ) -> Result<RefMlp, RefNetError> {
        let net = RefMlp {
            layers,
            activations,
        };
        net.check()?;
        Ok(net)
    }

    /// An all-zero, fully trainable network with layer sizes `sizes = [inputs, hidden…, outputs]`
    /// (`sizes.len() − 1` layers) and one activation per layer.
    pub fn zeros(sizes: &[usize], activations: &[RefActivation]) -> Result<RefMlp, RefNetError> {
        let mut layers = Vec::new();
        for k in 1..sizes.len() {
            layers.push(RefDense::zeros(sizes[k - 1], sizes[k]));
        }
        if layers.is_empty() {
            return Err(RefNetError::NoLayers);
        }
        RefMlp::new(layers, activations.to_vec())
    }

    /// A fully trainable network with layer sizes `sizes` (as [`RefMlp::zeros`]) whose parameters are `flat`,
    /// in torch's `state_dict` order (see the [module documentation](self)).
    ///
    /// Returns [`RefNetError::LengthMismatch`] (`what = "parameters"`) if `flat` does not have exactly
    /// [`RefMlp::num_params`] elements, and the errors of [`RefMlp::zeros`].
    pub fn from_flat(
        sizes: &[usize],
        activations: &[RefActivation],
        flat: &[f64],
    ) -> Result<RefMlp, RefNetError> {
        let mut net = RefMlp::zeros(sizes, activations)?;
        net.load_flat(flat)?;
        Ok(net)
    }

    /// Checks the shapes: at least one layer; one activation per layer; in each layer at least one input and
    /// one output, every weight row as long as the first, one bias per row; each layer's inputs equal to the
    /// previous layer's outputs. The constructors guarantee it; every method that computes with the
    /// network or writes into it runs this check first and returns its error. The counts and flat views
    /// ([`RefMlp::num_params`], [`RefMlp::to_flat`], …) of a network that fails it are meaningless, though
    /// they never panic.
    pub fn check(&self) -> Result<(), RefNetError> {
        if self.layers.is_empty() {
            return Err(RefNetError::NoLayers);
        }
        if self.activations.len() != self.layers.len() {
            return Err(RefNetError::LengthMismatch {
                what: "activations",
                expected: self.layers.len(),
                found: self.activations.len(),
            });
        }
        for k in 0..self.layers.len() {
            let layer = &self.layers[k];
            let inputs = layer.inputs();
            let outputs = layer.outputs();
            let shape = |expected: usize, found: usize| RefNetError::Shape {
                layer: k,
                expected,
                found,
            };
            if outputs == 0 {
                return Err(shape(1, 0));
            }
            if layer.w.len() != outputs {
                return Err(shape(outputs, layer.w.len()));
            }
            if inputs == 0 {
                return Err(shape(1, 0));
            }
            for row in &layer.w {
                if row.len() != inputs {
                    return Err(shape(inputs, row.len()));
                }
            }
            if k > 0 && inputs != self.layers[k - 1].outputs() {
                return Err(shape(self.layers[k - 1].outputs(), inputs));
            }
        }
        Ok(())
    }

    /// `[inputs, outputs of layer 0, outputs of layer 1, …]` (`[0]` for a network with no layer).
    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes = vec![self.inputs()];
        for layer in &self.layers {
            sizes.push(layer.outputs());
        }
        sizes
    }

    /// Number of inputs (0 for a network with no layer).
    pub fn inputs(&self) -> usize {
        match self.layers.first() {
            Some(layer) => layer.inputs(),
            None => 0,
        }
    }

    /// Number of outputs (0 for a network with no layer).
    pub fn outputs(&self) -> usize {
        match self.layers.last() {
            Some(layer) => layer.outputs(),
            None => 0,
        }
    }

    /// Number of parameters (weights and biases of every layer, frozen or not).
    pub fn num_params(&self) -> usize {
        let mut n = 0;
        for layer in &self.layers {
            n += layer.inputs() * layer.outputs() + layer.outputs();
        }
        n
    }

    /// Number of trainable parameters (the length of [`RefMlp::trainable_params`]).
    pub fn num_trainable(&self) -> usize {
        let mut n = 0;
        for layer in &self.layers {
            if layer.w_trainable() {
                n += layer.inputs() * layer.outputs();
            }
            if layer.b_trainable() {
                n += layer.outputs();
            }
        }
        n
    }

    /// Every parameter in torch's `state_dict` order.
    pub fn to_flat(&self) -> Vec<f64> {
        let mut flat = Vec::with_capacity(self.num_params());
        for layer in &self.layers {
            for row in &layer.w {
                for &w in row {
                    flat.push(w);
                }
            }
            for &b in &layer.b {
                flat.push(b);
            }
        }
        flat
    }

    /// Sets every parameter from `flat`, in torch's `state_dict` order (the flags are kept).
    ///
    /// Returns [`RefNetError::LengthMismatch`] (`what = "parameters"`) and changes nothing if `flat` does
    /// not have exactly [`RefMlp::num_params`] elements, and the errors of [`RefMlp::check`] if the network
    /// is malformed.
    pub fn load_flat(&mut self, flat: &[f64]) -> Result<(), RefNetError> {
        self.check()?;
        let expected = self.num_params();
        if flat.len() != expected {
            return Err(RefNetError::LengthMismatch {
                what: "parameters",
                expected,
                found: flat.len(),
            });
        }
        let mut p = 0;
        for layer in &mut self.layers {
            for row in &mut layer.w {
                for w in row.iter_mut() {
                    *w = flat[p];
                    p += 1;
                }
            }
            for b in &mut layer.b {
                *b = flat[p];
                p += 1;
            }
        }
        Ok(())
    }

    /// One flag per parameter, in flat order: whether it trains.
    pub fn trainable_mask(&self) -> Vec<bool> {
        let mut mask = Vec::with_capacity(self.num_params());
        for layer in &self.layers {
            for _ in 0..layer.inputs() * layer.outputs() {
                mask.push(layer.w_trainable());
            }
            for _ in 0..layer.outputs() {
                mask.push(layer.b_trainable());
            }
        }
        mask
    }

    /// The trainable parameters, gathered in flat order (what the optimizer steps).
    pub fn trainable_params(&self) -> Vec<f64> {
        gather(&self.to_flat(), &self.trainable_mask())
    }

    /// Sets the trainable parameters from `values` (as [`RefMlp::trainable_params`] orders them); frozen ones
    /// are untouched.
    ///
    /// Returns [`RefNetError::LengthMismatch`] (`what = "trainable parameters"`) and changes nothing if
    /// `values` does not have exactly [`RefMlp::num_trainable`] elements, and the errors of
    /// [`RefMlp::check`] if the network is malformed.
    pub fn set_trainable_params(&mut self, values: &[f64]) -> Result<(), RefNetError> {
        self.check()?;
        let expected = self.num_trainable();
        if values.len() != expected {
            return Err(RefNetError::LengthMismatch {
                what: "trainable parameters",
                expected,
                found: values.len(),
            });
        }
        let mask = self.trainable_mask();
        let mut flat = self.to_flat();
        let mut j = 0;
        for i in 0..flat.len() {
            if mask[i] {
                flat[i] = values[j];
                j += 1;
            }
        }
        self.load_flat(&flat)
    }

    /// The pre-activations `z = W·a + b` of every layer for input `x` (`z[k]` has layer `k`'s outputs).
    ///
    /// Errors: those of [`RefMlp::check`] if the network is malformed, and [`RefNetError::LengthMismatch`]
    /// (`what = "input"`) if `x` does not have [`RefMlp::inputs`] elements.
    pub fn pre_activations(&self, x: &[f64]) -> Result<Vec<Vec<f64>>, RefNetError> {
        let (z, _) = self.trace(x)?;
        Ok(z)
    }

    /// The network's output for input `x` (the logits, when the last activation is `None`).
    ///
    /// Errors: as [`RefMlp::pre_activations`].
    pub fn forward(&self, x: &[f64]) -> Result<Vec<f64>, RefNetError> {
        let (_, mut a) = self.trace(x)?;
        // `a` holds the input and one output per layer; `trace` has checked there is a layer.
        a.pop().ok_or(RefNetError::NoLayers)
    }

    /// The index of the largest output for input `x` (torch's `argmax`: the first one on a tie; a NaN
    /// counts as the largest).
    ///
    /// Errors: as [`RefMlp::forward`].
    pub fn predict(&self, x: &[f64]) -> Result<usize, RefNetError> {
        argmax(&self.forward(x)?)
    }

    /// The loss of one sample.
    ///
    /// Errors: as [`RefMlp::loss_and_grads`].
    pub fn loss(&self, x: &[f64], target: &RefTarget) -> Result<f64, RefNetError> {
        let y = self.forward(x)?;
        let (loss, _) = loss_and_output_grad(&y, target)?;
        Ok(loss)
    }

    /// The loss of one sample and its gradient with respect to every parameter, in flat torch order
    /// ([`RefMlp::num_params`] elements), with exactly `0.0` at every frozen element (see
    /// [`RefMlp::trainable_mask`]). Freezing only masks: the trainable elements get the same values as with
    /// every layer trainable.
    ///
    /// Errors: those of [`RefMlp::check`] if the network is malformed; [`RefNetError::LengthMismatch`] if
    /// `x` does not have [`RefMlp::inputs`] elements (`what = "input"`) or a [`RefTarget::Values`] does not
    /// have [`RefMlp::outputs`] elements (`what = "target values"`); [`RefNetError::ClassOutOfRange`] if a
    /// [`RefTarget::Class`] is not below [`RefMlp::outputs`].
    pub fn loss_and_grads(
        &self,
        x: &[f64],
        target: &RefTarget,
    ) -> Result<(f64, Vec<f64>), RefNetError> {
        let (z, a) = self.trace(x)?;
        let n_layers = self.layers.len();
        let (loss, dy) = loss_and_output_grad(&a[n_layers], target)?;

        // Per-layer gradients, filled from the last layer back.
        let mut dw: Vec<Vec<Vec<f64>>> = Vec::with_capacity(n_layers);
        let mut db: Vec<Vec<f64>> = Vec::with_capacity(n_layers);
        for layer in &self.layers {
            dw.push(vec![vec![0.0; layer.inputs()]; layer.outputs()]);
            db.push(vec![0.0; layer.outputs()]);
        }

        // `delta` = ∂L/∂(output of layer k, after its activation).
        let mut delta = dy;
        for k in (0..n_layers).rev() {
            let layer = &self.layers[k];
            let act = self.activations[k];
            let a_in = &a[k];
            // dz = delta ⊙ act'(z)
            let mut dz = vec![0.0; layer.outputs()];
            for o in 0..layer.outputs() {
                dz[o] = delta[o] * act.derivative(z[k][o]);
            }
            // ∂L/∂W[o][i] = dz[o] · a_in[i] ;  ∂L/∂b[o] = dz[o]
            for o in 0..layer.outputs() {
                for i in 0..layer.inputs() {
                    dw[k][o][i] = dz[o] * a_in[i];
                }
                db[k][o] = dz[o];
            }
            // ∂L/∂a_in[i] = Σ_o W[o][i] · dz[o]
            let mut delta_in = vec![0.0; layer.inputs()];
            for i in 0..layer.inputs() {
                for o in 0..layer.outputs() {
                    delta_in[i] += layer.w[o][i] * dz[o];
                }
            }
            delta = delta_in;
        }

        // Flatten in torch order, 0 where frozen.
        let mut grads = Vec::with_capacity(self.num_params());
        for k in 0..n_layers {
            let layer = &self.layers[k];
            for o in 0..layer.outputs() {
                for i in 0..layer.inputs() {
                    grads.push(if layer.w_trainable() {
                        dw[k][o][i]
                    } else {
                        0.0
                    });
                }
            }
            for o in 0..layer.outputs() {
                grads.push(if layer.b_trainable() { db[k][o] } else { 0.0 });
            }
        }
        Ok((loss, grads))
    }

    /// The mean loss of a mini-batch and the mean of its per-sample gradients (torch's `reduction="mean"`),
    /// laid out as in [`RefMlp::loss_and_grads`]. `xs[s]` is compared with `targets[s]`.
    ///
    /// Errors: those of [`RefMlp::check`] if the network is malformed; [`RefNetError::EmptyBatch`] for an
    /// empty batch; [`RefNetError::LengthMismatch`] if `xs` and `targets` differ in length
    /// (`what = "targets"`) or an input or target has the wrong length (as in [`RefMlp::loss_and_grads`]);
    /// [`RefNetError::ClassOutOfRange`] for a class out of range.
    pub fn batch_loss_and_grads(
        &self,
        xs: &[Vec<f64>],
        targets: &[RefTarget],
    ) -> Result<(f64, Vec<f64>), RefNetError> {
        self.check()?;
        check_batch(self.inputs(), self.outputs(), xs, targets)?;
        let batch = xs.len() as f64;
        let mut loss_sum = 0.0;
        let mut grad_sum = vec![0.0; self.num_params()];
        for s in 0..xs.len() {
            let (loss, grads) = self.loss_and_grads(&xs[s], &targets[s])?;
            loss_sum += loss;
            for p in 0..grad_sum.len() {
                grad_sum[p] += grads[p];
            }
        }
        let mut grads = grad_sum;
        for p in 0..grads.len() {
            grads[p] /= batch;
        }
        Ok((loss_sum / batch, grads))
    }

    /// A fresh optimizer over the trainable parameters ([`RefMlp::num_trainable`] of them), for
    /// [`RefMlp::train_step`].
    pub fn optimizer(&self, kind: Kind, hyper: Hyper) -> Reference {
        Reference::new(kind, hyper, self.num_trainable())
    }

    /// One training step on a mini-batch: the mean gradient of [`RefMlp::batch_loss_and_grads`], then one
    /// step of `opt` over the trainable parameters gathered in flat order. Frozen parameters never change.
    /// Returns the mean loss before the step.
    ///
    /// One optimizer over the gathered vector steps exactly as torch's one optimizer over the trainable
    /// tensors, since every rule in [`super`] is element-wise. If the trainable set changes, make a new
    /// optimizer ([`RefMlp::optimizer`]).
    ///
    /// Errors (nothing changes): those of [`RefMlp::batch_loss_and_grads`], and
    /// [`RefNetError::Optimizer`] if `opt.n` is not [`RefMlp::num_trainable`].
    pub fn train_step(
        &mut self,
        opt: &mut Reference,
        xs: &[Vec<f64>],
        targets: &[RefTarget],
    ) -> Result<f64, RefNetError> {
        let (loss, grads) = self.batch_loss_and_grads(xs, targets)?;
        let mask = self.trainable_mask();
        let mut params = self.trainable_params();
        let trainable_grads = gather(&grads, &mask);
        opt.step(&mut params, &trainable_grads)?;
        self.set_trainable_params(&params)?;
        Ok(loss)
    }

    /// The fraction of `xs` whose [`RefMlp::predict`] equals `labels` (0 for an empty set).
    ///
    /// Errors: [`RefNetError::LengthMismatch`] (`what = "labels"`) if `xs` and `labels` differ in length,
    /// and those of [`RefMlp::forward`] for any input.
    pub fn accuracy(&self, xs: &[Vec<f64>], labels: &[usize]) -> Result<f64, RefNetError> {
        if labels.len() != xs.len() {
            return Err(RefNetError::LengthMismatch {
                what: "labels",
                expected: xs.len(),
                found: labels.len(),
            });
        }
        if xs.is_empty() {
            return Ok(0.0);
        }
        let mut correct = 0usize;
        for s in 0..xs.len() {
            if self.predict(&xs[s])? == labels[s] {
                correct += 1;
            }
        }
        Ok(correct as f64 / xs.len() as f64)
    }

    /// The pre-activations `z[k]` and the activations `a[k]` (`a[0] = x`, `a[k + 1] = act_k(z[k])`).
    ///
    /// Errors: those of [`RefMlp::check`], and [`RefNetError::LengthMismatch`] (`what = "input"`) if `x`
    /// does not have [`RefMlp::inputs`] elements.
    fn trace(&self, x: &[f64]) -> Result<Trace, RefNetError> {
        self.check()?;
        if x.len() != self.inputs() {
            return Err(RefNetError::LengthMismatch {
                what: "input",
                expected: self.inputs(),
                found: x.len(),
            });
        }
        check_input(0, x)?;
        let mut zs = Vec::with_capacity(self.layers.len());
        let mut acts = Vec::with_capacity(self.layers.len() + 1);
        acts.push(x.to_vec());
        for k in 0..self.layers.len() {
            let layer = &self.layers[k];
            let a_in = &acts[k];
            let mut z = vec![0.0; layer.outputs()];
            let mut a_out = vec![0.0; layer.outputs()];
            for o in 0..layer.outputs() {
                // z[o] = b[o] + Σ_i W[o][i] · a_in[i]
                let mut sum = layer.b[o];
                for i in 0..layer.inputs() {
                    sum += layer.w[o][i] * a_in[i];
                }
                z[o] = sum;
                a_out[o] = self.activations[k].apply(sum);
            }
            zs.push(z);
            acts.push(a_out);
        }
        Ok((zs, acts))
    }
}

/// Softmax cross-entropy of `logits` against class `class`, and its gradient `∂L/∂logits`.
///
/// `m = max(logits)`, `s = Σ exp(l_j − m)`, `L = −(l_class − m − ln s)`, `∂L/∂l_j = exp(l_j − m)/s − [j = class]`.
///
/// Returns [`RefNetError::ClassOutOfRange`] if `class >= logits.len()` (so also for no logits).
pub fn softmax_cross_entropy(logits: &[f64], class: usize) -> Result<(f64, Vec<f64>), RefNetError> {
    if class >= logits.len() {
        return Err(RefNetError::ClassOutOfRange {
            class,
            outputs: logits.len(),
        });
    }
    let mut m = logits[0];
    for j in 1..logits.len() {
        if logits[j] > m {
            m = logits[j];
        }
    }
    let mut s = 0.0;
    for j in 0..logits.len() {
        s += (logits[j] - m).exp();
    }
    // log_softmax[class] = l_class - m - ln s ; loss = -log_softmax[class]
    let loss = -(logits[class] - m - s.ln());
    let mut grad = vec![0.0; logits.len()];
    for j in 0..logits.len() {
        // softmax_j - onehot_j
        grad[j] = (logits[j] - m).exp() / s;
    }
    grad[class] -= 1.0;
    Ok((loss, grad))
}

/// Mean squared error `L = (1/N) Σ (y_j − t_j)²` over the `N` outputs, and its gradient
/// `∂L/∂y_j = (2/N)(y_j − t_j)`.
///
/// Returns [`RefNetError::LengthMismatch`] (`what = "target values"`) if `y` and `t` differ in length.
pub fn mse(y: &[f64], t: &[f64]) -> Result<(f64, Vec<f64>), RefNetError> {
    if t.len() != y.len() {
        return Err(RefNetError::LengthMismatch {
            what: "target values",
            expected: y.len(),
            found: t.len(),
        });
    }
    let n = y.len() as f64;
    let mut sum = 0.0;
    let mut grad = vec![0.0; y.len()];
    for j in 0..y.len() {
        let e = y[j] - t[j];
        sum += e * e;
        grad[j] = 2.0 * e / n;
    }
    Ok((sum / n, grad))
}

/// Index of the largest value (the first on a tie; the first NaN if there is one), as torch's `argmax`.
///
/// Returns [`RefNetError::NoValues`] if `values` is empty.
pub fn argmax(values: &[f64]) -> Result<usize, RefNetError> {
    if values.is_empty() {
        return Err(RefNetError::NoValues);
    }
    let mut best = 0;
    for j in 0..values.len() {
        if values[j].is_nan() {
            return Ok(j);
        }
        if values[j] > values[best] {
            best = j;
        }
    }
    Ok(best)
}

/// The loss of output `y` against `target`, and `∂L/∂y`; the errors of [`softmax_cross_entropy`] and
/// [`mse`].
pub(super) fn loss_and_output_grad(
    y: &[f64],
    target: &RefTarget,
) -> Result<(f64, Vec<f64>), RefNetError> {
    match target {
        RefTarget::Class(class) => softmax_cross_entropy(y, *class),
        RefTarget::Values(t) => {
            check_target(0, t)?;
            mse(y, t)
        }
    }
}

/// Every input and target of a batch has the right length (`inputs`, `outputs`) and finite values,
/// and there is one target per input. Shared by [`RefMlp`] and the reference CNN.
pub(super) fn check_batch(
    inputs: usize,
    outputs: usize,
    xs: &[Vec<f64>],
    targets: &[RefTarget],
) -> Result<(), RefNetError> {
    if xs.is_empty() {
        return Err(RefNetError::EmptyBatch);
    }
    if targets.len() != xs.len() {
        return Err(RefNetError::LengthMismatch {
            what: "targets",
            expected: xs.len(),
            found: targets.len(),
        });
    }
    for s in 0..xs.len() {
        if xs[s].len() != inputs {
            return Err(RefNetError::LengthMismatch {
                what: "input",
                expected: inputs,
                found: xs[s].len(),
            });
        }
        match &targets[s] {
            RefTarget::Class(class) => {
                if *class >= outputs {
                    return Err(RefNetError::ClassOutOfRange {
                        class: *class,
                        outputs,
                    });
                }
            }
            RefTarget::Values(values) => {
                if values.len() != outputs {
                    return Err(RefNetError::LengthMismatch {
                        what: "target values",
                        expected: outputs,
                        found: values.len(),
                    });
                }
                check_target(s, values)?;
            }
        }
        check_input(s, &xs[s])?;
    }
    Ok(())
}

/// [`RefNetError::InvalidInput`] at the first NaN or infinite element of input `sample`.
pub(super) fn check_input(sample: usize, x: &[f64]) -> Result<(), RefNetError> {
    match x.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(RefNetError::InvalidInput {
            sample,
            index,
            fault: ValueFault::NotFinite,
        }),
        None => Ok(()),
    }
}

/// [`RefNetError::InvalidTarget`] at the first NaN or infinite element of target `sample`.
pub(super) fn check_target(sample: usize, t: &[f64]) -> Result<(), RefNetError> {
    match t.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(RefNetError::InvalidTarget {
            sample,
            index,
            fault: ValueFault::NotFinite,
        }),
        None => Ok(()),
    }
}

/// The elements of `values` whose `mask` entry is `true`, in order (as far as both reach).
pub(super) fn gather(values: &[f64], mask: &[bool]) -> Vec<f64> {
    let mut out = Vec::new();
    for i in 0..values.len().min(mask.len()) {
        if mask[i] {
            out.push(values[i]);
        }
    }
    out
}
