//! How state becomes little-endian 32-bit words: [`Word`] for single values, [`Checkpointable`]
//! for whole parts (a parameter arena, an optimizer, a [`Progress`]).

use super::CheckpointError;
use crate::num::fixed::{MiniFloat, RoundingState, I4F12};
use crate::num::StateValue;
use fixed::types::extra::LeEqU32;
use fixed::FixedI32;

/// Where [`Checkpointable::save`] writes words.
pub trait Sink {
    /// Appends one word.
    fn put(&mut self, word: u32) -> Result<(), CheckpointError>;
}

/// Where [`Checkpointable::check`] and [`Checkpointable::load`] read words from.
pub trait Source {
    /// The next word.
    fn take(&mut self) -> Result<u32, CheckpointError>;
}

/// A [`Sink`] over a word slice (for tests and for encoding into RAM).
#[derive(Debug)]
pub struct SliceSink<'a> {
    words: &'a mut [u32],
    len: usize,
}

impl<'a> SliceSink<'a> {
    /// A sink that fills `words` from the start.
    pub fn new(words: &'a mut [u32]) -> Self {
        SliceSink { words, len: 0 }
    }

    /// Words written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Sink for SliceSink<'_> {
    fn put(&mut self, word: u32) -> Result<(), CheckpointError> {
        let capacity = self.words.len() * 4;
        let needed = (self.len + 1) * 4;
        let slot = self
            .words
            .get_mut(self.len)
            .ok_or(CheckpointError::TooLarge {
                needed,
                slot: capacity,
            })?;
        *slot = word;
        self.len += 1;
        Ok(())
    }
}

/// A [`Source`] over a word slice; reading past its end is [`CheckpointError::BadHeader`].
#[derive(Debug, Clone)]
pub struct SliceSource<'a> {
    words: &'a [u32],
    pos: usize,
}

impl<'a> SliceSource<'a> {
    /// A source reading `words` from the start.
    pub fn new(words: &'a [u32]) -> Self {
        SliceSource { words, pos: 0 }
    }
}

impl Source for SliceSource<'_> {
    fn take(&mut self) -> Result<u32, CheckpointError> {
        let w = *self.words.get(self.pos).ok_or(CheckpointError::BadHeader)?;
        self.pos += 1;
        Ok(w)
    }
}

/// A value stored as a fixed number of words: the element types of parameter arenas and
/// optimizer state, and the number type's [`Aux`](crate::num::Num::Aux).
pub trait Word: Copy {
    /// Words per value.
    const WORDS: usize;
    /// The number-type code recorded in the header (`family << 16 | bits << 8 | fraction bits`):
    /// `f32` `0x1_2000`, `f64` `0x1_4000`, `FixedI32<F>` `0x2_2000 | F`, I4F12 `0x2_100C`.
    const CODE: u32;
    /// Writes the value's exact bits.
    fn put<W: Sink + ?Sized>(&self, out: &mut W) -> Result<(), CheckpointError>;
    /// Reads a value, rejecting encodings this type never writes.
    fn take<R: Source + ?Sized>(src: &mut R) -> Result<Self, CheckpointError>;
}

impl Word for () {
    const WORDS: usize = 0;
    const CODE: u32 = 0;
    fn put<W: Sink + ?Sized>(&self, _: &mut W) -> Result<(), CheckpointError> {
        Ok(())
    }
    fn take<R: Source + ?Sized>(_: &mut R) -> Result<Self, CheckpointError> {
        Ok(())
    }
}

impl Word for f32 {
    const WORDS: usize = 1;
    const CODE: u32 = 0x1_2000;
    fn put<W: Sink + ?Sized>(&self, out: &mut W) -> Result<(), CheckpointError> {
        out.put(self.to_bits())
    }
    fn take<R: Source + ?Sized>(src: &mut R) -> Result<Self, CheckpointError> {
        src.take().map(f32::from_bits)
    }
}

impl Word for f64 {
    const WORDS: usize = 2;
    const CODE: u32 = 0x1_4000;
    fn put<W: Sink + ?Sized>(&self, out: &mut W) -> Result<(), CheckpointError> {
        put_u64(out, self.to_bits())
    }
    fn take<R: Source + ?Sized>(src: &mut R) -> Result<Self, CheckpointError> {
        take_u64(src).map(f64::from_bits)
    }
}

