//! Forward and backward through a list of [`Place`]s over slices: the body of every
//! [`cnn!`](crate::cnn) network, shared by all of them (one copy per number type in flash).
//!
//! Buffers follow the same discipline as [`mlp!`](crate::mlp): hidden layer `k` writes the
//! `even` or `odd` buffer of a [`Scratch`](super::Scratch) by its parity, or, when training and
//! backward will need it, its slot in the kept buffer; the last layer writes `out`. Backward
//! carries `∂L/∂y` of layer `k` in the buffer of `k`'s parity and writes `∂L/∂x` into the other
//! one, so no layer ever reads and writes the same buffer. Every length has been fixed at
//! compile time by the same `const fn`s that size the buffers, so none of the length errors
//! below can happen in a declared network; they are returned, never panicked on.

use super::layer::{Act, Dims, Layer, Op};
use super::plan::Place;
use crate::nn::split::Split;
use crate::nn::{
    avg_pool, conv2d, global_avg_pool, max_pool, pointwise, scale_shift, Activation, LeakyRelu,
    Relu, Relu6, Scalar, Sigmoid, Tanh,
};
use crate::Error;

/// The hidden and output buffers of one pass (the fields of a [`Scratch`](super::Scratch)).
#[derive(Debug)]
pub struct Buffers<'a, S> {
    /// Outputs of even hidden layers.
    pub even: &'a mut [S],
    /// Outputs of odd hidden layers.
    pub odd: &'a mut [S],
    /// Outputs of the last layer.
    pub out: &'a mut [S],
}

/// Where a layer's input or output lies.
#[derive(Clone, Copy)]
enum Loc {
    X,
    Kept(usize, usize),
    Even(usize),
    Odd(usize),
    Out(usize),
}

const fn broken(expected: usize, found: usize) -> Error {
    Error::LengthMismatch { expected, found }
}

/// The input slice at `src` and the output slice at `dst`, which never share storage.
fn pair<'b, S>(
    x: &'b [S],
    kept: &'b mut [S],
    bufs: Buffers<'b, S>,
    src: Loc,
    dst: Loc,
) -> Option<(&'b [S], &'b mut [S])> {
    let Buffers { even, odd, out } = bufs;
    let kept_run = |k: &'b [S], at: usize, len: usize| k.get(at..at.checked_add(len)?);
    match (src, dst) {
        (_, Loc::Kept(at, len)) => {
            let (lo, hi) = kept.split_at_mut_checked(at)?;
            let input = match src {
                Loc::X => x,
                Loc::Kept(a, l) => kept_run(lo, a, l)?,
                Loc::Even(l) => even.get(..l)?,
                Loc::Odd(l) => odd.get(..l)?,
                Loc::Out(_) => return None,
            };
            Some((input, hi.get_mut(..len)?))
        }
        (Loc::X, Loc::Even(len)) => Some((x, even.get_mut(..len)?)),
        (Loc::X, Loc::Odd(len)) => Some((x, odd.get_mut(..len)?)),
        (Loc::X, Loc::Out(len)) => Some((x, out.get_mut(..len)?)),
        (Loc::Kept(a, l), Loc::Even(len)) => Some((kept_run(kept, a, l)?, even.get_mut(..len)?)),
        (Loc::Kept(a, l), Loc::Odd(len)) => Some((kept_run(kept, a, l)?, odd.get_mut(..len)?)),
        (Loc::Kept(a, l), Loc::Out(len)) => Some((kept_run(kept, a, l)?, out.get_mut(..len)?)),
        (Loc::Even(l), Loc::Odd(len)) => Some((even.get(..l)?, odd.get_mut(..len)?)),
        (Loc::Even(l), Loc::Out(len)) => Some((even.get(..l)?, out.get_mut(..len)?)),
        (Loc::Odd(l), Loc::Even(len)) => Some((odd.get(..l)?, even.get_mut(..len)?)),
        (Loc::Odd(l), Loc::Out(len)) => Some((odd.get(..l)?, out.get_mut(..len)?)),
        _ => None,
    }
}

