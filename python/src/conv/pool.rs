//! The pools from Python: max and average pooling (2-D and 1-D) and global average pooling,
//! forward and backward, batch-aware like the convolutions ([`super`]): maps `(H, W, C)` or
//! `(L, C)` with an optional leading batch axis, one library call per sample, the window from
//! keywords named after the fields of `Pool2dShape` / `Pool1dShape` (the stride defaults to the
//! window, as in torch).

use super::map::{
    by_dtype, check_dy, check_finite, check_shape, sample, sample_mut, size, Batch, Pad,
};
use crate::layers::{read, write, Elem};
use crate::{err, misuse};
use edgetune::nn::{avg_pool, global_avg_pool as gap, max_pool, Pool1dShape, Pool2dShape, Scalar};
use edgetune::Error;
use pyo3::prelude::*;

/// Max or average pooling.
#[derive(Clone, Copy)]
enum Op {
    Max,
    Avg { count_include_pad: bool },
}

/// A pooling window as the keywords give it; [`Window::on`] adds the input's sizes.
#[derive(Clone, Copy)]
enum Window {
    Two {
        kh: usize,
        kw: usize,
        stride_h: usize,
        stride_w: usize,
        pad_h: Pad,
        pad_w: Pad,
    },
    One {
        k: usize,
        stride: usize,
        pad: Pad,
    },
}

/// A pool of the library with its shape.
#[derive(Clone, Copy)]
enum Pool {
    Two(Pool2dShape),
    One(Pool1dShape),
}

impl Window {
    fn two(
        kh: i64,
        kw: i64,
        stride_h: Option<i64>,
        stride_w: Option<i64>,
        pad_h: Option<&Bound<'_, PyAny>>,
        pad_w: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Window> {
        let (kh, kw) = (size(kh, "kh")?, size(kw, "kw")?);
        Ok(Window::Two {
            kh,
            kw,
            stride_h: stride_h.map_or(Ok(kh), |v| size(v, "stride_h"))?,
            stride_w: stride_w.map_or(Ok(kw), |v| size(v, "stride_w"))?,
            pad_h: Pad::parse(pad_h, "pad_h")?,
            pad_w: Pad::parse(pad_w, "pad_w")?,
        })
    }

    fn one(k: i64, stride: Option<i64>, pad: Option<&Bound<'_, PyAny>>) -> PyResult<Window> {
        let k = size(k, "k")?;
        Ok(Window::One {
            k,
            stride: stride.map_or(Ok(k), |v| size(v, "stride"))?,
            pad: Pad::parse(pad, "pad")?,
        })
    }

    fn map_ndim(self) -> usize {
        match self {
            Window::Two { .. } => 3,
            Window::One { .. } => 2,
        }
    }

    fn layout(self, what: &str) -> String {
        match self {
            Window::Two { .. } => format!("({what}_h, {what}_w, c)"),
            Window::One { .. } => format!("({what}_len, c)"),
        }
    }

    /// The shape for one input sample of `map` (`(H, W, C)` or `(L, C)`, ndim checked).
    fn on(self, map: &[usize]) -> PyResult<Pool> {
        match (self, map) {
            (
                Window::Two {
                    kh,
                    kw,
                    stride_h,
                    stride_w,
                    pad_h,
                    pad_w,
                },
                &[h, w, c],
            ) => Ok(Pool::Two(
                Pool2dShape::new(h, w, c, kh, kw)
                    .stride(stride_h, stride_w)
                    .pad(pad_h.on(h, kh, stride_h), pad_w.on(w, kw, stride_w)),
            )),
            (Window::One { k, stride, pad }, &[len, c]) => Ok(Pool::One(
                Pool1dShape::new(len, c, k)
                    .stride(stride)
                    .pad(pad.on(len, k, stride)),
            )),
            _ => Err(misuse(format!("expected a map {}", self.layout("in")))),
        }
    }
}

impl Pool {
    fn as_2d(self) -> Pool2dShape {
        match self {
            Pool::Two(s) => s,
            Pool::One(s) => s.to_2d(),
        }
    }

