//! Fixed-point training for cores without an FPU: [`Num`] and every optimizer kernel for the
//! `fixed` crate's 32-bit types [`FixedI32<Frac>`](fixed::FixedI32), in particular
//! [`I16F16`] and [`I8F24`].
//!
//! Nothing per element uses a float, a division instruction or a 32×32→64 multiply: per-step
//! scalars are computed once per step in `f64` (as the float kernels do) and quantised to 16-bit
//! mantissas; per-element products are 16×16-bit partial products recombined with shifts (see
//! the `arith` module). On Cortex-M0 every multiply is one `MULS`.
//!
//! # Formats
//!
//! | format | range | resolution (1 LSB) | use |
//! |---|---|---|---|
//! | `I16F16` parameters/gradients | `[-32768, 32768)` | `2^-16 ≈ 1.53e-5` | general weights |
//! | `I8F24` parameters/gradients | `[-128, 128)` | `2^-24 ≈ 5.96e-8` | weights known to stay in (-128, 128): 256× finer steps, same 4 bytes |
//! | momentum buffer (SGD), Lion's `exp_avg` | the parameter's format | 1 LSB, rounded to nearest | |
//! | Adam's `m`, `v`, `vmax`; RMSprop's `square_avg`, `momentum_buffer`, `grad_avg`; Adagrad's `sum` | [`MiniFloat`]: `2^-77..2^51` (6.6e-24..2.25e15) | relative `2^-24` (6e-8) | |
//!
//! Why [`MiniFloat`] for the normalising optimizers: Adam's `v = g²` spans `1e-8..1e6` for
//! `|g|` in `1e-4..1e3`. In I16F16 (resolution 1.5e-5) `v` would underflow to 0 for every
//! `|g| < 3e-3` and the step would explode to `lr·m/eps`; in any 32-bit fixed format either the
//! small or the large end is lost. A 24-bit mantissa with its own exponent holds the whole span
//! with the same relative precision, costs 4 bytes like `f32`, and its arithmetic needs only
//! 32-bit integer operations. Every gradient of an `FixedI32<Frac>` with `Frac ≤ 24` squares
//! into its range, so `v` can neither underflow nor saturate.
//!
//! # Edges: no silent wrap-around
//! - Every operation saturates: wide (64-bit) intermediate values saturate at the `i64` range,
//!   the parameter write at the format's `MIN`/`MAX` (an update that would leave the format's
//!   range leaves the parameter at `MIN` or `MAX`), [`MiniFloat`] state at `±MAX` (and flushes to
//!   0 below `2^-77`).
//! - A gradient equal to the format's `MIN` or `MAX` may be a saturated out-of-range value: like a
//!   NaN in `f32`, [`Num::is_usable_gradient`] rejects it and the step returns
//!   [`Error::NonFiniteGradient`](crate::Error::NonFiniteGradient) with nothing changed.
//!   [`Num::from_f64`] maps NaN to `MAX` and out-of-range values to `MIN`/`MAX`, so an invalid
//!   float gradient converted to fixed point is rejected, not used.
//! - The L2 term `g + wd·p`, the momentum buffer and Lion's moment saturate at the format's range.
//!
//! # Rounding of the parameter write
//! The parameter update is rounded according to [`RoundingState`], the number type's
//! [`Num::Aux`] (saved with the optimizer; reach it with
//! [`Optimizer::aux_mut`](crate::optim::Optimizer::aux_mut)):
//! **stochastic rounding** by default (`⌊x + U⌋`, `U` uniform), which keeps the expectation of every
//! update, so updates smaller than 1 LSB (I16F16 with `lr = 1e-3` and `|g| < 0.015`) are not lost;
//! or round to nearest, which is deterministic but stalls on them. State buffers are always
//! rounded to nearest. The offsets come from a full-period 32-bit linear congruential generator
//! (one `MULS` per element; its top bits are used).
//!
//! - SGD without weight decay and plain momentum (no weight decay, dampening, Nesterov or
//!   `maximize`; `μ ∈ [0.5, 1 − 2^-16]`), with `2^-16 ≤ lr < 1`, run a **fast path** in 32-bit
//!   arithmetic (two 16×16-bit `MULS` per product, no `i64`): the update `x·lr` (quantised `lr`) is
//!   rounded exactly, with an offset of `16 + k` random bits where `lr = m·2^-(16+k)`, so the
//!   rounding is exactly unbiased with error `< 1` LSB. Step 2 on a Cortex-M0: SGD 37, momentum 57
//!   instructions per parameter (from 217 and 654).
//! - Every other configuration computes the update with 30 bits below the parameter's LSB
//!   (truncated) and rounds with a 30-bit offset.
//!
//! # Square root and division
//! See [`sqrt`]: a 16-bit digit-by-digit integer root, faster than `fixed`'s `sqrt` and than a
//! reciprocal-root Newton iteration on the host, and exact (rounded to nearest, relative error
//! ≤ `2^-16`, tested over a dense sweep). Division of the working float's 31-bit mantissas is
//! a 31-step restoring loop (no divide instruction, exact to 31 bits).
//!
//! # Error bounds against the f64 reference
//! `LSB = 2^-F`. Per-step coefficients carry a relative error ≤ `2^-16` (`ε_c ≈ 1.5e-5`; a factor near 1
//! such as μ or β is held as `1 + r` with error `ε_c·|r|`).
//! Stochastic rounding adds, per step, an error `< 1 LSB` with mean 0; round to nearest `≤ ½ LSB`.
//!
//! - **SGD**: `p ← p − lr·(g + wd·p)` is computed exactly up to `ε_c` and rounded once, so
//!   after `T` steps `|p_fix − p_ref| ≤ T·(1 LSB + ε_c·lr·(|g|max + wd·|p|max))`
//!   (for `lr·wd < 1`; the decay only shrinks earlier errors). The test uses this bound.
//! - **Momentum** (buffer in the parameter format, rounded to nearest): the buffer's rounding
//!   error is at most `B = ½ LSB/(1 − μ)`, and it enters the step through `lr` (and `μ·lr` for
//!   Nesterov), so each step adds `≤ 1 LSB + lr·B·(1 + μ) + 4·ε_c·(|Δ_ref| + lr·(|g| + wd·|p|))/(1 − μ)`;
//!   after `T` steps the bound is the sum of these.
//! - **Lion**: each step moves by exactly `±lr` (quantised to `2^-30` LSB) plus rounding; a sign
//!   that differs from the reference's when `|c|` is within the moment's rounding of 0 costs `2·lr`
//!   and is counted explicitly; otherwise `|p_fix − p_ref| ≤ T·1 LSB`.
//! - **Adam/AdamW/AMSGrad** with gradients `1e-4 ≤ |g| ≤ 1e3` (representable in the format):
//!   the computed step differs from the exact step on the same state by a relative
//!   `≤ 2e-4` (`2^-16` root, three coefficients of `ε_c`, `2^-24` state rounding: about `1e-4`,
//!   doubled as margin), so on every step `|Δθ − Δθ_ref| ≤ 2e-4·|Δθ_ref| + 1 LSB` and
//!   `|Δθ| ≤ lr·r·(1 + 2e-4) + 1 LSB`, where `r = |m̂|/(√v̂ + eps) ≤ 1` for constant `|g|`
//!   (tested for every decade of `|g|`, constant and sign-alternating). With `wd = 0` the step
//!   does not depend on `p`, so after `T` steps `|p_fix − p_ref| ≤ Σ_t (1 LSB + 2e-4·|Δθ_ref,t|)`
//!   (AdamW adds `ε_c·lr·wd·|p|` per step).
//! - **RMSprop, Adagrad**: as Adam, with the step `lr·|g|/(√v + eps)`; with RMSprop's momentum
//!   the relative error is carried by the buffer: `2e-4·max|Δθ_ref|/(1 − μ)` per step.
//!   Centered RMSprop is not covered by the bound when `v − ḡ²` cancels to within rounding.
//!
//! The tests in `tests/fixed_point.rs` check each bound on random trajectories.

