//! [`Tensor`]: arrays of any fixed shape seen as one flat run of elements.

/// A fixed-shape array of `S`, viewed flat.
///
/// Implemented for `[S; N]` and `[[S; N]; M]` (for example a convolution's `[[S; L]; C]`
/// activations), so element-wise functions (activations, mean squared error) take two or three
/// tensors of the *same type* and their shapes agree at compile time.
pub trait Tensor<S> {
    /// The number of elements.
    const LEN: usize;
    /// The elements in memory order.
    fn flat(&self) -> &[S];
    /// The elements in memory order, mutably.
    fn flat_mut(&mut self) -> &mut [S];
}

impl<S, const N: usize> Tensor<S> for [S; N] {
    const LEN: usize = N;
    #[inline(always)]
    fn flat(&self) -> &[S] {
        self
    }
    #[inline(always)]
    fn flat_mut(&mut self) -> &mut [S] {
        self
    }
}

impl<S, const N: usize, const M: usize> Tensor<S> for [[S; N]; M] {
    const LEN: usize = N * M;
    #[inline(always)]
    fn flat(&self) -> &[S] {
        self.as_flattened()
    }
    #[inline(always)]
    fn flat_mut(&mut self) -> &mut [S] {
        self.as_flattened_mut()
    }
}
