//! On-device fine-tuning, shared by every board's `finetune` firmware: what a user's firmware
//! does after a sensor change, on the part itself.
//!
//! - **Network**: a 64-16-10 ReLU MLP ([`Net`]) pretrained on the host with edgetune
//!   (`boards/tools/pretrain`, 95.0 % on these digits through the clean sensor). Its first
//!   layer's weights (1 024 values) are frozen and stay in flash (`Net<S, &'static [S; FROZEN]>`);
//!   the first layer's bias and the whole last layer train: [`TRAINABLE`] = 16 + 170 = 186.
//! - **Data**: `boards/common-data/digits_finetune.rs`, 600 digits of `tests/data/digits.bin`
//!   the host never trained on, as a `const` ETDG file read in flash by
//!   `edgetune_digits::parse` (`examples/digits-data`). The first 300 stream through the new sensor into a
//!   [`SampleBuffer`] (reservoir, capacity `CAP`); the last 300 are the held-out test set.
//! - **Domain shift** (as `examples/adapt`): the new sensor shifts the image one pixel right,
//!   and has gain 0.55 and offset +0.3; it delivers 8-bit levels ([`sensor`]).
//! - **Training**: Adam (lr [`LR`]) in an `edgetune::train::Trainer`, [`EPOCHS`] epochs of
//!   [`STEPS_PER_EPOCH`] mini-batches of [`BATCH`] drawn from the buffer, each one
//!   `Trainer::step_with` call that converts one stored sample at a time (no batch of `S`
//!   inputs in RAM). Accuracy and loss by `edgetune::train::evaluate_with` the same way.
//! - **Verdict**: PASS only if the mean loss over the buffer fell, the held-out shifted accuracy
//!   after fine-tuning **equals** the host's figure for this number type ([`Expected`]: the
//!   `EXPECTED_*_X10_*` constants that `boards/tools/pretrain` writes from its simulation of
//!   this very run, same buffer, batches, order and number of steps, from the same parameter
//!   bits), and is above the pretrained network's accuracy on shifted data. No fixed threshold:
//!   the training is bit-identical to the host's (I16F16 on both boards; f32 on the M4F, as the
//!   on-target tests show), so any other figure means the device computed something else, and
//!   a threshold would only be tuned to one data split. The host's clean and shifted figures
//!   before fine-tuning are logged next to the device's.
//! - **Instruction counts** (SysTick under `-icount shift=0`): one training step on one sample
//!   and on one mini-batch (the input check, forward + backward, the mean gradient and the
//!   Adam update, through `Trainer::step_with`), three steps each, printed as table rows
//!   `| TrainStep1 / TrainStep16 | type | MACs | ticks | instr per MAC |` next to the
//!   multiply-accumulate count of the step ([`MACS_SAMPLE`], [`MACS_BATCH`]); and the input
//!   check alone (`Network::check_sample` on one 64-element input and its label, [`CHECK_REPS`]
//!   calls per timed region, three regions), row `| InputCheck | type | 64 | ticks | instr per
//!   input element |`.
use core::hint::black_box;

use edgetune::nn::network::FrozenParams;
use edgetune::nn::{Network, Scalar};
use edgetune::num::fixed::{I16F16, I4F12};
use edgetune::optim::{Adam, AdamConfig, AdamNum, Optimizer};
use edgetune::train::{evaluate_with, SampleBuffer, TrainError, Trainer};
use edgetune::Error;
use edgetune_digits as digits;

use crate::{instr_x100_per_param, measure, Board};

/// The pretrained weights and the device's digits, written by `boards/tools/pretrain`.
pub mod data {
    include!("../../common-data/digits_finetune.rs");
}

edgetune::mlp! {
    /// The device's network: first-layer weights frozen (in flash), its bias and the head train.
    pub struct Net {
        dense 64 -> 16, relu, bias;
        dense 16 -> 10;
        loss softmax_cross_entropy;
    }
}

