//! [`Scalar`] for the fixed-point formats [`I16F16`] and [`I8F24`]: conversions, and layer math
//! without floats.
//!
//! This module has no items of its own: it implements [`Scalar`] for the two formats and documents
//! how, with the error bound of every function.
//!
//! # Conversions from `f64`
//! Round to nearest (ties away from zero), exactly, for every finite `x` within `[MIN, MAX]`.
//! [`try_from_f64`](Scalar::try_from_f64) refuses NaN and `±∞` ([`ValueFault::NotFinite`]) and
//! any finite `x` below `MIN` or above `MAX` ([`ValueFault::OutOfRange`]; I16F16:
//! `[-32768, 32768 − 2^-16]`, I8F24: `[-128, 128 − 2^-24]`). It accepts `MIN` and `MAX`
//! themselves, and values that round to them: they are representable, even though
//! [`Num::is_usable_gradient`](crate::num::Num::is_usable_gradient) rejects them as gradients
//! (they may be saturated values), because a parameter or an input at the end of the range is
//! legitimate. [`saturating_from_f64`](Scalar::saturating_from_f64) gives `MIN` below the range,
//! `MAX` above it and `MAX` for NaN, so an invalid float gradient converted this way is rejected
//! by the next step, not used.
//!
//! # Arithmetic
//! - `add`, `sub` saturate at the format's `MIN`/`MAX` (never wrap, never panic: `fixed`'s
//!   operators would panic on overflow in debug builds and wrap in release).
//! - `mul` forms the exact 64-bit product, rounds it to nearest (ties up, i.e. toward `+∞`) and
//!   saturates: error `≤ ½ LSB` unless saturated.
//! - [`Scalar::Acc`] is an `i64` holding `2·F` fraction bits (`F` = 16 or 24), so every product of
//!   two values is exact in it and a dot product of any length is exact until a partial sum leaves
//!   `±2^31` (I16F16) or `±2^15` (I8F24) in real units, where the accumulator saturates at the
//!   `i64` range. [`narrow`](Scalar::narrow) rounds once to nearest and saturates. A dense or
//!   conv output is therefore within `½ LSB` of the exact value of the quantised inputs, or
//!   `MIN`/`MAX` when the exact value lies beyond them.
//! - The layers skip the accumulator's saturation test where it cannot trigger: a dense,
//!   convolution or pointwise call first bounds its operands' magnitudes
//!   ([`max_factor`](Scalar::max_factor): one OR per element) and, when
//!   `|start|·2^F + n·max|a|·max|b| ≤ i64::MAX` for its longest sum of `n` products
//!   ([`sums_in_range`](Scalar::sums_in_range)), sums with plain adds
//!   ([`mul_acc_in_range`](Scalar::mul_acc_in_range)). No partial sum can then saturate, so
//!   every result bit is the same. I16F16 operands of magnitude 16 or less (products below
//!   `2^40`) pass for sums of up to about `2^22` products, I8F24 operands of magnitude 1 or less
//!   for about `2^15`; other data take the saturating sums (`tests/fixed_sums.rs`).
//! - [`narrow_div`](Scalar::narrow_div)`(acc, n)` divides the exact accumulator by `n` with one
//!   rounding (to nearest, ties toward `+∞`, as `narrow`) and saturates: a mean (average
//!   pooling, batch statistics) is within `½ LSB` of the exact mean of the quantised inputs.
//!
//! # Transcendental functions
//! Integer-only (no float, no table larger than 32 entries). `LSB = 2^-F` of the result's
//! format. Each bound is the worst case measured against `f64` over the stated domain and rounded
//! up (`tests/nn_fixed.rs`). I16F16: every representable input in `[-32, 0]` (`exp`),
//! `[1, 256]` (`ln`, `recip`), `[-32, 32]` (`tanh`, `sigmoid`), and every 4099th input over the
//! rest of the domain. I8F24: every input within `2^-4` of each end of the domain and every
//! 241st input in between (its domains hold up to `2^32` values), every input in `[-1, 1]` for
//! `tanh`.
//!
//! | function | domain | method | I16F16 stated (measured) | I8F24 stated (measured) |
//! |---|---|---|---|---|
//! | `exp` | `x ≤ 0` (the crate's use); for `x > 0` the error is `½ LSB + 1e-9·eˣ` (I16F16, measured `8.7e-10·eˣ`), `MAX` where `eˣ` exceeds it | `2^(x·log₂e)`: 32-entry table of `2^(j/32)` and a degree-4 Taylor polynomial on `[0, ln2/32)`, Q31 | `0.5001` (`0.500008`) | `0.52` (`0.5165`) |
//! | `ln` | `x ≥ 1` (the crate's use: `[1, C]`); also any `x > 0`; `x ≤ 0` gives `MIN` | `2^k·m`, 32-entry reciprocal table, degree-5 series of `ln(1+z)`, `|z| < 1/32`, Q31 | `0.5001` (`0.500065`) | `0.52` (`0.5188`) |
//! | `recip` | `x ≥ 1` (the crate's use: `[1, C]`); any `x ≠ 0` saturating; `0` gives `MAX` | integer division of `2^(2F)`, rounded to nearest | `0.5` (exactly rounded) | `0.5` |
//! | `tanh` | any `x` | `(1 − e)/(1 + e)`, `e = exp(−2|x|)` in Q32, one integer division; `±1` for `|x| ≥ 16` | `0.5001` (`0.500026`) | `0.52` (`0.5116`) |
//! | `sigmoid` | any `x` | `1/(1 + e^-x)` for `x ≥ 0`, `e^x/(1 + e^x)` below, `e` in Q32, one integer division | `0.5001` (`0.500018`) | `0.51` (`0.5055`) |
//!
//! `½ LSB` of each bound is the final rounding to the format; the approximation itself is below
//! `2^-29` absolute for every function, so every result is within `0.52 LSB` of the exact value
//! (I16F16's bounds are within 0.0001 LSB of the best possible, correctly rounded result). The
//! softmax cross-entropy over `C` classes then has a gradient error `≤ 1 + (C + 1)·E` LSB and a
//! loss error `≤ E_ln + C·E` LSB (`E`, `E_ln` the `exp`, `ln` bounds; derived and tested in
//! `tests/nn_fixed.rs`).
//!
//! # Cost per call
//! Counted from the code (host-tested, not yet measured on a device), in 64-bit operations:
//! `exp` is one 64-bit multiply for the range reduction, one for `g·ln2`, four Horner multiplies and
//! one table multiply (7 `u64` products; on Cortex-M0 each is an `__aeabi_lmul` call of roughly
//! 20–40 cycles, on Cortex-M3/M4 one or two `UMULL`); `ln` is a count of leading zeros, six
//! 64-bit products; `recip` is one 64/64-bit division (`__aeabi_uldivmod` on Cortex-M, a few
//! hundred cycles on M0); `tanh` and `sigmoid` are one `exp` and one 64-bit division each. These
//! are called once per hidden unit (activations) or once per class (softmax), against `I`
//! 64-bit multiply-adds per output for a dense layer.
//!
//! # Why two concrete formats and not every `FixedI32<Frac>`
//! The error bounds above are measured facts for I16F16 and I8F24; a generic implementation
//! would offer formats whose bounds nobody has tested. The kernels are generic over the fraction
//! bits internally (`const F: u32`), so another format is one line in the macro below plus its
//! sweeps in the tests.

