//! [`ConvShape`]: a [`Conv2dShape`] with TFLite's dilation factors.

use crate::nn::{Conv1dShape, Conv2dShape, Padding};

/// The geometry of an int8 convolution: a [`Conv2dShape`] (sizes, strides, padding, groups)
/// and TFLite's `dilation_h_factor`/`dilation_w_factor`. A dilated kernel of `k` taps spans
/// `(k − 1)·d + 1` input elements; output sizes and `SAME` padding use that span, as TFLite's
/// `ComputePaddingHeightWidth` does. Padding is zero padding in real terms: a tap in it reads
/// the input's zero point, so it adds nothing to the accumulator.
///
/// ```
/// use edgetune::nn::int8::ConvShape;
/// use edgetune::nn::Conv2dShape;
/// // A 1-D conv (height 1): 25 steps, 16 → 16 channels, kernel 3, dilation 2, VALID.
/// const S: ConvShape = ConvShape::new(Conv2dShape::new(1, 25, 16, 16, 1, 3)).dilation(1, 2);
/// const _: () = assert!(S.valid());
/// assert_eq!((S.out_h(), S.out_w()), (1, 21));
/// assert_eq!(S.weights(), 16 * 3 * 16);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    /// Sizes, strides, padding and groups (its `kh`, `kw` are the taps, not the span).
    pub conv: Conv2dShape,
    /// Vertical dilation (1: none).
    pub dilation_h: usize,
    /// Horizontal dilation (1: none).
    pub dilation_w: usize,
}

impl ConvShape {
    /// Without dilation.
    pub const fn new(conv: Conv2dShape) -> Self {
        ConvShape {
            conv,
            dilation_h: 1,
            dilation_w: 1,
        }
    }

    /// A 1-D convolution over `[len][in_c]` as height 1, with dilation `dilation` along the
    /// length (TFLite's form of Keras' `Conv1D`).
    pub const fn from_1d(shape: &Conv1dShape, dilation: usize) -> Self {
        ConvShape::new(shape.to_2d()).dilation(1, dilation)
    }

    /// With dilation factors `(h, w)`.
    pub const fn dilation(mut self, dilation_h: usize, dilation_w: usize) -> Self {
        self.dilation_h = dilation_h;
        self.dilation_w = dilation_w;
        self
    }

    /// With TF `SAME` padding for the dilated span and the strides (set both first).
    pub const fn same(mut self) -> Self {
        let e = self.spanned();
        self.conv.pad_h = Padding::same(e.in_h, e.kh, e.stride_h);
        self.conv.pad_w = Padding::same(e.in_w, e.kw, e.stride_w);
        self
    }

    /// The shape with the kernel replaced by its dilated span (saturating): the output sizes.
    const fn spanned(&self) -> Conv2dShape {
        let mut e = self.conv;
        e.kh = span(self.conv.kh, self.dilation_h);
        e.kw = span(self.conv.kw, self.dilation_w);
        e
    }

    /// Whether the kernels accept it: [`Conv2dShape::valid`] for both the taps and the dilated
    /// span, and nonzero dilations.
    pub const fn valid(&self) -> bool {
        self.dilation_h > 0
            && self.dilation_w > 0
            && self.conv.valid()
            && self.spanned().valid()
            && self.spanned().kh < usize::MAX
            && self.spanned().kw < usize::MAX
    }

    /// Output height (0 if undefined).
    pub const fn out_h(&self) -> usize {
        self.spanned().out_h()
    }

    /// Output width (0 if undefined).
    pub const fn out_w(&self) -> usize {
        self.spanned().out_w()
    }

    /// Input elements, `in_h·in_w·in_c`.
    pub const fn input_len(&self) -> usize {
        self.conv.input_len()
    }

    /// Output elements, `out_h·out_w·out_c`.
    pub const fn output_len(&self) -> usize {
        self.spanned().output_len()
    }

    /// Filter elements, `out_c·kh·kw·(in_c / groups)` (also a depthwise filter's
    /// `kh·kw·in_c·multiplier`).
    pub const fn weights(&self) -> usize {
        self.conv.weights()
    }

    /// Multiply-accumulates of one forward pass, padding taps included.
    pub const fn macs(&self) -> usize {
        self.output_len()
            .saturating_mul(self.conv.kh)
            .saturating_mul(self.conv.kw)
            .saturating_mul(self.conv.in_c_per_group())
    }
}

/// The kernel taps `k` of output position `o` whose input `o·stride + k·dilation − before` lies in
/// `0..len`: a range of `k` (consecutive: the in-bounds taps of a window are contiguous) and the
/// input index of its first tap (0 if the range is empty). No overflow for a valid shape.
#[inline(always)]
pub(crate) fn tap_range(
    o: usize,
    stride: usize,
    taps: usize,
    dilation: usize,
    before: usize,
    len: usize,
) -> (core::ops::Range<usize>, usize) {
    let start = o * stride;
    let k0 = before.saturating_sub(start).div_ceil(dilation);
    let k1 = (len + before)
        .saturating_sub(start)
        .div_ceil(dilation)
        .min(taps);
    if k0 >= k1 {
        return (0..0, 0);
    }
    (k0..k1, start + k0 * dilation - before)
}

/// `(k − 1)·d + 1`, saturating (a saturated span makes the shape invalid).
const fn span(k: usize, d: usize) -> usize {
    if k == 0 {
        return 0;
    }
    (k - 1).saturating_mul(d).saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tap_range_is_exactly_the_in_bounds_taps() {
        // Brute force over small geometries: the range holds exactly the k whose input index
        // lies in 0..len, and its first input index is that of its first k.
        for len in 1..8usize {
            for taps in 1..5 {
                for dilation in 1..4 {
                    for stride in 1..4 {
                        for before in 0..6 {
                            for o in 0..8 {
                                let inside = |k: usize| {
                                    let i = (o * stride + k * dilation) as isize - before as isize;
                                    i >= 0 && (i as usize) < len
                                };
                                let (r, first) = tap_range(o, stride, taps, dilation, before, len);
                                for k in 0..taps {
                                    assert_eq!(
                                        r.contains(&k),
                                        inside(k),
                                        "{len} {taps} {dilation} {stride} {before} {o} {k}"
                                    );
                                }
                                if !r.is_empty() {
                                    assert_eq!(first, o * stride + r.start * dilation - before);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
