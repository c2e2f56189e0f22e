//! The main demo: a digits classifier is pretrained on the host, shipped, meets a shifted
//! sensor on the device, loses accuracy, and gets it back by fine-tuning on the device with a
//! device-sized budget.
//!
//! ```text
//! cargo run --release --example adapt
//! ```
//! Data: scikit-learn's 8×8 digits (1,797 samples; `tests/data/digits.bin`, see
//! `scripts/README.md` for source and licence). The first 1,000 samples (in a fixed shuffled
//! order) pretrain a 64-32-10 MLP with edgetune itself, in f32. The remaining 797 are the
//! device's world, seen through a changed sensor: gain 0.55, offset +0.3, and the image shifted
//! one pixel right. 300 of them stream through the device's sample buffer and are all it
//! learns from; the other 497 are the held-out shifted test set.
//!
//! The same fine-tuning run (same pretrained weights, same sample order, same mini-batches) is
//! done with the plain f64 reference network, with the generic code at f32, and in fixed point
//! (I16F16), and the table compares them. Loss and accuracy curves go to an SVG.

mod svg;

use edgetune::io::digits::{self, Sample};
use edgetune::nn::Scalar;
use edgetune::optim::{Adam, AdamConfig, AdamNum, Optimizer};
use edgetune::train::{GradAccumulator, Policy, SampleBuffer};
use std::time::Instant;

const DIGITS: &[u8] = include_bytes!("../../tests/data/digits.bin");

edgetune::mlp! {
    /// The classifier, every layer trained (pretraining on the host, and full fine-tuning).
    pub struct Digits {
        dense 64 -> 32, relu;
        dense 32 -> 10;
        loss softmax_cross_entropy;
    }
}

/// Pretraining and fine-tuning schedule.
const PRETRAIN: usize = 1000;
const DEVICE_SAMPLES: usize = 300;
const BUFFER: usize = 256;
const BATCH: usize = 16;
const PRETRAIN_EPOCHS: usize = 30;
const FINETUNE_EPOCHS: usize = 25;
const STEPS_PER_EPOCH: usize = 20;

type Image = [f32; 64];

/// The sensor change on the device: gain, offset, and a one-pixel shift to the right.
fn shifted(x: &Image) -> Image {
    let mut out = [0.0f32; 64];
    for r in 0..8 {
        for c in 0..8 {
            let src = if c == 0 { 0.0 } else { x[r * 8 + c - 1] };
            out[r * 8 + c] = (0.55 * src + 0.3).min(1.0);
        }
    }
    out
}

/// A deterministic shuffle (xorshift64*), so every run and every number type sees the same data.
fn shuffle<T>(v: &mut [T], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        let j = (seed.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % (i + 1);
        v.swap(i, j);
    }
}

/// One labelled sample as the device stores it.
#[derive(Clone, Copy)]
struct Labelled {
    x: Image,
    label: usize,
}

fn convert<S: Scalar>(x: &Image) -> [S; 64] {
    x.map(|v| S::from_f64(f64::from(v)))
}

/// Accuracy in percent of `net` over `set`.
fn accuracy<S: Scalar>(net: &mut Digits<S>, set: &[Labelled]) -> f64 {
    let correct = set
        .iter()
        .filter(|s| net.predict(&convert(&s.x)) == s.label)
        .count();
    100.0 * correct as f64 / set.len() as f64
}

/// What one fine-tuning run reports.
struct Report {
    name: &'static str,
    before: f64,
    after: f64,
    train_bytes: usize,
    steps: u32,
    seconds: f64,
    curve: Vec<(f64, f64)>,
}

/// Mini-batches drawn from the device's sample buffer: one list of sample indices per step,
/// drawn once so that every number type trains on exactly the same batches.
fn batches(buffer: &mut SampleBuffer<Labelled, BUFFER>) -> Vec<[usize; BATCH]> {
    (0..FINETUNE_EPOCHS * STEPS_PER_EPOCH)
        .map(|_| {
            let mut idx = [0usize; BATCH];
            buffer
                .draw_batch(&mut idx)
                .expect("buffer holds more than a batch");
            idx
        })
        .collect()
}

