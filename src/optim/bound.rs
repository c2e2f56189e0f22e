//! What an optimizer knows, between steps, of the magnitudes in its own state buffers, so that
//! the overflow check of a step need not read them again.
//!
//! The check of a step needs every input inside its safe range `[−2^k, 2^k)`. The parameters and
//! gradients are the caller's and are read every step; the state buffers are the optimizer's own
//! and change only by its steps (a checkpoint's load or any other mutable access forgets what is
//! known). Adam's moments are convex combinations of their old values and the new gradient (or
//! its square), so a step cannot move them much beyond the larger of the two:
//!
//! - `m ← m + w1·(g − m)` (or `g − (1 − w1)·(g − m)`, torch's other rounding) with `w1` in
//!   `[0, 1]`: the exact value lies between `m` and `g`; the two roundings inside and the final
//!   one add at most `(2·2^-24 + 2^-48)·|w1·(g − m)|` with `w1 < 1/2` (or `1 − w1 ≤ 1/2`)
//!   and `|g − m| ≤ 2·max`, then `2^-24`: `|m'| ≤ max(|m|, |g|)·(1 + 2^-21)`.
//! - `v ← v·β2 + (1 − β2)·g²` with both coefficients rounded to `T` (their sum at most
//!   `1 + 2^-24`) and three roundings: `v' ≤ max(v, g²)·(1 + 2^-24)^4 ≤ max(v, g²)·(1 + 2^-21)`.
//!
//! A [`Bound`] holds `2^e` and the number of steps `s` since `e` was set: every value `x` of the
//! buffer has `|x| ≤ 2^e·(1 + 2^-21)^s`. `s` stops at 255, where the factor is below
//! `1 + 2^-12.9 < 2`, so `|x| < 2^(e + 1)` and the buffer is inside `[−2^k, 2^k)` when
//! `e + 1 ≤ k`. Past 255 steps, or after an input it cannot bound, the buffer is read again. The
//! same holds in `f64`, whose roundings are smaller.

/// The largest exponent a bound holds (an `i8`, less the mark of "unknown"): a check reads a
/// buffer at `2^min(k − 1, LARGEST_READ_EXP)`.
pub(crate) const LARGEST_READ_EXP: i32 = i8::MAX as i32 - 1;

/// What is known of one state buffer (see the module docs): `|x| ≤ 2^exp·(1 + 2^-21)^steps`
/// for every value, or nothing when `exp` is [`Bound::UNKNOWN_EXP`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bound {
    exp: i8,
    steps: u8,
}

impl Bound {
    /// Nothing known.
    const UNKNOWN_EXP: i8 = i8::MAX;
    const UNKNOWN: Bound = Bound {
        exp: Self::UNKNOWN_EXP,
        steps: 0,
    };
    /// A zeroed buffer: every value is 0, below any power of two.
    const ZERO: Bound = Bound {
        exp: i8::MIN,
        steps: 0,
    };

    /// Whether every value is known to lie in `[−2^k, 2^k)`.
    fn within(self, k: i32) -> bool {
        self.exp != Self::UNKNOWN_EXP && i32::from(self.exp) < k
    }

    /// After a step whose inputs (`g`, or `g²` for a buffer of squares) have magnitudes at most
    /// `2^input` (`None`: not bounded).
    fn stepped(&mut self, input: Option<i32>) {
        *self = match (input, self.steps.checked_add(1)) {
            (Some(e), Some(steps)) if self.exp != Self::UNKNOWN_EXP => {
                match i8::try_from(e.max(i32::from(self.exp))) {
                    Ok(exp) if exp != Self::UNKNOWN_EXP => Bound { exp, steps },
                    _ => Self::UNKNOWN,
                }
            }
            _ => Self::UNKNOWN,
        };
    }

    /// Whether every value lies in `[−2^k, 2^k)`: known from the bound, or else proven by
    /// `read(e)`, a read of the values against `2^e` at `e = k − 1` (at most
    /// [`LARGEST_READ_EXP`]), which leaves a bound the next steps keep; a value in
    /// `[2^(k−1), 2^k)` makes it `false`. `whole`: the read covers the whole buffer.
    fn within_or_read(&mut self, k: i32, whole: bool, read: impl FnOnce(i32) -> bool) -> bool {
        if self.within(k) {
            return true;
        }
        let e = (k - 1).min(LARGEST_READ_EXP);
        let proven = read(e);
        if proven {
            self.read(e, whole);
        }
        proven
    }

    /// After reading the values of `range` and finding them below `2^e`; `whole`: the range is
    /// the whole buffer.
    fn read(&mut self, e: i32, whole: bool) {
        let exp = match i8::try_from(e) {
            Ok(exp) if exp != Self::UNKNOWN_EXP => exp,
            _ => {
                *self = Self::UNKNOWN;
                return;
            }
        };
        if whole {
            *self = Bound { exp, steps: 0 };
        } else if self.exp != Self::UNKNOWN_EXP {
            // The other values keep their bound; these lie below `2^e` with any step count.
            self.exp = self.exp.max(exp);
        }
    }
}

