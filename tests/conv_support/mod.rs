//! Shared by the convolution tests (`mod conv_support;`): one description of every
//! convolution-family layer, and a runner that executes it in any number type from `f64` buffers.
#![allow(dead_code)]

use edgetune::nn::{
    avg_pool, conv1d, conv2d, global_avg_pool, max_pool, pointwise, scale_shift, Activation,
    Conv1dShape, Conv2dShape, Pool1dShape, Pool2dShape, Relu6, Scalar,
};

/// A layer and its shape. Parameters are `w` (weights, or `scale`) and `b` (bias, or `shift`).
#[derive(Clone, Copy, Debug)]
pub enum Layer {
    Conv2d(Conv2dShape),
    Conv1d(Conv1dShape),
    Pointwise(Conv2dShape),
    MaxPool2d(Pool2dShape),
    MaxPool1d(Pool1dShape),
    /// The bool is `count_include_pad`.
    AvgPool2d(Pool2dShape, bool),
    AvgPool1d(Pool1dShape, bool),
    Gap {
        pixels: usize,
        channels: usize,
    },
    /// Per-channel scale (`w`) and shift (`b`) over `pixels` pixels.
    ScaleShift {
        pixels: usize,
        channels: usize,
    },
    Relu6 {
        len: usize,
    },
}

/// Buffer sizes `(w, b, x, y)`.
pub fn sizes(l: &Layer) -> (usize, usize, usize, usize) {
    match *l {
        Layer::Conv2d(s) | Layer::Pointwise(s) => {
            (s.weights(), s.out_c, s.input_len(), s.output_len())
        }
        Layer::Conv1d(s) => (s.weights(), s.out_c, s.input_len(), s.output_len()),
        Layer::MaxPool2d(s) | Layer::AvgPool2d(s, _) => (0, 0, s.input_len(), s.output_len()),
        Layer::MaxPool1d(s) | Layer::AvgPool1d(s, _) => (0, 0, s.input_len(), s.output_len()),
        Layer::Gap { pixels, channels } => (0, 0, pixels * channels, channels),
        Layer::ScaleShift { pixels, channels } => {
            (channels, channels, pixels * channels, pixels * channels)
        }
        Layer::Relu6 { len } => (0, 0, len, len),
    }
}

/// The most terms any one output, `dx`, `dW` or `db` element sums (plus one for a bias or a
/// division), for the `f32` bound `γ_n · Σ|terms|`.
pub fn max_terms(l: &Layer) -> usize {
    let conv = |s: Conv2dShape| {
        let taps = s.kh * s.kw;
        (taps * s.in_c_per_group() + 1)
            .max(taps * s.out_c_per_group())
            .max(s.out_h() * s.out_w())
    };
    let pool = |s: Pool2dShape| s.kh * s.kw + 1;
    match *l {
        Layer::Conv2d(s) | Layer::Pointwise(s) => conv(s),
        Layer::Conv1d(s) => conv(s.to_2d()),
        Layer::MaxPool2d(s) | Layer::AvgPool2d(s, _) => pool(s),
        Layer::MaxPool1d(s) | Layer::AvgPool1d(s, _) => pool(s.to_2d()),
        Layer::Gap { pixels, .. } | Layer::ScaleShift { pixels, .. } => pixels + 1,
        Layer::Relu6 { .. } => 1,
    }
}

/// What a forward and backward pass produce, in `f64`.
#[derive(Clone, Debug, Default)]
pub struct Out {
    pub y: Vec<f64>,
    pub dx: Vec<f64>,
    pub dw: Vec<f64>,
    pub db: Vec<f64>,
}

fn to<S: Scalar>(v: &[f64]) -> Vec<S> {
    v.iter().map(|&x| S::from_f64(x)).collect()
}