/// Fine-tunes a copy of the pretrained weights at number type `S` and reports.
fn finetune<S>(
    name: &'static str,
    pretrained: &[f32],
    samples: &[Labelled],
    batches: &[[usize; BATCH]],
    test: &[Labelled],
) -> Report
where
    S: Scalar + AdamNum,
{
    let start = Instant::now();
    let mut net = Digits::<S>::zeroed();
    let weights: Vec<S> = pretrained
        .iter()
        .map(|&w| S::from_f64(f64::from(w)))
        .collect();
    net.import(&weights).expect("weights fit");
    let before = accuracy(&mut net, test);
    let mut opt = Adam::<S, { Digits::<f32>::TRAINABLE }>::new(AdamConfig::adam(3e-3))
        .expect("valid configuration");
    let mut acc = GradAccumulator::new();
    let mut curve = Vec::new();
    for (epoch, chunk) in batches.chunks(STEPS_PER_EPOCH).enumerate() {
        let mut loss_sum = 0.0;
        for batch in chunk {
            net.zero_grad();
            for &i in batch {
                let s = &samples[i];
                let loss = net
                    .accumulate(&convert(&s.x), s.label)
                    .expect("valid label");
                loss_sum += loss.to_f64();
                acc.add_sample().expect("few samples");
            }
            // Mean over the mini-batch, in place in the gradient arena.
            acc.finish(net.grads_mut()).expect("a full batch");
            let (params, grads) = net.trainable_and_grads();
            opt.step(params, grads).expect("finite gradients");
        }
        let loss = loss_sum / (chunk.len() * BATCH) as f64;
        let acc_now = accuracy(&mut net, test);
        println!(
            "  [{name:>13}] epoch {:>2}/{FINETUNE_EPOCHS}: loss {loss:.4}, held-out shifted accuracy {acc_now:.1} %",
            epoch + 1
        );
        curve.push((loss, acc_now));
    }
    Report {
        name,
        before,
        after: accuracy(&mut net, test),
        train_bytes: core::mem::size_of::<Digits<S>>()
            + core::mem::size_of::<Adam<S, { Digits::<f32>::TRAINABLE }>>(),
        steps: opt.step_count(),
        seconds: start.elapsed().as_secs_f64(),
        curve,
    }
}

fn main() {
    let data = digits::parse(DIGITS).expect("the committed digits file is valid");
    let mut all: Vec<Labelled> = data
        .iter()
        .map(|s: Sample<'_>| Labelled {
            x: s.to_f32(),
            label: usize::from(s.label),
        })
        .collect();
    shuffle(&mut all, 0x00ED_6E7E);
    let (host, device) = all.split_at(PRETRAIN);
    let device: Vec<Labelled> = device
        .iter()
        .map(|s| Labelled {
            x: shifted(&s.x),
            label: s.label,
        })
        .collect();
    let (stream, test) = device.split_at(DEVICE_SAMPLES);
    println!(
        "edgetune adapt: digits 8x8, {} pretraining samples (host), {} device samples through a \
         {BUFFER}-sample buffer, {} held-out shifted samples",
        host.len(),
        stream.len(),
        test.len()
    );

    // 1. Pretrain on the host with edgetune itself (f32, Adam, mini-batches of 32).
    let t0 = Instant::now();
    let mut net = Digits::<f32>::zeroed();
    let mut init = [0.0f32; Digits::<f32>::PARAMS];
    let mut seed = 0x5EED_u64;
    for (i, w) in init.iter_mut().enumerate() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let u = (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
        let fan_in = if i < 64 * 32 + 32 { 64.0f32 } else { 32.0 };
        *w = u * 2.0 / fan_in.sqrt();
    }
    net.import(&init).expect("length");
    let mut opt = Adam::<f32, { Digits::<f32>::TRAINABLE }>::new(AdamConfig::adam(3e-3))
        .expect("valid configuration");
    let mut order: Vec<usize> = (0..host.len()).collect();
    for epoch in 0..PRETRAIN_EPOCHS {
        shuffle(&mut order, epoch as u64 + 1);
        for batch in order.chunks(32) {
            net.zero_grad();
            for &i in batch {
                net.accumulate(&host[i].x, host[i].label)
                    .expect("valid label");
            }
            let (params, grads) = net.trainable_and_grads();
            let scale = 1.0 / batch.len() as f32;
            let mean = grads.map(|g| g * scale);
            opt.step(params, &mean).expect("finite gradients");
        }
    }
    let clean_acc = accuracy(&mut net, &all[PRETRAIN..]);
    let mut pretrained = [0.0f32; Digits::<f32>::PARAMS];
    net.export(&mut pretrained).expect("length");
    println!(
        "pretrained in {:.2} s: accuracy {:.1} % on the device's digits through the old sensor",
        t0.elapsed().as_secs_f64(),
        clean_acc
    );

    // 2. The device: the samples stream through a fixed-capacity buffer (the most recent
    //    BUFFER are kept) and mini-batches are drawn from it.
    let mut buffer = SampleBuffer::<Labelled, BUFFER>::new(Policy::Recent, 7);
    for s in stream {
        buffer.push(*s);
    }
    let samples: Vec<Labelled> = buffer.as_slice().to_vec();
    let batches = batches(&mut buffer);

    let reports = [
        finetune::<f64>("f64 generic", &pretrained, &samples, &batches, test),
        finetune::<f32>("f32", &pretrained, &samples, &batches, test),
    ];

    println!();
    println!(
        "{:<13} {:>10} {:>10} {:>16} {:>6} {:>8}",
        "number type", "before %", "after %", "training RAM B", "steps", "time s"
    );
    for r in &reports {
        println!(
            "{:<13} {:>10.1} {:>10.1} {:>16} {:>6} {:>8.3}",
            r.name, r.before, r.after, r.train_bytes, r.steps, r.seconds
        );
    }
    let path = std::path::Path::new("target").join("adapt.svg");
    let curves: Vec<(&str, &[(f64, f64)])> = reports
        .iter()
        .map(|r| (r.name, r.curve.as_slice()))
        .collect();
    match svg::write(&path, &curves) {
        Ok(()) => println!("\nloss and accuracy curves: {}", path.display()),
        Err(e) => println!("\ncould not write {}: {e}", path.display()),
    }
}