/// What an optimizer knows, between steps, of the magnitudes in its state buffers: a bound for
/// the buffer of first moments and one for the buffers of squares (see the module docs of
/// `optim::bound`). Four bytes; the overflow check consults it instead of reading a buffer whose
/// bound lies inside the step's safe range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateBound {
    first: Bound,
    squares: Bound,
}

impl StateBound {
    /// Nothing known: the next check reads every buffer.
    pub const UNKNOWN: StateBound = StateBound {
        first: Bound::UNKNOWN,
        squares: Bound::UNKNOWN,
    };

    /// The bound of zeroed buffers.
    pub const ZERO: StateBound = StateBound {
        first: Bound::ZERO,
        squares: Bound::ZERO,
    };

    /// Whether every value of the first-moment buffer lies in `[−2^k, 2^k)`, by the bound or
    /// else by `read(e)`, which reads the buffer (or the `whole` of it) against `2^e`
    /// (see `Bound::within_or_read`).
    pub(crate) fn first_within_or_read(
        &mut self,
        k: i32,
        whole: bool,
        read: impl FnOnce(i32) -> bool,
    ) -> bool {
        self.first.within_or_read(k, whole, read)
    }

    /// [`first_within_or_read`](Self::first_within_or_read) for the buffers of squares.
    pub(crate) fn squares_within_or_read(
        &mut self,
        k: i32,
        whole: bool,
        read: impl FnOnce(i32) -> bool,
    ) -> bool {
        self.squares.within_or_read(k, whole, read)
    }

    /// Test support: whether every value of the first-moment buffer is known to lie in
    /// `[−2^k, 2^k)`.
    #[cfg(test)]
    pub(crate) fn first_within(&self, k: i32) -> bool {
        self.first.within(k)
    }

    /// Test support: whether every value of the buffers of squares is known to lie in
    /// `[0, 2^k)`.
    #[cfg(test)]
    pub(crate) fn squares_within(&self, k: i32) -> bool {
        self.squares.within(k)
    }

    /// A step is about to write the buffers with gradients (as they enter the moments: after
    /// `maximize`, before any L2 term) of magnitude below `2^g`, or unbounded (`None`).
    pub(crate) fn stepped(&mut self, g: Option<i32>) {
        self.first.stepped(g);
        self.squares.stepped(g.map(|g| 2 * g));
    }

    /// Forget everything (a step whose inputs the check did not bound).
    pub(crate) fn forget(&mut self) {
        *self = Self::UNKNOWN;
    }

    /// Test support: whether the bound holds for these buffers' values.
    #[cfg(test)]
    pub(crate) fn holds(&self, first: &[f32], squares: &[&[f32]]) -> bool {
        let within = |b: Bound, x: f32| {
            b.exp == Bound::UNKNOWN_EXP
                || f64::from(x.abs())
                    <= 2f64.powi(b.exp.into()) * (1.0 + 2f64.powi(-21)).powf(b.steps.into())
        };
        first.iter().all(|&x| within(self.first, x))
            && squares
                .iter()
                .all(|buf| buf.iter().all(|&x| within(self.squares, x)))
    }
}

/// Test support: xorshift64 draws of magnitudes over many octaves, for the optimizers' tests of
/// their bounds.
#[cfg(test)]
pub(crate) struct MagnitudeRng(pub(crate) u64);

#[cfg(test)]
impl MagnitudeRng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// `±m·2^e` with `e` in `lo..hi`.
    pub(crate) fn magnitude(&mut self, lo: i32, hi: i32) -> f64 {
        let r = self.next();
        let e = lo + (r % (hi - lo) as u64) as i32;
        let m = 1.0 + ((r >> 20) & 0xFFFF) as f64 / 65_536.0;
        let x = m * 2f64.powi(e);
        if r & (1 << 40) == 0 {
            x
        } else {
            -x
        }
    }

    /// Parameters of either sign from `2^-4` to `2^4`.
    pub(crate) fn params<const N: usize>(&mut self) -> [f32; N] {
        core::array::from_fn(|_| self.magnitude(-4, 4) as f32)
    }

    /// Draws new parameters, the same for both runs, when a step drove any far out (a taken
    /// step may; the next would then mostly be refused).
    pub(crate) fn recentre_far<const N: usize>(&mut self, a: &mut [f32; N], b: &mut [f32; N]) {
        if a.iter().any(|p| p.abs() > 1e30) {
            *a = self.params();
            *b = *a;
        }
    }

    /// Gradients for a step: mostly ordinary, some past the scan's `2^29`, some beyond what
    /// `f32` squares; a third of the draws mostly zeros (which let an average decay under a
    /// large first moment).
    pub(crate) fn gradients<const N: usize>(&mut self) -> [f32; N] {
        let (lo, hi) = match self.next() % 20 {
            0..=2 => (25, 45),
            3..=5 => (45, 62),
            6 => (60, 70),
            7 => (100, 127),
            _ => (-20, 10),
        };
        let mut g = [0.0f32; N];
        let zeros = self.next().is_multiple_of(3);
        for x in &mut g {
            *x = if zeros && !self.next().is_multiple_of(4) {
                0.0
            } else {
                self.magnitude(lo, hi) as f32
            };
        }
        g
    }
}

