//! Softmax fused with cross-entropy, for classification.

use super::{NnError, Scalar};

/// Cross-entropy of `softmax(logits)` against class `label`, and its gradient.
///
/// Returns `L = ln Σⱼ exp(zⱼ − m) − (z_label − m)` with `m = maxⱼ zⱼ` (subtracting the maximum
/// keeps every `exp` argument `≤ 0`, so nothing overflows and the normaliser lies in `[1, C]`),
/// and writes `dlogits = softmax(z) − onehot(label) = ∂L/∂z`. This is torch's
/// `F.cross_entropy(z, label)` for one sample; for a mini-batch, sum the per-sample gradients
/// (for example by accumulating in [`dense::backward`](super::dense::backward)) and divide the
/// learning rate by the batch size, or scale `dlogits`, to get torch's mean reduction.
///
/// # Errors
/// [`NnError::LabelOutOfRange`] if `label >= C`; then `dlogits` is not written.
///
/// # Memory
/// No scratch: `dlogits` holds `exp(zⱼ − m)` while the normaliser is summed. The logits are not
/// needed afterwards. Costs `C` calls of [`Scalar::exp`], one [`Scalar::ln`] and one
/// [`Scalar::recip`].
///
/// Non-finite logits give a non-finite loss and gradient (no panic).
pub fn softmax_cross_entropy<S: Scalar, const C: usize>(
    logits: &[S; C],
    label: usize,
    dlogits: &mut [S; C],
) -> Result<S, NnError> {
    softmax_cross_entropy_slices(logits, label, dlogits)
}

/// The body of [`softmax_cross_entropy`] on slices (`C = logits.len()`), shared with
/// the run-time-sized `dynamic::softmax_cross_entropy` (feature `std`). The caller
/// guarantees `dlogits.len() == logits.len()`; otherwise the zips stop at the shorter side (no
/// panic, the result meaningless).
///
/// # Errors
/// [`NnError::LabelOutOfRange`] if `label >= logits.len()`; then `dlogits` is not written.
#[inline]
pub(crate) fn softmax_cross_entropy_slices<S: Scalar>(
    logits: &[S],
    label: usize,
    dlogits: &mut [S],
) -> Result<S, NnError> {
    let Some(&z_label) = logits.get(label) else {
        return Err(NnError::LabelOutOfRange {
            label,
            classes: logits.len(),
        });
    };
    let m = max(logits, z_label);
    let mut sum = S::ZERO.widen();
    for (d, &z) in dlogits.iter_mut().zip(logits) {
        *d = z.sub(m).exp();
        sum = S::add_acc(sum, *d);
    }
    let sum = S::narrow(sum);
    let inv = sum.recip();
    for (j, d) in dlogits.iter_mut().enumerate() {
        let p = d.mul(inv);
        *d = if j == label { p.sub(S::ONE) } else { p };
    }
    Ok(sum.ln().sub(z_label.sub(m)))
}

/// `p = softmax(z)` (inference: class probabilities), with the maximum subtracted as in
/// [`softmax_cross_entropy`]. `probs` is overwritten; no scratch. A compile error if `C == 0`.
pub fn softmax<S: Scalar, const C: usize>(logits: &[S; C], probs: &mut [S; C]) {
    const { assert!(C > 0, "softmax needs at least one class") };
    let Some(&first) = logits.first() else {
        return;
    };
    let m = max(logits, first);
    let mut sum = S::ZERO.widen();
    for (p, &z) in probs.iter_mut().zip(logits) {
        *p = z.sub(m).exp();
        sum = S::add_acc(sum, *p);
    }
    let inv = S::narrow(sum).recip();
    for p in probs.iter_mut() {
        *p = p.mul(inv);
    }
}

/// The largest element, starting from `start` (one of the elements).
fn max<S: Scalar>(values: &[S], start: S) -> S {
    values.iter().fold(start, |m, &z| if z > m { z } else { m })
}
