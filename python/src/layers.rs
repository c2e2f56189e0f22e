//! The layers from Python: dense forward/backward, ReLU and softmax cross-entropy on numpy
//! arrays, batch-aware (a leading batch axis loops here, in Rust), through the library's
//! run-time-sized layers ([`edgetune::dynamic`]), which run the static layers' bodies bit for
//! bit. `float32` arrays for dtype "f32", `int32` raw bits for "I16F16" and "I8F24", `int16` raw
//! bits for "I4F12".

use crate::{err, misuse, Kind};
use edgetune::dynamic;
use edgetune::num::fixed::{I16F16, I4F12, I8F24};
use edgetune::num::Scalar;
use numpy::{IntoPyArray, PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;

/// A number type as its numpy element: `f32` itself, fixed point as raw `i32` bits.
pub(crate) trait Elem: Scalar + Copy {
    type Np: numpy::Element + Copy;
    const WANT: &'static str;
    fn from_np(v: Self::Np) -> Self;
    fn to_np(self) -> Self::Np;
}

impl Elem for f32 {
    type Np = f32;
    const WANT: &'static str = "float32";
    fn from_np(v: f32) -> f32 {
        v
    }
    fn to_np(self) -> f32 {
        self
    }
}

macro_rules! fixed_elem {
    ($t:ty, $raw:ty, $want:literal) => {
        impl Elem for $t {
            type Np = $raw;
            const WANT: &'static str = $want;
            fn from_np(v: $raw) -> Self {
                <$t>::from_bits(v)
            }
            fn to_np(self) -> $raw {
                self.to_bits()
            }
        }
    };
}
fixed_elem!(I16F16, i32, "int32 (raw fixed-point bits)");
fixed_elem!(I8F24, i32, "int32 (raw fixed-point bits)");
fixed_elem!(I4F12, i16, "int16 (raw fixed-point bits)");

/// An array's shape and its elements (C order) as `S`.
pub(crate) fn read<S: Elem>(a: &Bound<'_, PyAny>, what: &str) -> PyResult<(Vec<usize>, Vec<S>)> {
    let arr = a
        .cast::<PyArrayDyn<S::Np>>()
        .map_err(|_| misuse(format!("{what}: expected a numpy array of {}", S::WANT)))?;
    let ro = arr
        .try_readonly()
        .map_err(|e| misuse(format!("{what}: {e}")))?;
    let shape = ro.shape().to_vec();
    let values = ro.as_array().iter().map(|&v| S::from_np(v)).collect();
    Ok((shape, values))
}

/// `values` as a numpy array of `shape`.
pub(crate) fn write<'py, S: Elem>(
    py: Python<'py>,
    values: &[S],
    shape: &[usize],
) -> PyResult<Bound<'py, PyAny>> {
    let np: Vec<S::Np> = values.iter().map(|v| v.to_np()).collect();
    Ok(np
        .into_pyarray(py)
        .reshape(shape.to_vec())
        .map_err(|e| misuse(e.to_string()))?
        .into_any())
}

/// `(batch, features)` of a 1-D `(features,)` or 2-D `(batch, features)` array.
fn batch_shape(shape: &[usize], what: &str) -> PyResult<(usize, usize)> {
    match *shape {
        [f] => Ok((1, f)),
        [b, f] => Ok((b, f)),
        _ => Err(misuse(format!(
            "{what}: expected shape (features,) or (batch, features), got {shape:?}"
        ))),
    }
}

/// The output shape: `(f,)` for a 1-D input, `(batch, f)` for a batch.
fn out_shape(input: &[usize], batch: usize, f: usize) -> Vec<usize> {
    if input.len() == 1 {
        vec![f]
    } else {
        vec![batch, f]
    }
}

/// `(O, I)` of a 2-D weight array.
fn weight_shape(shape: &[usize]) -> PyResult<(usize, usize)> {
    match *shape {
        [o, i] => Ok((o, i)),
        _ => Err(misuse(format!(
            "w: expected shape (out_features, in_features), got {shape:?}"
        ))),
    }
}

/// Runs `$body` with `$S` the number type named by `$dtype`.
macro_rules! per_dtype {
    ($dtype:expr, |$S:ident| $body:expr) => {
        match Kind::parse($dtype)? {
            Kind::F32 => {
                type $S = f32;
                $body
            }
            Kind::I16F16 => {
                type $S = I16F16;
                $body
            }
            Kind::I8F24 => {
                type $S = I8F24;
                $body
            }
            Kind::I4F12 => {
                type $S = I4F12;
                $body
            }
        }
    };
}

