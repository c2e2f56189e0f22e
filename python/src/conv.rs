//! The convolutions from Python: 2-D (with groups, so depthwise too), 1-D and pointwise, forward,
//! backward (weight, bias and input gradients) and the input gradient alone, on numpy arrays in
//! the library's layouts: channels-last maps `(H, W, C)` (1-D `(L, C)`), weights OHWI
//! `(out_c, kh, kw, in_c/groups)` (1-D `(out_c, k, in_c/groups)`, pointwise `(out_c, in_c)`),
//! an optional leading batch axis that loops here, one library call per sample. The sizes come
//! from the arrays' shapes, stride, padding and groups from keywords named after the fields of
//! `Conv2dShape` / `Conv1dShape`; the library's own shape validation and length checks decide
//! what is accepted, before any output is allocated. The pools are in [`pool`], the activations
//! these networks use (ReLU6, LeakyReLU, sigmoid, tanh) in [`activation`].

mod activation;
mod map;
mod pool;

use crate::layers::{read, write, Elem};
use crate::{err, misuse};
use edgetune::nn::{conv1d, conv2d, pointwise, Conv1dShape, Conv2dShape, Scalar};
use edgetune::Error;
use map::{
    by_dtype, check_dy, check_finite, check_len, check_shape, sample, sample_mut, size, Batch, Pad,
};
use pyo3::prelude::*;

/// A convolution's array layouts and keyword arguments; [`Family::conv`] turns them and the
/// arrays' sizes into the library's shape.
#[derive(Clone, Copy)]
enum Family {
    Two {
        stride_h: usize,
        stride_w: usize,
        pad_h: Pad,
        pad_w: Pad,
        groups: usize,
    },
    One {
        stride: usize,
        pad: Pad,
        groups: usize,
    },
    Point,
}

/// A convolution of the library with its shape.
#[derive(Clone, Copy)]
enum Conv {
    Two(Conv2dShape),
    One(Conv1dShape),
    Point(Conv2dShape),
}

impl Family {
    /// Axes of one sample of the input (and output) map.
    fn map_ndim(self) -> usize {
        match self {
            Family::One { .. } => 2,
            _ => 3,
        }
    }

    fn map_layout(self) -> &'static str {
        match self {
            Family::One { .. } => "(len, in_c)",
            _ => "(in_h, in_w, in_c)",
        }
    }

    fn w_layout(self) -> &'static str {
        match self {
            Family::Two { .. } => "(out_c, kh, kw, in_c/groups)",
            Family::One { .. } => "(out_c, k, in_c/groups)",
            Family::Point => "(out_c, in_c)",
        }
    }

    fn groups(self) -> usize {
        match self {
            Family::Two { groups, .. } | Family::One { groups, .. } => groups,
            Family::Point => 1,
        }
    }

    /// The shape for an input sample of `map` (`(H, W, C)` or `(L, C)`) and weights of `w`.
    fn conv(self, map: &[usize], w: &[usize]) -> PyResult<Conv> {
        let bad_w = || misuse(format!("w: expected shape {}, got {w:?}", self.w_layout()));
        match self {
            Family::Two {
                stride_h,
                stride_w,
                pad_h,
                pad_w,
                groups,
            } => {
                let (&[h, wd, c], &[o, kh, kw, _]) = (map, w) else {
                    return Err(bad_w());
                };
                Ok(Conv::Two(
                    Conv2dShape::new(h, wd, c, o, kh, kw)
                        .stride(stride_h, stride_w)
                        .pad(pad_h.on(h, kh, stride_h), pad_w.on(wd, kw, stride_w))
                        .groups(groups),
                ))
            }
            Family::One {
                stride,
                pad,
                groups,
            } => {
                let (&[len, c], &[o, k, _]) = (map, w) else {
                    return Err(bad_w());
                };
                Ok(Conv::One(
                    Conv1dShape::new(len, c, o, k)
                        .stride(stride)
                        .pad(pad.on(len, k, stride))
                        .groups(groups),
                ))
            }
            Family::Point => {
                let (&[h, wd, c], &[o, _]) = (map, w) else {
                    return Err(bad_w());
                };
                Ok(Conv::Point(Conv2dShape::new(h, wd, c, o, 1, 1)))
            }
        }
    }
}

