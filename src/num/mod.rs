//! The number abstraction.
//!
//! An optimizer is generic over the type `S` its parameters and gradients are stored in. [`Num`] is
//! what every such type provides; each optimizer then asks for its own kernel trait (for example
//! [`AdamNum`](crate::optim::AdamNum)), in which the number type chooses the format of the
//! optimizer's state (an associated type per moment buffer) and supplies the per-element update.
//! That split is deliberate: Adam's second moment spans `g²`, which a 32-bit fixed-point format
//! cannot hold at the parameter's own resolution, so a fixed-point type must be free to store it
//! differently from the parameters without changing the optimizer's public API.
//!
//! Implemented here: `f32` (the device path) and `f64` (the same generic code at double
//! precision, for host-side simulation), the 32-bit fixed-point formats in [`fixed`], and the
//! 16-bit storage format I4F12 in [`fixed16`].
//!
//! # What lives here
//! This module is the bottom of the crate: it knows nothing of optimizers or layers.
//! - [`Num`]: what an optimizer needs of its element type (a `const` zero, the number type's own
//!   state [`Num::Aux`], the gradient check).
//! - [`Scalar`]: a complete number type on top of it: conversions from and to `f64`
//!   (checked and saturating) and the arithmetic of the layer math.
//! - [`Float`]: the sealed trait of `f32` and `f64` that each optimizer's float kernel is
//!   generic over.
//! - [`fixed`]: `FixedI32<Frac>`, its [`MiniFloat`](fixed::MiniFloat) state format, and the
//!   integer arithmetic (Q-format products, root and reciprocal tables, stochastic rounding) the
//!   fixed-point kernels are built from; [`sqrt`]: the square roots, by name.
//!
//! Each optimizer's kernels for every number type are in one place, `optim/<name>/`
//! (`mod.rs`: the optimizer, its configuration and kernel trait; `float.rs`; `fixed.rs`).

pub mod fixed;
pub mod fixed16;
mod float;
pub(crate) mod pow;
mod scalar;
pub mod sqrt;

#[doc(hidden)]
pub use float::AdamScalars;
pub use float::Float;
pub use scalar::Scalar;
#[doc(hidden)]
pub use scalar::{Columns, DwRow, DwTaps, PixelRows, WindowRuns};

use core::fmt::Debug;

/// Whether this target is a host with SIMD floating point (x86, x86-64, aarch64). Loops there
/// are written for the compiler's vectoriser; on a Cortex-M, for one value at a time.
pub(crate) const VECTOR_HOST: bool = cfg!(any(
    target_arch = "x86_64",
    target_arch = "x86",
    target_arch = "aarch64"
));

/// The exponent of [`Num::first_unusable_and_small`]'s bound: `|g| < 2^29`, so that `g² < 2^58`
/// lies inside the usual safe range of a buffer of squares (Adam's `2^62`, RMSprop's `2^60`, whose
/// bound is `(2A + 1)²` times the largest square), where the bound on the squares carries over
/// from step to step (`optim::bound`: its exponent must stay below the range's).
pub(crate) const SMALL_GRADIENT_EXP: i32 = 29;

/// Whether `f32` arithmetic is done by hardware: a host, or a Cortex-M with an FPU (`eabihf`).
pub(crate) const F32_IN_HARDWARE: bool = VECTOR_HOST || cfg!(target_abi = "eabihf");

/// A value that can be stored in an optimizer's state buffer and has a compile-time zero, so that
/// state arrays `[T; N]` can be built by a `const fn` and placed in a `static` (in `.bss`).
pub trait StateValue: Copy + Debug + PartialEq + 'static {
    /// The value every state buffer starts from.
    const ZERO: Self;

    /// Whether the value can stand in a buffer of squares (a second moment, a sum of squared
    /// gradients), which no step makes negative: checkpoints refuse others, since the step's
    /// square roots rely on it. `true` unless the type says otherwise; for floats, not negative
    /// and not NaN (`−0` passes).
    fn square_state_ok(self) -> bool {
        true
    }
}

impl StateValue for () {
    const ZERO: Self = ();
}

/// A parameter/gradient number type.
pub trait Num: StateValue + PartialOrd {
    /// State the number type keeps across steps inside every optimizer, passed to each kernel
    /// call: `()` (zero bytes) for floats; a fixed-point type keeps its stochastic-rounding
    /// generator here, so that it is saved and restored with the optimizer.
    type Aux: StateValue;

    /// Whether a gradient value can be used by a step: finite for floating point.
    ///
    /// Every step checks all gradients with this before it writes anything.
    fn is_usable_gradient(self) -> bool;

    /// The index of the first gradient in `grads` that
    /// [`is_usable_gradient`](Num::is_usable_gradient) rejects, or `None` if all are usable.
    ///
    /// This is the check every step runs over all its gradients before it writes anything, so it
    /// is on the hot path; a type may override it with a faster scan that gives the same answer.
    #[inline]
    fn first_unusable(grads: &[Self]) -> Option<usize> {
        grads.iter().position(|g| !g.is_usable_gradient())
    }

    /// [`first_unusable`](Num::first_unusable), and whether the same scan also established that
    /// every gradient's magnitude is below `2^29` (`false` when it did not, which proves
    /// nothing; always `false` for fixed point). The floating-point optimizers' overflow check
    /// then need not read the gradients again: the scan that finds a NaN costs the same with a
    /// scale that also finds a magnitude of `2^29`.
    #[inline]
    fn first_unusable_and_small(grads: &[Self]) -> (Option<usize>, bool) {
        (Self::first_unusable(grads), false)
    }

    /// The state [`Aux`](Num::Aux) the optimizer kernels leave after updating `elements`
    /// elements starting from `aux`, computed without running them. A fused step
    /// ([`Optimizer::step_part`](crate::optim::Optimizer::step_part)) starts each part from
    /// `aux_after(aux, range.start)`, where a whole step would have reached it, so parts applied
    /// in any order give a whole step's results.
    ///
    /// Every kernel of this crate draws exactly one value per element from a stochastically
    /// rounding fixed-point type's generator (whatever the optimizer, configuration or code path)
    /// and nothing otherwise. The default returns `aux` unchanged, which is right for a type whose
    /// kernels never change it (the floats, whose `Aux` is `()`).
    #[inline]
    fn aux_after(aux: Self::Aux, elements: usize) -> Self::Aux {
        let _ = elements;
        aux
    }
}
