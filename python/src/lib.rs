//! `edgetune._edgetune`: the native part of the Python package `edgetune`.
//!
//! Every optimizer is one of the library's run-time-sized optimizers ([`edgetune::dynamic`]),
//! which run the device's kernels bit for bit; this module only moves numpy arrays in and out
//! and turns the library's typed errors into `edgetune.EdgetuneError` (a `ValueError`) carrying
//! the error's `Display` message. Nothing here panics on caller data: every function returns a
//! `PyResult`. The torch-named Python classes (`SGD`, `Adam`, ...) live in
//! `edgetune/__init__.py` and call the constructors below. The layers (dense, ReLU, softmax
//! cross-entropy) are in [`layers`], the convolutions, pools and other activations in [`conv`],
//! the device's weight file in [`weights`], its checkpoints in [`checkpoint`] and the int8
//! backbone layers in [`int8`].

mod checkpoint;
mod conv;
mod hyper;
mod int8;
mod layers;
mod weights;

use edgetune::checkpoint::{RuntimePart, Word};
use edgetune::dynamic::{DynAdagrad, DynAdam, DynLion, DynMomentum, DynRmsProp, DynSgd};
use edgetune::num::fixed::{MiniFloat, RoundingState, I16F16, I4F12, I8F24};
use edgetune::num::{Num, Scalar};
use edgetune::optim::{
    AdagradConfig, AdagradNum, AdamConfig, AdamNum, LionConfig, LionNum, MomentumConfig,
    MomentumNum, RmsPropConfig, RmsPropNum, SgdConfig, SgdNum,
};
use edgetune::Error;
use numpy::{IntoPyArray, PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

create_exception!(
    _edgetune,
    EdgetuneError,
    PyValueError,
    "An error of the edgetune library (its message is the Rust error's `Display`)."
);

/// The library's error as an `EdgetuneError`.
fn err(e: Error) -> PyErr {
    EdgetuneError::new_err(e.to_string())
}

/// A checkpoint error as an `EdgetuneError`.
fn checkpoint_err(e: edgetune::checkpoint::CheckpointError) -> PyErr {
    EdgetuneError::new_err(e.to_string())
}

/// A binding-level misuse (wrong dtype, shape, name) as an `EdgetuneError`.
fn misuse(msg: impl Into<String>) -> PyErr {
    EdgetuneError::new_err(msg.into())
}

/// A stored value, exported as its exact `f64` and its raw bits.
trait Value: Copy + Send + Sync {
    fn f64(self) -> f64;
    fn bits(self) -> u32;
}

impl Value for f32 {
    fn f64(self) -> f64 {
        f64::from(self)
    }
    fn bits(self) -> u32 {
        self.to_bits()
    }
}

impl Value for MiniFloat {
    fn f64(self) -> f64 {
        self.to_f64()
    }
    fn bits(self) -> u32 {
        self.to_bits()
    }
}

macro_rules! fixed_value {
    ($t:ty) => {
        impl Value for $t {
            fn f64(self) -> f64 {
                Scalar::to_f64(self)
            }
            fn bits(self) -> u32 {
                self.to_bits() as u32
            }
        }
    };
}
fixed_value!(I16F16);
fixed_value!(I8F24);

impl Value for I4F12 {
    fn f64(self) -> f64 {
        Scalar::to_f64(self)
    }
    fn bits(self) -> u32 {
        u32::from(self.to_bits() as u16)
    }
}

/// A number type of the bindings: how its arrays arrive and how its rounding is set.
trait Dtype: Num + Scalar + Value + Send + Sync {
    const NAME: &'static str;
    /// Runs `f` on `float32` arrays (`None`: this type takes other arrays).
    fn with_f32(
        _p: &mut [f32],
        _g: &[f32],
        _f: impl FnOnce(&mut [Self], &[Self]) -> Result<(), Error>,
    ) -> Option<Result<(), Error>> {
        None
    }
    /// Runs `f` on `int32` arrays of raw bits, writing the parameters back only on success.
    fn with_bits(
        _p: &mut [i32],
        _g: &[i32],
        _f: impl FnOnce(&mut [Self], &[Self]) -> Result<(), Error>,
    ) -> Option<Result<(), Error>> {
        None
    }
    /// Runs `f` on `int16` arrays of raw bits (the 16-bit format), writing the parameters back
    /// only on success.
    fn with_bits16(
        _p: &mut [i16],
        _g: &[i16],
        _f: impl FnOnce(&mut [Self], &[Self]) -> Result<(), Error>,
    ) -> Option<Result<(), Error>> {
        None
    }
    /// Sets the rounding of parameter writes (`false`: the type has none).
    fn set_rounding(_aux: &mut Self::Aux, _stochastic: bool, _seed: u32) -> bool {
        false
    }
    /// (stochastic, generator state), for fixed point.
    fn rounding(_aux: &Self::Aux) -> Option<(bool, u32)> {
        None
    }
}

impl Dtype for f32 {
    const NAME: &'static str = "f32";
    fn with_f32(
        p: &mut [f32],
        g: &[f32],
        f: impl FnOnce(&mut [f32], &[f32]) -> Result<(), Error>,
    ) -> Option<Result<(), Error>> {
        Some(f(p, g))
    }
}

macro_rules! fixed_dtype {
    ($t:ty, $name:literal, $with:ident, $raw:ty) => {
        impl Dtype for $t {
            const NAME: &'static str = $name;
            fn $with(
                p: &mut [$raw],
                g: &[$raw],
                f: impl FnOnce(&mut [Self], &[Self]) -> Result<(), Error>,
            ) -> Option<Result<(), Error>> {
                let mut ps: Vec<$t> = p.iter().map(|&b| <$t>::from_bits(b)).collect();
                let gs: Vec<$t> = g.iter().map(|&b| <$t>::from_bits(b)).collect();
                let done = f(&mut ps, &gs);
                if done.is_ok() {
                    for (d, s) in p.iter_mut().zip(&ps) {
                        *d = s.to_bits();
                    }
                }
                Some(done)
            }
            fn set_rounding(aux: &mut RoundingState, stochastic: bool, seed: u32) -> bool {
                *aux = if stochastic {
                    RoundingState::stochastic(seed)
                } else {
                    RoundingState::nearest()
                };
                true
            }
            fn rounding(aux: &RoundingState) -> Option<(bool, u32)> {
                Some((aux.is_stochastic(), aux.state()))
            }
        }
    };
}
fixed_dtype!(I16F16, "I16F16", with_bits, i32);
fixed_dtype!(I8F24, "I8F24", with_bits, i32);
fixed_dtype!(I4F12, "I4F12", with_bits16, i16);

/// One named state buffer: exact values and raw bits.
type Buffer = (&'static str, Vec<f64>, Vec<u32>);

fn buffer<T: Value>(name: &'static str, values: &[T]) -> Buffer {
    (
        name,
        values.iter().map(|v| v.f64()).collect(),
        values.iter().map(|v| v.bits()).collect(),
    )
}

/// What the Python `Optimizer` needs of a run-time-sized optimizer, whatever its kind and type.
trait Stepper: Send + Sync {
    fn dtype(&self) -> &'static str;
    fn len(&self) -> usize;
    fn step_f32(&mut self, p: &mut [f32], g: &[f32]) -> Option<Result<(), Error>>;
    fn step_bits(&mut self, p: &mut [i32], g: &[i32]) -> Option<Result<(), Error>>;
    fn step_bits16(&mut self, p: &mut [i16], g: &[i16]) -> Option<Result<(), Error>>;
    fn step_count(&self) -> u32;
    fn reset(&mut self);
    fn lr(&self) -> f64;
    fn set_lr(&mut self, lr: f64) -> Result<(), Error>;
    fn buffers(&self) -> Vec<Buffer>;
    fn set_rounding(&mut self, stochastic: bool, seed: u32) -> bool;
    fn rounding(&self) -> Option<(bool, u32)>;
    /// The whole state as a checkpoint part.
    fn part(&self) -> &dyn RuntimePart;
    fn part_mut(&mut self) -> &mut dyn RuntimePart;
    fn clone_box(&self) -> Box<dyn Stepper>;
    /// The configuration under torch's keyword names.
    fn kwargs(&self, d: &Bound<'_, PyDict>) -> PyResult<()>;
}

/// Implements [`Stepper`] for a `Dyn*` optimizer; `$buffers` lists its state.
macro_rules! stepper {
    ($ty:ident, $num:ident, $config:ident, [$($bound:ident),*], |$o:ident| $buffers:expr) => {
        impl<S: Dtype + $num + Word> Stepper for $ty<S>
        where
            S::Aux: Send + Sync + Word,
            $(S::$bound: Value + Word,)*
        {
            fn dtype(&self) -> &'static str {
                S::NAME
            }
            fn len(&self) -> usize {
                $ty::len(self)
            }
            fn step_f32(&mut self, p: &mut [f32], g: &[f32]) -> Option<Result<(), Error>> {
                S::with_f32(p, g, |p, g| self.step(p, g))
            }
            fn step_bits(&mut self, p: &mut [i32], g: &[i32]) -> Option<Result<(), Error>> {
                S::with_bits(p, g, |p, g| self.step(p, g))
            }
            fn step_bits16(&mut self, p: &mut [i16], g: &[i16]) -> Option<Result<(), Error>> {
                S::with_bits16(p, g, |p, g| self.step(p, g))
            }
            fn step_count(&self) -> u32 {
                $ty::step_count(self)
            }
            fn reset(&mut self) {
                $ty::reset(self)
            }
            fn lr(&self) -> f64 {
                self.config().lr
            }
            fn set_lr(&mut self, lr: f64) -> Result<(), Error> {
                let config = $config { lr, ..*self.config() };
                self.set_config(config)
            }
            fn buffers(&self) -> Vec<Buffer> {
                let $o = self;
                $buffers
            }
            fn set_rounding(&mut self, stochastic: bool, seed: u32) -> bool {
                S::set_rounding(self.aux_mut(), stochastic, seed)
            }
            fn rounding(&self) -> Option<(bool, u32)> {
                S::rounding(self.aux())
            }
            fn part(&self) -> &dyn RuntimePart {
                self
            }
            fn part_mut(&mut self) -> &mut dyn RuntimePart {
                self
            }
            fn clone_box(&self) -> Box<dyn Stepper> {
                Box::new(self.clone())
            }
            fn kwargs(&self, d: &Bound<'_, PyDict>) -> PyResult<()> {
                hyper::TorchKwargs::kwargs(self.config(), d)
            }
        }
    };
}

stepper!(DynSgd, SgdNum, SgdConfig, [], |_o| Vec::new());
stepper!(
    DynMomentum,
    MomentumNum,
    MomentumConfig,
    [Buffer],
    |o| vec![buffer("momentum_buffer", o.momentum_buffer())]
);
stepper!(DynAdam, AdamNum, AdamConfig, [Moment, SqMoment], |o| {
    let mut b = vec![
        buffer("exp_avg", o.exp_avg()),
        buffer("exp_avg_sq", o.exp_avg_sq()),
    ];
    if let Some(v) = o.max_exp_avg_sq() {
        b.push(buffer("max_exp_avg_sq", v));
    }
    b
});
stepper!(DynRmsProp, RmsPropNum, RmsPropConfig, [SqAvg, Avg], |o| {
    let mut b = vec![buffer("square_avg", o.square_avg())];
    if let Some(v) = o.momentum_buffer() {
        b.push(buffer("momentum_buffer", v));
    }
    if let Some(v) = o.grad_avg() {
        b.push(buffer("grad_avg", v));
    }
    b
});
stepper!(DynAdagrad, AdagradNum, AdagradConfig, [Sum], |o| vec![
    buffer("sum", o.sum())
]);
stepper!(DynLion, LionNum, LionConfig, [Moment], |o| vec![buffer(
    "exp_avg",
    o.exp_avg()
)]);

/// The number types by name.
#[derive(Clone, Copy)]
enum Kind {
    F32,
    I16F16,
    I8F24,
    I4F12,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::F32 => "f32",
            Kind::I16F16 => "I16F16",
            Kind::I8F24 => "I8F24",
            Kind::I4F12 => "I4F12",
        }
    }

    fn parse(name: &str) -> PyResult<Kind> {
        match name {
            "f32" | "float32" => Ok(Kind::F32),
            "I16F16" => Ok(Kind::I16F16),
            "I8F24" => Ok(Kind::I8F24),
            "I4F12" => Ok(Kind::I4F12),
            other => Err(misuse(format!(
                "unknown dtype {other:?}: expected \"f32\", \"I16F16\", \"I8F24\" or \"I4F12\""
            ))),
        }
    }
}

