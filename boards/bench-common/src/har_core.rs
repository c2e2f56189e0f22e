//! The 1-D CNN fine-tuning run itself, shared word for word by the boards' `cnn` firmware
//! (`bench-common/src/har.rs`, with defmt and instruction counts around it) and by its host
//! simulation (`boards/tools/har-pretrain`, which includes this file with `#[path]`): the
//! network, the data access, the new sensor, the batches and their order, the optimizer and the
//! accuracy. `no_std`, no defmt, no allocation. Both sides run exactly this code over exactly the
//! committed bits (`boards/common-data/har_finetune.rs`), so the device must reach the host's
//! accuracy exactly.
//!
//! - **Data**: BasicMotions (`examples/basicmotions-data`), smartwatch accelerometer and
//!   gyroscope, 100 steps × 6 channels at 10 Hz per recording, 4 activities. Stored per
//!   recording as 8-bit levels of the train split's standardised values, [`LEVELS_PER_STD`]
//!   levels per standard deviation (±3.97 σ, clamped). A sample is a window of [`WIN`] steps at
//!   one of the offsets [`OFFSETS`] (4 windows per recording).
//! - **Device recordings**: the 40 recordings of the archive's test split (the host pretrained on
//!   the train split only), per class alternately assigned to fine-tuning ([`FT_RECS`], the
//!   first half of the file) and held-out evaluation ([`HELD_RECS`], the second half).
//! - **Sensor change** ([`shifted`]): the watch is worn rotated by 120° about its z axis
//!   (cos −0.5, sin 0.867 mixing the x and y axes of both the accelerometer and the gyroscope,
//!   applied to the standardised levels) and the gains drifted (accelerometer × 1.5, gyroscope
//!   × 0.5), computed on the 8-bit levels in integers and clamped to 8 bits like a saturating
//!   sensor. The pretrained network falls from 98.7 % to 30.0 % held-out accuracy.
//! - **Fine-tuning** ([`Har`]): the convolutions stay frozen (in flash); the two batch norms'
//!   scale and shift and the dense head train ("BN-affine + head", [`TRAINABLE`] = 68 of
//!   [`PARAMS`] = 516). Adam (lr [`LR`]) through `Trainer::step_with`, [`EPOCHS`] epochs over the
//!   80 fine-tuning windows in mini-batches of [`BATCH`], the order of each epoch a
//!   [`Pcg32::shuffle`] of the window indices (seed [`ORDER_SEED`], stream = epoch).
use edgetune::nn::network::FrozenParams;
use edgetune::nn::Scalar;
use edgetune::optim::{Adam, AdamConfig, AdamNum};
use edgetune::train::{evaluate_with, Evaluation, Pcg32, Trainer};
use edgetune::Error;

/// Time steps of a recording.
pub const REC_STEPS: usize = 100;
/// Channels per step: acc x, y, z, gyro x, y, z.
pub const CH: usize = 6;
/// Values of a recording.
pub const REC_VALUES: usize = REC_STEPS * CH;
/// Time steps of a window (4 s at 10 Hz).
pub const WIN: usize = 40;
/// Window starts within a recording.
pub const OFFSETS: [usize; 4] = [0, 20, 40, 60];
/// 8-bit levels per standard deviation of the train split.
pub const LEVELS_PER_STD: f64 = 32.0;
/// Classes: standing, running, walking, badminton.
pub const CLASSES: usize = 4;
/// Recordings the device fine-tunes on (the first ones of the data file).
pub const FT_RECS: usize = 20;
/// Held-out recordings (the last ones of the data file).
pub const HELD_RECS: usize = 20;
/// Fine-tuning windows.
pub const FT_WINDOWS: usize = FT_RECS * OFFSETS.len();
/// Held-out windows.
pub const HELD_WINDOWS: usize = HELD_RECS * OFFSETS.len();
/// Mini-batch size.
pub const BATCH: usize = 8;
/// Optimizer steps per epoch (every fine-tuning window once).
pub const STEPS_PER_EPOCH: usize = FT_WINDOWS / BATCH;
/// Fine-tuning epochs.
pub const EPOCHS: usize = 15;
/// Adam's learning rate.
pub const LR: f64 = 2e-2;
/// Seed of the epochs' window order.
pub const ORDER_SEED: u64 = 0x0042_4d46_54;

edgetune::cnn! {
    /// The device's network: 40 × 6 window, two strided convolutions (frozen, in flash), each
    /// followed by a trainable batch norm and ReLU, global average pooling, a trainable head.
    pub struct Har {
        input [40, 6];
        conv1d(6, 8, 5, stride = 2, padding = same), frozen;
        batch_norm(8), relu, train;
        conv1d(8, 8, 3, stride = 2, padding = same), frozen;
        batch_norm(8), relu, train;
        global_avg_pool;
        dense(8, 4), train;
        loss softmax_cross_entropy;
    }
}

