//! The int8 backbone format from Python (`edgetune::nn::int8`, TFLite's full-integer kernels
//! bit for bit): explicit quantisation at the boundaries, each layer's forward pass on numpy
//! `int8` arrays, and a backbone run from real values to a trainable head's number type.
//!
//! Callers give what a converted model holds (scales as `float32`, zero points, int8 constants
//! in TFLite's layouts, the fused activation by name); the requantisation multipliers and shifts
//! are computed here by the library's `from_scales_into` and the clamps by its
//! `activation_range`, as a device computes them. Every check of a shape, a length or a
//! quantisation parameter is the library's: its error becomes an `EdgetuneError` with its
//! message, and nothing is returned (the bindings add only what arrays need: dtype and number of
//! axes). A leading batch axis loops here, in Rust, one sample per kernel call (`N = 1` in the
//! library).

use crate::layers::{read, write, Elem};
use crate::{err, misuse, Kind};
use edgetune::nn::int8::{
    activation_range, avg_pool, conv2d, depthwise, dequantize, from_scales_into, fully_connected,
    max_pool, quantize, Backbone, ConvShape, DenseShape, FusedActivation, Int8Conv, Int8Dense,
    Int8Layer, Int8Pool, OutputStage, QuantParams, Requant,
};
use edgetune::nn::{Conv2dShape, Padding, Pool2dShape};
use edgetune::num::fixed::{I16F16, I4F12, I8F24};
use edgetune::Error;
use numpy::{IntoPyArray, PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The most elements an output or buffer may have (as the optimizers' `size`): a shape that
/// asks for more is an error, not an allocation failure that aborts the interpreter.
const MAX_LEN: usize = 1 << 28;

/// An array's shape and elements (C order), which must be a numpy array of `T` (`want`).
fn read_np<T: numpy::Element + Copy>(
    a: &Bound<'_, PyAny>,
    what: &str,
    want: &str,
) -> PyResult<(Vec<usize>, Vec<T>)> {
    let arr = a
        .cast::<PyArrayDyn<T>>()
        .map_err(|_| misuse(format!("{what}: expected a numpy array of {want}")))?;
    let ro = arr
        .try_readonly()
        .map_err(|e| misuse(format!("{what}: {e}")))?;
    Ok((ro.shape().to_vec(), ro.as_array().iter().copied().collect()))
}

fn shaped<'py, T: numpy::Element>(
    py: Python<'py>,
    values: Vec<T>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyAny>> {
    Ok(values
        .into_pyarray(py)
        .reshape(shape.to_vec())
        .map_err(|e| misuse(e.to_string()))?
        .into_any())
}

/// `(scale, zero_point)` checked by the library (`QuantParams::new`). The scale is rounded to
/// `f32`, the type a model stores it in; a zero point beyond `i32` is refused as one beyond int8.
fn quant_params(q: &Bound<'_, PyAny>, what: &str) -> PyResult<QuantParams> {
    let (scale, zero_point): (f64, i64) = q
        .extract()
        .map_err(|_| misuse(format!("{what}: expected (scale, zero_point)")))?;
    qp(scale, zero_point)
}

/// The library's `QuantParams::new` of a Python scale and zero point.
fn qp(scale: f64, zero_point: i64) -> PyResult<QuantParams> {
    let zero_point = i32::try_from(zero_point).unwrap_or(i32::MAX);
    QuantParams::new(scale as f32, zero_point).map_err(err)
}

/// Filter scales: a `float32` array (one per output channel, or one for the tensor) or a
/// Python float (per tensor).
fn filter_scales(s: &Bound<'_, PyAny>) -> PyResult<Vec<f32>> {
    // An array is read as an array (never through `float()`, which would take a size-1 array
    // of any dtype).
    if !s.is_instance_of::<numpy::PyUntypedArray>() {
        if let Ok(v) = s.extract::<f64>() {
            return Ok(vec![v as f32]);
        }
    }
    let (shape, v) = read_np::<f32>(s, "filter_scales", "float32 (or a float)")?;
    if shape.len() > 1 {
        return Err(misuse(format!(
            "filter_scales: expected one dimension, got shape {shape:?}"
        )));
    }
    Ok(v)
}

fn activation(name: &str) -> PyResult<FusedActivation> {
    match name.to_ascii_lowercase().as_str() {
        "none" => Ok(FusedActivation::None),
        "relu" => Ok(FusedActivation::Relu),
        "relu6" => Ok(FusedActivation::Relu6),
        "relu_n1_to_1" => Ok(FusedActivation::ReluN1To1),
        _ => Err(misuse(format!(
            "unknown activation {name:?}: expected \"none\", \"relu\", \"relu6\" or \"relu_n1_to_1\""
        ))),
    }
}

/// An int or a pair of ints `(h, w)`.
fn pair(v: &Bound<'_, PyAny>, what: &str) -> PyResult<(usize, usize)> {
    if let Ok(n) = v.extract::<usize>() {
        return Ok((n, n));
    }
    v.extract::<(usize, usize)>().map_err(|_| {
        misuse(format!(
            "{what}: expected a non-negative int or a pair of them"
        ))
    })
}

/// How a layer pads: TF's `SAME`, `VALID`, or explicit `((top, bottom), (left, right))`.
enum Pad {
    Same,
    Explicit(Padding, Padding),
}

fn padding(v: &Bound<'_, PyAny>) -> PyResult<Pad> {
    if let Ok(name) = v.extract::<String>() {
        return match name.to_ascii_lowercase().as_str() {
            "same" => Ok(Pad::Same),
            "valid" => Ok(Pad::Explicit(Padding::NONE, Padding::NONE)),
            _ => Err(misuse(format!(
                "unknown padding {name:?}: expected \"same\", \"valid\" or ((top, bottom), (left, right))"
            ))),
        };
    }
    let ((t, b), (l, r)): ((usize, usize), (usize, usize)) = v.extract().map_err(|_| {
        misuse("padding: expected \"same\", \"valid\" or ((top, bottom), (left, right))")
    })?;
    let p = |before, after| Padding { before, after };
    Ok(Pad::Explicit(p(t, b), p(l, r)))
}

/// The requantisation and clamp of an accumulating layer, computed from the scales by the
/// library as a device computes them.
struct Stage {
    input_zero_point: i32,
    output_zero_point: i32,
    multiplier: Vec<i32>,
    shift: Vec<i32>,
    act: (i8, i8),
}

impl Stage {
    fn new(
        input: &QuantParams,
        filter_scales: &[f32],
        output: &QuantParams,
        act: FusedActivation,
    ) -> PyResult<Stage> {
        let n = filter_scales.len();
        let (mut multiplier, mut shift) = (vec![0; n], vec![0; n]);
        from_scales_into(
            input.scale,
            filter_scales,
            output.scale,
            &mut multiplier,
            &mut shift,
        )
        .map_err(err)?;
        Ok(Stage {
            input_zero_point: input.zero_point,
            output_zero_point: output.zero_point,
            multiplier,
            shift,
            act: activation_range(act, output).map_err(err)?,
        })
    }

    /// Unchecked here: every kernel and `Backbone::new` check it with a typed error.
    fn view(&self) -> OutputStage<'_> {
        OutputStage {
            input_zero_point: self.input_zero_point,
            requant: Requant::from_slices(&self.multiplier, &self.shift),
            output_zero_point: self.output_zero_point,
            act_min: self.act.0,
            act_max: self.act.1,
        }
    }
}

/// A filter, its bias and its output stage.
struct Consts {
    filter: Vec<i8>,
    bias: Option<Vec<i32>>,
    stage: Stage,
}

/// One layer with its constants, owned.
enum Layer {
    Conv {
        shape: ConvShape,
        depthwise: bool,
        c: Consts,
    },
    Dense {
        shape: DenseShape,
        c: Consts,
    },
    Pool {
        shape: Pool2dShape,
        max: bool,
        act: (i8, i8),
    },
}

impl Layer {
    /// The library's layer, borrowing the constants.
    fn as_int8(&self) -> Int8Layer<'_> {
        match self {
            Layer::Conv {
                shape,
                depthwise,
                c,
            } => {
                let conv = Int8Conv {
                    shape: *shape,
                    filter: &c.filter,
                    bias: c.bias.as_deref(),
                    stage: c.stage.view(),
                };
                if *depthwise {
                    Int8Layer::Depthwise(conv)
                } else {
                    Int8Layer::Conv(conv)
                }
            }
            Layer::Dense { shape, c } => Int8Layer::Dense(Int8Dense {
                shape: *shape,
                filter: &c.filter,
                bias: c.bias.as_deref(),
                stage: c.stage.view(),
            }),
            Layer::Pool { shape, max, act } => {
                let pool = Int8Pool {
                    shape: *shape,
                    act: *act,
                };
                if *max {
                    Int8Layer::MaxPool(pool)
                } else {
                    Int8Layer::AvgPool(pool)
                }
            }
        }
    }

    /// The library's kernel for this layer.
    fn forward(&self, x: &[i8], y: &mut [i8]) -> Result<(), Error> {
        match self {
            Layer::Conv {
                shape,
                depthwise: false,
                c,
            } => conv2d::forward(shape, &c.stage.view(), &c.filter, c.bias.as_deref(), x, y),
            Layer::Conv {
                shape,
                depthwise: true,
                c,
            } => depthwise::forward(shape, &c.stage.view(), &c.filter, c.bias.as_deref(), x, y),
            Layer::Dense { shape, c } => {
                fully_connected::forward(shape, &c.stage.view(), &c.filter, c.bias.as_deref(), x, y)
            }
            Layer::Pool {
                shape,
                max: false,
                act,
            } => avg_pool::forward(shape, *act, x, y),
            Layer::Pool {
                shape,
                max: true,
                act,
            } => max_pool::forward(shape, *act, x, y),
        }
    }

    /// One sample's output shape: `(out_h, out_w, c)`, or `(outputs,)`.
    fn sample_shape(&self) -> Vec<usize> {
        match self {
            Layer::Conv { shape, .. } => vec![shape.out_h(), shape.out_w(), shape.conv.out_c],
            Layer::Dense { shape, .. } => vec![shape.outputs],
            Layer::Pool { shape, .. } => vec![shape.out_h(), shape.out_w(), shape.c],
        }
    }

    /// Runs the kernel on each of `batch` samples of `sample_len` elements of `x`.
    fn run(&self, x: &[i8], batch: usize, sample_len: usize) -> PyResult<Vec<i8>> {
        let out = self.as_int8().output_len();
        let total = limit(batch.saturating_mul(out), "output")?;
        if batch == 0 || out == 0 {
            // No sample (or an invalid shape, which has no outputs): one call on zeros of the
            // given lengths lets the kernel refuse what it would refuse for a sample.
            let x0 = vec![0i8; limit(sample_len, "a sample")?];
            let mut y0 = vec![0i8; limit(out, "output")?];
            self.forward(&x0, &mut y0).map_err(err)?;
        }
        let mut y = vec![0i8; total];
        for (k, yk) in y.chunks_mut(out.max(1)).enumerate().take(batch) {
            let xk = x
                .get(k * sample_len..(k + 1) * sample_len)
                .unwrap_or_default();
            self.forward(xk, yk).map_err(err)?;
        }
        Ok(y)
    }
}

