//! Pretrains the 64-16-10 digits network that the `finetune` firmware of every board fine-tunes,
//! with edgetune itself, on the host; then writes `boards/common-data/digits_finetune.rs`:
//! the pretrained weights as `const` arrays (f32, I16F16 and I4F12 bits) and the device's digits (a
//! subset of `tests/data/digits.bin` the host never trained on) as a `const` ETDG file that the
//! firmware reads with `edgetune_digits::parse` (`examples/digits-data`).
//!
//! It also simulates the firmware's fine-tuning on the host (same sensor, buffer, batches, order,
//! number of steps and optimizer, from the same parameter bits), at f32, I16F16 and I4F12, prints the
//! numbers the firmware should reproduce and writes its held-out accuracies into the file
//! (`EXPECTED_*_X10_F32`, `EXPECTED_*_X10_I16F16`, `EXPECTED_*_X10_I4F12`): the firmware's training is bit-identical
//! to this simulation, so its verdict requires the same accuracy after fine-tuning.
//!
//! Data order: [`Pcg32::shuffle`]; initial weights: `Init::TorchDefault` (seeds [`SPLIT_SEED`],
//! the epoch number, [`INIT_SEED`]).
//!
//! Run from this directory: `cargo run --release` (writes the file; about a second).
use edgetune::nn::{Init, Network, Scalar};
use edgetune::num::fixed::{I16F16, I4F12};
use edgetune::optim::{Adam, AdamConfig, AdamNum};
use edgetune::train::{evaluate, Pcg32, Policy, SampleBuffer, Trainer};
use edgetune::Error;
use edgetune_digits as digits;
use std::fmt::Write as _;

const DIGITS: &[u8] = include_bytes!("../../../../tests/data/digits.bin");
const OUT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../common-data/digits_finetune.rs"
);

edgetune::mlp! {
    /// Pretraining: every layer trained.
    struct Full {
        dense 64 -> 16, relu;
        dense 16 -> 10;
        loss softmax_cross_entropy;
    }
}
edgetune::mlp! {
    /// The device's mode: first-layer weights frozen (in flash), its bias and the head train.
    struct Device {
        dense 64 -> 16, relu, bias;
        dense 16 -> 10;
        loss softmax_cross_entropy;
    }
}

const PRETRAIN: usize = 1000;
const STREAM: usize = 300;
const TEST: usize = 300;
// Keep in step with boards/bench-common/src/finetune.rs.
const BUFFER: usize = 128;
const BATCH: usize = 16;
const EPOCHS: usize = 25;
const STEPS_PER_EPOCH: usize = 10;
const LR: f64 = 3e-2;

/// Seed of the split of `tests/data/digits.bin` into the host's and the device's digits
/// ([`Pcg32::shuffle`]).
const SPLIT_SEED: u64 = 0x00ED_6E7E;
/// Seed of the initial weights (`Init::TorchDefault`).
const INIT_SEED: u64 = 0x5EED;

