//! Plain, independent `f64` reference for sequential convolutional networks: the oracle the `cnn!`
//! networks are tested against.
//!
//! Like the rest of [`super`], it shares no code with the crate's layer kernels: nothing from `crate::nn` (or
//! anything else outside `reference`) is used, only the reference MLP's activations, targets, losses and
//! errors ([`super::network`]) and the reference optimizers. Every layer is written straight from its
//! definition with nested index loops, one function per layer and direction; plainness over speed.
//!
//! # Layout
//! Every tensor is channels-last, `[H][W][C]` flat: element `(h, w, c)` is at `(h·W + w)·C + c`. 1-D data has
//! `H = 1`, `W = length`. The network's input shape is given as `[H, W, C]`.
//!
//! # Layers ([`RefLayer`])
//! With `x` the layer's input of shape `[H][W][C]` and `y` its output (before the activation):
//! - **Conv**: `y[oh][ow][o] = b[o] + Σ_{ki, kj, ci} W[o][ki][kj][ci] · x[oh·sh + ki − top][ow·sw + kj − left][g·Cg + ci]`
//!   with `g = o / (out_c / groups)`, `Cg = in_c / groups`, and taps outside the input reading 0 (zero
//!   padding). Weights OHWI `[out_c][kh][kw][in_c/groups]`. Output size `(H + top + bottom − kh) / sh + 1`
//!   rows, likewise columns. A 1-D conv is `kh = 1`, `pad_top = pad_bottom = 0`.
//! - **BatchNorm**: `y[h][w][c] = scale[c]·x[h][w][c] + shift[c]` (its "weights" are `scale`, its "bias"
//!   `shift`).
//! - **MaxPool**: `y[oh][ow][c]` = the largest input tap of the window (padding never wins). Backward routes
//!   `dy` to the **first** maximum of the window in row-major order (the first strictly greater value wins),
//!   as torch does.
//! - **AvgPool**: `y[oh][ow][c] = Σ (input taps of the window) / (kh·kw)`: padding counts as zeros in the
//!   divisor (torch's `count_include_pad=True`; with `ceil_mode=False` a window never reaches past the
//!   padding, so the divisor is always `kh·kw`).
//! - **GlobalAvgPool**: `y[0][0][c] = Σ_{h,w} x[h][w][c] / (H·W)`, shape `[1, 1, C]`.
//! - **Flatten**: shape `[1, 1, H·W·C]`, the same elements in the same order.
//! - **Dense**: `y[o] = b[o] + Σ_i W[o][i]·x[i]` over the incoming tensor flat (channels-last, `HWC`
//!   order), `inputs = H·W·C`; weights row-major `[outputs][inputs]`; shape `[1, 1, outputs]`.
//!
//! Pools need every padding smaller than the window (as the library's pooling shapes do; torch asks for at
//! most half the window), so every window holds at least one input element.
//!
//! # Flat parameter order
//! Layers in order; per Conv: weights (OHWI), then bias (`out_c`); per BatchNorm: scale (`C`), then shift
//! (`C`); per Dense: weights `[O][I]` row-major, then bias (`O`). Pools and flatten have none. This is the
//! contract's "torch order" (a torch conv weight is `.permute(0, 2, 3, 1)`-ed into OHWI).
//!
//! # Training modes
//! Each layer carries two flags, `train_weights` and `train_bias` (BatchNorm: scale and shift): `train` is
//! `(true, true)`, `bias` is `(false, true)`, `frozen` is `(false, false)`. They have no effect on a layer
//! without parameters.
//!
//! # Loss
//! As [`RefMlp`](super::network::RefMlp): [`RefTarget::Class`] is softmax cross-entropy on the last layer's
//! output (the logits), [`RefTarget::Values`] the mean squared error over the outputs, and a mini-batch takes
//! the mean over its samples.
//!
//! Compiled only with the `reference` feature (which links `std`).

// The loops index several slices with the same index on purpose: each line then reads like its formula.
#![allow(clippy::needless_range_loop)]

use std::vec;
use std::vec::Vec;

use super::network::{
    argmax, check_batch, check_input, gather, loss_and_output_grad, RefActivation, RefNetError,
    RefTarget,
};
use super::{Hyper, Kind, Reference};

/// One layer of a [`RefCnn`] (its activation and training mode are given next to it, see [`RefCnn::new`]).
///
/// Padding fields are zeros added before (`top`, `left`) and after (`bottom`, `right`) the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefLayer {
    /// Convolution (cross-correlation) with zero padding and channel groups; weights OHWI, one bias per
    /// output channel.
    Conv {
        /// Input channels (must equal the incoming tensor's `C`).
        in_c: usize,
        /// Output channels.
        out_c: usize,
        /// Kernel height (1 for a 1-D conv).
        kh: usize,
        /// Kernel width.
        kw: usize,
        /// Vertical stride.
        stride_h: usize,
        /// Horizontal stride.
        stride_w: usize,
        /// Zero rows above.
        pad_top: usize,
        /// Zero rows below.
        pad_bottom: usize,
        /// Zero columns on the left.
        pad_left: usize,
        /// Zero columns on the right.
        pad_right: usize,
        /// Channel groups (1: ordinary; `in_c`: depthwise, with multiplier `out_c / in_c`).
        groups: usize,
    },
    /// Batch normalisation in its per-channel affine form `y = scale[c]·x + shift[c]`.
    BatchNorm {
        /// Channels (must equal the incoming tensor's `C`).
        channels: usize,
    },
    /// Max pooling (first maximum wins in backward).
    MaxPool {
        /// Window height.
        kh: usize,
        /// Window width.
        kw: usize,
        /// Vertical stride.
        stride_h: usize,
        /// Horizontal stride.
        stride_w: usize,
        /// Padding rows above (smaller than `kh`).
        pad_top: usize,
        /// Padding rows below (smaller than `kh`).
        pad_bottom: usize,
        /// Padding columns on the left (smaller than `kw`).
        pad_left: usize,
        /// Padding columns on the right (smaller than `kw`).
        pad_right: usize,
    },
    /// Average pooling, padding counted in the divisor (`count_include_pad=True`).
    AvgPool {
        /// Window height.
        kh: usize,
        /// Window width.
        kw: usize,
        /// Vertical stride.
        stride_h: usize,
        /// Horizontal stride.
        stride_w: usize,
        /// Padding rows above (smaller than `kh`).
        pad_top: usize,
        /// Padding rows below (smaller than `kh`).
        pad_bottom: usize,
        /// Padding columns on the left (smaller than `kw`).
        pad_left: usize,
        /// Padding columns on the right (smaller than `kw`).
        pad_right: usize,
    },
    /// Mean of each channel over all pixels, to `[1, 1, C]`.
    GlobalAvgPool,
    /// Reshape to `[1, 1, H·W·C]`.
    Flatten,
    /// Fully connected layer over the incoming tensor flattened in `HWC` order.
    Dense {
        /// Inputs (must equal the incoming `H·W·C`).
        inputs: usize,
        /// Outputs.
        outputs: usize,
    },
}

