//! [`Plan`]: a [`cnn!`](crate::cnn) network's declared input and layers, and the `const fn`s
//! that compute every shape, size and offset of the network from them.
//!
//! Shapes flow from the input through each layer ([`Layer::output`]); a layer that does not
//! accept what it receives is found by [`Plan::first_bad_layer`], which the macro turns into a
//! compile error naming that layer.

use super::layer::{Act, Dims, Layer};
use super::model::{LayerRanges, LayerShape};
use crate::nn::Scalar;

/// Everything a pass needs to know about one layer, computed at compile time by
/// [`Plan::places`] so that forward and backward do no shape arithmetic of their own.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Place {
    /// The layer.
    pub layer: Layer,
    /// The shape it receives.
    pub input: Dims,
    /// The shape it writes.
    pub output: Dims,
    /// Whether training keeps its input values for backward ([`Plan::keeps_input`]).
    pub keeps_input: bool,
    /// Whether training keeps a 1-bit activation mask of its input ([`Plan::keeps_mask`]).
    pub keeps_mask: bool,
    /// Where that mask starts, in bits.
    pub mask_at: usize,
    /// Where that kept input starts in the kept buffer.
    pub kept_at: usize,
    /// Where its parameters start in the trainable arena.
    pub trainable_at: usize,
    /// Where its parameters start in the frozen arena.
    pub frozen_at: usize,
    /// Whether backward runs it.
    pub backward: bool,
    /// Whether backward computes the gradient of its input.
    pub input_grad: bool,
}

/// A network's input shape and its layers in order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plan<'a> {
    /// The shape of one input sample.
    pub input: Dims,
    /// The layers, first to last.
    pub layers: &'a [Layer],
}