/// `n` if it is at most [`MAX_LEN`].
fn limit(n: usize, what: &str) -> PyResult<usize> {
    if n > MAX_LEN {
        Err(misuse(format!(
            "{what} of {n} elements is above the bindings' limit of 2^28"
        )))
    } else {
        Ok(n)
    }
}

/// An int32 bias array or `None`.
fn bias(b: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<i32>>> {
    match b {
        Some(b) if !b.is_none() => Ok(Some(read_np::<i32>(b, "bias", "int32")?.1)),
        _ => Ok(None),
    }
}

/// The arguments of an accumulating layer besides its input.
struct ConvArgs<'a, 'py> {
    filter: &'a Bound<'py, PyAny>,
    bias: Option<&'a Bound<'py, PyAny>>,
    input_quant: &'a Bound<'py, PyAny>,
    filter_scales: &'a Bound<'py, PyAny>,
    output_quant: &'a Bound<'py, PyAny>,
    activation: &'a str,
}

impl ConvArgs<'_, '_> {
    /// The filter's shape and values, and the other constants.
    fn consts(&self) -> PyResult<(Vec<usize>, Consts)> {
        let (fs, filter) = read_np::<i8>(self.filter, "filter", "int8")?;
        let input = quant_params(self.input_quant, "input_quant")?;
        let output = quant_params(self.output_quant, "output_quant")?;
        let scales = filter_scales(self.filter_scales)?;
        let stage = Stage::new(&input, &scales, &output, activation(self.activation)?)?;
        let c = Consts {
            filter,
            bias: bias(self.bias)?,
            stage,
        };
        Ok((fs, c))
    }
}

/// A `CONV_2D` or `DEPTHWISE_CONV_2D` on inputs of shape `(h, w, c)`.
fn conv_layer(
    (h, w, c): (usize, usize, usize),
    args: &ConvArgs<'_, '_>,
    stride: (usize, usize),
    pad: Pad,
    dilation: (usize, usize),
    depthwise: bool,
) -> PyResult<Layer> {
    let (fs, consts) = args.consts()?;
    let [f0, kh, kw, f3] = fs[..] else {
        let layout = if depthwise {
            "(1, kh, kw, out_c)"
        } else {
            "(out_c, kh, kw, in_c / groups)"
        };
        return Err(misuse(format!(
            "filter: expected shape {layout}, got {fs:?}"
        )));
    };
    // TFLite's: a depthwise filter is [1][kh][kw][out_c]; a conv's groups are in_c over the
    // filter's input channels (an inconsistent filter is the library's length error).
    let (out_c, groups) = if depthwise {
        (f3, c)
    } else {
        let groups = c.checked_div(f3).filter(|g| g * f3 == c).unwrap_or(1);
        (f0, groups)
    };
    let conv = Conv2dShape::new(h, w, c, out_c, kh, kw)
        .stride(stride.0, stride.1)
        .groups(groups);
    let shape = ConvShape::new(conv).dilation(dilation.0, dilation.1);
    let shape = match pad {
        Pad::Same => shape.same(),
        Pad::Explicit(ph, pw) => ConvShape::new(conv.pad(ph, pw)).dilation(dilation.0, dilation.1),
    };
    Ok(Layer::Conv {
        shape,
        depthwise,
        c: consts,
    })
}

/// A `FULLY_CONNECTED` layer with a filter of shape `(outputs, inputs)`.
fn dense_layer(args: &ConvArgs<'_, '_>) -> PyResult<Layer> {
    let (fs, c) = args.consts()?;
    let [outputs, inputs] = fs[..] else {
        return Err(misuse(format!(
            "filter: expected shape (outputs, inputs), got {fs:?}"
        )));
    };
    Ok(Layer::Dense {
        shape: DenseShape::new(inputs, outputs),
        c,
    })
}

/// A pool on inputs of shape `(h, w, c)`; `quant` (the input's, which the output keeps) is
/// needed only for a clamp.
fn pool_layer(
    (h, w, c): (usize, usize, usize),
    pool_size: (usize, usize),
    strides: Option<(usize, usize)>,
    pad: Pad,
    act: &str,
    quant: Option<&Bound<'_, PyAny>>,
    max: bool,
) -> PyResult<Layer> {
    let act = activation(act)?;
    let range = match (act, quant) {
        (FusedActivation::None, None) => (-128, 127),
        (_, Some(q)) if !q.is_none() => {
            activation_range(act, &quant_params(q, "quant")?).map_err(err)?
        }
        _ => {
            return Err(misuse(
                "quant: a fused activation needs (scale, zero_point)",
            ))
        }
    };
    let (sh, sw) = strides.unwrap_or(pool_size);
    let shape = Pool2dShape::new(h, w, c, pool_size.0, pool_size.1).stride(sh, sw);
    let shape = match pad {
        Pad::Same => shape.same(),
        Pad::Explicit(ph, pw) => shape.pad(ph, pw),
    };
    Ok(Layer::Pool {
        shape,
        max,
        act: range,
    })
}

/// `(batch, (h, w, c), batched)` of an `(h, w, c)` or `(batch, h, w, c)` shape.
fn map_shape(shape: &[usize], what: &str) -> PyResult<(usize, (usize, usize, usize), bool)> {
    match *shape {
        [h, w, c] => Ok((1, (h, w, c), false)),
        [b, h, w, c] => Ok((b, (h, w, c), true)),
        _ => Err(misuse(format!(
            "{what}: expected shape (h, w, c) or (batch, h, w, c), got {shape:?}"
        ))),
    }
}

/// `(batch, features, batched)` of a `(features,)` or `(batch, features)` shape.
fn flat_shape(shape: &[usize], what: &str) -> PyResult<(usize, usize, bool)> {
    match *shape {
        [f] => Ok((1, f, false)),
        [b, f] => Ok((b, f, true)),
        _ => Err(misuse(format!(
            "{what}: expected shape (features,) or (batch, features), got {shape:?}"
        ))),
    }
}

/// The output array: one sample's shape, behind the batch axis if the input had one.
fn output<'py>(
    py: Python<'py>,
    y: Vec<i8>,
    batch: usize,
    batched: bool,
    sample: Vec<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut shape = if batched { vec![batch] } else { vec![] };
    shape.extend(sample);
    shaped(py, y, &shape)
}

