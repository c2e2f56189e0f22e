//! [`Num`] for the IEEE-754 binary types, and [`Float`], what the optimizers' float kernels are
//! generic over.

use super::{Num, StateValue, F32_IN_HARDWARE, SMALL_GRADIENT_EXP, VECTOR_HOST};
use core::ops::{Add, AddAssign, Div, Mul, Neg, Sub, SubAssign};

mod sealed {
    /// Only `f32` and `f64` are [`Float`](super::Float)s.
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// The IEEE-754 binary types `f32` and `f64`: each optimizer has one float kernel
/// (`optim/<name>/float.rs`), generic over this trait, and both types run it.
///
/// Sealed: the kernels rely on IEEE semantics (for example that `x · 0` is NaN exactly for
/// non-finite `x`), which no other type is checked for.
pub trait Float:
    sealed::Sealed
    + Num
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + Send
    + Sync
{
    /// Whether per-step `f64` scalars such as the bias corrections `1 − β^t` are computed in the
    /// accurate (and costlier) form: for `f64`, whose resolution would see the difference.
    const ACCURATE_STEP_SCALARS: bool;

    /// The smallest positive value (a subnormal).
    const TINY: Self;

    /// `x` rounded to this type (`as`: to nearest; out of range gives `±∞`).
    fn of(x: f64) -> Self;

    /// The square root the kernels use: [`sqrt_f32`](super::sqrt::sqrt_f32) (which the
    /// `fast-sqrt` and `nightly` features choose) or [`sqrt_f64`](super::sqrt::sqrt_f64).
    fn root(self) -> Self;

    /// Whether [`root`](Self::root) runs, on every value, the selects of its path for
    /// subnormal, infinite, NaN and negative inputs: the refined `f32` root on a vector host,
    /// which computes both paths for a whole vector. A loop that knows a block of inputs to be
    /// [`plain_root_input`](Self::plain_root_input)s then calls
    /// [`root_plain`](Self::root_plain) instead, for the same bits.
    #[doc(hidden)]
    const ROOT_SELECTS: bool;

    /// [`root`](Self::root) of a [`plain_root_input`](Self::plain_root_input), the same bits,
    /// without the path for other inputs (whose result is then unspecified, but never a panic).
    #[doc(hidden)]
    fn root_plain(self) -> Self;

    /// Whether the value is `+0` or positive, normal and finite: the inputs of
    /// [`root_plain`](Self::root_plain).
    #[doc(hidden)]
    fn plain_root_input(self) -> bool;

    /// Whether `root_plain(x) + eps` has the bits of `root(x) + eps` for every `x` that is `+0`
    /// or positive and finite, subnormals included: then a loop whose root inputs are such
    /// values (a second moment, a sum of squares) adds `eps` to [`root_plain`](Self::root_plain)
    /// without testing its inputs.
    #[doc(hidden)]
    fn plain_root_beside(eps: Self) -> bool;

    /// `self < 0.5` for a positive `self`, by comparing the bits as integers (no float compare
    /// for the code generator to sink into a loop; on an FPU-less core a float compare is a
    /// library call).
    fn below_half(self) -> bool;

    /// One more than the largest binary exponent of a finite value (`f32`: 128, `f64`: 1024):
    /// every finite magnitude is below `2^MAX_EXP`.
    const MAX_EXP: i32;

    /// Whether the value is finite (neither infinite nor NaN).
    fn finite(self) -> bool;

    /// The value as an `f64` (exact).
    fn wide(self) -> f64;

    /// `true` only if every `|x|` of `values` is below `2^k` (`1 ≤ k < MAX_EXP`); it may also
    /// return `false` for values a little below `2^k` or for many values near it, never `true`
    /// for a value at or above it (or a NaN). With an FPU, by arithmetic: `Σ x·2^(MAX_EXP − k)`
    /// overflows, or is NaN, when some `|x| ≥ 2^k(1 − 2^-25)` (two instructions per value on a
    /// Cortex-M4F, as for the finiteness of the gradients); without one, by comparing the bits.
    fn all_below_pow2(values: &[Self], k: i32) -> bool;

    /// Whether the kernels follow torch's CPU operation order and fused rounding exactly
    /// ([`madd`](Self::madd) fused, `addcmul` as `fma(w·g, g, α·v)`, `addcdiv` as
    /// `p + (−lr·g)/d`): `true` for `f64`, so that it agrees with torch's float64 run to 1e-12
    /// even where a step is ill-conditioned (centered RMSprop with `α` near 0, whose `v − ḡ²`
    /// cancels to `α` of `v`: an unfused order was 9e-11 away, the fused one bit-identical on
    /// the golden cases); `false` for `f32`, which keeps its unfused order (stable `core` has no
    /// fused `f32` multiply-add, and a library `fmaf` costs about a hundred instructions per call
    /// on a Cortex-M0) except in the expressions that use [`fused`](Self::fused).
    const TORCH_ORDER: bool;

    /// `a·b + c`: fused (one rounding) when [`TORCH_ORDER`](Self::TORCH_ORDER), as torch's
    /// `add(alpha=)`, `lerp` and `addcmul` round on x86-64; otherwise `a·b` rounded, then the sum.
    fn madd(a: Self, b: Self, c: Self) -> Self;

    /// `a·b + c` rounded once, in every type and on every target (std's where the host has
    /// it, else `libm`'s, both correctly rounded, so a host replays a device bit for bit). For
    /// the few expressions whose cancellation the unfused `f32` order amplifies far beyond
    /// torch's own `f32` drift (centered RMSprop's `α·v + (1 − α)·g²` and `v − ḡ²`); it costs a
    /// library call per use where the core has no fused `f32` multiply-add.
    fn fused(a: Self, b: Self, c: Self) -> Self;

    /// Adam's update (torch's lerp branch, no L2 decay, no `maximize`, no AMSGrad; AdamW with
    /// `s.decay`) over a prefix by a hardware kernel, bit for bit as the optimizer's loop;
    /// returns the prefix's length, where the caller goes on. The default takes none.
    #[doc(hidden)]
    #[inline(always)]
    fn adam_prefix(
        p: &mut [Self],
        g: &[Self],
        m: &mut [Self],
        v: &mut [Self],
        s: &AdamScalars<Self>,
    ) -> usize {
        let _ = (p, g, m, v, s);
        0
    }

    /// `acc[k] += x[8j + k]·scale` (each lane in ascending `j`) over a prefix of a multiple of
    /// eight values by a hardware kernel, bit for bit; returns the prefix's length, where the
    /// caller goes on. The default takes none.
    #[doc(hidden)]
    #[inline(always)]
    fn scaled_sums_prefix(acc: &mut [Self; 8], values: &[Self], scale: Self) -> usize {
        let _ = (acc, values, scale);
        0
    }
}

/// The per-step scalars of Adam's element update, for [`Float::adam_prefix`].
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct AdamScalars<T> {
    /// `1 − β1`, the lerp weight.
    pub w1: T,
    /// `β2`.
    pub beta2: T,
    /// `1 − β2`.
    pub omb2: T,
    /// `eps·sqrt(1 − β2^t)`.
    pub eps: T,
    /// `lr / (1 − β1^t) · sqrt(1 − β2^t)`.
    pub step_size: T,
    /// AdamW's `1 − lr·wd`, if any.
    pub decay: Option<T>,
}

impl Float for f32 {
    const ACCURATE_STEP_SCALARS: bool = false;
    const TORCH_ORDER: bool = false;