impl Conv {
    fn valid(self) -> bool {
        match self {
            Conv::Two(s) => s.valid(),
            Conv::One(s) => s.valid(),
            Conv::Point(s) => pointwise::is_pointwise(&s),
        }
    }

    /// Elements of `(w, b, x, y)` per sample.
    fn sizes(self) -> (usize, usize, usize, usize) {
        match self {
            Conv::Two(s) | Conv::Point(s) => (s.weights(), s.out_c, s.input_len(), s.output_len()),
            Conv::One(s) => (s.weights(), s.out_c, s.input_len(), s.output_len()),
        }
    }

    /// One output sample's axes.
    fn out_dims(self) -> Vec<usize> {
        match self {
            Conv::Two(s) | Conv::Point(s) => vec![s.out_h(), s.out_w(), s.out_c],
            Conv::One(s) => vec![s.out_len(), s.out_c],
        }
    }

    /// The library's shape check and the weight (and, if given, bias) lengths, in its order.
    fn check(self, w: usize, b: Option<usize>) -> PyResult<()> {
        check_shape(self.valid())?;
        let (nw, nb, _, _) = self.sizes();
        check_len(nw, w)?;
        b.map_or(Ok(()), |b| check_len(nb, b))
    }

    fn forward<S: Scalar>(self, w: &[S], b: &[S], x: &[S], y: &mut [S]) -> Result<(), Error> {
        match self {
            Conv::Two(s) => conv2d::forward(&s, w, b, x, y),
            Conv::One(s) => conv1d::forward(&s, w, b, x, y),
            Conv::Point(s) => pointwise::forward(&s, w, b, x, y),
        }
    }

    fn backward<S: Scalar>(
        self,
        w: &[S],
        x: &[S],
        dy: &[S],
        grads: (&mut [S], &mut [S]),
        dx: Option<&mut [S]>,
    ) -> Result<(), Error> {
        match self {
            Conv::Two(s) => conv2d::backward(&s, w, x, dy, Some(grads), dx),
            Conv::One(s) => conv1d::backward(&s, w, x, dy, Some(grads), dx),
            Conv::Point(s) => pointwise::backward(&s, w, x, dy, Some(grads), dx),
        }
    }

    fn backward_input<S: Scalar>(self, w: &[S], dy: &[S], dx: &mut [S]) -> Result<(), Error> {
        match self {
            Conv::Two(s) => conv2d::backward_input(&s, w, dy, dx),
            // conv1d is conv2d at height 1 (the library's conv1d calls it the same way).
            Conv::One(s) => conv2d::backward_input(&s.to_2d(), w, dy, dx),
            Conv::Point(s) => pointwise::backward_input(&s, w, dy, dx),
        }
    }
}

fn forward_t<'py, S: Elem>(
    py: Python<'py>,
    fam: Family,
    w: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let (ws, w) = read::<S>(w, "w")?;
    let (_, b) = read::<S>(b, "b")?;
    let (xs, x) = read::<S>(x, "x")?;
    let batch = Batch::of(&xs, fam.map_ndim(), "x", fam.map_layout())?;
    let conv = fam.conv(&batch.dims, &ws)?;
    conv.check(w.len(), Some(b.len()))?;
    check_finite(&x)?;
    let (_, _, nx, ny) = conv.sizes();
    let mut y = batch.alloc::<S>(ny)?;
    for k in 0..batch.count {
        conv.forward(&w, &b, sample(&x, k, nx), sample_mut(&mut y, k, ny))
            .map_err(err)?;
    }
    write(py, &y, &batch.shape(&conv.out_dims()))
}

type Grads<'py> = (
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Option<Bound<'py, PyAny>>,
);