fn back<S: Scalar>(v: &[S]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

/// `v` rounded to `S` and back.
pub fn quantise<S: Scalar>(v: &[f64]) -> Vec<f64> {
    back(&to::<S>(v))
}

/// Runs forward (`y`) and backward with `dy` (`dx`, and `dW`, `db` accumulated from zero) in `S`.
/// Every call must succeed.
pub fn run<S: Scalar>(l: &Layer, w: &[f64], b: &[f64], x: &[f64], dy: &[f64]) -> Out {
    let (nw, nb, nx, ny) = sizes(l);
    assert_eq!(
        (w.len(), b.len(), x.len(), dy.len()),
        (nw, nb, nx, ny),
        "{l:?}"
    );
    let (w, b, x, dy) = (to::<S>(w), to::<S>(b), to::<S>(x), to::<S>(dy));
    let mut y = vec![S::ZERO; ny];
    let mut dx = vec![S::ZERO; nx];
    let mut dw = vec![S::ZERO; nw];
    let mut db = vec![S::ZERO; nb];
    let g = Some((&mut dw[..], &mut db[..]));
    match *l {
        Layer::Conv2d(s) => {
            conv2d::forward(&s, &w, &b, &x, &mut y).unwrap();
            conv2d::backward(&s, &w, &x, &dy, g, Some(&mut dx)).unwrap();
        }
        Layer::Conv1d(s) => {
            conv1d::forward(&s, &w, &b, &x, &mut y).unwrap();
            conv1d::backward(&s, &w, &x, &dy, g, Some(&mut dx)).unwrap();
        }
        Layer::Pointwise(s) => {
            pointwise::forward(&s, &w, &b, &x, &mut y).unwrap();
            pointwise::backward(&s, &w, &x, &dy, g, Some(&mut dx)).unwrap();
        }
        Layer::MaxPool2d(s) => {
            max_pool::forward(&s, &x, &mut y).unwrap();
            max_pool::backward(&s, &x, &dy, &mut dx).unwrap();
        }
        Layer::MaxPool1d(s) => {
            max_pool::forward_1d(&s, &x, &mut y).unwrap();
            max_pool::backward_1d(&s, &x, &dy, &mut dx).unwrap();
        }
        Layer::AvgPool2d(s, inc) => {
            avg_pool::forward(&s, inc, &x, &mut y).unwrap();
            avg_pool::backward(&s, inc, &dy, &mut dx).unwrap();
        }
        Layer::AvgPool1d(s, inc) => {
            avg_pool::forward_1d(&s, inc, &x, &mut y).unwrap();
            avg_pool::backward_1d(&s, inc, &dy, &mut dx).unwrap();
        }
        Layer::Gap { pixels, channels } => {
            global_avg_pool::forward(pixels, channels, &x, &mut y).unwrap();
            global_avg_pool::backward(pixels, channels, &dy, &mut dx).unwrap();
        }
        Layer::ScaleShift { .. } => {
            scale_shift::forward(&w, &b, &x, &mut y).unwrap();
            scale_shift::backward(&w, &x, &dy, g, Some(&mut dx)).unwrap();
        }
        Layer::Relu6 { .. } => {
            // The trait's slice-free per-element form (its `forward` takes arrays).
            for (yi, &xi) in y.iter_mut().zip(&x) {
                *yi = Relu6.apply(xi);
            }
            for ((d, &g), &yi) in dx.iter_mut().zip(&dy).zip(&y) {
                *d = g.mul(Relu6.derivative_from_output(yi));
            }
        }
    }
    Out {
        y: back(&y),
        dx: back(&dx),
        dw: back(&dw),
        db: back(&db),
    }
}

/// The layers every test runs: strides 1 and 2, symmetric and asymmetric padding, groups,
/// depthwise with multipliers 1 and 2, 1-D, pointwise, pools with and without padding.
pub fn catalogue() -> Vec<(&'static str, Layer)> {
    use edgetune::nn::Padding;
    let asym = |a, b| Padding {
        before: a,
        after: b,
    };
    vec![
        (
            "conv2d 3x3 pad 1",
            Layer::Conv2d(
                Conv2dShape::new(5, 6, 3, 4, 3, 3)
                    .pad(Padding::symmetric(1), Padding::symmetric(1)),
            ),
        ),
        (
            "conv2d 3x2 stride 2 SAME groups 2",
            Layer::Conv2d(
                Conv2dShape::new(7, 8, 4, 6, 3, 2)
                    .stride(2, 2)
                    .same()
                    .groups(2),
            ),
        ),
        (
            "conv2d depthwise 3x3 SAME",
            Layer::Conv2d(Conv2dShape::new(6, 5, 4, 4, 3, 3).same().groups(4)),
        ),
        (
            "conv2d depthwise x2 stride (2,1) asym pad",
            Layer::Conv2d(
                Conv2dShape::new(5, 4, 3, 6, 2, 3)
                    .stride(2, 1)
                    .pad(asym(0, 1), asym(1, 0))
                    .groups(3),
            ),
        ),
        (
            "conv2d 4x3 stride 2 SAME (DS-CNN first layer, small)",
            Layer::Conv2d(Conv2dShape::new(11, 6, 1, 4, 4, 3).stride(2, 2).same()),
        ),
        (
            "conv1d k3 stride 2 pad 1",
            Layer::Conv1d(
                Conv1dShape::new(10, 3, 4, 3)
                    .stride(2)
                    .pad(Padding::symmetric(1)),
            ),
        ),
        (
            "conv1d depthwise x2 k4 SAME",
            Layer::Conv1d(Conv1dShape::new(9, 3, 6, 4).same().groups(3)),
        ),
        (
            "conv1d valid stride 1",
            Layer::Conv1d(Conv1dShape::new(12, 2, 3, 5)),
        ),
        (
            "pointwise 1x1",
            Layer::Pointwise(Conv2dShape::new(3, 4, 5, 3, 1, 1)),
        ),
        (
            "max_pool2d 3x3 stride 2 pad 1",
            Layer::MaxPool2d(
                Pool2dShape::new(6, 6, 2, 3, 3)
                    .stride(2, 2)
                    .pad(Padding::symmetric(1), Padding::symmetric(1)),
            ),
        ),
        (
            "max_pool2d 2x2",
            Layer::MaxPool2d(Pool2dShape::new(4, 6, 3, 2, 2)),
        ),
        (
            "max_pool1d k3 stride 2 pad 1",
            Layer::MaxPool1d(
                Pool1dShape::new(9, 2, 3)
                    .stride(2)
                    .pad(Padding::symmetric(1)),
            ),
        ),
        (
            "avg_pool2d 3x3 stride 2 pad 1 include pad",
            Layer::AvgPool2d(
                Pool2dShape::new(6, 5, 2, 3, 3)
                    .stride(2, 2)
                    .pad(Padding::symmetric(1), Padding::symmetric(1)),
                true,
            ),
        ),
        (
            "avg_pool2d 3x3 stride 2 SAME exclude pad",
            Layer::AvgPool2d(Pool2dShape::new(6, 5, 2, 3, 3).stride(2, 2).same(), false),
        ),
        (
            "avg_pool1d k3 stride 1 pad 1 include pad",
            Layer::AvgPool1d(
                Pool1dShape::new(8, 3, 3)
                    .stride(1)
                    .pad(Padding::symmetric(1)),
                true,
            ),
        ),
        (
            "avg_pool1d k3 stride 1 pad 1 exclude pad",
            Layer::AvgPool1d(
                Pool1dShape::new(8, 3, 3)
                    .stride(1)
                    .pad(Padding::symmetric(1)),
                false,
            ),
        ),
        (
            "global_avg_pool 5x4x3",
            Layer::Gap {
                pixels: 20,
                channels: 3,
            },
        ),
        (
            "scale_shift 4x3x5",
            Layer::ScaleShift {
                pixels: 12,
                channels: 5,
            },
        ),
    ]
}

/// Whether the layer's output depends on the order of its inputs' values (max pooling): such
/// inputs must be distinct and far apart for finite differences.
pub fn needs_distinct(l: &Layer) -> bool {
    matches!(l, Layer::MaxPool2d(_) | Layer::MaxPool1d(_))
}