/// TensorFlow's `SAME` padding `(before, after)` of an axis of `len` elements for kernel `k` and stride
/// `stride`: total `max((ceil(len/stride) − 1)·stride + k − len, 0)`, the odd element after. `(0, 0)` for a
/// zero stride.
pub fn same_padding(len: usize, k: usize, stride: usize) -> (usize, usize) {
    if stride == 0 {
        return (0, 0);
    }
    let out = len.div_ceil(stride);
    let needed = (out.max(1) - 1) * stride + k;
    let total = needed.saturating_sub(len);
    (total / 2, total - total / 2)
}

impl RefLayer {
    /// A 1-D convolution: kernel `k`, stride `stride`, padding `(left, right)`, `groups` groups.
    pub fn conv1d(
        in_c: usize,
        out_c: usize,
        k: usize,
        stride: usize,
        pad: (usize, usize),
        groups: usize,
    ) -> RefLayer {
        RefLayer::Conv {
            in_c,
            out_c,
            kh: 1,
            kw: k,
            stride_h: 1,
            stride_w: stride,
            pad_top: 0,
            pad_bottom: 0,
            pad_left: pad.0,
            pad_right: pad.1,
            groups,
        }
    }

    /// A 2-D convolution: kernel `(kh, kw)`, strides `(sh, sw)`, padding `(top, bottom, left, right)`.
    pub fn conv2d(
        in_c: usize,
        out_c: usize,
        kernel: (usize, usize),
        stride: (usize, usize),
        pad: (usize, usize, usize, usize),
        groups: usize,
    ) -> RefLayer {
        RefLayer::Conv {
            in_c,
            out_c,
            kh: kernel.0,
            kw: kernel.1,
            stride_h: stride.0,
            stride_w: stride.1,
            pad_top: pad.0,
            pad_bottom: pad.1,
            pad_left: pad.2,
            pad_right: pad.3,
            groups,
        }
    }

    /// A 1-D max pool: window `k`, stride `stride`, padding `(left, right)`.
    pub fn max_pool1d(k: usize, stride: usize, pad: (usize, usize)) -> RefLayer {
        RefLayer::MaxPool {
            kh: 1,
            kw: k,
            stride_h: 1,
            stride_w: stride,
            pad_top: 0,
            pad_bottom: 0,
            pad_left: pad.0,
            pad_right: pad.1,
        }
    }

    /// A 2-D max pool: window `(kh, kw)`, strides `(sh, sw)`, padding `(top, bottom, left, right)`.
    pub fn max_pool2d(
        kernel: (usize, usize),
        stride: (usize, usize),
        pad: (usize, usize, usize, usize),
    ) -> RefLayer {
        RefLayer::MaxPool {
            kh: kernel.0,
            kw: kernel.1,
            stride_h: stride.0,
            stride_w: stride.1,
            pad_top: pad.0,
            pad_bottom: pad.1,
            pad_left: pad.2,
            pad_right: pad.3,
        }
    }

    /// A 1-D average pool: window `k`, stride `stride`, padding `(left, right)`.
    pub fn avg_pool1d(k: usize, stride: usize, pad: (usize, usize)) -> RefLayer {
        RefLayer::AvgPool {
            kh: 1,
            kw: k,
            stride_h: 1,
            stride_w: stride,
            pad_top: 0,
            pad_bottom: 0,
            pad_left: pad.0,
            pad_right: pad.1,
        }
    }

    /// A 2-D average pool: window `(kh, kw)`, strides `(sh, sw)`, padding `(top, bottom, left, right)`.
    pub fn avg_pool2d(
        kernel: (usize, usize),
        stride: (usize, usize),
        pad: (usize, usize, usize, usize),
    ) -> RefLayer {
        RefLayer::AvgPool {
            kh: kernel.0,
            kw: kernel.1,
            stride_h: stride.0,
            stride_w: stride.1,
            pad_top: pad.0,
            pad_bottom: pad.1,
            pad_left: pad.2,
            pad_right: pad.3,
        }
    }

    /// `(number of weights, number of biases)` of this layer (BatchNorm: scale and shift; `(0, 0)` for pools
    /// and flatten).
    pub fn param_counts(&self) -> (usize, usize) {
        match *self {
            RefLayer::Conv {
                in_c,
                out_c,
                kh,
                kw,
                groups,
                ..
            } => {
                let cg = in_c.checked_div(groups).unwrap_or(0);
                (out_c * kh * kw * cg, out_c)
            }
            RefLayer::BatchNorm { channels } => (channels, channels),
            RefLayer::Dense { inputs, outputs } => (outputs * inputs, outputs),
            RefLayer::MaxPool { .. }
            | RefLayer::AvgPool { .. }
            | RefLayer::GlobalAvgPool
            | RefLayer::Flatten => (0, 0),
        }
    }
}

/// The pooling window of a [`RefLayer::MaxPool`] or [`RefLayer::AvgPool`], copied out of the enum.
#[derive(Clone, Copy)]
struct Window {
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    top: usize,
    left: usize,
}

