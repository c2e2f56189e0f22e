//! Fine-tunes a small linear model with Adam whose whole state lives in a `static`, the way
//! firmware would hold it, and prints the loss and the RAM the optimizer takes.
//!
//! ```text
//! cargo run --release --example linear
//! ```
//! The model predicts a sensor reading from 15 features: `y = w·x + b`, one dense layer with a
//! squared-error loss, 16 parameters in one arena (15 weights, then the bias, torch order). It
//! starts from "factory" weights, the target drifts (a new gain on some channels and an offset),
//! and the device adapts from 256 fresh samples: one `Trainer::step_batch_groups` call per
//! mini-batch, weight decay on the weights only.

use edgetune::nn::Network;
use edgetune::optim::{Adam, AdamConfig, Optimizer, ParamGroup};
use edgetune::train::{evaluate, Trainer};
use edgetune::Error;
use std::sync::Mutex;

const FEATURES: usize = 15;
const N: usize = FEATURES + 1;

edgetune::mlp! {
    /// `y = w·x + b`.
    struct Linear {
        dense 15 -> 1;
        loss mse;
    }
}

/// The optimizer as firmware would keep it: built at compile time (an invalid configuration would
/// not compile), zero-initialised, in `.bss`, inside the trainer that steps it.
static TRAINER: Mutex<Trainer<Adam<f32, N>>> = Mutex::new(Trainer::new(
    match Adam::new(AdamConfig {
        weight_decay: 1e-3,
        ..AdamConfig::adamw(2e-2)
    }) {
        Ok(opt) => opt,
        Err(_) => panic!("invalid optimizer configuration"),
    },
));

/// A tiny deterministic generator (xorshift32) for the synthetic sensor data.
struct Rng(u32);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        (self.0 >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
    }
}

fn predict(p: &[f32; N], x: &[f32; FEATURES]) -> f32 {
    x.iter().zip(p).map(|(x, w)| x * w).sum::<f32>() + p[FEATURES]
}

/// Mean squared error of `net` over `data`.
fn mse(net: &Linear<f32>, data: &[([f32; FEATURES], [f32; 1])]) -> Result<f64, Error> {
    Ok(evaluate(net, data)?.mean_loss)
}

fn main() -> Result<(), Error> {
    let mut rng = Rng(0x1234_5678);
    // Factory weights, and the drifted truth the device must adapt to.
    let factory: [f32; N] = core::array::from_fn(|i| if i < FEATURES { rng.next() } else { 0.1 });
    let mut truth = factory;
    for w in truth.iter_mut().take(5) {
        *w *= 1.5; // five channels gained 50 %
    }
    truth[FEATURES] += 0.4; // and an offset appeared
    let sample = |rng: &mut Rng| {
        let x: [f32; FEATURES] = core::array::from_fn(|_| rng.next());
        let y = predict(&truth, &x) + 0.01 * rng.next();
        (x, [y])
    };
    let train: Vec<_> = (0..256).map(|_| sample(&mut rng)).collect();
    let held_out: Vec<_> = (0..256).map(|_| sample(&mut rng)).collect();

    let mut net = Linear::<f32>::zeroed();
    net.import(&factory)?;
    let mut trainer = TRAINER.lock().expect("not poisoned");
    println!(
        "Adam<f32, {N}> state: {} bytes ({} per parameter plus {} of configuration and step count)",
        core::mem::size_of::<Adam<f32, N>>(),
        8,
        core::mem::size_of::<Adam<f32, N>>() - 8 * N
    );
    println!("held-out MSE before adapting: {:.5}", mse(&net, &held_out)?);
    // Weights decay, the bias does not: two parameter groups in one arena, where the network
    // says its layer's runs lie.
    let ranges = Linear::<f32>::layer_ranges(0).expect("the network has a layer 0");
    let decay = *trainer.optimizer().config();
    let no_decay = AdamConfig {
        weight_decay: 0.0,
        ..decay
    };
    let mut groups = [
        ParamGroup::new(ranges.weights.unwrap_or(0..0), decay),
        ParamGroup::new(ranges.bias.unwrap_or(0..0), no_decay),
    ];
    const BATCH: usize = 16;
    for epoch in 1..=8 {
        for batch in train.chunks(BATCH) {
            trainer.step_batch_groups(&mut net, batch, &mut groups, &[])?; // no schedule: no base rates
        }
        println!(
            "epoch {epoch}: steps {:>3}, train MSE {:.5}, held-out MSE {:.5}",
            trainer.optimizer().step_count(),
            mse(&net, &train)?,
            mse(&net, &held_out)?
        );
    }
    let mut params = [0.0f32; N];
    net.export(&mut params)?;
    let max_err = params
        .iter()
        .zip(&truth)
        .map(|(p, t)| (p - t).abs())
        .fold(0.0f32, f32::max);
    println!("largest weight error against the drifted truth: {max_err:.4}");
    Ok(())
}
