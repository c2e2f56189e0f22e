//! Shape descriptors of the convolution and pooling layers: small `Copy` values with `const fn`
//! sizes, checked once at the entry of every layer function.
//!
//! Stable Rust has no arithmetic on const generics, so an output size such as
//! `(H + pad − KH) / stride + 1` cannot be a type parameter. Instead a layer function takes a shape
//! and slices; it first checks [`Conv2dShape::valid`] (or the pool's) and every slice length
//! against the shape, and returns an [`Error`] without writing anything if one does not fit. All
//! size arithmetic in [`valid`](Conv2dShape::valid) is checked, so a valid shape cannot overflow
//! `usize` in any index the layers compute; the size functions saturate. A `const` shape can be
//! checked at compile time: `const _: () = assert!(SHAPE.valid());`.
//!
//! One shape type serves every size, so each layer has one monomorphisation per number type
//! (flash matters on a microcontroller).

use crate::nn::NnError;
use crate::Error;

/// Zero padding of one spatial axis: `before` elements in front, `after` behind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Padding {
    /// Zeros before the first element (top or left).
    pub before: usize,
    /// Zeros after the last element (bottom or right).
    pub after: usize,
}

impl Padding {
    /// No padding (TF `VALID`).
    pub const NONE: Padding = Padding {
        before: 0,
        after: 0,
    };

    /// `p` on each side (torch's `padding=p`).
    pub const fn symmetric(p: usize) -> Padding {
        Padding {
            before: p,
            after: p,
        }
    }

    /// TensorFlow's `SAME` padding for an axis of `len` elements, kernel `k` and stride `stride`:
    /// the output has `ceil(len / stride)` elements, the total padding is
    /// `max((out − 1)·stride + k − len, 0)`, and the odd element goes **after** (TF's rule, so a
    /// 10 × 4 kernel with stride 2 on DS-CNN's 49 × 10 input pads 4 before and 5 after in time,
    /// 1 and 1 in frequency). Saturating; a zero `stride` gives [`Padding::NONE`] (and the shape
    /// is invalid anyway).
    pub const fn same(len: usize, k: usize, stride: usize) -> Padding {
        if stride == 0 {
            return Padding::NONE;
        }
        let out = len.div_ceil(stride);
        let total = out
            .saturating_sub(1)
            .saturating_mul(stride)
            .saturating_add(k)
            .saturating_sub(len);
        Padding {
            before: total / 2,
            after: total - total / 2,
        }
    }

    /// Both sides, or `None` on overflow.
    const fn total(&self) -> Option<usize> {
        self.before.checked_add(self.after)
    }
}

/// The output length of one axis, `(len + pad − k) / stride + 1`, or `None` if the kernel does not
/// fit, `k` or `stride` is zero, or the sum overflows.
pub(crate) const fn out_len(len: usize, k: usize, stride: usize, pad: Padding) -> Option<usize> {
    let Some(p) = pad.total() else { return None };
    let Some(padded) = len.checked_add(p) else {
        return None;
    };
    if k == 0 || stride == 0 || padded < k {
        return None;
    }
    Some((padded - k) / stride + 1)
}

/// `a·b·c·d` or `None` on overflow.
const fn product(a: usize, b: usize, c: usize, d: usize) -> Option<usize> {
    match a.checked_mul(b) {
        Some(ab) => match ab.checked_mul(c) {
            Some(abc) => abc.checked_mul(d),
            None => None,
        },
        None => None,
    }
}

/// The input index tapped by output `o`, kernel offset `k`: `o·stride + k − before`, if it lies in
/// `0..len` (otherwise the tap reads padding). No overflow for a valid shape.
#[inline(always)]
pub(crate) fn tap(o: usize, stride: usize, k: usize, before: usize, len: usize) -> Option<usize> {
    (o * stride + k).checked_sub(before).filter(|&i| i < len)
}

