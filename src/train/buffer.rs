//! [`SampleBuffer`]: a fixed-capacity store of training samples for mini-batches and replay.

use super::{Pcg32, TrainError};

/// Which samples a full [`SampleBuffer`] keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// The last `CAP` samples pushed: a new sample overwrites the oldest.
    Recent,
    /// A uniform random sample of everything pushed so far (reservoir sampling, Vitter's
    /// Algorithm R): after `n ≥ CAP` pushes, every sample pushed is in the buffer with
    /// probability `CAP / n`, independently of when it came. This is what replay on a device
    /// wants: old data is not forgotten just because it is old.
    Reservoir,
}

/// What [`SampleBuffer::push`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed<T> {
    /// The buffer had room; the sample was added.
    Stored,
    /// The buffer was full; the sample took the place of this one (the oldest under
    /// [`Policy::Recent`], a uniformly chosen one under [`Policy::Reservoir`]).
    Replaced(T),
    /// [`Policy::Reservoir`] only: the buffer was full and the draw kept the old samples; the
    /// new sample was not stored.
    Discarded,
}

/// Up to `CAP` samples of type `T`, stored inline, with a seedable generator for drawing
/// mini-batches without replacement.
///
/// Storage is a [`heapless::Vec<T, CAP>`]; under [`Policy::Recent`] it is used as a ring (a write
/// position moves over it once it is full), under [`Policy::Reservoir`] a full buffer replaces a
/// random slot. Nothing is allocated, and [`new`](SampleBuffer::new) is `const`, so the buffer can
/// be a `static` (in `.bss`).
///
/// # Order and indices
/// Index `i` ([`get`](SampleBuffer::get), [`iter`](SampleBuffer::iter),
/// [`draw_batch`](SampleBuffer::draw_batch)) counts from the oldest sample under
/// [`Policy::Recent`] (`get(len − 1)` is the newest); under [`Policy::Reservoir`] it is the
/// storage slot, whose order carries no meaning.
///
/// # RAM
/// `size_of::<SampleBuffer<T, CAP>>()` is the sum of
/// - `size_of::<heapless::Vec<T, CAP>>()`: `CAP · size_of::<T>()` plus a `usize` length, rounded
///   up to `T`'s alignment;
/// - 8 bytes (`u64` count of samples seen), 16 bytes ([`Pcg32`]), one `usize` (ring write
///   position) and 1 byte ([`Policy`]),
///
/// rounded up to the alignment, `max(align_of::<T>(), 8)` (a `u64` is 8-aligned on Cortex-M too,
/// per the AAPCS). On a 32-bit target with `T = [f32; 4]` (16 bytes) and `CAP = 64`:
/// `(1024 + 4) + 8 + 16 + 4 + 1 = 1057 → 1064` bytes; on a 64-bit host, `1072`. Tested.
///
/// ```
/// use edgetune::train::{Policy, Pushed, SampleBuffer};
/// let mut buf = SampleBuffer::<(f32, u8), 3>::new(Policy::Recent, 42);
/// for (i, x) in [0.5f32, 1.5, 2.5, 3.5].into_iter().enumerate() {
///     let pushed = buf.push((x, i as u8));
///     assert_eq!(pushed == Pushed::Replaced((0.5, 0)), i == 3); // the oldest goes first
/// }
/// let mut batch = [0usize; 2];
/// buf.draw_batch(&mut batch).unwrap(); // two distinct indices in 0..3
/// assert_ne!(batch[0], batch[1]);
/// let (x, label) = *buf.get(batch[0]).unwrap();
/// assert!(x > 1.0 && label >= 1);
/// ```
#[derive(Clone, Debug)]
pub struct SampleBuffer<T, const CAP: usize> {
    items: heapless::Vec<T, CAP>,
    seen: u64,
    rng: Pcg32,
    next: usize,
    policy: Policy,
}

impl<T: Copy, const CAP: usize> SampleBuffer<T, CAP> {
    /// An empty buffer with the given policy, its generator seeded with `seed`
    /// ([`Pcg32::seeded`]).
    pub const fn new(policy: Policy, seed: u64) -> Self {
        SampleBuffer {
            items: heapless::Vec::new(),
            seen: 0,
            rng: Pcg32::seeded(seed),
            next: 0,
            policy,
        }
    }

    /// Every part of the buffer, for [`crate::checkpoint`]: samples in storage order, samples
    /// seen, generator, ring write position.
    pub(crate) fn raw(&self) -> (&[T], u64, Pcg32, usize) {
        (&self.items, self.seen, self.rng, self.next)
    }

    /// Replaces every part of the buffer (policy included), for [`crate::checkpoint`], which has
    /// validated them: `items.len() ≤ CAP`, `next` 0 unless full and below `CAP`, `seen ≥ len`.
    pub(crate) fn set_raw(
        &mut self,
        policy: Policy,
        items: heapless::Vec<T, CAP>,
        seen: u64,
        rng: Pcg32,
        next: usize,
    ) {
        *self = SampleBuffer {
            items,
            seen,
            rng,
            next,
            policy,
        };
    }

