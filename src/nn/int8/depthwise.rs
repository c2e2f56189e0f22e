//! int8 `DEPTHWISE_CONV_2D` with a depth multiplier: TFLite's
//! `reference_integer_ops::DepthwiseConvPerChannel`.
//!
//! Output channel `o = c·multiplier + j` filters input channel `c` alone:
//! `acc[o] = bias[o] + Σ_{ky,kx} filter[ky][kx][o] · (x[iy][ix][c] − input_zp)`, taps and
//! requantisation as in [`conv2d`](super::conv2d). The shape is a [`ConvShape`] whose `conv` has
//! `groups = in_c` and `out_c = in_c · multiplier`. The filter is in **TFLite's depthwise layout**
//! `[1][kh][kw][out_c]` (the output channel innermost), so a model's filter copies straight in;
//! this differs from the float layers' OHWI `[out_c][kh][kw][1]`, a transpose.
//!
//! # Errors
//! As [`conv2d`](super::conv2d), and [`NnError::InvalidShape`](crate::nn::NnError::InvalidShape)
//! if `groups != in_c`; nothing is written.

use super::requant::OutputStage;
use super::shape::{tap_range, ConvShape};
use crate::nn::shape::{check_len, check_shape};
use crate::Error;

/// Output channels accumulated together (`4·CHUNK` bytes of stack).
const CHUNK: usize = 16;

/// The forward pass: writes `y` (`shape.output_len()`) from `x` (`shape.input_len()`),
/// `filter` (`kh·kw·out_c`, layout `[kh][kw][out_c]`) and `bias` (`out_c`, or `None`).
///
/// ```
/// use edgetune::nn::int8::{depthwise, ConvShape, OutputStage, Requant};
/// use edgetune::nn::Conv2dShape;
/// // 1 × 2 × 2 input, kernel 1 × 2, multiplier 2: 4 output channels at one position.
/// const S: ConvShape = ConvShape::new(Conv2dShape::new(1, 2, 2, 4, 1, 2).groups(2));
/// let (m, sh) = ([1 << 30], [1]); // multiplier 1.0
/// let stage = OutputStage { input_zero_point: 0, requant: Requant::new(&m, &sh)?,
///                           output_zero_point: 0, act_min: -128, act_max: 127 };
/// // x = [[1, 2], [3, 4]] (two steps of two channels); filter [kx][o].
/// let filter = [1, 0, 1, 0, /* kx = 1 */ 1, 1, 0, 2];
/// let mut y = [0i8; 4];
/// depthwise::forward(&S, &stage, &filter, None, &[1, 2, 3, 4], &mut y)?;
/// assert_eq!(y, [1 + 3, 3, 2, 2 * 4]); // o = c·2 + j reads channel c
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
    let s = &shape.conv;
    check_shape(shape.valid() && s.groups == s.in_c)?;
    stage.check_for(s.out_c)?;
    check_len(shape.weights(), filter.len())?;
    if let Some(b) = bias {
        check_len(s.out_c, b.len())?;
    }
    check_len(shape.input_len(), x.len())?;
    check_len(shape.output_len(), y.len())?;

    let (oh, ow) = (shape.out_h(), shape.out_w());
    let (dh, dw) = (shape.dilation_h, shape.dilation_w);
    let mult = s.out_c_per_group();
    let offset = -stage.input_zero_point;
    let mut out = y.chunks_exact_mut(s.out_c);
    for oy in 0..oh {
        let (ry, iy0) = tap_range(oy, s.stride_h, s.kh, dh, s.pad_h.before, s.in_h);
        for ox in 0..ow {
            let (rx, ix0) = tap_range(ox, s.stride_w, s.kw, dw, s.pad_w.before, s.in_w);
            let Some(px) = out.next() else { return Ok(()) };
            // Channels innermost, CHUNK output channels at a time: each tap reads a pixel's
            // channels and a filter row contiguously (TFLite's layout). Integer sums in another
            // order: the same bits.
            for (ci, yc) in px.chunks_mut(CHUNK).enumerate() {
                let o0 = ci * CHUNK;
                let mut acc = [0i32; CHUNK];
                let acc = &mut acc[..yc.len()];
                if let Some(b) = bias {
                    acc.copy_from_slice(&b[o0..o0 + yc.len()]);
                }
                // The input channel of output channel o0, and how many more share it.
                let (c0, left0) = (o0 / mult, mult - o0 % mult);
                for (j, ky) in ry.clone().enumerate() {
                    let iy = iy0 + j * dh;
                    for (i, kx) in rx.clone().enumerate() {
                        let xp = &x[(iy * s.in_w + ix0 + i * dw) * s.in_c..][..s.in_c];
                        let wp = &filter[(ky * s.kw + kx) * s.out_c + o0..][..acc.len()];
                        if mult == 1 {
                            let xs = &xp[o0..o0 + acc.len()];
                            for ((a, &wv), &xv) in acc.iter_mut().zip(wp).zip(xs) {
                                *a = a.wrapping_add((xv as i32 + offset) * wv as i32);
                            }
                        } else {
                            let (mut c, mut left) = (c0, left0);
                            for (a, &wv) in acc.iter_mut().zip(wp) {
                                if left == 0 {
                                    (c, left) = (c + 1, mult);
                                }
                                left -= 1;
                                *a = a.wrapping_add((xp[c] as i32 + offset) * wv as i32);
                            }
                        }
                    }
                }
                for (k, (yo, &a)) in yc.iter_mut().zip(acc.iter()).enumerate() {
                    *yo = stage.finish(a, o0 + k);
                }
            }
        }
    }
    Ok(())
}
