//! Per-output-channel requantisation: the multipliers and shifts that turn an `i32` accumulator
//! into the output's int8 scale, and the output stage every accumulating kernel ends with.

use super::fixed_point::{invalid, multiply_by_quantized_multiplier, quantize_multiplier};
use super::quant::QuantParams;
use crate::nn::shape::check_len;
use crate::Error;

/// Multiplier and shift per output channel, computed once from the scales
/// ([`from_scales`](Requantizer::from_scales)) and kept with the layer's constants: `C` channels
/// cost `8·C` bytes (`size_of` is exactly that). A per-tensor layer is `Requantizer<1>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requantizer<const C: usize> {
    /// `m` of [`quantize_multiplier`] per channel, in `[2^30, 2^31)` (or 0).
    pub multiplier: [i32; C],
    /// `shift` of [`quantize_multiplier`] per channel.
    pub shift: [i32; C],
}

impl<const C: usize> Requantizer<C> {
    /// TFLite's `PopulateConvolutionQuantizationParams`: for each channel
    /// `quantize_multiplier(input_scale · filter_scale[c] / output_scale)`, the product and
    /// quotient in `f64` from the `f32` scales, as TFLite computes them (also for a per-tensor
    /// `FULLY_CONNECTED`, whose `GetQuantizedConvolutionMultipler` is the same expression).
    ///
    /// ```
    /// use edgetune::nn::int8::Requantizer;
    /// let r = Requantizer::<2>::from_scales(0.02, &[0.001, 0.004], 0.05)?;
    /// assert_eq!(r.shift, [-11, -9]); // 4e-4 = 0.8192 · 2^-11, 1.6e-3 = 0.8192 · 2^-9
    /// # Ok::<(), edgetune::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`NnError::InvalidQuantization`](crate::nn::NnError::InvalidQuantization) if a scale is
    /// zero, negative or not finite, or an effective multiplier reaches `2^31`.
    pub fn from_scales(
        input_scale: f32,
        filter_scales: &[f32; C],
        output_scale: f32,
    ) -> Result<Self, Error> {
        let mut r = Requantizer {
            multiplier: [0; C],
            shift: [0; C],
        };
        from_scales_into(
            input_scale,
            filter_scales,
            output_scale,
            &mut r.multiplier,
            &mut r.shift,
        )?;
        Ok(r)
    }

    /// The borrowed view the kernels take.
    pub fn view(&self) -> Requant<'_> {
        Requant {
            multiplier: &self.multiplier,
            shift: &self.shift,
        }
    }
}

/// [`Requantizer::from_scales`] into caller slices (channels known only at run time): writes
/// `multiplier[c]` and `shift[c]` for each of `filter_scales`.
///
/// # Errors
/// As [`Requantizer::from_scales`], and [`Error::LengthMismatch`] if the three slices differ in
/// length; nothing is written.
pub fn from_scales_into(
    input_scale: f32,
    filter_scales: &[f32],
    output_scale: f32,
    multiplier: &mut [i32],
    shift: &mut [i32],
) -> Result<(), Error> {
    check_len(filter_scales.len(), multiplier.len())?;
    check_len(filter_scales.len(), shift.len())?;
    let positive = |s: f32| s.is_finite() && s > 0.0;
    if !positive(input_scale)
        || !positive(output_scale)
        || !filter_scales.iter().all(|&s| positive(s))
    {
        return Err(invalid());
    }
    // Check every channel before writing any.
    for &fs in filter_scales {
        quantize_multiplier(effective(input_scale, fs, output_scale))?;
    }
    for ((&fs, m), s) in filter_scales.iter().zip(multiplier).zip(shift) {
        (*m, *s) = quantize_multiplier(effective(input_scale, fs, output_scale))?;
    }
    Ok(())
}

fn effective(input_scale: f32, filter_scale: f32, output_scale: f32) -> f64 {
    input_scale as f64 * filter_scale as f64 / output_scale as f64
}

/// Multipliers and shifts as the kernels read them: one per output channel, or one for all
/// (per-tensor). Build one from a [`Requantizer`] ([`Requantizer::view`]) or from slices
/// ([`Requant::new`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requant<'a> {
    multiplier: &'a [i32],
    shift: &'a [i32],
}

impl<'a> Requant<'a> {
    /// From slices of equal length (1, or the output channels of the layer it is used with).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if the lengths differ or are 0;
    /// [`NnError::InvalidQuantization`](crate::nn::NnError::InvalidQuantization) for a negative
    /// multiplier or a shift outside `-31..=31`.
    pub fn new(multiplier: &'a [i32], shift: &'a [i32]) -> Result<Self, Error> {
        check_len(multiplier.len(), shift.len())?;
        if multiplier.is_empty() {
            return Err(Error::LengthMismatch {
                expected: 1,
                found: 0,
            });
        }
        let r = Requant { multiplier, shift };
        r.check_values()?;
        Ok(r)
    }

