//! Pretrains the 1-D CNN that the `cnn` firmware of every QEMU board fine-tunes, with edgetune
//! itself, on the host, on BasicMotions (`examples/basicmotions-data`); then writes
//! `boards/common-data/har_finetune.rs`: the pretrained weights (f32 and I16F16 bits), the
//! device's 40 recordings as 8-bit levels with their labels, and the figures of the host's
//! simulation of the firmware's fine-tuning.
//!
//! - Levels: `round((x − TRAIN_MEAN[c]) / TRAIN_STD[c] · 32)` clamped to `−128..=127`, for every
//!   recording (train and test split).
//! - Pretraining: every layer of the same architecture trained (`Full`), on the 40 train-split
//!   recordings through the clean sensor, windows of 40 steps at offsets 0, 10, ..., 60 (280
//!   windows), f32, Adam lr [`PRE_LR`], [`PRE_EPOCHS`] epochs of mini-batches of [`PRE_BATCH`],
//!   order by `Pcg32::shuffle`, initial weights `Init::TorchDefault` (batch norms identity).
//! - Device recordings: the 40 test-split recordings, per class alternately fine-tuning (first
//!   20 of the file) and held-out (last 20).
//! - Simulation: `bench-common/src/har_core.rs`, the code the firmware runs (included here with
//!   `#[path]`), at f32 and at I16F16, from the same parameter bits: the held-out accuracy of the
//!   pretrained network through the clean and the new sensor, after fine-tuning, the loss over
//!   the fine-tuning windows before and after, and a hash of the trained parameters. The firmware
//!   must reproduce them exactly (`EXPECTED_*`).
//!
//! Run from this directory: `cargo run --release` (a few seconds); `cargo run --release -- FILE`
//! writes FILE instead (to compare with the committed file). scripts/embedded.sh does not run this
//! tool: the firmware itself fails when the library computes anything else than this file says.
#[path = "../../../bench-common/src/har_core.rs"]
#[allow(dead_code)] // the firmware uses the rest
mod har_core;

mod expected;

use edgetune::nn::{Init, Network, Scalar};
use edgetune::num::fixed::I16F16;
use edgetune::optim::{Adam, AdamConfig, AdamNum};
use edgetune::train::{Pcg32, Trainer};
use edgetune::Error;
use edgetune_basicmotions as bm;
use expected::Outcome;
use har_core::*;
use std::fmt::Write as _;

const OUT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../common-data/har_finetune.rs"
);
const PRE_LR: f64 = 1e-2;
const PRE_EPOCHS: usize = 60;
const PRE_BATCH: usize = 16;
const PRE_OFFSETS: [usize; 7] = [0, 10, 20, 30, 40, 50, 60];
const PRE_ORDER_SEED: u64 = 0x50_5245;
const INIT_SEED: u64 = 0x4841_52;

edgetune::cnn! {
    /// Pretraining: the device's architecture, every layer trained.
    struct Full {
        input [40, 6];
        conv1d(6, 8, 5, stride = 2, padding = same);
        batch_norm(8), relu;
        conv1d(8, 8, 3, stride = 2, padding = same);
        batch_norm(8), relu;
        global_avg_pool;
        dense(8, 4);
        loss softmax_cross_entropy;
    }
}

fn levels(s: &bm::Sample<'_>) -> [i8; REC_VALUES] {
    let x = s.to_f32();
    let mut out = [0i8; REC_VALUES];
    for (i, (o, &v)) in out.iter_mut().zip(&x).enumerate() {
        let c = i % CH;
        let z = (f64::from(v) - f64::from(bm::TRAIN_MEAN[c])) / f64::from(bm::TRAIN_STD[c]);
        *o = (z * LEVELS_PER_STD).round().clamp(-128.0, 127.0) as i8;
    }
    out
}

