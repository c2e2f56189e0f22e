//! Run-time-sized layers: the dense layer, ReLU and softmax cross-entropy of [`crate::nn`] on
//! slices whose lengths are checked at entry.
//!
//! Each function runs the static layer's own body ([`nn::dense::forward`](crate::nn::dense::forward)
//! and the others call the same slice kernels), so for the same values the results are bit for
//! bit those of the const-generic layer (`tests/dynamic_layers.rs` checks it for f32, I16F16 and
//! I8F24). A dense layer's weights are one flat slice, `W` row-major `[O][I]` (torch's
//! `Linear.weight`), as in the weight file and the flat parameter arena; `I` is `x.len()` and
//! `O` is `b.len()` (or `dy.len()`).
//!
//! # Errors
//! Nothing is written unless every check passes:
//! - [`Error::LengthMismatch`] if a slice's length is not the one the others imply (`expected`
//!   the implied length, `found` the slice's);
//! - [`Error::InvalidInput`] with [`ValueFault::NotFinite`] for a NaN or infinite element of an
//!   input (`x`, `dy`, logits; fixed-point values are always finite), `index` the first such;
//! - [`Error::Nn`]`(`[`NnError::LabelOutOfRange`]`)` for a label past the last class.
//!
//! The weights are the caller's parameters and are not checked (a non-finite weight gives
//! non-finite outputs, as in the static layer).

use crate::nn::dense::{backward_dx_rows, backward_grads_rows, forward_rows};
use crate::nn::{Activation, NnError, Relu, Scalar};
use crate::{Error, ValueFault};
use std::vec::Vec;

/// [`Error::LengthMismatch`] unless `found == expected`.
fn check_len(expected: usize, found: usize) -> Result<(), Error> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::LengthMismatch { expected, found })
    }
}

/// [`Error::InvalidInput`] at the first non-finite element of `x`.
fn check_finite<S: Scalar>(x: &[S]) -> Result<(), Error> {
    match x.iter().position(|v| !v.to_f64().is_finite()) {
        Some(index) => Err(Error::InvalidInput {
            index,
            fault: ValueFault::NotFinite,
        }),
        None => Ok(()),
    }
}

/// `I·O`, or [`Error::LengthMismatch`] if it overflows.
fn weight_len(inputs: usize, outputs: usize) -> Result<usize, Error> {
    inputs.checked_mul(outputs).ok_or(Error::LengthMismatch {
        expected: usize::MAX,
        found: inputs,
    })
}

/// The rows of a flat `[O][I]` weight slice (`w.len() == I·O` already checked).
fn rows<S>(w: &[S], inputs: usize, outputs: usize) -> Vec<&[S]> {
    if inputs == 0 {
        std::vec![&w[..0]; outputs]
    } else {
        w.chunks_exact(inputs).collect()
    }
}

/// The rows of a flat `[O][I]` weight slice, mutably.
fn rows_mut<S>(w: &mut [S], inputs: usize, outputs: usize) -> Vec<&mut [S]> {
    if inputs == 0 {
        (0..outputs).map(|_| <&mut [S]>::default()).collect()
    } else {
        w.chunks_exact_mut(inputs).collect()
    }
}

/// `y = W x + b`, [`nn::dense::forward`](crate::nn::dense::forward)'s arithmetic: `I = x.len()`,
/// `O = b.len()`, `w` holds `I·O` weights row-major, `y` gets `O` outputs (overwritten).
///
/// # Errors
/// [`Error::LengthMismatch`] unless `w.len() == I·O` and `y.len() == O`;
/// [`Error::InvalidInput`] for a non-finite `x`. Then `y` is unchanged.
pub fn dense_forward<S: Scalar>(w: &[S], b: &[S], x: &[S], y: &mut [S]) -> Result<(), Error> {
    let (inputs, outputs) = (x.len(), b.len());
    check_len(weight_len(inputs, outputs)?, w.len())?;
    check_len(outputs, y.len())?;
    check_finite(x)?;
    forward_rows(&rows(w, inputs, outputs), b, x, y);
    Ok(())
}

