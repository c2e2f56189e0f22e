//! [`Scalar`]: a complete number type: conversions from and to `f64`, and the arithmetic the
//! layer math needs, on top of what an optimizer needs ([`Num`]).

use super::Num;
use crate::{Error, ValueFault};

/// The arithmetic of layer math: ring operations, a wide accumulator for dot products, and the
/// few transcendental functions the activations and the softmax need.
///
/// Every layer and loss in [`nn`](crate::nn) is written against this trait only, so a new number
/// type is added by implementing it, without touching the layers.
///
/// # Why methods instead of `core::ops`
/// `a + b` on the `fixed` crate's types panics on overflow in debug builds and wraps in release;
/// layer math on a device must do neither. With named methods a fixed-point implementation can
/// saturate, while `f32`/`f64` simply use IEEE arithmetic. In generic code (`S: Scalar`)
/// `x.exp()` resolves to [`Scalar::exp`]; in code on a concrete `f32` with `std` linked it would
/// resolve to std's inherent method, so write `Scalar::exp(x)` there.
///
/// # Accumulator
/// Dot products and sums run in [`Acc`](Scalar::Acc): start with [`widen`](Scalar::widen), add
/// products with [`mul_acc`](Scalar::mul_acc), finish with [`narrow`](Scalar::narrow). For `f32`
/// and `f64` the accumulator is the type itself (no double-precision software float on an FPU-less
/// core). A 32-bit fixed-point type would accumulate exact 64-bit products and round once in
/// `narrow`, as fixed-point MAC loops on Cortex-M do.
///
/// # Domains used by this crate
/// - [`exp`](Scalar::exp) is called only with `x ≤ 0` (softmax after subtracting the maximum), so
///   its result lies in `(0, 1]`; a fixed-point implementation need only be accurate there.
/// - [`ln`](Scalar::ln) is called only with `1 ≤ x ≤ C` (the softmax normaliser, `C` classes).
/// - [`recip`](Scalar::recip) is called only with `1 ≤ x ≤ C` (the same normaliser).
/// - [`tanh`](Scalar::tanh) and [`sigmoid`](Scalar::sigmoid) are called on any value.
///
/// The fixed-point implementation ([`fixed::scalar`](super::fixed::scalar)) states its
/// worst-case error on these domains.
///
/// # Conversions
/// Conversions belong here, not to [`Num`]: an optimizer never converts its elements, so `Num`
/// (implemented for every `FixedI32<Frac>`) stays what an optimizer needs, while a number type a
/// user computes with (`f32`, `f64`, `I16F16`, `I8F24`) is a `Scalar` and converts through it:
/// `<I16F16 as Scalar>::from_f64(x)` and, in generic code, `S::from_f64(x)` (one trait defines
/// it, so it is never ambiguous).
///
/// - [`try_from_f64`](Scalar::try_from_f64) refuses what the type cannot hold:
///   [`Error::NotRepresentable`] with [`ValueFault::NotFinite`] for NaN and `±∞`,
///   [`ValueFault::OutOfRange`] for a finite value beyond the type's range.
/// - [`saturating_from_f64`](Scalar::saturating_from_f64) always gives a value: the nearest one,
///   with out-of-range values at the type's saturation values. Either way an unusable input stays
///   detectable: what saturates is exactly what
///   [`Num::is_usable_gradient`] rejects (`±∞` and NaN for floats; `MIN`, `MAX` for fixed point,
///   where NaN gives `MAX`).
/// - [`from_f64`](Scalar::from_f64) is the short name of `saturating_from_f64`.
pub trait Scalar: Num {
    /// The multiplicative identity.
    const ONE: Self;

    /// The accumulator of dot products and sums (the type itself for `f32` and `f64`).
    type Acc: Copy;

    /// `self + rhs` (IEEE for floats; a fixed-point type saturates).
    fn add(self, rhs: Self) -> Self;
    /// `self − rhs`.
    fn sub(self, rhs: Self) -> Self;
    /// `self · rhs`.
    fn mul(self, rhs: Self) -> Self;