/// A layer's two parameter tensors (weights, bias; or scale, shift), each as its trainable
/// leading run and its frozen rest ([`Split`]; one of the two is empty unless the layer trains
/// only its first output channels).
fn params<'a, S>(
    p: &Place,
    frozen: &'a [S],
    trainable: &'a [S],
) -> Result<(Split<'a, S>, Split<'a, S>), Error> {
    let [(wt, _), (wf, _), (bt, _), (bf, _)] = p.layer.sub_runs();
    let mut t = p.trainable_at;
    let mut f = p.frozen_at;
    let take = |arena: &'a [S], at: &mut usize, len: usize| -> Result<&'a [S], Error> {
        let end = at.checked_add(len).ok_or(broken(len, 0))?;
        let run = arena.get(*at..end).ok_or(broken(end, arena.len()))?;
        *at = end;
        Ok(run)
    };
    let w = Split {
        head: take(trainable, &mut t, wt)?,
        tail: take(frozen, &mut f, wf)?,
    };
    let b = Split {
        head: take(trainable, &mut t, bt)?,
        tail: take(frozen, &mut f, bf)?,
    };
    Ok((w, b))
}

/// The tensor as one slice, if it is in one arena.
fn whole<'a, S>(t: Split<'a, S>) -> Option<&'a [S]> {
    if t.tail.is_empty() {
        Some(t.head)
    } else if t.head.is_empty() {
        Some(t.tail)
    } else {
        None
    }
}

/// What training keeps from forward for backward: input values, and 1-bit activation masks.
#[derive(Debug)]
pub struct Kept<'a, S> {
    /// Kept input values.
    pub values: &'a mut [S],
    /// Kept activation masks, 32 per word.
    pub masks: &'a mut [u32],
}

/// The forward pass: `x` (`INPUTS`) to `bufs.out`, keeping what backward needs in `kept` when
/// training (`Some`).
///
/// # Errors
/// [`Error::LengthMismatch`] if a slice is not as the places say (never for a declared
/// network); buffers may then be partly written.
pub fn forward<S: Scalar>(
    places: &[Place],
    frozen: &[S],
    trainable: &[S],
    x: &[S],
    bufs: Buffers<'_, S>,
    kept: Option<Kept<'_, S>>,
) -> Result<(), Error> {
    let Buffers { even, odd, out } = bufs;
    let training = kept.is_some();
    let (kept, masks): (&mut [S], &mut [u32]) = match kept {
        Some(k) => (k.values, k.masks),
        None => (&mut [], &mut []),
    };
    let mut src = Loc::X;
    for (k, p) in places.iter().enumerate() {
        let len = p.output.len();
        let dst = match places.get(k + 1) {
            None => Loc::Out(len),
            Some(next) if training && next.keeps_input => Loc::Kept(next.kept_at, len),
            Some(_) if k % 2 == 1 => Loc::Odd(len),
            Some(_) => Loc::Even(len),
        };
        let bufs = Buffers {
            even: &mut *even,
            odd: &mut *odd,
            out: &mut *out,
        };
        let (input, output) = pair(x, &mut *kept, bufs, src, dst).ok_or(broken(len, 0))?;
        layer_forward(
            &p.layer,
            p.input,
            params(p, frozen, trainable)?,
            input,
            output,
        )?;
        activate(p.layer.act, output)?;
        if let Some(next) = places.get(k + 1).filter(|n| training && n.keeps_mask) {
            pack_mask(p.layer.act, output, masks, next.mask_at)?;
        }
        src = dst;
    }
    Ok(())
}