mod arith;
mod fast;
mod kernels;
mod minifloat;
pub mod sqrt;

/// The fixed-point parameter formats this module documents, re-exported so that firmware needs no
/// direct dependency on `fixed`.
pub use fixed::types::{I16F16, I8F24};
pub use kernels::{
    FixedAdagradCoeffs, FixedAdamCoeffs, FixedLionCoeffs, FixedMomentumCoeffs, FixedRmsPropCoeffs,
    FixedSgdCoeffs,
};
pub use minifloat::MiniFloat;

use super::{Num, StateValue};
use fixed::types::extra::LeEqU32;
use fixed::FixedI32;

/// How a fixed-point optimizer rounds its parameter writes: the number type's [`Num::Aux`], kept
/// in (and saved with) every optimizer over `FixedI32<Frac>`.
///
/// [`StateValue::ZERO`] (what a new optimizer starts with) is stochastic rounding with seed 0.
/// 8 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoundingState {
    state: u32,
    nearest: bool,
}

impl StateValue for RoundingState {
    const ZERO: Self = RoundingState {
        state: 0,
        nearest: false,
    };
}

impl RoundingState {
    /// Stochastic rounding from the given seed.
    pub const fn stochastic(seed: u32) -> Self {
        RoundingState {
            state: seed,
            nearest: false,
        }
    }

    /// Round to nearest (deterministic; updates below ½ LSB are lost).
    pub const fn nearest() -> Self {
        RoundingState {
            state: 0,
            nearest: true,
        }
    }

    /// Whether parameter writes are rounded stochastically.
    pub const fn is_stochastic(&self) -> bool {
        !self.nearest
    }

    /// The generator's state (it is also the seed: any value is valid).
    pub const fn state(&self) -> u32 {
        self.state
    }

    /// Replaces the generator's state (after a fast kernel ran the generator locally).
    #[inline(always)]
    pub(crate) fn set_state(&mut self, state: u32) {
        self.state = state;
    }

    /// The next rounding offset, in units of `2^-32` LSB.
    #[inline(always)]
    pub(crate) fn offset(&mut self) -> u32 {
        if self.nearest {
            1 << 31
        } else {
            arith::next_u32(&mut self.state)
        }
    }
}

impl<Frac: LeEqU32> StateValue for FixedI32<Frac> {
    const ZERO: Self = FixedI32::ZERO;
}

impl<Frac: LeEqU32> Num for FixedI32<Frac> {
    type Aux = RoundingState;

    /// Rejects `MIN` and `MAX`, which may be saturated out-of-range values.
    #[inline(always)]
    fn is_usable_gradient(self) -> bool {
        self != Self::MIN && self != Self::MAX
    }

    /// Rounds to nearest (ties away from zero); saturates outside the range; NaN gives `MAX`.
    fn from_f64(x: f64) -> Self {
        if x.is_nan() {
            return Self::MAX;
        }
        let s = libm::round(libm::ldexp(x, Self::FRAC_NBITS as i32));
        if s >= 2_147_483_647.0 {
            Self::MAX
        } else if s <= -2_147_483_648.0 {
            Self::MIN
        } else {
            Self::from_bits(s as i32)
        }
    }

    /// Exact.
    fn to_f64(self) -> f64 {
        libm::ldexp(f64::from(self.to_bits()), -(Self::FRAC_NBITS as i32))
    }
}