    /// The policy chosen at construction.
    pub const fn policy(&self) -> Policy {
        self.policy
    }

    /// The number of samples held (at most `CAP`).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether no sample is held.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether `CAP` samples are held.
    pub fn is_full(&self) -> bool {
        self.items.is_full()
    }

    /// The capacity, `CAP`.
    pub const fn capacity(&self) -> usize {
        CAP
    }

    /// How many samples were ever pushed (saturating at `u64::MAX`, which no device reaches).
    pub const fn seen(&self) -> u64 {
        self.seen
    }

    /// The generator used for reservoir draws and batches (for example to reseed it).
    pub fn rng_mut(&mut self) -> &mut Pcg32 {
        &mut self.rng
    }

    /// Adds a sample, reporting what happened (see [`Policy`] and [`Pushed`]).
    pub fn push(&mut self, sample: T) -> Pushed<T> {
        self.seen = self.seen.saturating_add(1);
        let slot = match self.items.push(sample) {
            Ok(()) => return Pushed::Stored,
            Err(_) => match self.policy {
                Policy::Recent => {
                    let slot = self.next;
                    self.next = if slot + 1 >= CAP { 0 } else { slot + 1 };
                    slot
                }
                Policy::Reservoir => {
                    // Sample number `seen` (1-based) is kept with probability CAP / seen.
                    let j = self.rng.below_u64(self.seen);
                    match usize::try_from(j) {
                        Ok(j) if j < CAP => j,
                        _ => return Pushed::Discarded,
                    }
                }
            },
        };
        match self.items.get_mut(slot) {
            Some(old) => Pushed::Replaced(core::mem::replace(old, sample)),
            // Unreachable: `slot < CAP = len` when full.
            None => Pushed::Discarded,
        }
    }

    /// The storage slot of index `i` (see "Order and indices"), if `i < len`.
    fn slot(&self, i: usize) -> Option<usize> {
        let len = self.items.len();
        if i >= len {
            return None;
        }
        // `next` is 0 unless the buffer is full (`len = CAP`), and `next < len`, so one
        // subtraction wraps (no division: Cortex-M0 has none).
        let j = self.next + i;
        Some(if j >= len { j - len } else { j })
    }

    /// The sample at index `i`, if `i < len`.
    pub fn get(&self, i: usize) -> Option<&T> {
        self.slot(i).and_then(|j| self.items.get(j))
    }

    /// The samples in index order (oldest first under [`Policy::Recent`]).
    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        let (newer, older) = self.items.split_at(self.next.min(self.items.len()));
        older.iter().chain(newer)
    }

    /// The samples in storage order (no order under [`Policy::Reservoir`]; under
    /// [`Policy::Recent`] a rotation of [`iter`](SampleBuffer::iter)'s order).
    pub fn as_slice(&self) -> &[T] {
        &self.items
    }

    /// Fills `out` with `out.len()` distinct indices in `0..len`, a uniformly random subset
    /// (Floyd's algorithm: one generator draw per index and at most `out.len()²/2` comparisons,
    /// no scratch memory). The order within the batch is not uniformly random; for a summed
    /// gradient it does not matter.
    ///
    /// # Errors
    /// [`TrainError::BatchTooLarge`] if `out.len() > len`; nothing is written and the
    /// generator does not advance.
    pub fn draw_batch(&mut self, out: &mut [usize]) -> Result<(), TrainError> {
        let n = self.items.len();
        let b = out.len();
        if b > n {
            return Err(TrainError::BatchTooLarge {
                requested: b,
                available: n,
            });
        }
        // For j = n−b .. n−1: t uniform in 0..=j; take t unless already taken, else take j.
        for k in 0..b {
            let j = n - b + k;
            let t = self.index_below(j + 1);
            let (chosen, rest) = out.split_at_mut(k);
            if let Some(slot) = rest.first_mut() {
                *slot = if chosen.contains(&t) { j } else { t };
            }
        }
        Ok(())
    }

    /// A uniform index in `0..bound` (`bound >= 1`), with 32-bit arithmetic when it fits.
    fn index_below(&mut self, bound: usize) -> usize {
        match u32::try_from(bound) {
            Ok(b) => self.rng.below(b) as usize,
            Err(_) => usize::try_from(self.rng.below_u64(bound as u64)).unwrap_or(0),
        }
    }

    /// Forgets every sample and the count seen (the generator keeps its state).
    pub fn clear(&mut self) {
        self.items.clear();
        self.seen = 0;
        self.next = 0;
    }
}

// The documented layout, checked at compile time on every target the crate is built for
// (64-bit hosts and the 32-bit Cortex-M cross builds alike).
const _: () = {
    use core::mem::size_of;
    let expected = if size_of::<usize>() == 8 { 1072 } else { 1064 };
    assert!(size_of::<SampleBuffer<[f32; 4], 64>>() == expected);
    assert!(size_of::<Pcg32>() == 16);
};