fn layer_forward<S: Scalar>(
    l: &Layer,
    d: Dims,
    (w, b): (Split<'_, S>, Split<'_, S>),
    x: &[S],
    y: &mut [S],
) -> Result<(), Error> {
    match l.op {
        Op::Conv { .. } | Op::Dense { .. } => {
            let s = l.conv_shape(d).ok_or(broken(0, 0))?;
            match (whole(w), whole(b), pointwise::is_pointwise(&s)) {
                (Some(w), Some(b), true) => pointwise::forward(&s, w, b, x, y),
                (Some(w), Some(b), false) => conv2d::forward(&s, w, b, x, y),
                (_, _, true) => pointwise::forward_split(&s, w, b, x, y),
                (_, _, false) => conv2d::forward_split(&s, w, b, x, y),
            }
        }
        Op::BatchNorm { .. } => match (whole(w), whole(b)) {
            (Some(w), Some(b)) => scale_shift::forward(w, b, x, y),
            _ => scale_shift::forward_split(w, b, x, y),
        },
        Op::MaxPool(_) => max_pool::forward(&l.pool_shape(d).ok_or(broken(0, 0))?, x, y),
        Op::AvgPool(_) => avg_pool::forward(&l.pool_shape(d).ok_or(broken(0, 0))?, true, x, y),
        Op::GlobalAvgPool => global_avg_pool::forward(d.h.saturating_mul(d.w), d.c, x, y),
        Op::Flatten => {
            if x.len() != y.len() {
                return Err(broken(y.len(), x.len()));
            }
            y.copy_from_slice(x);
            Ok(())
        }
        Op::Invalid => Err(broken(0, x.len())),
    }
}

fn map<S: Scalar, A: Activation<S>>(a: &A, y: &mut [S]) {
    for v in y {
        *v = a.apply(*v);
    }
}

fn map_back<S: Scalar, A: Activation<S>>(a: &A, y: &[S], g: &mut [S]) {
    for (g, &y) in g.iter_mut().zip(y) {
        *g = a.backward_one(y, *g);
    }
}

fn activate<S: Scalar>(act: Act, y: &mut [S]) -> Result<(), Error> {
    match act {
        Act::Identity => {}
        Act::Relu => map(&Relu, y),
        Act::Relu6 => map(&Relu6, y),
        Act::LeakyRelu(slope) => map(&LeakyRelu::<S>::new(slope)?, y),
        Act::Tanh => map(&Tanh, y),
        Act::Sigmoid => map(&Sigmoid, y),
    }
    Ok(())
}

/// `g ← g·f'(x)` from the activation's output `y`.
fn activate_back<S: Scalar>(act: Act, y: &[S], g: &mut [S]) -> Result<(), Error> {
    if y.len() != g.len() {
        return Err(broken(g.len(), y.len()));
    }
    match act {
        Act::Identity => {}
        Act::Relu => map_back(&Relu, y, g),
        Act::Relu6 => map_back(&Relu6, y, g),
        Act::LeakyRelu(slope) => map_back(&LeakyRelu::<S>::new(slope)?, y, g),
        Act::Tanh => map_back(&Tanh, y, g),
        Act::Sigmoid => map_back(&Sigmoid, y, g),
    }
    Ok(())
}

/// The mask words that bits `at..at + len` lie in, each with its first bit and its number of
/// bits (1 to 32) in the range; `None` if the range passes the `words` words.
fn mask_words(
    words: usize,
    at: usize,
    len: usize,
) -> Option<impl Iterator<Item = (usize, (usize, usize))>> {
    let end = at.checked_add(len)?;
    if end > words.checked_mul(32)? {
        return None;
    }
    let first_word = at / 32;
    // No words for no bits (a range ending mid-word would otherwise yield an empty one).
    let last_word = if len == 0 {
        first_word
    } else {
        end.div_ceil(32)
    };
    Some((first_word..last_word).map(move |w| {
        let lo = (w * 32).max(at);
        let hi = (w * 32 + 32).min(end);
        (w, (lo - w * 32, hi - lo))
    }))
}