    /// The library's shape check for `op` (average pooling also needs a window of at most
    /// `u32::MAX` elements).
    fn check(self, op: Op) -> PyResult<()> {
        let s = self.as_2d();
        let divisor_fits = match op {
            Op::Max => true,
            Op::Avg { .. } => u32::try_from(s.kh.saturating_mul(s.kw)).is_ok(),
        };
        check_shape(s.valid() && divisor_fits)
    }

    /// Elements of `(x, y)` per sample.
    fn sizes(self) -> (usize, usize) {
        let s = self.as_2d();
        (s.input_len(), s.output_len())
    }

    fn out_dims(self) -> Vec<usize> {
        match self {
            Pool::Two(s) => vec![s.out_h(), s.out_w(), s.c],
            Pool::One(s) => vec![s.out_len(), s.c],
        }
    }

    fn forward<S: Scalar>(self, op: Op, x: &[S], y: &mut [S]) -> Result<(), Error> {
        match (self, op) {
            (Pool::Two(s), Op::Max) => max_pool::forward(&s, x, y),
            (Pool::One(s), Op::Max) => max_pool::forward_1d(&s, x, y),
            (Pool::Two(s), Op::Avg { count_include_pad }) => {
                avg_pool::forward(&s, count_include_pad, x, y)
            }
            (Pool::One(s), Op::Avg { count_include_pad }) => {
                avg_pool::forward_1d(&s, count_include_pad, x, y)
            }
        }
    }

    /// `x` is needed by max pooling only.
    fn backward<S: Scalar>(self, op: Op, x: &[S], dy: &[S], dx: &mut [S]) -> Result<(), Error> {
        match (self, op) {
            (Pool::Two(s), Op::Max) => max_pool::backward(&s, x, dy, dx),
            (Pool::One(s), Op::Max) => max_pool::backward_1d(&s, x, dy, dx),
            (Pool::Two(s), Op::Avg { count_include_pad }) => {
                avg_pool::backward(&s, count_include_pad, dy, dx)
            }
            (Pool::One(s), Op::Avg { count_include_pad }) => {
                avg_pool::backward_1d(&s, count_include_pad, dy, dx)
            }
        }
    }
}

fn forward_t<'py, S: Elem>(
    py: Python<'py>,
    win: Window,
    op: Op,
    x: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let (xs, x) = read::<S>(x, "x")?;
    let batch = Batch::of(&xs, win.map_ndim(), "x", &win.layout("in"))?;
    let pool = win.on(&batch.dims)?;
    pool.check(op)?;
    check_finite(&x)?;
    let (nx, ny) = pool.sizes();
    let mut y = batch.alloc::<S>(ny)?;
    for k in 0..batch.count {
        pool.forward(op, sample(&x, k, nx), sample_mut(&mut y, k, ny))
            .map_err(err)?;
    }
    write(py, &y, &batch.shape(&pool.out_dims()))
}

/// Max pooling's backward from its input `x`.
fn max_backward_t<'py, S: Elem>(
    py: Python<'py>,
    win: Window,
    x: &Bound<'py, PyAny>,
    dy: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let (xs, x) = read::<S>(x, "x")?;
    let (dys, dy) = read::<S>(dy, "dy")?;
    let batch = Batch::of(&xs, win.map_ndim(), "x", &win.layout("in"))?;
    let pool = win.on(&batch.dims)?;
    pool.check(Op::Max)?;
    check_dy(&dys, &batch.shape(&pool.out_dims()))?;
    check_finite(&x)?;
    check_finite(&dy)?;
    let (nx, ny) = pool.sizes();
    let mut dx = batch.alloc::<S>(nx)?;
    for k in 0..batch.count {
        pool.backward(
            Op::Max,
            sample(&x, k, nx),
            sample(&dy, k, ny),
            sample_mut(&mut dx, k, nx),
        )
        .map_err(err)?;
    }
    write(py, &dx, &xs)
}

