//! The main demo: a digits classifier is pretrained on the host, shipped, meets a shifted
//! sensor on the device, loses accuracy, and gets it back by fine-tuning on the device with a
//! device-sized budget.
//!
//! ```text
//! cargo run --release --example adapt
//! ```
//! Data: scikit-learn's 8×8 digits (1,797 samples; `tests/data/digits.bin`, see
//! `scripts/README.md` for source and licence). The first 1,000 samples (in a fixed shuffled
//! order) pretrain a 64-32-10 MLP with edgetune itself, in f32, from torch's default
//! initialisation. The remaining 797 are the
//! device's world, seen through a changed sensor: gain 0.55, offset +0.3, and the image shifted
//! one pixel right. 300 of them stream through the device's sample buffer and are all it
//! learns from; the other 497 are the held-out shifted test set.
//!
//! The same fine-tuning run (same pretrained weights, same sample order, same mini-batches) is
//! done with the plain f64 reference network, with the generic code at f32, and in fixed point
//! (I16F16, and the 16-bit I4F12), and the table compares them. Loss and accuracy curves go to an SVG.

mod pipeline;
mod svg;

use edgetune::num::fixed::{I16F16, I4F12};
use pipeline::*;

fn main() -> Result<(), edgetune::Error> {
    let setup = setup()?;
    println!(
        "edgetune adapt: digits 8x8, {} pretraining samples (host), {DEVICE_SAMPLES} device samples \
         through a {BUFFER}-sample buffer, {} held-out shifted samples",
        setup.host_samples,
        setup.test.len()
    );
    println!(
        "pretrained 64-32-10 in {:.2} s: {:.1} % on the device's digits through the old sensor",
        setup.pretrain_seconds, setup.clean_accuracy
    );
    let mut progress = |line: &str| println!("{line}");
    let reports = [
        finetune_reference(&setup, &mut progress),
        finetune::<f64>("f64 generic", &setup, &mut progress)?,
        finetune::<f32>("f32", &setup, &mut progress)?,
        finetune::<I16F16>("I16F16", &setup, &mut progress)?,
        finetune::<I4F12>("I4F12", &setup, &mut progress)?,
    ];
    println!();
    println!(
        "{:<13} {:>10} {:>10} {:>16} {:>6} {:>8}",
        "number type", "before %", "after %", "training RAM B", "steps", "time s"
    );
    for r in &reports {
        println!(
            "{:<13} {:>10.1} {:>10.1} {:>16} {:>6} {:>8.3}",
            r.name,
            r.before,
            r.after,
            if r.train_bytes == 0 {
                "(host only)".to_string()
            } else {
                r.train_bytes.to_string()
            },
            r.steps,
            r.seconds
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
    Ok(())
}