/// Sets bit `at + i` of `masks` to whether the activation's derivative at output `y[i]` is 1
/// (the other value being its derivative at 0: 0 for ReLU and ReLU6, the slope for leaky ReLU).
fn pack_mask<S: Scalar>(act: Act, y: &[S], masks: &mut [u32], at: usize) -> Result<(), Error> {
    fn pack<S: Scalar, A: Activation<S>>(
        a: &A,
        y: &[S],
        masks: &mut [u32],
        at: usize,
    ) -> Option<()> {
        // A word at a time: the bits of its part of `y`, then one read-modify-write.
        let mut values = y.iter();
        for (word, (first, n)) in mask_words(masks.len(), at, y.len())? {
            let mut bits = 0u32;
            for (k, &v) in values.by_ref().take(n).enumerate() {
                bits |= u32::from(a.derivative_from_output(v) == S::ONE) << (first + k);
            }
            let span = (u32::MAX >> (32 - n)) << first;
            let w = masks.get_mut(word)?;
            *w = (*w & !span) | bits;
        }
        Some(())
    }
    let done = match act {
        Act::Relu => pack(&Relu, y, masks, at),
        Act::Relu6 => pack(&Relu6, y, masks, at),
        Act::LeakyRelu(slope) => pack(&LeakyRelu::<S>::new(slope)?, y, masks, at),
        _ => None,
    };
    done.ok_or(broken(
        at.saturating_add(y.len()),
        masks.len().saturating_mul(32),
    ))
}

/// `g ← g·f'` with `f'` from the mask bits at `at` (1, or the derivative at 0): the same
/// products as [`activate_back`] from the values.
fn activate_back_mask<S: Scalar>(
    act: Act,
    masks: &[u32],
    at: usize,
    g: &mut [S],
) -> Result<(), Error> {
    fn apply<S: Scalar, A: Activation<S>>(
        a: &A,
        masks: &[u32],
        at: usize,
        g: &mut [S],
    ) -> Option<()> {
        let len = g.len();
        let mut grads = g.iter_mut();
        for (word, (first, n)) in mask_words(masks.len(), at, len)? {
            let bits = masks.get(word)? >> first;
            for (k, g) in grads.by_ref().take(n).enumerate() {
                *g = a.backward_masked(bits >> k & 1 != 0, *g);
            }
        }
        Some(())
    }
    let done = match act {
        Act::Relu => apply(&Relu, masks, at, g),
        Act::Relu6 => apply(&Relu6, masks, at, g),
        Act::LeakyRelu(slope) => apply(&LeakyRelu::<S>::new(slope)?, masks, at, g),
        _ => None,
    };
    done.ok_or(broken(
        at.saturating_add(g.len()),
        masks.len().saturating_mul(32),
    ))
}

/// What backward reads of the forward pass: the input, the kept values and masks.
#[derive(Clone, Copy, Debug)]
pub struct Saved<'a, S> {
    /// The sample's input.
    pub x: &'a [S],
    /// The kept input values.
    pub values: &'a [S],
    /// The kept activation masks.
    pub masks: &'a [u32],
}

/// The buffers backward works in.
#[derive(Debug)]
pub struct BackwardBuffers<'a, S> {
    /// Even hidden layers' gradients.
    pub even: &'a mut [S],
    /// Odd hidden layers' gradients.
    pub odd: &'a mut [S],
    /// `∂L/∂logits` on entry (overwritten).
    pub dlogits: &'a mut [S],
}

/// The backward pass from `bufs.dlogits` down to the first trainable layer: **adds** every
/// trainable parameter's gradient into `grads`. `saved` holds the input and what [`forward`]
/// kept for it.
///
/// # Errors
/// As [`forward`].
pub fn backward<S: Scalar>(
    places: &[Place],
    frozen: &[S],
    trainable: &[S],
    grads: &mut [S],
    saved: Saved<'_, S>,
    bufs: BackwardBuffers<'_, S>,
) -> Result<(), Error> {
    backward_core(
        places,
        frozen,
        Params::Shared(trainable),
        Grads::Arena(grads),
        saved,
        bufs,
    )
    .map(|_| ())
}