fn dense_forward_t<'py, S: Elem>(
    py: Python<'py>,
    w: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let (ws, w) = read::<S>(w, "w")?;
    let (_, b) = read::<S>(b, "b")?;
    let (xs, x) = read::<S>(x, "x")?;
    let (o, _) = weight_shape(&ws)?;
    let (batch, i) = batch_shape(&xs, "x")?;
    let mut y = vec![S::ZERO; batch * o];
    for k in 0..batch {
        let xk = x.get(k * i..(k + 1) * i).unwrap_or_default();
        let yk = y.get_mut(k * o..(k + 1) * o).unwrap_or_default();
        dynamic::dense_forward(&w, &b, xk, yk).map_err(err)?;
    }
    write(py, &y, &out_shape(&xs, batch, o))
}

/// `y = x Wᵀ + b` (torch's `F.linear`): `w` of shape `(O, I)`, `b` `(O,)`, `x` `(I,)` or
/// `(B, I)`; returns `y` of shape `(O,)` or `(B, O)`. Each sample runs the device's kernel.
#[pyfunction]
#[pyo3(signature = (w, b, x, dtype="f32"))]
fn dense_forward<'py>(
    py: Python<'py>,
    w: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    dtype: &str,
) -> PyResult<Bound<'py, PyAny>> {
    per_dtype!(dtype, |S| dense_forward_t::<S>(py, w, b, x))
}

type Grads<'py> = (
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Option<Bound<'py, PyAny>>,
);

fn dense_backward_t<'py, S: Elem>(
    py: Python<'py>,
    w: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    dy: &Bound<'py, PyAny>,
    need_dx: bool,
) -> PyResult<Grads<'py>> {
    let (ws, w) = read::<S>(w, "w")?;
    let (xs, x) = read::<S>(x, "x")?;
    let (dys, dy) = read::<S>(dy, "dy")?;
    let (o, i) = weight_shape(&ws)?;
    let (batch, xi) = batch_shape(&xs, "x")?;
    let (dbatch, dyo) = batch_shape(&dys, "dy")?;
    if dbatch != batch || xs.len() != dys.len() {
        return Err(misuse(format!(
            "x {xs:?} and dy {dys:?} must have the same batch size"
        )));
    }
    if xi != i || dyo != o {
        return Err(misuse(format!(
            "w {ws:?} does not fit x {xs:?} and dy {dys:?}"
        )));
    }
    let (mut dw, mut db) = (vec![S::ZERO; o * i], vec![S::ZERO; o]);
    let mut dx = vec![S::ZERO; if need_dx { batch * i } else { 0 }];
    for k in 0..batch {
        let xk = x.get(k * i..(k + 1) * i).unwrap_or_default();
        let dyk = dy.get(k * o..(k + 1) * o).unwrap_or_default();
        let dxk = if need_dx {
            dx.get_mut(k * i..(k + 1) * i)
        } else {
            None
        };
        dynamic::dense_backward(&w, xk, dyk, Some((&mut dw, &mut db)), dxk).map_err(err)?;
    }
    let dx = if need_dx {
        Some(write(py, &dx, &out_shape(&xs, batch, i))?)
    } else {
        None
    };
    Ok((write(py, &dw, &[o, i])?, write(py, &db, &[o])?, dx))
}

/// The backward pass of [`dense_forward`]: returns `(dw, db, dx)` with `dw` `(O, I)` and `db`
/// `(O,)` the gradients **summed** over the batch (accumulated sample by sample from zero, as
/// the device does), and `dx` like `x` (`None` with `need_dx=False`).
#[pyfunction]
#[pyo3(signature = (w, x, dy, dtype="f32", *, need_dx=true))]
fn dense_backward<'py>(
    py: Python<'py>,
    w: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    dy: &Bound<'py, PyAny>,
    dtype: &str,
    need_dx: bool,
) -> PyResult<Grads<'py>> {
    per_dtype!(dtype, |S| dense_backward_t::<S>(py, w, x, dy, need_dx))
}