    /// Starts an accumulation at `self`.
    fn widen(self) -> Self::Acc;
    /// `acc + a·b` in the accumulator.
    fn mul_acc(acc: Self::Acc, a: Self, b: Self) -> Self::Acc;
    /// `acc + a` in the accumulator.
    fn add_acc(acc: Self::Acc, a: Self) -> Self::Acc;

    /// Whether [`mul_acc`](Scalar::mul_acc) tests every sum against the accumulator's range
    /// (fixed point's saturating 64-bit sums). Only then do the layers call
    /// [`sums_in_range`](Scalar::sums_in_range) and, where it holds,
    /// [`mul_acc_in_range`](Scalar::mul_acc_in_range).
    const SATURATING_ACC: bool = false;
    /// A bound on `|x|` for every value of the type, as [`max_factor`](Scalar::max_factor)
    /// measures it (fixed point: `2^31`). `0` unless [`SATURATING_ACC`](Scalar::SATURATING_ACC).
    const MAX_FACTOR: u64 = 0;
    /// A bound on `|x|` over `xs`, in the units [`sums_in_range`](Scalar::sums_in_range) takes
    /// (fixed point: the raw integer's magnitude). `0` unless
    /// [`SATURATING_ACC`](Scalar::SATURATING_ACC).
    fn max_factor(xs: &[Self]) -> u64 {
        let _ = xs;
        0
    }
    /// Whether every partial sum of an accumulation stays inside the accumulator's range when it
    /// starts from `widen(v)` with `|v| ≤ start` and adds at most `n` products `a_i·b_i` with
    /// `|a_i| ≤ a`, `|b_i| ≤ b` (bounds from [`max_factor`](Scalar::max_factor)). Then
    /// [`mul_acc_in_range`](Scalar::mul_acc_in_range) gives every sum `mul_acc` would. `false`
    /// unless [`SATURATING_ACC`](Scalar::SATURATING_ACC).
    fn sums_in_range(start: u64, n: usize, a: u64, b: u64) -> bool {
        let _ = (start, n, a, b);
        false
    }
    /// `acc + a·b` in an accumulation shown to stay in range by
    /// [`sums_in_range`](Scalar::sums_in_range): the value of [`mul_acc`](Scalar::mul_acc),
    /// without its range test.
    #[inline(always)]
    fn mul_acc_in_range(acc: Self::Acc, a: Self, b: Self) -> Self::Acc {
        Self::mul_acc(acc, a, b)
    }
    /// Rounds an accumulation back to `Self`.
    fn narrow(acc: Self::Acc) -> Self;
    /// Rounds `acc / n` back to `Self` with one rounding (a mean: average pooling, batch
    /// statistics). Floats divide in the accumulator; fixed point divides the exact 64-bit
    /// accumulator by `n`, rounding to nearest (ties toward `+∞`, as [`narrow`](Scalar::narrow))
    /// and saturating, so the result is within `½ LSB` of the exact quotient. `n = 0` gives
    /// `±∞`/NaN for floats and the saturation value of `acc`'s sign (`0` for `acc = 0`) in fixed point.
    fn narrow_div(acc: Self::Acc, n: u32) -> Self;

    /// `eˣ` (called by this crate only for `x ≤ 0`).
    fn exp(self) -> Self;
    /// The natural logarithm (called by this crate only for `1 ≤ x ≤ C`).
    fn ln(self) -> Self;
    /// `1 / x` (called by this crate only for `1 ≤ x ≤ C`).
    fn recip(self) -> Self;
    /// The hyperbolic tangent.
    fn tanh(self) -> Self;
    /// The logistic function `1 / (1 + e⁻ˣ)`.
    fn sigmoid(self) -> Self;

