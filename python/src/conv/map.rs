//! What the convolution and pooling bindings share: the dtype dispatch, the padding keyword,
//! the optional leading batch axis of a channels-last map, and the checks that run before any
//! output is allocated (so a bad shape is an `EdgetuneError`, never an aborting allocation).

use crate::{err, misuse};
use edgetune::nn::{NnError, Padding, Scalar};
use edgetune::{Error, ValueFault};
use pyo3::prelude::*;

/// Runs `$body` with `$S` the number type named by `$dtype`.
macro_rules! by_dtype {
    ($dtype:expr, |$S:ident| $body:expr) => {
        match $crate::Kind::parse($dtype)? {
            $crate::Kind::F32 => {
                type $S = f32;
                $body
            }
            $crate::Kind::I16F16 => {
                type $S = edgetune::num::fixed::I16F16;
                $body
            }
            $crate::Kind::I8F24 => {
                type $S = edgetune::num::fixed::I8F24;
                $body
            }
            $crate::Kind::I4F12 => {
                type $S = edgetune::num::fixed::I4F12;
                $body
            }
        }
    };
}
pub(crate) use by_dtype;

/// The most elements an output may have: `2^28`, as for an optimizer, so that a huge padding
/// or stride is an error rather than an allocation failure that aborts the interpreter.
const MAX_OUT: usize = 1 << 28;

/// A padding keyword: an int (both sides, torch's `padding=p`), a pair `(before, after)`, or
/// `"same"` (TensorFlow's `SAME` for the axis's length, kernel and stride).
#[derive(Clone, Copy)]
pub(crate) enum Pad {
    Fixed(Padding),
    Same,
}

impl Pad {
    /// Parses the keyword `what` (`None`: no padding).
    pub(crate) fn parse(v: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Pad> {
        let Some(v) = v else {
            return Ok(Pad::Fixed(Padding::NONE));
        };
        if let Ok(p) = v.extract::<usize>() {
            return Ok(Pad::Fixed(Padding::symmetric(p)));
        }
        if let Ok((before, after)) = v.extract::<(usize, usize)>() {
            return Ok(Pad::Fixed(Padding { before, after }));
        }
        match v.extract::<String>() {
            Ok(s) if s == "same" => Ok(Pad::Same),
            _ => Err(misuse(format!(
                "{what}: expected a non-negative int, a pair (before, after) or \"same\""
            ))),
        }
    }

    /// The padding of an axis of `len` elements, kernel `k`, stride `stride`.
    pub(crate) fn on(self, len: usize, k: usize, stride: usize) -> Padding {
        match self {
            Pad::Fixed(p) => p,
            Pad::Same => Padding::same(len, k, stride),
        }
    }
}

/// A channels-last input split into its batch: `count` samples of `dims` each; `batched` when
/// the array had the leading batch axis.
pub(crate) struct Batch {
    pub(crate) count: usize,
    pub(crate) dims: Vec<usize>,
    pub(crate) batched: bool,
}

impl Batch {
    /// `shape` as one sample of `ndim` axes (`layout` names them) or a batch of such.
    pub(crate) fn of(shape: &[usize], ndim: usize, what: &str, layout: &str) -> PyResult<Batch> {
        match shape.len() {
            n if n == ndim => Ok(Batch {
                count: 1,
                dims: shape.to_vec(),
                batched: false,
            }),
            n if n == ndim + 1 => Ok(Batch {
                count: shape.first().copied().unwrap_or(0),
                dims: shape.get(1..).unwrap_or_default().to_vec(),
                batched: true,
            }),
            _ => Err(misuse(format!(
                "{what}: expected shape {layout} or (batch, {}), got {shape:?}",
                layout.trim_start_matches('(')
            ))),
        }
    }

    /// The full shape of a per-sample result of `dims` for this batch.
    pub(crate) fn shape(&self, dims: &[usize]) -> Vec<usize> {
        let mut s = if self.batched {
            vec![self.count]
        } else {
            Vec::new()
        };
        s.extend_from_slice(dims);
        s
    }

    /// A zeroed buffer for `per` elements per sample, if the total is within the bindings' limit.
    pub(crate) fn alloc<S: Scalar>(&self, per: usize) -> PyResult<Vec<S>> {
        match self.count.checked_mul(per).filter(|&n| n <= MAX_OUT) {
            Some(n) => Ok(vec![S::ZERO; n]),
            None => Err(misuse(format!(
                "an output of {} × {per} elements is above the bindings' limit of 2^28",
                self.count
            ))),
        }
    }
}

/// A size keyword as a `usize`: a negative one is an `EdgetuneError` like any bad shape.
pub(crate) fn size(v: i64, what: &str) -> PyResult<usize> {
    usize::try_from(v).map_err(|_| misuse(format!("{what}: expected a non-negative int, got {v}")))
}

/// The library's shape error unless `valid`.
pub(crate) fn check_shape(valid: bool) -> PyResult<()> {
    if valid {
        Ok(())
    } else {
        Err(err(Error::Nn(NnError::InvalidShape)))
    }
}

/// The library's length error unless `found == expected`.
pub(crate) fn check_len(expected: usize, found: usize) -> PyResult<()> {
    if expected == found {
        Ok(())
    } else {
        Err(err(Error::LengthMismatch { expected, found }))
    }
}

/// The library's input error at the first NaN or infinite element of `v` (flat index over the
/// whole batch), as the run-time-sized dense layer rejects its inputs; weights are not checked.
pub(crate) fn check_finite<S: Scalar>(v: &[S]) -> PyResult<()> {
    match v.iter().position(|x| !x.to_f64().is_finite()) {
        Some(index) => Err(err(Error::InvalidInput {
            index,
            fault: ValueFault::NotFinite,
        })),
        None => Ok(()),
    }
}

/// `dy`'s shape must be the output's.
pub(crate) fn check_dy(dys: &[usize], want: &[usize]) -> PyResult<()> {
    if dys == want {
        Ok(())
    } else {
        Err(misuse(format!(
            "dy: expected shape {want:?} (the layer's output), got {dys:?}"
        )))
    }
}

/// Sample `k` of `per` elements.
pub(crate) fn sample<S>(v: &[S], k: usize, per: usize) -> &[S] {
    v.get(k * per..(k + 1) * per).unwrap_or_default()
}

/// Sample `k` of `per` elements, mutably.
pub(crate) fn sample_mut<S>(v: &mut [S], k: usize, per: usize) -> &mut [S] {
    v.get_mut(k * per..(k + 1) * per).unwrap_or_default()
}