/// Steps one layer's trainable parameters with their complete gradient: `(place, params,
/// grads)`, both slices the layer's trainable elements.
pub type StepLayer<'s, S> = dyn FnMut(&Place, &mut [S], &[S]) -> Result<(), Error> + 's;

/// The backward pass with the update fused in: each trainable layer's gradient is formed in
/// `layer_grads` (the largest layer's trainable elements, not the network's) and handed to
/// `step` with the layer's parameters as soon as it is complete, from the last layer down.
/// Returns how many layers were stepped.
///
/// # Errors
/// Those of [`backward`] and of `step`. A layer whose gradient `step` refuses as non-finite
/// (`NonFiniteGradient` with the element's index in the trainable arena) is left as it was,
/// with every layer below it; the layers above it have been stepped: [`Error::FusedStepStopped`]
/// says how many.
pub fn backward_fused<S: Scalar>(
    places: &[Place],
    frozen: &[S],
    trainable: &mut [S],
    layer_grads: &mut [S],
    saved: Saved<'_, S>,
    bufs: BackwardBuffers<'_, S>,
    step: &mut StepLayer<'_, S>,
) -> Result<usize, Error> {
    backward_core(
        places,
        frozen,
        Params::Owned(trainable),
        Grads::Layer(layer_grads, step),
        saved,
        bufs,
    )
}