/// Every parameter (torch order).
pub const PARAMS: usize = Net::<f32>::PARAMS;
/// The trained parameters: first-layer bias (16) and last layer (16 × 10 + 10).
pub const TRAINABLE: usize = Net::<f32>::TRAINABLE;
/// The frozen parameters (first-layer weights), left in flash.
pub const FROZEN: usize = Net::<f32>::FROZEN;
/// Mini-batch size.
pub const BATCH: usize = 16;
/// Fine-tuning epochs.
pub const EPOCHS: usize = 25;
/// Optimizer steps per epoch.
pub const STEPS_PER_EPOCH: usize = 10;
/// Adam's learning rate.
pub const LR: f64 = 3e-2;

/// What the host's simulation of this run (`boards/tools/pretrain`) reached, held-out, in tenths
/// of a percent: the firmware must reproduce `after` exactly.
#[derive(Clone, Copy, Debug)]
pub struct Expected {
    /// The pretrained network through the clean sensor.
    pub clean: u32,
    /// The pretrained network through the new sensor.
    pub before: u32,
    /// After the fine-tuning, through the new sensor.
    pub after: u32,
}

/// The host's figures for an f32 run.
pub const EXPECTED_F32: Expected = Expected {
    clean: data::EXPECTED_CLEAN_X10_F32,
    before: data::EXPECTED_BEFORE_X10_F32,
    after: data::EXPECTED_AFTER_X10_F32,
};
/// The host's figures for an I16F16 run.
pub const EXPECTED_I16F16: Expected = Expected {
    clean: data::EXPECTED_CLEAN_X10_I16F16,
    before: data::EXPECTED_BEFORE_X10_I16F16,
    after: data::EXPECTED_AFTER_X10_I16F16,
};
/// The host's figures for an I4F12 (16-bit storage) run.
pub const EXPECTED_I4F12: Expected = Expected {
    clean: data::EXPECTED_CLEAN_X10_I4F12,
    before: data::EXPECTED_BEFORE_X10_I4F12,
    after: data::EXPECTED_AFTER_X10_I4F12,
};
/// Multiply-accumulates of one training sample: forward 64·16 + 16·10 = 1 184; backward 16·10
/// (last-layer weight gradients) + 16·10 (gradient into the hidden layer) = 320. (Bias gradients,
/// the ReLU mask, the softmax and the Adam update are not MACs.)
pub const MACS_SAMPLE: usize = 64 * 16 + 16 * 10 + 2 * 16 * 10;
/// Multiply-accumulates of one mini-batch step.
pub const MACS_BATCH: usize = BATCH * MACS_SAMPLE;

/// Calls of the input check per timed region (64 elements each: 2 048 elements).
pub const CHECK_REPS: usize = 32;

/// The optimizer and what a mini-batch step does around it (no clipping, no schedule).
pub type Train<S> = Trainer<Adam<S, TRAINABLE>>;

/// The trainer (Adam at [`LR`]), usable in a `static` initialiser.
pub const fn trainer<S: AdamNum>() -> Train<S> {
    match Adam::new(AdamConfig::adam(LR)) {
        Ok(opt) => Trainer::new(opt),
        Err(_) => panic!("invalid Adam configuration"),
    }
}

/// The pretrained parameters in I16F16, at compile time.
pub const fn pretrained_i16f16() -> [I16F16; PARAMS] {
    let mut out = [I16F16::ZERO; PARAMS];
    let mut i = 0;
    while i < PARAMS {
        out[i] = I16F16::from_bits(data::PRETRAINED_I16F16_BITS[i]);
        i += 1;
    }
    out
}

/// The pretrained parameters in I4F12, at compile time.
pub const fn pretrained_i4f12() -> [I4F12; PARAMS] {
    let mut out = [I4F12::ZERO; PARAMS];
    let mut i = 0;
    while i < PARAMS {
        out[i] = I4F12::from_bits(data::PRETRAINED_I4F12_BITS[i]);
        i += 1;
    }
    out
}

/// One sample as the device stores it: the new sensor's 8-bit levels and the label (65 bytes).
#[derive(Clone, Copy)]
pub struct Rec {
    /// Pixels, 0..=255.
    pub px: [u8; 64],
    /// Digit.
    pub label: u8,
}