impl<Frac: LeEqU32> Word for FixedI32<Frac> {
    const WORDS: usize = 1;
    const CODE: u32 = 0x2_2000 | Frac::U32;
    fn put<W: Sink + ?Sized>(&self, out: &mut W) -> Result<(), CheckpointError> {
        out.put(self.to_bits() as u32)
    }
    fn take<R: Source + ?Sized>(src: &mut R) -> Result<Self, CheckpointError> {
        src.take().map(|w| FixedI32::from_bits(w as i32))
    }
}

/// One word per value (a checkpoint is a sequence of 32-bit words): the raw `i16`
/// sign-extended. A word that is not the sign extension of an `i16` is refused.
impl Word for I4F12 {
    const WORDS: usize = 1;
    const CODE: u32 = 0x2_100C;
    fn put<W: Sink + ?Sized>(&self, out: &mut W) -> Result<(), CheckpointError> {
        out.put(i32::from(self.to_bits()) as u32)
    }
    fn take<R: Source + ?Sized>(src: &mut R) -> Result<Self, CheckpointError> {
        let w = src.take()? as i32;
        i16::try_from(w)
            .map(I4F12::from_bits)
            .map_err(|_| CheckpointError::InvalidValue {
                what: "I4F12 word out of range",
            })
    }
}

impl Word for MiniFloat {
    const WORDS: usize = 1;
    const CODE: u32 = 0x3_2000;
    fn put<W: Sink + ?Sized>(&self, out: &mut W) -> Result<(), CheckpointError> {
        out.put(self.to_bits())
    }
    /// Rejects bit patterns `MiniFloat` never produces (a mantissa without its leading bit other
    /// than all-zero), so a value restores to exactly the bits that were saved.
    fn take<R: Source + ?Sized>(src: &mut R) -> Result<Self, CheckpointError> {
        let bits = src.take()?;
        let value = MiniFloat::from_bits(bits);
        if value.to_bits() == bits {
            Ok(value)
        } else {
            Err(CheckpointError::InvalidValue {
                what: "non-canonical MiniFloat",
            })
        }
    }
}

impl Word for RoundingState {
    const WORDS: usize = 2;
    const CODE: u32 = 0x4_2000;
    /// The generator state, then the mode (0 stochastic, 1 nearest).
    fn put<W: Sink + ?Sized>(&self, out: &mut W) -> Result<(), CheckpointError> {
        out.put(self.state())?;
        out.put(u32::from(!self.is_stochastic()))
    }
    fn take<R: Source + ?Sized>(src: &mut R) -> Result<Self, CheckpointError> {
        let state = src.take()?;
        let mut r = match src.take()? {
            0 => RoundingState::stochastic(state),
            1 => RoundingState::nearest(),
            _ => {
                return Err(CheckpointError::InvalidValue {
                    what: "rounding mode",
                })
            }
        };
        r.set_state(state);
        Ok(r)
    }
}

impl Word for u32 {
    const WORDS: usize = 1;
    const CODE: u32 = 0x5_2000;
    fn put<W: Sink + ?Sized>(&self, out: &mut W) -> Result<(), CheckpointError> {
        out.put(*self)
    }
    fn take<R: Source + ?Sized>(src: &mut R) -> Result<Self, CheckpointError> {
        src.take()
    }
}

impl Word for u8 {
    const WORDS: usize = 1;
    const CODE: u32 = 0x5_0800;
    fn put<W: Sink + ?Sized>(&self, out: &mut W) -> Result<(), CheckpointError> {
        out.put(u32::from(*self))
    }
    /// Rejects a word above 255, which `put` never writes.
    fn take<R: Source + ?Sized>(src: &mut R) -> Result<Self, CheckpointError> {
        u8::try_from(src.take()?).map_err(|_| CheckpointError::InvalidValue { what: "u8 word" })
    }
}

/// An array of values (a sample's features), element by element.
impl<T: Word, const K: usize> Word for [T; K] {
    const WORDS: usize = K * T::WORDS;
    const CODE: u32 = T::CODE;
    fn put<W: Sink + ?Sized>(&self, out: &mut W) -> Result<(), CheckpointError> {
        put_all(self, out)
    }
    fn take<R: Source + ?Sized>(src: &mut R) -> Result<Self, CheckpointError> {
        let mut v = heapless::Vec::<T, K>::new();
        for _ in 0..K {
            // `K` pushes into a `Vec` of capacity `K`: never full.
            let _ = v.push(T::take(src)?);
        }
        v.into_array().map_err(|_| CheckpointError::BadHeader)
    }
}

