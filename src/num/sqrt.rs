//! Square roots for the optimizers.
//!
//! `core` has no `sqrt` on stable Rust, so the crate names its square root explicitly:
//!
//! | function | used by default | worst-case error | notes |
//! |---|---|---|---|
//! | [`sqrt_f32_accurate`] | yes (without `fast-sqrt`) | correctly rounded (0.5 ulp) | `libm::sqrtf` |
//! | `sqrt_f32_fast` | with feature `fast-sqrt` | 2.0e-6 relative, tested over every exponent | micromath's estimate + 2 Newton steps |
//! | [`sqrt_f64`] | always for `f64` | correctly rounded | `libm::sqrt` |
//!
//! [`sqrt_f32`] is the one the `f32` optimizers call; it resolves to one of the first two at
//! compile time. Host tests call the same function as the device does, never `std`'s.

/// The square root every `f32` optimizer uses: `sqrt_f32_fast` with feature `fast-sqrt`,
/// otherwise [`sqrt_f32_accurate`].
#[inline(always)]
pub fn sqrt_f32(x: f32) -> f32 {
    #[cfg(feature = "fast-sqrt")]
    {
        sqrt_f32_fast(x)
    }
    #[cfg(not(feature = "fast-sqrt"))]
    {
        sqrt_f32_accurate(x)
    }
}

/// Correctly rounded `f32` square root (`libm::sqrtf`).
#[inline(always)]
pub fn sqrt_f32_accurate(x: f32) -> f32 {
    libm::sqrtf(x)
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
