//! The dense (fully connected) layer `y = W x + b`.
//!
//! The math is in free functions that take the weights, bias and gradients as parameters, so
//! they can live anywhere: in a [`Dense`] struct, in a flat parameter arena shared with an
//! optimizer (see [`split`] and [`split_mut`]), or frozen in a flash-resident `const`/`static`
//! (a frozen layer passes `None` for its gradients).
//!
//! # Memory
//! - [`forward`]: reads `W` (`O·I` elements), `b`, `x`; writes `y`. No scratch; stack use is
//!   at most four accumulators (`f32`/`f64` sum four outputs at a time, each in the order of
//!   the one-output loop, so the results do not depend on the blocking).
//! - [`backward`]: needs the layer's **input** `x` kept from the forward pass (`I` elements)
//!   and the incoming `dy` (`O` elements); the output `y` is not needed. It accumulates into
//!   `dW`, `db` (same shapes as `W`, `b`) and overwrites `dx` (`I` elements). No scratch.

use super::{kernel, Scalar};
use crate::num::StateValue;
use core::iter::{once, Once};

/// Weights and bias of a dense layer with `I` inputs and `O` outputs, stored in their natural
/// shapes. The same type holds the gradients (`dW`, `db`).
///
/// Row `o` of `weights` holds the weights of output `o`, as in torch's `Linear.weight`
/// (`[out_features, in_features]`), so the flat layout [`weights`, `bias`] is torch's
/// `[weight.flatten(), bias]`.
///
/// Size: `size_of::<Dense<S, I, O>>() == (I·O + O) · size_of::<S>()` (no padding: two arrays of
/// `S`); for `f32`, `4·(I·O + O)` bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dense<S, const I: usize, const O: usize> {
    /// `W`, one row of `I` weights per output.
    pub weights: [[S; I]; O],
    /// `b`, one per output.
    pub bias: [S; O],
}

impl<S: StateValue, const I: usize, const O: usize> Dense<S, I, O> {
    /// The number of parameters, `I·O + O`.
    pub const PARAMS: usize = I * O + O;

    /// All zeros (`const`: can initialise a `static`, in `.bss`); also the starting value of a
    /// gradient accumulator.
    pub const fn zeroed() -> Self {
        Dense {
            weights: [[S::ZERO; I]; O],
            bias: [S::ZERO; O],
        }
    }

    /// Sets every element to zero (clears a gradient accumulator between batches).
    pub fn zero(&mut self) {
        *self = Self::zeroed();
    }
}

impl<S: Scalar, const I: usize, const O: usize> Dense<S, I, O> {
    /// [`forward`] with this layer's parameters.
    #[inline]
    pub fn forward(&self, x: &[S; I], y: &mut [S; O]) {
        forward(&self.weights, &self.bias, x, y);
    }

    /// [`backward`] with this layer's parameters, accumulating into `grads` (if given) and
    /// writing `dx` (if given).
    #[inline]
    pub fn backward(
        &self,
        x: &[S; I],
        dy: &[S; O],
        grads: Option<&mut Dense<S, I, O>>,
        dx: Option<&mut [S; I]>,
    ) {
        backward(
            &self.weights,
            x,
            dy,
            grads.map(|g| (&mut g.weights, &mut g.bias)),
            dx,
        );
    }
}

/// Mutable gradient storage `(dW, db)` of a dense layer, as [`backward`] takes it.
pub type GradsMut<'a, S, const I: usize, const O: usize> = (&'a mut [[S; I]; O], &'a mut [S; O]);

/// `(W, b, rest)`: a dense layer's parameters viewed at the start of a flat arena, and the
/// rest of the arena (see [`split`]).
pub type View<'a, S, const I: usize, const O: usize> = (&'a [[S; I]; O], &'a [S; O], &'a [S]);