fn backward_t<'py, S: Elem>(
    py: Python<'py>,
    fam: Family,
    w: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    dy: &Bound<'py, PyAny>,
    need_dx: bool,
) -> PyResult<Grads<'py>> {
    let (ws, w) = read::<S>(w, "w")?;
    let (xs, x) = read::<S>(x, "x")?;
    let (dys, dy) = read::<S>(dy, "dy")?;
    let batch = Batch::of(&xs, fam.map_ndim(), "x", fam.map_layout())?;
    let conv = fam.conv(&batch.dims, &ws)?;
    conv.check(w.len(), None)?;
    check_dy(&dys, &batch.shape(&conv.out_dims()))?;
    check_finite(&x)?;
    check_finite(&dy)?;
    let (nw, nb, nx, ny) = conv.sizes();
    let (mut dw, mut db) = (vec![S::ZERO; nw], vec![S::ZERO; nb]);
    let mut dx = if need_dx {
        batch.alloc::<S>(nx)?
    } else {
        Vec::new()
    };
    for k in 0..batch.count {
        let dxk = if need_dx {
            Some(sample_mut(&mut dx, k, nx))
        } else {
            None
        };
        conv.backward(
            &w,
            sample(&x, k, nx),
            sample(&dy, k, ny),
            (&mut dw, &mut db),
            dxk,
        )
        .map_err(err)?;
    }
    let dx = if need_dx {
        Some(write(py, &dx, &xs)?)
    } else {
        None
    };
    Ok((write(py, &dw, &ws)?, write(py, &db, &[nb])?, dx))
}

fn backward_input_t<'py, S: Elem>(
    py: Python<'py>,
    fam: Family,
    w: &Bound<'py, PyAny>,
    dy: &Bound<'py, PyAny>,
    spatial: Option<&[usize]>,
) -> PyResult<Bound<'py, PyAny>> {
    let (ws, w) = read::<S>(w, "w")?;
    let (dys, dy) = read::<S>(dy, "dy")?;
    let out_layout = match fam {
        Family::One { .. } => "(out_len, out_c)",
        _ => "(out_h, out_w, out_c)",
    };
    let batch = Batch::of(&dys, fam.map_ndim(), "dy", out_layout)?;
    // The input's spatial sizes: given, or (pointwise) the output's; its channels from `w`.
    let spatial = spatial.unwrap_or_else(|| batch.dims.get(..2).unwrap_or_default());
    let per_group = ws.last().copied().unwrap_or(0);
    let in_c = per_group
        .checked_mul(fam.groups())
        .ok_or_else(|| misuse("w: in_c/groups × groups overflows"))?;
    let mut map = spatial.to_vec();
    map.push(in_c);
    let conv = fam.conv(&map, &ws)?;
    conv.check(w.len(), None)?;
    if batch.dims != conv.out_dims() {
        return Err(misuse(format!(
            "dy: expected sample shape {:?} (the layer's output), got {:?}",
            conv.out_dims(),
            batch.dims
        )));
    }
    check_finite(&dy)?;
    let (_, _, nx, ny) = conv.sizes();
    let mut dx = batch.alloc::<S>(nx)?;
    for k in 0..batch.count {
        conv.backward_input(&w, sample(&dy, k, ny), sample_mut(&mut dx, k, nx))
            .map_err(err)?;
    }
    write(py, &dx, &batch.shape(&map))
}

fn two(
    stride_h: i64,
    stride_w: i64,
    pad_h: Option<&Bound<'_, PyAny>>,
    pad_w: Option<&Bound<'_, PyAny>>,
    groups: i64,
) -> PyResult<Family> {
    Ok(Family::Two {
        stride_h: size(stride_h, "stride_h")?,
        stride_w: size(stride_w, "stride_w")?,
        pad_h: Pad::parse(pad_h, "pad_h")?,
        pad_w: Pad::parse(pad_w, "pad_w")?,
        groups: size(groups, "groups")?,
    })
}

fn one(stride: i64, pad: Option<&Bound<'_, PyAny>>, groups: i64) -> PyResult<Family> {
    Ok(Family::One {
        stride: size(stride, "stride")?,
        pad: Pad::parse(pad, "pad")?,
        groups: size(groups, "groups")?,
    })
}