/// Runs a layer on a map `x` of shape `(h, w, c)` or `(batch, h, w, c)`.
fn run_map<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    make: impl FnOnce((usize, usize, usize)) -> PyResult<Layer>,
) -> PyResult<Bound<'py, PyAny>> {
    let (xs, xv) = read_np::<i8>(x, "x", "int8")?;
    let (batch, hwc, batched) = map_shape(&xs, "x")?;
    let layer = make(hwc)?;
    let y = layer.run(
        &xv,
        batch,
        hwc.0.saturating_mul(hwc.1).saturating_mul(hwc.2),
    )?;
    output(py, y, batch, batched, layer.sample_shape())
}

/// int8 `CONV_2D` (TFLite's `ConvPerChannel`): `x` `(h, w, in_c)` or `(batch, h, w, in_c)`,
/// `filter` `(out_c, kh, kw, in_c / groups)` (OHWI; groups are `in_c` over its last axis),
/// `bias` int32 `(out_c,)` or `None`, quantisations `(scale, zero_point)`, `filter_scales`
/// float32 per output channel (or one). A 1-D conv is height 1. Returns `(out_h, out_w, out_c)`
/// (behind the batch axis if any).
#[pyfunction]
#[pyo3(signature = (x, filter, bias, input_quant, filter_scales, output_quant, *, stride=None, padding=None, dilation=None, activation="none"))]
#[allow(clippy::too_many_arguments)]
fn int8_conv2d<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    filter: &Bound<'py, PyAny>,
    bias: Option<&Bound<'py, PyAny>>,
    input_quant: &Bound<'py, PyAny>,
    filter_scales: &Bound<'py, PyAny>,
    output_quant: &Bound<'py, PyAny>,
    stride: Option<&Bound<'py, PyAny>>,
    padding: Option<&Bound<'py, PyAny>>,
    dilation: Option<&Bound<'py, PyAny>>,
    activation: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let args = ConvArgs {
        filter,
        bias,
        input_quant,
        filter_scales,
        output_quant,
        activation,
    };
    let geo = Geometry::parse(stride, padding, dilation)?;
    run_map(py, x, |hwc| {
        conv_layer(hwc, &args, geo.stride, geo.pad, geo.dilation, false)
    })
}

