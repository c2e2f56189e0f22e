//! On-device fine-tuning, shared by every board's `finetune` firmware: what a user's firmware
//! does after a sensor change, on the part itself.
//!
//! - **Network**: a 64-16-10 ReLU MLP ([`Net`]) pretrained on the host with edgetune
//!   (`boards/tools/pretrain`, 96.5 % on these digits through the clean sensor). Its first
//!   layer's weights (1 024 values) are frozen and stay in flash (`Net<S, &'static [S; FROZEN]>`);
//!   the first layer's bias and the whole last layer train: [`TRAINABLE`] = 16 + 170 = 186.
//! - **Data**: `boards/common-data/digits_finetune.rs`, 600 digits of `tests/data/digits.bin`
//!   the host never trained on, as a `const` ETDG file read in flash by
//!   `edgetune_digits::parse` (`examples/digits-data`). The first 300 stream through the new sensor into a
//!   [`SampleBuffer`] (reservoir, capacity `CAP`); the last 300 are the held-out test set.
//! - **Domain shift** (as `examples/adapt`): the new sensor shifts the image one pixel right,
//!   and has gain 0.55 and offset +0.3; it delivers 8-bit levels ([`sensor`]).
//! - **Training**: Adam (lr [`LR`]), [`EPOCHS`] epochs of [`STEPS_PER_EPOCH`] mini-batches of
//!   [`BATCH`] drawn from the buffer, the batch gradient averaged by `GradAccumulator`.
//! - **Verdict**: PASS only if the mean loss over the buffer fell, the held-out shifted accuracy
//!   reached [`THRESHOLD_PCT`] and is above the pretrained network's accuracy on shifted data.
//! - **Instruction counts** (SysTick under `-icount shift=0`): one training step on one sample
//!   and on one mini-batch (forward + backward + Adam update), three steps each, printed as
//!   table rows `| TrainStep1 / TrainStep16 | type | MACs | ticks | instr per MAC |` next to the
//!   multiply-accumulate count of the step ([`MACS_SAMPLE`], [`MACS_BATCH`]).
use core::hint::black_box;

use edgetune_digits as digits;
use edgetune::nn::network::FrozenParams;
use edgetune::nn::Scalar;
use edgetune::num::fixed::I16F16;
use edgetune::optim::{Adam, AdamConfig, AdamNum, Optimizer};
use edgetune::train::{GradAccumulator, SampleBuffer};

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
/// Held-out shifted accuracy the run must reach, percent.
pub const THRESHOLD_PCT: u32 = 75;
/// Multiply-accumulates of one training sample: forward 64·16 + 16·10 = 1 184; backward 16·10
/// (last-layer weight gradients) + 16·10 (gradient into the hidden layer) = 320. (Bias gradients,
/// the ReLU mask, the softmax and the Adam update are not MACs.)
pub const MACS_SAMPLE: usize = 64 * 16 + 16 * 10 + 2 * 16 * 10;
/// Multiply-accumulates of one mini-batch step.
pub const MACS_BATCH: usize = BATCH * MACS_SAMPLE;

/// The adam configuration, usable in a `static` initialiser.
pub const fn adam<S: AdamNum>() -> Adam<S, TRAINABLE> {
    match Adam::new(AdamConfig::adam(LR)) {
        Ok(opt) => opt,
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
            let src = if c == 0 { 0 } else { u32::from(p[r * 8 + c - 1]) };
            out[r * 8 + c] = ((561 * src + 4896 + 32) / 64).min(255) as u8;
        }
    }
    out
}

fn convert<S: Copy>(lut: &[S; 256], px: &[u8; 64]) -> [S; 64] {
    px.map(|b| lut[usize::from(b)])
}

/// Held-out accuracy in tenths of a percent; `shifted` selects the new sensor.
fn accuracy<S: Scalar, F: FrozenParams<S, FROZEN>>(
    net: &mut Net<S, F>,
    set: &digits::Digits<'_>,
    lut: &[S; 256],
    clean: &[S; 17],
    shifted: bool,
) -> u32 {
    let mut correct = 0u32;
    let mut n = 0u32;
    for s in set.iter().skip(data::STREAM) {
        let x = if shifted {
            convert(lut, &sensor(s.pixels))
        } else {
            s.pixels.map(|p| clean[usize::from(p)])
        };
        correct += u32::from(net.predict(&x) == usize::from(s.label));
        n += 1;
    }
    correct * 1000 / n.max(1)
}