/// A pair of values (a sample and its label), first then second.
impl<A: Word, B: Word> Word for (A, B) {
    const WORDS: usize = A::WORDS + B::WORDS;
    const CODE: u32 = A::CODE;
    fn put<W: Sink + ?Sized>(&self, out: &mut W) -> Result<(), CheckpointError> {
        self.0.put(out)?;
        self.1.put(out)
    }
    fn take<R: Source + ?Sized>(src: &mut R) -> Result<Self, CheckpointError> {
        Ok((A::take(src)?, B::take(src)?))
    }
}

pub(crate) fn put_u64<W: Sink + ?Sized>(out: &mut W, x: u64) -> Result<(), CheckpointError> {
    out.put(x as u32)?;
    out.put((x >> 32) as u32)
}

pub(crate) fn take_u64<R: Source + ?Sized>(src: &mut R) -> Result<u64, CheckpointError> {
    let lo = src.take()?;
    let hi = src.take()?;
    Ok(u64::from(lo) | (u64::from(hi) << 32))
}

/// What kind of state a part holds, recorded in the header and checked on restore.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
#[non_exhaustive]
pub enum Kind {
    /// No state (`()`).
    Nothing = 0,
    /// A parameter arena `[S; N]`.
    Params = 1,
    /// A [`Progress`].
    Progress = 2,
    /// [`Sgd`](crate::optim::Sgd).
    Sgd = 0x10,
    /// [`Momentum`](crate::optim::Momentum).
    Momentum = 0x11,
    /// [`Adam`](crate::optim::Adam) (flag bit 0: AMSGrad).
    Adam = 0x12,
    /// [`RmsProp`](crate::optim::RmsProp) (flag bit 0: momentum buffer, bit 1: centered).
    RmsProp = 0x13,
    /// [`Adagrad`](crate::optim::Adagrad).
    Adagrad = 0x14,
    /// [`Lion`](crate::optim::Lion).
    Lion = 0x15,
    /// A [`Pcg32`](crate::train::Pcg32) generator.
    Rng = 0x20,
    /// A [`SampleBuffer`](crate::train::SampleBuffer) (flag bit 0: [`Policy::Reservoir`](crate::train::Policy::Reservoir)
    /// is not recorded here but in the payload; the number code is the sample's [`Word::CODE`],
    /// the element count its capacity).
    SampleBuffer = 0x21,
    /// Two parts saved as one, `(A, B)`: the number code and element count are `A`'s, the flags
    /// `B`'s kind.
    Pair = 0x30,
}

/// The header's description of one part: 4 words (`kind | flags << 8`, number-type code,
/// element count, payload words).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag {
    /// The kind of state.
    pub kind: Kind,
    /// Variant flags (which optional buffers exist).
    pub flags: u8,
    /// The number-type code ([`Word::CODE`] of the parameter type), 0 if none.
    pub number: u32,
    /// Parameter count `N`, 0 if none.
    pub elements: u32,
}

impl Tag {
    /// `kind | flags << 8`, as stored.
    pub const fn kind_code(&self) -> u32 {
        self.kind as u32 | (self.flags as u32) << 8
    }
}

/// State that can be saved to and restored from a checkpoint, word by word.
///
/// Implemented for parameter arenas `[S; N]`, every optimizer (generic over its number type and
/// size), [`Progress`] and `()` (nothing). The length is a compile-time constant, so a
/// checkpoint's size is known before anything is written.
pub trait Checkpointable {
    /// What the header records about this state.
    const TAG: Tag;
    /// Exact payload length in words.
    const WORDS: usize;
    /// Writes the state: exactly [`WORDS`](Self::WORDS) words.
    fn save<W: Sink + ?Sized>(&self, out: &mut W) -> Result<(), CheckpointError>;
    /// Reads [`WORDS`](Self::WORDS) words and checks that [`load`](Self::load) would accept
    /// them, without writing anywhere.
    fn check<R: Source + ?Sized>(src: &mut R) -> Result<(), CheckpointError>;
    /// Reads [`WORDS`](Self::WORDS) words into `self`. Call it only on words that
    /// [`check`](Self::check) accepted: on an error part of `self` may have been written.
    fn load<R: Source + ?Sized>(&mut self, src: &mut R) -> Result<(), CheckpointError>;
}

