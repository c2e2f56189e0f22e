//! Square roots for the optimizers.
//!
//! `core` has no `sqrt` on stable Rust, so the crate names its square root explicitly:
//!
//! | function | used by default | worst-case error | notes |
//! |---|---|---|---|
//! | `core::f32::math::sqrt` | with feature `nightly` | correctly rounded | one `vsqrt.f32` on a Cortex-M4F (14 cycles); needs a nightly compiler |
//! | `vsqrt.f32` in a leaf function | with feature `arm-vsqrt` on a Cortex-M with an FPU (`eabihf`) | correctly rounded | the same instruction on stable Rust, plus a call and a return; the crate's `arm` module, its only `unsafe` code |
//! | [`sqrt_f32_refined`] | yes, on targets with a hardware FPU (`eabihf`, x86, aarch64) | 1 ulp (0.856 ulp measured), tested exhaustively | rsqrt estimate + one third-order step + one residual correction; no divide, about 17 instructions; vectorisable on the host, same bits |
//! | [`sqrt_f32_accurate`] | yes, on FPU-less targets (thumbv6m, thumbv7em-none-eabi) | correctly rounded (0.5 ulp) | `libm::sqrtf`, integer-only: cheaper than soft-float arithmetic |
//! | [`sqrt_f32_exact`] | with feature `exact-sqrt` | correctly rounded | `std`'s root (one `sqrtss`/`sqrtps` on x86-64, vectorised) with feature `std`, else `libm::sqrtf`: the same bits either way, and the bits of `nightly` devices and FPU-less devices |
//! | `sqrt_f32_fast` | with feature `fast-sqrt` | 2.0e-6 relative, tested over every exponent | micromath's estimate + 2 Newton steps |
//! | [`sqrt_f64`] | always for `f64` | correctly rounded | `libm::sqrt` |
//!
//! [`sqrt_f32`] is the one the `f32` optimizers call; it resolves to one of the first six at
//! compile time (`nightly` wins over `arm-vsqrt`, which wins over `exact-sqrt`, which wins over
//! `fast-sqrt`; [`SQRT_F32_CORRECTLY_ROUNDED`] says whether the result is). Host tests call
//! the same function as a hard-float device does (the refined one), never `std`'s.
//!
//! # Replaying a device on the host: choose the root the device has
//! A host replays a device's `f32` training bit for bit only with the same square root:
//!
//! | device build | its root | host build that replays it |
//! |---|---|---|
//! | Cortex-M4F/M7, stable (default) | [`sqrt_f32_refined`] | default features |
//! | Cortex-M4F/M7 with `nightly` or `arm-vsqrt` | `vsqrt.f32`, correctly rounded | `exact-sqrt` (or `nightly`) |
//! | Cortex-M0/M0+/M3 (no FPU), default | [`sqrt_f32_accurate`], correctly rounded | `exact-sqrt` |
//! | any device with `exact-sqrt` | correctly rounded | `exact-sqrt` |
//!
//! Every correctly rounded root gives the same bits, so `exact-sqrt` on a host (where `std`'s root
//! is one vector instruction) replays all three correctly rounded device builds.

/// Whether [`sqrt_f32`] is correctly rounded in this build (the same bits as
/// [`sqrt_f32_accurate`] for every input): with `nightly`, with `arm-vsqrt` on a core with an FPU,
/// with `exact-sqrt`, and by default on a target without a hardware FPU; `false` where it is
/// [`sqrt_f32_refined`] (within 1 ulp) or `sqrt_f32_fast`.
pub const SQRT_F32_CORRECTLY_ROUNDED: bool = cfg!(any(
    feature = "nightly",
    all(
        feature = "arm-vsqrt",
        target_arch = "arm",
        target_abi = "eabihf"
    ),
    feature = "exact-sqrt",
)) || (!cfg!(feature = "fast-sqrt")
    && !super::F32_IN_HARDWARE);

