//! [`FrozenParams`]: where the frozen parameters live (RAM or flash).

/// Where a network's frozen parameters live: in RAM (`[S; N]`, writable, so `import` can fill
/// it) or behind a reference (`&[S; N]`, read-only: a `static` or `const` in flash costs no RAM).
pub trait FrozenParams<S, const N: usize> {
    /// The frozen parameters.
    fn params(&self) -> &[S; N];
    /// The frozen parameters, mutably, if they are held in RAM.
    fn params_mut(&mut self) -> Option<&mut [S; N]>;
}

impl<S, const N: usize> FrozenParams<S, N> for [S; N] {
    #[inline]
    fn params(&self) -> &[S; N] {
        self
    }
    #[inline]
    fn params_mut(&mut self) -> Option<&mut [S; N]> {
        Some(self)
    }
}

impl<S, const N: usize> FrozenParams<S, N> for &[S; N] {
    #[inline]
    fn params(&self) -> &[S; N] {
        self
    }
    #[inline]
    fn params_mut(&mut self) -> Option<&mut [S; N]> {
        None
    }
}