/// The output index whose kernel offset `k` taps input `i`, if any: `o` with
/// `o·stride + k − before = i` and `o < out`.
#[inline(always)]
pub(crate) fn tapped_by(
    i: usize,
    stride: usize,
    k: usize,
    before: usize,
    out: usize,
) -> Option<usize> {
    let t = (i + before).checked_sub(k)?;
    if !t.is_multiple_of(stride) {
        return None;
    }
    Some(t / stride).filter(|&o| o < out)
}

/// The outputs whose window of `k` taps covers input `i`, latest first, so that their kernel
/// offsets ascend: every `o < out` with `o·stride + t − before = i` for some `t < k`, the same
/// outputs in the same order as [`tapped_by`] over `t = 0, 1, …, k − 1`, without a division per
/// tap.
#[inline(always)]
pub(crate) fn outputs_covering(
    i: usize,
    stride: usize,
    k: usize,
    before: usize,
    out: usize,
) -> core::iter::Rev<core::ops::Range<usize>> {
    let stride = stride.max(1);
    let t = i + before;
    // Offset 0 taps through the latest output, offset `k − 1` through the earliest.
    let last = (t / stride).min(out.saturating_sub(1));
    let first = t.checked_sub(k).map_or(0, |v| v / stride + 1);
    let end = if out == 0 { first } else { last + 1 };
    (first..end.max(first)).rev()
}

/// `Ok` if `found == expected`, else [`Error::LengthMismatch`].
#[inline]
pub(crate) fn check_len(expected: usize, found: usize) -> Result<(), Error> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::LengthMismatch { expected, found })
    }
}

/// `Ok` if `valid`, else [`NnError::InvalidShape`].
#[inline]
pub(crate) fn check_shape(valid: bool) -> Result<(), Error> {
    if valid {
        Ok(())
    } else {
        Err(Error::Nn(NnError::InvalidShape))
    }
}

/// The shape of a 2-D convolution over a channels-last input `[in_h][in_w][in_c]` with weights
/// `[out_c][kh][kw][in_c / groups]` (OHWI) and output `[out_h][out_w][out_c]`.
///
/// Groups follow torch: input channels and output channels are split into `groups` equal,
/// consecutive blocks, and output channel `o` sees only input block `o / (out_c / groups)`.
/// Depthwise is `groups = in_c`; a **channel multiplier** `m > 1` (`out_c = m·in_c`, TF's
/// `depth_multiplier`) is supported: output channel `c·m + j` filters input channel `c`, as in both
/// torch and TFLite.
///
/// ```
/// use edgetune::nn::{Conv2dShape, Padding};
/// // DS-CNN-S's first layer: 49 × 10 × 1 → 25 × 5 × 64, kernel 10 × 4, stride 2, SAME.
/// const FIRST: Conv2dShape = Conv2dShape::new(49, 10, 1, 64, 10, 4).stride(2, 2).same();
/// const _: () = assert!(FIRST.valid());
/// assert_eq!((FIRST.out_h(), FIRST.out_w()), (25, 5));
/// assert_eq!(FIRST.pad_h, Padding { before: 4, after: 5 });
/// assert_eq!(FIRST.weights(), 64 * 10 * 4);
/// // Its depthwise 3 × 3 layers.
/// const DW: Conv2dShape = Conv2dShape::new(25, 5, 64, 64, 3, 3).same().groups(64);
/// assert!(DW.valid() && DW.weights() == 64 * 9);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dShape {
    /// Input height (rows; time in a spectrogram).
    pub in_h: usize,
    /// Input width (columns).
    pub in_w: usize,
    /// Input channels.
    pub in_c: usize,
    /// Output channels.
    pub out_c: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Zero padding of the rows (top, bottom).
    pub pad_h: Padding,
    /// Zero padding of the columns (left, right).
    pub pad_w: Padding,
    /// Channel groups (1: ordinary; `in_c`: depthwise).
    pub groups: usize,
}

impl Conv2dShape {
    /// Stride 1, no padding, one group.
    pub const fn new(
        in_h: usize,
        in_w: usize,
        in_c: usize,
        out_c: usize,
        kh: usize,
        kw: usize,
    ) -> Self {
        Conv2dShape {
            in_h,
            in_w,
            in_c,
            out_c,
            kh,
            kw,
            stride_h: 1,
            stride_w: 1,
            pad_h: Padding::NONE,
            pad_w: Padding::NONE,
            groups: 1,
        }
    }