    /// `x` rounded to the nearest value of the type, or an error if the type cannot hold it:
    /// [`Error::NotRepresentable`] with [`ValueFault::NotFinite`] for NaN and `±∞`, with
    /// [`ValueFault::OutOfRange`] for a finite `x` beyond the type's range (see each
    /// implementation for the exact limits).
    fn try_from_f64(x: f64) -> Result<Self, Error>;

    /// `x` rounded to the nearest value of the type; beyond the range, the type's saturation
    /// value on that side (see each implementation, including where NaN goes).
    fn saturating_from_f64(x: f64) -> Self;

    /// [`saturating_from_f64`](Scalar::saturating_from_f64).
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        Self::saturating_from_f64(x)
    }

    /// Converts to `f64` (exact for every type of this crate).
    fn to_f64(self) -> f64;

    /// `acc[j] += Σᵢ w[j][i]·x[i]` over a prefix of the inputs by a hardware kernel, each sum in
    /// ascending `i` and bit for bit [`mul_acc`](Scalar::mul_acc)'s; returns the prefix's
    /// length, where the caller goes on. The default takes none.
    #[doc(hidden)]
    #[inline(always)]
    fn dot4_prefix(acc: &mut [Self::Acc; 4], x: &[Self], w: [&[Self]; 4]) -> usize {
        let _ = (acc, x, w);
        0
    }

    /// `acc[p][j] += Σ_{r,i} w[j][at.w + r·at.w_step + i]·x[at.x[p] + r·at.x_step + i]` over a
    /// convolution window's `at.rows` runs of `at.run` values (`r`, then `i` ascending) by a
    /// hardware kernel, bit for bit the run-by-run sums; `false`, and nothing added, where there
    /// is none for this window. The default has none.
    #[doc(hidden)]
    #[inline(always)]
    fn window4xn<const N: usize>(
        acc: &mut [[Self::Acc; 4]; N],
        x: &[Self],
        w: [&[Self]; 4],
        at: &WindowRuns<N>,
    ) -> bool {
        let _ = (acc, x, w, at);
        false
    }

    /// `dw[i] = dw[i] + g·x[i]` ([`add`](Scalar::add) of [`mul`](Scalar::mul)) over a prefix
    /// by a hardware kernel, bit for bit; returns the prefix's length, where the caller goes on.
    /// The default takes none.
    #[doc(hidden)]
    #[inline(always)]
    fn add_scaled_prefix(dw: &mut [Self], g: Self, x: &[Self]) -> usize {
        let _ = (dw, g, x);
        0
    }

    /// The first pixels of one output row of a depthwise layer with three kernel columns and
    /// stride 1 across, channels `c..c + N`, by a hardware kernel, bit for bit as
    /// `nn::conv2d`'s sliding sums (bias, then each kernel row's taps in ascending order, the
    /// padding adding nothing; flipped for an input gradient, [`DwRow::flip`]); returns how
    /// many pixels it wrote, where the caller goes on.
    /// `wt`: the block's weights tap-major. The default takes none.
    #[doc(hidden)]
    #[inline(always)]
    fn dw_row_prefix<const N: usize>(
        y: &mut [Self],
        x: &[Self],
        wt: &[[Self; N]],
        bias: &[Self; N],
        at: &DwRow,
    ) -> usize {
        let _ = (y, x, wt, bias, at);
        0
    }

    /// One kernel row's three taps of a depthwise layer's weight gradient with stride 1 across,
    /// channels `c..c + N`, by a hardware kernel, bit for bit as `nn::conv2d`'s sums:
    /// `acc[t][n] += dy·x` over the output pixels each tap reaches, row by row, in order.
    /// Returns whether it took them (else the caller forms them). The default takes none.
    #[doc(hidden)]
    #[inline(always)]
    fn dw_taps_sums<const N: usize>(
        acc: &mut [[Self::Acc; N]; 3],
        x: &[Self],
        dy: &[Self],
        at: &DwTaps,
    ) -> bool {
        let _ = (acc, x, dy, at);
        false
    }

    /// A convolution weight gradient's block of four output × four input channels by a
    /// hardware kernel, bit for bit as `nn::conv2d`'s sums: `acc[4j + m] += dy[p][j]·x[p][m]`
    /// over the pixels, row by row, in order. Returns whether it took them (else the caller
    /// forms them). The default takes none.
    #[doc(hidden)]
    #[inline(always)]
    fn pixel_sums4x4(acc: &mut [Self::Acc; 16], x: &[Self], dy: &[Self], at: &PixelRows) -> bool {
        let _ = (acc, x, dy, at);
        false
    }

    /// A transposed product's block of four pixels × four input channels by a hardware kernel,
    /// bit for bit as `nn::conv2d`'s input-gradient sums: `acc[4p + m] += w[o][m]·dy[p][o]`
    /// over the weight rows `o` in ascending order, the rows in two runs (the whole rows of
    /// `w[0]`, then of `w[1]`). Returns whether it took them (else the caller forms them). The
    /// default takes none.
    #[doc(hidden)]
    #[inline(always)]
    fn columns4x4(acc: &mut [Self::Acc; 16], w: [&[Self]; 2], dy: &[Self], at: &Columns) -> bool {
        let _ = (acc, w, dy, at);
        false
    }

    /// `acc[p][j] += Σᵢ w[j][i]·x[p][i]` over a prefix of the inputs by a hardware kernel, as
    /// [`dot4_prefix`](Scalar::dot4_prefix) for `N` inputs sharing the rows.
    #[doc(hidden)]
    #[inline(always)]
    fn dot4xn_prefix<const N: usize>(
        acc: &mut [[Self::Acc; 4]; N],
        x: [&[Self]; N],
        w: [&[Self]; 4],
    ) -> usize {
        let _ = (acc, x, w);
        0
    }
}