/// The largest `size` an optimizer may have: `2^28` elements (1 GiB per state buffer), so that
/// a mistaken size is an error, not an allocation failure that aborts the interpreter.
const MAX_SIZE: usize = 1 << 28;

/// `size` if it is at most [`MAX_SIZE`].
fn check_size(size: usize) -> PyResult<usize> {
    if size > MAX_SIZE {
        Err(misuse(format!(
            "size {size} is above the bindings' limit of 2^28 parameters per optimizer"
        )))
    } else {
        Ok(size)
    }
}

/// Builds the optimizer `$make::<S>` for the dtype `$kind`.
macro_rules! per_kind {
    ($kind:expr, |$S:ident| $make:expr) => {
        match Kind::parse($kind)? {
            Kind::F32 => {
                type $S = f32;
                Box::new($make.map_err(err)?) as Box<dyn Stepper>
            }
            Kind::I16F16 => {
                type $S = I16F16;
                Box::new($make.map_err(err)?) as Box<dyn Stepper>
            }
            Kind::I8F24 => {
                type $S = I8F24;
                Box::new($make.map_err(err)?) as Box<dyn Stepper>
            }
            Kind::I4F12 => {
                type $S = I4F12;
                Box::new($make.map_err(err)?) as Box<dyn Stepper>
            }
        }
    };
}