/// Mean loss over the buffer (evaluation only), in thousandths.
fn buffer_loss<S: Scalar, F: FrozenParams<S, FROZEN>, const CAP: usize>(
    net: &mut Net<S, F>,
    buf: &SampleBuffer<Rec, CAP>,
    lut: &[S; 256],
) -> Result<u32, edgetune::nn::NnError> {
    let mut sum = 0.0f64;
    for s in buf.iter() {
        sum += net.loss(&convert(lut, &s.px), usize::from(s.label))?.to_f64();
    }
    Ok((sum * 1000.0 / buf.len().max(1) as f64) as u32)
}

/// One training step on one sample: forward, backward, Adam update.
#[inline(never)]
fn step_sample<S: Scalar + AdamNum, F: FrozenParams<S, FROZEN>>(
    net: &mut Net<S, F>,
    opt: &mut Adam<S, TRAINABLE>,
    x: &[S; 64],
    label: usize,
) -> Result<S, StepError> {
    net.zero_grad();
    let loss = net.accumulate(x, label)?;
    let (p, g) = net.trainable_and_grads();
    opt.step(p, g)?;
    Ok(loss)
}

/// One training step on a mini-batch drawn from the buffer: per sample the 8-bit levels are
/// looked up (64 table loads) and accumulated (forward + backward); then the mean gradient and
/// one Adam update. Returns the summed loss.
#[inline(never)]
fn step_batch<S: Scalar + AdamNum, F: FrozenParams<S, FROZEN>, const CAP: usize>(
    net: &mut Net<S, F>,
    opt: &mut Adam<S, TRAINABLE>,
    buf: &SampleBuffer<Rec, CAP>,
    idx: &[usize; BATCH],
    lut: &[S; 256],
) -> Result<f64, StepError> {
    let mut acc = GradAccumulator::new();
    let mut loss = 0.0;
    net.zero_grad();
    for &i in idx {
        let Some(s) = buf.get(i) else {
            return Err(StepError::Index(i));
        };
        loss += net.accumulate(&convert(lut, &s.px), usize::from(s.label))?.to_f64();
        acc.add_sample()?;
    }
    acc.finish(net.grads_mut())?;
    let (p, g) = net.trainable_and_grads();
    opt.step(p, g)?;
    Ok(loss)
}

/// Why a training step failed.
#[derive(Debug)]
pub enum StepError {
    /// The network (an invalid label).
    Nn(edgetune::nn::NnError),
    /// The optimizer (for example a non-finite or out-of-range gradient).
    Optim(edgetune::Error),
    /// Batch bookkeeping.
    Train(edgetune::train::TrainError),
    /// A batch index outside the buffer.
    Index(usize),
}
impl From<edgetune::nn::NnError> for StepError {
    fn from(e: edgetune::nn::NnError) -> Self {
        StepError::Nn(e)
    }
}
impl From<edgetune::Error> for StepError {
    fn from(e: edgetune::Error) -> Self {
        StepError::Optim(e)
    }
}
impl From<edgetune::train::TrainError> for StepError {
    fn from(e: edgetune::train::TrainError) -> Self {
        StepError::Train(e)
    }
}

fn x100(v: u32) -> (u32, u32) {
    (v / 100, v % 100)
}

fn row(name: &str, ty: &str, macs: usize, ticks: &[u32; 3], cpu_hz: u32) {
    let per = ticks.map(|t| instr_x100_per_param(t, macs));
    let instr = ticks.map(|t| (t as u64 * 1_000_000_000 / cpu_hz as u64) as u32);
    let (a, b, c) = (x100(per[0]), x100(per[1]), x100(per[2]));
    defmt::info!(
        "| {=str} | {=str} | {=usize} | {=u32} / {=u32} / {=u32} | {=u32}.{=u32:02} / {=u32}.{=u32:02} / {=u32}.{=u32:02} | ok |",
        name, ty, macs, ticks[0], ticks[1], ticks[2], a.0, a.1, b.0, b.1, c.0, c.1
    );
    defmt::info!(
        "step instructions: {=str}<{=str}>: {=u32} / {=u32} / {=u32} for {=usize} MACs ({=u32}.{=u32:02} instructions per MAC at step 2)",
        name, ty, instr[0], instr[1], instr[2], macs, b.0, b.1
    );
}

macro_rules! tryf {
    ($e:expr, $what:literal) => {
        match $e {
            Ok(v) => v,
            Err(e) => {
                defmt::error!("{=str} failed: {}", $what, defmt::Debug2Format(&e));
                return false;
            }
        }
    };
}

