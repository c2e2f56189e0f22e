//! Pretrains the 64-16-10 digits network that the `finetune` firmware of every board fine-tunes,
//! with edgetune itself, on the host; then writes `boards/common-data/digits_finetune.rs`:
//! the pretrained weights as `const` arrays (f32 and I16F16 bits) and the device's digits (a
//! subset of `tests/data/digits.bin` the host never trained on) as a `const` ETDG file that the
//! firmware reads with `edgetune_digits::parse` (`examples/digits-data`).
//!
//! It also simulates the firmware's fine-tuning on the host (same sensor, buffer, batches and
//! optimizer), at f32 and I16F16, and prints the numbers the firmware should reproduce.
//!
//! Run from this directory: `cargo run --release` (writes the file; about a second).
use edgetune_digits as digits;
use edgetune::nn::Scalar;
use edgetune::num::fixed::I16F16;
use edgetune::optim::{Adam, AdamConfig, AdamNum, Optimizer};
use edgetune::train::{GradAccumulator, Policy, SampleBuffer};
use std::fmt::Write as _;

const DIGITS: &[u8] = include_bytes!("../../../../tests/data/digits.bin");
const OUT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../common-data/digits_finetune.rs");

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

fn shuffle<T>(v: &mut [T], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        let j = (seed.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % (i + 1);
        v.swap(i, j);
    }
}