/// A run-time-sized optimizer of the library (made by the constructor functions of this
/// module; the Python classes `edgetune.SGD`, `edgetune.Adam`, ... wrap it).
#[pyclass(module = "edgetune._edgetune")]
struct Optimizer {
    inner: Box<dyn Stepper>,
}

impl Optimizer {
    fn new(inner: Box<dyn Stepper>, rounding: &str, seed: u32) -> PyResult<Optimizer> {
        let mut o = Optimizer { inner };
        o.set_rounding(rounding, seed)?;
        Ok(o)
    }
}

#[pymethods]
impl Optimizer {
    /// One step: `params` (updated in place) and `grads`, C-contiguous arrays of `size`
    /// elements (any shape): `float32` for dtype "f32", `int32` raw bits for "I16F16" and
    /// "I8F24", `int16` raw bits for "I4F12". On error nothing changes.
    fn step(&mut self, params: &Bound<'_, PyAny>, grads: &Bound<'_, PyAny>) -> PyResult<()> {
        let dtype = self.inner.dtype();
        let inner = &mut self.inner;
        let done = match dtype {
            "f32" => {
                with_arrays::<f32, _>(params, grads, "float32", dtype, |p, g| inner.step_f32(p, g))?
            }
            "I4F12" => with_arrays::<i16, _>(
                params,
                grads,
                "int16 (raw fixed-point bits)",
                dtype,
                |p, g| inner.step_bits16(p, g),
            )?,
            _ => with_arrays::<i32, _>(
                params,
                grads,
                "int32 (raw fixed-point bits)",
                dtype,
                |p, g| inner.step_bits(p, g),
            )?,
        };
        match done {
            Some(r) => r.map_err(err),
            None => Err(misuse(format!("dtype {dtype}: wrong array type"))),
        }
    }