/// Test support: the bits of `f32` values, to compare runs exactly.
#[cfg(test)]
pub(crate) fn bits(x: &[f32]) -> std::vec::Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bound is a true bound: Adam's moment updates in `f32`, run on inputs at the edge of
    /// the bound (the largest values below `2^e`, of both signs, and large `β`s close to 0 and
    /// to 1), never leave what the bound promises after as many steps as it counts.
    #[test]
    fn moments_stay_inside_the_bound_through_255_steps() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let e = 20;
        let top = f32::from_bits(((127 + e) << 23) as u32 - 1); // largest below 2^e
        for beta1 in [0.0f64, 1e-7, 0.1, 0.5, 0.9, 0.999, 1.0 - 1e-7] {
            for beta2 in [0.0f64, 0.5, 0.999, 1.0 - 1e-7] {
                let w1 = (1.0 - beta1) as f32;
                let omw1 = 1.0 - w1;
                let lerp = w1 < 0.5;
                let (b2, omb2) = (beta2 as f32, (1.0 - beta2) as f32);
                let mut bound = StateBound::ZERO;
                let (mut m, mut v) = (0.0f32, 0.0f32);
                for _ in 0..255 {
                    let r = next();
                    let g = if r & 1 == 0 { top } else { -top } * (1.0 - (r >> 40) as f32 * 1e-9);
                    let d = g - m;
                    m = if lerp { m + w1 * d } else { g - omw1 * d };
                    v = v * b2 + omb2 * (g * g);
                    bound.stepped(Some(e));
                    // What the bound promises: |x| ≤ 2^exp·(1 + 2^-21)^steps.
                    let promise = |b: Bound| {
                        2f64.powi(b.exp.into()) * (1.0 + 2f64.powi(-21)).powf(b.steps.into())
                    };
                    assert!(
                        f64::from(m.abs()) <= promise(bound.first),
                        "{beta1} {beta2}: {m}"
                    );
                    assert!(
                        f64::from(v) <= promise(bound.squares),
                        "{beta1} {beta2}: {v}"
                    );
                    // The largest input itself after one step (β = 0) stays within the promise
                    // only with the exponent the inputs gave: no slack hides a wrong one.
                    assert_eq!((bound.first.exp, bound.squares.exp), (e as i8, 2 * e as i8));
                    assert!(bound.first_within(e + 1) && bound.squares_within(2 * e + 1));
                    assert!(!bound.first_within(e) && !bound.squares_within(2 * e));
                }
                // The 256th step is past what the count can hold: nothing is known.
                bound.stepped(Some(e));
                assert_eq!(bound, StateBound::UNKNOWN);
            }
        }
    }

    #[test]
    fn reads_set_or_widen_the_bound() {
        let mut b = StateBound::ZERO;
        assert!(b.first_within(-100) && b.squares_within(-100));
        b.stepped(Some(3));
        assert!(b.first_within(4) && !b.first_within(3));
        assert!(b.squares_within(7) && !b.squares_within(6));
        // Inside the range by the bound: nothing is read.
        let mut reads = 0;
        assert!(b.first_within_or_read(4, true, |_| {
            reads += 1;
            false
        }));
        assert_eq!(reads, 0);
        // Not inside: the read is at k − 1; a read of part of the buffer only widens the bound.
        assert!(b.first_within_or_read(3, false, |e| e == 2));
        assert!(b.first_within(4) && !b.first_within(3));
        assert!(b.first_within_or_read(-20, false, |e| e == -21));
        assert!(b.first_within(4) && !b.first_within(3));
        // A read of the whole buffer sets it.
        assert!(b.first_within_or_read(3, true, |e| e == 2));
        assert!(b.first_within(3) && !b.first_within(2));
        // A read that fails leaves the bound as it was.
        let before = b;
        assert!(!b.first_within_or_read(1, true, |_| false));
        assert_eq!(b, before);
        // An unbounded input, or an exponent beyond the format, forgets.
        b.stepped(None);
        assert_eq!(b, StateBound::UNKNOWN);
        assert!(b.first_within_or_read(6, false, |_| true));
        assert!(!b.first_within(1000), "a partial read of an unknown buffer");
        assert!(b.first_within_or_read(6, true, |_| true));
        assert!(b.first_within(6) && !b.first_within(5));
        // Reads stop at the largest exponent a bound holds.
        let mut read_at = 0;
        assert!(b.squares_within_or_read(1000, true, |e| {
            read_at = e;
            true
        }));
        assert_eq!(read_at, LARGEST_READ_EXP);
        assert!(b.squares_within(LARGEST_READ_EXP + 1) && !b.squares_within(LARGEST_READ_EXP));
        let mut c = StateBound::ZERO;
        c.stepped(Some(100));
        assert!(!c.squares_within(1000), "2·100 does not fit the exponent");
        let mut d = StateBound::ZERO;
        d.forget();
        assert_eq!(d, StateBound::UNKNOWN);
    }
}