fn relu_t<'py, S: Elem>(py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let (xs, x) = read::<S>(x, "x")?;
    let mut y = vec![S::ZERO; x.len()];
    dynamic::relu_forward(&x, &mut y).map_err(err)?;
    write(py, &y, &xs)
}

/// `max(x, 0)` element-wise (any shape).
#[pyfunction]
#[pyo3(signature = (x, dtype="f32"))]
fn relu<'py>(py: Python<'py>, x: &Bound<'py, PyAny>, dtype: &str) -> PyResult<Bound<'py, PyAny>> {
    per_dtype!(dtype, |S| relu_t::<S>(py, x))
}

fn relu_backward_t<'py, S: Elem>(
    py: Python<'py>,
    y: &Bound<'py, PyAny>,
    dy: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let (ys, y) = read::<S>(y, "y")?;
    let (dys, dy) = read::<S>(dy, "dy")?;
    if ys != dys {
        return Err(misuse(format!("y {ys:?} and dy {dys:?} differ in shape")));
    }
    let mut dx = vec![S::ZERO; y.len()];
    dynamic::relu_backward(&y, &dy, &mut dx).map_err(err)?;
    write(py, &dx, &ys)
}

/// ReLU's backward pass from its output `y`: `dx = dy` where `y > 0`, else 0.
#[pyfunction]
#[pyo3(signature = (y, dy, dtype="f32"))]
fn relu_backward<'py>(
    py: Python<'py>,
    y: &Bound<'py, PyAny>,
    dy: &Bound<'py, PyAny>,
    dtype: &str,
) -> PyResult<Bound<'py, PyAny>> {
    per_dtype!(dtype, |S| relu_backward_t::<S>(py, y, dy))
}

type LossAndGrad<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>);

fn softmax_ce_t<'py, S: Elem>(
    py: Python<'py>,
    logits: &Bound<'py, PyAny>,
    labels: Vec<i64>,
) -> PyResult<LossAndGrad<'py>> {
    let (zs, z) = read::<S>(logits, "logits")?;
    let (batch, c) = batch_shape(&zs, "logits")?;
    if labels.len() != batch {
        return Err(misuse(format!(
            "{} labels for a batch of {batch}",
            labels.len()
        )));
    }
    let mut losses = vec![S::ZERO; batch];
    let mut dz = vec![S::ZERO; batch * c];
    for (k, (&label, loss)) in labels.iter().zip(losses.iter_mut()).enumerate() {
        let label =
            usize::try_from(label).map_err(|_| misuse(format!("label {label} is negative")))?;
        let zk = z.get(k * c..(k + 1) * c).unwrap_or_default();
        let dzk = dz.get_mut(k * c..(k + 1) * c).unwrap_or_default();
        *loss = dynamic::softmax_cross_entropy(zk, label, dzk).map_err(err)?;
    }
    let loss_shape: &[usize] = if zs.len() == 1 { &[] } else { &[batch] };
    Ok((write(py, &losses, loss_shape)?, write(py, &dz, &zs)?))
}

/// Per-sample cross-entropy of `softmax(logits)` and its gradient `softmax − onehot`:
/// `logits` `(C,)` or `(B, C)`, `labels` an int or `B` ints; returns `(loss, dlogits)`, `loss`
/// of shape `()` or `(B,)` (not averaged: torch's `reduction="none"`).
#[pyfunction]
#[pyo3(signature = (logits, labels, dtype="f32"))]
fn softmax_cross_entropy<'py>(
    py: Python<'py>,
    logits: &Bound<'py, PyAny>,
    labels: &Bound<'py, PyAny>,
    dtype: &str,
) -> PyResult<LossAndGrad<'py>> {
    let labels: Vec<i64> = match labels.extract::<i64>() {
        Ok(one) => vec![one],
        Err(_) => labels
            .extract::<Vec<i64>>()
            .map_err(|_| misuse("labels: expected an int or a sequence of ints"))?,
    };
    per_dtype!(dtype, |S| softmax_ce_t::<S>(py, logits, labels))
}

/// Adds the layer functions to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(dense_forward, m)?)?;
    m.add_function(wrap_pyfunction!(dense_backward, m)?)?;
    m.add_function(wrap_pyfunction!(relu, m)?)?;
    m.add_function(wrap_pyfunction!(relu_backward, m)?)?;
    m.add_function(wrap_pyfunction!(softmax_cross_entropy, m)?)?;
    Ok(())
}