    /// The number of parameters.
    #[getter]
    fn size(&self) -> usize {
        self.inner.len()
    }

    /// The number type: "f32", "I16F16" or "I8F24".
    #[getter]
    fn dtype(&self) -> &'static str {
        self.inner.dtype()
    }

    /// Steps taken since creation or the last `reset`.
    #[getter]
    fn step_count(&self) -> u32 {
        self.inner.step_count()
    }

    /// The learning rate.
    #[getter]
    fn lr(&self) -> f64 {
        self.inner.lr()
    }

    /// Sets the learning rate (validated; on error nothing changes).
    #[setter]
    fn set_lr(&mut self, lr: f64) -> PyResult<()> {
        self.inner.set_lr(lr).map_err(err)
    }

    /// Forgets all state, as if just created (the rounding returns to stochastic, seed 0).
    fn reset(&mut self) {
        self.inner.reset()
    }

    /// Fixed point: "stochastic" (from generator state `seed`) or "nearest" rounding of the
    /// parameter writes. f32 accepts only "stochastic" (its default, which means nothing
    /// there) and ignores the seed.
    #[pyo3(signature = (rounding, seed=0))]
    fn set_rounding(&mut self, rounding: &str, seed: u32) -> PyResult<()> {
        let stochastic = match rounding {
            "stochastic" => true,
            "nearest" => false,
            other => {
                return Err(misuse(format!(
                    "unknown rounding {other:?}: expected \"stochastic\" or \"nearest\""
                )))
            }
        };
        if !self.inner.set_rounding(stochastic, seed) && !stochastic {
            return Err(misuse("dtype f32 has no rounding to choose"));
        }
        Ok(())
    }

    /// The rounding (`("stochastic", generator state)` or `("nearest", 0)`) for fixed point,
    /// `None` for f32.
    #[getter]
    fn rounding(&self) -> Option<(&'static str, u32)> {
        self.inner
            .rounding()
            .map(|(s, state)| (if s { "stochastic" } else { "nearest" }, state))
    }

    /// The state buffers by torch's names, as exact `float64` values.
    fn buffers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (name, values, _) in self.inner.buffers() {
            d.set_item(name, values.into_pyarray(py))?;
        }
        Ok(d)
    }

    /// The state buffers by torch's names, as raw `uint32` bits (f32 bits, fixed-point bits,
    /// or the library's 4-byte `MiniFloat` state format).
    fn buffer_bits<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (name, _, bits) in self.inner.buffers() {
            d.set_item(name, bits.into_pyarray(py))?;
        }
        Ok(d)
    }

    /// The configuration (every hyperparameter) under torch's keyword names.
    fn hyperparams<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        self.inner.kwargs(&d)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "<edgetune optimizer: {} parameters, dtype {}, {} steps>",
            self.inner.len(),
            self.inner.dtype(),
            self.inner.step_count()
        )
    }
}