/// Average pooling's backward from `dy` alone; the input's spatial sizes are `spatial`.
fn avg_backward_t<'py, S: Elem>(
    py: Python<'py>,
    win: Window,
    count_include_pad: bool,
    dy: &Bound<'py, PyAny>,
    spatial: &[usize],
) -> PyResult<Bound<'py, PyAny>> {
    let op = Op::Avg { count_include_pad };
    let (dys, dy) = read::<S>(dy, "dy")?;
    let batch = Batch::of(&dys, win.map_ndim(), "dy", &win.layout("out"))?;
    let mut map = spatial.to_vec();
    map.push(batch.dims.last().copied().unwrap_or(0));
    let pool = win.on(&map)?;
    pool.check(op)?;
    if batch.dims != pool.out_dims() {
        return Err(misuse(format!(
            "dy: expected sample shape {:?} (the layer's output), got {:?}",
            pool.out_dims(),
            batch.dims
        )));
    }
    check_finite(&dy)?;
    let (nx, ny) = pool.sizes();
    let mut dx = batch.alloc::<S>(nx)?;
    for k in 0..batch.count {
        pool.backward(op, &[], sample(&dy, k, ny), sample_mut(&mut dx, k, nx))
            .map_err(err)?;
    }
    write(py, &dx, &batch.shape(&map))
}

/// 2-D max pooling (torch's `max_pool2d`, `ceil_mode=False`) of `x` `(in_h, in_w, c)` or
/// `(B, in_h, in_w, c)`: window `kh × kw`, stride defaulting to the window, padding an int, a
/// pair `(before, after)` or `"same"` (it never wins). Returns `(out_h, out_w, c)` or batched.
#[pyfunction]
#[pyo3(signature = (x, dtype="f32", *, kh, kw, stride_h=None, stride_w=None, pad_h=None, pad_w=None))]
#[allow(clippy::too_many_arguments)]
fn max_pool2d<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    dtype: &str,
    kh: i64,
    kw: i64,
    stride_h: Option<i64>,
    stride_w: Option<i64>,
    pad_h: Option<&Bound<'py, PyAny>>,
    pad_w: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let win = Window::two(kh, kw, stride_h, stride_w, pad_h, pad_w)?;
    by_dtype!(dtype, |S| forward_t::<S>(py, win, Op::Max, x))
}

/// The backward pass of [`max_pool2d`] from its input `x`: each `dy` goes to the first maximum
/// of its window (row-major, as torch); returns `dx` like `x`.
#[pyfunction]
#[pyo3(signature = (x, dy, dtype="f32", *, kh, kw, stride_h=None, stride_w=None, pad_h=None, pad_w=None))]
#[allow(clippy::too_many_arguments)]
fn max_pool2d_backward<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    dy: &Bound<'py, PyAny>,
    dtype: &str,
    kh: i64,
    kw: i64,
    stride_h: Option<i64>,
    stride_w: Option<i64>,
    pad_h: Option<&Bound<'py, PyAny>>,
    pad_w: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let win = Window::two(kh, kw, stride_h, stride_w, pad_h, pad_w)?;
    by_dtype!(dtype, |S| max_backward_t::<S>(py, win, x, dy))
}

/// 2-D average pooling (torch's `avg_pool2d`, `ceil_mode=False`), arguments as [`max_pool2d`];
/// `count_include_pad` as torch (its default `True`: the divisor is always `kh·kw`).
#[pyfunction]
#[pyo3(signature = (x, dtype="f32", *, kh, kw, stride_h=None, stride_w=None, pad_h=None, pad_w=None, count_include_pad=true))]
#[allow(clippy::too_many_arguments)]
fn avg_pool2d<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    dtype: &str,
    kh: i64,
    kw: i64,
    stride_h: Option<i64>,
    stride_w: Option<i64>,
    pad_h: Option<&Bound<'py, PyAny>>,
    pad_w: Option<&Bound<'py, PyAny>>,
    count_include_pad: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let win = Window::two(kh, kw, stride_h, stride_w, pad_h, pad_w)?;
    let op = Op::Avg { count_include_pad };
    by_dtype!(dtype, |S| forward_t::<S>(py, win, op, x))
}