use crate::num::scalar::not_representable;
use crate::num::Scalar;
use crate::{Error, ValueFault};
use fixed::types::extra::LeEqU32;
use fixed::types::{I16F16, I8F24};
use fixed::FixedI32;

/// `2^(j/32)` in Q31 (`u32`), `j = 0..32`.
const EXP2_Q31: [u32; 32] = [
    2147483648, 2194507417, 2242560872, 2291666561, 2341847524, 2393127307, 2445529972, 2499080105,
    2553802834, 2609723834, 2666869345, 2725266179, 2784941738, 2845924021, 2908241642, 2971923842,
    3037000500, 3103502151, 3171459999, 3240905930, 3311872529, 3384393094, 3458501653, 3534232978,
    3611622603, 3690706840, 3771522796, 3854108391, 3938502376, 4024744348, 4112874773, 4202935003,
];

/// `1/(1 + j/32)` in Q31, `j = 0..32`.
const RECIP_Q31: [u32; 32] = [
    2147483648, 2082408386, 2021161080, 1963413621, 1908874354, 1857283155, 1808407283, 1762037865,
    1717986918, 1676084798, 1636178018, 1598127366, 1561806289, 1527099483, 1493901668, 1462116526,
    1431655765, 1402438301, 1374389535, 1347440720, 1321528399, 1296593901, 1272582903, 1249445032,
    1227133513, 1205604855, 1184818564, 1164736894, 1145324612, 1126548799, 1108378657, 1090785345,
];