/// int8 `DEPTHWISE_CONV_2D` (TFLite's `DepthwiseConvPerChannel`): as [`int8_conv2d`] with
/// `filter` in TFLite's layout `(1, kh, kw, out_c)`, `out_c = in_c · depth_multiplier`.
#[pyfunction]
#[pyo3(signature = (x, filter, bias, input_quant, filter_scales, output_quant, *, stride=None, padding=None, dilation=None, activation="none"))]
#[allow(clippy::too_many_arguments)]
fn int8_depthwise_conv2d<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    filter: &Bound<'py, PyAny>,
    bias: Option<&Bound<'py, PyAny>>,
    input_quant: &Bound<'py, PyAny>,
    filter_scales: &Bound<'py, PyAny>,
    output_quant: &Bound<'py, PyAny>,
    stride: Option<&Bound<'py, PyAny>>,
    padding: Option<&Bound<'py, PyAny>>,
    dilation: Option<&Bound<'py, PyAny>>,
    activation: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let args = ConvArgs {
        filter,
        bias,
        input_quant,
        filter_scales,
        output_quant,
        activation,
    };
    let geo = Geometry::parse(stride, padding, dilation)?;
    run_map(py, x, |hwc| {
        conv_layer(hwc, &args, geo.stride, geo.pad, geo.dilation, true)
    })
}

