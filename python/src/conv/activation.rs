//! The element-wise activations convolutional networks use, from Python: ReLU6, LeakyReLU,
//! sigmoid and tanh, forward and backward on arrays of any shape (a batch is just more
//! elements). Each element runs the library's [`Activation`] (`apply`, and `backward_one` for
//! backward, as its `backward` does: `dy·f'(y)`, or a select where `f'` is 1 or 0), so the bits
//! are the device's. As the dense layer's ReLU, a NaN or infinite `x` (forward) or `dy`
//! (backward) is an `EdgetuneError`.

use super::map::{by_dtype, check_finite};
use crate::layers::{read, write, Elem};
use crate::{err, misuse};
use edgetune::nn::{Activation, LeakyRelu, Relu6, Scalar, Sigmoid, Tanh};
use edgetune::Error;
use pyo3::prelude::*;

/// Which activation, with LeakyReLU's slope as given.
#[derive(Clone, Copy)]
enum Which {
    Relu6,
    Leaky(f64),
    Sigmoid,
    Tanh,
}

/// `f(v)` for each element of `v` under the activation `a`, or with `dy` (and `v` the
/// output `y`) the backward `dy · f'(y)` (`Activation::backward_one`).
fn each<S: Scalar, A: Activation<S>>(a: A, v: &[S], dy: Option<&[S]>) -> Vec<S> {
    match dy {
        None => v.iter().map(|&x| a.apply(x)).collect(),
        Some(dy) => v
            .iter()
            .zip(dy)
            .map(|(&y, &g)| a.backward_one(y, g))
            .collect(),
    }
}

fn run<S: Scalar>(which: Which, v: &[S], dy: Option<&[S]>) -> PyResult<Vec<S>> {
    Ok(match which {
        Which::Relu6 => each(Relu6, v, dy),
        Which::Leaky(slope) => {
            let a = LeakyRelu::<S>::new(slope).map_err(|e| err(Error::Nn(e)))?;
            each(a, v, dy)
        }
        Which::Sigmoid => each(Sigmoid, v, dy),
        Which::Tanh => each(Tanh, v, dy),
    })
}

fn forward_t<'py, S: Elem>(
    py: Python<'py>,
    which: Which,
    x: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let (xs, x) = read::<S>(x, "x")?;
    check_finite(&x)?;
    write(py, &run(which, &x, None)?, &xs)
}

fn backward_t<'py, S: Elem>(
    py: Python<'py>,
    which: Which,
    y: &Bound<'py, PyAny>,
    dy: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let (ys, y) = read::<S>(y, "y")?;
    let (dys, dy) = read::<S>(dy, "dy")?;
    if ys != dys {
        return Err(misuse(format!("y {ys:?} and dy {dys:?} differ in shape")));
    }
    check_finite(&dy)?;
    write(py, &run(which, &y, Some(&dy))?, &ys)
}

/// `min(max(x, 0), 6)` element-wise (any shape).
#[pyfunction]
#[pyo3(signature = (x, dtype="f32"))]
fn relu6<'py>(py: Python<'py>, x: &Bound<'py, PyAny>, dtype: &str) -> PyResult<Bound<'py, PyAny>> {
    by_dtype!(dtype, |S| forward_t::<S>(py, Which::Relu6, x))
}

/// ReLU6's backward from its output `y`: `dx = dy` where `0 < y < 6`, else 0.
#[pyfunction]
#[pyo3(signature = (y, dy, dtype="f32"))]
fn relu6_backward<'py>(
    py: Python<'py>,
    y: &Bound<'py, PyAny>,
    dy: &Bound<'py, PyAny>,
    dtype: &str,
) -> PyResult<Bound<'py, PyAny>> {
    by_dtype!(dtype, |S| backward_t::<S>(py, Which::Relu6, y, dy))
}

/// `x` where `x > 0`, else `negative_slope·x` (the slope rounded to the dtype; finite and
/// non-negative, so that the output tells the branch).
#[pyfunction]
#[pyo3(signature = (x, dtype="f32", *, negative_slope=0.01))]
fn leaky_relu<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    dtype: &str,
    negative_slope: f64,
) -> PyResult<Bound<'py, PyAny>> {
    by_dtype!(dtype, |S| forward_t::<S>(
        py,
        Which::Leaky(negative_slope),
        x
    ))
}

/// LeakyReLU's backward from its output `y`: `dx = dy` where `y > 0`, else `negative_slope·dy`.
#[pyfunction]
#[pyo3(signature = (y, dy, dtype="f32", *, negative_slope=0.01))]
fn leaky_relu_backward<'py>(
    py: Python<'py>,
    y: &Bound<'py, PyAny>,
    dy: &Bound<'py, PyAny>,
    dtype: &str,
    negative_slope: f64,
) -> PyResult<Bound<'py, PyAny>> {
    by_dtype!(dtype, |S| backward_t::<S>(
        py,
        Which::Leaky(negative_slope),
        y,
        dy
    ))
}

/// The logistic function `1 / (1 + e⁻ˣ)` element-wise.
#[pyfunction]
#[pyo3(signature = (x, dtype="f32"))]
fn sigmoid<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    dtype: &str,
) -> PyResult<Bound<'py, PyAny>> {
    by_dtype!(dtype, |S| forward_t::<S>(py, Which::Sigmoid, x))
}

/// The sigmoid's backward from its output `y`: `dx = dy · y(1 − y)`.
#[pyfunction]
#[pyo3(signature = (y, dy, dtype="f32"))]
fn sigmoid_backward<'py>(
    py: Python<'py>,
    y: &Bound<'py, PyAny>,
    dy: &Bound<'py, PyAny>,
    dtype: &str,
) -> PyResult<Bound<'py, PyAny>> {
    by_dtype!(dtype, |S| backward_t::<S>(py, Which::Sigmoid, y, dy))
}

/// `tanh x` element-wise.
#[pyfunction]
#[pyo3(signature = (x, dtype="f32"))]
fn tanh<'py>(py: Python<'py>, x: &Bound<'py, PyAny>, dtype: &str) -> PyResult<Bound<'py, PyAny>> {
    by_dtype!(dtype, |S| forward_t::<S>(py, Which::Tanh, x))
}

/// tanh's backward from its output `y`: `dx = dy · (1 − y²)`.
#[pyfunction]
#[pyo3(signature = (y, dy, dtype="f32"))]
fn tanh_backward<'py>(
    py: Python<'py>,
    y: &Bound<'py, PyAny>,
    dy: &Bound<'py, PyAny>,
    dtype: &str,
) -> PyResult<Bound<'py, PyAny>> {
    by_dtype!(dtype, |S| backward_t::<S>(py, Which::Tanh, y, dy))
}

/// Adds the activation functions to the module.
pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(relu6, m)?)?;
    m.add_function(wrap_pyfunction!(relu6_backward, m)?)?;
    m.add_function(wrap_pyfunction!(leaky_relu, m)?)?;
    m.add_function(wrap_pyfunction!(leaky_relu_backward, m)?)?;
    m.add_function(wrap_pyfunction!(sigmoid, m)?)?;
    m.add_function(wrap_pyfunction!(sigmoid_backward, m)?)?;
    m.add_function(wrap_pyfunction!(tanh, m)?)?;
    m.add_function(wrap_pyfunction!(tanh_backward, m)?)?;
    Ok(())
}
