//! Fine-tuning a head on a frozen int8 backbone, shared word for word by the boards' `har8`
//! firmware (`bench-common/src/har8.rs`, with defmt and instruction counts around it) and its
//! host simulation (`boards/tools/har-pretrain`, binary `har8`, which includes this file with
//! `#[path]`). `no_std`, no defmt, no allocation.
//!
//! - **Backbone**: `imu1d`, the TFLite-converted 1-D CNN of `tests/data/int8/` as
//!   `scripts/tflite_import.py` wrote it (`tests/data/int8/imu1d_model.rs`): conv (k 5, stride
//!   2, ReLU), depthwise conv (multiplier 2, ReLU6), max pool, conv (dilation 2, ReLU), average
//!   pool, flatten; 100 × 6 in, 176 features out, 30,528 MACs, int8 weights and activations,
//!   constants in flash.
//! - **Head** ([`Head8`]): the model's two dense layers, the first frozen (in flash, its
//!   dequantised weights), the last trained (52 parameters); `f32` or `I16F16`.
//! - **Data and sensor change**: the `cnn` firmware's ([`har_core`](crate::har_core)): the 40
//!   device recordings of BasicMotions' test split as 8-bit levels (32 per train-split standard
//!   deviation, the standardisation imu1d was trained with), 20 for fine-tuning and 20 held out,
//!   whole (100 steps, one sample per recording); the new sensor rotated 120° about z with the
//!   accelerometer's gain × 1.5 and the gyroscope's × 0.5.
//! - **Fine-tuning**: Adam (lr [`LR`]) through `Trainer::step_with`, [`EPOCHS`] epochs over the 20
//!   recordings in mini-batches of [`BATCH`], each epoch's order a `Pcg32` shuffle
//!   ([`run_epochs`], seed [`ORDER_SEED`], stream = epoch).
use edgetune::nn::network::{FrozenParams, Int8Network};
use edgetune::nn::Scalar;
use edgetune::num::fixed::I16F16;
use edgetune::optim::{Adam, AdamConfig, AdamNum};
use edgetune::train::{evaluate_with, Trainer};
use edgetune::Error;

pub use crate::har_core::{
    clean, lut, params_hash, run_epochs, score, shifted, Data, FT_RECS, HELD_RECS, REC_VALUES,
};

/// The imported model: the backbone's constants, `BACKBONE`, and the head's initial
/// parameters `HEAD_INIT` (its own `cnn!` head, `ImuHead`, trains both layers; [`Head8`] is
/// the same layers with the first frozen).
#[allow(missing_docs, dead_code)]
pub mod model {
    include!("../../../tests/data/int8/imu1d_model.rs");
}

use model::{BACKBONE, HEAD_INIT};

edgetune::cnn! {
    /// The head: imu1d's dense layers, the first frozen (in flash), the last trained.
    pub struct Head8 {
        input [1, 1, 176];
        dense(176, 12), relu, frozen;
        dense(12, 4), train;
        loss softmax_cross_entropy;
    }
}

/// Inputs of a recording (100 steps × 6 channels).
pub const INPUTS: usize = BACKBONE.input_len();
/// Bytes of each of the backbone's two int8 buffers.
pub const BUFFER: usize = BACKBONE.buffer_len();
/// Features the head receives.
pub const FEATURES: usize = BACKBONE.output_len();
/// The head's parameters.
pub const PARAMS: usize = Head8::<f32>::PARAMS;
/// Its frozen part (the first dense layer), in flash.
pub const FROZEN: usize = Head8::<f32>::FROZEN;
/// Its trained part (the last dense layer).
pub const TRAINABLE: usize = Head8::<f32>::TRAINABLE;
/// Multiply-accumulates of the backbone's forward pass.
pub const BACKBONE_MACS: usize = BACKBONE.macs();
/// Mini-batch size.
pub const BATCH: usize = 4;
/// Optimizer steps per epoch.
pub const STEPS_PER_EPOCH: usize = FT_RECS / BATCH;
/// Fine-tuning epochs.
pub const EPOCHS: usize = 20;
/// Adam's learning rate.
pub const LR: f64 = 1e-2;
/// Seed of the epochs' order.
pub const ORDER_SEED: u64 = 0x0049_4e54_38;

const _: () = assert!(PARAMS == HEAD_INIT.len() && FT_RECS % BATCH == 0);

/// The network: the int8 backbone under the head, whose frozen part is `F`.
pub type Net<S, F> = Int8Network<'static, S, Head8<S, F>, INPUTS, BUFFER, FEATURES>;
/// The optimizer.
pub type Train<S> = Trainer<Adam<S, TRAINABLE>>;

/// The trainer (Adam at [`LR`]), usable in a `static` initialiser.
pub const fn trainer<S: AdamNum>() -> Train<S> {
    match Adam::new(AdamConfig::adam(LR)) {
        Ok(opt) => Trainer::new(opt),
        Err(_) => panic!("invalid Adam configuration"),
    }
}