/// Output length of an axis: `(len + before + after − k) / stride + 1`, or `None` if the kernel does not fit.
fn axis_out(len: usize, k: usize, stride: usize, before: usize, after: usize) -> Option<usize> {
    let padded = len + before + after;
    if k == 0 || stride == 0 || padded < k {
        return None;
    }
    Some((padded - k) / stride + 1)
}

/// The input index tapped by output `o` at kernel offset `k` (`o·stride + k − before`), if it lies inside
/// `0..len` (otherwise the tap reads padding).
fn input_index(o: usize, stride: usize, k: usize, before: usize, len: usize) -> Option<usize> {
    let i = (o * stride + k) as isize - before as isize;
    if i >= 0 && (i as usize) < len {
        Some(i as usize)
    } else {
        None
    }
}

/// The output shape of layer `k` (`layer`) on an input of shape `s = [H, W, C]`, or the error naming `k`.
fn layer_output_shape(
    k: usize,
    layer: &RefLayer,
    s: [usize; 3],
) -> Result<[usize; 3], RefNetError> {
    let [h, w, c] = s;
    let invalid = |reason: &'static str| RefNetError::InvalidLayer { layer: k, reason };
    let mismatch = |expected: usize, found: usize| RefNetError::Shape {
        layer: k,
        expected,
        found,
    };
    match *layer {
        RefLayer::Conv {
            in_c,
            out_c,
            kh,
            kw,
            stride_h,
            stride_w,
            pad_top,
            pad_bottom,
            pad_left,
            pad_right,
            groups,
        } => {
            if in_c == 0 || out_c == 0 {
                return Err(invalid("conv: zero channels"));
            }
            if kh == 0 || kw == 0 {
                return Err(invalid("conv: zero kernel size"));
            }
            if stride_h == 0 || stride_w == 0 {
                return Err(invalid("conv: zero stride"));
            }
            if groups == 0 {
                return Err(invalid("conv: zero groups"));
            }
            if in_c % groups != 0 || out_c % groups != 0 {
                return Err(invalid("conv: groups must divide in_c and out_c"));
            }
            if in_c != c {
                return Err(mismatch(c, in_c));
            }
            let oh = axis_out(h, kh, stride_h, pad_top, pad_bottom);
            let ow = axis_out(w, kw, stride_w, pad_left, pad_right);
            match (oh, ow) {
                (Some(oh), Some(ow)) => Ok([oh, ow, out_c]),
                _ => Err(invalid("conv: kernel larger than the padded input")),
            }
        }
        RefLayer::BatchNorm { channels } => {
            if channels == 0 {
                return Err(invalid("batch_norm: zero channels"));
            }
            if channels != c {
                return Err(mismatch(c, channels));
            }
            Ok(s)
        }
        RefLayer::MaxPool {
            kh,
            kw,
            stride_h,
            stride_w,
            pad_top,
            pad_bottom,
            pad_left,
            pad_right,
        }
        | RefLayer::AvgPool {
            kh,
            kw,
            stride_h,
            stride_w,
            pad_top,
            pad_bottom,
            pad_left,
            pad_right,
        } => {
            if kh == 0 || kw == 0 {
                return Err(invalid("pool: zero window size"));
            }
            if stride_h == 0 || stride_w == 0 {
                return Err(invalid("pool: zero stride"));
            }
            if pad_top >= kh || pad_bottom >= kh || pad_left >= kw || pad_right >= kw {
                return Err(invalid("pool: padding not smaller than the window"));
            }
            let oh = axis_out(h, kh, stride_h, pad_top, pad_bottom);
            let ow = axis_out(w, kw, stride_w, pad_left, pad_right);
            match (oh, ow) {
                (Some(oh), Some(ow)) => Ok([oh, ow, c]),
                _ => Err(invalid("pool: window larger than the padded input")),
            }
        }
        RefLayer::GlobalAvgPool => Ok([1, 1, c]),
        RefLayer::Flatten => Ok([1, 1, h * w * c]),
        RefLayer::Dense { inputs, outputs } => {
            if inputs == 0 || outputs == 0 {
                return Err(invalid("dense: zero size"));
            }
            if inputs != h * w * c {
                return Err(mismatch(h * w * c, inputs));
            }
            Ok([1, 1, outputs])
        }
    }
}

/// What one forward pass records: the input `a[k]` of every layer (`a[0] = x`, `a[n]` the output) and the
/// pre-activation output `z[k]` of every layer.
struct Trace {
    a: Vec<Vec<f64>>,
    z: Vec<Vec<f64>>,
}

/// A sequential CNN in `f64`: each layer followed by its activation, with per-layer training flags.
#[derive(Clone, Debug, PartialEq)]
pub struct RefCnn {
    /// Shape `[H, W, C]` of each layer's input, then of the output: `shapes[0]` is the network's input,
    /// `shapes[k + 1]` layer `k`'s output.
    shapes: Vec<[usize; 3]>,
    layers: Vec<RefLayer>,
    activations: Vec<RefActivation>,
    train_weights: Vec<bool>,
    train_bias: Vec<bool>,
    /// Per layer: Conv weights (OHWI), BatchNorm scale, Dense weights (`[O][I]`); empty for the others.
    weights: Vec<Vec<f64>>,
    /// Per layer: Conv/Dense bias, BatchNorm shift; empty for the others.
    biases: Vec<Vec<f64>>,
}

