//! [`Pcg32`]: a small seedable generator for drawing mini-batches, reservoir sampling and
//! shuffling.

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

    /// The raw state and increment, for [`crate::checkpoint`].
    pub(crate) const fn raw(&self) -> (u64, u64) {
        (self.state, self.inc)
    }

    /// A generator from a raw state and increment ([`raw`](Pcg32::raw)); `None` for an even
    /// increment, which this type never holds (its streams are odd increments).
    pub(crate) const fn from_raw(state: u64, inc: u64) -> Option<Self> {
        if inc & 1 == 1 {
            Some(Pcg32 { state, inc })
        } else {
            None
        }
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

    /// Shuffles `items` in place (Fisher–Yates: for `i` from the last index down to 1, swap item
    /// `i` with item `j`, `j` drawn by [`below_u64`](Pcg32::below_u64)`(i + 1)`), so every
    /// permutation is equally likely up to the generator's quality; no modulo bias. Slices of
    /// length 0 or 1 draw nothing. For lengths below 2³² it draws exactly what
    /// `for i in (1..n).rev() { items.swap(i, rng.below(i as u32 + 1) as usize) }` draws.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            // `i + 1 <= items.len() <= usize::MAX`, and usize is at most 64 bits on every
            // target Rust supports, so neither conversion loses anything and `j <= i`.
            let j = self.below_u64(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Pcg32;

    /// The same draws as the loop the doc comment names (the one callers wrote by hand).
    #[test]
    fn shuffle_draws_what_the_hand_written_fisher_yates_draws() {
        let mut a: [u16; 50] = core::array::from_fn(|i| i as u16);
        let mut b = a;
        let mut rng = Pcg32::new(9, 4);
        let mut reference = rng;
        rng.shuffle(&mut a);
        for i in (1..b.len()).rev() {
            b.swap(i, reference.below(i as u32 + 1) as usize);
        }
        assert_eq!(a, b);
        assert_eq!(rng, reference, "the same number of draws");
        // A permutation: every value once.
        let mut sorted = a;
        sorted.sort_unstable();
        assert_eq!(sorted, core::array::from_fn(|i| i as u16));
        assert_ne!(a, sorted, "50 items left in order: probability 1/50!");
    }

    #[test]
    fn shuffle_of_empty_and_single_slices_draws_nothing() {
        let mut rng = Pcg32::seeded(1);
        let before = rng;
        rng.shuffle::<u8>(&mut []);
        rng.shuffle(&mut [7u8]);
        assert_eq!(rng, before);
    }

    /// Pearson's χ² over the 6 orders of 3 items after `DRAWS` shuffles.
    fn chi_square(shuffle: impl Fn(&mut Pcg32, &mut [u8; 3])) -> f64 {
        const DRAWS: u32 = 60_000;
        let mut counts = [0u32; 6];
        let mut rng = Pcg32::new(2026, 5);
        for _ in 0..DRAWS {
            let mut v = [0u8, 1, 2];
            shuffle(&mut rng, &mut v);
            // Lehmer code of the permutation: 0..6.
            let first = usize::from(v[0]);
            let second = usize::from(v[1] > v[2]);
            counts[first * 2 + second] += 1;
        }
        let expected = f64::from(DRAWS) / 6.0;
        counts
            .iter()
            .map(|&c| (f64::from(c) - expected).powi(2) / expected)
            .sum()
    }

    /// Every order of 3 items is equally likely. χ² with 5 degrees of freedom exceeds 20.52 with
    /// probability 0.001 for a fair shuffle (the seed is fixed, so the test is deterministic).
    /// The bound can fail: the classic biased shuffle (swap item `i` with any of the `n` items)
    /// gives three orders probability 4/27 and three 5/27: over 60,000 draws each count is off by
    /// about 1,111 from 10,000, so χ² is near 6·1111²/10000 ≈ 740.
    #[test]
    fn shuffle_makes_every_order_of_three_items_equally_likely() {
        const CHI2_5DOF_P001: f64 = 20.52;
        let fair = chi_square(|rng, v| rng.shuffle(v));
        assert!(fair < CHI2_5DOF_P001, "chi-square {fair}");
        let biased = chi_square(|rng, v| {
            for i in (0..v.len()).rev() {
                v.swap(i, rng.below(3) as usize);
            }
        });
        assert!(biased > 500.0, "chi-square {biased}");
    }
}
