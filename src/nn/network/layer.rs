//! [`Layer`]: one line of a [`cnn!`](crate::cnn) declaration, and the shape it turns its input
//! into.
//!
//! A layer is declared without its input size (as torch's modules are): the height, width and
//! channels it receives flow from the declared input through the layers before it
//! ([`Plan`](super::Plan)). Everything here is `const`, so a declaration's shapes are checked and
//! its buffers sized at compile time.

use super::Mode;
use crate::nn::{Conv2dShape, Padding, Pool2dShape};

/// The shape of a channels-last map `[h][w][c]` between two layers (one-dimensional data has
/// `h = 1`, `w` = its length).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    /// Rows.
    pub h: usize,
    /// Columns (time steps of one-dimensional data).
    pub w: usize,
    /// Channels.
    pub c: usize,
}

impl Dims {
    /// One-dimensional data: `len` steps of `channels` values.
    pub const fn seq(len: usize, channels: usize) -> Dims {
        Dims {
            h: 1,
            w: len,
            c: channels,
        }
    }

    /// A map of `h × w` pixels of `c` channels.
    pub const fn map(h: usize, w: usize, c: usize) -> Dims {
        Dims { h, w, c }
    }

    /// Elements, `h·w·c` (saturating; 0 if any side is 0).
    pub const fn len(&self) -> usize {
        self.h.saturating_mul(self.w).saturating_mul(self.c)
    }

    /// Whether any side is 0.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Zero padding of one axis as declared: a number of zeros on each side, or TensorFlow's
/// `SAME` (computed from the axis length the layer receives).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pad {
    /// `p` zeros before and after (torch's integer `padding`; `valid` is 0).
    Each(usize),
    /// TensorFlow `SAME` ([`Padding::same`]).
    Same,
}

impl Pad {
    /// The padding of an axis of `len` elements for kernel `k` and `stride`.
    pub const fn resolve(self, len: usize, k: usize, stride: usize) -> Padding {
        match self {
            Pad::Each(p) => Padding::symmetric(p),
            Pad::Same => Padding::same(len, k, stride),
        }
    }
}

/// A window (convolution kernel or pooling window) over the two spatial axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Height (1 for one-dimensional layers).
    pub kh: usize,
    /// Width.
    pub kw: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Row padding.
    pub pad_h: Pad,
    /// Column padding.
    pub pad_w: Pad,
    /// A one-dimensional layer: it needs an input of height 1.
    pub one_d: bool,
}

impl Window {
    const fn new(kh: usize, kw: usize, one_d: bool) -> Window {
        Window {
            kh,
            kw,
            stride_h: 1,
            stride_w: 1,
            pad_h: Pad::Each(0),
            pad_w: Pad::Each(0),
            one_d,
        }
    }

    const fn paddings(&self, d: Dims) -> (Padding, Padding) {
        (
            self.pad_h.resolve(d.h, self.kh, self.stride_h),
            self.pad_w.resolve(d.w, self.kw, self.stride_w),
        )
    }
}

/// What a layer computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Convolution with `out_c` filters over `in_c` channels in `groups` groups (weights OHWI,
    /// then one bias per filter).
    Conv {
        /// Input channels.
        in_c: usize,
        /// Output channels.
        out_c: usize,
        /// Kernel, strides and padding.
        win: Window,
        /// Channel groups (`in_c` for depthwise).
        groups: usize,
    },
    /// Batch normalisation in its per-channel affine form `y = scale·x + shift` (scale, then
    /// shift, in the parameters).
    BatchNorm {
        /// Channels.
        channels: usize,
    },
    /// Max pooling.
    MaxPool(Window),
    /// Average pooling, padding counted (torch's `count_include_pad=True`).
    AvgPool(Window),
    /// The mean of each channel over all pixels, `[h][w][c] → [1][1][c]`.
    GlobalAvgPool,
    /// `[h][w][c] → [1][1][h·w·c]`, no data moved (channels-last is already flat).
    Flatten,
    /// A layer given an option it does not have (a stride on a batch norm, groups on a pool):
    /// accepts no input.
    Invalid,
    /// A fully connected layer over the whole incoming map (weights `[outputs][inputs]`, then
    /// the bias).
    Dense {
        /// `h·w·c` of the incoming map.
        inputs: usize,
        /// Outputs.
        outputs: usize,
    },
}