/// The new sensor: one-pixel shift right, gain 0.55, offset +0.3, as 8-bit levels (integer exact,
/// the same function as the firmware's).
fn sensor(p: &[u8; 64]) -> [u8; 64] {
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

fn x_of<S: Scalar>(b: &[u8; 64]) -> [S; 64] {
    b.map(|v| S::from_f64(f64::from(v) / 255.0))
}

fn clean<S: Scalar>(p: &[u8; 64]) -> [S; 64] {
    p.map(|v| S::from_f64(f64::from(v) / 16.0))
}

#[derive(Clone, Copy)]
struct Rec {
    px: [u8; 64],
    label: u8,
}

/// Accuracy in tenths of a percent, computed as the firmware does (`finetune.rs`, `accuracy`):
/// the hit count back from the fraction, then `hits * 1000 / n` (truncated).
fn accuracy_x10<S: Scalar, N: Network<S, Target = usize>>(
    net: &N,
    set: &[([S; 64], usize)],
) -> Result<u32, Error> {
    let n = set.len();
    let hits = (evaluate(net, set)?.accuracy.unwrap_or(0.0) * n as f64 + 0.5) as u32;
    Ok(hits * 1000 / (n as u32).max(1))
}

fn pct(x10: u32) -> String {
    format!("{}.{} %", x10 / 10, x10 % 10)
}

/// Held-out accuracies of one simulated fine-tuning run, tenths of a percent.
struct Outcome {
    clean: u32,
    before: u32,
    after: u32,
}

/// The firmware's run (`boards/bench-common/src/finetune.rs`, `run`) on the host, from `all`, the
/// parameters with the firmware's bits (f32: `PRETRAINED_F32`; I16F16: `PRETRAINED_I16F16_BITS`):
/// the first `STREAM` device digits through the new sensor into a reservoir buffer (capacity and
/// seed as the boards' `BUF`), then `EPOCHS` x `STEPS_PER_EPOCH` steps, each drawing a batch of
/// `BATCH` from the buffer (`step_buffer` = `draw_batch` + the firmware's `step_with` over the
/// same samples in the same order, bit for bit), evaluated on the last `TEST` digits.
fn simulate<S: Scalar + AdamNum>(name: &str, all: &[S], device: &[Rec]) -> Result<Outcome, Error> {
    let mut net = Device::<S>::zeroed();
    net.import(all)?;
    let (stream, test) = device.split_at(STREAM);
    let clean_test: Vec<([S; 64], usize)> = test
        .iter()
        .map(|s| (clean(&s.px), usize::from(s.label)))
        .collect();
    let test: Vec<([S; 64], usize)> = test
        .iter()
        .map(|s| (x_of(&sensor(&s.px)), usize::from(s.label)))
        .collect();
    let clean_acc = accuracy_x10(&net, &clean_test)?;
    let before = accuracy_x10(&net, &test)?;
    let mut buf = SampleBuffer::<([S; 64], usize), BUFFER>::new(Policy::Reservoir, 7);
    for s in stream {
        buf.push((x_of(&sensor(&s.px)), usize::from(s.label)));
    }
    let mut trainer = Trainer::new(Adam::<S, { Device::<f32>::TRAINABLE }>::new(
        AdamConfig::adam(LR),
    )?);
    let mut first = 0.0;
    let mut last = 0.0;
    let mut after = before;
    for e in 0..EPOCHS {
        let mut loss = 0.0;
        for _ in 0..STEPS_PER_EPOCH {
            let mut idx = [0usize; BATCH];
            loss += trainer.step_buffer(&mut net, &mut buf, &mut idx)?;
        }
        loss /= STEPS_PER_EPOCH as f64;
        if e == 0 {
            first = loss;
        }
        last = loss;
        after = accuracy_x10(&net, &test)?;
        if e % 5 == 4 || e == 0 {
            println!(
                "  [{name}] epoch {:>2}: loss {loss:.4}, held-out {}",
                e + 1,
                pct(after)
            );
        }
    }
    println!(
        "  [{name}] held-out clean {}, shifted before {}, after {}, loss {first:.4} -> {last:.4}, {} steps",
        pct(clean_acc),
        pct(before),
        pct(after),
        EPOCHS * STEPS_PER_EPOCH
    );
    Ok(Outcome {
        clean: clean_acc,
        before,
        after,
    })
}

fn main() -> Result<(), Error> {
    let data = digits::parse(DIGITS)?;
    let mut all: Vec<Rec> = data
        .iter()
        .map(|s| Rec {
            px: *s.pixels,
            label: s.label,
        })
        .collect();
    Pcg32::seeded(SPLIT_SEED).shuffle(&mut all);
    let (host, rest) = all.split_at(PRETRAIN);
    let device = &rest[..STREAM + TEST];

    // Pretraining (f32, Adam 3e-3, mini-batches of 32, 40 epochs).
    let mut net = Full::<f32>::zeroed();
    net.init(Init::TorchDefault, INIT_SEED)?;
    let mut trainer = Trainer::new(Adam::<f32, { Full::<f32>::TRAINABLE }>::new(
        AdamConfig::adam(3e-3),
    )?);
    let host: Vec<([f32; 64], usize)> = host
        .iter()
        .map(|s| (clean(&s.px), usize::from(s.label)))
        .collect();
    let mut order: Vec<usize> = (0..host.len()).collect();
    for epoch in 0..40 {
        Pcg32::seeded(epoch as u64 + 1).shuffle(&mut order);
        for batch in order.chunks(32) {
            let batch: Vec<_> = batch.iter().map(|&i| host[i]).collect();
            trainer.step_batch(&mut net, &batch)?;
        }
    }
    let clean_set: Vec<([f32; 64], usize)> = device
        .iter()
        .map(|s| (clean(&s.px), usize::from(s.label)))
        .collect();
    let clean_acc = accuracy_x10(&net, &clean_set)?;
    let mut w = vec![0.0f32; Full::<f32>::PARAMS];
    net.export(&mut w)?;
    println!(
        "pretrained 64-16-10 on {PRETRAIN} digits: {} on the device's {} digits (clean sensor)",
        pct(clean_acc),
        device.len()
    );
    // The firmware's parameter bits: f32 as written, I16F16 as `PRETRAINED_I16F16_BITS`.
    let f32_run = simulate::<f32>("f32", &w, device)?;
    let fixed: Vec<I16F16> = w.iter().map(|&v| I16F16::from_num(v)).collect();
    let fixed_run = simulate::<I16F16>("I16F16", &fixed, device)?;
    // 16-bit storage: `PRETRAINED_I4F12_BITS` (every pretrained value lies inside [-8, 8)).
    assert!(
        w.iter().all(|v| v.abs() < 7.9),
        "a weight beyond I4F12's range"
    );
    let fixed16: Vec<I4F12> = w.iter().map(|&v| I4F12::from_num(v)).collect();
    let fixed16_run = simulate::<I4F12>("I4F12", &fixed16, device)?;

    // The ETDG file of the device's digits (clean; the firmware applies the new sensor).
    let mut file = b"ETDG\x01\x00\x00\x00".to_vec();
    file.extend_from_slice(&(device.len() as u32).to_le_bytes());
    for s in device {
        file.extend_from_slice(&s.px);
        file.push(s.label);
    }
    let crc = edgetune::io::crc32(&file);
    file.extend_from_slice(&crc.to_le_bytes());
    digits::parse(&file)?;

    let mut o = String::new();
    o.push_str(
        "// @generated by boards/tools/pretrain (`cargo run --release` there); do not edit.\n",
    );
    o.push_str("// The finetune firmware's data: a 64-16-10 ReLU MLP pretrained with edgetune on the host\n");
    writeln!(o, "// (f32, Adam 3e-3, 40 epochs, batches of 32) on {PRETRAIN} digits of tests/data/digits.bin,").unwrap();
    writeln!(o, "// and {} other digits (the first {STREAM} stream to the device, the last {TEST} are held out),", device.len()).unwrap();
    o.push_str("// as an ETDG file (edgetune_digits) with the clean sensor's pixels.\n\n");
    writeln!(o, "/// Accuracy of the pretrained network (f32) on all these digits through the clean sensor, in tenths of a percent.").unwrap();
    writeln!(o, "pub const CLEAN_ACCURACY_X10: u32 = {clean_acc};").unwrap();
    for (ty, run) in [
        ("F32", &f32_run),
        ("I16F16", &fixed_run),
        ("I4F12", &fixed16_run),
    ] {
        let t = if ty == "F32" { "f32" } else { ty };
        writeln!(o, "/// Host simulation, {t}: held-out accuracy of the pretrained network through the clean sensor, tenths of a percent.").unwrap();
        writeln!(o, "pub const EXPECTED_CLEAN_X10_{ty}: u32 = {};", run.clean).unwrap();
        writeln!(o, "/// Host simulation, {t}: held-out accuracy of the pretrained network through the new sensor, tenths of a percent.").unwrap();
        writeln!(
            o,
            "pub const EXPECTED_BEFORE_X10_{ty}: u32 = {};",
            run.before
        )
        .unwrap();
        writeln!(o, "/// Host simulation, {t}: held-out accuracy through the new sensor after the firmware's fine-tuning, tenths of a\n/// percent; the firmware's verdict requires exactly this figure.").unwrap();
        writeln!(o, "pub const EXPECTED_AFTER_X10_{ty}: u32 = {};", run.after).unwrap();
    }
    writeln!(o, "/// Samples streamed to the device (the first ones of [`DIGITS`]).\npub const STREAM: usize = {STREAM};").unwrap();
    writeln!(
        o,
        "/// Held-out samples (the last ones of [`DIGITS`]).\npub const TEST: usize = {TEST};"
    )
    .unwrap();
    writeln!(o, "/// Parameters of the 64-16-10 network, torch order (W0 row by row, b0, W1, b1).\npub const PARAMS: usize = {};", w.len()).unwrap();
    o.push_str("/// The pretrained parameters in f32.\n#[rustfmt::skip]\npub const PRETRAINED_F32: [f32; PARAMS] = [\n");
    for chunk in w.chunks(8) {
        o.push_str("   ");
        for v in chunk {
            write!(o, " {v:?},").unwrap();
        }
        o.push('\n');
    }
    o.push_str("];\n/// The same parameters in I16F16 (`I16F16::from_num(w).to_bits()`).\n#[rustfmt::skip]\npub const PRETRAINED_I16F16_BITS: [i32; PARAMS] = [\n");
    for chunk in w.chunks(10) {
        o.push_str("   ");
        for v in chunk {
            write!(o, " {},", I16F16::from_num(*v).to_bits()).unwrap();
        }
        o.push('\n');
    }
    o.push_str("];\n/// The same parameters in I4F12 (`I4F12::from_num(w).to_bits()`).\n#[rustfmt::skip]\npub const PRETRAINED_I4F12_BITS: [i16; PARAMS] = [\n");
    for chunk in w.chunks(10) {
        o.push_str("   ");
        for v in chunk {
            write!(o, " {},", I4F12::from_num(*v).to_bits()).unwrap();
        }
        o.push('\n');
    }
    writeln!(o, "];\n/// The device's digits as an ETDG file ({} bytes).\n#[rustfmt::skip]\npub const DIGITS: [u8; {}] = [", file.len(), file.len()).unwrap();
    for chunk in file.chunks(20) {
        o.push_str("   ");
        for b in chunk {
            write!(o, " {b},").unwrap();
        }
        o.push('\n');
    }
    o.push_str("];\n");
    std::fs::write(OUT, o).unwrap();
    println!("wrote {OUT}");
    Ok(())
}
