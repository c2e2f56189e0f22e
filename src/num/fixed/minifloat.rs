//! [`MiniFloat`]: the 32-bit state format of the normalising optimizers' moments.

use super::arith::Wf;
use crate::num::StateValue;

/// Exponent bias: a stored value is `mantissa · 2^(exponent − BIAS)`.
pub(crate) const BIAS: i32 = 100;

/// A 32-bit software float for optimizer state: sign (1 bit), exponent (7 bits) and an explicit
/// normalised 24-bit mantissa `∈ [2^23, 2^24)`.
///
/// - **Range:** zero, and magnitudes from `2^-77 ≈ 6.6e-24` ([`MiniFloat::MIN_POSITIVE`]) to
///   just under `2^51 ≈ 2.25e15` ([`MiniFloat::MAX`]). A result below the range is stored as 0
///   (for Adam's `v` that takes `|g| < 2^-33` together with `1 − β2 ≥ 2^-20`; for a decaying
///   moment it is harmless), a result above it saturates at `±MAX`. Neither happens for the
///   gradients a 32-bit fixed-point format can hold with `F ≤ 24` fraction bits, whose squares
///   lie in `[2^-48, 2^62)`; only `v` with `|g| ≥ 2^25.5` would saturate (which needs
///   `F < 6`: the L2 gradient `g + wd·p` is saturated at the format's range first).
/// - **Resolution:** relative, `2^-24 ≈ 6.0e-8` per store (round to nearest), whatever the
///   magnitude. So Adam's `v = g²` for `|g|` from `1e-4` to `1e3` (1e-8..1e6) is held to the
///   same relative precision everywhere, and its square root never underflows.
/// - **Size:** 4 bytes, like `f32`, so fixed-point Adam costs `8·N` bytes of state.
///
/// The arithmetic (unpacked to a 31-bit working mantissa) uses 32-bit integer operations only.
#[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct MiniFloat(u32);

impl core::fmt::Debug for MiniFloat {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "MiniFloat({:e})", self.to_f64())
    }
}

impl StateValue for MiniFloat {
    const ZERO: Self = MiniFloat(0);
}

impl MiniFloat {
    /// The largest value, `(2^24 − 1) · 2^27 ≈ 2.25e15`.
    pub const MAX: MiniFloat = MiniFloat(0x7FFF_FFFF);
    /// The smallest positive value, `2^-77 ≈ 6.6e-24`.
    pub const MIN_POSITIVE: MiniFloat = MiniFloat(0x0080_0000);

    /// Zero.
    pub(crate) const ZERO_BITS: MiniFloat = MiniFloat(0);

    /// `±mant·2^(exp − BIAS)` for `mant ∈ [2^23, 2^24)`: 0 below the range, `±MAX` above it.
    #[inline(always)]
    pub(crate) fn from_parts(neg: bool, mant: u32, exp: i32) -> MiniFloat {
        let sign = if neg { 1u32 << 31 } else { 0 };
        if exp < 0 {
            MiniFloat(0)
        } else if exp > 127 {
            MiniFloat(sign | 0x7FFF_FFFF)
        } else {
            MiniFloat(sign | ((exp as u32) << 24) | mant)
        }
    }

    /// The raw bits (for checkpoints).
    pub const fn to_bits(self) -> u32 {
        self.0
    }

    /// From raw bits (for checkpoints). A mantissa field without its leading bit is read as 0.
    pub const fn from_bits(bits: u32) -> MiniFloat {
        if bits & 0x0080_0000 == 0 {
            MiniFloat(0)
        } else {
            MiniFloat(bits)
        }
    }

    /// The exact value as `f64`.
    pub fn to_f64(self) -> f64 {
        self.unpack().to_f64()
    }

    /// The nearest value to `x` (saturating; NaN gives 0). Not used per element.
    pub fn from_f64(x: f64) -> MiniFloat {
        MiniFloat::pack(Wf::from_f64(x))
    }

    /// To the working float (exact).
    #[inline]
    pub(crate) fn unpack(self) -> Wf {
        let mant = self.0 & 0x00FF_FFFF;
        if mant == 0 {
            return Wf::ZERO;
        }
        let exp = ((self.0 >> 24) & 0x7F) as i32;
        Wf {
            neg: self.0 >> 31 != 0,
            m: mant << 7,
            e: exp - BIAS - 7,
        }
    }

    /// From the working float, rounding the mantissa to nearest; flushes to 0 below
    /// [`MIN_POSITIVE`](Self::MIN_POSITIVE), saturates above [`MAX`](Self::MAX).
    #[inline]
    pub(crate) fn pack(w: Wf) -> MiniFloat {
        if w.m == 0 {
            return MiniFloat(0);
        }
        let mut mant = (w.m + (1 << 6)) >> 7; // [2^23, 2^24]
        let mut exp = w.e + 7 + BIAS;
        if mant == 1 << 24 {
            mant = 1 << 23;
            exp += 1;
        }
        let sign = if w.neg { 1u32 << 31 } else { 0 };
        if exp < 0 {
            MiniFloat(0)
        } else if exp > 127 {
            MiniFloat(sign | 0x7FFF_FFFF)
        } else {
            MiniFloat(sign | ((exp as u32) << 24) | mant)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_resolution_over_the_whole_range() {
        let mut x = 1e-23f64;
        while x < 2e15 {
            for s in [1.0, -1.0] {
                let y = MiniFloat::from_f64(s * x).to_f64();
                assert!((y - s * x).abs() <= x * 2f64.powi(-24) * 1.0000001, "{x:e}");
            }
            x *= 1.37;
        }
    }

    #[test]
    fn edges_flush_and_saturate() {
        assert_eq!(MiniFloat::MIN_POSITIVE.to_f64(), 2f64.powi(-77));
        assert_eq!(MiniFloat::from_f64(2f64.powi(-79)).to_f64(), 0.0);
        assert_eq!(MiniFloat::from_f64(1e30), MiniFloat::MAX);
        assert_eq!(
            MiniFloat::from_f64(-1e30).to_f64(),
            -MiniFloat::MAX.to_f64()
        );
        assert_eq!(MiniFloat::from_f64(f64::NAN).to_f64(), 0.0);
        assert!((MiniFloat::MAX.to_f64() - 2f64.powi(51)).abs() < 2f64.powi(28));
        assert_eq!(
            MiniFloat::from_bits(MiniFloat::MAX.to_bits()),
            MiniFloat::MAX
        );
        assert_eq!(MiniFloat::from_bits(0x1234), MiniFloat::ZERO);
    }
}
