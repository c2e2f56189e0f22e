//! Slicing helpers the [`mlp!`](crate::mlp) expansion calls: views of layers in the flat arenas.
//! Not a stable API (`doc(hidden)`).

use crate::nn::Scalar;

/// Takes a dense layer's `W` (`I·O` elements) from the front of `arena` and advances it.
#[doc(hidden)]
#[inline(always)]
pub fn take_w<'a, S, const I: usize, const O: usize>(
    arena: &mut &'a [S],
) -> Option<&'a [[S; I]; O]> {
    let (w, rest) = arena.split_at_checked(I.checked_mul(O)?)?;
    let (rows, _) = w.as_chunks::<I>();
    *arena = rest;
    rows.try_into().ok()
}

/// Takes `N` elements from the front of `arena` and advances it.
#[doc(hidden)]
#[inline(always)]
pub fn take<'a, S, const N: usize>(arena: &mut &'a [S]) -> Option<&'a [S; N]> {
    let (v, rest) = arena.split_first_chunk::<N>()?;
    *arena = rest;
    Some(v)
}

/// Takes `N` elements from the front of a mutable `arena` and advances it.
#[doc(hidden)]
#[inline(always)]
pub fn take_mut<'a, S, const N: usize>(arena: &mut &'a mut [S]) -> Option<&'a mut [S; N]> {
    let (v, rest) = core::mem::take(arena).split_first_chunk_mut::<N>()?;
    *arena = rest;
    Some(v)
}

/// Takes a dense layer's `W` from the back of `arena` and shortens it.
#[doc(hidden)]
#[inline(always)]
pub fn take_w_back<'a, S, const I: usize, const O: usize>(
    arena: &mut &'a [S],
) -> Option<&'a [[S; I]; O]> {
    let at = arena.len().checked_sub(I.checked_mul(O)?)?;
    let (rest, w) = arena.split_at_checked(at)?;
    let (rows, _) = w.as_chunks::<I>();
    *arena = rest;
    rows.try_into().ok()
}

/// Takes `N` elements from the back of `arena` and shortens it.
#[doc(hidden)]
#[inline(always)]
pub fn take_back<'a, S, const N: usize>(arena: &mut &'a [S]) -> Option<&'a [S; N]> {
    let (rest, v) = arena.split_last_chunk::<N>()?;
    *arena = rest;
    Some(v)
}

/// Takes a dense layer's `dW` from the back of a mutable `arena` and shortens it.
#[doc(hidden)]
#[inline(always)]
pub fn take_w_back_mut<'a, S, const I: usize, const O: usize>(
    arena: &mut &'a mut [S],
) -> Option<&'a mut [[S; I]; O]> {
    let at = arena.len().checked_sub(I.checked_mul(O)?)?;
    let (rest, w) = core::mem::take(arena).split_at_mut_checked(at)?;
    let (rows, _) = w.as_chunks_mut::<I>();
    *arena = rest;
    rows.try_into().ok()
}

/// Takes `N` elements from the back of a mutable `arena` and shortens it.
#[doc(hidden)]
#[inline(always)]
pub fn take_back_mut<'a, S, const N: usize>(arena: &mut &'a mut [S]) -> Option<&'a mut [S; N]> {
    let (rest, v) = core::mem::take(arena).split_last_chunk_mut::<N>()?;
    *arena = rest;
    Some(v)
}

/// `db += dy` (the bias gradient of a dense layer whose weights are frozen).
#[doc(hidden)]
#[inline(always)]
pub fn add_into<S: Scalar, const O: usize>(db: &mut [S; O], dy: &[S; O]) {
    for (d, &g) in db.iter_mut().zip(dy) {
        *d = d.add(g);
    }
}

/// A checked LeakyReLU for the macro (the slope was checked at compile time, so the default is
/// never used).
#[doc(hidden)]
#[inline(always)]
pub fn leaky_relu<S: Scalar>(slope: f64) -> crate::nn::LeakyRelu<S> {
    crate::nn::LeakyRelu::new(slope).unwrap_or_default()
}

/// `x` as an array of `I` elements, or [`LengthMismatch`](crate::Error::LengthMismatch).
#[doc(hidden)]
#[inline(always)]
pub fn input_array<S, const I: usize>(x: &[S]) -> Result<&[S; I], crate::Error> {
    x.try_into().map_err(|_| crate::Error::LengthMismatch {
        expected: I,
        found: x.len(),
    })
}