/// The square root every `f32` optimizer uses: `core::f32::math::sqrt` with feature `nightly`,
/// else `vsqrt.f32` (in a leaf function) with feature `arm-vsqrt` on a Cortex-M with an FPU
/// (`eabihf` targets; stable Rust), else [`sqrt_f32_exact`] with feature `exact-sqrt`, else
/// `sqrt_f32_fast` with feature `fast-sqrt`, else [`sqrt_f32_refined`] where the target has a
/// hardware FPU and [`sqrt_f32_accurate`] where it has not.
#[inline(always)]
pub fn sqrt_f32(x: f32) -> f32 {
    #[cfg(feature = "nightly")]
    {
        core::f32::math::sqrt(x)
    }
    #[cfg(all(
        not(feature = "nightly"),
        feature = "arm-vsqrt",
        target_arch = "arm",
        target_abi = "eabihf"
    ))]
    {
        crate::arm::vsqrt::sqrt(x)
    }
    #[cfg(all(
        not(feature = "nightly"),
        not(all(feature = "arm-vsqrt", target_arch = "arm", target_abi = "eabihf")),
        feature = "exact-sqrt"
    ))]
    {
        sqrt_f32_exact(x)
    }
    #[cfg(all(
        not(feature = "nightly"),
        not(all(feature = "arm-vsqrt", target_arch = "arm", target_abi = "eabihf")),
        not(feature = "exact-sqrt"),
        feature = "fast-sqrt"
    ))]
    {
        sqrt_f32_fast(x)
    }
    #[cfg(all(
        not(feature = "nightly"),
        not(all(feature = "arm-vsqrt", target_arch = "arm", target_abi = "eabihf")),
        not(feature = "exact-sqrt"),
        not(feature = "fast-sqrt")
    ))]
    {
        if super::F32_IN_HARDWARE {
            sqrt_f32_refined(x)
        } else {
            sqrt_f32_accurate(x)
        }
    }
}

/// `f32` square root within 1 ulp, from FPU multiplies and adds only (no divide, no `vsqrt`).
///
/// For a positive normal finite `x`: the bit-level estimate `r` of `1/√x` (3.4 % relative error)
/// is refined by one third-order step: with `d = 1 − x·r²`, `r ← r + r·d·(b + a·d)`. The exact
/// series is `(1 − d)^(−1/2) = 1 + d/2 + 3d²/8 + …`; `b = 0.501` and `a = 0.375` (instead of `1/2`
/// and `3/8`) balance the dropped `5d³/16` over the range of `d` the estimate produces, which
/// leaves `r` within 3.4e-5 (measured over every `f32` in `[1, 4)`; the Taylor coefficients give
/// 1.0e-4). Then `s = x·r`, and one Newton step for the root itself,
/// `s ← s + (r/2)·(x − s²)`, leaves `1.5·(3.4e-5)² ≈ 1.7e-9` of truncation plus the rounding:
/// `x − fl(s²)` is exact (Sterbenz), the rounding of `s²` contributes at most 0.35 ulp and the
/// final addition 0.5 ulp. Measured worst case: 0.856 ulp (the tests check 1 ulp over every `f32`
/// in `[1, 4)`, which covers every normal `x`: each operation scales exactly by powers of 4).
/// Zero and subnormals are scaled into the normal range first (`√x = √(x·2^24)·2^-12`, both
/// scalings exact), so they get the same accuracy; infinity gives infinity, NaN and negative
/// inputs NaN.
///
/// The single third-order step takes 7 FPU instructions where the two Newton steps
/// `r ← r·(3/2 − (x/2)·r²)` it replaces took 9 (with the halving of `x`).
///
/// Two forms give the same bits for every input: on a Cortex-M (one value at a time) the rare
/// inputs leave through one compare and branch; on x86 and aarch64 every input takes the same
/// path with selects instead, so loops that call this can be vectorised. A host therefore
/// replays a Cortex-M4F's `f32` training bit for bit (the on-target tests in `boards/` check it).
#[inline(always)]
pub fn sqrt_f32_refined(x: f32) -> f32 {
    if super::VECTOR_HOST {
        refined_by_selects(x)
    } else {
        refined_by_branch(x)
    }
}