/// The new sensor: one pixel to the right, gain 0.55, offset +0.3, clamped to 1, as 8-bit
/// levels `round(255 · min(1, 0.55 · p/16 + 0.3))`, in integers (561/64 = 255 · 0.55/16,
/// 4896/64 = 255 · 0.3).
pub fn sensor(p: &[u8; 64]) -> [u8; 64] {
    let mut out = [0u8; 64];
    for r in 0..8 {
        for c in 0..8 {
            let src = if c == 0 {
                0
            } else {
                u32::from(p[r * 8 + c - 1])
            };
            out[r * 8 + c] = ((561 * src + 4896 + 32) / 64).min(255) as u8;
        }
    }
    out
}

/// Looks up 8-bit levels into the step's input buffer, in place: a returned array would be
/// copied into the buffer afterwards (a `memcpy` of 256 bytes per f32 sample, about 330
/// instructions on the Cortex-M4F, more than the 64 look-ups themselves).
fn convert_into<S: Copy>(x: &mut [S; 64], lut: &[S; 256], px: &[u8; 64]) {
    for (xi, &b) in x.iter_mut().zip(px) {
        *xi = lut[usize::from(b)];
    }
}

fn convert<S: Copy>(lut: &[S; 256], px: &[u8; 64]) -> [S; 64] {
    px.map(|b| lut[usize::from(b)])
}

/// Sample `i` of a buffer, or (cannot happen for the indices used here) an error.
fn stored<const CAP: usize>(buf: &SampleBuffer<Rec, CAP>, i: usize) -> Result<&Rec, Error> {
    buf.get(i).ok_or(
        TrainError::BatchTooLarge {
            requested: i.saturating_add(1),
            available: buf.len(),
        }
        .into(),
    )
}

/// Held-out accuracy in tenths of a percent; `shifted` selects the new sensor.
fn accuracy<S: Scalar, F: FrozenParams<S, FROZEN>>(
    net: &Net<S, F>,
    set: &digits::Digits<'_>,
    lut: &[S; 256],
    clean: &[S; 17],
    shifted: bool,
) -> Result<u32, Error> {
    let n = set.len().saturating_sub(data::STREAM);
    let mut held_out = set.iter().skip(data::STREAM);
    let e = evaluate_with(net, n, |i, x: &mut [S; 64]| {
        // Cannot fail: the set has STREAM + n samples.
        let s = held_out.next().ok_or(Error::LengthMismatch {
            expected: n,
            found: i,
        })?;
        *x = if shifted {
            convert(lut, &sensor(s.pixels))
        } else {
            s.pixels.map(|p| clean[usize::from(p)])
        };
        Ok(usize::from(s.label))
    })?;
    // The hit count back from the fraction (exact: hits / n · n rounds to hits).
    let hits = (e.accuracy.unwrap_or(0.0) * n as f64 + 0.5) as u32;
    Ok(hits * 1000 / (n as u32).max(1))
}

/// Mean loss over the buffer (evaluation only), in thousandths.
fn buffer_loss<S: Scalar, F: FrozenParams<S, FROZEN>, const CAP: usize>(
    net: &Net<S, F>,
    buf: &SampleBuffer<Rec, CAP>,
    lut: &[S; 256],
) -> Result<u32, Error> {
    let e = evaluate_with(net, buf.len(), |i, x: &mut [S; 64]| {
        let s = stored(buf, i)?;
        convert_into(x, lut, &s.px);
        Ok(usize::from(s.label))
    })?;
    Ok((e.mean_loss * 1000.0) as u32)
}

/// One training step on one sample (already converted): the input check, forward, backward,
/// Adam update.
#[inline(never)]
fn step_sample<S: Scalar + AdamNum, F: FrozenParams<S, FROZEN>>(
    net: &mut Net<S, F>,
    trainer: &mut Train<S>,
    x: &[S; 64],
    label: usize,
) -> Result<f64, Error> {
    trainer.step_with(net, 1, |_, buf: &mut [S; 64]| {
        *buf = *x;
        Ok(label)
    })
}