/// Pretrains `Full` in f32 on the train recordings' clean windows; returns torch-order params.
fn pretrain(train: &[([i8; REC_VALUES], u8)]) -> Result<Vec<f32>, Error> {
    let lut = lut::<f32>();
    let mut net = Full::<f32>::zeroed();
    net.init(Init::TorchDefault, INIT_SEED)?;
    let mut trainer = Trainer::new(Adam::<f32, { Full::<f32>::TRAINABLE }>::new(
        AdamConfig::adam(PRE_LR),
    )?);
    let windows: Vec<(usize, usize)> = (0..train.len())
        .flat_map(|r| PRE_OFFSETS.iter().map(move |&o| (r, o)))
        .collect();
    let conv = |&(r, o): &(usize, usize), x: &mut [f32; INPUTS]| {
        let mut lv = [0u8; INPUTS];
        clean(&train[r].0, o, &mut lv);
        for (v, &l) in x.iter_mut().zip(&lv) {
            *v = lut[usize::from(l)];
        }
        usize::from(train[r].1)
    };
    for epoch in 0..PRE_EPOCHS {
        let mut idx: Vec<usize> = (0..windows.len()).collect();
        Pcg32::new(PRE_ORDER_SEED, epoch as u64).shuffle(&mut idx);
        let mut loss = 0.0;
        let mut steps = 0;
        for b in idx.chunks(PRE_BATCH) {
            loss += trainer.step_with(&mut net, b.len(), |k, x: &mut [f32; INPUTS]| {
                Ok(conv(&windows[b[k]], x))
            })?;
            steps += 1;
        }
        if epoch % 10 == 9 {
            let mut hits = 0;
            for w in &windows {
                let mut x = [0.0f32; INPUTS];
                let label = conv(w, &mut x);
                hits += usize::from(net.predict(&x)? == label);
            }
            println!(
                "pretrain epoch {}: loss {:.4}, train-window accuracy {:.1} %",
                epoch + 1,
                loss / steps as f64,
                100.0 * hits as f64 / windows.len() as f64
            );
        }
    }
    let mut all = vec![0.0f32; PARAMS];
    net.export(&mut all)?;
    Ok(all)
}