/// The backward pass of [`avg_pool2d`] from `dy` alone (`(out_h, out_w, c)` or batched); the
/// input's `in_h`, `in_w` are keywords. Returns `dx` `(in_h, in_w, c)` or batched.
#[pyfunction]
#[pyo3(signature = (dy, dtype="f32", *, in_h, in_w, kh, kw, stride_h=None, stride_w=None, pad_h=None, pad_w=None, count_include_pad=true))]
#[allow(clippy::too_many_arguments)]
fn avg_pool2d_backward<'py>(
    py: Python<'py>,
    dy: &Bound<'py, PyAny>,
    dtype: &str,
    in_h: i64,
    in_w: i64,
    kh: i64,
    kw: i64,
    stride_h: Option<i64>,
    stride_w: Option<i64>,
    pad_h: Option<&Bound<'py, PyAny>>,
    pad_w: Option<&Bound<'py, PyAny>>,
    count_include_pad: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let win = Window::two(kh, kw, stride_h, stride_w, pad_h, pad_w)?;
    let spatial = [size(in_h, "in_h")?, size(in_w, "in_w")?];
    by_dtype!(dtype, |S| avg_backward_t::<S>(
        py,
        win,
        count_include_pad,
        dy,
        &spatial
    ))
}

/// 1-D max pooling of `x` `(len, c)` or `(B, len, c)`: window `k`, stride defaulting to `k`,
/// `pad` an int, a pair or `"same"`. Returns `(out_len, c)` or batched.
#[pyfunction]
#[pyo3(signature = (x, dtype="f32", *, k, stride=None, pad=None))]
fn max_pool1d<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    dtype: &str,
    k: i64,
    stride: Option<i64>,
    pad: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let win = Window::one(k, stride, pad)?;
    by_dtype!(dtype, |S| forward_t::<S>(py, win, Op::Max, x))
}

/// The backward pass of [`max_pool1d`] from its input `x`; returns `dx` like `x`.
#[pyfunction]
#[pyo3(signature = (x, dy, dtype="f32", *, k, stride=None, pad=None))]
fn max_pool1d_backward<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    dy: &Bound<'py, PyAny>,
    dtype: &str,
    k: i64,
    stride: Option<i64>,
    pad: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let win = Window::one(k, stride, pad)?;
    by_dtype!(dtype, |S| max_backward_t::<S>(py, win, x, dy))
}

/// 1-D average pooling, arguments as [`max_pool1d`] and `count_include_pad` as [`avg_pool2d`].
#[pyfunction]
#[pyo3(signature = (x, dtype="f32", *, k, stride=None, pad=None, count_include_pad=true))]
fn avg_pool1d<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    dtype: &str,
    k: i64,
    stride: Option<i64>,
    pad: Option<&Bound<'py, PyAny>>,
    count_include_pad: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let win = Window::one(k, stride, pad)?;
    let op = Op::Avg { count_include_pad };
    by_dtype!(dtype, |S| forward_t::<S>(py, win, op, x))
}

/// The backward pass of [`avg_pool1d`] from `dy` alone; the input length `len` is a keyword.
#[pyfunction]
#[pyo3(signature = (dy, dtype="f32", *, len, k, stride=None, pad=None, count_include_pad=true))]
#[allow(clippy::too_many_arguments)]
fn avg_pool1d_backward<'py>(
    py: Python<'py>,
    dy: &Bound<'py, PyAny>,
    dtype: &str,
    len: i64,
    k: i64,
    stride: Option<i64>,
    pad: Option<&Bound<'py, PyAny>>,
    count_include_pad: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let win = Window::one(k, stride, pad)?;
    let spatial = [size(len, "len")?];
    by_dtype!(dtype, |S| avg_backward_t::<S>(
        py,
        win,
        count_include_pad,
        dy,
        &spatial
    ))
}

/// The library's shape check of global average pooling: nonzero sizes, at most `u32::MAX`
/// pixels (its divisor).
fn gap_check(pixels: usize, channels: usize) -> PyResult<()> {
    check_shape(pixels > 0 && channels > 0 && u32::try_from(pixels).is_ok())
}

