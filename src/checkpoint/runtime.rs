//! [`RuntimePart`]: a checkpoint part whose description and length are known only at run time.

use super::codec::{check_all, put_all, take_all, Checkpointable, Kind, Sink, Source, Tag, Word};
use super::CheckpointError;

/// A part of a checkpoint whose [`Tag`] and length are values, not constants: a parameter
/// slice `[T]`, the run-time-sized optimizers of `dynamic` (feature `std`), and every
/// [`Checkpointable`]. [`Store::save_parts`](super::Store::save_parts) and
/// [`Store::restore_parts`](super::Store::restore_parts) take them (also as trait objects), so a host
/// tool that learns a model's sizes at run time writes and reads the very records a device's
/// [`Store::save`](super::Store::save) and [`Store::restore`](super::Store::restore) do.
///
/// The contract is [`Checkpointable`]'s: [`save_words`](Self::save_words) writes exactly
/// [`words`](Self::words) words; [`check_words`](Self::check_words) reads as many and accepts
/// exactly what [`load_words`](Self::load_words) would, writing nothing.
pub trait RuntimePart {
    /// What the header records about this state.
    fn tag(&self) -> Tag;
    /// Exact payload length in words.
    fn words(&self) -> usize;
    /// Writes the state.
    fn save_words(&self, out: &mut dyn Sink) -> Result<(), CheckpointError>;
    /// Reads [`words`](Self::words) words and checks that [`load_words`](Self::load_words)
    /// would accept them (for this destination's variant), writing nothing.
    fn check_words(&self, src: &mut dyn Source) -> Result<(), CheckpointError>;
    /// Reads [`words`](Self::words) words into `self`; call it only on words that
    /// [`check_words`](Self::check_words) accepted.
    fn load_words(&mut self, src: &mut dyn Source) -> Result<(), CheckpointError>;
}

impl<T: Checkpointable> RuntimePart for T {
    fn tag(&self) -> Tag {
        T::TAG
    }
    fn words(&self) -> usize {
        T::WORDS
    }
    fn save_words(&self, out: &mut dyn Sink) -> Result<(), CheckpointError> {
        self.save(out)
    }
    fn check_words(&self, src: &mut dyn Source) -> Result<(), CheckpointError> {
        T::check(src)
    }
    fn load_words(&mut self, src: &mut dyn Source) -> Result<(), CheckpointError> {
        self.load(src)
    }
}

/// A parameter arena of run-time length: the same words and tag as the `[T; N]` of its length.
impl<T: Word> RuntimePart for [T] {
    fn tag(&self) -> Tag {
        Tag {
            kind: Kind::Params,
            flags: 0,
            number: T::CODE,
            // A slice longer than `u32::MAX` elements cannot fit a slot; its `words` overflows
            // the header's payload word first and the save fails with `TooLarge`.
            elements: u32::try_from(self.len()).unwrap_or(u32::MAX),
        }
    }
    fn words(&self) -> usize {
        self.len().saturating_mul(T::WORDS)
    }
    fn save_words(&self, out: &mut dyn Sink) -> Result<(), CheckpointError> {
        put_all(self, out)
    }
    fn check_words(&self, src: &mut dyn Source) -> Result<(), CheckpointError> {
        check_all::<T, _>(self.len(), src)
    }
    fn load_words(&mut self, src: &mut dyn Source) -> Result<(), CheckpointError> {
        take_all(self, src)
    }
}
