//! [`Split`]: one parameter tensor stored as two runs, read as one.
//!
//! A layer that trains only its first `k` output channels (a sub-tensor sparse update) keeps
//! those channels' weights in the trainable arena, where the optimizer has state for them, and
//! the others in the frozen arena. Weights are output-major (OHWI, `[out][in]`), so the first
//! `k` channels are one leading run and the rest a trailing one. The layer functions read a
//! tensor through [`Params`], implemented for one slice (the usual case, unchanged) and for a
//! [`Split`].

use core::iter::Chain;
use core::slice::{ChunksExact, Iter};

/// Read access to a parameter tensor, in one run or two.
pub trait Params<'a, S: 'a>: Copy {
    /// Rows of `per` elements, in order.
    type Rows: Iterator<Item = &'a [S]>;
    /// Elements, in order.
    type Elems: Iterator<Item = &'a S>;
    /// Number of elements.
    fn len(self) -> usize;
    /// Whether there are no elements.
    fn is_empty(self) -> bool {
        self.len() == 0
    }
    /// The rows of `per` elements (`per > 0`; a run that is not whole rows ends early).
    fn rows(self, per: usize) -> Self::Rows;
    /// The elements.
    fn elems(self) -> Self::Elems;
    /// Element `i`.
    fn at(self, i: usize) -> Option<&'a S>;
    /// The tensor's two runs, for a kernel that walks each with strides (`None` where the
    /// implementation has no such runs).
    #[doc(hidden)]
    fn runs(self) -> Option<[&'a [S]; 2]> {
        None
    }
}

impl<'a, S: 'a> Params<'a, S> for &'a [S] {
    type Rows = ChunksExact<'a, S>;
    type Elems = Iter<'a, S>;
    #[inline(always)]
    fn len(self) -> usize {
        <[S]>::len(self)
    }
    #[inline(always)]
    fn rows(self, per: usize) -> Self::Rows {
        self.chunks_exact(per.max(1))
    }
    #[inline(always)]
    fn elems(self) -> Self::Elems {
        self.iter()
    }
    #[inline(always)]
    fn at(self, i: usize) -> Option<&'a S> {
        self.get(i)
    }
    #[inline(always)]
    fn runs(self) -> Option<[&'a [S]; 2]> {
        Some([self, &[]])
    }
}

/// A tensor whose leading elements are in `head` and the rest in `tail`; `head` holds whole
/// rows (output channels).
#[derive(Debug)]
pub struct Split<'a, S> {
    /// The leading output channels (trainable).
    pub head: &'a [S],
    /// The remaining output channels (frozen).
    pub tail: &'a [S],
}

impl<S> Clone for Split<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for Split<'_, S> {}

impl<'a, S: 'a> Params<'a, S> for Split<'a, S> {
    type Rows = Chain<ChunksExact<'a, S>, ChunksExact<'a, S>>;
    type Elems = Chain<Iter<'a, S>, Iter<'a, S>>;
    #[inline(always)]
    fn len(self) -> usize {
        self.head.len().saturating_add(self.tail.len())
    }
    #[inline(always)]
    fn rows(self, per: usize) -> Self::Rows {
        let per = per.max(1);
        self.head
            .chunks_exact(per)
            .chain(self.tail.chunks_exact(per))
    }
    #[inline(always)]
    fn elems(self) -> Self::Elems {
        self.head.iter().chain(self.tail)
    }
    #[inline(always)]
    fn at(self, i: usize) -> Option<&'a S> {
        match i.checked_sub(self.head.len()) {
            None => self.head.get(i),
            Some(j) => self.tail.get(j),
        }
    }
    #[inline(always)]
    fn runs(self) -> Option<[&'a [S]; 2]> {
        Some([self.head, self.tail])
    }
}