    #[inline(always)]
    fn madd(a: Self, b: Self, c: Self) -> Self {
        a * b + c
    }

    #[inline(always)]
    fn fused(a: Self, b: Self, c: Self) -> Self {
        #[cfg(feature = "std")]
        {
            a.mul_add(b, c)
        }
        #[cfg(not(feature = "std"))]
        {
            libm::fmaf(a, b, c)
        }
    }
    const TINY: Self = f32::from_bits(1);
    const MAX_EXP: i32 = 128;

    #[inline(always)]
    fn finite(self) -> bool {
        self.is_finite()
    }

    #[inline(always)]
    fn wide(self) -> f64 {
        f64::from(self)
    }

    #[inline(always)]
    fn all_below_pow2(values: &[Self], k: i32) -> bool {
        if F32_IN_HARDWARE {
            // 2^(128 − k), built from its bits (biased exponent 255 − k, in 128..=254).
            all_finite_scaled(values, f32::from_bits(((255 - k) as u32) << 23))
        } else {
            let lim = ((127 + k) as u32) << 23; // the bits of 2^k
            values.iter().all(|x| x.to_bits() & 0x7FFF_FFFF < lim)
        }
    }

    #[inline(always)]
    fn of(x: f64) -> Self {
        x as f32
    }

    #[inline(always)]
    fn root(self) -> Self {
        super::sqrt::sqrt_f32(self)
    }