/// 2-D convolution (torch's `conv2d`, a cross-correlation, in channels-last layout): `w`
/// `(out_c, kh, kw, in_c/groups)`, `b` `(out_c,)`, `x` `(in_h, in_w, in_c)` or
/// `(B, in_h, in_w, in_c)`; returns `y` `(out_h, out_w, out_c)` or `(B, ...)`. `pad_h`, `pad_w`:
/// an int (both sides), a pair `(before, after)` or `"same"`; `groups=in_c` is depthwise.
#[pyfunction]
#[pyo3(signature = (w, b, x, dtype="f32", *, stride_h=1, stride_w=1, pad_h=None, pad_w=None, groups=1))]
#[allow(clippy::too_many_arguments)]
fn conv2d_forward<'py>(
    py: Python<'py>,
    w: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    dtype: &str,
    stride_h: i64,
    stride_w: i64,
    pad_h: Option<&Bound<'py, PyAny>>,
    pad_w: Option<&Bound<'py, PyAny>>,
    groups: i64,
) -> PyResult<Bound<'py, PyAny>> {
    let fam = two(stride_h, stride_w, pad_h, pad_w, groups)?;
    by_dtype!(dtype, |S| forward_t::<S>(py, fam, w, b, x))
}

/// The backward pass of [`conv2d_forward`] from its input `x` and `dy`: returns `(dw, db, dx)`,
/// `dw` and `db` **summed** over the batch (accumulated sample by sample from zero, as the
/// device does), `dx` like `x` (`None` with `need_dx=False`).
#[pyfunction]
#[pyo3(signature = (w, x, dy, dtype="f32", *, stride_h=1, stride_w=1, pad_h=None, pad_w=None, groups=1, need_dx=true))]
#[allow(clippy::too_many_arguments)]
fn conv2d_backward<'py>(
    py: Python<'py>,
    w: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    dy: &Bound<'py, PyAny>,
    dtype: &str,
    stride_h: i64,
    stride_w: i64,
    pad_h: Option<&Bound<'py, PyAny>>,
    pad_w: Option<&Bound<'py, PyAny>>,
    groups: i64,
    need_dx: bool,
) -> PyResult<Grads<'py>> {
    let fam = two(stride_h, stride_w, pad_h, pad_w, groups)?;
    by_dtype!(dtype, |S| backward_t::<S>(py, fam, w, x, dy, need_dx))
}

/// The input gradient alone of [`conv2d_forward`] (a frozen layer, whose input was not kept):
/// `dy` `(out_h, out_w, out_c)` or batched; the input's `in_h`, `in_w` are keywords (its
/// channels are `w.shape[3]·groups`). Returns `dx` `(in_h, in_w, in_c)` or batched.
#[pyfunction]
#[pyo3(signature = (w, dy, dtype="f32", *, in_h, in_w, stride_h=1, stride_w=1, pad_h=None, pad_w=None, groups=1))]
#[allow(clippy::too_many_arguments)]
fn conv2d_backward_input<'py>(
    py: Python<'py>,
    w: &Bound<'py, PyAny>,
    dy: &Bound<'py, PyAny>,
    dtype: &str,
    in_h: i64,
    in_w: i64,
    stride_h: i64,
    stride_w: i64,
    pad_h: Option<&Bound<'py, PyAny>>,
    pad_w: Option<&Bound<'py, PyAny>>,
    groups: i64,
) -> PyResult<Bound<'py, PyAny>> {
    let fam = two(stride_h, stride_w, pad_h, pad_w, groups)?;
    let spatial = [size(in_h, "in_h")?, size(in_w, "in_w")?];
    by_dtype!(dtype, |S| backward_input_t::<S>(
        py,
        fam,
        w,
        dy,
        Some(&spatial)
    ))
}

/// 1-D convolution over channels-last windows: `w` `(out_c, k, in_c/groups)`, `b` `(out_c,)`,
/// `x` `(len, in_c)` or `(B, len, in_c)`; returns `y` `(out_len, out_c)` or batched. `pad`: an
/// int, a pair `(before, after)` or `"same"`.
#[pyfunction]
#[pyo3(signature = (w, b, x, dtype="f32", *, stride=1, pad=None, groups=1))]
#[allow(clippy::too_many_arguments)]
fn conv1d_forward<'py>(
    py: Python<'py>,
    w: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    dtype: &str,
    stride: i64,
    pad: Option<&Bound<'py, PyAny>>,
    groups: i64,
) -> PyResult<Bound<'py, PyAny>> {
    let fam = one(stride, pad, groups)?;
    by_dtype!(dtype, |S| forward_t::<S>(py, fam, w, b, x))
}

