//! One-dimensional convolution over sensor windows: valid padding, stride 1.
//!
//! `y[o][t] = b[o] + Σ_c Σ_k W[o][c][k] · x[c][t + k]` for `t` in `0..L_OUT`, with input
//! `x: [[S; L_IN]; C_IN]` (one row per channel) and output `y: [[S; L_OUT]; C_OUT]`. Like torch's
//! `Conv1d`, this is a cross-correlation, and `W[o][c]` is torch's `weight[o, c, :]`.
//!
//! # Lengths
//! `L_OUT = L_IN − K + 1` cannot be written in a type on stable Rust (no arithmetic on const
//! generics), so `L_OUT` is one more const generic of each function, checked at compile time by an
//! inline `const` assertion (`K ≥ 1`, `L_IN ≥ K`, `L_OUT + K == L_IN + 1`): a wrong length does not
//! compile. The lengths are parameters of the functions, not of [`Conv1d`], because the weights do
//! not depend on them.
//!
//! # Memory
//! - [`forward`]: no scratch.
//! - [`backward`]: needs the layer's **input** `x` (`C_IN·L_IN` elements) and `dy`
//!   (`C_OUT·L_OUT`); accumulates into `dW`, `db`, overwrites `dx` (`C_IN·L_IN`). No scratch.

use super::Scalar;
use crate::num::StateValue;

/// Weights `[[[S; K]; C_IN]; C_OUT]` and bias `[S; C_OUT]` of a 1-D convolution; the same type
/// holds their gradients.
///
/// Size: `(C_OUT·C_IN·K + C_OUT) · size_of::<S>()` bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Conv1d<S, const C_IN: usize, const C_OUT: usize, const K: usize> {
    /// `W[o][c][k]`.
    pub weights: [[[S; K]; C_IN]; C_OUT],
    /// `b[o]`.
    pub bias: [S; C_OUT],
}

impl<S: StateValue, const C_IN: usize, const C_OUT: usize, const K: usize>
    Conv1d<S, C_IN, C_OUT, K>
{
    /// The number of parameters, `C_OUT·C_IN·K + C_OUT`.
    pub const PARAMS: usize = C_OUT * C_IN * K + C_OUT;

    /// All zeros (`const`, for a `static` or a gradient accumulator).
    pub const fn zeroed() -> Self {
        Conv1d {
            weights: [[[S::ZERO; K]; C_IN]; C_OUT],
            bias: [S::ZERO; C_OUT],
        }
    }

    /// Sets every element to zero.
    pub fn zero(&mut self) {
        *self = Self::zeroed();
    }
}

impl<S: Scalar, const C_IN: usize, const C_OUT: usize, const K: usize> Conv1d<S, C_IN, C_OUT, K> {
    /// [`forward`] with this layer's parameters.
    #[inline]
    pub fn forward<const L_IN: usize, const L_OUT: usize>(
        &self,
        x: &[[S; L_IN]; C_IN],
        y: &mut [[S; L_OUT]; C_OUT],
    ) {
        forward(&self.weights, &self.bias, x, y);
    }