/// Whether [`sqrt_f32`] is [`sqrt_f32_refined`] on a vector host, whose form computes the path
/// for subnormal, infinite, NaN and negative inputs on every value ([`sqrt_f32_plain`] leaves it
/// out).
pub(crate) const SQRT_F32_SELECTS: bool = SQRT_F32_REFINED && super::VECTOR_HOST;

/// Whether [`sqrt_f32`] is [`sqrt_f32_refined`]: by default where the target has a hardware FPU.
pub(crate) const SQRT_F32_REFINED: bool = super::F32_IN_HARDWARE
    && !cfg!(any(
        feature = "nightly",
        all(
            feature = "arm-vsqrt",
            target_arch = "arm",
            target_abi = "eabihf"
        ),
        feature = "exact-sqrt",
        feature = "fast-sqrt"
    ));

/// [`sqrt_f32`] of `+0` or a positive, normal, finite `x`, the same bits. Where the root is
/// [`sqrt_f32_refined`], its core without the path for other inputs: `+0` needs none (the
/// estimate stays finite and `s = 0·r` is `+0`); a positive subnormal gives a value in
/// `[0, 2^-63]`, as the root itself does ([`ROOT_OF_SUBNORMAL_MAX`]); other inputs give an
/// unspecified value. Elsewhere `sqrt_f32` itself. On a vector host the selects of the other
/// path were about a third of an Adam step at 64 Ki elements (`benches/`); on a Cortex-M4F
/// the branch is three instructions per element.
#[inline(always)]
pub(crate) fn sqrt_f32_plain(x: f32) -> f32 {
    if SQRT_F32_REFINED {
        refined_core(x)
    } else {
        sqrt_f32(x)
    }
}

/// At least every value that [`sqrt_f32`] and [`sqrt_f32_plain`] give for a positive
/// subnormal: `2^-63`, the root of `2^-126` (tested over every subnormal).
pub(crate) const ROOT_OF_SUBNORMAL_MAX: f32 = 1.0 / 9_223_372_036_854_775_808.0;

/// The least `eps` for which `sqrt_f32_plain(x) + eps` has the bits of `sqrt_f32(x) + eps` for
/// every `x` that is `+0` or positive and finite: `2^-38`, `2^25` times
/// [`ROOT_OF_SUBNORMAL_MAX`]. Both roots agree on `+0` and on
/// positive normals; on a subnormal both lie in `[0, 2^-63]`, below half the spacing of the
/// floats at `eps ≥ 2^-38` (`2^-62` or more), so each sum rounds to `eps` itself. torch's
/// defaults lie far above it: Adam's `1e-8` (`3.2e-10` after the bias correction of its first
/// step), RMSprop's `1e-8`, Adagrad's `1e-10`.
pub(crate) const PLAIN_ROOT_EPS_MIN: f32 = ROOT_OF_SUBNORMAL_MAX * 33_554_432.0; // · 2^25

/// The bits from which the estimate of `1/√x` subtracts half of `x`'s bits.
pub(crate) const RSQRT_MAGIC: u32 = 0x5f37_5a86;
/// `b` and `a` of the third-order step `r ← r + r·d·(b + a·d)` (see [`sqrt_f32_refined`]).
pub(crate) const REFINE_B: f32 = 0.501;
pub(crate) const REFINE_A: f32 = 0.375;

/// The refined root of a positive normal `x` (the estimate, the third-order step and the
/// correction described at [`sqrt_f32_refined`]); zero gives zero. `arm::vldm`'s Adam kernel
/// runs these operations in this order.
#[inline(always)]
fn refined_core(x: f32) -> f32 {
    let r = f32::from_bits(RSQRT_MAGIC.wrapping_sub(x.to_bits() >> 1));
    let d = 1.0 - (x * r) * r;
    let r = r + r * (d * (REFINE_B + REFINE_A * d));
    let s = x * r;
    s + (0.5 * r) * (x - s * s)
}