/// `ln(1 + j/32)` in Q31, `j = 0..32`.
const LN_Q31: [i64; 32] = [
    0, 66081634, 130190384, 192440645, 252937143, 311775992, 369045617, 424827549, 479197128,
    532224109, 583973207, 634504566, 683874180, 732134271, 779333613, 825517838, 870729689,
    915009272, 958394255, 1000920074, 1042620095, 1083525783, 1123666833, 1163071308, 1201765754,
    1239775306, 1277123789, 1313833805, 1349926817, 1385423223, 1420342425, 1454702897,
];

/// `log₂e` in Q32.
const LOG2E_Q32: i64 = 6_196_328_019;
/// `ln 2` in Q32.
const LN2_Q32: u64 = 2_977_044_472;
/// `ln 2` in Q40 (for `k·ln2` with `|k| ≤ 30` without losing bits).
const LN2_Q40: i64 = 762_123_384_786;
/// `1` in Q31.
const ONE_Q31: u64 = 1 << 31;
/// `1` in Q32.
const ONE_Q32: u64 = 1 << 32;

/// `a·b`, exactly. On ARMv6-M (Cortex-M0, M0+; recognised as the ARM target without 32-bit
/// atomics) from four 16 × 16-bit `muls` ([`wide_mul_halves`]): that core has no 32 × 32 → 64-bit
/// multiply, and LLVM forms the `i64` product with the 64 × 64-bit `__aeabi_lmul`, about 45
/// instructions with the call. Elsewhere the `i64` product (one `smull` on a Cortex-M3).
#[inline(always)]
pub(crate) fn wide_mul(a: i32, b: i32) -> i64 {
    if cfg!(all(target_arch = "arm", not(target_has_atomic = "32"))) {
        wide_mul_halves(a, b)
    } else {
        i64::from(a) * i64::from(b)
    }
}

/// `a·b` from the 16-bit halves `a = ah·2^16 + al`, `b = bh·2^16 + bl` (`ah`, `bh` signed, `al`,
/// `bl` in `[0, 2^16)`): `ah·bh·2^32 + (ah·bl + al·bh)·2^16 + al·bl`, each partial product
/// within 32 bits (`|ah·bl| < 2^31`, `al·bl < 2^32`) and every sum exact in `i64`. Out of
/// line: inlined at every multiply-add of every layer, its 28 instructions would cost a
/// Cortex-M0 firmware tens of kilobytes of flash.
#[inline(never)]
pub(crate) fn wide_mul_halves(a: i32, b: i32) -> i64 {
    let (ah, al) = (a >> 16, a & 0xFFFF);
    let (bh, bl) = (b >> 16, b & 0xFFFF);
    let low = (al as u32) * (bl as u32);
    let mid = i64::from(ah * bl) + i64::from(al * bh);
    (i64::from(ah * bh) << 32) + (mid << 16) + i64::from(low)
}