    /// [`backward`] with this layer's parameters.
    #[inline]
    pub fn backward<const L_IN: usize, const L_OUT: usize>(
        &self,
        x: &[[S; L_IN]; C_IN],
        dy: &[[S; L_OUT]; C_OUT],
        grads: Option<&mut Conv1d<S, C_IN, C_OUT, K>>,
        dx: Option<&mut [[S; L_IN]; C_IN]>,
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

/// Mutable gradient storage `(dW, db)` of a convolution, as [`backward`] takes it.
pub type GradsMut<'a, S, const C_IN: usize, const C_OUT: usize, const K: usize> =
    (&'a mut [[[S; K]; C_IN]; C_OUT], &'a mut [S; C_OUT]);

/// The compile-time length check shared by [`forward`] and [`backward`].
const fn check_lengths(k: usize, l_in: usize, l_out: usize) -> bool {
    k >= 1 && l_in >= k && l_out + k == l_in + 1
}

/// `y[o][t] = b[o] + Σ_c Σ_k W[o][c][k]·x[c][t + k]`, accumulated in [`Scalar::Acc`]. `y` is
/// overwritten; no scratch. A compile error unless `L_OUT == L_IN − K + 1` and `1 ≤ K ≤ L_IN`.
pub fn forward<
    S: Scalar,
    const C_IN: usize,
    const C_OUT: usize,
    const K: usize,
    const L_IN: usize,
    const L_OUT: usize,
>(
    w: &[[[S; K]; C_IN]; C_OUT],
    b: &[S; C_OUT],
    x: &[[S; L_IN]; C_IN],
    y: &mut [[S; L_OUT]; C_OUT],
) {
    const {
        assert!(
            check_lengths(K, L_IN, L_OUT),
            "conv1d needs 1 <= K <= L_IN and L_OUT == L_IN - K + 1"
        )
    };
    for ((y_row, w_o), &b_o) in y.iter_mut().zip(w).zip(b) {
        for (t, y_t) in y_row.iter_mut().enumerate() {
            let mut acc = b_o.widen();
            for (w_oc, x_c) in w_o.iter().zip(x) {
                for (&w_k, &x_k) in w_oc.iter().zip(x_c.iter().skip(t)) {
                    acc = S::mul_acc(acc, w_k, x_k);
                }
            }
            *y_t = S::narrow(acc);
        }
    }
}

/// Backward pass of [`forward`], given the layer's input `x` and `dy = ∂L/∂y`.
///
/// - `grads = Some((dW, db))`: **accumulates** `dW[o][c][k] += Σ_t dy[o][t]·x[c][t + k]` and
///   `db[o] += Σ_t dy[o][t]` (each sum formed in [`Scalar::Acc`], then added), so a mini-batch
///   accumulates in place. `None` for a frozen layer.
/// - `dx = Some(dx)`: **overwrites** `dx[c][j] = Σ_o Σ_k W[o][c][k]·dy[o][j − k]` over the
///   `k` with `0 ≤ j − k < L_OUT`. `None` for a first layer.
///
/// No scratch. A compile error unless `L_OUT == L_IN − K + 1` and `1 ≤ K ≤ L_IN`.
pub fn backward<
    S: Scalar,
    const C_IN: usize,
    const C_OUT: usize,
    const K: usize,
    const L_IN: usize,
    const L_OUT: usize,
>(
    w: &[[[S; K]; C_IN]; C_OUT],
    x: &[[S; L_IN]; C_IN],
    dy: &[[S; L_OUT]; C_OUT],
    grads: Option<GradsMut<'_, S, C_IN, C_OUT, K>>,
    dx: Option<&mut [[S; L_IN]; C_IN]>,
) {
    const {
        assert!(
            check_lengths(K, L_IN, L_OUT),
            "conv1d needs 1 <= K <= L_IN and L_OUT == L_IN - K + 1"
        )
    };
    if let Some(dx) = dx {
        for (c, dx_c) in dx.iter_mut().enumerate() {
            for (j, dx_j) in dx_c.iter_mut().enumerate() {
                let mut acc = S::ZERO.widen();
                for (w_o, dy_o) in w.iter().zip(dy) {
                    let Some(w_oc) = w_o.get(c) else { continue };
                    for (k, &w_k) in w_oc.iter().enumerate() {
                        if let Some(&g) = j.checked_sub(k).and_then(|t| dy_o.get(t)) {
                            acc = S::mul_acc(acc, w_k, g);
                        }
                    }
                }
                *dx_j = S::narrow(acc);
            }
        }
    }
    if let Some((dw, db)) = grads {
        for ((dw_o, db_o), dy_o) in dw.iter_mut().zip(db.iter_mut()).zip(dy) {
            for (dw_oc, x_c) in dw_o.iter_mut().zip(x) {
                for (k, dw_k) in dw_oc.iter_mut().enumerate() {
                    let mut acc = S::ZERO.widen();
                    for (&g, &x_t) in dy_o.iter().zip(x_c.iter().skip(k)) {
                        acc = S::mul_acc(acc, g, x_t);
                    }
                    *dw_k = dw_k.add(S::narrow(acc));
                }
            }
            let mut acc = S::ZERO.widen();
            for &g in dy_o {
                acc = S::add_acc(acc, g);
            }
            *db_o = db_o.add(S::narrow(acc));
        }
    }
}