    /// With strides `(stride_h, stride_w)`.
    pub const fn stride(mut self, stride_h: usize, stride_w: usize) -> Self {
        self.stride_h = stride_h;
        self.stride_w = stride_w;
        self
    }

    /// With explicit padding of rows and columns.
    pub const fn pad(mut self, pad_h: Padding, pad_w: Padding) -> Self {
        self.pad_h = pad_h;
        self.pad_w = pad_w;
        self
    }

    /// With TF `SAME` padding for the current kernel and strides ([`Padding::same`]); set the
    /// strides first.
    pub const fn same(self) -> Self {
        let pad_h = Padding::same(self.in_h, self.kh, self.stride_h);
        let pad_w = Padding::same(self.in_w, self.kw, self.stride_w);
        self.pad(pad_h, pad_w)
    }

    /// With `groups` channel groups.
    pub const fn groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    /// Whether the layer functions accept this shape: nonzero sizes, kernel and strides; the
    /// kernel fits the padded input; `groups` divides `in_c` and `out_c`; and no size overflows.
    pub const fn valid(&self) -> bool {
        let (Some(oh), Some(ow)) = (
            out_len(self.in_h, self.kh, self.stride_h, self.pad_h),
            out_len(self.in_w, self.kw, self.stride_w, self.pad_w),
        ) else {
            return false;
        };
        self.in_c > 0
            && self.out_c > 0
            && self.groups > 0
            && self.in_c.is_multiple_of(self.groups)
            && self.out_c.is_multiple_of(self.groups)
            && product(self.in_h, self.in_w, self.in_c, 1).is_some()
            && product(oh, ow, self.out_c, 1).is_some()
            && product(self.out_c, self.kh, self.kw, self.in_c / self.groups).is_some()
    }

    /// Output height, `(in_h + pad − kh) / stride_h + 1` (0 if that is undefined).
    pub const fn out_h(&self) -> usize {
        match out_len(self.in_h, self.kh, self.stride_h, self.pad_h) {
            Some(n) => n,
            None => 0,
        }
    }

    /// Output width (0 if undefined).
    pub const fn out_w(&self) -> usize {
        match out_len(self.in_w, self.kw, self.stride_w, self.pad_w) {
            Some(n) => n,
            None => 0,
        }
    }

    /// Input channels per group, `in_c / groups` (0 if `groups` is 0).
    pub const fn in_c_per_group(&self) -> usize {
        match self.in_c.checked_div(self.groups) {
            Some(n) => n,
            None => 0,
        }
    }

    /// Output channels per group, `out_c / groups` (0 if `groups` is 0).
    pub const fn out_c_per_group(&self) -> usize {
        match self.out_c.checked_div(self.groups) {
            Some(n) => n,
            None => 0,
        }
    }

    /// Input elements, `in_h·in_w·in_c` (saturating).
    pub const fn input_len(&self) -> usize {
        self.in_h
            .saturating_mul(self.in_w)
            .saturating_mul(self.in_c)
    }

    /// Output elements, `out_h·out_w·out_c` (saturating).
    pub const fn output_len(&self) -> usize {
        self.out_h()
            .saturating_mul(self.out_w())
            .saturating_mul(self.out_c)
    }

    /// Weight elements, `out_c·kh·kw·(in_c / groups)` (saturating).
    pub const fn weights(&self) -> usize {
        self.out_c
            .saturating_mul(self.kh)
            .saturating_mul(self.kw)
            .saturating_mul(self.in_c_per_group())
    }

    /// Parameters, weights plus one bias per output channel (saturating).
    pub const fn params(&self) -> usize {
        self.weights().saturating_add(self.out_c)
    }

