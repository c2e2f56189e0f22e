//! [`Pcg32`]: a small seedable generator for drawing mini-batches and for reservoir sampling.

/// PCG32 (O'Neill's PCG-XSH-RR 64/32): a 64-bit linear congruential state and a 32-bit output
/// permutation (xorshift-high, then a random rotation). 16 bytes: the state and the stream's odd
/// increment.
///
/// Good statistical quality for its size and cheap enough for a Cortex-M0 (one 64-bit multiply
/// and add per draw); it is not cryptographic. Seeding follows the reference implementation's
/// `pcg32_srandom_r`, so `Pcg32::new(seed, stream)` produces the reference's sequence for the
/// same `(initstate, initseq)` (tested against its published output).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pcg32 {
    state: u64,
    inc: u64,
}

/// The LCG multiplier of the 64-bit PCG family.
const MULTIPLIER: u64 = 6_364_136_223_846_793_005;

impl Pcg32 {
    /// The stream used by [`seeded`](Pcg32::seeded).
    pub const DEFAULT_STREAM: u64 = 0xda3e_39cb_94b9_5bdb;

    /// A generator from a seed and a stream selector (two different streams give unrelated
    /// sequences for the same seed).
    pub const fn new(seed: u64, stream: u64) -> Self {
        let mut rng = Pcg32 {
            state: 0,
            inc: (stream << 1) | 1,
        };
        rng.advance();
        rng.state = rng.state.wrapping_add(seed);
        rng.advance();
        rng
    }

    /// A generator from a seed, on [`DEFAULT_STREAM`](Pcg32::DEFAULT_STREAM).
    pub const fn seeded(seed: u64) -> Self {
        Self::new(seed, Self::DEFAULT_STREAM)
    }

    const fn advance(&mut self) {
        self.state = self.state.wrapping_mul(MULTIPLIER).wrapping_add(self.inc);
    }

    /// The next 32 uniformly distributed bits.
    pub const fn next_u32(&mut self) -> u32 {
        let old = self.state;
        self.advance();
        let xorshifted = (((old >> 18) ^ old) >> 27) as u32;
        let rot = (old >> 59) as u32;
        xorshifted.rotate_right(rot)
    }

    /// The next 64 uniformly distributed bits (two draws, high half first).
    pub const fn next_u64(&mut self) -> u64 {
        let hi = self.next_u32() as u64;
        let lo = self.next_u32() as u64;
        (hi << 32) | lo
    }

    /// A uniform integer in `0..bound`, without modulo bias (draws below `2³² mod bound` are
    /// rejected and redrawn; fewer than one draw in two is rejected for any bound, so the
    /// expected number of draws is below 2). `bound = 0` returns 0.
    pub const fn below(&mut self, bound: u32) -> u32 {
        if bound == 0 {
            return 0;
        }
        let threshold = bound.wrapping_neg() % bound;
        loop {
            let r = self.next_u32();
            if r >= threshold {
                return r % bound;
            }
        }
    }

    /// [`below`](Pcg32::below) for a 64-bit bound (two draws per try).
    pub const fn below_u64(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            return 0;
        }
        if bound <= u32::MAX as u64 {
            return self.below(bound as u32) as u64;
        }
        let threshold = bound.wrapping_neg() % bound;
        loop {
            let r = self.next_u64();
            if r >= threshold {
                return r % bound;
            }
        }
    }
}
