//! Shared by the convolution tests (`mod conv_support;`): one description of every
//! convolution-family layer, and a runner that executes it in any number type from `f64` buffers.
#![allow(dead_code)]

use edgetune::nn::{
    avg_pool, conv1d, conv2d, global_avg_pool, max_pool, pointwise, scale_shift, Activation,
    Conv1dShape, Conv2dShape, Pool1dShape, Pool2dShape, Relu6, Scalar,
};
use fixed::types::{I16F16, I8F24};

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
            "pointwise on one pixel (a dense layer)",
            Layer::Pointwise(Conv2dShape::new(1, 1, 7, 6, 1, 1)),
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

/// A number type under test: its name and how far it may be from the exact value.
pub trait Kind: Scalar {
    const NAME: &'static str;
    /// `Some(LSB)` for fixed point, `None` for floats.
    const LSB: Option<f64>;
    /// Unit roundoff of a float type.
    const U: f64;
}
impl Kind for f64 {
    const NAME: &'static str = "f64";
    const LSB: Option<f64> = None;
    const U: f64 = f64::EPSILON / 2.0;
}
impl Kind for f32 {
    const NAME: &'static str = "f32";
    const LSB: Option<f64> = None;
    const U: f64 = f32::EPSILON as f64 / 2.0;
}
impl Kind for I16F16 {
    const NAME: &'static str = "I16F16";
    const LSB: Option<f64> = Some(1.0 / 65536.0);
    const U: f64 = 0.0;
}
impl Kind for I8F24 {
    const NAME: &'static str = "I8F24";
    const LSB: Option<f64> = Some(1.0 / 16_777_216.0);
    const U: f64 = 0.0;
}

pub const U64: f64 = f64::EPSILON / 2.0;

pub fn gamma(n: usize, u: f64) -> f64 {
    n as f64 * u / (1.0 - n as f64 * u)
}

/// Asserts `|got − want| ≤ bound` elementwise; returns the worst `error / bound`.
pub fn check(what: &str, got: &[f64], want: &[f64], bound: &dyn Fn(usize) -> f64) -> f64 {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst: f64 = 0.0;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let b = bound(i) + 1e-300;
        let err = (g - w).abs();
        assert!(
            err <= b,
            "{what}[{i}]: got {g:e}, torch {w:e}, error {err:e} > bound {b:e}"
        );
        worst = worst.max(err / b);
    }
    worst
}

pub fn abs(v: &[f64]) -> Vec<f64> {
    v.iter().map(|x| x.abs()).collect()
}

/// Runs `l` in `S` on `(w, b, x, dy)` (all exactly representable in `S`) and checks y, dx, dW,
/// db against `want` (the exact values, up to `f64` rounding). Bounds, per element:
/// - fixed point: `½ LSB` per rounding (one, or one per window for the `dx` of average pooling
///   without padding counted), exact for max pooling and ReLU6;
/// - floats: `γ_n·Σ|terms|` (`n` = [`max_terms`]; `Σ|terms|` by running the layer on absolute
///   values; for max pooling on `x` itself and `|dy|`, so that the same maxima are selected);
///   ReLU6 and max-pool outputs are exact;
/// - plus `2·γ_n` in `f64` times `Σ|terms|` for the reference's own rounding.
///
/// Returns the worst `error / bound`.
#[allow(clippy::too_many_arguments)]
pub fn compare<S: Kind>(
    name: &str,
    l: &Layer,
    w: &[f64],
    b: &[f64],
    x: &[f64],
    dy: &[f64],
    want: &Out,
) -> f64 {
    let got = run::<S>(l, w, b, x, dy);
    let is_max = matches!(l, Layer::MaxPool2d(_) | Layer::MaxPool1d(_));
    let is_relu6 = matches!(l, Layer::Relu6 { .. });
    let mag_x = if is_max { x.to_vec() } else { abs(x) };
    let mag = run::<f64>(l, &abs(w), &abs(b), &mag_x, &abs(dy));
    // Roundings of dx per element for fixed point: one, or one per window (avg, exclude pad).
    let dx_roundings = match l {
        Layer::AvgPool2d(s, false) => (s.kh * s.kw) as f64,
        Layer::AvgPool1d(s, false) => s.k as f64,
        _ => 1.0,
    };
    let nt = max_terms(l);
    let bound = |m: &[f64], roundings: f64, exact: bool| {
        let m = abs(m); // max pooling's magnitude run selects signed maxima
        move |i: usize| {
            let reference = 2.0 * gamma(nt, U64) * m[i];
            if exact {
                reference
            } else if let Some(lsb) = S::LSB {
                roundings * 0.5 * lsb + reference
            } else {
                gamma(nt, S::U) * m[i] + reference
            }
        }
    };
    let fixed = S::LSB.is_some();
    let mut worst = check(
        &format!("{name} {} y", S::NAME),
        &got.y,
        &want.y,
        &bound(&mag.y, 1.0, is_max || is_relu6),
    );
    worst = worst.max(check(
        &format!("{name} {} dx", S::NAME),
        &got.dx,
        &want.dx,
        // Max-pool dx adds dy values: exact in fixed point, summation error in floats.
        &bound(&mag.dx, dx_roundings, is_relu6 || (is_max && fixed)),
    ));
    worst = worst.max(check(
        &format!("{name} {} dw", S::NAME),
        &got.dw,
        &want.dw,
        &bound(&mag.dw, 1.0, false),
    ));
    worst = worst.max(check(
        &format!("{name} {} db", S::NAME),
        &got.db,
        &want.db,
        &bound(&mag.db, 1.0, false),
    ));
    worst
}