/// Where a convolution window's runs lie for [`Scalar::window4xn`]: `rows` runs of `run` values,
/// the first at `x[p]` in the input (one per pixel) and at `w` in each weight row, each next run
/// `x_step` and `w_step` further on.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct WindowRuns<const N: usize> {
    /// Each pixel's first input run.
    pub x: [usize; N],
    /// From one input run to the next.
    pub x_step: usize,
    /// The first weight run in each row.
    pub w: usize,
    /// From one weight run to the next.
    pub w_step: usize,
    /// Runs (kernel rows).
    pub rows: usize,
    /// Values per run.
    pub run: usize,
}

/// Where one output row of a depthwise layer lies for [`Scalar::dw_row_prefix`] (element
/// indices and strides; stride 1 across, three kernel columns).
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct DwRow {
    /// The first tapped input row's column 0, channel `c`.
    pub x: usize,
    /// From one input row to the next (negative where the kernel's rows go up the input).
    pub x_row: isize,
    /// From one input column (pixel) to the next.
    pub x_col: usize,
    /// The input row's width.
    pub in_w: usize,
    /// Padding before column 0.
    pub pad: usize,
    /// The first tapped kernel row's first tap in `wt`.
    pub w: usize,
    /// Kernel rows tapped.
    pub rows: usize,
    /// The output row's pixel 0, channel `c`, in `y`.
    pub y: usize,
    /// From one output pixel to the next.
    pub y_col: usize,
    /// The output row's width.
    pub out_w: usize,
    /// The kernel flipped (an input gradient): the columns go last to first, each pixel taking
    /// its taps in ascending order through the mirrored kernel column.
    pub flip: bool,
}

/// Where one kernel row's taps of a depthwise layer's weight gradient lie for
/// [`Scalar::dw_taps_sums`] (element indices and strides; stride 1 across, three kernel columns;
/// the output rows follow each other in `dy`).
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct DwTaps {
    /// The first output row's input row: its column 0, channel `c`.
    pub x: usize,
    /// From one output row's input row to the next.
    pub x_row: usize,
    /// From one input column (pixel) to the next.
    pub x_col: usize,
    /// The input row's width.
    pub in_w: usize,
    /// Padding before column 0.
    pub pad: usize,
    /// The first output row's pixel 0, channel `c`, in `dy`.
    pub dy: usize,
    /// From one output pixel to the next.
    pub dy_col: usize,
    /// The output row's width.
    pub out_w: usize,
    /// Output rows.
    pub rows: usize,
}

