//! Fixed-point training for cores without an FPU: [`Num`] for the `fixed` crate's 32-bit types
//! [`FixedI32<Frac>`](fixed::FixedI32), in particular [`I16F16`] and [`I8F24`], and the integer
//! arithmetic their optimizer kernels are built from. Each optimizer's fixed-point kernel lives
//! with the optimizer (`optim/<name>/fixed.rs`); this module documents them all, since they share
//! formats, rounding and the shape of their error bounds.
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
//! | momentum buffer (SGD), Lion's `exp_avg` | the parameter's format (a momentum buffer beyond it is refused, see below) | 1 LSB, rounded to nearest | |
//! | Adam's `m`, `v`, `vmax`; RMSprop's `square_avg`, `momentum_buffer`, `grad_avg`; Adagrad's `sum` | [`MiniFloat`]: `2^-77..2^51` (6.6e-24..2.25e15) | relative `2^-24` (6e-8) | |
//!
//! The 16-bit storage format [`I4F12`] (range `[-8, 8)`, LSB `2^-12`) is re-exported here too; it
//! steps through the I8F24 kernels and is documented in [`fixed16`](crate::num::fixed16).
//!
//! Why [`MiniFloat`] for the normalising optimizers: Adam's `v = g²` spans `1e-8..1e6` for
//! `|g|` in `1e-4..1e3`. In I16F16 (resolution 1.5e-5) `v` would underflow to 0 for every
//! `|g| < 3e-3` and the step would explode to `lr·m/eps`; in any 32-bit fixed format either the
//! small or the large end is lost. A 24-bit mantissa with its own exponent holds the whole span
//! with the same relative precision, costs 4 bytes like `f32`, and its arithmetic needs only
//! 32-bit integer operations. Every gradient of an `FixedI32<Frac>` with `Frac ≤ 24` squares
//! into its range, so `v` does not saturate; a positive `v` below [`MiniFloat`]'s smallest value
//! (`(1 − β2)·g'²` with a sub-LSB L2 gradient `g'`, or `β2` within `2^-45` of 1) is stored as
//! that smallest value, never flushed to 0 (a flushed `v` beside an unflushed `m` made the step
//! unbounded; found by fuzzing).
//!
//! # Edges: no silent wrap-around
//! - Every operation saturates: wide (64-bit) intermediate values saturate at the `i64` range,
//!   the parameter write at the format's `MIN`/`MAX` (an update that would leave the format's
//!   range leaves the parameter at `MIN` or `MAX`), [`MiniFloat`] state at `±MAX` (and flushes to
//!   0 below `2^-77`).
//! - A gradient equal to the format's `MIN` or `MAX` may be a saturated out-of-range value: like a
//!   NaN in `f32`, [`Num::is_usable_gradient`] rejects it and the step returns
//!   [`Error::NonFiniteGradient`](crate::Error::NonFiniteGradient) with nothing changed.
//!   [`Scalar::saturating_from_f64`](crate::num::Scalar::saturating_from_f64) maps NaN to `MAX`
//!   and out-of-range values to `MIN`/`MAX`, so an invalid float gradient converted to fixed point
//!   is rejected, not used; [`Scalar::try_from_f64`](crate::num::Scalar::try_from_f64) refuses it.
//! - The momentum buffer never saturates: it tends to `g/(1 − μ)` (100·|g| at μ = 0.99), so it
//!   can leave the format although every parameter and gradient is inside it, and a saturated
//!   buffer would make every later step silently wrong (issue 16: I8F24 Nesterov at μ = 0.99,
//!   parameters 1.5e6 LSB from the reference, 40 times the bound). The step checks first and
//!   returns [`Error::StepOverflow`](crate::Error::StepOverflow) with nothing changed. The check
//!   is one read-only pass that ORs the magnitudes of the buffer and the gradients (and the
//!   parameters, with weight decay) against a per-step safe magnitude (`2^30` LSB on the fast
//!   path); only when that bound is reached does it compute each new buffer value exactly.
//! - The L2 term `g + wd·p` and Lion's moment (a convex combination of gradients, so inside the
//!   range) saturate at the format's range.
//!   For the normalising optimizers (Adam, RMSprop, Adagrad) the L2 gradient saturates at
//!   `±2^(31−F)` before it enters any moment, so `m`, `v` (and `ḡ`) all see the same gradient
//!   `g'` and `|m̂|/√v̂` keeps its bound `K_t` whatever `wd` (any finite value is accepted; a
//!   coefficient above `2^216` is held as about `2^216`, which saturates `g'` for every `p ≠ 0`
//!   anyway): the step stays within `lr·K_t·(1 + τ) + 1 LSB`. Without this, `v = (1 − β2)·g'²`
//!   saturated at [`MiniFloat::MAX`] long before `m`, and one step could move a parameter by
//!   thousands of `lr` (found by fuzzing; `fuzz/regressions/optim_step/fixed-…`). Where `f32`
//!   overflows `wd·p` to `∞` (its step is then NaN), fixed point takes a bounded step in the
//!   direction of `g'`'s sign.
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
//! - Lion without weight decay, with `β1, β2 ∈ [0.5, 1)`, `1 − β ≥ 2^-16` and `lr < 2^30` LSB, runs
//!   a fast path too: the sign of `m + (1 − β1)·(g − m)` exactly from two 16×16-bit products (the
//!   same quantised coefficient as the general kernel, so the same sign), `p ∓ lr` with
//!   `lr = A + f·2^-32` LSB rounded by one comparison of the offset with `f` (exactly unbiased,
//!   error `< 1` LSB), and the moment `m + round((1 − β2)·(g − m))`, bit-identical to the general
//!   kernel's. A `g − m` outside `i32` (state far from the gradients) takes an exact 64-bit detour.
//!   Step 2: 90 instructions per parameter on a Cortex-M0 (from 645), 60 on a Cortex-M4 (from 440).
//! - Every other configuration computes the update with 30 bits below the parameter's LSB
//!   (truncated) and rounds with a 30-bit offset.
//!
//! # Square root and division
//! The normalising kernels never divide or loop: `1/(√v + eps)` comes from a 384-entry root table
//! and a 512-entry reciprocal table (9 index bits each, 2.5 KiB of flash) with one division-free
//! Newton step each, relative error `≤ 3.5e-6` (`2^-18.8` root, `2^-19.9` reciprocal, truncations;
//! derivation in the `norm` module, checked on a dense sweep). Adam folds its bias corrections into
//! one coefficient `lr·√bc2/bc1` and `eps·√bc2`. Without weight decay (and with `1 − β ≥ 2^-16`)
//! Adam, RMSprop and Adagrad run a 32-bit loop (moments updated with 16×16-bit partial products,
//! exact stochastic rounding as in the fast path): step 2 on a Cortex-M0, Adam 417 instructions per
//! parameter (from 1820; soft-float `f32` Adam 2045), RMSprop 291, Adagrad 288; on a Cortex-M4,
//! Adam 328 (from 1286), RMSprop 238 (from 948), Adagrad 228 (from 844). The moment stores hand
//! back the unpacked value they stored (no re-unpacking), `v` is updated without signs, and
//! normalisation finds the leading bit with two comparisons and one byte-table load (one load
//! alone in the usual case of a store), for bit-identical results
//! (step 2, Cortex-M0: Adam 489 → 417, RMSprop 335 → 291, Adagrad 323 → 288; Cortex-M4: Adam
//! 373 → 328, RMSprop 267 → 238, Adagrad 254 → 228).
//! [`sqrt`] keeps the exact digit-by-digit integer root.
//! The bias corrections `1 − β^t` are computed per step by binary exponentiation in 64-bit
//! fixed point (`num::pow::one_minus_pow`), not `libm::pow`: soft-float
//! `pow` has shortcuts for `t ≤ 2` only and cost about 22 000 instructions per call from step 3
//! on (Cortex-M0 Adam, 512 parameters: 488 at step 2, 576 at step 3). Binary exponentiation
//! takes `⌊log2 t⌋ + popcount(t) − 1` products of 64-bit fractions per β (a few multiply
//! instructions each, where an `f64` product is a library call) until `t·(1 − β) ≥ 40`, where it
//! stops.
//!
//! # Error bounds against the f64 reference
//! `LSB = 2^-F`. Per-step coefficients carry a relative error ≤ `2^-16` (`ε_c ≈ 1.5e-5`; a factor near 1
//! such as μ or β is held as `1 + r` with error `ε_c·|r|`). Their `f64` evaluation adds far less:
//! Adam's bias corrections `≤ 2^-40` relative (binary exponentiation, for `1 − β ≥ 2^-16`; `pow`
//! otherwise), absorbed by the rounding of `τ` below (its terms sum to `4.18e-5`).
//! Stochastic rounding adds, per step, an error `< 1 LSB` with mean 0; round to nearest `≤ ½ LSB`.
//!
//! - **SGD**: `p ← p − lr·(g + wd·p)` is computed exactly up to `ε_c` and rounded once, so
//!   after `T` steps `|p_fix − p_ref| ≤ T·(1 LSB + ε_c·lr·(|g|max + wd·|p|max))`
//!   (for `lr·wd < 1`; the decay only shrinks earlier errors). The test uses this bound.
//! - **Momentum** (buffer in the parameter format, rounded to nearest): the buffer's rounding
//!   error is at most `B = ½ LSB/(1 − μ)`, and it enters the step through `lr` (and `μ·lr` for
//!   Nesterov), so each step adds `≤ 1 LSB + lr·B·(1 + μ) + 4·ε_c·(|Δ_ref| + lr·(|g| + wd·|p|))/(1 − μ)`;
//!   after `T` steps the bound is the sum of these.
//! - **Lion**: each step moves by exactly `±lr` (quantised to `2^-30` LSB, `2^-32` on the fast
//!   path; either way the rounded step stays within 1 LSB of the exact `±lr`) plus the decay
//!   `lr·wd·p`, whose coefficient carries `ε_c` relative to the decay itself (not to the net
//!   step, which it may cancel: `ε_c·lr·wd·|p|` per step), plus rounding; a sign that differs from
//!   the reference's when `|c|` is within the moment's rounding of 0 costs `2·lr` and is counted
//!   explicitly; otherwise `|p_fix − p_ref| ≤ Σ_t (1 LSB + ε_c·lr·wd·|p_t|)`.
//! - **Adam/AdamW/AMSGrad** with gradients `1e-4 ≤ |g| ≤ 1e3` (representable in the format):
//!   the computed step differs from the exact step on the same state by a relative
//!   `≤ τ = 4.2e-5 + 1.5·2^-30/(1 − β2)`: the step coefficient `lr·√bc2/bc1` (`2^-16`), `1 − β1`
//!   through `m` (`2^-16`), `1 − β2` through `√v` (`½·2^-16`), `1/(√v + eps)` (`3.5e-6`), the
//!   products (`2e-8`), the stores of `m` and `v` (`1.5·2^-24`), and the update of `v`, which
//!   truncates the smaller operand at `2^-30` of the larger while `v_new ≥ (1 − β2)·g²`
//!   (`1.5·2^-30/(1 − β2)`, 1.4e-6 at β2 = 0.999). So on every step
//!   `|Δθ − Δθ_ref| ≤ τ·|Δθ_ref| + 1 LSB` and `|Δθ| ≤ lr·r·(1 + τ) + 1 LSB`, where
//!   `r = |m̂|/(√v̂ + eps) ≤ 1` for constant `|g|` (tested for every decade of `|g|`, constant and
//!   sign-alternating). Here `Δθ_ref` is the Adam update `lr·m̂/(√v̂ + eps)` itself, not the net
//!   change of `p`: AdamW's decay `lr·wd·p` is applied apart (its error is the `ε_c` term below)
//!   and may cancel the update in the net change (issue 16: an AMSGrad AdamW case measured
//!   against the net change was 1.115 times over). The first moment's update `m + w·(g' − m)`
//!   aligns `m` and `g'` to 30 bits of the larger and floors the product: `m` is off by up to
//!   `2^-28·max(|g'|, |m|)` per step, relative to the larger operand, and keeps it with weight
//!   β1, so `E_t = β1·E_{t−1} + 2^-28·max(|g'_t|, |m_{t−1}|)` bounds `|m_fix − m_ref|` and adds
//!   `lr/bc1·E_t/(√v̂ + eps)` to the step's error. It matters when `1 − β1` is small (`m` far
//!   below `g'`: `2^-28/(1 − β1) = 2.5e-5` relative to `m` at β1 = 0.99985, more when gradients
//!   of both signs cancel in `m`); fresh golden cases with β1 ≈ 0.9998 were 1.09 and 1.22 times
//!   over the bound without it. With `wd = 0` the step does not depend on `p`, so after `T` steps
//!   `|p_fix − p_ref| ≤ Σ_t (1 LSB + τ·|Δθ_ref,t| + lr/bc1·E_t/(√v̂_t + eps))` (AdamW adds
//!   `ε_c·lr·wd·|p|` per step). **Accumulated state rounding**: each [`MiniFloat`] store rounds
//!   by `u = 2^-24` of the stored value and the moment keeps that error with weight β, so `m`'s
//!   bound is `E_t = β1·E_{t−1} + 2^-28·max(|g'_t|, |m_{t−1}|) + u·|m_t|` (with `1 − β1` small the
//!   stores alone reach `u/(1 − β1)` of `m`: AdamW at β1 = 0.99964 was 1.78 times over without
//!   it), and `v`'s is `V_t = β2·V_{t−1} + u·v_t + 2^-28·max(v_{t−1}, g'²) + ε_c·(1 − β2)·|g'² −
//!   v_{t−1}|`, which moves the step by `½·V_t/v_t` of the update (AMSGrad: the largest `V` so
//!   far). Not covered: betas barely above
//!   `2^-16` (for example `β ≈ 1.5e-5`, so `1 − β` is just below 1), where
//!   the fast 32-bit loop's moment update can cancel to a relative error of about `2^-14` in `v`,
//!   above `τ` (a `1 − β` that rounds to exactly 1 is computed as `new + β·(old − new)`, `β` to
//!   `2^-16` of itself).
//! - **L2 weight decay** (Adam, RMSprop, Adagrad): the gradient `g + wd·p` feeds a parameter
//!   error `e` back into the step as `κ·e`, `κ = lr_t·wd/(√v̂ + eps)` (for Adam `lr·(1 − β1)/bc1`):
//!   the accumulated bound is multiplied by `1 + κ` on each step. The quantised `wd` also leaves
//!   `g'` an absolute error `ε_c·wd·|p|`, unbounded relative to `g'` when `g` cancels `wd·p`; the
//!   step carries it as `ε_c·lr_t·wd·|p|/(√v̂ + eps)` (Adam: `lr_t = lr`, through `m`), added on
//!   each step (a fresh golden case with a first gradient within 1% of `−wd·p` was 1.65 times
//!   over the bound without it). The bound holds for any `κ` (a geometric sum, `Π(1 + κ_t)`),
//!   to first order in the parameter error `e`; the same `e` also reaches the denominator, as
//!   `wd·e` in `g'`: `v` moves by `w·(2|g'| + wd·e)·wd·e` and `ḡ` by `w·wd·e` (added to `V`
//!   and `G` below). Where `κ > 1` (e.g. centered RMSprop whose `v − ḡ²` cancels, so the
//!   denominator falls to `eps`) the bound is set by the feedback and grows geometrically: it
//!   is a guarantee, but over long runs a loose one (the golden harness lists such cases with
//!   their largest bound).
//! - **RMSprop, Adagrad**: as Adam, with the step `lr·|g|/(√v + eps)`, `τ = 4.2e-5 +
//!   1.5·2^-30/(1 − α)` (Adagrad: `1 − α` replaced by 1); with RMSprop's momentum the relative
//!   error is carried by the buffer: `τ·max|Δθ_ref|/(1 − μ)` per step. RMSprop's moments keep
//!   their accumulated errors as Adam's `v` does (`V_t` with weight α), and centered RMSprop's
//!   `ḡ` its own, `G_t = α·G_{t−1} + u·|ḡ_t| + 2^-28·max(|ḡ_{t−1}|, |g'|) + δw·|g' − ḡ_{t−1}|`.
//!   Centered, the denominator's `var = v − ḡ²` is then off by the *absolute*
//!   `δ = V + 2|ḡ|·G + G² + 2^-28·v`, which relative to `var` is amplified by `(v + ḡ²)/var`,
//!   without limit when the gradient barely varies; with `b = var`, `s = min(δ/√b, √δ)` bounds
//!   `|√var_fix − √b|`, so the step's relative error is `ρ = s/max(√b + eps − s, eps)`, carried
//!   as `ρ·|Δθ|`, or with momentum through the buffer as `lr·B_t`,
//!   `B_t = μ·B_{t−1} + ρ·|g'|/(√b + eps)`. `δw` is the quantisation of the moments' weight:
//!   `ε_c·(1 − α)`, except centered with `α < 0.5`, where the kernel updates both moments as
//!   `new + α·(old − new)` with `α` to `ε_c` of itself (`δw = ε_c·α`): `var ≈ α·(1 − α)·(g −
//!   ḡ)²` is proportional to `α`, so `1 − α` held to `2^-16` of 1 would leave `var` wrong by
//!   `2^-16/α` of itself (0.8 % at α = 0.002; centered cases with α near 0 were up to 79 times
//!   over the bound).
//!
//! The tests in `tests/fixed_point.rs` check each bound on random trajectories.

pub(crate) mod arith;
pub(crate) mod fast;
mod minifloat;
pub(crate) mod norm;
pub mod scalar;
pub mod sqrt;

/// The fixed-point parameter formats this module documents (and I4F12, documented in
/// [`fixed16`](crate::num::fixed16)), re-exported so that firmware needs no direct dependency
/// on `fixed`.
pub use fixed::types::{I16F16, I4F12, I8F24};
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

    /// The state after `draws` more offsets (mod 2^32, the generator's period), without drawing
    /// them: the generator skipped ahead in `O(log draws)`. Round to nearest draws nothing, so it
    /// is unchanged.
    pub const fn skipped(self, draws: u32) -> Self {
        if self.nearest {
            self
        } else {
            RoundingState {
                state: fast::lcg_skip(self.state, draws),
                nearest: false,
            }
        }
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

    /// Every fixed-point kernel draws exactly one rounding offset per element (none when rounding
    /// to nearest): the generator skipped ahead by `elements` draws (mod 2^32, its period).
    #[inline]
    fn aux_after(aux: RoundingState, elements: usize) -> RoundingState {
        aux.skipped(elements as u32)
    }
}