/// One training step on a mini-batch drawn from the buffer: per sample the 8-bit levels are
/// looked up (64 table loads), checked and accumulated (forward + backward); then the mean
/// gradient and one Adam update. Returns the mean loss.
#[inline(never)]
fn step_batch<S: Scalar + AdamNum, F: FrozenParams<S, FROZEN>, const CAP: usize>(
    net: &mut Net<S, F>,
    trainer: &mut Train<S>,
    buf: &SampleBuffer<Rec, CAP>,
    idx: &[usize; BATCH],
    lut: &[S; 256],
) -> Result<f64, Error> {
    trainer.step_with(net, BATCH, |k, x: &mut [S; 64]| {
        let i = idx.get(k).copied().unwrap_or(usize::MAX);
        let s = stored(buf, i)?;
        convert_into(x, lut, &s.px);
        Ok(usize::from(s.label))
    })
}

/// [`CHECK_REPS`] input checks of one sample (`Network::check_sample`: the input's length and
/// every value, and the label's range).
#[inline(never)]
fn check_samples<S: Scalar, F: FrozenParams<S, FROZEN>>(
    x: &[S; 64],
    label: usize,
) -> Result<(), Error> {
    for _ in 0..CHECK_REPS {
        <Net<S, F> as Network<S>>::check_sample(black_box(&x[..]), black_box(&label))?;
    }
    Ok(())
}

fn x100(v: u32) -> (u32, u32) {
    (v / 100, v % 100)
}

/// A table row: `n` is the row's N, `per_n` what the ticks are divided by. Returns the
/// instructions per unit in hundredths.
fn row_per(name: &str, ty: &str, n: usize, per_n: usize, ticks: &[u32; 3]) -> [u32; 3] {
    let per = ticks.map(|t| instr_x100_per_param(t, per_n));
    let (a, b, c) = (x100(per[0]), x100(per[1]), x100(per[2]));
    defmt::info!(
        "| {=str} | {=str} | {=usize} | {=u32} / {=u32} / {=u32} | {=u32}.{=u32:02} / {=u32}.{=u32:02} / {=u32}.{=u32:02} | ok |",
        name, ty, n, ticks[0], ticks[1], ticks[2], a.0, a.1, b.0, b.1, c.0, c.1
    );
    per
}

/// A training-step row (N = the step's MACs) and its whole-step instruction counts.
pub(crate) fn row(name: &str, ty: &str, macs: usize, ticks: &[u32; 3], cpu_hz: u32) {
    let per = row_per(name, ty, macs, macs, ticks);
    let b = x100(per[1]);
    let instr = ticks.map(|t| (t as u64 * 1_000_000_000 / cpu_hz as u64) as u32);
    defmt::info!(
        "step instructions: {=str}<{=str}>: {=u32} / {=u32} / {=u32} for {=usize} MACs ({=u32}.{=u32:02} instructions per MAC at step 2)",
        name, ty, instr[0], instr[1], instr[2], macs, b.0, b.1
    );
}

