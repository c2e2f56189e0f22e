//! [`LayerSpec`] tables and the `const fn`s that compute every size of a network from them.

use super::model::{LayerRanges, LayerShape};
use crate::nn::Scalar;

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
    /// `I·O` weights (saturating at `usize::MAX`, so a crafted spec cannot overflow; such a
    /// spec fails [`chain_ok`]).
    pub const fn weights(&self) -> usize {
        self.inputs.saturating_mul(self.outputs)
    }

    /// `I·O + O` parameters (saturating).
    pub const fn params(&self) -> usize {
        self.weights().saturating_add(self.outputs)
    }

    /// The layer's shape for initialisation: `fan_in = I`, `fan_out = O`, `I·O` weights and `O`
    /// biases, with what this layer trains.
    pub const fn shape(&self) -> LayerShape {
        LayerShape {
            fan_in: self.inputs,
            fan_out: self.outputs,
            weights: self.weights(),
            bias: self.outputs,
            trained_weights: if self.trains_weights() {
                self.weights()
            } else {
                0
            },
            trained_bias: if self.trains_bias() { self.outputs } else { 0 },
            scale: false,
        }
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
    let mut n: usize = 0;
    let mut k = 0;
    while k < layers.len() {
        n = n.saturating_add(layers[k].params());
        k += 1;
    }
    n
}

/// Trainable elements of the layers.
pub const fn trainable(layers: &[LayerSpec]) -> usize {
    let mut n: usize = 0;
    let mut k = 0;
    while k < layers.len() {
        n = n.saturating_add(layers[k].trainable());
        k += 1;
    }
    n
}

/// Frozen elements of the layers, `params − trainable`.
pub const fn frozen(layers: &[LayerSpec]) -> usize {
    params(layers).saturating_sub(trainable(layers))
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
    let mut n: usize = 0;
    let mut k = 0;
    while k < layers.len() {
        if keeps_input(layers, k) {
            n = n.saturating_add(layers[k].inputs);
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
/// the size of one of the two ping-pong buffers of a [`Scratch`](super::Scratch).
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
/// at least one layer with at least one input and one output, and the total parameter count
/// fits in a `usize` (the sizes above saturate instead of overflowing).
pub const fn chain_ok(layers: &[LayerSpec]) -> bool {
    if layers.is_empty() || params(layers) == usize::MAX || kept_activations(layers) == usize::MAX {
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

/// Where layer `k`'s weights and bias lie in the trainable arena (`None` for a run that is
/// frozen), or `None` if there is no layer `k`.
pub const fn layer_ranges(layers: &[LayerSpec], k: usize) -> Option<LayerRanges> {
    if k >= layers.len() {
        return None;
    }
    let mut start = 0usize;
    let mut j = 0;
    while j < k {
        start = start.saturating_add(layers[j].trainable());
        j += 1;
    }
    let l = layers[k];
    let weights = if l.trains_weights() {
        let end = start.saturating_add(l.weights());
        let r = start..end;
        start = end;
        Some(r)
    } else {
        None
    };
    let bias = if l.trains_bias() {
        Some(start..start.saturating_add(l.outputs))
    } else {
        None
    };
    Some(LayerRanges { weights, bias })
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
            // `src` grows every turn, so the loop ends by `N` whatever `len` a spec claims.
            while i < len && src < N {
                if t == trainable && dst < M {
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