/// `(W, b, rest)`, mutably (see [`split_mut`]).
pub type ViewMut<'a, S, const I: usize, const O: usize> =
    (&'a mut [[S; I]; O], &'a mut [S; O], &'a mut [S]);

/// `y = W x + b`: `y[o] = b[o] + Σᵢ W[o][i]·x[i]`, accumulated in [`Scalar::Acc`] starting from
/// the bias. `y` is overwritten. No scratch.
#[inline]
pub fn forward<S: Scalar, const I: usize, const O: usize>(
    w: &[[S; I]; O],
    b: &[S; O],
    x: &[S; I],
    y: &mut [S; O],
) {
    forward_rows(w, b, x, y);
}

/// The body of [`forward`] over rows of any storage (`[S; I]` arrays for the static layer, row
/// slices for the run-time-sized `dynamic::dense_forward`, feature `std`):
/// `y[o] = b[o] + Σᵢ w[o][i]·x[i]`.
///
/// The caller guarantees the shapes (`w.len() == b.len() == y.len()`, every row as long as `x`);
/// on a mismatch the zips stop at the shorter side (no panic, nothing meaningful written).
#[inline]
pub(crate) fn forward_rows<S: Scalar, R: AsRef<[S]>>(w: &[R], b: &[S], x: &[S], y: &mut [S]) {
    // Four outputs at a time share each loaded input; each sum keeps the one-output order.
    let (y4, y1, w4, w1, b4, b1) = if kernel::wide_acc::<S>() {
        (
            Default::default(),
            y,
            Default::default(),
            w,
            Default::default(),
            b,
        )
    } else {
        let (y4, y1) = y.as_chunks_mut::<4>();
        let (w4, w1) = w.as_chunks::<4>();
        let (b4, b1) = b.as_chunks::<4>();
        (y4, y1, w4, w1, b4, b1)
    };
    // The number of blocks is hidden from the optimiser: unrolled per block, the later blocks'
    // rows lie beyond a load's reach from one base register and each load first needs an
    // address add (measured: 87 instead of 78 instructions per 32 multiply-adds on a
    // Cortex-M4F). One loop body advances its base instead.
    let w4 = core::hint::black_box(w4);
    for ((yo, [r0, r1, r2, r3]), bo) in y4.iter_mut().zip(w4).zip(b4) {
        let mut acc = bo.map(S::widen);
        kernel::dot4::<S>(
            &mut acc,
            x,
            [r0.as_ref(), r1.as_ref(), r2.as_ref(), r3.as_ref()],
        );
        *yo = acc.map(S::narrow);
    }
    // Each sum: the bias and one product per input.
    let rows = (w1.iter().map(AsRef::as_ref), w1.len() * x.len());
    if kernel::may_saturate::<S>(Some(once(b1)), x.len(), rows, (once(x), x.len())) {
        rows_one_by_one(w1, b1, x, y1, S::mul_acc);
    } else {
        rows_one_by_one(w1, b1, x, y1, kernel::mac::<S>);
    }
}

/// `y[o] = b[o] + Σᵢ w[o][i]·x[i]`, one output at a time, each product added by `mac`.
#[inline(always)]
fn rows_one_by_one<S: Scalar, R: AsRef<[S]>>(
    w: &[R],
    b: &[S],
    x: &[S],
    y: &mut [S],
    mac: impl Fn(S::Acc, S, S) -> S::Acc,
) {
    for ((yo, row), &bo) in y.iter_mut().zip(w).zip(b) {
        let mut acc = bo.widen();
        for (&wi, &xi) in row.as_ref().iter().zip(x) {
            acc = mac(acc, wi, xi);
        }
        *yo = S::narrow(acc);
    }
}

/// Backward pass of `y = W x + b`, given the layer's input `x` and `dy = ∂L/∂y`.
///
/// - `grads = Some((dW, db))`: **accumulates** `dW[o][i] += dy[o]·x[i]` and `db[o] += dy[o]`, so
///   calling this once per sample of a mini-batch sums the batch's gradient in place, with no
///   per-sample buffer. Pass `None` for a frozen layer.
/// - `dx = Some(dx)`: **overwrites** `dx[i] = Σₒ W[o][i]·dy[o]` (accumulated in
///   [`Scalar::Acc`]), the gradient to pass to the layer below. Pass `None` for a first layer.
///
/// `W` is read only to compute `dx`; the output `y` is not needed. No scratch.
#[inline]
pub fn backward<S: Scalar, const I: usize, const O: usize>(
    w: &[[S; I]; O],
    x: &[S; I],
    dy: &[S; O],
    grads: Option<GradsMut<'_, S, I, O>>,
    dx: Option<&mut [S; I]>,
) {
    // Two bodies, each called only when its output is given: one body taking both `Option`s
    // (as slices) made rustc 1.95 panic in MIR optimisation (GVN, "expected monomorphic const")
    // on tests/nn_gradcheck.rs.
    if let Some(dx) = dx {
        backward_dx_rows(w, dy, dx);
    }
    if let Some((dw, db)) = grads {
        backward_grads_rows(x, dy, dw, db);
    }
}

/// The input-gradient half of [`backward`] over rows of any storage (see [`forward_rows`]):
/// overwrites `dx[i] = Σₒ w[o][i]·dy[o]`.
///
/// The caller guarantees the shapes (`w` and `dy` have one entry per output, every row as long
/// as `dx`); on a mismatch the zips stop at the shorter side (no panic).
#[inline]
pub(crate) fn backward_dx_rows<S: Scalar, R: AsRef<[S]>>(w: &[R], dy: &[S], dx: &mut [S]) {
    let inputs = dx.len();
    // Four inputs at a time, each summed over the outputs in ascending order.
    let (dx4, dx1) = if kernel::wide_acc::<S>() {
        (<&mut [[S; 4]]>::default(), dx)
    } else {
        dx.as_chunks_mut::<4>()
    };
    for (blk, dx_b) in dx4.iter_mut().enumerate() {
        let mut acc = [S::ZERO.widen(); 4];
        let cols = w
            .iter()
            .filter_map(|row| row.as_ref().as_chunks::<4>().0.get(blk));
        kernel::axpy4::<S>(&mut acc, cols, dy);
        *dx_b = acc.map(S::narrow);
    }
    let done = inputs - dx1.len();
    // Each sum: one product per output.
    let cols = w.iter().map(|r| r.as_ref().get(done..).unwrap_or_default());
    let (cols, gl) = ((cols, w.len() * dx1.len()), (once(dy), dy.len()));
    if kernel::may_saturate::<S>(None::<Once<&[S]>>, dy.len(), cols, gl) {
        columns_one_by_one(w, dy, done, dx1, S::mul_acc);
    } else {
        columns_one_by_one(w, dy, done, dx1, kernel::mac::<S>);
    }
}

/// `dx[i] = Σₒ w[o][done + i]·dy[o]`, one input at a time, each product added by `mac`.
#[inline(always)]
fn columns_one_by_one<S: Scalar, R: AsRef<[S]>>(
    w: &[R],
    dy: &[S],
    done: usize,
    dx: &mut [S],
    mac: impl Fn(S::Acc, S, S) -> S::Acc,
) {
    for (i, dxi) in dx.iter_mut().enumerate() {
        let mut acc = S::ZERO.widen();
        for (row, &dyo) in w.iter().zip(dy) {
            if let Some(&wi) = row.as_ref().get(done + i) {
                acc = mac(acc, wi, dyo);
            }
        }
        *dxi = S::narrow(acc);
    }
}

/// The weight-gradient half of [`backward`] over rows of any storage: accumulates
/// `dW[o][i] += dy[o]·x[i]` and `db[o] += dy[o]`.
///
/// The caller guarantees the shapes (`dw`, `db` and `dy` have one entry per output, every row
/// as long as `x`); on a mismatch the zips stop at the shorter side (no panic).
#[inline]
pub(crate) fn backward_grads_rows<S: Scalar, G: AsMut<[S]>>(
    x: &[S],
    dy: &[S],
    dw: &mut [G],
    db: &mut [S],
) {
    // Four rows at a time where the kernels block (see `kernel::add_scaled4`); where the
    // hardware kernel for one row exists (`arm-vldm` on an FPU Cortex-M) it is faster still.
    let row_kernel = cfg!(all(
        feature = "arm-vldm",
        target_arch = "arm",
        target_abi = "eabihf"
    ));
    let (dw4, dw1) = if kernel::blocked::<S>() && !row_kernel {
        dw.as_chunks_mut::<4>()
    } else {
        (<&mut [[G; 4]]>::default(), dw)
    };
    let (dy4, dy1) = dy.split_at(dy.len().min(dw4.len() * 4));
    let (db4, db1) = db.split_at_mut(db.len().min(dw4.len() * 4));
    let blocks = dw4.iter_mut().zip(db4.as_chunks_mut::<4>().0);
    for ((rows, dbs), dys) in blocks.zip(dy4.as_chunks::<4>().0) {
        kernel::add_scaled4(rows.each_mut().map(|r| r.as_mut()), *dys, x);
        for (dbo, &dyo) in dbs.iter_mut().zip(dys) {
            *dbo = dbo.add(dyo);
        }
    }
    for ((dw_row, dbo), &dyo) in dw1.iter_mut().zip(db1.iter_mut()).zip(dy1) {
        kernel::add_scaled(dw_row.as_mut(), dyo, x);
        *dbo = dbo.add(dyo);
    }
}

/// Views the start of a flat arena as a dense layer's `(W, b)` and returns the rest: the first
/// `I·O` elements are `W` row by row, the next `O` are `b` (torch's order). `None` if the arena
/// has fewer than `I·O + O` elements. A compile error if `I == 0`.
///
/// This is how a network keeps all its parameters (or all its gradients) in one `[S; N]` that an
/// [`Optimizer`](crate::optim::Optimizer) steps. No copy is made.
pub fn split<S, const I: usize, const O: usize>(arena: &[S]) -> Option<View<'_, S, I, O>> {
    const { assert!(I > 0, "a dense layer needs at least one input") };
    let (w, rest) = arena.split_at_checked(I.checked_mul(O)?)?;
    let (rows, _) = w.as_chunks::<I>();
    let w: &[[S; I]; O] = rows.try_into().ok()?;
    let (b, rest) = rest.split_first_chunk::<O>()?;
    Some((w, b, rest))
}