/// Stride, padding and dilation of a convolution (defaults: 1, `VALID`, 1).
struct Geometry {
    stride: (usize, usize),
    pad: Pad,
    dilation: (usize, usize),
}

impl Geometry {
    fn parse(
        stride: Option<&Bound<'_, PyAny>>,
        pad: Option<&Bound<'_, PyAny>>,
        dilation: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Geometry> {
        Ok(Geometry {
            stride: stride.map_or(Ok((1, 1)), |s| pair(s, "stride"))?,
            pad: pad.map_or(Ok(Pad::Explicit(Padding::NONE, Padding::NONE)), padding)?,
            dilation: dilation.map_or(Ok((1, 1)), |d| pair(d, "dilation"))?,
        })
    }
}

/// int8 `FULLY_CONNECTED` (TFLite's `FullyConnected`, or `FullyConnectedPerChannel` when
/// `filter_scales` has one scale per output): `x` `(inputs,)` or `(batch, inputs)`, `filter`
/// `(outputs, inputs)`. Returns `(outputs,)` or `(batch, outputs)`.
#[pyfunction]
#[pyo3(signature = (x, filter, bias, input_quant, filter_scales, output_quant, *, activation="none"))]
#[allow(clippy::too_many_arguments)]
fn int8_fully_connected<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    filter: &Bound<'py, PyAny>,
    bias: Option<&Bound<'py, PyAny>>,
    input_quant: &Bound<'py, PyAny>,
    filter_scales: &Bound<'py, PyAny>,
    output_quant: &Bound<'py, PyAny>,
    activation: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let (xs, xv) = read_np::<i8>(x, "x", "int8")?;
    let (batch, f, batched) = flat_shape(&xs, "x")?;
    let layer = dense_layer(&ConvArgs {
        filter,
        bias,
        input_quant,
        filter_scales,
        output_quant,
        activation,
    })?;
    let y = layer.run(&xv, batch, f)?;
    output(py, y, batch, batched, layer.sample_shape())
}

#[allow(clippy::too_many_arguments)]
fn pool<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    pool_size: &Bound<'py, PyAny>,
    strides: Option<&Bound<'py, PyAny>>,
    pad: Option<&Bound<'py, PyAny>>,
    activation: &str,
    quant: Option<&Bound<'py, PyAny>>,
    max: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let size = pair(pool_size, "pool_size")?;
    let strides = strides.map(|s| pair(s, "strides")).transpose()?;
    let pad = pad.map_or(Ok(Pad::Explicit(Padding::NONE, Padding::NONE)), padding)?;
    run_map(py, x, |hwc| {
        pool_layer(hwc, size, strides, pad, activation, quant, max)
    })
}