/// The element-wise activation applied to a layer's output.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Act {
    /// None.
    Identity,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), 6)`.
    Relu6,
    /// `x` for `x >= 0`, `slope·x` below (slope finite and `>= 0`).
    LeakyRelu(f64),
    /// `tanh`.
    Tanh,
    /// The logistic sigmoid.
    Sigmoid,
}

/// One layer of a [`cnn!`](crate::cnn) network: what it computes, its activation and what
/// fine-tuning may change in it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Layer {
    /// The computation.
    pub op: Op,
    /// The activation of its output.
    pub act: Act,
    /// What fine-tuning changes (ignored for layers without parameters).
    pub mode: Mode,
    /// How many leading output channels the mode applies to (a sub-tensor sparse update; the
    /// others stay frozen); `usize::MAX` for all of them.
    pub channels: usize,
}

impl Layer {
    const fn of(op: Op) -> Layer {
        Layer {
            op,
            act: Act::Identity,
            mode: Mode::Train,
            channels: usize::MAX,
        }
    }

    /// `conv1d(in_c, out_c, k)`: stride 1, no padding, one group.
    pub const fn conv1d(in_c: usize, out_c: usize, k: usize) -> Layer {
        Layer::of(Op::Conv {
            in_c,
            out_c,
            win: Window::new(1, k, true),
            groups: 1,
        })
    }

    /// `conv2d(in_c, out_c, (kh, kw))`: stride 1, no padding, one group.
    pub const fn conv2d(in_c: usize, out_c: usize, (kh, kw): (usize, usize)) -> Layer {
        Layer::of(Op::Conv {
            in_c,
            out_c,
            win: Window::new(kh, kw, false),
            groups: 1,
        })
    }

    /// `batch_norm(channels)`.
    pub const fn batch_norm(channels: usize) -> Layer {
        Layer::of(Op::BatchNorm { channels })
    }

    /// `max_pool1d(k)` (`avg == false`) or `avg_pool1d(k)`: stride `k`, no padding.
    pub const fn pool1d(avg: bool, k: usize) -> Layer {
        let mut win = Window::new(1, k, true);
        win.stride_w = k;
        Layer::of(if avg {
            Op::AvgPool(win)
        } else {
            Op::MaxPool(win)
        })
    }

    /// `max_pool2d((kh, kw))` or `avg_pool2d((kh, kw))`: stride the window, no padding.
    pub const fn pool2d(avg: bool, (kh, kw): (usize, usize)) -> Layer {
        let mut win = Window::new(kh, kw, false);
        win.stride_h = kh;
        win.stride_w = kw;
        Layer::of(if avg {
            Op::AvgPool(win)
        } else {
            Op::MaxPool(win)
        })
    }

    /// `global_avg_pool`.
    pub const fn global_avg_pool() -> Layer {
        Layer::of(Op::GlobalAvgPool)
    }

    /// `flatten`.
    pub const fn flatten() -> Layer {
        Layer::of(Op::Flatten)
    }

    /// `dense(inputs, outputs)`.
    pub const fn dense(inputs: usize, outputs: usize) -> Layer {
        Layer::of(Op::Dense { inputs, outputs })
    }

    const fn with_window(mut self, f: WindowEdit) -> Layer {
        let win = match &mut self.op {
            Op::Conv { win, .. } | Op::MaxPool(win) | Op::AvgPool(win) => win,
            _ => {
                self.op = Op::Invalid;
                return self;
            }
        };
        match f {
            WindowEdit::Stride(sh, sw) => {
                win.stride_h = if win.one_d { 1 } else { sh };
                win.stride_w = sw;
            }
            WindowEdit::Pad(ph, pw) => {
                win.pad_h = if win.one_d { Pad::Each(0) } else { ph };
                win.pad_w = pw;
            }
        }
        self
    }

    /// With stride `s` along every spatial axis the layer has (a layer without a window becomes
    /// [`Op::Invalid`], and so do the other window options below).
    pub const fn stride(self, s: usize) -> Layer {
        self.with_window(WindowEdit::Stride(s, s))
    }

    /// With strides `(sh, sw)` (two-dimensional layers).
    pub const fn stride2(self, sh: usize, sw: usize) -> Layer {
        self.with_window(WindowEdit::Stride(sh, sw))
    }

    /// With `p` zeros on each side of every spatial axis.
    pub const fn padding(self, p: usize) -> Layer {
        self.with_window(WindowEdit::Pad(Pad::Each(p), Pad::Each(p)))
    }

    /// With `(ph, pw)` zeros on each side of the rows and the columns.
    pub const fn padding2(self, ph: usize, pw: usize) -> Layer {
        self.with_window(WindowEdit::Pad(Pad::Each(ph), Pad::Each(pw)))
    }

    /// With TensorFlow `SAME` padding.
    pub const fn padding_same(self) -> Layer {
        self.with_window(WindowEdit::Pad(Pad::Same, Pad::Same))
    }

    /// With `groups` channel groups (convolutions only; another layer becomes [`Op::Invalid`]).
    pub const fn groups(mut self, g: usize) -> Layer {
        match &mut self.op {
            Op::Conv { groups, .. } => *groups = g,
            _ => self.op = Op::Invalid,
        }
        self
    }

    /// With the options `opts` in order (what a declaration line lists). An activation after
    /// the mode, or a second activation or mode, makes the layer [`Op::Invalid`].
    pub const fn with(self, opts: &[Opt]) -> Layer {
        let mut l = self;
        let (mut acts, mut modes) = (0, 0);
        let mut i = 0;
        while i < opts.len() {
            l = match opts[i] {
                Opt::Stride((sh, sw)) => l.stride2(sh, sw),
                Opt::Pad(ph, pw) => l.with_window(WindowEdit::Pad(ph, pw)),
                Opt::Groups(g) => l.groups(g),
                Opt::Act(a) => {
                    acts += 1;
                    if modes > 0 {
                        acts += 1;
                    }
                    l.act(a)
                }
                Opt::Mode(m) => {
                    modes += 1;
                    l.mode(m)
                }
                Opt::Channels(m, k) => {
                    modes += 1;
                    let mut l = l.mode(m);
                    l.channels = k;
                    l
                }
            };
            i += 1;
        }
        if acts > 1 || modes > 1 {
            l.op = Op::Invalid;
        }
        l
    }

    /// With activation `act`.
    pub const fn act(mut self, act: Act) -> Layer {
        self.act = act;
        self
    }

    /// With fine-tuning mode `mode`.
    pub const fn mode(mut self, mode: Mode) -> Layer {
        self.mode = mode;
        self
    }

    /// The convolution this layer computes on input `d` (a dense layer is a 1 × 1 convolution
    /// of its whole input seen as one pixel), or `None` for other layers.
    pub const fn conv_shape(&self, d: Dims) -> Option<Conv2dShape> {
        match self.op {
            Op::Conv {
                in_c,
                out_c,
                win,
                groups,
            } => {
                let (ph, pw) = win.paddings(d);
                Some(
                    Conv2dShape::new(d.h, d.w, in_c, out_c, win.kh, win.kw)
                        .stride(win.stride_h, win.stride_w)
                        .pad(ph, pw)
                        .groups(groups),
                )
            }
            Op::Dense { inputs, outputs } => Some(Conv2dShape::new(1, 1, inputs, outputs, 1, 1)),
            _ => None,
        }
    }

    /// The pooling window of this layer on input `d`, or `None` if it does not pool.
    pub const fn pool_shape(&self, d: Dims) -> Option<Pool2dShape> {
        match self.op {
            Op::MaxPool(win) | Op::AvgPool(win) => {
                let (ph, pw) = win.paddings(d);
                Some(
                    Pool2dShape::new(d.h, d.w, d.c, win.kh, win.kw)
                        .stride(win.stride_h, win.stride_w)
                        .pad(ph, pw),
                )
            }
            _ => None,
        }
    }

    /// Whether this layer accepts input `d`: channel counts agree, a one-dimensional layer gets
    /// height 1, a dense layer gets `inputs = h·w·c`, the window fits, groups divide, no size is
    /// 0 or overflows, and a leaky ReLU's slope is finite and `>= 0`.
    pub const fn accepts(&self, d: Dims) -> bool {
        if d.is_empty() || d.len() == usize::MAX {
            return false;
        }
        if let Act::LeakyRelu(slope) = self.act {
            if !(slope.is_finite() && slope >= 0.0) {
                return false;
            }
        }
        if self.channels != usize::MAX
            && (self.channels == 0
                || self.channels > self.out_channels()
                || matches!(self.mode, Mode::Frozen))
        {
            return false;
        }
        match self.op {
            Op::Conv { in_c, win, .. } => {
                in_c == d.c
                    && (!win.one_d || d.h == 1)
                    && match self.conv_shape(d) {
                        Some(s) => s.valid(),
                        None => false,
                    }
            }
            Op::BatchNorm { channels } => channels == d.c,
            Op::MaxPool(win) | Op::AvgPool(win) => {
                (!win.one_d || d.h == 1)
                    && match self.pool_shape(d) {
                        Some(s) => s.valid() && s.kh.saturating_mul(s.kw) <= u32::MAX as usize,
                        None => false,
                    }
            }
            Op::GlobalAvgPool => d.h.saturating_mul(d.w) <= u32::MAX as usize,
            Op::Flatten => true,
            Op::Dense { inputs, outputs } => inputs == d.len() && outputs > 0,
            Op::Invalid => false,
        }
    }

    /// The shape this layer writes for input `d` (meaningful only if it [`accepts`](Self::accepts) `d`).
    pub const fn output(&self, d: Dims) -> Dims {
        match self.op {
            Op::Conv { .. } => match self.conv_shape(d) {
                Some(s) => Dims::map(s.out_h(), s.out_w(), s.out_c),
                None => Dims::map(0, 0, 0),
            },
            Op::BatchNorm { .. } => d,
            Op::MaxPool(_) | Op::AvgPool(_) => match self.pool_shape(d) {
                Some(s) => Dims::map(s.out_h(), s.out_w(), d.c),
                None => Dims::map(0, 0, 0),
            },
            Op::GlobalAvgPool => Dims::map(1, 1, d.c),
            Op::Flatten => Dims::map(1, 1, d.len()),
            Op::Dense { outputs, .. } => Dims::map(1, 1, outputs),
            Op::Invalid => Dims::map(0, 0, 0),
        }
    }

    /// The lengths of the layer's two parameter runs in torch order: (weights, bias) of a
    /// convolution or dense layer, (scale, shift) of a batch norm, none for the others.
    pub const fn runs(&self) -> (usize, usize) {
        match self.op {
            Op::Conv {
                in_c,
                out_c,
                win,
                groups,
            } => {
                let per = match in_c.checked_div(groups) {
                    Some(p) => p,
                    None => 0,
                };
                (
                    out_c
                        .saturating_mul(win.kh)
                        .saturating_mul(win.kw)
                        .saturating_mul(per),
                    out_c,
                )
            }
            Op::BatchNorm { channels } => (channels, channels),
            Op::Dense { inputs, outputs } => (inputs.saturating_mul(outputs), outputs),
            _ => (0, 0),
        }
    }

    /// All parameters of the layer.
    pub const fn params(&self) -> usize {
        let (w, b) = self.runs();
        w.saturating_add(b)
    }

    /// Whether the layer has parameters.
    pub const fn has_params(&self) -> bool {
        self.params() > 0
    }

    /// Output channels: filters of a convolution, channels of a batch norm, outputs of a dense
    /// layer (0 for layers without parameters).
    pub const fn out_channels(&self) -> usize {
        match self.op {
            Op::Conv { out_c, .. } => out_c,
            Op::BatchNorm { channels } => channels,
            Op::Dense { outputs, .. } => outputs,
            _ => 0,
        }
    }

    /// The leading output channels the mode applies to.
    pub const fn trained_channels(&self) -> usize {
        let n = self.out_channels();
        if self.channels < n {
            self.channels
        } else {
            n
        }
    }

    /// Whether any weight (or batch-norm scale) trains.
    pub const fn trains_weights(&self) -> bool {
        self.trained_runs().0 > 0
    }

    /// Whether any bias (or batch-norm shift) trains.
    pub const fn trains_bias(&self) -> bool {
        self.trained_runs().1 > 0
    }

    /// The trainable elements of the two runs: the leading `trained_channels` rows of the
    /// weights (output-major, so one leading run) if the mode trains weights, and as many
    /// biases if it trains biases.
    pub const fn trained_runs(&self) -> (usize, usize) {
        let (w, _) = self.runs();
        let n = self.out_channels();
        if n == 0 {
            return (0, 0);
        }
        let k = self.trained_channels();
        let rows = (w / n).saturating_mul(k);
        match self.mode {
            Mode::Train => (rows, k),
            Mode::Bias => (0, k),
            Mode::Frozen => (0, 0),
        }
    }

    /// The four runs in torch order, each `(length, trainable)`: trained weights, frozen
    /// weights, trained biases, frozen biases.
    pub const fn sub_runs(&self) -> [(usize, bool); 4] {
        let (w, b) = self.runs();
        let (wt, bt) = self.trained_runs();
        [(wt, true), (w - wt, false), (bt, true), (b - bt, false)]
    }

    /// Trainable elements.
    pub const fn trainable(&self) -> usize {
        let (w, b) = self.trained_runs();
        w.saturating_add(b)
    }

    /// Whether backward reads this layer's own input: a convolution or dense layer for its
    /// weight gradient, a batch norm for its scale gradient, a max pool (when its input
    /// gradient is wanted) to find each window's maximum.
    pub const fn reads_input(&self, input_grad: bool) -> bool {
        match self.op {
            Op::Conv { .. } | Op::Dense { .. } | Op::BatchNorm { .. } => self.trains_weights(),
            Op::MaxPool(_) => input_grad,
            _ => false,
        }
    }
}

/// One option of a declaration line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Opt {
    /// `stride = S` or `(SH, SW)`.
    Stride((usize, usize)),
    /// `padding = P`, `(PH, PW)`, `same` or `valid`.
    Pad(Pad, Pad),
    /// `groups = G`.
    Groups(usize),
    /// An activation.
    Act(Act),
    /// A fine-tuning mode.
    Mode(Mode),
    /// A fine-tuning mode for the first `k` output channels only (`train(k)`, `bias(k)`).
    Channels(Mode, usize),
}

enum WindowEdit {
    Stride(usize, usize),
    Pad(Pad, Pad),
}