/// The backward pass of [`conv1d_forward`]: `(dw, db, dx)` as [`conv2d_backward`].
#[pyfunction]
#[pyo3(signature = (w, x, dy, dtype="f32", *, stride=1, pad=None, groups=1, need_dx=true))]
#[allow(clippy::too_many_arguments)]
fn conv1d_backward<'py>(
    py: Python<'py>,
    w: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    dy: &Bound<'py, PyAny>,
    dtype: &str,
    stride: i64,
    pad: Option<&Bound<'py, PyAny>>,
    groups: i64,
    need_dx: bool,
) -> PyResult<Grads<'py>> {
    let fam = one(stride, pad, groups)?;
    by_dtype!(dtype, |S| backward_t::<S>(py, fam, w, x, dy, need_dx))
}

/// The input gradient alone of [`conv1d_forward`]: `dy` `(out_len, out_c)` or batched, the
/// input length `len` a keyword; returns `dx` `(len, in_c)` or batched.
#[pyfunction]
#[pyo3(signature = (w, dy, dtype="f32", *, len, stride=1, pad=None, groups=1))]
#[allow(clippy::too_many_arguments)]
fn conv1d_backward_input<'py>(
    py: Python<'py>,
    w: &Bound<'py, PyAny>,
    dy: &Bound<'py, PyAny>,
    dtype: &str,
    len: i64,
    stride: i64,
    pad: Option<&Bound<'py, PyAny>>,
    groups: i64,
) -> PyResult<Bound<'py, PyAny>> {
    let fam = one(stride, pad, groups)?;
    let spatial = [size(len, "len")?];
    by_dtype!(dtype, |S| backward_input_t::<S>(
        py,
        fam,
        w,
        dy,
        Some(&spatial)
    ))
}

/// Pointwise (1 × 1) convolution, a dense layer on every pixel: `w` `(out_c, in_c)`, `b`
/// `(out_c,)`, `x` `(h, w, in_c)` or `(B, h, w, in_c)`; returns `y` `(h, w, out_c)` or batched.
#[pyfunction]
#[pyo3(signature = (w, b, x, dtype="f32"))]
fn pointwise_forward<'py>(
    py: Python<'py>,
    w: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    dtype: &str,
) -> PyResult<Bound<'py, PyAny>> {
    by_dtype!(dtype, |S| forward_t::<S>(py, Family::Point, w, b, x))
}

/// The backward pass of [`pointwise_forward`]: `(dw, db, dx)` as [`conv2d_backward`].
#[pyfunction]
#[pyo3(signature = (w, x, dy, dtype="f32", *, need_dx=true))]
fn pointwise_backward<'py>(
    py: Python<'py>,
    w: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    dy: &Bound<'py, PyAny>,
    dtype: &str,
    need_dx: bool,
) -> PyResult<Grads<'py>> {
    by_dtype!(dtype, |S| backward_t::<S>(
        py,
        Family::Point,
        w,
        x,
        dy,
        need_dx
    ))
}

/// The input gradient alone of [`pointwise_forward`]: `dy` `(h, w, out_c)` or batched; returns
/// `dx` `(h, w, in_c)` or batched.
#[pyfunction]
#[pyo3(signature = (w, dy, dtype="f32"))]
fn pointwise_backward_input<'py>(
    py: Python<'py>,
    w: &Bound<'py, PyAny>,
    dy: &Bound<'py, PyAny>,
    dtype: &str,
) -> PyResult<Bound<'py, PyAny>> {
    by_dtype!(dtype, |S| backward_input_t::<S>(
        py,
        Family::Point,
        w,
        dy,
        None
    ))
}

/// Adds the convolution, pooling and activation functions to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(conv2d_forward, m)?)?;
    m.add_function(wrap_pyfunction!(conv2d_backward, m)?)?;
    m.add_function(wrap_pyfunction!(conv2d_backward_input, m)?)?;
    m.add_function(wrap_pyfunction!(conv1d_forward, m)?)?;
    m.add_function(wrap_pyfunction!(conv1d_backward, m)?)?;
    m.add_function(wrap_pyfunction!(conv1d_backward_input, m)?)?;
    m.add_function(wrap_pyfunction!(pointwise_forward, m)?)?;
    m.add_function(wrap_pyfunction!(pointwise_backward, m)?)?;
    m.add_function(wrap_pyfunction!(pointwise_backward_input, m)?)?;
    pool::register(m)?;
    activation::register(m)
}