    const ROOT_SELECTS: bool = super::sqrt::SQRT_F32_SELECTS;

    #[inline(always)]
    fn root_plain(self) -> Self {
        super::sqrt::sqrt_f32_plain(self)
    }

    #[inline(always)]
    fn plain_root_input(self) -> bool {
        // `+0`, or exponent field in 1..=254 and sign clear.
        let b = self.to_bits();
        b == 0 || b.wrapping_sub(0x0080_0000) < 0x7f00_0000
    }

    #[inline(always)]
    fn plain_root_beside(eps: Self) -> bool {
        !super::sqrt::SQRT_F32_REFINED || eps >= super::sqrt::PLAIN_ROOT_EPS_MIN
    }

    #[inline(always)]
    fn below_half(self) -> bool {
        self.to_bits() < 0.5f32.to_bits()
    }

    // Four parameters per iteration by `vldmia`/`vstmia` (`arm::adam`): the same bits.
    #[cfg(all(feature = "arm-vldm", target_arch = "arm", target_abi = "eabihf"))]
    #[inline(always)]
    fn adam_prefix(
        p: &mut [Self],
        g: &[Self],
        m: &mut [Self],
        v: &mut [Self],
        s: &AdamScalars<Self>,
    ) -> usize {
        crate::arm::adam::adam(p, g, m, v, s)
    }

    // Sixteen values per iteration by `vldmia` (`arm::vldm`): the same sums.
    #[cfg(all(feature = "arm-vldm", target_arch = "arm", target_abi = "eabihf"))]
    #[inline(always)]
    fn scaled_sums_prefix(acc: &mut [Self; 8], values: &[Self], scale: Self) -> usize {
        crate::arm::vldm::scaled_sums(acc, values, scale)
    }
}

impl Float for f64 {
    const ACCURATE_STEP_SCALARS: bool = true;
    const TORCH_ORDER: bool = true;

    #[inline(always)]
    fn madd(a: Self, b: Self, c: Self) -> Self {
        // Correctly rounded either way: std's is one instruction where the target has FMA.
        #[cfg(feature = "std")]
        {
            a.mul_add(b, c)
        }
        #[cfg(not(feature = "std"))]
        {
            libm::fma(a, b, c)
        }
    }

    #[inline(always)]
    fn fused(a: Self, b: Self, c: Self) -> Self {
        Self::madd(a, b, c)
    }
    const TINY: Self = f64::from_bits(1);
    const MAX_EXP: i32 = 1024;

    #[inline(always)]
    fn finite(self) -> bool {
        self.is_finite()
    }

    #[inline(always)]
    fn wide(self) -> f64 {
        self
    }

    #[inline(always)]
    fn all_below_pow2(values: &[Self], k: i32) -> bool {
        if VECTOR_HOST {
            all_finite_scaled(values, f64::from_bits(((2047 - k) as u64) << 52))
        } else {
            let lim = ((1023 + k) as u64) << 52;
            values
                .iter()
                .all(|x| x.to_bits() & 0x7FFF_FFFF_FFFF_FFFF < lim)
        }
    }

    #[inline(always)]
    fn of(x: f64) -> Self {
        x
    }

    #[inline(always)]
    fn root(self) -> Self {
        super::sqrt::sqrt_f64(self)
    }

    const ROOT_SELECTS: bool = false;