impl RefCnn {
    /// A network on inputs of shape `input = [H, W, C]` (1-D: `[1, length, C]`) with all parameters 0.
    /// Each entry of `layers` is `(layer, activation, train_weights, train_bias)` (see the [module
    /// documentation](self) for the modes; use [`RefActivation::None`] for no activation).
    ///
    /// Errors: [`RefNetError::NoLayers`] for no layer; [`RefNetError::InvalidLayer`] (layer 0) if `input` has
    /// a zero dimension, and for a layer with a zero size, kernel, stride or group count, groups not dividing
    /// the channels, a kernel or window larger than the padded input, or a pool padding not smaller than its
    /// window; [`RefNetError::Shape`] `{ layer, expected, found }` when a layer's `in_c`, `channels` or
    /// `inputs` (found) is not the incoming tensor's `C` (or `H·W·C` for Dense) (expected).
    pub fn new(
        input: [usize; 3],
        layers: Vec<(RefLayer, RefActivation, bool, bool)>,
    ) -> Result<RefCnn, RefNetError> {
        if layers.is_empty() {
            return Err(RefNetError::NoLayers);
        }
        if input[0] == 0 || input[1] == 0 || input[2] == 0 {
            return Err(RefNetError::InvalidLayer {
                layer: 0,
                reason: "the input shape has a zero dimension",
            });
        }
        let mut net = RefCnn {
            shapes: vec![input],
            layers: Vec::new(),
            activations: Vec::new(),
            train_weights: Vec::new(),
            train_bias: Vec::new(),
            weights: Vec::new(),
            biases: Vec::new(),
        };
        for k in 0..layers.len() {
            let (layer, act, tw, tb) = layers[k];
            let out = layer_output_shape(k, &layer, net.shapes[k])?;
            let (nw, nb) = layer.param_counts();
            net.shapes.push(out);
            net.layers.push(layer);
            net.activations.push(act);
            net.train_weights.push(tw);
            net.train_bias.push(tb);
            net.weights.push(vec![0.0; nw]);
            net.biases.push(vec![0.0; nb]);
        }
        Ok(net)
    }

    /// [`RefCnn::new`], then [`RefCnn::load_flat`] of `flat`.
    pub fn from_flat(
        input: [usize; 3],
        layers: Vec<(RefLayer, RefActivation, bool, bool)>,
        flat: &[f64],
    ) -> Result<RefCnn, RefNetError> {
        let mut net = RefCnn::new(input, layers)?;
        net.load_flat(flat)?;
        Ok(net)
    }

    /// The layers, in order.
    pub fn layers(&self) -> &[RefLayer] {
        &self.layers
    }

    /// The activation of each layer.
    pub fn activations(&self) -> &[RefActivation] {
        &self.activations
    }

    /// `(train_weights, train_bias)` of each layer.
    pub fn modes(&self) -> Vec<(bool, bool)> {
        let mut modes = Vec::with_capacity(self.layers.len());
        for k in 0..self.layers.len() {
            modes.push((self.train_weights[k], self.train_bias[k]));
        }
        modes
    }

    /// `[input shape, output shape of layer 0, of layer 1, …]`, each `[H, W, C]`.
    pub fn shapes(&self) -> &[[usize; 3]] {
        &self.shapes
    }

    /// Number of input elements, `H·W·C`.
    pub fn inputs(&self) -> usize {
        let [h, w, c] = self.shapes[0];
        h * w * c
    }

    /// Number of output elements (of the last layer's shape).
    pub fn outputs(&self) -> usize {
        let [h, w, c] = self.shapes[self.shapes.len() - 1];
        h * w * c
    }

    /// Changes layer `layer`'s training flags; does nothing if there is no such layer.
    pub fn set_mode(&mut self, layer: usize, train_weights: bool, train_bias: bool) {
        if layer < self.layers.len() {
            self.train_weights[layer] = train_weights;
            self.train_bias[layer] = train_bias;
        }
    }

    /// Number of parameters (frozen or not).
    pub fn num_params(&self) -> usize {
        let mut n = 0;
        for k in 0..self.layers.len() {
            n += self.weights[k].len() + self.biases[k].len();
        }
        n
    }

    /// Number of trainable parameters (the length of [`RefCnn::trainable_params`]).
    pub fn num_trainable(&self) -> usize {
        let mut n = 0;
        for k in 0..self.layers.len() {
            if self.train_weights[k] {
                n += self.weights[k].len();
            }
            if self.train_bias[k] {
                n += self.biases[k].len();
            }
        }
        n
    }

    /// `(weights, bias)` counts of every parameterised layer, in order (the contract's `WEIGHT_SHAPES`
    /// entries `(inputs, outputs)`): Conv `(kh·kw·in_c/groups, out_c)`, BatchNorm `(1, C)`, Dense `(I, O)`.
    pub fn weight_shapes(&self) -> Vec<(usize, usize)> {
        let mut shapes = Vec::new();
        for layer in &self.layers {
            match *layer {
                RefLayer::Conv {
                    in_c,
                    out_c,
                    kh,
                    kw,
                    groups,
                    ..
                } => shapes.push((kh * kw * (in_c / groups), out_c)),
                RefLayer::BatchNorm { channels } => shapes.push((1, channels)),
                RefLayer::Dense { inputs, outputs } => shapes.push((inputs, outputs)),
                _ => {}
            }
        }
        shapes
    }

    /// Every parameter in flat torch order (see the [module documentation](self)).
    pub fn to_flat(&self) -> Vec<f64> {
        let mut flat = Vec::with_capacity(self.num_params());
        for k in 0..self.layers.len() {
            for &w in &self.weights[k] {
                flat.push(w);
            }
            for &b in &self.biases[k] {
                flat.push(b);
            }
        }
        flat
    }

    /// Sets every parameter from `flat` (flat torch order); the flags are kept.
    ///
    /// Returns [`RefNetError::LengthMismatch`] (`what = "parameters"`) and changes nothing if `flat` does not
    /// have exactly [`RefCnn::num_params`] elements.
    pub fn load_flat(&mut self, flat: &[f64]) -> Result<(), RefNetError> {
        let expected = self.num_params();
        if flat.len() != expected {
            return Err(RefNetError::LengthMismatch {
                what: "parameters",
                expected,
                found: flat.len(),
            });
        }
        let mut p = 0;
        for k in 0..self.layers.len() {
            for i in 0..self.weights[k].len() {
                self.weights[k][i] = flat[p];
                p += 1;
            }
            for i in 0..self.biases[k].len() {
                self.biases[k][i] = flat[p];
                p += 1;
            }
        }
        Ok(())
    }