/// The whole fine-tuning run on `net` (frozen part already in place), `opt` and `buf` (statics
/// of the board). `init` are the pretrained trainable parameters. Returns the verdict.
pub fn run<S: Scalar + AdamNum, F: FrozenParams<S, FROZEN>, const CAP: usize>(
    board: &Board,
    ty: &'static str,
    net: &mut Net<S, F>,
    init: &[S; TRAINABLE],
    opt: &mut Adam<S, TRAINABLE>,
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
        "RAM of the training state: network {=usize} B (frozen weights in flash), Adam {=usize} B, sample buffer {=usize} B",
        core::mem::size_of::<Net<S, F>>(),
        core::mem::size_of::<Adam<S, TRAINABLE>>(),
        core::mem::size_of::<SampleBuffer<Rec, CAP>>()
    );

    // The device sees the stream through the new sensor and keeps a reservoir of it.
    for s in set.iter().take(data::STREAM) {
        buf.push(Rec { px: sensor(s.pixels), label: s.label });
    }
    let clean_acc = accuracy(net, &set, &lut, &clean, false);
    let before = accuracy(net, &set, &lut, &clean, true);
    let loss_before = tryf!(buffer_loss(net, buf, &lut), "loss");
    defmt::info!(
        "pretrained: held-out accuracy {=u32}.{=u32} % through the clean sensor, {=u32}.{=u32} % through the new one; buffer loss {=u32}.{=u32:03}",
        clean_acc / 10, clean_acc % 10, before / 10, before % 10, loss_before / 1000, loss_before % 1000
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
                step_batch(black_box(&mut *net), black_box(&mut *opt), buf, black_box(&idx), &lut)
            });
            loss_sum += tryf!(r, "training step");
            if step < 3 {
                batch_ticks[step] = t;
            }
            step += 1;
        }
        let loss = (loss_sum * 1000.0 / (STEPS_PER_EPOCH * BATCH) as f64) as u32;
        after = accuracy(net, &set, &lut, &clean, true);
        defmt::info!(
            "epoch {=usize}/{=usize}: training loss {=u32}.{=u32:03}, held-out shifted accuracy {=u32}.{=u32} %",
            epoch + 1, EPOCHS, loss / 1000, loss % 1000, after / 10, after % 10
        );
    }
    let loss_after = tryf!(buffer_loss(net, buf, &lut), "loss");
    let loss_fell = loss_after < loss_before;
    let reached = after >= THRESHOLD_PCT * 10;
    let improved = after > before;
    defmt::info!(
        "result: held-out shifted accuracy {=u32}.{=u32} % -> {=u32}.{=u32} % (threshold {=u32} %), buffer loss {=u32}.{=u32:03} -> {=u32}.{=u32:03}, {=u32} Adam steps",
        before / 10, before % 10, after / 10, after % 10, THRESHOLD_PCT,
        loss_before / 1000, loss_before % 1000, loss_after / 1000, loss_after % 1000, opt.step_count()
    );
    defmt::info!(
        "checks: loss fell {=bool}, accuracy >= {=u32} % {=bool}, accuracy above pretrained {=bool}",
        loss_fell, THRESHOLD_PCT, reached, improved
    );

    // Instruction counts. Mini-batch: the first three training steps above. One sample: three
    // more steps on buffer samples now, after the verdict's figures were taken.
    let mut sample_ticks = [0u32; 3];
    for (k, t) in sample_ticks.iter_mut().enumerate() {
        let Some(s) = buf.get(k) else { return false };
        let x = convert(&lut, &s.px);
        let label = usize::from(s.label);
        let (dt, r) = measure(|| step_sample(black_box(&mut *net), black_box(&mut *opt), black_box(&x), label));
        tryf!(r, "one-sample step");
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
    loss_fell && reached && improved
}

/// The `#[entry]` body of a board's `finetune` firmware, after its statics are borrowed.
pub fn main<S: Scalar + AdamNum, F: FrozenParams<S, FROZEN>, const CAP: usize>(
    board: &Board,
    ty: &'static str,
    net: &mut Net<S, F>,
    init: &[S; TRAINABLE],
    opt: &mut Adam<S, TRAINABLE>,
    buf: &mut SampleBuffer<Rec, CAP>,
) -> ! {
    let mut ok = crate::start(board, "edgetune on-device fine-tuning");
    ok &= run(board, ty, net, init, opt, buf);
    ok &= crate::memory_report(board);
    crate::exit("finetune", ok)
}
