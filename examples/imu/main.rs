//! On-device adaptation of a 1-D CNN on real sensor data: a smartwatch activity classifier is
//! pretrained on the host, the watch is then worn differently (rotated on the wrist, with gain
//! and offset drift), the classifier loses accuracy, and three device-sized fine-tuning modes
//! (head only, BN-affine only, bias only) get it back from 12 labelled recordings.
//!
//! ```text
//! cargo run --release --example imu
//! ```
//! Data: BasicMotions (UEA/UCR archive; `tests/data/basicmotions.bin`, see `scripts/README.md`
//! for source and licence): 40 train and 40 test recordings, 100 steps × 6 channels (3-axis
//! accelerometer and gyroscope at 10 Hz), four activities. The 40 train recordings pretrain the
//! network with edgetune itself, in f32, with random time shifts and jitter. The device then
//! gets 3 labelled recordings per class (from the train split) through the changed sensor and
//! is scored on the 40 test recordings through the changed sensor.
//!
//! Each mode is its own `cnn!` declaration over the same parameter layout. The same run (same
//! pretrained weights, same mini-batches) is done with the plain f64 reference CNN
//! (`edgetune::reference::cnn`, an independent implementation), with the generic network at f32
//! and in fixed point (I16F16, and the 16-bit I4F12); the table compares them. Loss and accuracy curves go to SVGs.

mod pipeline;
#[path = "../adapt/svg.rs"]
#[allow(dead_code)]
mod svg;

use pipeline::*;

fn main() -> Result<(), edgetune::Error> {
    let start = std::time::Instant::now();
    let setup = setup()?;
    println!(
        "edgetune imu: BasicMotions, 40 train recordings pretrain a 1-D CNN ({PARAMS} parameters) \
         on the host in {:.2} s",
        setup.pretrain_seconds
    );
    println!(
        "  input [100 steps, 6 channels] -> conv1d(6,16,5,s2,same)+BN+ReLU -> max_pool(2) -> \
         conv1d(16,16,3,same)+BN+ReLU -> global avg pool -> dense(16,4)"
    );
    println!(
        "test accuracy, unchanged sensor: {:.1} % (40 recordings)",
        setup.clean_accuracy
    );
    println!(
        "sensor change: watch turned {TURN_DEG} deg about z and tilted {TILT_DEG} deg about x \
         (accelerometer and gyroscope alike), gains 0.85..1.15, offsets; the device has {} \
         labelled recordings ({DEVICE_PER_CLASS} per class)",
        setup.device.len()
    );
    let mut progress = |line: &str| println!("{line}");
    let mut runs = Vec::new();
    for mode in Mode::ALL {
        runs.push(run_mode(mode, &setup, &mut progress)?);
    }
    println!();
    println!(
        "{:<10} {:<13} {:>8} {:>9} {:>8} {:>15} {:>12} {:>13} {:>7}",
        "mode",
        "number type",
        "trained",
        "before %",
        "after %",
        "training RAM B",
        "max |dloss|",
        "last |dloss|",
        "time s"
    );
    for reports in &runs {
        for r in reports {
            println!(
                "{:<10} {:<13} {:>8} {:>9.1} {:>8.1} {:>15} {:>12} {:>13} {:>7.3}",
                r.mode.name(),
                r.name,
                r.trainable,
                r.before,
                r.after,
                if r.train_bytes == 0 {
                    "(host only)".to_string()
                } else {
                    r.train_bytes.to_string()
                },
                if r.train_bytes == 0 {
                    "-".to_string()
                } else {
                    format!("{:.2e}", max_loss_gap(r, &reports[0]))
                },
                if r.train_bytes == 0 {
                    "-".to_string()
                } else {
                    format!("{:.2e}", last_loss_gap(r, &reports[0]))
                },
                r.seconds
            );
        }
    }
    println!(
        "(before: pretrained network on the changed sensor; after: {EPOCHS} epochs; accuracy on \
         the 40 changed-sensor test recordings, one recording = 2.5 points; max |dloss| and last \
         |dloss|: largest and last-epoch gap to the f64 reference's mean epoch loss; training RAM: network + trainer with Adam)"
    );
    let worst = |k: usize, gap: fn(&Report, &Report) -> f64| {
        runs.iter().map(|r| gap(&r[k], &r[0])).fold(0.0, f64::max)
    };
    let accuracy_gap = |k: usize| {
        runs.iter()
            .map(|r| (r[k].after - r[0].after).abs())
            .fold(0.0, f64::max)
    };
    println!(
        "f32 follows the f64 reference to {:.1e} in epoch loss (max over modes and epochs); final \
         accuracies differ by at most {:.1} points.",
        worst(1, max_loss_gap),
        accuracy_gap(1)
    );
    println!(
        "I16F16 ends within {:.1e} of it in the last epoch's loss and {:.1} points in accuracy, \
         but its first epochs differ by up to {:.2}: a gradient below 2^-16 is 0 in I16F16, \
         while Adam's first step moves a parameter by about lr for any nonzero f64 gradient, \
         however small.",
        worst(2, last_loss_gap),
        accuracy_gap(2),
        worst(2, max_loss_gap)
    );
    println!(
        "I4F12 (16-bit storage) ends within {:.1e} of it in the last epoch's loss; its final \
         accuracies differ from f32's by at most {:.1} points.",
        worst(3, last_loss_gap),
        runs.iter()
            .map(|r| (r[3].after - r[1].after).abs())
            .fold(0.0, f64::max)
    );
    for reports in &runs {
        let mode = reports[0].mode;
        let path =
            std::path::Path::new("target").join(format!("imu-{}.svg", mode.name().to_lowercase()));
        let curves: Vec<(&str, &[(f64, f64)])> = reports
            .iter()
            .map(|r| (r.name, r.curve.as_slice()))
            .collect();
        let title = format!("{}: changed-sensor test accuracy, %", mode.name());
        match svg::write_titled(&path, &title, &curves) {
            Ok(()) => println!("{} curves: {}", mode.name(), path.display()),
            Err(e) => println!("could not write {}: {e}", path.display()),
        }
    }
    println!("total {:.2} s", start.elapsed().as_secs_f64());
    Ok(())
}