    /// From slices without checking them, for a `const` (an importer writes backbones this
    /// way). Nothing trusts it: [`Backbone::new`](super::Backbone::new) and every kernel check
    /// it as [`new`](Requant::new) does and refuse a bad one with a typed error.
    pub const fn from_slices(multiplier: &'a [i32], shift: &'a [i32]) -> Self {
        Requant { multiplier, shift }
    }

    /// The checks of [`check_for`](Requant::check_for), as a `bool` for `const` validation.
    pub(crate) const fn valid_for(&self, channels: usize) -> bool {
        let n = self.multiplier.len();
        if n != self.shift.len() || n == 0 || (n != 1 && n != channels) {
            return false;
        }
        let mut i = 0;
        while i < n {
            if self.multiplier[i] < 0 || self.shift[i] < -31 || self.shift[i] > 31 {
                return false;
            }
            i += 1;
        }
        true
    }

    fn check_values(&self) -> Result<(), Error> {
        let ok = self.multiplier.iter().all(|&m| m >= 0)
            && self.shift.iter().all(|&s| (-31..=31).contains(&s));
        if ok {
            Ok(())
        } else {
            Err(invalid())
        }
    }

    /// Channels (1 = per-tensor).
    pub const fn len(&self) -> usize {
        self.multiplier.len()
    }

    /// Never true for a value built by [`new`](Requant::new) or [`Requantizer::view`] with
    /// `C > 0`.
    pub const fn is_empty(&self) -> bool {
        self.multiplier.is_empty()
    }

    /// `Ok` if usable for `channels` output channels: length 1 or `channels`, valid values.
    pub(crate) fn check_for(&self, channels: usize) -> Result<(), Error> {
        check_len(self.multiplier.len(), self.shift.len())?;
        if self.multiplier.len() != 1 {
            check_len(channels, self.multiplier.len())?;
        }
        self.check_values()
    }

    /// `(m, shift)` of channel `c` (the only one if per-tensor). `c` must be checked.
    #[inline(always)]
    pub(crate) fn get(&self, c: usize) -> (i32, i32) {
        let i = if self.multiplier.len() == 1 { 0 } else { c };
        (self.multiplier[i], self.shift[i])
    }
}

/// What an accumulating kernel needs besides its tensors: the input's zero point (subtracted
/// from every input value), the requantisation into the output's scale, the output's zero point
/// and the clamp of the fused activation
/// ([`activation_range`](super::activation_range)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputStage<'a> {
    /// Zero point of the input tensor, `-128..=127`.
    pub input_zero_point: i32,
    /// Multipliers and shifts, per output channel or per tensor.
    pub requant: Requant<'a>,
    /// Zero point of the output tensor, `-128..=127`.
    pub output_zero_point: i32,
    /// Smallest output value (the fused activation's lower clamp).
    pub act_min: i8,
    /// Largest output value.
    pub act_max: i8,
}

impl<'a> OutputStage<'a> {
    /// From the input and output quantisation, the requantisation and the clamp.
    pub fn new(
        input: &QuantParams,
        requant: Requant<'a>,
        output: &QuantParams,
        act: (i8, i8),
    ) -> Self {
        OutputStage {
            input_zero_point: input.zero_point,
            requant,
            output_zero_point: output.zero_point,
            act_min: act.0,
            act_max: act.1,
        }
    }

    /// The checks of [`check_for`](OutputStage::check_for), as a `bool` for `const`
    /// validation.
    pub(crate) const fn valid_for(&self, channels: usize) -> bool {
        zero_point_valid(self.input_zero_point)
            && zero_point_valid(self.output_zero_point)
            && self.act_min <= self.act_max
            && self.requant.valid_for(channels)
    }

    /// `Ok` if usable for `channels` output channels.
    pub(crate) fn check_for(&self, channels: usize) -> Result<(), Error> {
        let zp = -128..=127;
        if !zp.contains(&self.input_zero_point)
            || !zp.contains(&self.output_zero_point)
            || self.act_min > self.act_max
        {
            return Err(invalid());
        }
        self.requant.check_for(channels)
    }

    /// The output of channel `c` from its accumulator (bias included): requantised, offset by
    /// the output zero point, clamped.
    #[inline(always)]
    pub(crate) fn finish(&self, acc: i32, c: usize) -> i8 {
        let (m, s) = self.requant.get(c);
        let v = multiply_by_quantized_multiplier(acc, m, s).saturating_add(self.output_zero_point);
        v.clamp(self.act_min as i32, self.act_max as i32) as i8
    }
}

/// An int8 zero point: `-128..=127`.
pub(crate) const fn zero_point_valid(z: i32) -> bool {
    -128 <= z && z <= 127
}