/// int8 `AVERAGE_POOL_2D` (TFLite's `AveragePool`: in-bounds inputs only, rounded half away
/// from zero): `x` `(h, w, c)` or `(batch, h, w, c)`, `strides` defaulting to `pool_size`;
/// `quant` (the input's `(scale, zero_point)`, which the output keeps) only for a clamp.
#[pyfunction]
#[pyo3(signature = (x, pool_size, *, strides=None, padding=None, activation="none", quant=None))]
fn int8_avg_pool2d<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    pool_size: &Bound<'py, PyAny>,
    strides: Option<&Bound<'py, PyAny>>,
    padding: Option<&Bound<'py, PyAny>>,
    activation: &str,
    quant: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    pool(py, x, pool_size, strides, padding, activation, quant, false)
}

/// int8 `MAX_POOL_2D` (TFLite's `MaxPool`), arguments as [`int8_avg_pool2d`].
#[pyfunction]
#[pyo3(signature = (x, pool_size, *, strides=None, padding=None, activation="none", quant=None))]
fn int8_max_pool2d<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    pool_size: &Bound<'py, PyAny>,
    strides: Option<&Bound<'py, PyAny>>,
    padding: Option<&Bound<'py, PyAny>>,
    activation: &str,
    quant: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    pool(py, x, pool_size, strides, padding, activation, quant, true)
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

fn quantize_t<'py, S: Elem>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    p: &QuantParams,
) -> PyResult<Bound<'py, PyAny>> {
    let (xs, xv) = read::<S>(x, "x")?;
    let mut y = vec![0i8; xv.len()];
    quantize(p, &xv, &mut y).map_err(err)?;
    shaped(py, y, &xs)
}

/// TFLite's `QUANTIZE` to int8 (the library's `quantize`): `clamp(zero_point + round(x /
/// scale), -128, 127)`, the division in `f32`, ties away from zero. `x` is `float32` for dtype
/// "f32", raw bits for a fixed-point dtype (its value is rounded to `f32` first); any shape.
#[pyfunction]
#[pyo3(signature = (x, scale, zero_point, dtype="f32"))]
fn int8_quantize<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    scale: f64,
    zero_point: i64,
    dtype: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let p = qp(scale, zero_point)?;
    per_dtype!(dtype, |S| quantize_t::<S>(py, x, &p))
}

fn dequantize_t<'py, S: Elem>(
    py: Python<'py>,
    q: &[i8],
    shape: &[usize],
    p: &QuantParams,
) -> PyResult<Bound<'py, PyAny>> {
    let mut y = vec![S::ZERO; q.len()];
    dequantize(p, q, &mut y).map_err(err)?;
    write(py, &y, shape)
}

/// int8 to a trainable number type (the library's `dequantize`): `scale · (q − zero_point)` in
/// `f64`, rounded once to `dtype` (TFLite's `DEQUANTIZE` for "f32"); returns `float32`, or raw
/// bits for a fixed-point dtype. Any shape.
#[pyfunction]
#[pyo3(signature = (q, scale, zero_point, dtype="f32"))]
fn int8_dequantize<'py>(
    py: Python<'py>,
    q: &Bound<'py, PyAny>,
    scale: f64,
    zero_point: i64,
    dtype: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let p = qp(scale, zero_point)?;
    let (qs, qv) = read_np::<i8>(q, "q", "int8")?;
    per_dtype!(dtype, |S| dequantize_t::<S>(py, &qv, &qs, &p))
}

/// The requantisation of a layer as a device computes it (the library's `from_scales_into`,
/// TFLite's `QuantizeMultiplier` per channel): `(multiplier, shift)`, int32 arrays.
#[pyfunction]
fn int8_requantizer<'py>(
    py: Python<'py>,
    input_scale: f64,
    filter_scales: &Bound<'py, PyAny>,
    output_scale: f64,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let scales = self::filter_scales(filter_scales)?;
    let n = scales.len();
    let (mut m, mut s) = (vec![0i32; n], vec![0i32; n]);
    from_scales_into(
        input_scale as f32,
        &scales,
        output_scale as f32,
        &mut m,
        &mut s,
    )
    .map_err(err)?;
    Ok((shaped(py, m, &[n])?, shaped(py, s, &[n])?))
}

/// The int8 clamp `(min, max)` of a fused activation for an output quantised with
/// `(scale, zero_point)` (the library's `activation_range`, TFLite's
/// `CalculateActivationRangeQuantized`).
#[pyfunction]
fn int8_activation_range(name: &str, scale: f64, zero_point: i64) -> PyResult<(i8, i8)> {
    let zero_point = i32::try_from(zero_point).unwrap_or(i32::MAX);
    let p = QuantParams {
        scale: scale as f32,
        zero_point,
    };
    activation_range(activation(name)?, &p).map_err(err)
}

/// The keys a layer description may have besides `op`.
const KEYS: [&str; 13] = [
    "input_shape",
    "filter",
    "bias",
    "input_quant",
    "filter_scales",
    "output_quant",
    "stride",
    "padding",
    "dilation",
    "activation",
    "pool_size",
    "strides",
    "quant",
];

