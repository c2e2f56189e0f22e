//! The integer square root of the fixed-point kernels.
//!
//! An exact integer square root (public API). The normalising kernels no longer use it: they
//! take `1/(√v + eps)` from tables and Newton steps (the `norm` module). For a
//! 32-bit mantissa `x ∈ [2^30, 2^32)` and a 16-bit root, three
//! candidates were timed on the host (x86-64, rustc 1.95, `cargo test --release --lib
//! sqrt_timing -- --ignored --nocapture`, 2^22 inputs spread over `[2^30, 2^32)`, median of 5
//! runs, three invocations):
//!
//! | method | ns per root (host) | divides per root |
//! |---|---|---|
//! | [`isqrt_u32`]: digit by digit, 16 branchless compare/subtract/shift steps | 13.7–15.2 | 0 |
//! | `fixed`'s `U32F0::sqrt` (same floor root) | 16.7–17.4 | 0 |
//! | integer Newton (Heron) `y ← (y + x/y)/2` from a power of two above the root | 12.5–12.7 | 4–6 |
//!
//! On the host Newton is about 10 % faster than the digit loop, but only because x86-64 divides in
//! hardware; Cortex-M0 has no divide instruction, so each of its 4–6 divides becomes a call to
//! `__aeabi_uidiv` (a loop of its own, tens of cycles), while the digit loop is 16 iterations of
//! add/compare/subtract/shift. The digit loop is therefore used: it is the faster one on the
//! target, beats `fixed`'s root on the host too, and is exact.
//! [`isqrt_u32_round`] adds round-to-nearest from the remainder it already has, so the root has
//! relative error at most `2^-16` for inputs `≥ 2^30`; tests check it over a dense sweep (every
//! input below 2^20, a stride-4099 sweep of the rest) and at every perfect square and its
//! neighbours.

/// `floor(sqrt(x))` for any `u32`, digit by digit (two result bits per iteration pair).
#[inline]
pub fn isqrt_u32(x: u32) -> u32 {
    isqrt_rem(x).0
}

/// `(floor(sqrt(x)), x − floor(sqrt(x))²)`.
#[inline(always)]
fn isqrt_rem(x: u32) -> (u32, u32) {
    let mut rem = x;
    let mut root = 0u32;
    let mut bit = 1u32 << 30;
    while bit > rem && bit != 0 {
        bit >>= 2;
    }
    while bit != 0 {
        // Branchless: on a core with a branch predictor (or a pipeline flush per taken branch,
        // as on Cortex-M0) the data-dependent branch costs more than the masking.
        let t = root + bit;
        let mask = 0u32.wrapping_sub(u32::from(rem >= t));
        rem -= t & mask;
        root = (root >> 1) + (bit & mask);
        bit >>= 2;
    }
    (root, rem)
}

/// `sqrt(x)` rounded to the nearest integer (never ties: `x` is an integer), for any `u32`.
#[inline]
pub fn isqrt_u32_round(x: u32) -> u32 {
    let (r, rem) = isqrt_rem(x);
    // (r + ½)² = r² + r + ¼, so round up exactly when rem > r.
    if rem > r {
        r + 1
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    fn check(x: u32) {
        let r = isqrt_u32(x);
        assert!(u64::from(r) * u64::from(r) <= u64::from(x), "{x}");
        assert!(u64::from(r + 1) * u64::from(r + 1) > u64::from(x), "{x}");
        let n = isqrt_u32_round(x);
        let exact = f64::from(x).sqrt();
        assert!((f64::from(n) - exact).abs() <= 0.5, "{x}");
    }

    #[test]
    fn integer_sqrt_is_exact_on_a_dense_sweep_and_at_every_square() {
        // Every input below 2^20, then a stride-prime sweep of the rest.
        for x in 0..(1u32 << 20) {
            check(x);
        }
        let mut x = 1u64 << 20;
        while x <= u64::from(u32::MAX) {
            check(x as u32);
            x += 4099;
        }
        check(u32::MAX);
        // Every perfect square and its neighbours.
        for r in 1u32..=65535 {
            let s = r * r;
            check(s - 1);
            check(s);
            check(s.saturating_add(1));
        }
    }

    #[test]
    fn rounded_root_relative_error_is_within_2_pow_minus_16_above_2_pow_30() {
        let mut worst = 0.0f64;
        let mut x = 1u64 << 30;
        while x <= u64::from(u32::MAX) {
            let exact = (x as f64).sqrt();
            worst = worst.max((f64::from(isqrt_u32_round(x as u32)) - exact).abs() / exact);
            x += 997;
        }
        assert!(worst <= 2f64.powi(-16), "{worst:e}");
    }

    /// Integer Newton (Heron) iteration `y ← (y + x/y)/2` from a power-of-two start above the
    /// root, for the timing comparison only (it needs a divide per iteration).
    fn isqrt_newton(x: u32) -> u32 {
        if x == 0 {
            return 0;
        }
        let bits = 32 - x.leading_zeros();
        let mut y = 1u32 << bits.div_ceil(2); // ≥ sqrt(x)
        loop {
            let z = (y + x / y) / 2;
            if z >= y {
                return y;
            }
            y = z;
        }
    }

    #[test]
    fn newton_candidate_agrees_with_the_digit_loop() {
        let mut x = 1u64 << 30;
        while x <= u64::from(u32::MAX) {
            assert_eq!(isqrt_newton(x as u32), isqrt_u32(x as u32), "{x}");
            x += 65_521;
        }
    }

    #[test]
    #[ignore = "timing, run with --release --ignored --nocapture"]
    fn sqrt_timing() {
        use fixed::types::U32F0;
        use std::hint::black_box;
        use std::time::Instant;
        let n = 1u32 << 22;
        let step = (3u32 << 30) / n;
        let inputs: std::vec::Vec<u32> = (0..n).map(|i| (1u32 << 30) + i * step).collect();
        let time = |f: &dyn Fn(u32) -> u32| {
            let mut runs = std::vec::Vec::new();
            for _ in 0..5 {
                let t = Instant::now();
                let mut acc = 0u32;
                for &x in &inputs {
                    acc = acc.wrapping_add(f(black_box(x)));
                }
                black_box(acc);
                runs.push(t.elapsed().as_secs_f64() * 1e9 / f64::from(n));
            }
            runs.sort_by(f64::total_cmp);
            runs[2]
        };
        let digit = time(&|x| isqrt_u32(x));
        let fixed = time(&|x| U32F0::from_bits(x).sqrt().to_bits());
        let newton = time(&|x| isqrt_newton(x));
        std::println!("digit {digit:.2} ns, fixed {fixed:.2} ns, newton {newton:.2} ns");
    }
}