/// The backbone under `head`. (A `static` calls `Int8Network::new(BACKBONE, head)` itself:
/// a generic `const fn` cannot drop the `Result`.)
pub fn network<S: Scalar, F: FrozenParams<S, FROZEN>>(
    head: Head8<S, F>,
) -> Result<Net<S, F>, Error> {
    Int8Network::new(BACKBONE, head)
}

/// `v` in I16F16, rounded to nearest (ties away from zero), at compile time.
const fn i16f16(v: f32) -> I16F16 {
    let x = v as f64 * 65536.0;
    let r = if x >= 0.0 { x + 0.5 } else { x - 0.5 };
    I16F16::from_bits(r as i32)
}

/// The head's frozen parameters (the first dense layer, torch order) in f32.
pub const fn frozen_f32() -> [f32; FROZEN] {
    let mut out = [0.0; FROZEN];
    let mut i = 0;
    while i < FROZEN {
        out[i] = HEAD_INIT[i];
        i += 1;
    }
    out
}

/// The same in I16F16.
pub const fn frozen_i16f16() -> [I16F16; FROZEN] {
    let mut out = [I16F16::ZERO; FROZEN];
    let mut i = 0;
    while i < FROZEN {
        out[i] = i16f16(HEAD_INIT[i]);
        i += 1;
    }
    out
}

/// The trained parameters' initial values (the last dense layer) in f32.
pub const fn trainable_f32() -> [f32; TRAINABLE] {
    let mut out = [0.0; TRAINABLE];
    let mut i = 0;
    while i < TRAINABLE {
        out[i] = HEAD_INIT[FROZEN + i];
        i += 1;
    }
    out
}

/// The same in I16F16.
pub const fn trainable_i16f16() -> [I16F16; TRAINABLE] {
    let mut out = [I16F16::ZERO; TRAINABLE];
    let mut i = 0;
    while i < TRAINABLE {
        out[i] = i16f16(HEAD_INIT[FROZEN + i]);
        i += 1;
    }
    out
}

/// Writes recording `r`'s input (fine-tuning recording `r`, or held-out `r` if `held`) through
/// the chosen sensor into `x` and returns its label.
pub fn sample<S: Scalar>(
    data: &Data<'_>,
    lut: &[S; 256],
    r: usize,
    held: bool,
    new_sensor: bool,
    x: &mut [S; INPUTS],
) -> Result<usize, Error> {
    let i = r + if held { FT_RECS } else { 0 };
    let (Some(rec), Some(&label)) = (data.recs.get(i), data.labels.get(i)) else {
        return Err(Error::LengthMismatch {
            expected: i + 1,
            found: data.recs.len().min(data.labels.len()),
        });
    };
    let mut levels = [0u8; REC_VALUES];
    if new_sensor {
        shifted(rec, 0, &mut levels);
    } else {
        clean(rec, 0, &mut levels);
    }
    for (v, &l) in x.iter_mut().zip(&levels) {
        *v = lut[usize::from(l)];
    }
    Ok(usize::from(label))
}

/// Accuracy (tenths of a percent) and mean loss (thousandths) over the held-out recordings
/// (`held`) or the fine-tuning ones, through the chosen sensor.
pub fn evaluate<S: Scalar, F: FrozenParams<S, FROZEN>>(
    net: &Net<S, F>,
    data: &Data<'_>,
    lut: &[S; 256],
    held: bool,
    new_sensor: bool,
) -> Result<(u32, u32), Error> {
    let n = if held { HELD_RECS } else { FT_RECS };
    let e = evaluate_with(net, n, |i, x: &mut [S; INPUTS]| {
        sample(data, lut, i, held, new_sensor, x)
    })?;
    Ok(score(&e, n))
}

/// One mini-batch step on fine-tuning recordings `idx` through the new sensor. Returns the mean
/// loss.
#[inline(never)]
pub fn step<S: Scalar + AdamNum, F: FrozenParams<S, FROZEN>>(
    net: &mut Net<S, F>,
    trainer: &mut Train<S>,
    data: &Data<'_>,
    lut: &[S; 256],
    idx: &[u16],
) -> Result<f64, Error> {
    trainer.step_with(net, idx.len(), |k, x: &mut [S; INPUTS]| {
        let r = idx.get(k).copied().unwrap_or(u16::MAX);
        sample(data, lut, usize::from(r), false, true, x)
    })
}

/// The whole fine-tuning: [`EPOCHS`] epochs of [`STEPS_PER_EPOCH`] steps. `run_step` runs each
/// step (the firmware times some) and returns its result; `on_epoch(epoch, mean training loss in
/// thousandths)` is called after each epoch.
pub fn fine_tune<S: Scalar + AdamNum, F: FrozenParams<S, FROZEN>>(
    net: &mut Net<S, F>,
    trainer: &mut Train<S>,
    data: &Data<'_>,
    lut: &[S; 256],
    mut run_step: impl FnMut(usize, &mut dyn FnMut() -> Result<f64, Error>) -> Result<f64, Error>,
    mut on_epoch: impl FnMut(usize, u32),
) -> Result<(), Error> {
    run_epochs::<FT_RECS>(
        ORDER_SEED,
        EPOCHS,
        BATCH,
        |k, batch| run_step(k, &mut || step(net, trainer, data, lut, batch)),
        &mut on_epoch,
    )
}