impl Plan<'_> {
    /// Number of layers.
    pub const fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether there are no layers.
    pub const fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The shape layer `k` receives (the input for `k = 0`; the last output for `k = len`).
    pub const fn dims_in(&self, k: usize) -> Dims {
        let mut d = self.input;
        let mut j = 0;
        while j < k && j < self.layers.len() {
            d = self.layers[j].output(d);
            j += 1;
        }
        d
    }

    /// The shape layer `k` writes.
    pub const fn dims_out(&self, k: usize) -> Dims {
        self.dims_in(k + 1)
    }

    /// The first layer that does not accept the shape it receives, if any.
    pub const fn first_bad_layer(&self) -> Option<usize> {
        let mut d = self.input;
        let mut k = 0;
        while k < self.layers.len() {
            if !self.layers[k].accepts(d) {
                return Some(k);
            }
            d = self.layers[k].output(d);
            k += 1;
        }
        None
    }

    /// Whether layer `k` is fine as far as it is concerned: it accepts its input, or a layer
    /// before it is already at fault (so a compile error names only the first offender).
    pub const fn layer_ok(&self, k: usize) -> bool {
        match self.first_bad_layer() {
            Some(bad) => bad != k,
            None => true,
        }
    }

    /// Whether the whole network is usable: at least one layer, every layer accepts its
    /// input, the output and every total fit in a `usize`.
    pub const fn valid(&self) -> bool {
        !self.layers.is_empty()
            && self.first_bad_layer().is_none()
            && !self.dims_in(self.layers.len()).is_empty()
            && self.params() != usize::MAX
            && self.kept() != usize::MAX
    }

    /// Input elements.
    pub const fn inputs(&self) -> usize {
        self.input.len()
    }

    /// Output elements of the last layer.
    pub const fn outputs(&self) -> usize {
        self.dims_in(self.layers.len()).len()
    }

    /// All parameters.
    pub const fn params(&self) -> usize {
        let mut n: usize = 0;
        let mut k = 0;
        while k < self.layers.len() {
            n = n.saturating_add(self.layers[k].params());
            k += 1;
        }
        n
    }

    /// Elements the optimizer steps.
    pub const fn trainable(&self) -> usize {
        self.trainable_before(self.layers.len())
    }

    /// Elements no optimizer touches.
    pub const fn frozen(&self) -> usize {
        self.params().saturating_sub(self.trainable())
    }

    /// Trainable elements of the layers before `k` (where layer `k`'s start in the trainable
    /// arena).
    pub const fn trainable_before(&self, k: usize) -> usize {
        let mut n: usize = 0;
        let mut j = 0;
        while j < k && j < self.layers.len() {
            n = n.saturating_add(self.layers[j].trainable());
            j += 1;
        }
        n
    }

    /// Frozen elements of the layers before `k`.
    pub const fn frozen_before(&self, k: usize) -> usize {
        let mut n: usize = 0;
        let mut j = 0;
        while j < k && j < self.layers.len() {
            n = n.saturating_add(self.layers[j].params() - self.layers[j].trainable());
            j += 1;
        }
        n
    }

    /// The first layer with a trainable element (`len` if none): backward stops there.
    pub const fn first_trainable(&self) -> usize {
        let mut k = 0;
        while k < self.layers.len() {
            if self.layers[k].trainable() > 0 {
                return k;
            }
            k += 1;
        }
        self.layers.len()
    }

    /// Whether backward runs layer `k`.
    pub const fn in_backward(&self, k: usize) -> bool {
        k < self.layers.len() && k >= self.first_trainable()
    }

    /// Whether backward computes the gradient of layer `k`'s input (a trainable layer lies
    /// below it).
    pub const fn has_input_grad(&self, k: usize) -> bool {
        k < self.layers.len() && k > self.first_trainable()
    }

    /// Whether training keeps layer `k`'s input values from forward for backward: the layer
    /// reads them ([`Layer::reads_input`]), or the activation of the layer below needs them
    /// and is not one whose derivative is a 1-bit mask (tanh, sigmoid). Never for layer 0,
    /// whose input is the caller's.
    pub const fn keeps_input(&self, k: usize) -> bool {
        if k == 0 || !self.in_backward(k) {
            return false;
        }
        let grad = self.has_input_grad(k);
        self.layers[k].reads_input(grad)
            || (grad && matches!(self.layers[k - 1].act, Act::Tanh | Act::Sigmoid))
    }

    /// Whether training keeps only a 1-bit mask of layer `k`'s input: backward needs nothing
    /// of it but the derivative of the ReLU, ReLU6 or leaky ReLU below, which is one of two
    /// values (1 inside the linear part, else 0 or the slope).
    pub const fn keeps_mask(&self, k: usize) -> bool {
        k > 0
            && self.has_input_grad(k)
            && !self.keeps_input(k)
            && matches!(
                self.layers[k - 1].act,
                Act::Relu | Act::Relu6 | Act::LeakyRelu(_)
            )
    }

    /// The most trainable elements of any one layer: the gradient storage of a fused update.
    pub const fn max_layer_trainable(&self) -> usize {
        let mut m = 0;
        let mut k = 0;
        while k < self.layers.len() {
            let t = self.layers[k].trainable();
            if t > m {
                m = t;
            }
            k += 1;
        }
        m
    }

    /// Elements kept from forward for backward (not counting the loss gradient).
    pub const fn kept(&self) -> usize {
        self.kept_before(self.layers.len())
    }

    /// Kept elements of the layers before `k` (where layer `k`'s kept input starts).
    pub const fn kept_before(&self, k: usize) -> usize {
        let mut n: usize = 0;
        let mut j = 0;
        while j < k && j < self.layers.len() {
            if self.keeps_input(j) {
                n = n.saturating_add(self.dims_in(j).len());
            }
            j += 1;
        }
        n
    }

    /// Mask bits of the layers before `k` (where layer `k`'s mask starts).
    pub const fn mask_bits_before(&self, k: usize) -> usize {
        let mut n: usize = 0;
        let mut j = 0;
        while j < k && j < self.layers.len() {
            if self.keeps_mask(j) {
                n = n.saturating_add(self.dims_in(j).len());
            }
            j += 1;
        }
        n
    }

    /// 32-bit words of the activation masks.
    pub const fn mask_words(&self) -> usize {
        self.mask_bits_before(self.layers.len()).div_ceil(32)
    }

    /// The largest output among the hidden layers (all but the last) of parity `odd`: one of
    /// the two ping-pong buffers of the scratch, which also carry the gradients down.
    pub const fn hidden_width(&self, odd: bool) -> usize {
        let mut m = 0;
        let mut k = if odd { 1 } else { 0 };
        while k + 1 < self.layers.len() {
            let n = self.dims_out(k).len();
            if n > m {
                m = n;
            }
            k += 2;
        }
        m
    }

    /// The scratch elements live at the same moment of a training step, at their widest, plus
    /// the logits: the floor of the scratch ([`MemoryPlan`](super::MemoryPlan)). In forward a
    /// layer's input and output occupy scratch unless they are the caller's input, kept, or the
    /// logits; in backward its output gradient (unless it is the loss gradient) and its input
    /// gradient (if computed) do.
    pub const fn scratch_floor(&self) -> usize {
        let n = self.layers.len();
        let mut widest = 0;
        let mut k = 0;
        while k < n {
            let (i, o) = (self.dims_in(k).len(), self.dims_out(k).len());
            let input = if k > 0 && !self.keeps_input(k) { i } else { 0 };
            let output = if k + 1 < n && !self.keeps_input(k + 1) {
                o
            } else {
                0
            };
            let mut live = input.saturating_add(output);
            if self.in_backward(k) {
                let dy = if k + 1 < n { o } else { 0 };
                let dx = if self.has_input_grad(k) { i } else { 0 };
                let back = dy.saturating_add(dx);
                if back > live {
                    live = back;
                }
            }
            if live > widest {
                widest = live;
            }
            k += 1;
        }
        widest.saturating_add(self.outputs())
    }

    /// Layers with parameters (what [`Network::layer_shape`](super::Network::layer_shape)
    /// counts).
    pub const fn param_layers(&self) -> usize {
        let mut n = 0;
        let mut k = 0;
        while k < self.layers.len() {
            if self.layers[k].has_params() {
                n += 1;
            }
            k += 1;
        }
        n
    }

    /// The index among all layers of the `p`-th layer with parameters.
    pub const fn param_layer(&self, p: usize) -> Option<usize> {
        let mut seen = 0;
        let mut k = 0;
        while k < self.layers.len() {
            if self.layers[k].has_params() {
                if seen == p {
                    return Some(k);
                }
                seen += 1;
            }
            k += 1;
        }
        None
    }

    /// The `p`-th layer with parameters as initialisation sees it (torch's fans: a
    /// convolution's `fan_in = C_in/groups·KH·KW`, `fan_out = C_out·KH·KW`).
    pub const fn layer_shape(&self, p: usize) -> Option<LayerShape> {
        let Some(k) = self.param_layer(p) else {
            return None;
        };
        let l = self.layers[k];
        let (weights, bias) = l.runs();
        let (fan_in, fan_out) = match l.conv_shape(self.dims_in(k)) {
            Some(s) => {
                let rf = s.kh.saturating_mul(s.kw);
                (
                    s.in_c_per_group().saturating_mul(rf),
                    s.out_c.saturating_mul(rf),
                )
            }
            None => (1, 1),
        };
        Some(LayerShape {
            fan_in,
            fan_out,
            weights,
            bias,
            trained_weights: l.trained_runs().0,
            trained_bias: l.trained_runs().1,
            scale: matches!(l.op, super::layer::Op::BatchNorm { .. }),
        })
    }

    /// Where the `p`-th layer with parameters lies in the trainable arena.
    pub const fn layer_ranges(&self, p: usize) -> Option<LayerRanges> {
        let Some(k) = self.param_layer(p) else {
            return None;
        };
        let (w, b) = self.layers[k].trained_runs();
        let start = self.trainable_before(k);
        let weights = if w > 0 {
            Some(start..start.saturating_add(w))
        } else {
            None
        };
        let bias = if b > 0 {
            let from = start.saturating_add(w);
            Some(from..from.saturating_add(b))
        } else {
            None
        };
        Some(LayerRanges { weights, bias })
    }

    /// The weight-file shape `(inputs, outputs)` of each layer with parameters, with
    /// `inputs·outputs + outputs` parameters: a convolution is `(KH·KW·C_in/groups, C_out)`, a
    /// batch norm `(1, C)`, a dense layer `(I, O)`. `N` must be
    /// [`param_layers`](Self::param_layers); extra entries stay `(0, 0)`.
    pub const fn weight_shapes<const N: usize>(&self) -> [(usize, usize); N] {
        let mut out = [(0, 0); N];
        let mut p = 0;
        while p < N {
            if let Some(k) = self.param_layer(p) {
                let (w, b) = self.layers[k].runs();
                out[p] = (
                    match w.checked_div(b) {
                        Some(i) => i,
                        None => 0,
                    },
                    b,
                );
            }
            p += 1;
        }
        out
    }

    /// Gathers the trainable (or frozen) elements of a torch-order parameter array, at compile
    /// time (`split_trainable` / `split_frozen`).
    pub const fn gather<S: Scalar, const N: usize, const M: usize>(
        &self,
        all: &[S; N],
        trainable: bool,
    ) -> [S; M] {
        let mut out = [S::ZERO; M];
        let (mut src, mut dst) = (0, 0);
        let mut k = 0;
        while k < self.layers.len() {
            let runs = self.layers[k].sub_runs();
            let mut r = 0;
            while r < 4 {
                let (len, t) = runs[r];
                let mut i = 0;
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

    /// Every layer's [`Place`]; `N` must be [`len`](Self::len) (extra entries repeat the last
    /// layer and are never read).
    pub const fn places<const N: usize>(&self) -> [Place; N] {
        let blank = Place {
            layer: Layer::flatten(),
            input: self.input,
            output: self.input,
            keeps_input: false,
            keeps_mask: false,
            mask_at: 0,
            kept_at: 0,
            trainable_at: 0,
            frozen_at: 0,
            backward: false,
            input_grad: false,
        };
        let mut out = [blank; N];
        let mut k = 0;
        while k < N && k < self.layers.len() {
            out[k] = Place {
                layer: self.layers[k],
                input: self.dims_in(k),
                output: self.dims_out(k),
                keeps_input: self.keeps_input(k),
                keeps_mask: self.keeps_mask(k),
                mask_at: self.mask_bits_before(k),
                kept_at: self.kept_before(k),
                trainable_at: self.trainable_before(k),
                frozen_at: self.frozen_before(k),
                backward: self.in_backward(k),
                input_grad: self.has_input_grad(k),
            };
            k += 1;
        }
        out
    }

    /// Multiply-accumulates of one forward pass (convolution and dense layers).
    pub const fn macs(&self) -> usize {
        let mut n: usize = 0;
        let mut k = 0;
        while k < self.layers.len() {
            if let Some(s) = self.layers[k].conv_shape(self.dims_in(k)) {
                n = n.saturating_add(s.macs());
            }
            k += 1;
        }
        n
    }
}