/// A layer from its description: `{"op": ..., **the layer function's keyword arguments}` with
/// `input_shape` `(h, w, c)` in place of a map `x`.
fn describe(d: &Bound<'_, PyAny>, k: usize) -> PyResult<Layer> {
    let d = d
        .cast::<PyDict>()
        .map_err(|_| misuse(format!("layer {k}: expected a dict")))?;
    for key in d.keys() {
        let key: String = key.extract()?;
        if key != "op" && !KEYS.contains(&key.as_str()) {
            return Err(misuse(format!("layer {k}: unknown key {key:?}")));
        }
    }
    let get = |key: &str| d.get_item(key);
    let need =
        |key: &str| get(key)?.ok_or_else(|| misuse(format!("layer {k}: missing key {key:?}")));
    let op: String = need("op")?
        .extract()
        .map_err(|_| misuse(format!("layer {k}: op: expected a str")))?;
    let act: String = match get("activation")? {
        Some(a) => a
            .extract()
            .map_err(|_| misuse(format!("layer {k}: activation: expected a str")))?,
        None => "none".into(),
    };
    let hwc = || -> PyResult<(usize, usize, usize)> {
        need("input_shape")?
            .extract()
            .map_err(|_| misuse(format!("layer {k}: input_shape: expected (h, w, c)")))
    };
    let conv = |depthwise: bool| -> PyResult<Layer> {
        let (filter, iq, fsc, oq) = (
            need("filter")?,
            need("input_quant")?,
            need("filter_scales")?,
            need("output_quant")?,
        );
        let b = get("bias")?;
        let args = ConvArgs {
            filter: &filter,
            bias: b.as_ref(),
            input_quant: &iq,
            filter_scales: &fsc,
            output_quant: &oq,
            activation: &act,
        };
        if op == "fully_connected" {
            return dense_layer(&args);
        }
        let geo = Geometry::parse(
            get("stride")?.as_ref(),
            get("padding")?.as_ref(),
            get("dilation")?.as_ref(),
        )?;
        conv_layer(hwc()?, &args, geo.stride, geo.pad, geo.dilation, depthwise)
    };
    let pool = |max: bool| -> PyResult<Layer> {
        let size = pair(&need("pool_size")?, "pool_size")?;
        let strides = get("strides")?.map(|s| pair(&s, "strides")).transpose()?;
        let pad = get("padding")?.map_or(Ok(Pad::Explicit(Padding::NONE, Padding::NONE)), |p| {
            padding(&p)
        })?;
        let quant = get("quant")?;
        pool_layer(hwc()?, size, strides, pad, &act, quant.as_ref(), max)
    };
    match op.as_str() {
        "conv2d" | "fully_connected" => conv(false),
        "depthwise_conv2d" => conv(true),
        "avg_pool2d" => pool(false),
        "max_pool2d" => pool(true),
        _ => Err(misuse(format!(
            "layer {k}: unknown op {op:?}: expected \"conv2d\", \"depthwise_conv2d\", \
             \"fully_connected\", \"avg_pool2d\" or \"max_pool2d\""
        ))),
    }
}

/// A frozen int8 backbone (the library's `Backbone`): the input's quantisation, the layers in
/// order, the output's quantisation, checked to fit together by the library when built.
#[pyclass(module = "edgetune._edgetune")]
struct Int8Backbone {
    input: QuantParams,
    layers: Vec<Layer>,
    output: QuantParams,
}

impl Int8Backbone {
    /// Runs `f` on the library's backbone over the layers (its checks again: cheap).
    fn with<R>(&self, f: impl FnOnce(&Backbone<'_>) -> PyResult<R>) -> PyResult<R> {
        let layers: Vec<Int8Layer<'_>> = self.layers.iter().map(Layer::as_int8).collect();
        let b = Backbone::new(self.input, &layers, self.output).map_err(err)?;
        f(&b)
    }

    /// Two ping-pong buffers of the backbone's `buffer_len`.
    fn buffers(b: &Backbone<'_>) -> PyResult<(Vec<i8>, Vec<i8>)> {
        let n = limit(b.buffer_len(), "a buffer")?;
        Ok((vec![0; n], vec![0; n]))
    }
}

/// An empty batch's sample length, which no run would check.
fn check_sample(b: &Backbone<'_>, batch: usize, f: usize) -> PyResult<()> {
    if batch == 0 && f != b.input_len() {
        return Err(err(Error::LengthMismatch {
            expected: b.input_len(),
            found: f,
        }));
    }
    Ok(())
}

fn run_real_t<'py, S: Elem>(
    py: Python<'py>,
    b: &Backbone<'_>,
    x: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let (xs, xv) = read::<S>(x, "x")?;
    let (batch, f, batched) = flat_shape(&xs, "x")?;
    check_sample(b, batch, f)?;
    let (mut a, mut c) = Int8Backbone::buffers(b)?;
    let out = b.output_len();
    let mut y = vec![S::ZERO; limit(batch.saturating_mul(out), "output")?];
    for (k, yk) in y.chunks_mut(out.max(1)).enumerate().take(batch) {
        let xk = xv.get(k * f..(k + 1) * f).unwrap_or_default();
        b.run_real(xk, &mut a, &mut c, yk).map_err(err)?;
    }
    let shape = if batched { vec![batch, out] } else { vec![out] };
    write(py, &y, &shape)
}

