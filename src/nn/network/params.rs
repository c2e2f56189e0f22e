//! Moving all parameters in torch order in and out of the two arenas: [`export`], [`import`].

use super::spec::{frozen, params, trainable, LayerSpec};
use crate::Error;

/// Copies all parameters into `out` in torch order, reading each run from the frozen or the
/// trainable arena. [`Error::LengthMismatch`] (and nothing written) unless `out` holds exactly
/// the layers' parameters and the arenas their parts.
pub fn export<S: Copy>(
    layers: &[LayerSpec],
    frozen: &[S],
    trainable: &[S],
    out: &mut [S],
) -> Result<(), Error> {
    check_len(layers, out.len(), frozen.len(), trainable.len())?;
    let (mut f, mut t, mut o) = (frozen, trainable, out);
    for l in layers {
        for (len, is_t) in [
            (l.weights(), l.trains_weights()),
            (l.outputs, l.trains_bias()),
        ] {
            let src = if is_t { &mut t } else { &mut f };
            let (Some((s, s_rest)), Some((d, d_rest))) = (
                src.split_at_checked(len),
                core::mem::take(&mut o).split_at_mut_checked(len),
            ) else {
                return Err(mismatch(layers, 0));
            };
            d.copy_from_slice(s);
            *src = s_rest;
            o = d_rest;
        }
    }
    Ok(())
}

/// Fills the arenas from all parameters in torch order; with `frozen = None` the frozen runs of
/// `src` are skipped (only the trainable part is loaded). [`Error::LengthMismatch`] (and nothing
/// written) unless `src` holds exactly the layers' parameters and the arenas their parts.
pub fn import<S: Copy>(
    layers: &[LayerSpec],
    frozen: Option<&mut [S]>,
    trainable: &mut [S],
    src: &[S],
) -> Result<(), Error> {
    let frozen_len = match &frozen {
        Some(f) => f.len(),
        None => self::frozen(layers),
    };
    check_len(layers, src.len(), frozen_len, trainable.len())?;
    let mut f: Option<&mut [S]> = frozen;
    let mut t = trainable;
    let mut s = src;
    for l in layers {
        for (len, is_t) in [
            (l.weights(), l.trains_weights()),
            (l.outputs, l.trains_bias()),
        ] {
            let Some((run, s_rest)) = s.split_at_checked(len) else {
                return Err(mismatch(layers, src.len()));
            };
            s = s_rest;
            let dst = if is_t { Some(&mut t) } else { f.as_mut() };
            if let Some(dst) = dst {
                let Some((d, d_rest)) = core::mem::take(dst).split_at_mut_checked(len) else {
                    return Err(mismatch(layers, src.len()));
                };
                d.copy_from_slice(run);
                *dst = d_rest;
            }
        }
    }
    Ok(())
}

fn mismatch(layers: &[LayerSpec], found: usize) -> Error {
    Error::LengthMismatch {
        expected: params(layers),
        found,
    }
}

fn check_len(
    layers: &[LayerSpec],
    flat: usize,
    frozen_len: usize,
    trainable_len: usize,
) -> Result<(), Error> {
    if flat != params(layers) {
        return Err(mismatch(layers, flat));
    }
    if frozen_len != frozen(layers) {
        return Err(Error::LengthMismatch {
            expected: frozen(layers),
            found: frozen_len,
        });
    }
    if trainable_len != trainable(layers) {
        return Err(Error::LengthMismatch {
            expected: trainable(layers),
            found: trainable_len,
        });
    }
    Ok(())
}