/// [`split`], mutably: views the start of a flat arena as `(W, b)` and returns the rest.
pub fn split_mut<S, const I: usize, const O: usize>(
    arena: &mut [S],
) -> Option<ViewMut<'_, S, I, O>> {
    const { assert!(I > 0, "a dense layer needs at least one input") };
    let (w, rest) = arena.split_at_mut_checked(I.checked_mul(O)?)?;
    let (rows, _) = w.as_chunks_mut::<I>();
    let w: &mut [[S; I]; O] = rows.try_into().ok()?;
    let (b, rest) = rest.split_first_chunk_mut::<O>()?;
    Some((w, b, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;

    #[test]
    fn size_of_dense_is_its_parameters() {
        assert_eq!(size_of::<Dense<f32, 3, 2>>(), 4 * (3 * 2 + 2));
        assert_eq!(
            size_of::<Dense<f64, 5, 7>>(),
            8 * Dense::<f64, 5, 7>::PARAMS
        );
    }

    #[test]
    fn split_views_torch_order_and_rejects_short_arenas() {
        let arena = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
        let (w, b, rest) = split::<f32, 3, 2>(&arena).unwrap();
        assert_eq!(w, &[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        assert_eq!(b, &[7.0, 8.0]);
        assert_eq!(rest, &[9.0]);
        assert!(split::<f32, 3, 2>(&arena[..7]).is_none());
        assert!(split::<f32, 3, 2>(&[]).is_none());
    }
}