    /// One flag per parameter, in flat order: whether it trains.
    pub fn trainable_mask(&self) -> Vec<bool> {
        let mut mask = Vec::with_capacity(self.num_params());
        for k in 0..self.layers.len() {
            for _ in 0..self.weights[k].len() {
                mask.push(self.train_weights[k]);
            }
            for _ in 0..self.biases[k].len() {
                mask.push(self.train_bias[k]);
            }
        }
        mask
    }

    /// The trainable parameters, gathered in flat order (what the optimizer steps).
    pub fn trainable_params(&self) -> Vec<f64> {
        gather(&self.to_flat(), &self.trainable_mask())
    }

    /// Sets the trainable parameters from `values` (ordered as [`RefCnn::trainable_params`]); frozen ones are
    /// untouched.
    ///
    /// Returns [`RefNetError::LengthMismatch`] (`what = "trainable parameters"`) and changes nothing if
    /// `values` does not have exactly [`RefCnn::num_trainable`] elements.
    pub fn set_trainable_params(&mut self, values: &[f64]) -> Result<(), RefNetError> {
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

    /// The network's output for input `x` (`[H][W][C]` flat; the logits when the last activation is `None`).
    ///
    /// Errors: [`RefNetError::LengthMismatch`] (`what = "input"`) if `x` does not have [`RefCnn::inputs`]
    /// elements, [`RefNetError::InvalidInput`] if an element is NaN or infinite.
    pub fn forward(&self, x: &[f64]) -> Result<Vec<f64>, RefNetError> {
        let mut t = self.trace(x)?;
        Ok(t.a.pop().unwrap_or_default())
    }

    /// The pre-activation output of every layer for input `x` (`z[k]` has the shape `shapes()[k + 1]`).
    ///
    /// Errors: as [`RefCnn::forward`].
    pub fn pre_activations(&self, x: &[f64]) -> Result<Vec<Vec<f64>>, RefNetError> {
        Ok(self.trace(x)?.z)
    }

    /// The index of the largest output (torch's `argmax`: the first on a tie).
    ///
    /// Errors: as [`RefCnn::forward`].
    pub fn predict(&self, x: &[f64]) -> Result<usize, RefNetError> {
        argmax(&self.forward(x)?)
    }

    /// The loss of one sample.
    ///
    /// Errors: as [`RefCnn::loss_and_grads`].
    pub fn loss(&self, x: &[f64], target: &RefTarget) -> Result<f64, RefNetError> {
        let y = self.forward(x)?;
        let (loss, _) = loss_and_output_grad(&y, target)?;
        Ok(loss)
    }

    /// The loss of one sample, its gradient with respect to every parameter in flat torch order
    /// ([`RefCnn::num_params`] elements, exactly `0.0` at every frozen element, as
    /// [`RefMlp::loss_and_grads`](super::network::RefMlp::loss_and_grads)), and its gradient with respect to
    /// the input `x` (always complete: freezing does not change it).
    ///
    /// Errors: those of [`RefCnn::forward`]; [`RefNetError::LengthMismatch`] (`what = "target values"`) or
    /// [`RefNetError::InvalidTarget`] for a bad [`RefTarget::Values`]; [`RefNetError::ClassOutOfRange`] for
    /// a [`RefTarget::Class`] not below [`RefCnn::outputs`].
    pub fn loss_and_grads(
        &self,
        x: &[f64],
        target: &RefTarget,
    ) -> Result<(f64, Vec<f64>, Vec<f64>), RefNetError> {
        let (loss, grads, dx) = self.loss_and_grads_unmasked(x, target)?;
        let mask = self.trainable_mask();
        let mut masked = grads;
        for i in 0..masked.len() {
            if !mask[i] {
                masked[i] = 0.0;
            }
        }
        Ok((loss, masked, dx))
    }

    /// As [`RefCnn::loss_and_grads`], but the parameter gradient is complete, frozen elements included (the
    /// gradient every parameter would have if it trained).
    pub fn loss_and_grads_unmasked(
        &self,
        x: &[f64],
        target: &RefTarget,
    ) -> Result<(f64, Vec<f64>, Vec<f64>), RefNetError> {
        let t = self.trace(x)?;
        let n = self.layers.len();
        let (loss, dy) = loss_and_output_grad(&t.a[n], target)?;

        let mut dws: Vec<Vec<f64>> = vec![Vec::new(); n];
        let mut dbs: Vec<Vec<f64>> = vec![Vec::new(); n];
        // `delta` = ∂L/∂(output of layer k, after its activation).
        let mut delta = dy;
        for k in (0..n).rev() {
            // dz = delta ⊙ act'(z)
            let mut dz = vec![0.0; t.z[k].len()];
            for i in 0..dz.len() {
                dz[i] = delta[i] * self.activations[k].derivative(t.z[k][i]);
            }
            let (dw, db, dx) = self.layer_backward(k, &t.a[k], &dz);
            dws[k] = dw;
            dbs[k] = db;
            delta = dx;
        }

        let mut grads = Vec::with_capacity(self.num_params());
        for k in 0..n {
            for &g in &dws[k] {
                grads.push(g);
            }
            for &g in &dbs[k] {
                grads.push(g);
            }
        }
        Ok((loss, grads, delta))
    }

    /// The mean loss of a mini-batch and the mean of its per-sample parameter gradients (torch's
    /// `reduction="mean"`, as [`RefMlp::batch_loss_and_grads`](super::network::RefMlp::batch_loss_and_grads)),
    /// laid out as in [`RefCnn::loss_and_grads`] (0 at frozen elements).
    ///
    /// Errors: [`RefNetError::EmptyBatch`]; [`RefNetError::LengthMismatch`] (`what = "targets"`) if `xs` and
    /// `targets` differ in length; otherwise those of [`RefCnn::loss_and_grads`] for the first bad sample
    /// (inputs and targets are all checked before anything is computed).
    pub fn batch_loss_and_grads(
        &self,
        xs: &[Vec<f64>],
        targets: &[RefTarget],
    ) -> Result<(f64, Vec<f64>), RefNetError> {
        check_batch(self.inputs(), self.outputs(), xs, targets)?;
        let batch = xs.len() as f64;
        let mut loss_sum = 0.0;
        let mut grad_sum = vec![0.0; self.num_params()];
        for s in 0..xs.len() {
            let (loss, grads, _) = self.loss_and_grads(&xs[s], &targets[s])?;
            loss_sum += loss;
            for p in 0..grad_sum.len() {
                grad_sum[p] += grads[p];
            }
        }
        for p in 0..grad_sum.len() {
            grad_sum[p] /= batch;
        }
        Ok((loss_sum / batch, grad_sum))
    }

    /// A fresh optimizer over the trainable parameters ([`RefCnn::num_trainable`] of them).
    pub fn optimizer(&self, kind: Kind, hyper: Hyper) -> Reference {
        Reference::new(kind, hyper, self.num_trainable())
    }

    /// One training step on a mini-batch: the mean gradient of [`RefCnn::batch_loss_and_grads`], then one
    /// step of `opt` over the trainable parameters gathered in flat order. Frozen parameters never change.
    /// Returns the mean loss before the step.
    ///
    /// Errors (nothing changes): those of [`RefCnn::batch_loss_and_grads`], and [`RefNetError::Optimizer`]
    /// if `opt` refuses the step (e.g. `opt.n` is not [`RefCnn::num_trainable`]).
    pub fn train_step(
        &mut self,
        opt: &mut Reference,
        xs: &[Vec<f64>],
        targets: &[RefTarget],
    ) -> Result<f64, RefNetError> {
        let (loss, grads) = self.batch_loss_and_grads(xs, targets)?;
        let mut params = self.trainable_params();
        let trainable_grads = gather(&grads, &self.trainable_mask());
        opt.step(&mut params, &trainable_grads)?;
        self.set_trainable_params(&params)?;
        Ok(loss)
    }

    /// The fraction of `xs` whose [`RefCnn::predict`] equals `labels` (0 for an empty set).
    ///
    /// Errors: [`RefNetError::LengthMismatch`] (`what = "labels"`) if `xs` and `labels` differ in length,
    /// and those of [`RefCnn::forward`].
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

    /// The forward pass, recording each layer's input and pre-activation output.
    fn trace(&self, x: &[f64]) -> Result<Trace, RefNetError> {
        if x.len() != self.inputs() {
            return Err(RefNetError::LengthMismatch {
                what: "input",
                expected: self.inputs(),
                found: x.len(),
            });
        }
        check_input(0, x)?;
        let n = self.layers.len();
        let mut a = Vec::with_capacity(n + 1);
        let mut z = Vec::with_capacity(n);
        a.push(x.to_vec());
        for k in 0..n {
            let zk = self.layer_forward(k, &a[k]);
            let mut ak = vec![0.0; zk.len()];
            for i in 0..zk.len() {
                ak[i] = self.activations[k].apply(zk[i]);
            }
            z.push(zk);
            a.push(ak);
        }
        Ok(Trace { a, z })
    }

    /// Layer `k`'s output (before its activation) for its input `x`.
    fn layer_forward(&self, k: usize, x: &[f64]) -> Vec<f64> {
        let s_in = self.shapes[k];
        let s_out = self.shapes[k + 1];
        let w = &self.weights[k];
        let b = &self.biases[k];
        match self.layers[k] {
            RefLayer::Conv {
                kh,
                kw,
                stride_h,
                stride_w,
                pad_top,
                pad_left,
                groups,
                ..
            } => {
                let win = Window {
                    kh,
                    kw,
                    sh: stride_h,
                    sw: stride_w,
                    top: pad_top,
                    left: pad_left,
                };
                conv_forward(s_in, s_out, win, groups, w, b, x)
            }
            RefLayer::BatchNorm { .. } => batch_norm_forward(s_in, w, b, x),
            RefLayer::MaxPool {
                kh,
                kw,
                stride_h,
                stride_w,
                pad_top,
                pad_left,
                ..
            } => {
                let win = Window {
                    kh,
                    kw,
                    sh: stride_h,
                    sw: stride_w,
                    top: pad_top,
                    left: pad_left,
                };
                max_pool_forward(s_in, s_out, win, x)
            }
            RefLayer::AvgPool {
                kh,
                kw,
                stride_h,
                stride_w,
                pad_top,
                pad_left,
                ..
            } => {
                let win = Window {
                    kh,
                    kw,
                    sh: stride_h,
                    sw: stride_w,
                    top: pad_top,
                    left: pad_left,
                };
                avg_pool_forward(s_in, s_out, win, x)
            }
            RefLayer::GlobalAvgPool => global_avg_pool_forward(s_in, x),
            RefLayer::Flatten => x.to_vec(),
            RefLayer::Dense { inputs, outputs } => dense_forward(inputs, outputs, w, b, x),
        }
    }

    /// Layer `k`'s backward pass: from its input `x` and `dz = ∂L/∂(its pre-activation output)`, the
    /// gradients `(∂L/∂weights, ∂L/∂bias, ∂L/∂x)`.
    fn layer_backward(&self, k: usize, x: &[f64], dz: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let s_in = self.shapes[k];
        let s_out = self.shapes[k + 1];
        let w = &self.weights[k];
        match self.layers[k] {
            RefLayer::Conv {
                kh,
                kw,
                stride_h,
                stride_w,
                pad_top,
                pad_left,
                groups,
                ..
            } => {
                let win = Window {
                    kh,
                    kw,
                    sh: stride_h,
                    sw: stride_w,
                    top: pad_top,
                    left: pad_left,
                };
                conv_backward(s_in, s_out, win, groups, w, x, dz)
            }
            RefLayer::BatchNorm { .. } => batch_norm_backward(s_in, w, x, dz),
            RefLayer::MaxPool {
                kh,
                kw,
                stride_h,
                stride_w,
                pad_top,
                pad_left,
                ..
            } => {
                let win = Window {
                    kh,
                    kw,
                    sh: stride_h,
                    sw: stride_w,
                    top: pad_top,
                    left: pad_left,
                };
                (
                    Vec::new(),
                    Vec::new(),
                    max_pool_backward(s_in, s_out, win, x, dz),
                )
            }
            RefLayer::AvgPool {
                kh,
                kw,
                stride_h,
                stride_w,
                pad_top,
                pad_left,
                ..
            } => {
                let win = Window {
                    kh,
                    kw,
                    sh: stride_h,
                    sw: stride_w,
                    top: pad_top,
                    left: pad_left,
                };
                (
                    Vec::new(),
                    Vec::new(),
                    avg_pool_backward(s_in, s_out, win, dz),
                )
            }
            RefLayer::GlobalAvgPool => (Vec::new(), Vec::new(), global_avg_pool_backward(s_in, dz)),
            RefLayer::Flatten => (Vec::new(), Vec::new(), dz.to_vec()),
            RefLayer::Dense { inputs, outputs } => dense_backward(inputs, outputs, w, x, dz),
        }
    }
}

/// Index of element `(h, w, c)` of a channels-last tensor of shape `s`.
fn at(s: [usize; 3], h: usize, w: usize, c: usize) -> usize {
    (h * s[1] + w) * s[2] + c
}

/// Conv forward:
/// `y[oh][ow][o] = b[o] + Σ_{ki,kj,ci} W[o][ki][kj][ci] · x[oh·sh + ki − top][ow·sw + kj − left][g·Cg + ci]`.
fn conv_forward(
    s_in: [usize; 3],
    s_out: [usize; 3],
    win: Window,
    groups: usize,
    w: &[f64],
    b: &[f64],
    x: &[f64],
) -> Vec<f64> {
    let [in_h, in_w, in_c] = s_in;
    let [out_h, out_w, out_c] = s_out;
    let cg = in_c / groups; // input channels per group
    let og = out_c / groups; // output channels per group
    let mut y = vec![0.0; out_h * out_w * out_c];
    for oh in 0..out_h {
        for ow in 0..out_w {
            for o in 0..out_c {
                let g = o / og;
                let mut sum = b[o];
                for ki in 0..win.kh {
                    let Some(ih) = input_index(oh, win.sh, ki, win.top, in_h) else {
                        continue;
                    };
                    for kj in 0..win.kw {
                        let Some(iw) = input_index(ow, win.sw, kj, win.left, in_w) else {
                            continue;
                        };
                        for ci in 0..cg {
                            let wi = ((o * win.kh + ki) * win.kw + kj) * cg + ci;
                            sum += w[wi] * x[at(s_in, ih, iw, g * cg + ci)];
                        }
                    }
                }
                y[at(s_out, oh, ow, o)] = sum;
            }
        }
    }
    y
}

/// Conv backward, the same loops as [`conv_forward`]: `dW[o][ki][kj][ci] += dy·x`, `db[o] += dy`,
/// `dx[tap] += W·dy`.
fn conv_backward(
    s_in: [usize; 3],
    s_out: [usize; 3],
    win: Window,
    groups: usize,
    w: &[f64],
    x: &[f64],
    dy: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let [in_h, in_w, in_c] = s_in;
    let [out_h, out_w, out_c] = s_out;
    let cg = in_c / groups;
    let og = out_c / groups;
    let mut dw = vec![0.0; w.len()];
    let mut db = vec![0.0; out_c];
    let mut dx = vec![0.0; x.len()];
    for oh in 0..out_h {
        for ow in 0..out_w {
            for o in 0..out_c {
                let g = o / og;
                let d = dy[at(s_out, oh, ow, o)];
                db[o] += d;
                for ki in 0..win.kh {
                    let Some(ih) = input_index(oh, win.sh, ki, win.top, in_h) else {
                        continue;
                    };
                    for kj in 0..win.kw {
                        let Some(iw) = input_index(ow, win.sw, kj, win.left, in_w) else {
                            continue;
                        };
                        for ci in 0..cg {
                            let wi = ((o * win.kh + ki) * win.kw + kj) * cg + ci;
                            let xi = at(s_in, ih, iw, g * cg + ci);
                            dw[wi] += d * x[xi];
                            dx[xi] += w[wi] * d;
                        }
                    }
                }
            }
        }
    }
    (dw, db, dx)
}

/// BatchNorm forward: `y[h][w][c] = scale[c]·x[h][w][c] + shift[c]`.
fn batch_norm_forward(s: [usize; 3], scale: &[f64], shift: &[f64], x: &[f64]) -> Vec<f64> {
    let [h_n, w_n, c_n] = s;
    let mut y = vec![0.0; x.len()];
    for h in 0..h_n {
        for w in 0..w_n {
            for c in 0..c_n {
                let i = at(s, h, w, c);
                y[i] = scale[c] * x[i] + shift[c];
            }
        }
    }
    y
}

/// BatchNorm backward: `dscale[c] = Σ dy·x`, `dshift[c] = Σ dy`, `dx = scale[c]·dy`.
fn batch_norm_backward(
    s: [usize; 3],
    scale: &[f64],
    x: &[f64],
    dy: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let [h_n, w_n, c_n] = s;
    let mut dscale = vec![0.0; c_n];
    let mut dshift = vec![0.0; c_n];
    let mut dx = vec![0.0; x.len()];
    for h in 0..h_n {
        for w in 0..w_n {
            for c in 0..c_n {
                let i = at(s, h, w, c);
                dscale[c] += dy[i] * x[i];
                dshift[c] += dy[i];
                dx[i] = scale[c] * dy[i];
            }
        }
    }
    (dscale, dshift, dx)
}

/// The index into `x` of the first maximum (row-major, first strictly greater wins) of output
/// `(oh, ow)`'s window in channel `c`; `None` only for a window with no input tap (which validation rules
/// out).
fn max_pool_argmax(
    s_in: [usize; 3],
    win: Window,
    x: &[f64],
    oh: usize,
    ow: usize,
    c: usize,
) -> Option<usize> {
    let mut best: Option<usize> = None;
    for ki in 0..win.kh {
        let Some(ih) = input_index(oh, win.sh, ki, win.top, s_in[0]) else {
            continue;
        };
        for kj in 0..win.kw {
            let Some(iw) = input_index(ow, win.sw, kj, win.left, s_in[1]) else {
                continue;
            };
            let i = at(s_in, ih, iw, c);
            best = match best {
                None => Some(i),
                Some(j) => {
                    if x[i] > x[j] {
                        Some(i)
                    } else {
                        Some(j)
                    }
                }
            };
        }
    }
    best
}

/// MaxPool forward: `y[oh][ow][c]` = the largest input tap of the window (padding is `−∞`).
fn max_pool_forward(s_in: [usize; 3], s_out: [usize; 3], win: Window, x: &[f64]) -> Vec<f64> {
    let [out_h, out_w, c_n] = s_out;
    let mut y = vec![0.0; out_h * out_w * c_n];
    for oh in 0..out_h {
        for ow in 0..out_w {
            for c in 0..c_n {
                if let Some(i) = max_pool_argmax(s_in, win, x, oh, ow, c) {
                    y[at(s_out, oh, ow, c)] = x[i];
                }
            }
        }
    }
    y
}

/// MaxPool backward: each `dy` goes to the first maximum of its window (overlapping windows add).
fn max_pool_backward(
    s_in: [usize; 3],
    s_out: [usize; 3],
    win: Window,
    x: &[f64],
    dy: &[f64],
) -> Vec<f64> {
    let [out_h, out_w, c_n] = s_out;
    let mut dx = vec![0.0; x.len()];
    for oh in 0..out_h {
        for ow in 0..out_w {
            for c in 0..c_n {
                if let Some(i) = max_pool_argmax(s_in, win, x, oh, ow, c) {
                    dx[i] += dy[at(s_out, oh, ow, c)];
                }
            }
        }
    }
    dx
}

/// AvgPool forward: `y[oh][ow][c] = Σ (input taps of the window) / (kh·kw)` (`count_include_pad=True`).
fn avg_pool_forward(s_in: [usize; 3], s_out: [usize; 3], win: Window, x: &[f64]) -> Vec<f64> {
    let [out_h, out_w, c_n] = s_out;
    let divisor = (win.kh * win.kw) as f64;
    let mut y = vec![0.0; out_h * out_w * c_n];
    for oh in 0..out_h {
        for ow in 0..out_w {
            for c in 0..c_n {
                let mut sum = 0.0;
                for ki in 0..win.kh {
                    let Some(ih) = input_index(oh, win.sh, ki, win.top, s_in[0]) else {
                        continue;
                    };
                    for kj in 0..win.kw {
                        let Some(iw) = input_index(ow, win.sw, kj, win.left, s_in[1]) else {
                            continue;
                        };
                        sum += x[at(s_in, ih, iw, c)];
                    }
                }
                y[at(s_out, oh, ow, c)] = sum / divisor;
            }
        }
    }
    y
}

/// AvgPool backward: every input tap of a window gets `dy / (kh·kw)`.
fn avg_pool_backward(s_in: [usize; 3], s_out: [usize; 3], win: Window, dy: &[f64]) -> Vec<f64> {
    let [out_h, out_w, c_n] = s_out;
    let divisor = (win.kh * win.kw) as f64;
    let mut dx = vec![0.0; s_in[0] * s_in[1] * s_in[2]];
    for oh in 0..out_h {
        for ow in 0..out_w {
            for c in 0..c_n {
                let d = dy[at(s_out, oh, ow, c)] / divisor;
                for ki in 0..win.kh {
                    let Some(ih) = input_index(oh, win.sh, ki, win.top, s_in[0]) else {
                        continue;
                    };
                    for kj in 0..win.kw {
                        let Some(iw) = input_index(ow, win.sw, kj, win.left, s_in[1]) else {
                            continue;
                        };
                        dx[at(s_in, ih, iw, c)] += d;
                    }
                }
            }
        }
    }
    dx
}

/// GlobalAvgPool forward: `y[c] = Σ_{h,w} x[h][w][c] / (H·W)`.
fn global_avg_pool_forward(s: [usize; 3], x: &[f64]) -> Vec<f64> {
    let [h_n, w_n, c_n] = s;
    let pixels = (h_n * w_n) as f64;
    let mut y = vec![0.0; c_n];
    for c in 0..c_n {
        let mut sum = 0.0;
        for h in 0..h_n {
            for w in 0..w_n {
                sum += x[at(s, h, w, c)];
            }
        }
        y[c] = sum / pixels;
    }
    y
}

/// GlobalAvgPool backward: `dx[h][w][c] = dy[c] / (H·W)`.
fn global_avg_pool_backward(s: [usize; 3], dy: &[f64]) -> Vec<f64> {
    let [h_n, w_n, c_n] = s;
    let pixels = (h_n * w_n) as f64;
    let mut dx = vec![0.0; h_n * w_n * c_n];
    for h in 0..h_n {
        for w in 0..w_n {
            for c in 0..c_n {
                dx[at(s, h, w, c)] = dy[c] / pixels;
            }
        }
    }
    dx
}

/// Dense forward: `y[o] = b[o] + Σ_i W[o][i]·x[i]`, `W` row-major `[outputs][inputs]`.
fn dense_forward(inputs: usize, outputs: usize, w: &[f64], b: &[f64], x: &[f64]) -> Vec<f64> {
    let mut y = vec![0.0; outputs];
    for o in 0..outputs {
        let mut sum = b[o];
        for i in 0..inputs {
            sum += w[o * inputs + i] * x[i];
        }
        y[o] = sum;
    }
    y
}

/// Dense backward: `dW[o][i] = dy[o]·x[i]`, `db[o] = dy[o]`, `dx[i] = Σ_o W[o][i]·dy[o]`.
fn dense_backward(
    inputs: usize,
    outputs: usize,
    w: &[f64],
    x: &[f64],
    dy: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut dw = vec![0.0; outputs * inputs];
    let mut db = vec![0.0; outputs];
    let mut dx = vec![0.0; inputs];
    for o in 0..outputs {
        db[o] = dy[o];
        for i in 0..inputs {
            dw[o * inputs + i] = dy[o] * x[i];
            dx[i] += w[o * inputs + i] * dy[o];
        }
    }
    (dw, db, dx)
}