    /// Multiply-accumulates of one forward pass, `output_len · kh·kw·(in_c / groups)`
    /// (padding taps included; saturating).
    pub const fn macs(&self) -> usize {
        self.output_len()
            .saturating_mul(self.kh)
            .saturating_mul(self.kw)
            .saturating_mul(self.in_c_per_group())
    }
}

/// The shape of a 1-D convolution over a channels-last input `[len][in_c]` with weights
/// `[out_c][k][in_c / groups]` and output `[out_len][out_c]`: a [`Conv2dShape`] of height 1
/// ([`to_2d`](Conv1dShape::to_2d)), with the same groups, padding and stride rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv1dShape {
    /// Input length (time steps).
    pub len: usize,
    /// Input channels.
    pub in_c: usize,
    /// Output channels.
    pub out_c: usize,
    /// Kernel length.
    pub k: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding at the start and the end.
    pub pad: Padding,
    /// Channel groups.
    pub groups: usize,
}

impl Conv1dShape {
    /// Stride 1, no padding, one group.
    pub const fn new(len: usize, in_c: usize, out_c: usize, k: usize) -> Self {
        Conv1dShape {
            len,
            in_c,
            out_c,
            k,
            stride: 1,
            pad: Padding::NONE,
            groups: 1,
        }
    }

    /// With stride `stride`.
    pub const fn stride(mut self, stride: usize) -> Self {
        self.stride = stride;
        self
    }

    /// With explicit padding.
    pub const fn pad(mut self, pad: Padding) -> Self {
        self.pad = pad;
        self
    }

    /// With TF `SAME` padding ([`Padding::same`]); set the stride first.
    pub const fn same(mut self) -> Self {
        self.pad = Padding::same(self.len, self.k, self.stride);
        self
    }

    /// With `groups` channel groups.
    pub const fn groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    /// The equivalent 2-D shape: height 1, kernel height 1.
    pub const fn to_2d(&self) -> Conv2dShape {
        Conv2dShape::new(1, self.len, self.in_c, self.out_c, 1, self.k)
            .stride(1, self.stride)
            .pad(Padding::NONE, self.pad)
            .groups(self.groups)
    }

    /// See [`Conv2dShape::valid`].
    pub const fn valid(&self) -> bool {
        self.to_2d().valid()
    }

    /// Output length (0 if undefined).
    pub const fn out_len(&self) -> usize {
        self.to_2d().out_w()
    }

    /// Input elements, `len·in_c`.
    pub const fn input_len(&self) -> usize {
        self.to_2d().input_len()
    }

    /// Output elements, `out_len·out_c`.
    pub const fn output_len(&self) -> usize {
        self.to_2d().output_len()
    }

    /// Weight elements, `out_c·k·(in_c / groups)`.
    pub const fn weights(&self) -> usize {
        self.to_2d().weights()
    }

    /// Weights plus biases.
    pub const fn params(&self) -> usize {
        self.to_2d().params()
    }
}

/// The shape of a 2-D pooling window over a channels-last `[in_h][in_w][c]` input, output
/// `[out_h][out_w][c]`. Sizes follow torch with `ceil_mode=False` and no dilation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dShape {
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Channels (pooled independently).
    pub c: usize,
    /// Window height.
    pub kh: usize,
    /// Window width.
    pub kw: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Padding of the rows.
    pub pad_h: Padding,
    /// Padding of the columns.
    pub pad_w: Padding,
}

impl Pool2dShape {
    /// Stride equal to the window (torch's default), no padding.
    pub const fn new(in_h: usize, in_w: usize, c: usize, kh: usize, kw: usize) -> Self {
        Pool2dShape {
            in_h,
            in_w,
            c,
            kh,
            kw,
            stride_h: kh,
            stride_w: kw,
            pad_h: Padding::NONE,
            pad_w: Padding::NONE,
        }
    }

    /// With strides `(stride_h, stride_w)`.
    pub const fn stride(mut self, stride_h: usize, stride_w: usize) -> Self {
        self.stride_h = stride_h;
        self.stride_w = stride_w;
        self
    }