/// The backward pass of [`dense_forward`], [`nn::dense::backward`](crate::nn::dense::backward)'s
/// arithmetic: `I = x.len()`, `O = dy.len()`. With `grads = Some((dw, db))` it **accumulates**
/// `dw[o·I + i] += dy[o]·x[i]` and `db[o] += dy[o]`; with `dx = Some(dx)` it **overwrites**
/// `dx[i] = Σₒ w[o·I + i]·dy[o]`.
///
/// # Errors
/// [`Error::LengthMismatch`] unless `w.len() == I·O` (and `dw.len() == I·O`, `db.len() == O`,
/// `dx.len() == I` for those given); [`Error::InvalidInput`] for a non-finite `x` or `dy`
/// (`index` into `x`, then into `dy`). Then nothing is written.
pub fn dense_backward<S: Scalar>(
    w: &[S],
    x: &[S],
    dy: &[S],
    grads: Option<(&mut [S], &mut [S])>,
    dx: Option<&mut [S]>,
) -> Result<(), Error> {
    let (inputs, outputs) = (x.len(), dy.len());
    let n = weight_len(inputs, outputs)?;
    check_len(n, w.len())?;
    if let Some((dw, db)) = &grads {
        check_len(n, dw.len())?;
        check_len(outputs, db.len())?;
    }
    if let Some(dx) = &dx {
        check_len(inputs, dx.len())?;
    }
    check_finite(x)?;
    check_finite(dy)?;
    let rows_w = rows(w, inputs, outputs);
    if let Some(dx) = dx {
        backward_dx_rows(&rows_w, dy, dx);
    }
    if let Some((dw, db)) = grads {
        backward_grads_rows(x, dy, &mut rows_mut(dw, inputs, outputs), db);
    }
    Ok(())
}

/// `y = max(x, 0)` element-wise, [`Relu`]'s arithmetic.
///
/// # Errors
/// [`Error::LengthMismatch`] unless `y.len() == x.len()`; [`Error::InvalidInput`] for a
/// non-finite `x`. Then `y` is unchanged.
pub fn relu_forward<S: Scalar>(x: &[S], y: &mut [S]) -> Result<(), Error> {
    check_len(x.len(), y.len())?;
    check_finite(x)?;
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi = Relu.apply(xi);
    }
    Ok(())
}

/// ReLU's backward pass from its stored output `y`: `dx = dy · f'(x)` (1 where `y > 0`, else 0;
/// [`Relu`]'s arithmetic). `dx` is overwritten.
///
/// # Errors
/// [`Error::LengthMismatch`] unless `dy` and `dx` are as long as `y`; [`Error::InvalidInput`]
/// for a non-finite `dy`. Then `dx` is unchanged.
pub fn relu_backward<S: Scalar>(y: &[S], dy: &[S], dx: &mut [S]) -> Result<(), Error> {
    check_len(y.len(), dy.len())?;
    check_len(y.len(), dx.len())?;
    check_finite(dy)?;
    for ((dxi, &dyi), &yi) in dx.iter_mut().zip(dy).zip(y) {
        *dxi = Relu.backward_one(yi, dyi);
    }
    Ok(())
}

/// Softmax cross-entropy of `logits` against class `label` and its gradient
/// `dlogits = softmax(z) − onehot(label)`: [`nn::softmax_cross_entropy`](crate::nn::softmax_cross_entropy)'s
/// arithmetic with `C = logits.len()`. Returns the loss.
///
/// # Errors
/// [`Error::LengthMismatch`] unless `dlogits.len() == C`; [`Error::InvalidInput`] for
/// non-finite logits; [`Error::Nn`]`(`[`NnError::LabelOutOfRange`]`)` if `label >= C`. Then
/// `dlogits` is unchanged.
pub fn softmax_cross_entropy<S: Scalar>(
    logits: &[S],
    label: usize,
    dlogits: &mut [S],
) -> Result<S, Error> {
    check_len(logits.len(), dlogits.len())?;
    check_finite(logits)?;
    if label >= logits.len() {
        return Err(Error::Nn(NnError::LabelOutOfRange {
            label,
            classes: logits.len(),
        }));
    }
    Ok(crate::nn::softmax_cross_entropy_slices(
        logits, label, dlogits,
    )?)
}