/// The new sensor: one-pixel shift right, gain 0.55, offset +0.3, as 8-bit levels (integer exact,
/// the same function as the firmware's).
fn sensor(p: &[u8; 64]) -> [u8; 64] {
    let mut out = [0u8; 64];
    for r in 0..8 {
        for c in 0..8 {
            let src = if c == 0 { 0 } else { u32::from(p[r * 8 + c - 1]) };
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

fn simulate<S: Scalar + AdamNum>(name: &str, pretrained: &[f32], device: &[Rec]) {
    let all: Vec<S> = pretrained.iter().map(|&w| S::from_f64(f64::from(w))).collect();
    let mut net = Device::<S>::zeroed();
    net.import(&all).unwrap();
    let (stream, test) = device.split_at(STREAM);
    let acc = |net: &mut Device<S>| {
        test.iter().filter(|s| net.predict(&x_of(&sensor(&s.px))) == usize::from(s.label)).count()
            as f64
            * 100.0
            / test.len() as f64
    };
    let before = acc(&mut net);
    let mut buf = SampleBuffer::<Rec, BUFFER>::new(Policy::Reservoir, 7);
    for s in stream {
        buf.push(Rec { px: sensor(&s.px), label: s.label });
    }
    let mut opt = Adam::<S, { Device::<f32>::TRAINABLE }>::new(AdamConfig::adam(LR)).unwrap();
    let mut ga = GradAccumulator::new();
    let mut first = 0.0;
    let mut last = 0.0;
    for e in 0..EPOCHS {
        let mut loss = 0.0;
        for _ in 0..STEPS_PER_EPOCH {
            let mut idx = [0usize; BATCH];
            buf.draw_batch(&mut idx).unwrap();
            net.zero_grad();
            for &i in &idx {
                let s = buf.get(i).unwrap();
                loss += net.accumulate(&x_of(&s.px), usize::from(s.label)).unwrap().to_f64();
                ga.add_sample().unwrap();
            }
            ga.finish(net.grads_mut()).unwrap();
            let (p, g) = net.trainable_and_grads();
            opt.step(p, g).unwrap();
        }
        loss /= (STEPS_PER_EPOCH * BATCH) as f64;
        if e == 0 {
            first = loss;
        }
        last = loss;
        if e % 5 == 4 || e == 0 {
            println!("  [{name}] epoch {:>2}: loss {loss:.4}, held-out {:.1} %", e + 1, acc(&mut net));
        }
    }
    println!("  [{name}] before {before:.1} %, after {:.1} %, loss {first:.4} -> {last:.4}", acc(&mut net));
}

fn main() {
    let data = digits::parse(DIGITS).expect("valid digits file");
    let mut all: Vec<Rec> =
        data.iter().map(|s| Rec { px: *s.pixels, label: s.label }).collect();
    shuffle(&mut all, 0x00ED_6E7E);
    let (host, rest) = all.split_at(PRETRAIN);
    let device = &rest[..STREAM + TEST];

    // Pretraining (f32, Adam 3e-3, mini-batches of 32, 40 epochs), as examples/adapt does.
    let mut net = Full::<f32>::zeroed();
    let mut init = vec![0.0f32; Full::<f32>::PARAMS];
    let mut seed = 0x5EED_u64;
    for (i, w) in init.iter_mut().enumerate() {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let u = (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
        let fan_in = if i < 64 * 16 + 16 { 64.0f32 } else { 16.0 };
        *w = u * 2.0 / fan_in.sqrt();
    }
    net.import(&init).unwrap();
    let mut opt = Adam::<f32, { Full::<f32>::TRAINABLE }>::new(AdamConfig::adam(3e-3)).unwrap();
    let mut order: Vec<usize> = (0..host.len()).collect();
    for epoch in 0..40 {
        shuffle(&mut order, epoch as u64 + 1);
        for batch in order.chunks(32) {
            net.zero_grad();
            for &i in batch {
                net.accumulate(&clean(&host[i].px), usize::from(host[i].label)).unwrap();
            }
            let scale = 1.0 / batch.len() as f32;
            net.grads_mut().iter_mut().for_each(|g| *g *= scale);
            let (p, g) = net.trainable_and_grads();
            opt.step(p, g).unwrap();
        }
    }
    let clean_acc = device
        .iter()
        .filter(|s| net.predict(&clean(&s.px)) == usize::from(s.label))
        .count() as f64
        * 100.0
        / device.len() as f64;
    let mut w = vec![0.0f32; Full::<f32>::PARAMS];
    net.export(&mut w).unwrap();
    println!("pretrained 64-16-10 on {PRETRAIN} digits: {clean_acc:.1} % on the device's {} digits (clean sensor)", device.len());
    simulate::<f32>("f32", &w, device);
    simulate::<I16F16>("I16F16", &w, device);

    // The ETDG file of the device's digits (clean; the firmware applies the new sensor).
    let mut file = b"ETDG\x01\x00\x00\x00".to_vec();
    file.extend_from_slice(&(device.len() as u32).to_le_bytes());
    for s in device {
        file.extend_from_slice(&s.px);
        file.push(s.label);
    }
    let crc = edgetune::io::crc32(&file);
    file.extend_from_slice(&crc.to_le_bytes());
    digits::parse(&file).expect("the subset file is valid");

    let mut o = String::new();
    o.push_str("// @generated by boards/tools/pretrain (`cargo run --release` there); do not edit.\n");
    o.push_str("// The finetune firmware's data: a 64-16-10 ReLU MLP pretrained with edgetune on the host\n");
    writeln!(o, "// (f32, Adam 3e-3, 40 epochs, batches of 32) on {PRETRAIN} digits of tests/data/digits.bin,").unwrap();
    writeln!(o, "// and {} other digits (the first {STREAM} stream to the device, the last {TEST} are held out),", device.len()).unwrap();
    o.push_str("// as an ETDG file (edgetune_digits) with the clean sensor's pixels.\n\n");
    writeln!(o, "/// Accuracy of the pretrained network on these digits through the clean sensor, in tenths of a percent.").unwrap();
    writeln!(o, "pub const CLEAN_ACCURACY_X10: u32 = {};", (clean_acc * 10.0).round() as u32).unwrap();
    writeln!(o, "/// Samples streamed to the device (the first ones of [`DIGITS`]).\npub const STREAM: usize = {STREAM};").unwrap();
    writeln!(o, "/// Held-out samples (the last ones of [`DIGITS`]).\npub const TEST: usize = {TEST};").unwrap();
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
}