fn gap_t<'py, S: Elem>(
    py: Python<'py>,
    dims: usize,
    x: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let (xs, x) = read::<S>(x, "x")?;
    let layout = if dims == 1 { "(len, c)" } else { "(h, w, c)" };
    let batch = Batch::of(&xs, dims + 1, "x", layout)?;
    let (spatial, c) = batch.dims.split_at(dims);
    let pixels: usize = spatial.iter().product();
    let channels = c.first().copied().unwrap_or(0);
    gap_check(pixels, channels)?;
    check_finite(&x)?;
    let mut y = batch.alloc::<S>(channels)?;
    for k in 0..batch.count {
        gap::forward(
            pixels,
            channels,
            sample(&x, k, pixels * channels),
            sample_mut(&mut y, k, channels),
        )
        .map_err(err)?;
    }
    write(py, &y, &batch.shape(&[channels]))
}

/// Global average pooling: the mean of each channel over a map `(h, w, c)` (`dims=2`) or
/// `(len, c)` (`dims=1`), optionally batched; returns `(c,)` or `(B, c)`.
#[pyfunction]
#[pyo3(signature = (x, dtype="f32", *, dims=2))]
fn global_avg_pool<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    dtype: &str,
    dims: i64,
) -> PyResult<Bound<'py, PyAny>> {
    let dims = match dims {
        1 | 2 => dims as usize,
        _ => return Err(misuse(format!("dims: expected 1 or 2, got {dims}"))),
    };
    by_dtype!(dtype, |S| gap_t::<S>(py, dims, x))
}

fn gap_backward_t<'py, S: Elem>(
    py: Python<'py>,
    spatial: &[usize],
    dy: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let (dys, dy) = read::<S>(dy, "dy")?;
    let batch = Batch::of(&dys, 1, "dy", "(c,)")?;
    let channels = batch.dims.first().copied().unwrap_or(0);
    let pixels = spatial
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| misuse("map_shape: too many pixels"))?;
    gap_check(pixels, channels)?;
    check_finite(&dy)?;
    let per = pixels
        .checked_mul(channels)
        .ok_or_else(|| misuse("map_shape: too many elements"))?;
    let mut dx = batch.alloc::<S>(per)?;
    for k in 0..batch.count {
        gap::backward(
            pixels,
            channels,
            sample(&dy, k, channels),
            sample_mut(&mut dx, k, per),
        )
        .map_err(err)?;
    }
    let mut map = spatial.to_vec();
    map.push(channels);
    write(py, &dx, &batch.shape(&map))
}

/// The backward pass of [`global_avg_pool`]: `dy` `(c,)` or `(B, c)` spread evenly over a map
/// of spatial shape `map_shape` (`(h, w)` or `(len,)`); returns `dx` `(*map_shape, c)` or
/// batched.
#[pyfunction]
#[pyo3(signature = (dy, dtype="f32", *, map_shape))]
fn global_avg_pool_backward<'py>(
    py: Python<'py>,
    dy: &Bound<'py, PyAny>,
    dtype: &str,
    map_shape: Vec<i64>,
) -> PyResult<Bound<'py, PyAny>> {
    if map_shape.is_empty() || map_shape.len() > 2 {
        return Err(misuse(format!(
            "map_shape: expected (h, w) or (len,), got {map_shape:?}"
        )));
    }
    let map_shape = map_shape
        .iter()
        .map(|&d| size(d, "map_shape"))
        .collect::<PyResult<Vec<usize>>>()?;
    by_dtype!(dtype, |S| gap_backward_t::<S>(py, &map_shape, dy))
}

/// Adds the pooling functions to the module.
pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(max_pool2d, m)?)?;
    m.add_function(wrap_pyfunction!(max_pool2d_backward, m)?)?;
    m.add_function(wrap_pyfunction!(avg_pool2d, m)?)?;
    m.add_function(wrap_pyfunction!(avg_pool2d_backward, m)?)?;
    m.add_function(wrap_pyfunction!(max_pool1d, m)?)?;
    m.add_function(wrap_pyfunction!(max_pool1d_backward, m)?)?;
    m.add_function(wrap_pyfunction!(avg_pool1d, m)?)?;
    m.add_function(wrap_pyfunction!(avg_pool1d_backward, m)?)?;
    m.add_function(wrap_pyfunction!(global_avg_pool, m)?)?;
    m.add_function(wrap_pyfunction!(global_avg_pool_backward, m)?)?;
    Ok(())
}