/// `2^24` and `2^-12`: the exact scaling of zero and subnormals into the normal range.
pub(crate) const SUB_UP: f32 = 16_777_216.0;
pub(crate) const SUB_DOWN: f32 = 1.0 / 4096.0;

/// [`sqrt_f32_refined`] with one branch for the inputs outside the positive normal range.
#[inline(always)]
fn refined_by_branch(x: f32) -> f32 {
    // Positive, normal and finite: exponent field in 1..=254 and sign clear.
    if x.to_bits().wrapping_sub(0x0080_0000) >= 0x7f00_0000 {
        return refined_rare(x);
    }
    refined_core(x)
}

/// Zero, subnormals, infinity, NaN and negative inputs (kept out of line of the hot loop).
#[inline(never)]
fn refined_rare(x: f32) -> f32 {
    if x == 0.0 {
        // First: a zero second moment is common (a gradient that is always 0). ±0 as IEEE says,
        // and as the scaled path below would give.
        x
    } else if x.is_nan() || x < 0.0 {
        f32::NAN
    } else if x == f32::INFINITY {
        x
    } else {
        refined_core(x * SUB_UP) * SUB_DOWN
    }
}

/// [`sqrt_f32_refined`] without branches: the same values as [`refined_by_branch`].
#[inline(always)]
fn refined_by_selects(x: f32) -> f32 {
    let small = x < f32::MIN_POSITIVE; // zero, subnormal or negative
    let y = refined_core(if small { x * SUB_UP } else { x });
    let y = if small { y * SUB_DOWN } else { y };
    let y = if x == f32::INFINITY { x } else { y };
    if x < 0.0 {
        f32::NAN
    } else {
        y
    }
}

/// Correctly rounded `f32` square root (`libm::sqrtf`).
#[inline(always)]
pub fn sqrt_f32_accurate(x: f32) -> f32 {
    libm::sqrtf(x)
}

/// Correctly rounded `f32` square root by the fastest means the build has: `std`'s (the
/// hardware's `sqrtss`/`sqrtps` on x86-64, `fsqrt` on aarch64; it vectorises) with feature `std`,
/// else `libm::sqrtf`. Both are correctly rounded, so they give the same bits.
#[inline(always)]
pub fn sqrt_f32_exact(x: f32) -> f32 {
    #[cfg(feature = "std")]
    {
        x.sqrt()
    }
    #[cfg(not(feature = "std"))]
    {
        libm::sqrtf(x)
    }
}

/// Correctly rounded `f64` square root (`libm::sqrt`).
#[inline(always)]
pub fn sqrt_f64(x: f64) -> f64 {
    libm::sqrt(x)
}

/// Worst-case relative error of [`sqrt_f32_fast`] over all positive finite `f32` (normal and
/// subnormal), as asserted by this module's tests: micromath's estimate is within 6 % and each
/// Newton step squares the relative error and halves it (0.06 → 1.8e-3 → 1.6e-6), plus a few ulp
/// of rounding in the last step.
#[cfg(feature = "fast-sqrt")]
pub const SQRT_F32_FAST_MAX_REL_ERROR: f32 = 2.0e-6;