    /// With explicit padding.
    pub const fn pad(mut self, pad_h: Padding, pad_w: Padding) -> Self {
        self.pad_h = pad_h;
        self.pad_w = pad_w;
        self
    }

    /// With TF `SAME` padding ([`Padding::same`]); set the strides first.
    pub const fn same(self) -> Self {
        let pad_h = Padding::same(self.in_h, self.kh, self.stride_h);
        let pad_w = Padding::same(self.in_w, self.kw, self.stride_w);
        self.pad(pad_h, pad_w)
    }

    /// Whether the pooling functions accept this shape: as [`Conv2dShape::valid`], and each
    /// padding smaller than its window, so every window holds at least one input element (torch
    /// asks for at most half the window).
    pub const fn valid(&self) -> bool {
        self.pad_h.before < self.kh
            && self.pad_h.after < self.kh
            && self.pad_w.before < self.kw
            && self.pad_w.after < self.kw
            && self.as_conv().valid()
    }

    /// The equivalent depthwise convolution shape (the same windows).
    const fn as_conv(&self) -> Conv2dShape {
        Conv2dShape::new(self.in_h, self.in_w, self.c, self.c, self.kh, self.kw)
            .stride(self.stride_h, self.stride_w)
            .pad(self.pad_h, self.pad_w)
            .groups(self.c)
    }

    /// Output height (0 if undefined).
    pub const fn out_h(&self) -> usize {
        self.as_conv().out_h()
    }

    /// Output width (0 if undefined).
    pub const fn out_w(&self) -> usize {
        self.as_conv().out_w()
    }

    /// Input elements, `in_h·in_w·c`.
    pub const fn input_len(&self) -> usize {
        self.as_conv().input_len()
    }

    /// Output elements, `out_h·out_w·c`.
    pub const fn output_len(&self) -> usize {
        self.as_conv().output_len()
    }
}

/// The shape of a 1-D pooling window over `[len][c]`: a [`Pool2dShape`] of height 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool1dShape {
    /// Input length.
    pub len: usize,
    /// Channels.
    pub c: usize,
    /// Window length.
    pub k: usize,
    /// Stride.
    pub stride: usize,
    /// Padding.
    pub pad: Padding,
}

impl Pool1dShape {
    /// Stride equal to the window, no padding.
    pub const fn new(len: usize, c: usize, k: usize) -> Self {
        Pool1dShape {
            len,
            c,
            k,
            stride: k,
            pad: Padding::NONE,
        }
    }

    /// With stride `stride`.
    pub const fn stride(mut self, stride: usize) -> Self {
        self.stride = stride;
        self
    }

    /// With explicit padding.
    pub const fn pad(mut self, pad: Padding) -> Self {
        self.pad = pad;
        self
    }

    /// The equivalent 2-D shape (height 1).
    pub const fn to_2d(&self) -> Pool2dShape {
        Pool2dShape::new(1, self.len, self.c, 1, self.k)
            .stride(1, self.stride)
            .pad(Padding::NONE, self.pad)
    }

    /// See [`Pool2dShape::valid`].
    pub const fn valid(&self) -> bool {
        self.to_2d().valid()
    }

    /// Output length (0 if undefined).
    pub const fn out_len(&self) -> usize {
        self.to_2d().out_w()
    }

    /// Input elements.
    pub const fn input_len(&self) -> usize {
        self.to_2d().input_len()
    }