/// The trainable arena, read only (gradients accumulate) or to step (fused).
enum Params<'a, S> {
    Shared(&'a [S]),
    Owned(&'a mut [S]),
}

/// Where gradients go: added into the arena, or formed per layer and stepped at once.
enum Grads<'a, 's, S> {
    Arena(&'a mut [S]),
    Layer(&'a mut [S], &'a mut StepLayer<'s, S>),
}

fn backward_core<S: Scalar>(
    places: &[Place],
    frozen: &[S],
    mut trainable: Params<'_, S>,
    mut grads: Grads<'_, '_, S>,
    saved: Saved<'_, S>,
    bufs: BackwardBuffers<'_, S>,
) -> Result<usize, Error> {
    let Saved {
        x,
        values: kept,
        masks,
    } = saved;
    let BackwardBuffers { even, odd, dlogits } = bufs;
    let last = places.len().saturating_sub(1);
    let mut stepped = 0;
    for (k, p) in places.iter().enumerate().rev() {
        if !p.backward {
            break;
        }
        let (same, other): (&mut [S], &mut [S]) = if k % 2 == 0 {
            (&mut *even, &mut *odd)
        } else {
            (&mut *odd, &mut *even)
        };
        let dy_buf: &mut [S] = if k == last { &mut *dlogits } else { same };
        let out_len = p.output.len();
        let in_len = p.input.len();
        let dy: &[S] = dy_buf.get(..out_len).ok_or(broken(out_len, 0))?;
        let dx = if p.input_grad {
            Some(other.get_mut(..in_len).ok_or(broken(in_len, 0))?)
        } else {
            None
        };
        let input: Option<&[S]> = if k == 0 {
            Some(x)
        } else if p.keeps_input {
            let end = p.kept_at.checked_add(in_len).ok_or(broken(in_len, 0))?;
            Some(kept.get(p.kept_at..end).ok_or(broken(end, kept.len()))?)
        } else {
            None
        };
        let arena: &[S] = match &trainable {
            Params::Shared(t) => t,
            Params::Owned(t) => t,
        };
        let (w, _) = params(p, frozen, arena)?;
        let mut dx = dx;
        let len = p.layer.trainable();
        let runs = match &mut grads {
            Grads::Arena(g) => grad_runs(p, p.trainable_at, g)?,
            Grads::Layer(buf, _) => {
                let buf = buf.get_mut(..len).ok_or(broken(len, 0))?;
                crate::nn::kernel::zero(buf);
                grad_runs(p, 0, buf)?
            }
        };
        layer_backward(p, w, input, dy, runs, dx.as_deref_mut())?;
        if let (Grads::Layer(buf, step), Params::Owned(t)) = (&mut grads, &mut trainable) {
            if len > 0 {
                let end = p.trainable_at.checked_add(len).ok_or(broken(len, 0))?;
                let mine = t.get_mut(p.trainable_at..end).ok_or(broken(end, 0))?;
                let g = buf.get(..len).ok_or(broken(len, 0))?;
                step(p, mine, g).map_err(|e| match e {
                    Error::NonFiniteGradient { index } => Error::FusedStepStopped {
                        layers: stepped,
                        index,
                    },
                    other => other,
                })?;
                stepped += 1;
            }
        }
        if let (Some(dx), Some(below)) = (dx, k.checked_sub(1).and_then(|j| places.get(j))) {
            if p.keeps_mask {
                activate_back_mask(below.layer.act, masks, p.mask_at, dx)?;
            } else if !matches!(below.layer.act, Act::Identity) {
                activate_back(below.layer.act, input.ok_or(broken(in_len, 0))?, dx)?;
            }
        }
    }
    Ok(stepped)
}

/// The gradient runs of a layer's trainable parameters (`None` for a frozen run).
type GradRuns<'a, S> = (Option<&'a mut [S]>, Option<&'a mut [S]>);

fn grad_runs<'a, S>(p: &Place, at: usize, grads: &'a mut [S]) -> Result<GradRuns<'a, S>, Error> {
    let (w, b) = p.layer.trained_runs();
    let len = w.saturating_add(b);
    let end = at.checked_add(len).ok_or(broken(len, 0))?;
    let mine = grads.get_mut(at..end).ok_or(broken(end, 0))?;
    let (gw, gb) = mine.split_at_mut(w);
    Ok(((w > 0).then_some(gw), (b > 0).then_some(gb)))
}

/// One layer's backward: adds the gradients of its trainable runs and overwrites `dx` (if
/// wanted) with the gradient of its input.
fn layer_backward<S: Scalar>(
    p: &Place,
    w: Split<'_, S>,
    x: Option<&[S]>,
    dy: &[S],
    (gw, gb): GradRuns<'_, S>,
    dx: Option<&mut [S]>,
) -> Result<(), Error> {
    let l = &p.layer;
    let d = p.input;
    let need_x = || x.ok_or(broken(d.len(), 0));
    let channels = l.out_channels();
    match l.op {
        Op::Conv { .. } | Op::Dense { .. } => {
            let s = l.conv_shape(d).ok_or(broken(0, 0))?;
            let pw = pointwise::is_pointwise(&s);
            match (gw, gb, whole(w)) {
                (Some(gw), Some(gb), Some(w)) if pw => {
                    pointwise::backward(&s, w, need_x()?, dy, Some((gw, gb)), dx)
                }
                (Some(gw), Some(gb), Some(w)) => {
                    conv2d::backward(&s, w, need_x()?, dy, Some((gw, gb)), dx)
                }
                (Some(gw), Some(gb), None) if pw => {
                    pointwise::backward_split(&s, w, need_x()?, dy, Some((gw, gb)), dx)
                }
                (Some(gw), Some(gb), None) => {
                    conv2d::backward_split(&s, w, need_x()?, dy, Some((gw, gb)), dx)
                }
                (_, gb, whole_w) => {
                    if let Some(gb) = gb {
                        conv2d::bias_gradient(channels, dy, gb);
                    }
                    match (dx, whole_w) {
                        (Some(dx), Some(w)) if pw => pointwise::backward_input(&s, w, dy, dx),
                        (Some(dx), Some(w)) => conv2d::backward_input(&s, w, dy, dx),
                        (Some(dx), None) if pw => pointwise::backward_input_split(&s, w, dy, dx),
                        (Some(dx), None) => conv2d::backward_input_split(&s, w, dy, dx),
                        (None, _) => Ok(()),
                    }
                }
            }
        }
        Op::BatchNorm { .. } => match (gw, gb, whole(w)) {
            (Some(gs), Some(gb), Some(w)) => {
                scale_shift::backward(w, need_x()?, dy, Some((gs, gb)), dx)
            }
            (Some(gs), Some(gb), None) => {
                scale_shift::backward_split(w, need_x()?, dy, Some((gs, gb)), dx)
            }
            (_, gb, whole_w) => {
                if let Some(gb) = gb {
                    conv2d::bias_gradient(channels, dy, gb);
                }
                // The input is read only for the scale's gradient, not wanted here: `dy` (same
                // length) stands in for it.
                match (dx, whole_w) {
                    (Some(dx), Some(w)) => scale_shift::backward(w, dy, dy, None, Some(dx)),
                    (Some(dx), None) => scale_shift::backward_split(w, dy, dy, None, Some(dx)),
                    (None, _) => Ok(()),
                }
            }
        },
        Op::MaxPool(_) => match dx {
            Some(dx) => {
                let s = l.pool_shape(d).ok_or(broken(0, 0))?;
                max_pool::backward(&s, need_x()?, dy, dx)
            }
            None => Ok(()),
        },
        Op::AvgPool(_) => match dx {
            Some(dx) => avg_pool::backward(&l.pool_shape(d).ok_or(broken(0, 0))?, true, dy, dx),
            None => Ok(()),
        },
        Op::GlobalAvgPool => match dx {
            Some(dx) => global_avg_pool::backward(d.h.saturating_mul(d.w), d.c, dy, dx),
            None => Ok(()),
        },
        Op::Flatten => match dx {
            Some(dx) if dx.len() == dy.len() => {
                dx.copy_from_slice(dy);
                Ok(())
            }
            Some(dx) => Err(broken(dx.len(), dy.len())),
            None => Ok(()),
        },
        Op::Invalid => Err(broken(0, 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::{activate_back_mask, pack_mask, Act};

    /// Packing by words and applying by words agree with one bit at a time, for ranges that
    /// start and end anywhere in a word (and empty ones), leaving the bits around them alone.
    #[test]
    fn mask_words_agree_with_single_bits() {
        let values: [f32; 80] = core::array::from_fn(|i| if (i * 7) % 5 < 2 { -1.0 } else { 0.5 });
        for at in 0..40 {
            for len in 0..=(96 - at).min(values.len()) {
                let y = &values[..len];
                let mut masks = [0xa5a5_5a5au32; 3];
                pack_mask(Act::Relu, y, &mut masks, at).unwrap();
                let mut want = [0xa5a5_5a5au32; 3];
                for (i, &v) in y.iter().enumerate() {
                    let (w, b) = ((at + i) / 32, (at + i) % 32);
                    want[w] = (want[w] & !(1 << b)) | (u32::from(v > 0.0) << b);
                }
                assert_eq!(masks, want, "at {at} len {len}");
                let mut g: [f32; 80] = core::array::from_fn(|i| i as f32 + 1.0);
                activate_back_mask(Act::Relu, &masks, at, &mut g[..len]).unwrap();
                for (i, &gi) in g.iter().enumerate() {
                    let on = i < len && values[i] > 0.0;
                    let want = if i >= len || on { i as f32 + 1.0 } else { 0.0 };
                    assert_eq!(gi, want, "at {at} len {len} i {i}");
                }
            }
        }
        // A range past the masks is refused before anything is written.
        let mut masks = [7u32; 1];
        assert!(pack_mask(Act::Relu, &values[..40], &mut masks, 0).is_err());
        assert_eq!(masks, [7]);
    }
}