#[pymethods]
impl Int8Backbone {
    /// `input_quant` and `output_quant` are `(scale, zero_point)`; `layers` a list of dicts
    /// `{"op": "conv2d" | "depthwise_conv2d" | "fully_connected" | "avg_pool2d" | "max_pool2d",
    /// ...}` holding the keyword arguments of that layer's function, with `input_shape`
    /// `(h, w, c)` in place of `x` (a dense layer needs none).
    #[new]
    fn new(
        input_quant: &Bound<'_, PyAny>,
        layers: &Bound<'_, PyAny>,
        output_quant: &Bound<'_, PyAny>,
    ) -> PyResult<Int8Backbone> {
        let input = quant_params(input_quant, "input_quant")?;
        let output = quant_params(output_quant, "output_quant")?;
        let mut owned = Vec::new();
        for (k, d) in layers.try_iter()?.enumerate() {
            owned.push(describe(&d?, k)?);
        }
        let b = Int8Backbone {
            input,
            layers: owned,
            output,
        };
        b.with(|_| Ok(()))?;
        Ok(b)
    }

    /// The int8 layers on int8 `x` of shape `(input_len,)` or `(batch, input_len)` (a map
    /// flattened in NHWC order): the int8 output, `(output_len,)` or `(batch, output_len)`.
    fn run<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let (xs, xv) = read_np::<i8>(x, "x", "int8")?;
        let (batch, f, batched) = flat_shape(&xs, "x")?;
        self.with(|b| {
            check_sample(b, batch, f)?;
            let (mut a, mut c) = Self::buffers(b)?;
            let out = b.output_len();
            let mut y = vec![0i8; limit(batch.saturating_mul(out), "output")?];
            for (k, yk) in y.chunks_mut(out.max(1)).enumerate().take(batch) {
                let xk = xv.get(k * f..(k + 1) * f).unwrap_or_default();
                yk.copy_from_slice(b.run(xk, &mut a, &mut c).map_err(err)?);
            }
            let shape = if batched { vec![batch, out] } else { vec![out] };
            shaped(py, y, &shape)
        })
    }

    /// The whole boundary (the library's `run_real`): quantise real `x` with the input's
    /// quantisation, run the layers, dequantise into the head's `dtype`. `x` and the result are
    /// `float32` for "f32", raw bits for a fixed-point dtype; shapes as [`run`](Self::run).
    #[pyo3(signature = (x, dtype="f32"))]
    fn run_real<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        dtype: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.with(|b| per_dtype!(dtype, |S| run_real_t::<S>(py, b, x)))
    }

    /// Input elements of one sample.
    #[getter]
    fn input_len(&self) -> PyResult<usize> {
        self.with(|b| Ok(b.input_len()))
    }

    /// Output elements of one sample: the features a trainable head receives.
    #[getter]
    fn output_len(&self) -> PyResult<usize> {
        self.with(|b| Ok(b.output_len()))
    }

    /// Bytes of each of the two buffers a device runs it in.
    #[getter]
    fn buffer_len(&self) -> PyResult<usize> {
        self.with(|b| Ok(b.buffer_len()))
    }

    /// Multiply-accumulates of one forward pass.
    #[getter]
    fn macs(&self) -> PyResult<usize> {
        self.with(|b| Ok(b.macs()))
    }

    /// Bytes of the layers' constants (flash on a device).
    #[getter]
    fn constant_bytes(&self) -> PyResult<usize> {
        self.with(|b| Ok(b.constant_bytes()))
    }
}

/// Adds the int8 functions and the backbone class to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Int8Backbone>()?;
    m.add_function(wrap_pyfunction!(int8_quantize, m)?)?;
    m.add_function(wrap_pyfunction!(int8_dequantize, m)?)?;
    m.add_function(wrap_pyfunction!(int8_requantizer, m)?)?;
    m.add_function(wrap_pyfunction!(int8_activation_range, m)?)?;
    m.add_function(wrap_pyfunction!(int8_conv2d, m)?)?;
    m.add_function(wrap_pyfunction!(int8_depthwise_conv2d, m)?)?;
    m.add_function(wrap_pyfunction!(int8_fully_connected, m)?)?;
    m.add_function(wrap_pyfunction!(int8_avg_pool2d, m)?)?;
    m.add_function(wrap_pyfunction!(int8_max_pool2d, m)?)?;
    Ok(())
}
