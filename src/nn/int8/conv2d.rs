//! int8 `CONV_2D` (and a 1-D conv as height 1): TFLite's `reference_integer_ops::ConvPerChannel`.
//!
//! `acc[o] = bias[o] + Σ_{ky,kx,ci} filter[o][ky][kx][ci] · (x[iy][ix][g·Cg + ci] − input_zp)`
//! with `iy = oy·stride_h + ky·dilation_h − pad_top` (likewise `ix`), taps in the padding
//! skipped (they read the zero point: real 0), `g = o / (out_c / groups)`, `Cg = in_c / groups`;
//! then `y = clamp(multiply_by_quantized_multiplier(acc, m[o], shift[o]) + output_zp, act_min,
//! act_max)` ([`OutputStage`]). Layouts are TFLite's, so a model's constants copy straight in:
//! input `[in_h][in_w][in_c]` (NHWC with N = 1), filter `[out_c][kh][kw][in_c / groups]` (OHWI),
//! bias `[out_c]` (`i32`, scale `input_scale · filter_scale[o]`, zero point 0), output
//! `[out_h][out_w][out_c]`. The accumulator is `i32`, wrapping like TFLite's on every target it
//! runs on (it cannot overflow below 65,793 taps per output: `|x − zp| ≤ 255`, `|w| ≤ 128`).
//!
//! A 1-D conv over `[len][in_c]` is this with height 1 (`ConvShape::new(shape.to_2d())` from a
//! [`Conv1dShape`](crate::nn::Conv1dShape), or [`ConvShape::from_1d`]); TensorFlow's converter
//! lowers Keras' `Conv1D` to the same `CONV_2D`.
//!
//! # Errors
//! [`NnError::InvalidShape`](crate::nn::NnError::InvalidShape) if `!shape.valid()`,
//! [`NnError::InvalidQuantization`](crate::nn::NnError::InvalidQuantization) for an unusable
//! [`OutputStage`], [`Error::LengthMismatch`] for a requantiser that is neither per-tensor nor
//! per output channel or a slice of the wrong length (checked in the order shape, stage, filter,
//! bias, `x`, `y`); nothing is written.

use super::requant::OutputStage;
use super::shape::{tap_range, ConvShape};
use crate::nn::shape::{check_len, check_shape};
use crate::Error;

/// The forward pass: writes `y` (`shape.output_len()`) from `x` (`shape.input_len()`),
/// `filter` (`shape.weights()`) and `bias` (`out_c`, or `None`). See the module docs.
///
/// ```
/// use edgetune::nn::int8::{conv2d, ConvShape, OutputStage, Requant};
/// use edgetune::nn::Conv2dShape;
/// // 2 × 2 × 1 input, one 2 × 2 filter of ones, multiplier 0.5 (m = 2^30, shift 0).
/// const S: ConvShape = ConvShape::new(Conv2dShape::new(2, 2, 1, 1, 2, 2));
/// let (m, sh) = ([1 << 30], [0]);
/// let stage = OutputStage { input_zero_point: -1, requant: Requant::new(&m, &sh)?,
///                           output_zero_point: 3, act_min: -128, act_max: 127 };
/// let mut y = [0i8; 1];
/// conv2d::forward(&S, &stage, &[1, 1, 1, 1], Some(&[2]), &[0, 1, 2, 3], &mut y)?;
/// assert_eq!(y, [9]); // ((0+1) + (1+1) + (2+1) + (3+1) + 2) · 0.5 + 3
/// # Ok::<(), edgetune::Error>(())
/// ```
///
/// # Errors
/// See the module docs.
pub fn forward(
    shape: &ConvShape,
    stage: &OutputStage<'_>,
    filter: &[i8],
    bias: Option<&[i32]>,
    x: &[i8],
    y: &mut [i8],
) -> Result<(), Error> {
    check_shape(shape.valid())?;
    let s = &shape.conv;
    stage.check_for(s.out_c)?;
    check_len(shape.weights(), filter.len())?;
    if let Some(b) = bias {
        check_len(s.out_c, b.len())?;
    }
    check_len(shape.input_len(), x.len())?;
    check_len(shape.output_len(), y.len())?;

    let (oh, ow) = (shape.out_h(), shape.out_w());
    let (dh, dw) = (shape.dilation_h, shape.dilation_w);
    let cig = s.in_c_per_group();
    let cog = s.out_c_per_group();
    let wper = s.kh * s.kw * cig;
    let offset = -stage.input_zero_point;
    // Without dilation or groups, a kernel row's in-bounds taps read one contiguous run of the
    // input (and of the filter): one dot product per kernel row.
    let contiguous = dw == 1 && cig == s.in_c;
    let mut out = y.chunks_exact_mut(s.out_c);
    for oy in 0..oh {
        let (ry, iy0) = tap_range(oy, s.stride_h, s.kh, dh, s.pad_h.before, s.in_h);
        for ox in 0..ow {
            let (rx, ix0) = tap_range(ox, s.stride_w, s.kw, dw, s.pad_w.before, s.in_w);
            let n = rx.len();
            let Some(px) = out.next() else { return Ok(()) };
            // The group of output channel `o` advances every `cog` channels (no division: the M0
            // has no divide instruction).
            let (mut xg, mut left) = (0, cog);
            for (o, yo) in px.iter_mut().enumerate() {
                if left == 0 {
                    (xg, left) = (xg + cig, cog);
                }
                left -= 1;
                let wo = &filter[o * wper..(o + 1) * wper];
                let mut acc = 0i32;
                for (j, ky) in ry.clone().enumerate() {
                    let xrow = ((iy0 + j * dh) * s.in_w + ix0) * s.in_c + xg;
                    let wrow = (ky * s.kw + rx.start) * cig;
                    if contiguous {
                        let len = n * cig;
                        acc = acc.wrapping_add(dot(
                            &x[xrow..xrow + len],
                            &wo[wrow..wrow + len],
                            offset,
                        ));
                    } else {
                        for i in 0..n {
                            let xi = xrow + i * dw * s.in_c;
                            let wi = wrow + i * cig;
                            acc =
                                acc.wrapping_add(dot(&x[xi..xi + cig], &wo[wi..wi + cig], offset));
                        }
                    }
                }
                if let Some(b) = bias {
                    acc = acc.wrapping_add(b[o]);
                }
                *yo = stage.finish(acc, o);
            }
        }
    }
    Ok(())
}

/// `Σ (x[i] + offset) · w[i]` in `i32` (wrapping). With the feature `arm-dsp` on a core with the
/// DSP extension, the same bits by `sxtb16`/`smlad` (`crate::arm::dsp`).
#[inline(always)]
pub(crate) fn dot(x: &[i8], w: &[i8], offset: i32) -> i32 {
    #[cfg(all(feature = "arm-dsp", target_arch = "arm", target_feature = "dsp"))]
    return crate::arm::dsp::dot(x, w, offset);
    #[cfg(not(all(feature = "arm-dsp", target_arch = "arm", target_feature = "dsp")))]
    portable_dot(x, w, offset)
}

/// [`dot`] in portable Rust.
#[inline(always)]
#[allow(dead_code)]
fn portable_dot(x: &[i8], w: &[i8], offset: i32) -> i32 {
    x.iter().zip(w).fold(0i32, |a, (&xv, &wv)| {
        a.wrapping_add((xv as i32 + offset) * wv as i32)
    })
}
