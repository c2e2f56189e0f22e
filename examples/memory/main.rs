//! `cargo run --release --example memory`: the RAM of one training step of DS-CNN Small (Arm's
//! keyword-spotting shape, seeded weights: memory does not depend on them) in each fine-tuning
//! mode, number type and optimizer, against its floor, and which parts it fits.
//!
//! Every figure is a compile-time constant of the declared network (`memory_plan`,
//! `memory_floor`); `tests/memory_plan.rs` checks the plans against `size_of`.

#![allow(dead_code)]

mod dscnn;

use dscnn::{BiasOnly, BnAffine, Full, LastBlock, LastLayer, LastTwoBlocks, SparseTail};
use edgetune::nn::network::MemoryPlan;
use edgetune::optim::{Adam, Sgd};
use fixed::types::I16F16;

/// A part's RAM in KiB and whether a plan fits it (with 10 % left for the stack and the rest
/// of the firmware).
const PARTS: [(&str, usize); 3] = [("64K", 64), ("128K", 128), ("256K", 256)];

fn kib(b: usize) -> String {
    format!("{:.1}", b as f64 / 1024.0)
}

fn row(mode: &str, ty: &str, opt: &str, trainable: usize, plan: MemoryPlan, floor: MemoryPlan) {
    let fits: Vec<&str> = PARTS
        .iter()
        .filter(|(_, k)| plan.total() * 10 <= k * 1024 * 9)
        .map(|(n, _)| *n)
        .collect();
    println!(
        "| {mode} | {ty} | {opt} | {trainable} | {} | {} | {} | {} | {} | {} | {:.3} | {} |",
        kib(plan.trainable + plan.frozen),
        kib(plan.optimizer),
        kib(plan.gradients),
        kib(plan.kept),
        kib(plan.scratch),
        kib(plan.total()),
        plan.per_mille_of(&floor) as f64 / 1000.0,
        if fits.is_empty() {
            "none".to_string()
        } else {
            fits.join(", ")
        },
    );
}

macro_rules! rows {
    ($mode:literal, $net:ident) => {
        rows!(@one $mode, $net, f32, "f32");
        rows!(@one $mode, $net, I16F16, "I16F16");
    };
    (@one $mode:literal, $net:ident, $s:ty, $ty:literal) => {{
        type A = Adam<$s, { $net::<$s>::TRAINABLE }>;
        type G = Sgd<$s, { $net::<$s>::TRAINABLE }>;
        let t = $net::<$s>::TRAINABLE;
        row($mode, $ty, "Adam", t, $net::<$s>::memory_plan::<A>(false), $net::<$s>::memory_floor::<A>(false));
        row($mode, $ty, "SGD", t, $net::<$s>::memory_plan::<G>(false), $net::<$s>::memory_floor::<G>(false));
    }};
}

fn main() {
    println!(
        "DS-CNN Small: {} parameters, {} MACs per forward pass; frozen parameters in flash; \
         sizes in KiB; fits = total within 90 % of the part's RAM",
        Full::<f32>::PARAMS,
        Full::<f32>::MACS
    );
    println!();
    println!("| mode | type | optimizer | trainable | params in RAM | optimizer | gradients | kept | scratch | total | / floor | fits |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    rows!("full", Full);
    rows!("last layer", LastLayer);
    rows!("last block + head", LastBlock);
    rows!("last two blocks + head", LastTwoBlocks);
    rows!("bias only", BiasOnly);
    rows!("BN-affine", BnAffine);
    rows!(
        "sparse: biases + 16/64 channels of the last two pointwise",
        SparseTail
    );
}
