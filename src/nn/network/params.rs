//! Moving all parameters in torch order in and out of the two arenas: [`export`], [`import`]
//! (for [`mlp!`](crate::mlp) layer tables) and [`export_plan`], [`import_plan`] (for
//! [`cnn!`](crate::cnn) plans). Both walk the same runs: each layer's weights then bias, each
//! run trainable or frozen.

use super::plan::Plan;
use super::spec::{frozen, params, trainable, LayerSpec};
use crate::Error;

/// The sizes and the runs `(length, trainable)` of a network, in torch order.
struct Runs<I> {
    params: usize,
    frozen: usize,
    trainable: usize,
    runs: I,
}

fn spec_runs(layers: &[LayerSpec]) -> Runs<impl Iterator<Item = (usize, bool)> + '_> {
    Runs {
        params: params(layers),
        frozen: frozen(layers),
        trainable: trainable(layers),
        runs: layers.iter().flat_map(|l| {
            [
                (l.weights(), l.trains_weights()),
                (l.outputs, l.trains_bias()),
            ]
        }),
    }
}

fn plan_runs<'a>(plan: &'a Plan<'_>) -> Runs<impl Iterator<Item = (usize, bool)> + 'a> {
    Runs {
        params: plan.params(),
        frozen: plan.frozen(),
        trainable: plan.trainable(),
        runs: plan.layers.iter().flat_map(|l| l.sub_runs()),
    }
}

/// Copies all parameters into `out` in torch order, reading each run from the frozen or the
/// trainable arena. [`Error::LengthMismatch`] (and nothing written) unless `out` holds exactly
/// the layers' parameters and the arenas their parts.
pub fn export<S: Copy>(
    layers: &[LayerSpec],
    frozen: &[S],
    trainable: &[S],
    out: &mut [S],
) -> Result<(), Error> {
    export_runs(spec_runs(layers), frozen, trainable, out)
}

/// [`export`] for a [`cnn!`](crate::cnn) plan.
pub fn export_plan<S: Copy>(
    plan: &Plan<'_>,
    frozen: &[S],
    trainable: &[S],
    out: &mut [S],
) -> Result<(), Error> {
    export_runs(plan_runs(plan), frozen, trainable, out)
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
    import_runs(spec_runs(layers), frozen, trainable, src)
}

/// [`import`] for a [`cnn!`](crate::cnn) plan.
pub fn import_plan<S: Copy>(
    plan: &Plan<'_>,
    frozen: Option<&mut [S]>,
    trainable: &mut [S],
    src: &[S],
) -> Result<(), Error> {
    import_runs(plan_runs(plan), frozen, trainable, src)
}

fn export_runs<S: Copy>(
    r: Runs<impl Iterator<Item = (usize, bool)>>,
    frozen: &[S],
    trainable: &[S],
    out: &mut [S],
) -> Result<(), Error> {
    check_len(&r, out.len(), frozen.len(), trainable.len())?;
    let mismatch = mismatch(r.params, 0);
    let (mut f, mut t, mut o) = (frozen, trainable, out);
    for (len, is_t) in r.runs {
        let src = if is_t { &mut t } else { &mut f };
        let (Some((s, s_rest)), Some((d, d_rest))) = (
            src.split_at_checked(len),
            core::mem::take(&mut o).split_at_mut_checked(len),
        ) else {
            return Err(mismatch);
        };
        d.copy_from_slice(s);
        *src = s_rest;
        o = d_rest;
    }
    Ok(())
}

fn import_runs<S: Copy>(
    r: Runs<impl Iterator<Item = (usize, bool)>>,
    frozen: Option<&mut [S]>,
    trainable: &mut [S],
    src: &[S],
) -> Result<(), Error> {
    let frozen_len = match &frozen {
        Some(f) => f.len(),
        None => r.frozen,
    };
    check_len(&r, src.len(), frozen_len, trainable.len())?;
    let mismatch = mismatch(r.params, src.len());
    let mut f: Option<&mut [S]> = frozen;
    let mut t = trainable;
    let mut s = src;
    for (len, is_t) in r.runs {
        let Some((run, s_rest)) = s.split_at_checked(len) else {
            return Err(mismatch);
        };
        s = s_rest;
        let dst = if is_t { Some(&mut t) } else { f.as_mut() };
        if let Some(dst) = dst {
            let Some((d, d_rest)) = core::mem::take(dst).split_at_mut_checked(len) else {
                return Err(mismatch);
            };
            d.copy_from_slice(run);
            *dst = d_rest;
        }
    }
    Ok(())
}

fn mismatch(expected: usize, found: usize) -> Error {
    Error::LengthMismatch { expected, found }
}

fn check_len<I>(
    r: &Runs<I>,
    flat: usize,
    frozen_len: usize,
    trainable_len: usize,
) -> Result<(), Error> {
    if flat != r.params {
        return Err(mismatch(r.params, flat));
    }
    if frozen_len != r.frozen {
        return Err(mismatch(r.frozen, frozen_len));
    }
    if trainable_len != r.trainable {
        return Err(mismatch(r.trainable, trainable_len));
    }
    Ok(())
}