/// Fast approximate `f32` square root: micromath's bit-level estimate refined by two Newton steps
/// `y ← (y + x/y)/2`. Relative error at most [`SQRT_F32_FAST_MAX_REL_ERROR`]; exact for `0`,
/// `+inf` and NaN pass-through (a NaN or negative input gives NaN, as `sqrtf` does).
#[cfg(feature = "fast-sqrt")]
#[inline(always)]
pub fn sqrt_f32_fast(x: f32) -> f32 {
    // Zero, negative, NaN and infinity: the Newton step would divide by zero or by infinity.
    if !(x > 0.0 && x < f32::INFINITY) {
        return if x == 0.0 || x == f32::INFINITY {
            x
        } else {
            f32::NAN
        };
    }
    // micromath's bit-level estimate assumes a normal float: scale subnormals up by 2^24 (exact)
    // and the root back down by 2^-12 (exact).
    let (x, scale) = if x < f32::MIN_POSITIVE {
        (x * 16_777_216.0, 1.0 / 4096.0)
    } else {
        (x, 1.0)
    };
    let y0 = micromath::F32(x).sqrt().0;
    let y1 = 0.5 * (y0 + x / y0);
    0.5 * (y1 + x / y1) * scale
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    /// The plain root gives the bits of `sqrt_f32` for `+0` and for positive normal values at
    /// every exponent (a spread of significands each), the inputs its callers give it.
    #[test]
    fn plain_root_has_the_bits_of_the_root_on_its_inputs() {
        assert_eq!(sqrt_f32_plain(0.0).to_bits(), 0);
        for e in 1..255u32 {
            for m in (0..1u32 << 23).step_by(4_099).chain([(1 << 23) - 1]) {
                let x = f32::from_bits(e << 23 | m);
                assert_eq!(sqrt_f32_plain(x).to_bits(), sqrt_f32(x).to_bits(), "{x:e}");
            }
        }
    }

    /// The refined root, its core, and the build's two roots: every positive subnormal gives a
    /// value in `[0, 2^-63]` (all 2^23 - 1 of them).
    #[test]
    fn roots_of_subnormals_lie_below_the_bound() {
        let roots: [fn(f32) -> f32; 4] = [sqrt_f32_refined, refined_core, sqrt_f32, sqrt_f32_plain];
        for (name, root) in ["refined", "core", "sqrt_f32", "plain"]
            .into_iter()
            .zip(roots)
        {
            for bits in 1..0x0080_0000u32 {
                let y = root(f32::from_bits(bits));
                assert!(
                    (0.0..=ROOT_OF_SUBNORMAL_MAX).contains(&y),
                    "{name} {bits:#x}: {y:e}"
                );
            }
        }
        assert_eq!(ROOT_OF_SUBNORMAL_MAX, libm::ldexpf(1.0, -63));
        assert_eq!(PLAIN_ROOT_EPS_MIN, libm::ldexpf(1.0, -38));
    }

    /// From `eps = 2^-38` on, the core plus `eps` has the bits of the refined root plus `eps` on
    /// `+0`, every subnormal and a sweep of normals; far below it, a subnormal tells them
    /// apart (so the bound is not vacuous).
    #[test]
    fn plain_root_beside_eps_has_the_bits_of_the_root() {
        let next_up = |x: f32| f32::from_bits(x.to_bits() + 1);
        let epsilons = [
            PLAIN_ROOT_EPS_MIN,
            next_up(PLAIN_ROOT_EPS_MIN),
            1.5 * PLAIN_ROOT_EPS_MIN,
            1e-10,
            3.162_277_7e-10,
            1e-8,
            1.0,
        ];
        let inputs = (0..0x0080_0000u32)
            .step_by(37)
            .chain([0x007f_ffff])
            .chain((0x0080_0000..0x7f80_0000).step_by(1_000_003));
        for bits in inputs {
            let x = f32::from_bits(bits);
            for eps in epsilons {
                let (plain, root) = (refined_core(x) + eps, sqrt_f32_refined(x) + eps);
                assert_eq!(plain.to_bits(), root.to_bits(), "{x:e} {eps:e}");
                let (plain, root) = (sqrt_f32_plain(x) + eps, sqrt_f32(x) + eps);
                assert_eq!(plain.to_bits(), root.to_bits(), "{x:e} {eps:e}");
            }
        }
        let tiny = 1e-35;
        assert!((1..0x0080_0000u32).step_by(37).any(|bits| {
            let x = f32::from_bits(bits);
            (refined_core(x) + tiny).to_bits() != (sqrt_f32_refined(x) + tiny).to_bits()
        }));
    }

    /// Relative error of `f` against the correctly rounded `sqrtf`, measured in f64.
    fn rel_err(f: fn(f32) -> f32, x: f32) -> f64 {
        let exact = f64::from(x).sqrt();
        (f64::from(f(x)) - exact).abs() / exact
    }

    #[test]
    fn accurate_sqrt_is_correctly_rounded_on_a_sweep() {
        // Correct rounding means the error is at most half an ulp of the result: 2^-24 relative.
        let mut bits = 1u32;
        while bits < 0x7f80_0000 {
            let x = f32::from_bits(bits);
            assert!(
                rel_err(sqrt_f32_accurate, x) <= f64::from(f32::EPSILON) / 2.0,
                "{x:e}"
            );
            bits += 7919;
        }
    }

    #[test]
    fn exact_sqrt_matches_libm_bit_for_bit() {
        // Every exponent and a spread of mantissas, plus the special values.
        let mut bits = 0u32;
        while bits < 0xff80_0000 {
            let x = f32::from_bits(bits);
            let (a, b) = (sqrt_f32_exact(x), libm::sqrtf(x));
            assert!(
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                "{x:e}"
            );
            bits += 4093;
        }
        for x in [
            0.0f32,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            -1.0,
        ] {
            let (a, b) = (sqrt_f32_exact(x), libm::sqrtf(x));
            assert!(
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                "{x:e}"
            );
        }
    }

    /// Distance in ulps of `y` from the exact square root of `x` (in f64, which holds both).
    fn ulp_err(x: f32, y: f32) -> f64 {
        let exact = f64::from(x).sqrt();
        let r = exact as f32; // within half an ulp: its ulp is the result's
        let ulp = f64::from(f32::from_bits(r.to_bits() + 1)) - f64::from(r);
        (f64::from(y) - exact).abs() / ulp
    }

    #[test]
    fn refined_sqrt_is_within_one_ulp_on_every_f32_in_1_to_4() {
        // Every operation of the fast path scales exactly by powers of 4 (x·4^k gives r·2^-k,
        // s·2^k), so [1, 4) covers every positive normal input: 2^24 values, all of them.
        let mut worst = 0.0f64;
        let mut bits = 1.0f32.to_bits();
        let end = 4.0f32.to_bits();
        let mut step = 1;
        if cfg!(debug_assertions) {
            step = 7; // unoptimized: a dense sweep instead (release runs every value)
        }
        while bits < end {
            let x = f32::from_bits(bits);
            worst = worst.max(ulp_err(x, sqrt_f32_refined(x)));
            bits += step;
        }
        std::println!("refined sqrt worst error on [1, 4): {worst} ulp");
        assert!(worst <= 1.0, "worst {worst} ulp");
    }

    #[test]
    fn refined_sqrt_is_within_one_ulp_over_every_exponent() {
        // Both ends of every binade and a sweep inside it, subnormals and the extremes included.
        let mut worst = 0.0f64;
        for exp in 0u32..255 {
            for k in 0u32..=4099 {
                let mant = if k == 4099 { 0x7f_ffff } else { k * 2047 };
                let x = f32::from_bits((exp << 23) | (mant & 0x7f_ffff));
                if x == 0.0 {
                    continue;
                }
                worst = worst.max(ulp_err(x, sqrt_f32_refined(x)));
            }
        }
        assert!(worst <= 1.0, "worst {worst} ulp");
        assert_eq!(sqrt_f32_refined(0.0), 0.0);
        assert_eq!(sqrt_f32_refined(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(sqrt_f32_refined(f32::INFINITY), f32::INFINITY);
        assert!(sqrt_f32_refined(f32::NAN).is_nan());
        assert!(sqrt_f32_refined(-1.0).is_nan());
        assert!(sqrt_f32_refined(-f32::MIN_POSITIVE).is_nan());
        assert_eq!(sqrt_f32_refined(f32::MAX), f32::MAX.sqrt());
        assert_eq!(sqrt_f32_refined(4.0), 2.0);
    }

    /// The branch form (Cortex-M) and the select form (host) give the same bits: on a sweep of
    /// every exponent, on every subnormal (stepped) and on the special values.
    #[test]
    fn refined_sqrt_forms_agree_bit_for_bit() {
        let step = if cfg!(debug_assertions) { 61 } else { 1 };
        let check = |x: f32| {
            let (a, b) = (refined_by_branch(x), refined_by_selects(x));
            assert!(
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                "{x:e}: {a:e} vs {b:e}"
            );
        };
        let mut bits = 0u32;
        while bits < 0x0080_0000 {
            check(f32::from_bits(bits)); // zero and every subnormal
            check(-f32::from_bits(bits));
            bits += step;
        }
        for exp in 0u32..=255 {
            for k in 0u32..=4099 {
                let mant = if k == 4099 { 0x7f_ffff } else { k * 2047 };
                let x = f32::from_bits((exp << 23) | (mant & 0x7f_ffff));
                check(x);
                check(-x);
            }
        }
        for x in [
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MAX,
            f32::MIN_POSITIVE,
        ] {
            check(x);
        }
    }

    /// Zero and subnormals are scaled into the normal range: within 1 ulp as well.
    #[test]
    fn refined_sqrt_is_within_one_ulp_on_subnormals() {
        let step = if cfg!(debug_assertions) { 61 } else { 1 };
        let mut worst = 0.0f64;
        let mut bits = 1u32;
        while bits < 0x0080_0000 {
            let x = f32::from_bits(bits);
            worst = worst.max(ulp_err(x, sqrt_f32_refined(x)));
            bits += step;
        }
        assert!(worst <= 1.0, "worst {worst} ulp");
        assert_eq!(
            sqrt_f32_refined(f32::from_bits(1)),
            libm::sqrtf(f32::from_bits(1))
        );
    }

    /// [`SQRT_F32_CORRECTLY_ROUNDED`] says what this build's root does: `libm`'s bits on every
    /// input of a sweep where it is `true`; where it is `false` (the refined and the fast root)
    /// the sweep finds inputs that differ, so the flag is not vacuously `false` either.
    #[test]
    fn the_correctly_rounded_flag_matches_this_builds_root() {
        let mut differ = 0u32;
        let mut check = |x: f32| {
            let (a, b) = (sqrt_f32(x), libm::sqrtf(x));
            if a.to_bits() != b.to_bits() && !(a.is_nan() && b.is_nan()) {
                differ += 1;
            }
        };
        for i in 0..=u32::from(u16::MAX) {
            check(f32::from_bits(i.wrapping_mul(65_537)));
        }
        let mut bits = 1.0f32.to_bits();
        while bits < 4.0f32.to_bits() {
            check(f32::from_bits(bits));
            bits += 97;
        }
        assert_eq!(
            differ == 0,
            SQRT_F32_CORRECTLY_ROUNDED,
            "{differ} inputs differ"
        );
    }

    #[test]
    fn sqrt_edge_values() {
        assert_eq!(sqrt_f32(0.0), 0.0);
        assert_eq!(sqrt_f32(f32::INFINITY), f32::INFINITY);
        assert!(sqrt_f32(f32::NAN).is_nan());
        assert!(sqrt_f32(-1.0).is_nan());
        assert_eq!(sqrt_f32(4.0), 2.0);
        assert_eq!(sqrt_f64(2.25), 1.5);
    }

    #[cfg(feature = "fast-sqrt")]
    #[test]
    fn fast_sqrt_worst_case_error_holds_over_every_exponent() {
        // Every exponent (subnormals included), 4099 mantissas each, plus both ends of each binade.
        let mut worst = 0.0f64;
        for exp in 0u32..255 {
            for k in 0u32..=4099 {
                let mant = if k == 4099 { 0x7f_ffff } else { k * 2047 };
                let bits = (exp << 23) | (mant & 0x7f_ffff);
                let x = f32::from_bits(bits);
                if x == 0.0 {
                    continue;
                }
                worst = worst.max(rel_err(sqrt_f32_fast, x));
            }
        }
        std::println!("fast sqrt worst relative error: {worst:e}");
        assert!(
            worst <= f64::from(SQRT_F32_FAST_MAX_REL_ERROR),
            "worst {worst:e}"
        );
    }
}