    /// Output elements.
    pub const fn output_len(&self) -> usize {
        self.to_2d().output_len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `outputs_covering` lists, in order, what `tapped_by` finds over the offsets `0..k` in
    /// ascending order, for every input, stride, window, padding and output count up to these.
    #[test]
    fn outputs_covering_matches_tapped_by_offset_by_offset() {
        for stride in 1..5 {
            for k in 1..30 {
                for before in 0..k.min(6) {
                    for out in 0..12 {
                        for i in 0..40 {
                            let want: std::vec::Vec<usize> = (0..k)
                                .filter_map(|t| tapped_by(i, stride, t, before, out))
                                .collect();
                            let got: std::vec::Vec<usize> =
                                outputs_covering(i, stride, k, before, out).collect();
                            assert_eq!(
                                got, want,
                                "i {i} stride {stride} k {k} before {before} out {out}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn shapes_are_small_copy_values() {
        use core::mem::size_of;
        assert_eq!(size_of::<Padding>(), 2 * size_of::<usize>());
        assert_eq!(size_of::<Conv2dShape>(), 13 * size_of::<usize>());
        assert_eq!(size_of::<Pool2dShape>(), 11 * size_of::<usize>());
    }

    #[test]
    fn ds_cnn_small_has_its_published_size() {
        // Hello Edge DS-CNN-S on 49 x 10 MFCCs: conv 10x4/2 to 64, four (depthwise 3x3 +
        // pointwise 64) blocks, global average pooling, dense 12.
        const C1: Conv2dShape = Conv2dShape::new(49, 10, 1, 64, 10, 4).stride(2, 2).same();
        const DW: Conv2dShape = Conv2dShape::new(25, 5, 64, 64, 3, 3).same().groups(64);
        const PW: Conv2dShape = Conv2dShape::new(25, 5, 64, 64, 1, 1);
        const _: () = assert!(C1.valid() && DW.valid() && PW.valid());
        assert_eq!(
            (C1.out_h(), C1.out_w(), DW.out_h(), DW.out_w()),
            (25, 5, 25, 5)
        );
        assert_eq!(
            C1.output_len(),
            8000,
            "every activation after layer 1 is 8,000 values"
        );
        let bn = 2 * 64; // gamma and beta per BN layer (running stats are not parameters)
        let params = C1.params() + bn + 4 * (DW.params() + bn + PW.params() + bn) + 64 * 12 + 12;
        // 2624 + 128 + 4·(640 + 128 + 4160 + 128) + 780: "about 24 k parameters".
        assert_eq!(params, 23_756);
        let macs = C1.macs() + 4 * (DW.macs() + PW.macs()) + 64 * 12;
        // 8000·40 + 4·(8000·9 + 8000·64) + 768: "2.7 M multiply-accumulates".
        assert_eq!(macs, 2_656_768);
    }

    #[test]
    fn same_padding_matches_tensorflow() {
        // TF: out = ceil(len/stride), total = max((out-1)*s + k - len, 0), odd one after.
        assert_eq!(
            Padding::same(49, 10, 2),
            Padding {
                before: 4,
                after: 5
            }
        );
        assert_eq!(Padding::same(10, 4, 2), Padding::symmetric(1));
        assert_eq!(
            Padding::same(9, 4, 1),
            Padding {
                before: 1,
                after: 2
            }
        );
        assert_eq!(Padding::same(25, 3, 1), Padding::symmetric(1));
        assert_eq!(Padding::same(5, 1, 1), Padding::NONE);
        assert_eq!(
            Padding::same(7, 2, 2),
            Padding {
                before: 0,
                after: 1
            }
        );
        assert_eq!(Padding::same(4, 3, 0), Padding::NONE);
    }

    #[test]
    fn invalid_shapes_are_refused_without_overflow() {
        let ok = Conv2dShape::new(5, 5, 4, 6, 3, 3);
        assert!(ok.valid() && ok.out_h() == 3);
        assert!(
            !ok.groups(3).valid(),
            "groups must divide both channel counts"
        );
        assert!(ok.groups(2).valid());
        assert!(!ok.stride(0, 1).valid());
        assert!(
            !Conv2dShape::new(2, 5, 4, 6, 3, 3).valid(),
            "kernel taller than input"
        );
        assert!(!Conv2dShape::new(usize::MAX, 2, 2, 1, 1, 1).valid());
        assert!(!ok
            .pad(Padding::symmetric(usize::MAX), Padding::NONE)
            .valid());
        assert_eq!(Conv2dShape::new(1, 1, 1, 1, 0, 0).out_h(), 0);
        assert!(!Pool2dShape::new(4, 4, 1, 2, 2)
            .pad(Padding::symmetric(2), Padding::NONE)
            .valid());
    }
}