/// A pair of borrowed numpy arrays of element type `T`.
type ArrayPair<'a, 'py, T> = (&'a Bound<'py, PyArrayDyn<T>>, &'a Bound<'py, PyArrayDyn<T>>);

/// `params` and `grads` as numpy arrays of element type `T`, or an error naming what is needed.
fn arrays<'a, 'py, T: numpy::Element>(
    params: &'a Bound<'py, PyAny>,
    grads: &'a Bound<'py, PyAny>,
    want: &str,
    dtype: &str,
) -> PyResult<ArrayPair<'a, 'py, T>> {
    let cast = |x: &'a Bound<'py, PyAny>, what: &str| {
        x.cast::<PyArrayDyn<T>>().map_err(|_| {
            misuse(format!(
                "{what}: dtype {dtype} steps numpy arrays of {want}"
            ))
        })
    };
    let (p, g) = (cast(params, "params")?, cast(grads, "grads")?);
    if p.is(g) {
        return Err(misuse("params and grads must be different arrays"));
    }
    Ok((p, g))
}

/// `SGD` without momentum (`momentum == 0` and no Nesterov; torch ignores `dampening` then).
/// `f` on the elements of `params` (writable) and `grads`, numpy arrays of `T`.
fn with_arrays<'py, T: numpy::Element, R>(
    params: &Bound<'py, PyAny>,
    grads: &Bound<'py, PyAny>,
    want: &str,
    dtype: &str,
    f: impl FnOnce(&mut [T], &[T]) -> R,
) -> PyResult<R> {
    let (p, g) = arrays::<T>(params, grads, want, dtype)?;
    let mut p = p
        .try_readwrite()
        .map_err(|e| misuse(format!("params: {e}")))?;
    let g = g
        .try_readonly()
        .map_err(|e| misuse(format!("grads: {e}")))?;
    let ps = p
        .as_slice_mut()
        .map_err(|e| misuse(format!("params: {e}")))?;
    let gs = g.as_slice().map_err(|e| misuse(format!("grads: {e}")))?;
    Ok(f(ps, gs))
}

#[pyfunction]
#[pyo3(signature = (size, dtype, lr, weight_decay, maximize, rounding, seed))]
fn sgd(
    size: usize,
    dtype: &str,
    lr: f64,
    weight_decay: f64,
    maximize: bool,
    rounding: &str,
    seed: u32,
) -> PyResult<Optimizer> {
    let size = check_size(size)?;
    let c = SgdConfig {
        lr,
        weight_decay,
        maximize,
    };
    Optimizer::new(
        per_kind!(dtype, |S| DynSgd::<S>::new(c, size)),
        rounding,
        seed,
    )
}