impl Checkpointable for () {
    const TAG: Tag = Tag {
        kind: Kind::Nothing,
        flags: 0,
        number: 0,
        elements: 0,
    };
    const WORDS: usize = 0;
    fn save<W: Sink + ?Sized>(&self, _: &mut W) -> Result<(), CheckpointError> {
        Ok(())
    }
    fn check<R: Source + ?Sized>(_: &mut R) -> Result<(), CheckpointError> {
        Ok(())
    }
    fn load<R: Source + ?Sized>(&mut self, _: &mut R) -> Result<(), CheckpointError> {
        Ok(())
    }
}

impl<T: Word, const N: usize> Checkpointable for [T; N] {
    const TAG: Tag = Tag {
        kind: Kind::Params,
        flags: 0,
        number: T::CODE,
        elements: N as u32,
    };
    const WORDS: usize = N * T::WORDS;
    fn save<W: Sink + ?Sized>(&self, out: &mut W) -> Result<(), CheckpointError> {
        put_all(self, out)
    }
    fn check<R: Source + ?Sized>(src: &mut R) -> Result<(), CheckpointError> {
        check_all::<T, R>(N, src)
    }
    fn load<R: Source + ?Sized>(&mut self, src: &mut R) -> Result<(), CheckpointError> {
        take_all(self, src)
    }
}

pub(crate) fn put_all<T: Word, W: Sink + ?Sized>(
    values: &[T],
    out: &mut W,
) -> Result<(), CheckpointError> {
    values.iter().try_for_each(|v| v.put(out))
}

pub(crate) fn check_all<T: Word, R: Source + ?Sized>(
    n: usize,
    src: &mut R,
) -> Result<(), CheckpointError> {
    (0..n).try_for_each(|_| T::take(src).map(|_| ()))
}

/// [`check_all`] for a buffer of squares: each value must also be
/// [`square_state_ok`](StateValue::square_state_ok).
pub(crate) fn check_squares<T: Word + StateValue, R: Source + ?Sized>(
    n: usize,
    src: &mut R,
) -> Result<(), CheckpointError> {
    (0..n).try_for_each(|_| {
        if T::take(src)?.square_state_ok() {
            Ok(())
        } else {
            Err(CheckpointError::InvalidValue {
                what: "negative or NaN value in a buffer of squares",
            })
        }
    })
}

pub(crate) fn take_all<T: Word, R: Source + ?Sized>(
    values: &mut [T],
    src: &mut R,
) -> Result<(), CheckpointError> {
    values.iter_mut().try_for_each(|v| {
        *v = T::take(src)?;
        Ok(())
    })
}

/// Where a training run stands, saved with the parameters and optimizer so that a resumed run
/// continues exactly: the schedule's epoch ([`Scheduler::epoch`](crate::train::Scheduler::epoch);
/// resume with [`Scheduler::at`](crate::train::Scheduler::at)), a step count, and four words the
/// application may use for anything else it must resume (a data generator's state, a sample
/// index). 28 bytes stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// The schedule's epoch count.
    pub epoch: u32,
    /// Training steps (or samples) taken so far.
    pub step: u64,
    /// Application words.
    pub user: [u32; 4],
}

impl Progress {
    /// The start of a run: everything zero.
    pub const ZERO: Progress = Progress {
        epoch: 0,
        step: 0,
        user: [0; 4],
    };
}

impl Checkpointable for Progress {
    const TAG: Tag = Tag {
        kind: Kind::Progress,
        flags: 0,
        number: 0,
        elements: 0,
    };
    const WORDS: usize = 7;
    fn save<W: Sink + ?Sized>(&self, out: &mut W) -> Result<(), CheckpointError> {
        out.put(self.epoch)?;
        put_u64(out, self.step)?;
        self.user.iter().try_for_each(|&w| out.put(w))
    }
    fn check<R: Source + ?Sized>(src: &mut R) -> Result<(), CheckpointError> {
        (0..Self::WORDS).try_for_each(|_| src.take().map(|_| ()))
    }
    fn load<R: Source + ?Sized>(&mut self, src: &mut R) -> Result<(), CheckpointError> {
        self.epoch = src.take()?;
        self.step = take_u64(src)?;
        self.user.iter_mut().try_for_each(|w| {
            *w = src.take()?;
            Ok(())
        })
    }
}
