//! Flatten: a no-op on the layout.
//!
//! Every map in [`nn`](super) is already a flat, channels-last slice (`[H][W][C]` row-major), so
//! flattening before a [`dense`](super::dense) layer moves no data: the dense layer reads the same
//! buffer as `H·W·C` inputs, and its `dx` is the map's gradient. The one thing to get right is the
//! order, which is TensorFlow's (`Flatten` on NHWC). A torch model flattens NCHW (`[C][H][W]`), so
//! the exporter permutes the columns of the first dense layer after a flatten:
//! `W_here[o][(h·W + w)·C + c] = W_torch[o][(c·H + h)·W + w]`.

/// Views a map as the flat vector a dense layer reads: returns `x` itself (no copy, no change).
#[inline(always)]
pub const fn flatten<S>(x: &[S]) -> &[S] {
    x
}

/// The column of a torch (`[C][H][W]`-flattened) dense weight row that feeds this crate's input
/// `(h·w_len + w)·c_len + c` (channels-last): `(c·h_len + h)·w_len + w`. Saturating.
pub const fn torch_flat_index(h: usize, w: usize, c: usize, h_len: usize, w_len: usize) -> usize {
    c.saturating_mul(h_len)
        .saturating_add(h)
        .saturating_mul(w_len)
        .saturating_add(w)
}