/// Inputs of a window, `WIN · CH`.
pub const INPUTS: usize = Har::<f32>::INPUTS;
/// Every parameter (torch order).
pub const PARAMS: usize = Har::<f32>::PARAMS;
/// Trained: both batch norms' scale and shift, the dense head.
pub const TRAINABLE: usize = Har::<f32>::TRAINABLE;
/// Frozen (the convolutions), left in flash.
pub const FROZEN: usize = Har::<f32>::FROZEN;
/// Multiply-accumulates of one forward pass.
pub const MACS_FORWARD: usize = Har::<f32>::MACS;
/// Multiply-accumulates of one `accumulate` (forward, loss, backward) in this mode: the forward
/// pass, the second convolution's input gradient (as many MACs as its forward: the first batch
/// norm trains), the head's weight and input gradients (2 · 8 · 4); the first convolution runs
/// no backward. (Batch-norm, pooling and bias terms are not MACs.)
pub const MACS_ACCUMULATE: usize = MACS_FORWARD + 10 * 8 * (3 * 8) + 2 * 8 * 4;

/// The optimizer.
pub type Train<S> = Trainer<Adam<S, TRAINABLE>>;

/// The trainer (Adam at [`LR`]), usable in a `static` initialiser.
pub const fn trainer<S: AdamNum>() -> Train<S> {
    match Adam::new(AdamConfig::adam(LR)) {
        Ok(opt) => Trainer::new(opt),
        Err(_) => panic!("invalid Adam configuration"),
    }
}

/// The 8-bit level to `S` table: `S::from_f64(level / LEVELS_PER_STD)`, index `level + 128`.
pub fn lut<S: Scalar>() -> [S; 256] {
    let mut t = [S::ZERO; 256];
    for (i, v) in t.iter_mut().enumerate() {
        *v = S::from_f64((i as f64 - 128.0) / LEVELS_PER_STD);
    }
    t
}

/// The device's recordings: levels and labels, fine-tuning recordings first.
#[derive(Clone, Copy)]
pub struct Data<'a> {
    /// `FT_RECS + HELD_RECS` recordings of `REC_VALUES` levels (`t · CH + c`).
    pub recs: &'a [[i8; REC_VALUES]],
    /// Their labels.
    pub labels: &'a [u8],
}

impl Data<'_> {
    /// Recording and start step of fine-tuning window `w` (`held`: held-out window `w`).
    fn window(&self, w: usize, held: bool) -> Result<(&[i8; REC_VALUES], usize, usize), Error> {
        let r = w / OFFSETS.len() + if held { FT_RECS } else { 0 };
        let off = OFFSETS[w % OFFSETS.len()];
        match (self.recs.get(r), self.labels.get(r)) {
            (Some(rec), Some(&label)) => Ok((rec, off, usize::from(label))),
            _ => Err(Error::LengthMismatch {
                expected: r + 1,
                found: self.recs.len().min(self.labels.len()),
            }),
        }
    }
}

fn clamp8(v: i32) -> u8 {
    (v.clamp(-128, 127) + 128) as u8
}

/// Through the old sensor: the stored levels from step `t0`, as table indices (`out.len()`
/// values).
pub fn clean(rec: &[i8; REC_VALUES], t0: usize, out: &mut [u8]) {
    for (o, &l) in out.iter_mut().zip(&rec[t0 * CH..]) {
        *o = clamp8(i32::from(l));
    }
}

/// Through the new sensor (see the module docs): per step, `(x', y') = g · (c x − s y,
/// s x + c y)` with `c = −0.5`, `s = 0.867` for the accelerometer (g = 1.5) and the gyroscope
/// (g = 0.5), z scaled by g, in integers (`(g·256) · (256 c · x ∓ 256 s · y) / 65536`, rounded
/// half up), clamped to 8 bits; `out.len()` values from step `t0`.
pub fn shifted(rec: &[i8; REC_VALUES], t0: usize, out: &mut [u8]) {
    const C: i32 = -128; // cos 120° · 256
    const S: i32 = 222; // sin 120° · 256 (0.86719)
    const G: [i32; 2] = [384, 128]; // 1.5 · 256, 0.5 · 256
    for (o, v) in out
        .chunks_exact_mut(CH)
        .zip(rec[t0 * CH..].chunks_exact(CH))
    {
        for (k, g) in G.iter().enumerate() {
            let x = i32::from(v[3 * k]);
            let y = i32::from(v[3 * k + 1]);
            let z = i32::from(v[3 * k + 2]);
            o[3 * k] = clamp8((g * (C * x - S * y) + 32768) >> 16);
            o[3 * k + 1] = clamp8((g * (S * x + C * y) + 32768) >> 16);
            o[3 * k + 2] = clamp8((g * 256 * z + 32768) >> 16);
        }
    }
}

/// Writes window `w`'s input through the chosen sensor into `x` and returns its label.
pub fn sample<S: Scalar>(
    data: &Data<'_>,
    lut: &[S; 256],
    w: usize,
    held: bool,
    new_sensor: bool,
    x: &mut [S; INPUTS],
) -> Result<usize, Error> {
    let (rec, t0, label) = data.window(w, held)?;
    let mut levels = [0u8; INPUTS];
    if new_sensor {
        shifted(rec, t0, &mut levels);
    } else {
        clean(rec, t0, &mut levels);
    }
    for (v, &l) in x.iter_mut().zip(&levels) {
        *v = lut[usize::from(l)];
    }
    Ok(label)
}

