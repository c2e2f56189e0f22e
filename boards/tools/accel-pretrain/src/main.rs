//! Pretrains the real boards' network ([`sensor_app::app::FullNet`], 6-8-2) on the PC and writes
//! its weights to `boards/sensor-app/src/pretrained.rs` as a `const` array.
//!
//! Data: synthetic windows only ([`sensor_app::synth`]): class 0 a board lying still
//! ([`PRETRAIN_STILL`]), class 1 a board shaken hard ([`PRETRAIN_SHAKE`]), through the same
//! ±4 g quantisation and the same feature extraction as on the device. Training: edgetune's Adam
//! (lr 0.01) in f32 from a seeded Glorot initialisation, [`EPOCHS`] epochs of mini-batches of
//! [`BATCH`], every layer trained. The file's header records the held-out accuracy on the
//! pretraining scenes and on the user scenes of the host tests ([`USER_HELD`], [`USER_WAVE`]),
//! which the device must adapt to.
//!
//! Deterministic: the same seeds give the same file. Run from this directory:
//! `cargo run --release`.

use std::fmt::Write as _;

use edgetune::optim::{Adam, AdamConfig};
use edgetune::train::{evaluate, Pcg32, Trainer};
use edgetune::Error;
use sensor_app::app::{glorot, FullNet, PARAMS};
use sensor_app::synth::{
    window_accel, Scene, PRETRAIN_SHAKE, PRETRAIN_STILL, USER_HELD, USER_WAVE,
};
use sensor_app::{Features, FEATURES};

const PER_CLASS: usize = 2000;
const HELD_OUT_PER_CLASS: usize = 500;
const EPOCHS: usize = 30;
const BATCH: usize = 32;
const LR: f64 = 0.01;
const INIT_SEED: u64 = 2026;
const DATA_SEED: u64 = 11;
const HELD_OUT_SEED: u64 = 12;

type Set = Vec<([f32; FEATURES], usize)>;

fn windows(seed: u64, scenes: [&Scene; 2], per_class: usize) -> Set {
    let mut rng = Pcg32::seeded(seed);
    (0..2 * per_class)
        .map(|i| {
            let class = i % 2;
            (
                Features::of(&window_accel(&mut rng, scenes[class])).input::<f32>(),
                class,
            )
        })
        .collect()
}

/// (accuracy %, mean cross-entropy).
fn score(net: &FullNet<f32>, set: &Set) -> Result<(f64, f64), Error> {
    let e = evaluate(net, set)?;
    Ok((100.0 * e.accuracy.unwrap_or(0.0), e.mean_loss))
}

fn main() -> Result<(), Error> {
    let train = windows(DATA_SEED, [&PRETRAIN_STILL, &PRETRAIN_SHAKE], PER_CLASS);
    let test = windows(
        HELD_OUT_SEED,
        [&PRETRAIN_STILL, &PRETRAIN_SHAKE],
        HELD_OUT_PER_CLASS,
    );
    let user = windows(HELD_OUT_SEED, [&USER_HELD, &USER_WAVE], HELD_OUT_PER_CLASS);

    let mut net = FullNet::<f32>::zeroed();
    net.import(&glorot(INIT_SEED).map(|p| p as f32))?;
    let mut trainer = Trainer::new(Adam::<f32, PARAMS>::new(AdamConfig::adam(LR))?);
    let mut rng = Pcg32::seeded(DATA_SEED + 1);
    let mut order: Vec<usize> = (0..train.len()).collect();
    for epoch in 0..EPOCHS {
        rng.shuffle(&mut order);
        for batch in order.chunks(BATCH) {
            let batch: Vec<_> = batch.iter().map(|&i| train[i]).collect();
            trainer.step_batch(&mut net, &batch)?;
        }
        if epoch % 10 == 9 {
            let (a, l) = score(&net, &test)?;
            println!("epoch {:2}: held-out {a:.1} %, loss {l:.4}", epoch + 1);
        }
    }
    let (acc, loss) = score(&net, &test)?;
    let (uacc, uloss) = score(&net, &user)?;
    println!(
        "pretraining scenes: {acc:.1} %, loss {loss:.4}; user scenes: {uacc:.1} %, loss {uloss:.4}"
    );

    let mut params = [0f32; PARAMS];
    net.export(&mut params)?;
    let mut out = String::new();
    writeln!(
        out,
        "//! Written by boards/tools/accel-pretrain (`cargo run --release` there); do not edit.\n\
         //!\n\
         //! The 6-8-2 network pretrained on the PC with edgetune (f32 Adam, lr {LR}, {EPOCHS} epochs,\n\
         //! batch {BATCH}, Glorot seed {INIT_SEED}) on {n} synthetic windows (`synth::PRETRAIN_STILL`\n\
         //! versus `synth::PRETRAIN_SHAKE`, data seed {DATA_SEED}). No real sensor data.\n\
         //!\n\
         //! Held-out (seed {HELD_OUT_SEED}, {h} windows per class): {acc:.1} % and mean loss {loss:.4} on\n\
         //! the pretraining scenes; {uacc:.1} % and mean loss {uloss:.4} on the user scenes of the\n\
         //! host tests (`synth::USER_HELD` versus `synth::USER_WAVE`), which the device adapts to.",
        n = train.len(),
        h = HELD_OUT_PER_CLASS,
    )
    .unwrap();
    writeln!(
        out,
        "\n/// Every parameter, torch order: W0 (8 × 6, row by row), b0 (8), W1 (2 × 8), b1 (2)."
    )
    .unwrap();
    // One row of W0 per line; rustfmt would put one number per line.
    writeln!(
        out,
        "#[rustfmt::skip]\npub const PARAMS: [f32; {PARAMS}] = ["
    )
    .unwrap();
    for row in params.chunks(6) {
        let items: Vec<String> = row.iter().map(|p| format!("{p:?}")).collect();
        writeln!(out, "    {},", items.join(", ")).unwrap();
    }
    writeln!(out, "];").unwrap();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../sensor-app/src/pretrained.rs"
    );
    std::fs::write(path, out).expect("write pretrained.rs");
    println!("wrote {path}");
    Ok(())
}
