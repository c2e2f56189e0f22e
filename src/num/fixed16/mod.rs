//! A 16-bit storage format for cores without an FPU: [`I4F12`], the `fixed` crate's
//! `FixedI16<U12>`, as a [`Num`] and a [`Scalar`](crate::num::Scalar), so that every layer,
//! network and optimizer of the crate takes it through the same generic API as `f32`, I16F16 and
//! I8F24. Parameters, gradients and activations take 2 bytes instead of 4; every product of two
//! values is one 16×16→32-bit multiply (`MULS` on a Cortex-M0).
//!
//! # What is guaranteed, and what is not
//! - Nothing wraps: every result saturates at `[MIN, MAX]`, every accumulation is exact in an
//!   `i64` (below), and no caller value makes any function panic.
//! - A gradient equal to `MIN` or `MAX` may be a saturated value: [`Num::is_usable_gradient`]
//!   rejects it, and the step returns [`Error::NonFiniteGradient`](crate::Error::NonFiniteGradient)
//!   with nothing changed, as for the 32-bit formats.
//! - Not guaranteed: that a model's values fit in `[-8, 8)`. A batch gradient is summed in the
//!   gradient arena (I4F12) before it is averaged, so the **sum** of a batch's gradients
//!   saturates at `±8`, i.e. the mean at `±8/B` for a batch of `B` (`±0.5` for `B = 16`);
//!   there is no separate gradient scale. Activations beyond `±8` saturate too. Use I4F12 where
//!   weights, activations and per-batch gradient sums are known to stay well inside `±8` (inputs
//!   normalised, a batch-norm or a bounded activation after each layer), I16F16 otherwise.
//! - Not kept either: gradient values below `½ LSB ≈ 1.2e-4`. Each per-sample gradient is rounded
//!   to `2^-12`, and the trainer's batch mean (`sum · (1/B)`, one rounded product) is too, so a
//!   mean gradient below `½ LSB` is 0. Adam, RMSprop and Adagrad normalise the gradient, so what
//!   survives still moves its parameter by about `lr`; SGD and momentum lose such updates.
//!
//! # Format
//!
//! | | value |
//! |---|---|
//! | storage | `i16`, 2 bytes, raw value `r` represents `r·2^-12` |
//! | range | `[-8, 8 − 2^-12]` (`MIN = -8`, `MAX = 7.999756`) |
//! | resolution (1 LSB) | `2^-12 ≈ 2.44e-4` |
//! | conversion from `f64` | round to nearest (ties away from 0), error `≤ ½ LSB = 1.22e-4` inside the range |
//! | accumulator ([`Scalar::Acc`](crate::num::Scalar::Acc)) | `i64`, 24 fraction bits |
//! | optimizer state | the I8F24 kernel's: momentum/Lion in I8F24, Adam/RMSprop/Adagrad in [`MiniFloat`](crate::num::fixed::MiniFloat) |
//! | rounding state ([`Num::Aux`]) | [`RoundingState`], 8 bytes, as the 32-bit formats |
//!
//! [`Scalar::try_from_f64`](crate::num::Scalar::try_from_f64) refuses NaN and `±∞`
//! ([`ValueFault::NotFinite`](crate::ValueFault::NotFinite)) and finite values below `-8` or above
//! `8 − 2^-12` ([`ValueFault::OutOfRange`](crate::ValueFault::OutOfRange));
//! [`Scalar::saturating_from_f64`](crate::num::Scalar::saturating_from_f64) gives `MIN` below,
//! `MAX` above and for NaN.
//!
//! # Arithmetic and its error bounds
//! `LSB = 2^-12`. Each bound is derived below and checked in `tests/fixed16.rs`.
//! - `add`, `sub` saturate; exact otherwise.
//! - `mul`: one 32-bit product (exact, `|a·b| ≤ 2^30` raw), rounded to nearest (ties toward
//!   `+∞`) and saturated: error `≤ ½ LSB`.
//! - Dot products (dense, conv, pointwise, depthwise): `widen`/`mul_acc`/`narrow`. A product of
//!   two raw values is at most `2^30` in magnitude and is added to the `i64` exactly; a widened
//!   value is at most `2^27`. So a sum of fewer than `2^32` terms stays below `2^62` and is
//!   **exact** (a layer would need 2^32 inputs to come near). On a Cortex-M0 each term is one
//!   `MULS`, a sign extension and a 64-bit add (`ADDS`/`ADCS`); there is no 64-bit multiply.
//!   [`narrow`](crate::num::Scalar::narrow) rounds once to nearest and saturates, so every
//!   dense or conv output is within `½ LSB` of the exact value of its quantised inputs, or
//!   `MIN`/`MAX` beyond the range. Against the unquantised (real) inputs `a_i, b_i` of a
//!   length-`n` dot product the error is at most
//!   `½ LSB + ½ LSB·Σ(|a_i| + |b_i|) + n·¼ LSB²` (each input off by `≤ ½ LSB`).
//! - `narrow_div(acc, n)` (means): one rounding of the exact quotient, `≤ ½ LSB`.
//! - The transcendental functions are those of the 32-bit formats evaluated with 12 fraction
//!   bits and saturated to 16 bits; their approximation error is below `2^-29` absolute, far
//!   below `½ LSB = 2^-13`. Measured on **every** one of the 65 536 inputs (exhaustive, against
//!   `libm` in `f64`), the worst error is:
//!
//! | function | domain | stated (measured, exhaustive) |
//! |---|---|---|
//! | `exp` | `x ≤ 0` (the crate's use); `x > ln 8` saturates at `MAX` | `0.5` LSB (`0.499994`) |
//! | `ln` | `x > 0`; `x ≤ 0` gives `MIN` | `0.5` LSB (`0.499983`) |
//! | `recip` | `\|x\| ≥ 1/8` (beyond it `1/x` leaves the range and saturates); `0` gives `MAX` | `0.5` LSB (`0.499973`, exactly rounded) |
//! | `tanh` | any `x` | `0.5001` LSB (`0.500001`) |
//! | `sigmoid` | any `x` | `0.5001` LSB (`0.500000`) |
//!
//! The softmax cross-entropy over `C` classes then has a gradient error
//! `≤ 1 + (C + 1)·E` LSB and a loss error `≤ E_ln + C·E` LSB, as for the 32-bit formats (same
//! derivation with this format's `E`, `E_ln`; measured for `C = 5`: 2.03 and 1.89 LSB against
//! bounds 4 and 3). A loss beyond the range (a wrong class leading the labelled one by more than
//! about `8 − ln C`) saturates at `MAX`; its gradient is still within the bound.
//!
//! # Optimizers
//! Every optimizer of [`optim`](crate::optim) steps I4F12 parameters through the **same 32-bit
//! kernel as I8F24** (`optim/<name>/fixed16.rs` is the adapter; the shared chunk loop is the
//! `widen` module): the parameters and gradients of a chunk of 32 are widened exactly to I8F24,
//! the I8F24 kernel computes the new parameters with round to nearest (`≤ ½·2^-24`), and each is
//! rounded once to I4F12 with one offset of the optimizer's [`RoundingState`]: stochastically by
//! default (unbiased, `< 1` LSB), or to nearest (`≤ ½` LSB). There is no `f32` master copy; the
//! state is the I8F24 kernel's, with its resolution (momentum buffer `2^-24`, moments a 24-bit
//! mantissa). So one step's error relative to the exact step on the same state and inputs is
//! the I8F24 kernel's bound (`num::fixed`'s docs) with its rounding term `1·2^-24` replaced by
//! `2^-12 + 2^-25`: **`< 1 LSB` of I4F12 more than the 32-bit kernel**, per step. The tests and the
//! golden harness use exactly that bound (the documented I8F24 bound evaluated with
//! `lsb = 2^-12 + 2^-25`). Stochastic rounding keeps the expectation of every update, so updates
//! far below 1 LSB (`lr·|g| ≪ 2.4e-4`) still move the parameters on average.
//!
//! The momentum buffer (I8F24) tends to `g/(1 − μ)`, so it can leave `[-128, 128)` although every
//! gradient is inside `[-8, 8)`: the step is then refused with
//! [`Error::StepOverflow`](crate::Error::StepOverflow), nothing changed, as for I8F24.
//!
//! Cost: the widening into the chunk buffers, the final rounding (one LCG draw each) and the
//! chunk loop come on top of the I8F24 kernel, and 256 bytes of stack. Measured on a Cortex-M0
//! (QEMU `microbit`, `-icount`, the `kernels` firmware's rows, step 2, instructions per
//! parameter, gradient check included; I16F16 in brackets): SGD 63.5 (36.8), momentum 104.9
//! (57.4), Adam 435.8 (417.4), RMSprop 318.4 (291.1), Adagrad 311.0 (287.8), Lion 108.3 (89.5).
//! In a training step the optimizer runs once per mini-batch, so this costs little beside the
//! layers' savings (each product one `MULS` instead of four).

pub(crate) mod scalar;
pub(crate) mod widen;

use crate::num::fixed::RoundingState;
pub use crate::num::fixed::I4F12;
use crate::num::{Num, StateValue};

impl StateValue for I4F12 {
    const ZERO: Self = I4F12::ZERO;
}

impl Num for I4F12 {
    type Aux = RoundingState;

    /// Rejects `MIN` and `MAX`, which may be saturated out-of-range values.
    #[inline(always)]
    fn is_usable_gradient(self) -> bool {
        self != Self::MIN && self != Self::MAX
    }

    /// One rounding offset per element (none when rounding to nearest), as the 32-bit formats.
    #[inline]
    fn aux_after(aux: RoundingState, elements: usize) -> RoundingState {
        aux.skipped(elements as u32)
    }
}