/// Where the pixels of a weight gradient's block lie for [`Scalar::pixel_sums4x4`] (element
/// indices and strides): `rows` rows of `pixels` pixels.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct PixelRows {
    /// The first row's first pixel in `x`, at the block's first input channel.
    pub x: usize,
    /// The first row's first pixel in `dy`, at the block's first output channel.
    pub dy: usize,
    /// Rows.
    pub rows: usize,
    /// Pixels per row.
    pub pixels: usize,
    /// From one pixel to the next in `x`.
    pub x_px: usize,
    /// From one pixel to the next in `dy`.
    pub dy_px: usize,
    /// From one row's first pixel to the next in `x`.
    pub x_row: usize,
    /// From one row's first pixel to the next in `dy`.
    pub dy_row: usize,
}

/// Where a transposed product's block lies for [`Scalar::columns4x4`] (element indices and
/// strides).
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct Columns {
    /// The block's first channel in a weight row.
    pub w: usize,
    /// The length of a weight row (from one to the next).
    pub w_row: usize,
    /// Pixel 0's value of row 0 in `dy`.
    pub dy: usize,
    /// From one pixel to the next in `dy`.
    pub dy_px: usize,
    /// Weight rows, at most the runs' whole rows.
    pub rows: usize,
}

/// The error of a conversion that cannot hold its value.
pub(crate) const fn not_representable(fault: ValueFault) -> Error {
    Error::NotRepresentable { fault }
}

