//! `cargo run --release --example memory`: the RAM of one training step of DS-CNN Small (Arm's
//! keyword-spotting shape, seeded weights: memory does not depend on them) in each fine-tuning
//! mode, number type and optimizer, with the ordinary update (every gradient stored, then one
//! optimizer step) and the fused one (`update fused;`: each layer stepped as soon as its
//! gradient is complete), each against its floor, and which parts it fits.
//!
//! Every figure is a compile-time constant of the declared networks (`memory_plan`,
//! `memory_floor`); `tests/memory_plan.rs` checks the plans against `size_of`.

#![allow(dead_code)]

mod dscnn;
mod dscnn_int8;

use dscnn::*;
use dscnn_int8::*;
use edgetune::nn::network::MemoryPlan;
use edgetune::optim::{Adam, Sgd};
use fixed::types::{I16F16, I4F12};

/// Parts by RAM; a plan fits when its total is within 90 % of the RAM (the rest for the stack
/// and the firmware).
const PARTS: [(&str, usize); 3] = [("64K", 64), ("128K", 128), ("256K", 256)];

fn kib(b: usize) -> String {
    format!("{:.1}", b as f64 / 1024.0)
}

fn fits(plan: &MemoryPlan) -> String {
    let f: Vec<&str> = PARTS
        .iter()
        .filter(|(_, k)| plan.total() * 10 <= k * 1024 * 9)
        .map(|(n, _)| *n)
        .collect();
    if f.is_empty() {
        "none".to_string()
    } else {
        f.join(", ")
    }
}

/// One table row: the ordinary plan and the fused one, each with its floor.
struct Row<'a> {
    mode: &'a str,
    ty: &'a str,
    opt: &'a str,
    trainable: usize,
    plan: MemoryPlan,
    floor: MemoryPlan,
    fused: MemoryPlan,
    fused_floor: MemoryPlan,
}

fn print(r: Row<'_>) {
    let ratio = |p: &MemoryPlan, f: &MemoryPlan| p.per_mille_of(f) as f64 / 1000.0;
    println!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.3} | {} | {} | {} | {:.3} | {} |",
        r.mode,
        r.ty,
        r.opt,
        r.trainable,
        kib(r.plan.trainable + r.plan.frozen),
        kib(r.plan.optimizer),
        kib(r.plan.kept),
        kib(r.plan.scratch),
        kib(r.plan.gradients),
        kib(r.plan.total()),
        ratio(&r.plan, &r.floor),
        fits(&r.plan),
        kib(r.fused.gradients),
        kib(r.fused.total()),
        ratio(&r.fused, &r.fused_floor),
        fits(&r.fused),
    );
}

macro_rules! rows {
    ($mode:literal, $net:ident, $fused:ident) => {
        rows!(@one $mode, $net, $fused, f32, "f32");
        rows!(@one $mode, $net, $fused, I16F16, "I16F16");
        rows!(@one $mode, $net, $fused, I4F12, "I4F12");
    };
    (@one $mode:literal, $net:ident, $fused:ident, $s:ty, $ty:literal) => {{
        type A = Adam<$s, { $net::<$s>::TRAINABLE }>;
        type G = Sgd<$s, { $net::<$s>::TRAINABLE }>;
        let t = $net::<$s>::TRAINABLE;
        print(Row {
            mode: $mode, ty: $ty, opt: "Adam", trainable: t,
            plan: $net::<$s>::memory_plan::<A>(false), floor: $net::<$s>::memory_floor::<A>(false),
            fused: $fused::<$s>::memory_plan::<A>(false), fused_floor: $fused::<$s>::memory_floor::<A>(false),
        });
        print(Row {
            mode: $mode, ty: $ty, opt: "SGD", trainable: t,
            plan: $net::<$s>::memory_plan::<G>(false), floor: $net::<$s>::memory_floor::<G>(false),
            fused: $fused::<$s>::memory_plan::<G>(false), fused_floor: $fused::<$s>::memory_floor::<G>(false),
        });
    }};
}

/// One row of the int8-backbone table: the head's plan with the backbone's part, beside the
/// all-float network's plan in the same mode.
fn print_int8(
    mode: &str,
    ty: &str,
    opt: &str,
    trainable: usize,
    plan: MemoryPlan,
    float: MemoryPlan,
) {
    let head = plan.total() - plan.int8;
    println!(
        "| {mode} | {ty} | {opt} | {trainable} | {} | {} | {} | {} | {:.2} | {} |",
        kib(head),
        kib(plan.int8),
        kib(plan.total()),
        kib(float.total()),
        float.total() as f64 / plan.total() as f64,
        fits(&plan),
    );
}

macro_rules! int8_rows {
    ($mode:literal, $net:ident, $head:ident, $float:ident) => {
        int8_rows!(@one $mode, $net, $head, $float, f32, "f32");
        int8_rows!(@one $mode, $net, $head, $float, I16F16, "I16F16");
    };
    (@one $mode:literal, $net:ident, $head:ident, $float:ident, $s:ty, $ty:literal) => {{
        type A = Adam<$s, { $head::<$s>::TRAINABLE }>;
        type G = Sgd<$s, { $head::<$s>::TRAINABLE }>;
        let t = $head::<$s>::TRAINABLE;
        print_int8(
            $mode, $ty, "Adam", t,
            $net::<$s>::memory_plan($head::<$s>::memory_plan::<A>(false)),
            $float::<$s>::memory_plan::<A>(false),
        );
        print_int8(
            $mode, $ty, "SGD", t,
            $net::<$s>::memory_plan($head::<$s>::memory_plan::<G>(false)),
            $float::<$s>::memory_plan::<G>(false),
        );
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
    println!(
        "| mode | type | optimizer | trainable | params in RAM | optimizer | kept | scratch \
         | gradients | total | / floor | fits | fused: gradients | total | / floor | fits |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    rows!("full", Full, FullFused);
    rows!("last layer", LastLayer, LastLayerFused);
    rows!("last block + head", LastBlock, LastBlockFused);
    rows!("last two blocks + head", LastTwoBlocks, LastTwoBlocksFused);
    rows!("bias only", BiasOnly, BiasOnlyFused);
    rows!("BN-affine", BnAffine, BnAffineFused);
    rows!(
        "sparse: biases + 16/64 channels of the last two pointwise",
        SparseTail,
        SparseTailFused
    );
    println!();
    println!(
        "With the frozen part in int8 (nn::int8::Backbone, one byte per activation, constants in \
         flash: {} B to the pool), the head in the listed type; float = the same mode with every \
         layer in that type (the table above, ordinary update)",
        TO_POOL.constant_bytes()
    );
    println!();
    println!("| mode | head type | optimizer | trainable | head | int8 part | total | float total | float / int8 | fits |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    int8_rows!("last layer", Int8LastLayer, LastLayerHead, LastLayer);
    int8_rows!("last block + head", Int8LastBlock, LastBlockHead, LastBlock);
}