/// Accuracy (tenths of a percent) and mean loss (thousandths) over the held-out windows
/// (`held`) or the fine-tuning windows, through the chosen sensor.
pub fn evaluate<S: Scalar, F: FrozenParams<S, FROZEN>>(
    net: &Har<S, F>,
    data: &Data<'_>,
    lut: &[S; 256],
    held: bool,
    new_sensor: bool,
) -> Result<(u32, u32), Error> {
    let n = if held { HELD_WINDOWS } else { FT_WINDOWS };
    let e = evaluate_with(net, n, |i, x: &mut [S; INPUTS]| {
        sample(data, lut, i, held, new_sensor, x)
    })?;
    Ok(score(&e, n))
}

/// A shuffle of `0..N` for `epoch` ([`Pcg32::shuffle`], seed `seed`, stream = epoch).
pub fn shuffled<const N: usize>(seed: u64, epoch: usize) -> [u16; N] {
    let mut idx = [0u16; N];
    for (i, v) in idx.iter_mut().enumerate() {
        *v = i as u16;
    }
    Pcg32::new(seed, epoch as u64).shuffle(&mut idx);
    idx
}

/// The epoch loop of a fine-tuning run: `epochs` epochs, each a [`shuffled`] order of `0..N`
/// in mini-batches of `batch`; `step(k, batch)` runs step `k` and returns its mean loss, and
/// `on_epoch(epoch, mean training loss in thousandths)` is called after each epoch.
pub fn run_epochs<const N: usize>(
    seed: u64,
    epochs: usize,
    batch: usize,
    mut step: impl FnMut(usize, &[u16]) -> Result<f64, Error>,
    mut on_epoch: impl FnMut(usize, u32),
) -> Result<(), Error> {
    let mut k = 0;
    for epoch in 0..epochs {
        let idx = shuffled::<N>(seed, epoch);
        let (mut loss_sum, mut steps) = (0.0, 0);
        for b in idx.chunks_exact(batch) {
            loss_sum += step(k, b)?;
            (k, steps) = (k + 1, steps + 1);
        }
        on_epoch(epoch, (loss_sum * 1000.0 / steps.max(1) as f64) as u32);
    }
    Ok(())
}

/// Accuracy (tenths of a percent) and mean loss (thousandths) of an evaluation over `n`
/// samples.
pub fn score(e: &Evaluation, n: usize) -> (u32, u32) {
    // The hit count back from the fraction (exact: hits / n · n rounds to hits).
    let hits = (e.accuracy.unwrap_or(0.0) * n as f64 + 0.5) as u32;
    (hits * 1000 / n as u32, (e.mean_loss * 1000.0) as u32)
}

/// One mini-batch step on fine-tuning windows `idx`, through the new sensor: one window at a
/// time is converted (no batch of inputs in RAM), checked, accumulated; then the mean gradient
/// and one Adam update. Returns the mean loss.
#[inline(never)]
pub fn step<S: Scalar + AdamNum, F: FrozenParams<S, FROZEN>>(
    net: &mut Har<S, F>,
    trainer: &mut Train<S>,
    data: &Data<'_>,
    lut: &[S; 256],
    idx: &[u16],
) -> Result<f64, Error> {
    trainer.step_with(net, idx.len(), |k, x: &mut [S; INPUTS]| {
        let w = idx.get(k).copied().unwrap_or(u16::MAX);
        sample(data, lut, usize::from(w), false, true, x)
    })
}

/// The whole fine-tuning: [`EPOCHS`] epochs of [`STEPS_PER_EPOCH`] steps. `run_step` runs each
/// step (the firmware times some of them) and returns its result; `on_epoch(epoch, mean
/// training loss in thousandths)` is called after each epoch.
pub fn fine_tune<S: Scalar + AdamNum, F: FrozenParams<S, FROZEN>>(
    net: &mut Har<S, F>,
    trainer: &mut Train<S>,
    data: &Data<'_>,
    lut: &[S; 256],
    mut run_step: impl FnMut(usize, &mut dyn FnMut() -> Result<f64, Error>) -> Result<f64, Error>,
    mut on_epoch: impl FnMut(usize, u32),
) -> Result<(), Error> {
    run_epochs::<FT_WINDOWS>(
        ORDER_SEED,
        EPOCHS,
        BATCH,
        |k, batch| run_step(k, &mut || step(net, trainer, data, lut, batch)),
        &mut on_epoch,
    )
}

/// FNV-1a (32-bit) over the exact values of `params` (each as the bits of its `f64` value,
/// which represents every `f32` and every I16F16 exactly): equal hashes mean bit-identical
/// parameters.
pub fn params_hash<S: Scalar>(params: &[S]) -> u32 {
    let mut h = 0x811c_9dc5u32;
    for p in params {
        for b in p.to_f64().to_bits().to_le_bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
    }
    h
}
