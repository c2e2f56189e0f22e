//! Fine-tunes a small linear model with Adam whose whole state lives in a `static`, the way
//! firmware would hold it, and prints the loss and the RAM the optimizer takes.
//!
//! ```text
//! cargo run --release --example linear
//! ```
//! The model predicts a sensor reading from 15 features: `y = w·x + b`, 16 parameters in one
//! arena (15 weights, then the bias). It starts from "factory" weights, the target drifts (a new
//! gain on some channels and an offset), and the device adapts from 256 fresh samples.

use edgetune::optim::{Adam, AdamConfig, Optimizer, ParamGroup};
use std::sync::Mutex;

const FEATURES: usize = 15;
const N: usize = FEATURES + 1;

/// The optimizer as firmware would keep it: built at compile time (an invalid configuration would
/// not compile), zero-initialised, in `.bss`.
static OPT: Mutex<Adam<f32, N>> = Mutex::new(
    match Adam::new(AdamConfig {
        weight_decay: 1e-3,
        ..AdamConfig::adamw(2e-2)
    }) {
        Ok(opt) => opt,
        Err(_) => panic!("invalid optimizer configuration"),
    },
);

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

fn mse(p: &[f32; N], data: &[([f32; FEATURES], f32)]) -> f32 {
    data.iter()
        .map(|(x, y)| (predict(p, x) - y).powi(2))
        .sum::<f32>()
        / data.len() as f32
}

fn main() {
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
        (x, y)
    };
    let train: Vec<_> = (0..256).map(|_| sample(&mut rng)).collect();
    let held_out: Vec<_> = (0..256).map(|_| sample(&mut rng)).collect();

    let mut params = factory;
    let mut opt = OPT.lock().expect("not poisoned");
    println!(
        "Adam<f32, {N}> state: {} bytes ({} per parameter plus {} of configuration and step count)",
        core::mem::size_of::<Adam<f32, N>>(),
        8,
        core::mem::size_of::<Adam<f32, N>>() - 8 * N
    );
    println!(
        "held-out MSE before adapting: {:.5}",
        mse(&params, &held_out)
    );
    // Weights decay, the bias does not: two parameter groups in one arena.
    let decay = *opt.config();
    let no_decay = AdamConfig {
        weight_decay: 0.0,
        ..decay
    };
    let groups = [
        ParamGroup::new(0..FEATURES, decay),
        ParamGroup::new(FEATURES..N, no_decay),
    ];
    const BATCH: usize = 16;
    for epoch in 1..=8 {
        for batch in train.chunks(BATCH) {
            // The gradient of the mean squared error over the mini-batch.
            let mut grads = [0.0f32; N];
            for (x, y) in batch {
                let err = 2.0 * (predict(&params, x) - y) / batch.len() as f32;
                for (g, xi) in grads.iter_mut().zip(x) {
                    *g += err * xi;
                }
                grads[FEATURES] += err;
            }
            opt.step_groups(&mut params, &grads, &groups)
                .expect("finite gradients");
        }
        println!(
            "epoch {epoch}: steps {:>3}, train MSE {:.5}, held-out MSE {:.5}",
            opt.step_count(),
            mse(&params, &train),
            mse(&params, &held_out)
        );
    }
    let max_err = params
        .iter()
        .zip(&truth)
        .map(|(p, t)| (p - t).abs())
        .fold(0.0f32, f32::max);
    println!("largest weight error against the drifted truth: {max_err:.4}");
}
