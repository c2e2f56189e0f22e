//! The device's weight file (`.etw`, [`edgetune::io::weights`]) from Python: `weights_encode`
//! writes it with the library's writer, `weights_decode` reads it with the library's `parse`.
//! The bytes are exactly what a device stores and sends.

use crate::layers::{read, write, Elem};
use crate::{misuse, Kind};
use edgetune::io::weights::{self, NumberType};
use edgetune::num::fixed::{I16F16, I8F24};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

/// Layer shapes `(I, O)` and the flat parameter arena.
type Arena<S> = (Vec<(usize, usize)>, Vec<S>);

/// The dense layers `[(w, b), ...]` as shapes `(I, O)` and one flat arena (torch's order).
fn arena<S: Elem>(layers: &Bound<'_, PyList>) -> PyResult<Arena<S>> {
    let mut shapes = Vec::new();
    let mut flat = Vec::new();
    for (k, item) in layers.iter().enumerate() {
        let (w, b): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item
            .extract()
            .map_err(|_| misuse(format!("layer {k}: expected a pair (w, b)")))?;
        let (ws, w) = read::<S>(&w, "w")?;
        let (bs, b) = read::<S>(&b, "b")?;
        match (ws.as_slice(), bs.as_slice()) {
            ([o, i], [ob]) if o == ob => shapes.push((*i, *o)),
            _ => {
                return Err(misuse(format!(
                    "layer {k}: w {ws:?} and b {bs:?} are not (O, I) and (O,)"
                )))
            }
        }
        flat.extend(w);
        flat.extend(b);
    }
    Ok((shapes, flat))
}

fn encode_t<S: Raw>(layers: &Bound<'_, PyList>, number_type: NumberType) -> PyResult<Vec<u8>> {
    let (shapes, flat) = arena::<S>(layers)?;
    let len = weights::encoded_len(&shapes).map_err(|e| misuse(e.to_string()))?;
    let mut out = vec![0u8; len];
    let raw: Vec<i32> = flat.iter().map(|v| S::raw(*v)).collect();
    let n = weights::write_raw(number_type, &shapes, &raw, &mut out)
        .map_err(|e| misuse(e.to_string()))?;
    out.truncate(n);
    Ok(out)
}

/// A value's 32 payload bits as `i32`.
trait Raw: Elem {
    fn raw(self) -> i32;
}
impl Raw for f32 {
    fn raw(self) -> i32 {
        i32::from_le_bytes(self.to_bits().to_le_bytes())
    }
}
impl Raw for I16F16 {
    fn raw(self) -> i32 {
        self.to_bits()
    }
}
impl Raw for I8F24 {
    fn raw(self) -> i32 {
        self.to_bits()
    }
}

/// The weight file of the dense layers `layers`, a list of `(w, b)` pairs (`w` of shape
/// `(O, I)`, `b` `(O,)`; `float32` for "f32", raw `int32` bits for fixed point), in number type
/// `dtype`: the bytes `io::weights::write_raw` writes.
#[pyfunction]
#[pyo3(signature = (layers, dtype="f32"))]
fn weights_encode<'py>(
    py: Python<'py>,
    layers: &Bound<'py, PyList>,
    dtype: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let bytes = match Kind::parse(dtype)? {
        Kind::F32 => encode_t::<f32>(layers, NumberType::F32)?,
        Kind::I16F16 => encode_t::<I16F16>(layers, NumberType::I16F16)?,
        Kind::I8F24 => encode_t::<I8F24>(layers, NumberType::I8F24)?,
        Kind::I4F12 => {
            return Err(misuse(
                "the weight format has no I4F12 number type: encode as \"f32\" or \"I16F16\"",
            ))
        }
    };
    Ok(PyBytes::new(py, &bytes))
}

type Decoded<'py> = (&'static str, Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>);

fn decode_layers<'py, S: Elem>(
    py: Python<'py>,
    shapes: &[(usize, usize)],
    values: &[S],
) -> PyResult<Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>> {
    let mut out = Vec::new();
    let mut rest = values;
    for &(i, o) in shapes {
        let (w, tail) = rest.split_at_checked(i * o).unwrap_or((&[], &[]));
        let (b, tail) = tail.split_at_checked(o).unwrap_or((&[], &[]));
        out.push((write(py, w, &[o, i])?, write(py, b, &[o])?));
        rest = tail;
    }
    Ok(out)
}

/// Reads a weight file with the library's `parse_any` (every check but a model's shapes, which
/// the file's table gives): returns `(dtype, [(w, b), ...])`, arrays as [`weights_encode`]
/// takes them. Any damage or inconsistency is an `EdgetuneError` with the library's message
/// (bad magic, CRC mismatch, truncated, ...).
#[pyfunction]
fn weights_decode<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Decoded<'py>> {
    let parsed = weights::parse_any(data).map_err(|e| misuse(e.to_string()))?;
    let shapes: Vec<(usize, usize)> = (0..parsed.layer_count())
        .filter_map(|l| parsed.shape(l))
        .collect();
    let ty = parsed.number_type();
    let mut raw = vec![0i32; parsed.len()];
    let mut fl = vec![0f32; parsed.len()];
    match ty {
        NumberType::F32 => {
            parsed
                .load_into(&mut fl)
                .map_err(|e| misuse(e.to_string()))?;
            Ok(("f32", decode_layers(py, &shapes, &fl)?))
        }
        NumberType::I16F16 => {
            parsed
                .load_raw_into(ty, &mut raw)
                .map_err(|e| misuse(e.to_string()))?;
            let v: Vec<I16F16> = raw.iter().map(|&r| I16F16::from_bits(r)).collect();
            Ok(("I16F16", decode_layers(py, &shapes, &v)?))
        }
        NumberType::I8F24 => {
            parsed
                .load_raw_into(ty, &mut raw)
                .map_err(|e| misuse(e.to_string()))?;
            let v: Vec<I8F24> = raw.iter().map(|&r| I8F24::from_bits(r)).collect();
            Ok(("I8F24", decode_layers(py, &shapes, &v)?))
        }
    }
}

/// Adds the weight-file functions to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(weights_encode, m)?)?;
    m.add_function(wrap_pyfunction!(weights_decode, m)?)?;
    Ok(())
}