/// `a·b`, exactly, for unsigned operands: on ARMv6-M from four 16 × 16-bit `muls`
/// ([`wide_umul_halves`]) where LLVM would call `__aeabi_lmul`; elsewhere the `u64` product (one
/// `umull` on a Cortex-M3).
#[inline(always)]
pub(crate) fn wide_umul(a: u32, b: u32) -> u64 {
    if cfg!(all(target_arch = "arm", not(target_has_atomic = "32"))) {
        wide_umul_halves(a, b)
    } else {
        u64::from(a) * u64::from(b)
    }
}

/// `a·b` from the unsigned 16-bit halves: `ah·bh·2^32 + (ah·bl + al·bh)·2^16 + al·bl`, each
/// partial product below `2^32` and their sums exact in `u64`. Out of line, as
/// [`wide_mul_halves`].
#[inline(never)]
pub(crate) fn wide_umul_halves(a: u32, b: u32) -> u64 {
    let (ah, al) = (a >> 16, a & 0xFFFF);
    let (bh, bl) = (b >> 16, b & 0xFFFF);
    let mid = u64::from(ah * bl) + u64::from(al * bh);
    (u64::from(ah * bh) << 32) + (mid << 16) + u64::from(al * bl)
}

/// Rounds `v · 2^-s` to nearest (ties toward `+∞`) and saturates to `i32`. `1 ≤ s ≤ 62`.
#[inline(always)]
pub(crate) fn round_shift_sat(v: i64, s: u32) -> i32 {
    // `(v >> (s − 1)) + 1` cannot overflow for s ≥ 1; the final shift halves it.
    let r = ((v >> (s - 1)) + 1) >> 1;
    r.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// `acc / (n·2^s)` rounded to nearest (ties toward `+∞`) and saturated to `i32`: the raw value
/// of `acc / n` for an accumulator with `s` more fraction bits than the result. `n = 0` gives the
/// saturation value of `acc`'s sign (`0` for `acc = 0`). `s ≤ 24`, so `n·2^s < 2^56` never overflows.
#[inline]
pub(crate) fn div_round_sat(acc: i64, n: u32, s: u32) -> i32 {
    if n == 0 {
        return if acc > 0 {
            i32::MAX
        } else if acc < 0 {
            i32::MIN
        } else {
            0
        };
    }
    let d = i64::from(n) << s;
    let (q, r) = (acc.div_euclid(d), acc.rem_euclid(d));
    // r < d < 2^56, so 2r cannot overflow.
    let q = if 2 * r >= d { q + 1 } else { q };
    q.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// Rounds an unsigned quotient `num / den` to nearest (ties up). `den > 0`, `num + den/2` must
/// not overflow (all callers keep both below `2^57`).
#[inline(always)]
fn div_round(num: u64, den: u64) -> u64 {
    (num + den / 2) / den
}

/// `2^y` for `y = ip + f·2^-32` (`f` in `[0, 2^32)`), as `(r, ip)` with `r = 2^(f·2^-32)` in Q32,
/// `r ∈ [2^32, 2^33)`; returned for `y = x·log₂e`, `x` with `F` fraction bits,
/// `|x| ≤ 32·2^F` (so the product stays below `2^62.6`).
///
/// Error of `r`: below `2^-30` relative (table rounding `2^-32`, Horner truncations `≈ 2^-31`,
/// series tail `< 2^-34`); the range reduction (floor of `y` in Q32 and `log₂e` rounded to Q32)
/// adds below `2^-31·|x|` relative, i.e. below `2^-31` absolute in `e^x` for `x ≤ 0`.
#[inline(always)]
fn exp_parts<const F: u32>(x: i64) -> (u64, i64) {
    let y = (x * LOG2E_Q32) >> F; // Q32, floor
    let ip = y >> 32;
    let f = (y & 0xFFFF_FFFF) as u64;
    let j = (f >> 27) as usize; // top 5 bits
    let g = f & ((1 << 27) - 1); // Q32, < 2^-5
    let u = (g * LN2_Q32) >> 33; // g·ln2 in Q31, < 0.0217
                                 // e^u = 1 + u + u²/2 + u³/6 + u⁴/24, Horner in Q31.
    let mut p: u64 = 89_478_485; // 1/24
    p = 357_913_941 + ((u * p) >> 31); // 1/6
    p = (1 << 30) + ((u * p) >> 31); // 1/2
    p = ONE_Q31 + ((u * p) >> 31);
    p = ONE_Q31 + ((u * p) >> 31);
    let t = EXP2_Q31.get(j).copied().unwrap_or(u32::MAX);
    ((u64::from(t) * p) >> 30, ip)
}

/// Clamp for `exp` arguments: `e^-32 < 2^-46` (below half a Q32 unit), and `e^32` saturates every
/// format. Keeps `|x·log₂e|` in range.
#[inline(always)]
const fn exp_limit<const F: u32>() -> i64 {
    32 << F
}

/// `e^x` in Q32 for `x ≤ 0` with `F` fraction bits (`x > 0` is treated as 0). Truncated: adds
/// at most `2^-32` to [`exp_parts`]'s error.
#[inline(always)]
fn exp_q32<const F: u32>(x: i64) -> u64 {
    let x = x.min(0);
    if x <= -exp_limit::<F>() {
        return 0;
    }
    let (r, ip) = exp_parts::<F>(x);
    let n = (-ip) as u32; // ip ≤ 0, n ≤ 47
    if n >= 64 {
        0
    } else {
        r >> n
    }
}

/// `e^x` in the format with `F` fraction bits, saturating at `MAX`.
#[inline]
pub(crate) fn exp_raw<const F: u32>(x: i32) -> i32 {
    let x = i64::from(x);
    if x <= -exp_limit::<F>() {
        return 0;
    }
    if x >= exp_limit::<F>() {
        return i32::MAX;
    }
    let (r, ip) = exp_parts::<F>(x);
    // value = r · 2^(ip − 32); raw = value · 2^F = r · 2^(ip + F − 32).
    let shift = 32 - i64::from(F) - ip;
    if shift <= 0 {
        i32::MAX // r ≥ 2^32 > i32::MAX already
    } else if shift >= 63 {
        0
    } else {
        round_shift_sat(r as i64, shift as u32)
    }
}

/// `ln x` in the format with `F` fraction bits; `MIN` for `x ≤ 0`.
#[inline]
pub(crate) fn ln_raw<const F: u32>(x: i32) -> i32 {
    if x <= 0 {
        return i32::MIN;
    }
    let lz = x.leading_zeros(); // 1..=31
    let p = 31 - lz; // position of the leading one: x = 2^(p − F) · m
    let m = (x as u32) << lz; // Q31 mantissa in [1, 2)
    let j = ((m >> 26) & 31) as usize;
    let rc = RECIP_Q31.get(j).copied().unwrap_or(0);
    let w = (u64::from(m) * u64::from(rc)) >> 31; // (1 + f)/(1 + j/32) in Q31
    let z = w as i64 - ONE_Q31 as i64; // |z| < 2^-5
                                       // ln(1 + z) = z(1 − z(1/2 − z(1/3 − z(1/4 − z/5)))), Q31.
    let mut a: i64 = 429_496_730; // 1/5
    a = (1 << 29) - ((z * a) >> 31); // 1/4
    a = 715_827_883 - ((z * a) >> 31); // 1/3
    a = (1 << 30) - ((z * a) >> 31); // 1/2
    a = ONE_Q31 as i64 - ((z * a) >> 31);
    let series = (z * a) >> 31;
    let k = i64::from(p) - i64::from(F);
    let k_ln2 = ((k * LN2_Q40) + (1 << 8)) >> 9; // Q31, rounded
    let v = k_ln2 + LN_Q31.get(j).copied().unwrap_or(0) + series; // Q31
    round_shift_sat(v, 31 - F)
}

/// `1/x` in the format with `F` fraction bits: exactly rounded (ties away from 0), saturating;
/// `MAX` for `x = 0`.
#[inline]
pub(crate) fn recip_raw<const F: u32>(x: i32) -> i32 {
    let d = u64::from(x.unsigned_abs());
    if d == 0 {
        return i32::MAX;
    }
    let q = div_round(1 << (2 * F), d) as i64; // ≤ 2^(2F) ≤ 2^48
    let q = if x < 0 { -q } else { q };
    q.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// `tanh x` in the format with `F` fraction bits.
#[inline]
pub(crate) fn tanh_raw<const F: u32>(x: i32) -> i32 {
    let a = i64::from(x).abs();
    let one = 1i64 << F;
    let t = if a >= 16 << F {
        one // 1 − tanh(16) < 2^-45
    } else {
        let e = exp_q32::<F>(-2 * a); // Q32, ≤ 2^32
        div_round((ONE_Q32 - e) << F, ONE_Q32 + e) as i64
    };
    (if x < 0 { -t } else { t }) as i32
}

/// `1/(1 + e^-x)` in the format with `F` fraction bits.
#[inline]
pub(crate) fn sigmoid_raw<const F: u32>(x: i32) -> i32 {
    let x = i64::from(x);
    if x >= 0 {
        let e = exp_q32::<F>(-x);
        div_round(ONE_Q32 << F, ONE_Q32 + e) as i32
    } else {
        let e = exp_q32::<F>(x);
        div_round(e << F, ONE_Q32 + e) as i32
    }
}

/// `x` rounded to nearest (ties away from zero); `MIN` below the range, `MAX` above it and for
/// NaN.
fn saturating_from_f64<Frac: LeEqU32>(x: f64) -> FixedI32<Frac> {
    if x.is_nan() {
        return FixedI32::MAX;
    }
    let s = libm::round(libm::ldexp(x, FixedI32::<Frac>::FRAC_NBITS as i32));
    if s >= 2_147_483_647.0 {
        FixedI32::MAX
    } else if s <= -2_147_483_648.0 {
        FixedI32::MIN
    } else {
        FixedI32::from_bits(s as i32)
    }
}

/// `x` rounded to nearest if it lies in `[MIN, MAX]` (both exact in `f64`).
fn try_from_f64<Frac: LeEqU32>(x: f64) -> Result<FixedI32<Frac>, Error> {
    if !x.is_finite() {
        Err(not_representable(ValueFault::NotFinite))
    } else if x < to_f64(FixedI32::<Frac>::MIN) || x > to_f64(FixedI32::<Frac>::MAX) {
        Err(not_representable(ValueFault::OutOfRange))
    } else {
        Ok(saturating_from_f64(x))
    }
}

/// Exact.
fn to_f64<Frac: LeEqU32>(x: FixedI32<Frac>) -> f64 {
    libm::ldexp(
        f64::from(x.to_bits()),
        -(FixedI32::<Frac>::FRAC_NBITS as i32),
    )
}

/// Whether `start·2^frac + n·a·b ≤ i64::MAX`: then no partial sum of an accumulation from a
/// widened value of magnitude `≤ start` adding `n` products `≤ a·b` can leave the `i64` range,
/// and the saturating sums equal the plain ones. Exact: any overflow of the `u64` arithmetic
/// means the bound is exceeded.
fn sums_in_range(start: u64, n: usize, a: u64, b: u64, frac: u32) -> bool {
    let total = u64::try_from(n).ok().and_then(|n| {
        let products = n.checked_mul(a.checked_mul(b)?)?;
        products.checked_add(start.checked_mul(1 << frac)?)
    });
    total.is_some_and(|t| t <= i64::MAX as u64)
}

macro_rules! fixed_scalar {
    ($t:ty, $frac:literal) => {
        /// Saturating fixed-point arithmetic with a 64-bit exact accumulator and integer-only
        /// transcendental functions; conversions and error bounds in
        /// [`num::fixed::scalar`](crate::num::fixed::scalar).
        impl Scalar for $t {
            const ONE: Self = <$t>::ONE;
            /// Raw `i64` with twice the format's fraction bits: products are exact.
            type Acc = i64;

            #[inline(always)]
            fn add(self, rhs: Self) -> Self {
                self.saturating_add(rhs)
            }
            #[inline(always)]
            fn sub(self, rhs: Self) -> Self {
                self.saturating_sub(rhs)
            }
            #[inline(always)]
            fn mul(self, rhs: Self) -> Self {
                let p = wide_mul(self.to_bits(), rhs.to_bits());
                <$t>::from_bits(round_shift_sat(p, $frac))
            }
            #[inline(always)]
            fn widen(self) -> i64 {
                i64::from(self.to_bits()) << $frac
            }
            #[inline(always)]
            fn mul_acc(acc: i64, a: Self, b: Self) -> i64 {
                acc.saturating_add(wide_mul(a.to_bits(), b.to_bits()))
            }
            #[inline(always)]
            fn add_acc(acc: i64, a: Self) -> i64 {
                acc.saturating_add(i64::from(a.to_bits()) << $frac)
            }
            const SATURATING_ACC: bool = true;
            const MAX_FACTOR: u64 = 1 << 31;
            // Out of line: one copy, whichever layer scans.
            #[inline(never)]
            fn max_factor(xs: &[Self]) -> u64 {
                // The OR of every `|x|` or `|x| − 1` (`x` XOR its sign: one instruction on a
                // Cortex-M3) is at least each of them.
                let ones = xs.iter().fold(0u32, |m, x| {
                    let v = x.to_bits();
                    m | (v ^ (v >> 31)) as u32
                });
                u64::from(ones) + 1
            }
            #[inline(never)]
            fn sums_in_range(start: u64, n: usize, a: u64, b: u64) -> bool {
                sums_in_range(start, n, a, b, $frac)
            }
            #[inline(always)]
            fn mul_acc_in_range(acc: i64, a: Self, b: Self) -> i64 {
                // In range, so the sum never wraps; `wrapping_add` keeps debug builds from
                // testing what `sums_in_range` proved.
                acc.wrapping_add(wide_mul(a.to_bits(), b.to_bits()))
            }
            #[inline(always)]
            fn narrow(acc: i64) -> Self {
                <$t>::from_bits(round_shift_sat(acc, $frac))
            }
            #[inline]
            fn narrow_div(acc: i64, n: u32) -> Self {
                <$t>::from_bits(div_round_sat(acc, n, $frac))
            }
            #[inline]
            fn exp(self) -> Self {
                <$t>::from_bits(exp_raw::<$frac>(self.to_bits()))
            }
            #[inline]
            fn ln(self) -> Self {
                <$t>::from_bits(ln_raw::<$frac>(self.to_bits()))
            }
            #[inline]
            fn recip(self) -> Self {
                <$t>::from_bits(recip_raw::<$frac>(self.to_bits()))
            }
            #[inline]
            fn tanh(self) -> Self {
                <$t>::from_bits(tanh_raw::<$frac>(self.to_bits()))
            }
            #[inline]
            fn sigmoid(self) -> Self {
                <$t>::from_bits(sigmoid_raw::<$frac>(self.to_bits()))
            }
            #[inline]
            fn try_from_f64(x: f64) -> Result<Self, Error> {
                try_from_f64(x)
            }
            #[inline]
            fn saturating_from_f64(x: f64) -> Self {
                saturating_from_f64(x)
            }
            #[inline]
            fn to_f64(self) -> f64 {
                to_f64(self)
            }
        }
    };
}

fixed_scalar!(I16F16, 16);
fixed_scalar!(I8F24, 24);

#[cfg(test)]
mod tests {
    use super::*;

    /// The tables and constants against `libm` in `f64`: each rounded to nearest in its Q format.
    #[test]
    fn tables_and_constants_match_libm_to_one_unit() {
        let q31 = 2f64.powi(31);
        for j in 0..32 {
            let jf = j as f64 / 32.0;
            assert!(
                (f64::from(EXP2_Q31[j]) - libm::exp2(jf) * q31).abs() <= 0.5,
                "exp2 {j}"
            );
            assert!(
                (f64::from(RECIP_Q31[j]) - q31 / (1.0 + jf)).abs() <= 0.5,
                "recip {j}"
            );
            assert!(
                (LN_Q31[j] as f64 - libm::log1p(jf) * q31).abs() <= 0.5,
                "ln {j}"
            );
        }
        let q32 = 2f64.powi(32);
        assert!((LOG2E_Q32 as f64 - core::f64::consts::LOG2_E * q32).abs() <= 0.5);
        assert!((LN2_Q32 as f64 - core::f64::consts::LN_2 * q32).abs() <= 0.5);
        assert!((LN2_Q40 as f64 - core::f64::consts::LN_2 * 2f64.powi(40)).abs() <= 1.0);
    }

    #[test]
    fn div_round_sat_rounds_half_up_and_saturates() {
        assert_eq!(div_round_sat(3 << 16, 2, 16), 2); // 1.5 → 2
        assert_eq!(div_round_sat(-3 << 16, 2, 16), -1); // -1.5 → -1
        assert_eq!(div_round_sat(10 << 16, 3, 16), 3);
        assert_eq!(div_round_sat(-10 << 16, 3, 16), -3);
        assert_eq!(div_round_sat(i64::MAX, 1, 16), i32::MAX);
        assert_eq!(div_round_sat(i64::MIN, 1, 16), i32::MIN);
        assert_eq!(div_round_sat(i64::MIN, u32::MAX, 24), -128);
        assert_eq!(div_round_sat(5, 0, 16), i32::MAX);
        assert_eq!(div_round_sat(0, 0, 16), 0);
    }

    /// The product from 16-bit halves equals the `i64` product: at the ends and signs of the
    /// range, every pair of halves' edges, and a pseudo-random sweep.
    #[test]
    fn wide_mul_halves_is_the_exact_product() {
        let edges = [
            i32::MIN,
            i32::MIN + 1,
            -65_537,
            -65_536,
            -65_535,
            -32_768,
            -1,
            0,
            1,
            32_767,
            65_535,
            65_536,
            65_537,
            i32::MAX - 1,
            i32::MAX,
        ];
        for &a in &edges {
            for &b in &edges {
                assert_eq!(
                    wide_mul_halves(a, b),
                    i64::from(a) * i64::from(b),
                    "{a} {b}"
                );
            }
        }
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..1_000_000 {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let (a, b) = ((s >> 32) as i32, s as i32);
            assert_eq!(
                wide_mul_halves(a, b),
                i64::from(a) * i64::from(b),
                "{a} {b}"
            );
            assert_eq!(wide_mul(a, b), i64::from(a) * i64::from(b));
        }
    }

    /// The unsigned product from 16-bit halves equals the `u64` product: every pair of halves'
    /// edges and a pseudo-random sweep.
    #[test]
    fn wide_umul_halves_is_the_exact_product() {
        let edges = [
            0u32,
            1,
            0xFFFF,
            0x1_0000,
            0x1_0001,
            0x7FFF_FFFF,
            0x8000_0000,
            0xFFFF_0000,
            u32::MAX - 1,
            u32::MAX,
        ];
        for &a in &edges {
            for &b in &edges {
                assert_eq!(
                    wide_umul_halves(a, b),
                    u64::from(a) * u64::from(b),
                    "{a} {b}"
                );
            }
        }
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..1_000_000 {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let (a, b) = ((s >> 32) as u32, s as u32);
            assert_eq!(
                wide_umul_halves(a, b),
                u64::from(a) * u64::from(b),
                "{a} {b}"
            );
            assert_eq!(wide_umul(a, b), u64::from(a) * u64::from(b));
        }
    }

    #[test]
    fn round_shift_sat_rounds_half_up_and_saturates() {
        assert_eq!(round_shift_sat(3, 1), 2); // 1.5 → 2
        assert_eq!(round_shift_sat(-3, 1), -1); // -1.5 → -1
        assert_eq!(round_shift_sat(i64::MAX, 16), i32::MAX);
        assert_eq!(round_shift_sat(i64::MIN, 16), i32::MIN);
    }
}
