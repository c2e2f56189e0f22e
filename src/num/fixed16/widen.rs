//! How every optimizer steps [`I4F12`] parameters: through the 32-bit kernel of [`I8F24`], with
//! the parameter write rounded stochastically to the 16-bit grid.
//!
//! A step widens a chunk of at most [`CHUNK`] parameters and gradients to I8F24 (a left shift by
//! 12: exact, since `[-8, 8) ⊂ [-128, 128)`), runs the I8F24 kernel on it with its own state
//! slices and **round to nearest** (so that kernel draws no offsets), then rounds each new
//! parameter once to I4F12 with one offset of the optimizer's [`RoundingState`] (stochastic, or
//! to nearest) and saturates it at `[MIN, MAX]`. One offset per element, as every fixed-point
//! kernel draws, so [`Num::aux_after`](crate::num::Num::aux_after) is the 32-bit formats'.
//!
//! The optimizer's state is the I8F24 kernel's, untouched: a momentum buffer or Lion's moment in
//! I8F24 (range `[-128, 128)`, LSB `2^-24`), Adam's, RMSprop's and Adagrad's moments in
//! [`MiniFloat`](crate::num::fixed::MiniFloat). Only the parameters lose bits, once per step.
//!
//! Stack: two chunk buffers of 32 `i32`, 256 bytes, during a step.

use super::I4F12;
use crate::num::fixed::{RoundingState, I8F24};
use core::ops::Range;

/// Parameters per chunk: the stack buffers hold this many I8F24 values each.
pub(crate) const CHUNK: usize = 32;

/// `x` in I8F24, exactly.
#[inline(always)]
pub(crate) fn widen(x: I4F12) -> I8F24 {
    I8F24::from_bits(i32::from(x.to_bits()) << 12)
}

/// `x` rounded to I4F12 with the offset `offset` (units of `2^-32` LSB of I4F12: its top 12
/// bits are added below the I4F12 LSB before the floor), saturated at `[MIN, MAX]`.
/// `offset = 2^31` rounds to nearest (ties toward `+∞`); a uniform offset rounds stochastically,
/// exactly unbiased for the 12 dropped bits.
#[inline(always)]
pub(crate) fn narrow(x: I8F24, offset: u32) -> I4F12 {
    let b = x.to_bits();
    // hi ∈ [-2^19, 2^19); carry ∈ {0, 1}: no overflow.
    let hi = b >> 12;
    let carry = (((b & 0xFFF) as u32 + (offset >> 20)) >> 12) as i32;
    let r = (hi + carry).clamp(i32::from(i16::MIN), i32::from(i16::MAX));
    I4F12::from_bits(r as i16)
}

/// The chunk `range` of a state slice (empty if the slice is shorter, which the optimizers never
/// pass: every state slice has the parameters' length).
#[inline(always)]
pub(crate) fn part<T>(s: &mut [T], range: Range<usize>) -> &mut [T] {
    s.get_mut(range).unwrap_or_default()
}

/// [`part`] of a shared slice.
#[inline(always)]
pub(crate) fn part_ref<T>(s: &[T], range: Range<usize>) -> &[T] {
    s.get(range).unwrap_or_default()
}

/// Runs `kernel` (an I8F24 kernel on the chunk `range` of the state, with the rounding state it
/// is given) on every chunk of `params` and `grads` widened to I8F24, and writes the results back
/// rounded with one offset of `aux` each.
#[inline(always)]
pub(crate) fn step_widened(
    params: &mut [I4F12],
    grads: &[I4F12],
    aux: &mut RoundingState,
    mut kernel: impl FnMut(Range<usize>, &mut [I8F24], &[I8F24], &mut RoundingState),
) {
    let mut p32 = [I8F24::ZERO; CHUNK];
    let mut g32 = [I8F24::ZERO; CHUNK];
    let mut start = 0;
    for (pc, gc) in params.chunks_mut(CHUNK).zip(grads.chunks(CHUNK)) {
        let n = pc.len().min(gc.len());
        let pw = part(&mut p32, 0..n);
        let gw = part(&mut g32, 0..n);
        for (w, x) in pw.iter_mut().zip(pc.iter()) {
            *w = widen(*x);
        }
        for (w, x) in gw.iter_mut().zip(gc.iter()) {
            *w = widen(*x);
        }
        let mut nearest = RoundingState::nearest();
        kernel(start..start + n, pw, gw, &mut nearest);
        for (x, w) in pc.iter_mut().zip(pw.iter()) {
            *x = narrow(*w, aux.offset());
        }
        start += n;
    }
}

/// Runs the read-only check `check` (an I8F24 check on the chunk `range` of the state) on every
/// chunk of `params` and `grads` widened to I8F24: the index of the first element it reports.
#[inline]
pub(crate) fn check_widened(
    params: &[I4F12],
    grads: &[I4F12],
    mut check: impl FnMut(Range<usize>, &[I8F24], &[I8F24]) -> Option<usize>,
) -> Option<usize> {
    let mut p32 = [I8F24::ZERO; CHUNK];
    let mut g32 = [I8F24::ZERO; CHUNK];
    let mut start = 0;
    for (pc, gc) in params.chunks(CHUNK).zip(grads.chunks(CHUNK)) {
        let n = pc.len().min(gc.len());
        let pw = part(&mut p32, 0..n);
        let gw = part(&mut g32, 0..n);
        for (w, x) in pw.iter_mut().zip(pc.iter()) {
            *w = widen(*x);
        }
        for (w, x) in gw.iter_mut().zip(gc.iter()) {
            *w = widen(*x);
        }
        if let Some(i) = check(start..start + n, pw, gw) {
            return Some(start + i);
        }
        start += n;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widen_is_exact_and_narrow_rounds_and_saturates() {
        for b in [i16::MIN, -1, 0, 1, 1234, i16::MAX] {
            let x = I4F12::from_bits(b);
            assert_eq!(narrow(widen(x), 0), x);
            assert_eq!(narrow(widen(x), u32::MAX), x);
            assert_eq!(narrow(widen(x), 1 << 31), x);
        }
        // Half an LSB: to nearest rounds up, stochastic rounds by the offset's top bits.
        let half = I8F24::from_bits(0x800);
        assert_eq!(narrow(half, 1 << 31).to_bits(), 1);
        assert_eq!(narrow(half, (1 << 31) - (1 << 20)).to_bits(), 0);
        let below = I8F24::from_bits(-0x800);
        assert_eq!(narrow(below, 1 << 31).to_bits(), 0);
        assert_eq!(narrow(below, 0).to_bits(), -1);
        assert_eq!(narrow(I8F24::MAX, 0), I4F12::MAX);
        assert_eq!(narrow(I8F24::MIN, u32::MAX), I4F12::MIN);
        assert_eq!(narrow(I8F24::from_num(8), 0), I4F12::MAX);
    }
}