/// `SGD` with momentum (or Nesterov, validated as torch does).
#[pyfunction]
#[pyo3(signature = (size, dtype, lr, momentum, dampening, weight_decay, nesterov, maximize, rounding, seed))]
#[allow(clippy::too_many_arguments)]
fn momentum(
    size: usize,
    dtype: &str,
    lr: f64,
    momentum: f64,
    dampening: f64,
    weight_decay: f64,
    nesterov: bool,
    maximize: bool,
    rounding: &str,
    seed: u32,
) -> PyResult<Optimizer> {
    let size = check_size(size)?;
    let c = MomentumConfig {
        lr,
        momentum,
        dampening,
        weight_decay,
        nesterov,
        maximize,
    };
    Optimizer::new(
        per_kind!(dtype, |S| DynMomentum::<S>::new(c, size)),
        rounding,
        seed,
    )
}

/// `Adam` / `AdamW` (`decoupled_weight_decay`), with `amsgrad`.
#[pyfunction]
#[pyo3(signature = (size, dtype, lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay, amsgrad, maximize, rounding, seed))]
#[allow(clippy::too_many_arguments)]
fn adam(
    size: usize,
    dtype: &str,
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    decoupled_weight_decay: bool,
    amsgrad: bool,
    maximize: bool,
    rounding: &str,
    seed: u32,
) -> PyResult<Optimizer> {
    let size = check_size(size)?;
    let c = AdamConfig {
        lr,
        beta1,
        beta2,
        eps,
        weight_decay,
        decoupled_weight_decay,
        maximize,
    };
    Optimizer::new(
        per_kind!(dtype, |S| DynAdam::<S>::new(c, amsgrad, size)),
        rounding,
        seed,
    )
}

/// `RMSprop`, with momentum and `centered`.
#[pyfunction]
#[pyo3(signature = (size, dtype, lr, alpha, eps, weight_decay, momentum, centered, maximize, rounding, seed))]
#[allow(clippy::too_many_arguments)]
fn rmsprop(
    size: usize,
    dtype: &str,
    lr: f64,
    alpha: f64,
    eps: f64,
    weight_decay: f64,
    momentum: f64,
    centered: bool,
    maximize: bool,
    rounding: &str,
    seed: u32,
) -> PyResult<Optimizer> {
    let size = check_size(size)?;
    let c = RmsPropConfig {
        lr,
        alpha,
        eps,
        weight_decay,
        momentum,
        maximize,
    };
    Optimizer::new(
        per_kind!(dtype, |S| DynRmsProp::<S>::new(c, centered, size)),
        rounding,
        seed,
    )
}

/// `Adagrad`.
#[pyfunction]
#[pyo3(signature = (size, dtype, lr, lr_decay, weight_decay, initial_accumulator_value, eps, maximize, rounding, seed))]
#[allow(clippy::too_many_arguments)]
fn adagrad(
    size: usize,
    dtype: &str,
    lr: f64,
    lr_decay: f64,
    weight_decay: f64,
    initial_accumulator_value: f64,
    eps: f64,
    maximize: bool,
    rounding: &str,
    seed: u32,
) -> PyResult<Optimizer> {
    let size = check_size(size)?;
    let c = AdagradConfig {
        lr,
        lr_decay,
        weight_decay,
        initial_accumulator_value,
        eps,
        maximize,
    };
    Optimizer::new(
        per_kind!(dtype, |S| DynAdagrad::<S>::new(c, size)),
        rounding,
        seed,
    )
}

/// Lion (the authors' reference).
#[pyfunction]
#[pyo3(signature = (size, dtype, lr, beta1, beta2, weight_decay, rounding, seed))]
#[allow(clippy::too_many_arguments)]
fn lion(
    size: usize,
    dtype: &str,
    lr: f64,
    beta1: f64,
    beta2: f64,
    weight_decay: f64,
    rounding: &str,
    seed: u32,
) -> PyResult<Optimizer> {
    let size = check_size(size)?;
    let c = LionConfig {
        lr,
        beta1,
        beta2,
        weight_decay,
    };
    Optimizer::new(
        per_kind!(dtype, |S| DynLion::<S>::new(c, size)),
        rounding,
        seed,
    )
}

