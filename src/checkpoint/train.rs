//! Checkpoint encodings of the training helpers whose state a resumed run needs besides the
//! parameters and the optimizer: the [`Pcg32`] generator, the [`SampleBuffer`] (samples,
//! generator, counters), and a pair of parts saved as one (for example `(params, buffer)`), so
//! that a power cut loses no buffered sample and the data order resumes exactly.

use super::codec::{put_u64, take_u64, Checkpointable, Kind, Sink, Source, Tag, Word};
use super::CheckpointError;
use crate::train::{Pcg32, Policy, SampleBuffer};

/// 4 words: the state (low word first), then the increment (odd).
impl Checkpointable for Pcg32 {
    const TAG: Tag = Tag {
        kind: Kind::Rng,
        flags: 0,
        number: 0,
        elements: 0,
    };
    const WORDS: usize = 4;
    fn save<W: Sink + ?Sized>(&self, out: &mut W) -> Result<(), CheckpointError> {
        let (state, inc) = self.raw();
        put_u64(out, state)?;
        put_u64(out, inc)
    }
    fn check<R: Source + ?Sized>(src: &mut R) -> Result<(), CheckpointError> {
        take_rng(src).map(|_| ())
    }
    fn load<R: Source + ?Sized>(&mut self, src: &mut R) -> Result<(), CheckpointError> {
        *self = take_rng(src)?;
        Ok(())
    }
}

fn take_rng<R: Source + ?Sized>(src: &mut R) -> Result<Pcg32, CheckpointError> {
    let state = take_u64(src)?;
    let inc = take_u64(src)?;
    Pcg32::from_raw(state, inc).ok_or(CheckpointError::InvalidValue {
        what: "even generator increment",
    })
}

/// `8 + CAP·T::WORDS` words: the policy (0 recent, 1 reservoir), the number of samples held,
/// samples seen (two words), the ring write position, the generator (4 words), then `CAP`
/// sample slots in storage order, the unused ones as zero words. The record is rejected unless
/// it is one the buffer can hold: policy 0 or 1, at most `CAP` samples, at least as many seen as
/// held, a write position 0 unless full and below `CAP`, an odd generator increment, every held
/// sample a valid encoding of `T` and every unused word zero.
impl<T: Word, const CAP: usize> Checkpointable for SampleBuffer<T, CAP> {
    const TAG: Tag = Tag {
        kind: Kind::SampleBuffer,
        flags: 0,
        number: T::CODE,
        elements: CAP as u32,
    };
    const WORDS: usize = 9 + CAP * T::WORDS;
    fn save<W: Sink + ?Sized>(&self, out: &mut W) -> Result<(), CheckpointError> {
        let (items, seen, rng, next) = self.raw();
        out.put(match self.policy() {
            Policy::Recent => 0,
            Policy::Reservoir => 1,
        })?;
        out.put(items.len() as u32)?;
        put_u64(out, seen)?;
        out.put(next as u32)?;
        rng.save(out)?;
        for x in items {
            x.put(out)?;
        }
        for _ in items.len() * T::WORDS..CAP * T::WORDS {
            out.put(0)?;
        }
        Ok(())
    }
    fn check<R: Source + ?Sized>(src: &mut R) -> Result<(), CheckpointError> {
        take_buffer::<T, CAP, R>(src).map(|_| ())
    }
    fn load<R: Source + ?Sized>(&mut self, src: &mut R) -> Result<(), CheckpointError> {
        let (policy, items, seen, rng, next) = take_buffer::<T, CAP, R>(src)?;
        self.set_raw(policy, items, seen, rng, next);
        Ok(())
    }
}

type BufferParts<T, const CAP: usize> = (Policy, heapless::Vec<T, CAP>, u64, Pcg32, usize);

fn take_buffer<T: Word, const CAP: usize, R: Source + ?Sized>(
    src: &mut R,
) -> Result<BufferParts<T, CAP>, CheckpointError> {
    let bad = |what| CheckpointError::InvalidValue { what };
    let policy = match src.take()? {
        0 => Policy::Recent,
        1 => Policy::Reservoir,
        _ => return Err(bad("sample buffer policy")),
    };
    let len = src.take()? as usize;
    let seen = take_u64(src)?;
    let next = src.take()? as usize;
    let rng = take_rng(src)?;
    if len > CAP {
        return Err(bad("sample count above capacity"));
    }
    if seen < len as u64 {
        return Err(bad("fewer samples seen than held"));
    }
    if (len < CAP && next != 0) || (len == CAP && next >= CAP.max(1)) {
        return Err(bad("sample buffer write position"));
    }
    let mut items = heapless::Vec::new();
    for _ in 0..len {
        // At most `CAP` pushes (checked above).
        let _ = items.push(T::take(src)?);
    }
    for _ in len * T::WORDS..CAP * T::WORDS {
        if src.take()? != 0 {
            return Err(bad("unused sample slot not zero"));
        }
    }
    Ok((policy, items, seen, rng, next))
}

/// Two parts saved as one part, `A` then `B` (for example the parameters and a sample buffer,
/// `store.save(&(params, buffer), &opt, &progress)`). The tag is `A`'s, with `B`'s kind in the
/// flags, so a record of `(A, B)` restores only into an `(A, B)` of the same shapes (and sizes,
/// through the payload length).
impl<A: Checkpointable, B: Checkpointable> Checkpointable for (A, B) {
    const TAG: Tag = Tag {
        kind: Kind::Pair,
        flags: B::TAG.kind as u8,
        number: A::TAG.number,
        elements: A::TAG.elements,
    };
    const WORDS: usize = A::WORDS + B::WORDS;
    fn save<W: Sink + ?Sized>(&self, out: &mut W) -> Result<(), CheckpointError> {
        self.0.save(out)?;
        self.1.save(out)
    }
    fn check<R: Source + ?Sized>(src: &mut R) -> Result<(), CheckpointError> {
        A::check(src)?;
        B::check(src)
    }
    fn load<R: Source + ?Sized>(&mut self, src: &mut R) -> Result<(), CheckpointError> {
        self.0.load(src)?;
        self.1.load(src)
    }
}
