//! Batch normalisation at inference: folded into the preceding convolution, or turned into a
//! per-channel scale and shift.
//!
//! Evaluation-mode batch norm is `y = γ·(z − μ)/√(σ² + ε) + β` per channel, an affine map.
//! [`fold_into_conv`] merges it into the convolution (or dense layer) that produces `z`:
//! with `s = γ/√(σ² + ε)`, `W'[o] = s[o]·W[o]` and `b'[o] = s[o]·(b[o] − μ[o]) + β[o]`, which is
//! what TFLite's converter does, so the folded layer costs nothing at run time.
//! [`to_scale_shift`] gives `(s, β − s·μ)` for a [`scale_shift`](super::scale_shift) layer when
//! the statistics are to be re-estimated ([`bn_stats`](super::bn_stats)) or the scale trained.
//!
//! Both compute in `f64` (`libm::sqrt`) and convert once per value, in every number type, so the
//! only error is the final rounding (`½ LSB` in fixed point, `½ ulp` in `f32`). They run once, at
//! load or after re-estimation, not per sample; on a core without a double-precision FPU `f64`
//! is software floating point (a few thousand cycles per channel).
//!
//! # Errors
//! Nothing is written unless every result converts ([`Scalar::try_from_f64`]): a mismatched
//! length is [`Error::LengthMismatch`], `σ² + ε ≤ 0` or NaN is
//! [`Error::InvalidHyperparameter`] (`eps`), and a result beyond the number type's range is
//! [`Error::NotRepresentable`].

use super::shape::check_len;
use super::Scalar;
use crate::Error;

/// Batch-norm parameters and running statistics, one of each per channel (torch's `weight`,
/// `bias`, `running_mean`, `running_var`, `eps`).
#[derive(Clone, Copy, Debug)]
pub struct BatchNorm<'a, S> {
    /// `γ` (torch's `weight`).
    pub gamma: &'a [S],
    /// `β` (torch's `bias`).
    pub beta: &'a [S],
    /// `μ`, the running mean.
    pub mean: &'a [S],
    /// `σ²`, the running variance.
    pub var: &'a [S],
    /// `ε` (torch's default `1e-5`; TF's `1e-3`).
    pub eps: f64,
}

impl<S: Scalar> BatchNorm<'_, S> {
    /// Checks the four lengths against `channels`.
    fn check(&self, channels: usize) -> Result<(), Error> {
        check_len(channels, self.gamma.len())?;
        check_len(channels, self.beta.len())?;
        check_len(channels, self.mean.len())?;
        check_len(channels, self.var.len())
    }

    /// `(s, μ, β)` of channel `c` in `f64`, `s = γ/√(σ² + ε)`.
    fn channel(&self, c: usize) -> Result<(f64, f64, f64), Error> {
        let get = |v: &[S]| v.get(c).map_or(0.0, |x| x.to_f64());
        let d = get(self.var) + self.eps;
        if d.is_nan() || d <= 0.0 {
            return Err(Error::InvalidHyperparameter {
                name: "eps",
                requirement: "such that running_var + eps > 0",
            });
        }
        Ok((
            get(self.gamma) / libm::sqrt(d),
            get(self.mean),
            get(self.beta),
        ))
    }
}

/// Folds `bn` into a layer with weights `w` and bias `b` (one per output channel; `w` holds
/// `b.len()` equal, contiguous blocks, as this crate's OHWI convolution weights and dense rows
/// do): `W'[o] = s·W[o]`, `b' = s·(b − μ) + β`. A layer without a bias passes zeros.
///
/// # Errors
/// See the module docs; also [`Error::LengthMismatch`] if `w.len()` is not a nonzero multiple
/// of `b.len()` (reported as the next multiple) or `b` is empty. Nothing is written on error.
pub fn fold_into_conv<S: Scalar>(
    bn: &BatchNorm<'_, S>,
    w: &mut [S],
    b: &mut [S],
) -> Result<(), Error> {
    let channels = b.len();
    bn.check(channels)?;
    let per = w.len().checked_div(channels).unwrap_or(0);
    if channels == 0 || per == 0 || per.saturating_mul(channels) != w.len() {
        return Err(Error::LengthMismatch {
            expected: per.saturating_add(1).saturating_mul(channels.max(1)),
            found: w.len(),
        });
    }
    // Pass 1: every result must convert. Pass 2: write.
    for pass in 0..2 {
        for (o, (w_o, b_o)) in w.chunks_exact_mut(per).zip(b.iter_mut()).enumerate() {
            let (s, mean, beta) = bn.channel(o)?;
            let nb = S::try_from_f64(s * (b_o.to_f64() - mean) + beta)?;
            for wv in w_o.iter_mut() {
                let nw = S::try_from_f64(s * wv.to_f64())?;
                if pass == 1 {
                    *wv = nw;
                }
            }
            if pass == 1 {
                *b_o = nb;
            }
        }
    }
    Ok(())
}

/// Writes the per-channel affine form of `bn`: `scale = γ/√(σ² + ε)`, `shift = β − scale·μ`, so
/// that `bn(z) = scale·z + shift`.
///
/// # Errors
/// See the module docs; nothing is written on error.
pub fn to_scale_shift<S: Scalar>(
    bn: &BatchNorm<'_, S>,
    scale: &mut [S],
    shift: &mut [S],
) -> Result<(), Error> {
    let channels = scale.len();
    bn.check(channels)?;
    check_len(channels, shift.len())?;
    for pass in 0..2 {
        for (c, (sc, sh)) in scale.iter_mut().zip(shift.iter_mut()).enumerate() {
            let (s, mean, beta) = bn.channel(c)?;
            let (a, b) = (S::try_from_f64(s)?, S::try_from_f64(beta - s * mean)?);
            if pass == 1 {
                (*sc, *sh) = (a, b);
            }
        }
    }
    Ok(())
}