/// The whole fine-tuning run on `net` (frozen part already in place), `trainer` and `buf`
/// (statics of the board). `init` are the pretrained trainable parameters, `expected` the host's
/// figures for `S` ([`EXPECTED_F32`], [`EXPECTED_I16F16`]). Returns the verdict.
pub fn run<S: Scalar + AdamNum, F: FrozenParams<S, FROZEN>, const CAP: usize>(
    board: &Board,
    ty: &'static str,
    expected: &Expected,
    net: &mut Net<S, F>,
    init: &[S; TRAINABLE],
    trainer: &mut Train<S>,
    buf: &mut SampleBuffer<Rec, CAP>,
) -> bool {
    let set = tryf!(digits::parse(&data::DIGITS), "parsing the digits");
    net.trainable_mut().copy_from_slice(init);
    // 8-bit sensor levels and clean 0..=16 pixels to S (tables: no float work per pixel).
    let mut lut = [S::ZERO; 256];
    for (i, v) in lut.iter_mut().enumerate() {
        *v = S::from_f64(i as f64 / 255.0);
    }
    let mut clean = [S::ZERO; 17];
    for (i, v) in clean.iter_mut().enumerate() {
        *v = S::from_f64(i as f64 / 16.0);
    }
    defmt::info!(
        "network 64-16-10 ReLU, {=str}: {=usize} parameters, {=usize} frozen in flash, {=usize} trained (first-layer bias + last layer); Adam lr 0.03; buffer {=usize} samples (reservoir) of {=usize} streamed; batches of {=usize}; {=usize} epochs x {=usize} steps",
        ty, PARAMS, FROZEN, TRAINABLE, CAP, data::STREAM, BATCH, EPOCHS, STEPS_PER_EPOCH
    );
    defmt::info!(
        "RAM of the training state: network {=usize} B (frozen weights in flash), trainer (Adam) {=usize} B, sample buffer {=usize} B",
        core::mem::size_of::<Net<S, F>>(),
        core::mem::size_of::<Train<S>>(),
        core::mem::size_of::<SampleBuffer<Rec, CAP>>()
    );

    // The device sees the stream through the new sensor and keeps a reservoir of it.
    for s in set.iter().take(data::STREAM) {
        buf.push(Rec {
            px: sensor(s.pixels),
            label: s.label,
        });
    }
    let clean_acc = tryf!(accuracy(net, &set, &lut, &clean, false), "accuracy");
    let before = tryf!(accuracy(net, &set, &lut, &clean, true), "accuracy");
    let loss_before = tryf!(buffer_loss(net, buf, &lut), "loss");
    defmt::info!(
        "pretrained: held-out accuracy {=u32}.{=u32} % through the clean sensor, {=u32}.{=u32} % through the new one (host: {=u32}.{=u32} %, {=u32}.{=u32} %); buffer loss {=u32}.{=u32:03}",
        clean_acc / 10, clean_acc % 10, before / 10, before % 10,
        expected.clean / 10, expected.clean % 10, expected.before / 10, expected.before % 10,
        loss_before / 1000, loss_before % 1000
    );

    let mut batch_ticks = [0u32; 3];
    let mut step = 0usize;
    let mut after = before;
    for epoch in 0..EPOCHS {
        let mut loss_sum = 0.0;
        for _ in 0..STEPS_PER_EPOCH {
            let mut idx = [0usize; BATCH];
            tryf!(buf.draw_batch(&mut idx), "drawing a batch");
            let (t, r) = measure(|| {
                step_batch(
                    black_box(&mut *net),
                    black_box(&mut *trainer),
                    buf,
                    black_box(&idx),
                    &lut,
                )
            });
            loss_sum += tryf!(r, "training step");
            if step < 3 {
                batch_ticks[step] = t;
            }
            step += 1;
        }
        let loss = (loss_sum * 1000.0 / STEPS_PER_EPOCH as f64) as u32;
        after = tryf!(accuracy(net, &set, &lut, &clean, true), "accuracy");
        defmt::info!(
            "epoch {=usize}/{=usize}: training loss {=u32}.{=u32:03}, held-out shifted accuracy {=u32}.{=u32} %",
            epoch + 1, EPOCHS, loss / 1000, loss % 1000, after / 10, after % 10
        );
    }
    let loss_after = tryf!(buffer_loss(net, buf, &lut), "loss");
    let loss_fell = loss_after < loss_before;
    let reproduced = after == expected.after;
    let improved = after > before;
    defmt::info!(
        "result: held-out shifted accuracy {=u32}.{=u32} % -> {=u32}.{=u32} % (host: {=u32}.{=u32} %), buffer loss {=u32}.{=u32:03} -> {=u32}.{=u32:03}, {=u32} Adam steps",
        before / 10, before % 10, after / 10, after % 10, expected.after / 10, expected.after % 10,
        loss_before / 1000, loss_before % 1000, loss_after / 1000, loss_after % 1000, trainer.optimizer().step_count()
    );
    defmt::info!(
        "checks: loss fell {=bool}, accuracy = host's {=u32}.{=u32} % {=bool}, accuracy above pretrained {=bool}",
        loss_fell, expected.after / 10, expected.after % 10, reproduced, improved
    );

    // Instruction counts. Mini-batch: the first three training steps above. One sample: three
    // more steps on buffer samples now, after the verdict's figures were taken.
    let mut sample_ticks = [0u32; 3];
    for (k, t) in sample_ticks.iter_mut().enumerate() {
        let Some(s) = buf.get(k) else { return false };
        let x = convert(&lut, &s.px);
        let label = usize::from(s.label);
        let (dt, r) = measure(|| {
            step_sample(
                black_box(&mut *net),
                black_box(&mut *trainer),
                black_box(&x),
                label,
            )
        });
        tryf!(r, "one-sample step");
        *t = dt;
    }
    // The input check alone: CHECK_REPS checks of one converted buffer sample per region.
    let mut check_ticks = [0u32; 3];
    for (k, t) in check_ticks.iter_mut().enumerate() {
        let Some(s) = buf.get(k) else { return false };
        let x = convert(&lut, &s.px);
        let label = usize::from(s.label);
        let (dt, r) = measure(|| check_samples::<S, F>(black_box(&x), label));
        tryf!(r, "input check");
        *t = dt;
    }
    defmt::info!(
        "instructions per MAC per training step = ticks * 1e9 / {=u32} / MACs (forward + backward + Adam update over {=usize} parameters); steps 1 / 2 / 3",
        board.cpu_hz, TRAINABLE
    );
    defmt::info!("| step | type | MACs | ticks | instr/MAC/step | check |");
    defmt::info!("|---|---|---|---|---|---|");
    row("TrainStep1", ty, MACS_SAMPLE, &sample_ticks, board.cpu_hz);
    row("TrainStep16", ty, MACS_BATCH, &batch_ticks, board.cpu_hz);
    defmt::info!(
        "input check (Network::check_sample: length, 64 values, label) = ticks * 1e9 / {=u32} / ({=usize} calls x 64 elements); regions 1 / 2 / 3",
        board.cpu_hz, CHECK_REPS
    );
    defmt::info!("| check | type | elements | ticks | instr/element | check |");
    defmt::info!("|---|---|---|---|---|---|");
    row_per("InputCheck", ty, 64, 64 * CHECK_REPS, &check_ticks);
    let sample = x100(instr_x100_per_param(check_ticks[1], CHECK_REPS));
    defmt::info!(
        "input check instructions: InputCheck<{=str}>: {=u32}.{=u32:02} per 64-element sample (region 2)",
        ty, sample.0, sample.1
    );
    loss_fell && reproduced && improved
}