fn simulate<S: Scalar + AdamNum>(
    name: &str,
    all: &[S; PARAMS],
    data: &Data<'_>,
) -> Result<Outcome, Error> {
    let lut = lut::<S>();
    let frozen = Har::<S>::split_frozen(all);
    let mut net = Har::<S, &[S; FROZEN]>::with_frozen(&frozen);
    net.trainable_mut()
        .copy_from_slice(&Har::<S>::split_trainable(all));
    let mut trainer = trainer::<S>();
    let (clean_acc, _) = evaluate(&net, data, &lut, true, false)?;
    let (before, _) = evaluate(&net, data, &lut, true, true)?;
    let (_, loss_before) = evaluate(&net, data, &lut, false, true)?;
    fine_tune(
        &mut net,
        &mut trainer,
        data,
        &lut,
        |_, f| f(),
        |e, l| {
            if e % 5 == 4 {
                println!(
                    "  {name} epoch {}: training loss {}.{:03}",
                    e + 1,
                    l / 1000,
                    l % 1000
                )
            }
        },
    )?;
    let (after, _) = evaluate(&net, data, &lut, true, true)?;
    let (_, loss_after) = evaluate(&net, data, &lut, false, true)?;
    let o = Outcome {
        clean: clean_acc,
        before,
        after,
        loss_before,
        loss_after,
        hash: params_hash(net.trainable()),
    };
    println!("{name}: {o:?}");
    Ok(o)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| OUT.to_string());
    let set = bm::bundled()?;
    let train: Vec<([i8; REC_VALUES], u8)> =
        set.train().map(|s| (levels(&s), s.label as u8)).collect();
    // Test split, per class alternately fine-tuning and held-out.
    let mut ft = Vec::new();
    let mut held = Vec::new();
    let mut seen = [0usize; CLASSES];
    for s in set.test() {
        let c = s.label;
        if seen[c] % 2 == 0 {
            ft.push((levels(&s), c as u8));
        } else {
            held.push((levels(&s), c as u8));
        }
        seen[c] += 1;
    }
    assert_eq!((ft.len(), held.len()), (FT_RECS, HELD_RECS));
    let device: Vec<([i8; REC_VALUES], u8)> = ft.into_iter().chain(held).collect();
    let recs: Vec<[i8; REC_VALUES]> = device.iter().map(|d| d.0).collect();
    let labels: Vec<u8> = device.iter().map(|d| d.1).collect();
    let data = Data {
        recs: &recs,
        labels: &labels,
    };

    let all = pretrain(&train)?;
    let f: [f32; PARAMS] = all.clone().try_into().map_err(|_| "length")?;
    let q: [I16F16; PARAMS] = f.map(|v| I16F16::from_f64(f64::from(v)));
    let f32_run = simulate::<f32>("f32", &f, &data)?;
    let q_run = simulate::<I16F16>("I16F16", &q, &data)?;

    let mut o = String::new();
    writeln!(o, "// @generated by boards/tools/har-pretrain (`cd boards/tools/har-pretrain && cargo run --release`).")?;
    writeln!(
        o,
        "// Do not edit: scripts/embedded.sh regenerates it and fails if it differs."
    )?;
    writeln!(o, "//")?;
    writeln!(o, "// The cnn firmware's data (boards/bench-common/src/har.rs, har_core.rs): the pretrained 1-D CNN")?;
    writeln!(o, "// (torch order), the device's BasicMotions recordings as 8-bit levels, and the host simulation's")?;
    writeln!(
        o,
        "// figures of the fine-tuning run, which the firmware must reproduce exactly."
    )?;
    writeln!(o)?;
    writeln!(o, "/// Pretrained parameters, torch order, `f32::to_bits`.")?;
    writeln!(o, "pub const PRETRAINED_F32_BITS: [u32; {PARAMS}] = [")?;
    for c in f.chunks(8) {
        o.push_str("   ");
        for v in c {
            write!(o, " {:#010x},", v.to_bits())?;
        }
        o.push('\n');
    }
    writeln!(o, "];")?;
    writeln!(
        o,
        "/// The same rounded to I16F16 (`I16F16::from_f64`), its bits."
    )?;
    writeln!(o, "pub const PRETRAINED_I16F16_BITS: [i32; {PARAMS}] = [")?;
    for c in q.chunks(8) {
        o.push_str("   ");
        for v in c {
            write!(o, " {},", v.to_bits())?;
        }
        o.push('\n');
    }
    writeln!(o, "];")?;
    writeln!(
        o,
        "/// Labels of [`RECORDINGS`] (0 standing, 1 running, 2 walking, 3 badminton)."
    )?;
    writeln!(
        o,
        "pub static LABELS: [u8; {}] = {:?};",
        labels.len(),
        labels
    )?;
    writeln!(o, "/// The device's recordings (BasicMotions test split): {FT_RECS} for fine-tuning, then {HELD_RECS} held out;")?;
    writeln!(o, "/// 100 steps x 6 channels (`t * 6 + c`) of levels, {LEVELS_PER_STD} per train-split standard deviation.")?;
    writeln!(
        o,
        "pub static RECORDINGS: [[i8; {REC_VALUES}]; {}] = [",
        recs.len()
    )?;
    for r in &recs {
        o.push_str("    [\n");
        for c in r.chunks(24) {
            o.push_str("       ");
            for v in c {
                write!(o, " {v},")?;
            }
            o.push('\n');
        }
        o.push_str("    ],\n");
    }
    writeln!(o, "];")?;
    for (t, r) in [("F32", &f32_run), ("I16F16", &q_run)] {
        expected::write(&mut o, t, r, "of the pretrained network", "windows")?;
    }
    std::fs::write(&path, o)?;
    println!("wrote {path}");
    Ok(())
}