    #[inline(always)]
    fn root_plain(self) -> Self {
        self.root()
    }

    #[inline(always)]
    fn plain_root_input(self) -> bool {
        let b = self.to_bits();
        b == 0 || b.wrapping_sub(1 << 52) < 0x7FE0_0000_0000_0000
    }

    #[inline(always)]
    fn plain_root_beside(eps: Self) -> bool {
        // `root_plain` is `root`.
        let _ = eps;
        true
    }

    #[inline(always)]
    fn below_half(self) -> bool {
        self.to_bits() < 0.5f64.to_bits()
    }
}

/// `true` if every value is finite, by arithmetic rather than by testing each value: `x · 0` is
/// `±0` for finite `x` and NaN for an infinity or a NaN, and a NaN survives every sum. The
/// running sums are independent, so a pipelined FPU is not stalled on one accumulator.
///
/// On a Cortex-M4F this is two instructions per value (`vldr`, `vmla.f32`: the multiply-add is
/// not fused, so no rounding differs from the plain `acc + x·0`), against four for a
/// load/mask/compare/branch test of the bits. It needs an FPU: in soft-float it would be two
/// library calls per value, so soft-float targets test the bits instead.
#[inline(always)]
fn all_finite_by_arithmetic<T: Float>(values: &[T]) -> bool {
    all_finite_scaled(values, T::ZERO)
}

/// Running sums of a scan on a vector host: eight vectors of four lanes (SSE2, NEON) or four of
/// eight (AVX2), so that the adds of consecutive vectors do not wait on each other. With the
/// eight sums of a device, the scan is bound by one add's latency per vector, not by the cache
/// (x86-64, N = 1 Mi `f32`, one thread, 32 against 8 sums: `benches/`,
/// `diagnostics/gradscan-edgetune-f32`).
const HOST_SUMS: usize = 32;

/// `true` if `Σ x·scale` over `values` is finite (independent running sums, as
/// [`all_finite_by_arithmetic`], which is `scale = 0`): with `scale = 2^(MAX_EXP − k)` a value
/// with `|x| ≥ 2^k(1 − 2^-25)` makes its product infinite and the sum infinite or NaN. A sum
/// may also overflow with every value below `2^k`: `false` then asks for the exact test, so how
/// many sums there are changes no result.
#[inline(always)]
fn all_finite_scaled<T: Float>(values: &[T], scale: T) -> bool {
    if VECTOR_HOST {
        return sums_finite([T::ZERO; HOST_SUMS], values, scale);
    }
    // Eight on a device: a Cortex-M4F keeps them in registers.
    let acc = [T::ZERO; 8];
    // A hardware kernel may take a prefix (`arm-vldm`); the lanes go on in the same order.
    #[cfg(feature = "arm-vldm")]
    let (acc, values) = {
        let mut acc = acc;
        let done = T::scaled_sums_prefix(&mut acc, values, scale);
        (acc, &values[done..])
    };
    sums_finite(acc, values, scale)
}

/// Adds `x·scale` of each value to the sums `acc` (value `i` to sum `i mod L` of its chunk, the
/// tail to the first), then whether the sums' total is finite.
#[inline(always)]
fn sums_finite<T: Float, const L: usize>(mut acc: [T; L], values: &[T], scale: T) -> bool {
    let mut chunks = values.chunks_exact(L);
    for c in &mut chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += x * scale;
        }
    }
    for &x in chunks.remainder() {
        acc[0] += x * scale;
    }
    let s = acc.iter().fold(T::ZERO, |s, &a| s + a);
    s.finite()
}

impl StateValue for f32 {
    const ZERO: Self = 0.0;

    fn square_state_ok(self) -> bool {
        self >= 0.0
    }
}

impl Num for f32 {
    type Aux = ();

    #[inline(always)]
    fn is_usable_gradient(self) -> bool {
        self.is_finite()
    }

    #[inline]
    fn first_unusable(grads: &[Self]) -> Option<usize> {
        if F32_IN_HARDWARE && all_finite_by_arithmetic(grads) {
            return None;
        }
        grads.iter().position(|g| !g.is_finite())
    }