/// The `#[entry]` body of a board's `finetune` firmware, after its statics are borrowed.
pub fn main<S: Scalar + AdamNum, F: FrozenParams<S, FROZEN>, const CAP: usize>(
    board: &Board,
    ty: &'static str,
    expected: &Expected,
    net: &mut Net<S, F>,
    init: &[S; TRAINABLE],
    trainer: &mut Train<S>,
    buf: &mut SampleBuffer<Rec, CAP>,
) -> ! {
    main_as("finetune", board, ty, expected, net, init, trainer, buf)
}

/// [`main`] for a firmware named `tag` (its verdict line is `{tag}: PASS`): the Cortex-M0's
/// `finetune16` runs the same fine-tuning in I4F12 beside its I16F16 `finetune`.
#[allow(clippy::too_many_arguments)]
pub fn main_as<S: Scalar + AdamNum, F: FrozenParams<S, FROZEN>, const CAP: usize>(
    tag: &'static str,
    board: &Board,
    ty: &'static str,
    expected: &Expected,
    net: &mut Net<S, F>,
    init: &[S; TRAINABLE],
    trainer: &mut Train<S>,
    buf: &mut SampleBuffer<Rec, CAP>,
) -> ! {
    let mut ok = crate::start(board, "edgetune on-device fine-tuning");
    ok &= run(board, ty, expected, net, init, trainer, buf);
    ok &= crate::memory_report(board);
    crate::exit(tag, ok)
}