/// Values as the raw bits of a fixed-point dtype, by the library's conversion: rounded to
/// nearest; NaN, infinities and values beyond the range are an error
/// (`Scalar::try_from_f64`), or with `saturate` go to the range's ends (NaN to `MAX`,
/// `Scalar::saturating_from_f64`).
fn quantize_as<S: Scalar + Copy, B>(
    x: &[f64],
    saturate: bool,
    bits: impl Fn(S) -> B,
) -> PyResult<Vec<B>> {
    x.iter()
        .map(|&v| {
            if saturate {
                Ok(bits(S::saturating_from_f64(v)))
            } else {
                S::try_from_f64(v).map(&bits).map_err(err)
            }
        })
        .collect()
}

/// `values` as a numpy array of `shape`.
fn shaped<'py, T: numpy::Element>(
    py: Python<'py>,
    values: Vec<T>,
    shape: Vec<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(values
        .into_pyarray(py)
        .reshape(shape)
        .map_err(|e| misuse(e.to_string()))?
        .into_any())
}

/// `x` (float64, any shape) as the raw bits of `dtype`: `int32` for "I16F16" and "I8F24",
/// `int16` for "I4F12".
#[pyfunction]
#[pyo3(signature = (x, dtype, *, saturate=false))]
fn quantize<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyArrayDyn<f64>>,
    dtype: &str,
    saturate: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let ro = x.try_readonly().map_err(|e| misuse(e.to_string()))?;
    let shape = ro.shape().to_vec();
    let values: Vec<f64> = ro.as_array().iter().copied().collect();
    match Kind::parse(dtype)? {
        Kind::I16F16 => shaped(
            py,
            quantize_as::<I16F16, _>(&values, saturate, |v| v.to_bits())?,
            shape,
        ),
        Kind::I8F24 => shaped(
            py,
            quantize_as::<I8F24, _>(&values, saturate, |v| v.to_bits())?,
            shape,
        ),
        Kind::I4F12 => shaped(
            py,
            quantize_as::<I4F12, _>(&values, saturate, |v| v.to_bits())?,
            shape,
        ),
        Kind::F32 => Err(misuse("quantize is for the fixed-point dtypes")),
    }
}

/// Exact float64 values of raw bits of `dtype` (`int32` for "I16F16" and "I8F24", `int16` for
/// "I4F12").
#[pyfunction]
fn dequantize<'py>(
    py: Python<'py>,
    bits: &Bound<'py, PyAny>,
    dtype: &str,
) -> PyResult<Bound<'py, PyAny>> {
    fn exact<'py, T: numpy::Element + Copy>(
        py: Python<'py>,
        bits: &Bound<'py, PyAny>,
        want: &str,
        value: impl Fn(T) -> f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let a = bits
            .cast::<PyArrayDyn<T>>()
            .map_err(|_| misuse(format!("dequantize: expected a numpy array of {want}")))?;
        let ro = a.try_readonly().map_err(|e| misuse(e.to_string()))?;
        let shape = ro.shape().to_vec();
        let values: Vec<f64> = ro.as_array().iter().map(|&b| value(b)).collect();
        shaped(py, values, shape)
    }
    match Kind::parse(dtype)? {
        Kind::I16F16 => exact(py, bits, "int32", |b| I16F16::from_bits(b).to_f64()),
        Kind::I8F24 => exact(py, bits, "int32", |b| I8F24::from_bits(b).to_f64()),
        Kind::I4F12 => exact(py, bits, "int16", |b| I4F12::from_bits(b).to_f64()),
        Kind::F32 => Err(misuse("dequantize is for the fixed-point dtypes")),
    }
}

/// The native module.
#[pymodule]
fn _edgetune(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("EdgetuneError", m.py().get_type::<EdgetuneError>())?;
    m.add_class::<Optimizer>()?;
    m.add_function(wrap_pyfunction!(sgd, m)?)?;
    m.add_function(wrap_pyfunction!(momentum, m)?)?;
    m.add_function(wrap_pyfunction!(adam, m)?)?;
    m.add_function(wrap_pyfunction!(rmsprop, m)?)?;
    m.add_function(wrap_pyfunction!(adagrad, m)?)?;
    m.add_function(wrap_pyfunction!(lion, m)?)?;
    m.add_function(wrap_pyfunction!(quantize, m)?)?;
    m.add_function(wrap_pyfunction!(dequantize, m)?)?;
    layers::register(m)?;
    checkpoint::register(m)?;
    int8::register(m)?;
    conv::register(m)?;
    weights::register(m)?;
    Ok(())
}