    #[inline(always)]
    fn first_unusable_and_small(grads: &[Self]) -> (Option<usize>, bool) {
        crate::optim::threads::scan(grads, first_nonfinite_or_small)
    }
}

impl StateValue for f64 {
    const ZERO: Self = 0.0;

    fn square_state_ok(self) -> bool {
        self >= 0.0
    }
}

impl Num for f64 {
    type Aux = ();

    #[inline(always)]
    fn is_usable_gradient(self) -> bool {
        self.is_finite()
    }

    #[inline]
    fn first_unusable(grads: &[Self]) -> Option<usize> {
        // f64 is in hardware on hosts only (soft on a Cortex-M4F/M7's single-precision FPU).
        if VECTOR_HOST && all_finite_by_arithmetic(grads) {
            return None;
        }
        grads.iter().position(|g| !g.is_finite())
    }

    #[inline(always)]
    fn first_unusable_and_small(grads: &[Self]) -> (Option<usize>, bool) {
        crate::optim::threads::scan(grads, first_nonfinite_or_small)
    }
}

/// [`Num::first_unusable_and_small`] of one piece of the gradients (see `optim::threads`).
#[inline(always)]
fn first_nonfinite_or_small<T: Float>(grads: &[T]) -> (Option<usize>, bool) {
    if T::all_below_pow2(grads, SMALL_GRADIENT_EXP) {
        return (None, true);
    }
    (grads.iter().position(|g| !g.finite()), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Long enough for two whole chunks of the widest scan and a remainder.
    const LONG: usize = 2 * HOST_SUMS + 5;

    /// The arithmetic scan and the per-value test agree on every kind of value, at every position
    /// (whole chunks and the remainder) and every length up to [`LONG`].
    #[test]
    fn first_unusable_finds_the_first_non_finite_value() {
        let specials = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY];
        let fine = [
            0.0f32,
            -0.0,
            1.5,
            -3.0e38,
            f32::MIN_POSITIVE / 8.0,
            f32::MAX,
        ];
        for len in 0..=LONG {
            let mut g = [0.0f32; LONG];
            for (i, x) in g.iter_mut().enumerate() {
                *x = fine[i % fine.len()];
            }
            assert_eq!(f32::first_unusable(&g[..len]), None);
            let g64: [f64; LONG] = g.map(f64::from);
            assert_eq!(f64::first_unusable(&g64[..len]), None);
            for bad_at in 0..len {
                for &s in &specials {
                    let mut b = g;
                    b[bad_at] = s;
                    if bad_at + 2 < len {
                        b[bad_at + 2] = f32::NAN; // a later one must not win
                    }
                    assert_eq!(f32::first_unusable(&b[..len]), Some(bad_at));
                    let b64: [f64; LONG] = b.map(f64::from);
                    assert_eq!(f64::first_unusable(&b64[..len]), Some(bad_at));
                }
            }
        }
    }

    /// The range scan finds a value at or above `2^k` at every position of every length up to
    /// [`LONG`] (whole chunks and the remainder), among values well below it (a few values
    /// just below `2^k` in one sum may overflow it: `false` then, which proves nothing, see
    /// `all_finite_scaled`).
    #[test]
    fn all_below_pow2_finds_the_edge_anywhere() {
        let k = 20;
        let edge = libm::ldexpf(1.0, k);
        let fine = libm::ldexpf(1.0, k - 8) * 1.5;
        for len in 0..=LONG {
            let fine: [f32; LONG] = core::array::from_fn(|i| if i % 3 == 0 { -fine } else { fine });
            assert!(f32::all_below_pow2(&fine[..len], k), "{len}");
            assert!(f64::all_below_pow2(&fine.map(f64::from)[..len], k), "{len}");
            for at in 0..len {
                let mut x = fine;
                x[at] = -edge;
                assert!(!f32::all_below_pow2(&x[..len], k), "{len} {at}");
                assert!(
                    !f64::all_below_pow2(&x.map(f64::from)[..len], k),
                    "{len} {at}"
                );
            }
        }
    }
}