macro_rules! float_scalar {
    ($t:ty, $exp:path, $ln:path, $tanh:path $(, $dot4:path, $dot4xn:path, $window:path, $scaled:path, $dw_row:path, $dw_taps:path, $pixel_sums:path, $columns:path)?) => {
        /// IEEE arithmetic; `exp`, `ln` and `tanh` from `libm` (never std's, so the device and
        /// host tests run the same code). `sigmoid` evaluates `eˣ` only for `x ≤ 0`, so it never
        /// overflows: `1/(1 + e⁻ˣ)` for `x ≥ 0`, `eˣ/(1 + eˣ)` otherwise.
        ///
        /// Conversions round to nearest (`as`). The saturation values are `±∞`: a finite `x`
        /// that rounds to `±∞` (for `f32`, `|x| ≥ f32::MAX + ½ ulp`) is
        /// [`ValueFault::OutOfRange`] for `try_from_f64` and `±∞` for `saturating_from_f64`,
        /// which keeps NaN as NaN.
        impl Scalar for $t {
            const ONE: Self = 1.0;
            type Acc = $t;

            #[inline(always)]
            fn add(self, rhs: Self) -> Self {
                self + rhs
            }
            #[inline(always)]
            fn sub(self, rhs: Self) -> Self {
                self - rhs
            }
            #[inline(always)]
            fn mul(self, rhs: Self) -> Self {
                self * rhs
            }
            #[inline(always)]
            fn widen(self) -> Self::Acc {
                self
            }
            #[inline(always)]
            fn mul_acc(acc: Self::Acc, a: Self, b: Self) -> Self::Acc {
                acc + a * b
            }
            #[inline(always)]
            fn add_acc(acc: Self::Acc, a: Self) -> Self::Acc {
                acc + a
            }
            #[inline(always)]
            fn narrow(acc: Self::Acc) -> Self {
                acc
            }
            #[inline(always)]
            fn narrow_div(acc: Self::Acc, n: u32) -> Self {
                acc / n as $t
            }
            #[inline]
            fn exp(self) -> Self {
                $exp(self)
            }
            #[inline]
            fn ln(self) -> Self {
                $ln(self)
            }
            #[inline(always)]
            fn recip(self) -> Self {
                1.0 / self
            }
            #[inline]
            fn tanh(self) -> Self {
                $tanh(self)
            }
            #[inline]
            fn sigmoid(self) -> Self {
                if self >= 0.0 {
                    1.0 / (1.0 + $exp(-self))
                } else {
                    let e = $exp(self);
                    e / (1.0 + e)
                }
            }
            #[inline]
            fn try_from_f64(x: f64) -> Result<Self, Error> {
                if !x.is_finite() {
                    return Err(not_representable(ValueFault::NotFinite));
                }
                let y = x as $t;
                if y.is_finite() {
                    Ok(y)
                } else {
                    Err(not_representable(ValueFault::OutOfRange))
                }
            }
            #[inline(always)]
            fn saturating_from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            $(
                #[inline(always)]
                fn dot4_prefix(acc: &mut [Self; 4], x: &[Self], w: [&[Self]; 4]) -> usize {
                    $dot4(acc, x, w)
                }
                #[inline(always)]
                fn dot4xn_prefix<const N: usize>(
                    acc: &mut [[Self; 4]; N],
                    x: [&[Self]; N],
                    w: [&[Self]; 4],
                ) -> usize {
                    $dot4xn(acc, x, w)
                }
                #[inline(always)]
                fn window4xn<const N: usize>(
                    acc: &mut [[Self; 4]; N],
                    x: &[Self],
                    w: [&[Self]; 4],
                    at: &WindowRuns<N>,
                ) -> bool {
                    $window(acc, x, w, at)
                }
                #[inline(always)]
                fn add_scaled_prefix(dw: &mut [Self], g: Self, x: &[Self]) -> usize {
                    $scaled(dw, g, x)
                }
                #[inline(always)]
                fn dw_row_prefix<const N: usize>(
                    y: &mut [Self],
                    x: &[Self],
                    wt: &[[Self; N]],
                    bias: &[Self; N],
                    at: &DwRow,
                ) -> usize {
                    $dw_row(y, x, wt.as_flattened(), bias.as_slice(), at)
                }
                #[inline(always)]
                fn dw_taps_sums<const N: usize>(
                    acc: &mut [[Self; N]; 3],
                    x: &[Self],
                    dy: &[Self],
                    at: &DwTaps,
                ) -> bool {
                    $dw_taps(acc, x, dy, at)
                }
                #[inline(always)]
                fn pixel_sums4x4(
                    acc: &mut [Self; 16],
                    x: &[Self],
                    dy: &[Self],
                    at: &PixelRows,
                ) -> bool {
                    $pixel_sums(acc, x, dy, at)
                }
                #[inline(always)]
                fn columns4x4(
                    acc: &mut [Self; 16],
                    w: [&[Self]; 2],
                    dy: &[Self],
                    at: &Columns,
                ) -> bool {
                    $columns(acc, w, dy, at)
                }
            )?
        }
    };
}

#[cfg(not(all(feature = "arm-vldm", target_arch = "arm", target_abi = "eabihf")))]
float_scalar!(f32, libm::expf, libm::logf, libm::tanhf);
// Dense rows and weight gradients, convolution windows by `vldmia` (`arm::vldm`): the same bits.
#[cfg(all(feature = "arm-vldm", target_arch = "arm", target_abi = "eabihf"))]
float_scalar!(
    f32,
    libm::expf,
    libm::logf,
    libm::tanhf,
    crate::arm::vldm::dot4,
    crate::arm::vldm::dot4xn,
    crate::arm::vldm::window,
    crate::arm::vldm::add_scaled,
    crate::arm::vldm::dw_row,
    crate::arm::vldm::dw_taps,
    crate::arm::vldm::pixel_sums4x4,
    crate::arm::vldm::columns4x4
);
float_scalar!(f64, libm::exp, libm::log, libm::tanh);
