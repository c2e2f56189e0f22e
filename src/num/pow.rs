//! The bias correction `1 − β^t` in `f64`, once per step (torch computes `beta ** step` in Python
//! doubles). A general `pow` costs tens of thousands of instructions per call on an FPU-less core
//! (its shortcuts end at `t = 2`), so neither form calls it.

/// `1 − β^t` by binary exponentiation, for `β ∈ [0, 1)`: `β^t` from at most `2·log2 t`
/// multiplications, the lowest set bit of `t` first (`t = 2` costs one multiplication, `t = 3`
/// two).
///
/// Each squaring doubles the relative error it is given, so `β^t` is off by at most `2t·2^-53`
/// relative, and `1 − β^t` by `2t·2^-53·β^t/(1 − β^t) ≤ 2^-52·β/(1 − β) + 2^-53`: `2^-35` for
/// `1 − β ≥ 2^-16`, about `2.2e-12` at `β = 0.9999`.
///
/// Once `t·(1 − β) ≥ 40`, `β^t ≤ e^-40 < 2^-57`, so `1 − β^t` rounds to exactly 1 in `f64`
/// (whatever the multiplications' error): returned without multiplying, so a step costs at most
/// about 44 multiplications for any `t`. The result is the same as without the cut-off.
///
/// Out of line: a step calls it twice (Adam's two betas), and on an FPU-less or single-precision
/// core each `f64` multiply is a library call, so two inlined copies cost flash, not time.
#[inline(never)]
pub(crate) fn one_minus_pow(beta: f64, t: u32) -> f64 {
    if t == 0 {
        return 0.0;
    }
    // The cut-off test costs a conversion and a multiplication: only where it can apply.
    if t >= 40 && f64::from(t) * (1.0 - beta) >= 40.0 {
        return 1.0;
    }
    // One loop over the bits of t, lowest first (the first product, 1·β^(2^j), is exact), so
    // that it stays one small loop of library calls.
    let (mut b, mut n, mut acc) = (beta, t, 1.0);
    loop {
        if n & 1 != 0 {
            acc *= b;
        }
        n >>= 1;
        if n == 0 {
            return 1.0 - acc;
        }
        b *= b;
    }
}

/// `1 − β^t` as `−expm1(t·log1p(β − 1))`: the product is rounded once and `expm1`/`log1p` are
/// accurate to about an ulp, so the result carries a relative error of a few `2^-53` however
/// close `β` is to 1 and however small `1 − β^t` is (what the `f64` kernels use).
#[inline]
pub(crate) fn one_minus_pow_accurate(beta: f64, t: u32) -> f64 {
    if beta == 0.0 {
        return if t == 0 { 0.0 } else { 1.0 };
    }
    -libm::expm1(f64::from(t) * libm::log1p(beta - 1.0))
}

#[cfg(test)]
mod tests {
    use super::{one_minus_pow, one_minus_pow_accurate};

    /// `1 − β^t` from `pow`, the way torch gets it (`pow` is accurate to about an ulp of `β^t`;
    /// near `β^t ≈ 1` its own absolute error dominates the comparison).
    fn reference(beta: f64, t: u32) -> f64 {
        1.0 - libm::pow(beta, f64::from(t))
    }

    #[test]
    fn bias_correction_is_accurate_in_both_forms() {
        let u = f64::EPSILON / 2.0;
        for &beta in &[0.0, 0.5, 0.9, 0.99, 0.999, 0.9999, 0.999_99, 0.123_456_789] {
            for t in (1..5000u32).chain([65_535, 1 << 20, u32::MAX]) {
                let exact = reference(beta, t);
                // pow's own error: about one ulp of β^t, absolute.
                let pow_err = 2.0 * u * (1.0 - exact).abs();
                let accurate = one_minus_pow_accurate(beta, t);
                assert!(
                    (accurate - exact).abs() <= 8.0 * u * exact + pow_err,
                    "accurate 1 - {beta}^{t}: {accurate:e} vs {exact:e}"
                );
                let fast = one_minus_pow(beta, t);
                let bound = 2.0 * f64::from(t) * u * (1.0 - exact) + 2.0 * u + pow_err;
                assert!(
                    (fast - exact).abs() <= bound,
                    "fast 1 - {beta}^{t}: {fast:e} vs {exact:e}"
                );
            }
        }
    }

    /// The cut-off returns what the multiplications would: exactly 1.
    #[test]
    fn cut_off_changes_no_result() {
        fn plain(beta: f64, t: u32) -> f64 {
            let (mut base, mut e, mut acc) = (beta, t, 1.0f64);
            while e > 0 {
                if e & 1 == 1 {
                    acc *= base;
                }
                e >>= 1;
                base *= base;
            }
            1.0 - acc
        }
        for &beta in &[
            0.0,
            0.5,
            0.9,
            0.999,
            0.9999,
            1.0 - 1.0 / 65_536.0,
            0.999_999,
        ] {
            for t in (1..3000u32).chain([40_000, 65_535, 1 << 20, 1 << 26, u32::MAX]) {
                assert_eq!(one_minus_pow(beta, t), plain(beta, t), "{beta} {t}");
            }
        }
    }
}
