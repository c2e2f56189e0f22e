//! The adapt pipeline, shared by `examples/adapt` (which prints and plots it) and
//! `tests/adapt.rs` (which checks that the number types agree with the f64 reference).

use edgetune::nn::{Init, Network, Scalar};
use edgetune::optim::{Adam, AdamConfig, AdamNum, Optimizer};
use edgetune::train::{evaluate, Pcg32, Policy, SampleBuffer, Trainer};
use edgetune::Error;
use edgetune_digits::{self as digits, Sample};
use std::time::Instant;

/// The committed digits file.
pub const DIGITS: &[u8] = include_bytes!("../../tests/data/digits.bin");

edgetune::mlp! {
    /// The classifier, every layer trained (pretraining on the host, and full fine-tuning).
    pub struct Digits {
        dense 64 -> 32, relu;
        dense 32 -> 10;
        loss softmax_cross_entropy;
    }
}

/// Samples that pretrain the network on the host.
pub const PRETRAIN: usize = 1000;
/// Samples the device sees through its new sensor (the rest of the shifted set is held out).
pub const DEVICE_SAMPLES: usize = 300;
/// Capacity of the device's sample buffer.
pub const BUFFER: usize = 256;
/// Mini-batch size on the device.
pub const BATCH: usize = 16;
/// Pretraining epochs on the host.
pub const PRETRAIN_EPOCHS: usize = 30;
/// Fine-tuning epochs on the device.
pub const FINETUNE_EPOCHS: usize = 25;
/// Optimizer steps per fine-tuning epoch.
pub const STEPS_PER_EPOCH: usize = 20;
/// The fine-tuning learning rate (Adam).
pub const FINETUNE_LR: f64 = 3e-3;
/// Number of parameters.
pub const PARAMS: usize = Digits::<f32>::PARAMS;
/// Number of trained parameters (every one: full fine-tuning).
pub const TRAINABLE: usize = Digits::<f32>::TRAINABLE;

/// An image, pixels in `0..=1`.
pub type Image = [f32; 64];

/// One labelled sample as the device stores it.
#[derive(Clone, Copy)]
pub struct Labelled {
    /// The pixels.
    pub x: Image,
    /// The digit.
    pub label: usize,
}

/// The sensor change on the device: gain, offset, and a one-pixel shift to the right.
pub fn shifted(x: &Image) -> Image {
    let mut out = [0.0f32; 64];
    for r in 0..8 {
        for c in 0..8 {
            let src = if c == 0 { 0.0 } else { x[r * 8 + c - 1] };
            out[r * 8 + c] = (0.55 * src + 0.3).min(1.0);
        }
    }
    out
}

/// `samples` at number type `S`, as the trainer and `evaluate` take them.
pub fn convert<'a, S: Scalar>(
    samples: impl IntoIterator<Item = &'a Labelled>,
) -> Vec<([S; 64], usize)> {
    samples
        .into_iter()
        .map(|s| (s.x.map(|v| S::from_f64(f64::from(v))), s.label))
        .collect()
}

/// Accuracy in percent of `net` over `set`.
pub fn accuracy<S: Scalar>(net: &Digits<S>, set: &[([S; 64], usize)]) -> Result<f64, Error> {
    Ok(100.0 * evaluate(net, set)?.accuracy.unwrap_or(0.0))
}

/// Everything the fine-tuning runs share: the pretrained weights, the device's buffer contents
/// and mini-batches, and the held-out shifted test set.
pub struct Setup {
    /// Pretrained weights, torch order.
    pub pretrained: Vec<f32>,
    /// Accuracy of the pretrained network on the held-out digits through the old sensor.
    pub clean_accuracy: f64,
    /// Seconds spent pretraining.
    pub pretrain_seconds: f64,
    /// Samples pretrained on.
    pub host_samples: usize,
    /// What the device's buffer holds after the stream.
    pub samples: Vec<Labelled>,
    /// Indices into `samples`, one mini-batch per step.
    pub batches: Vec<[usize; BATCH]>,
    /// Held-out shifted samples.
    pub test: Vec<Labelled>,
}

/// Loads the digits, pretrains on the host (f32, torch's default initialisation, Adam,
/// mini-batches of 32) and prepares the device's data.
pub fn setup() -> Result<Setup, Error> {
    let data = digits::parse(DIGITS)?;
    let mut all: Vec<Labelled> = data
        .iter()
        .map(|s: Sample<'_>| Labelled {
            x: s.to_f32(),
            label: usize::from(s.label),
        })
        .collect();
    // A fixed shuffled order, so every run and every number type sees the same data.
    Pcg32::seeded(0x00ED_6E7E).shuffle(&mut all);
    let (host, device) = all.split_at(PRETRAIN);

    let t0 = Instant::now();
    let mut net = Digits::<f32>::zeroed();
    net.init(Init::TorchDefault, 0x5EED)?;
    let mut trainer = Trainer::new(Adam::<f32, TRAINABLE>::new(AdamConfig::adam(3e-3))?);
    let mut host = convert::<f32>(host);
    let mut order = Pcg32::seeded(1);
    for _ in 0..PRETRAIN_EPOCHS {
        order.shuffle(&mut host);
        for batch in host.chunks(32) {
            trainer.step_batch(&mut net, batch)?;
        }
    }
    let clean_accuracy = accuracy(&net, &convert::<f32>(device))?;
    let mut pretrained = vec![0.0f32; PARAMS];
    net.export(&mut pretrained)?;
    let pretrain_seconds = t0.elapsed().as_secs_f64();

    let device: Vec<Labelled> = device
        .iter()
        .map(|s| Labelled {
            x: shifted(&s.x),
            label: s.label,
        })
        .collect();
    let (stream, test) = device.split_at(DEVICE_SAMPLES);
    // The samples stream through a fixed-capacity buffer that keeps the most recent BUFFER;
    // mini-batches are drawn from it, once, so every number type trains on the same batches.
    let mut buffer = SampleBuffer::<Labelled, BUFFER>::new(Policy::Recent, 7);
    for s in stream {
        buffer.push(*s);
    }
    let batches = (0..FINETUNE_EPOCHS * STEPS_PER_EPOCH)
        .map(|_| {
            let mut idx = [0usize; BATCH];
            buffer.draw_batch(&mut idx)?;
            Ok(idx)
        })
        .collect::<Result<_, Error>>()?;
    Ok(Setup {
        pretrained,
        clean_accuracy,
        pretrain_seconds,
        host_samples: host.len(),
        samples: buffer.as_slice().to_vec(),
        batches,
        test: test.to_vec(),
    })
}

/// What one fine-tuning run reports.
pub struct Report {
    /// The number type.
    pub name: &'static str,
    /// Held-out shifted accuracy before fine-tuning, %.
    pub before: f64,
    /// After, %.
    pub after: f64,
    /// Network (parameters, gradients, kept activations, scratch) plus trainer (optimizer and
    /// clipping setting), bytes.
    pub train_bytes: usize,
    /// Optimizer steps.
    pub steps: u32,
    /// Wall time of the fine-tuning, seconds.
    pub seconds: f64,
    /// Mean training loss and held-out accuracy after each epoch.
    pub curve: Vec<(f64, f64)>,
}

/// Fine-tunes a copy of the pretrained weights at number type `S`; `progress` gets a line per
/// epoch.
pub fn finetune<S: Scalar + AdamNum>(
    name: &'static str,
    setup: &Setup,
    progress: &mut dyn FnMut(&str),
) -> Result<Report, Error> {
    let start = Instant::now();
    let mut net = Digits::<S>::zeroed();
    let weights: Vec<S> = setup
        .pretrained
        .iter()
        .map(|&w| S::from_f64(f64::from(w)))
        .collect();
    net.import(&weights)?;
    let test = convert::<S>(&setup.test);
    let samples = convert::<S>(&setup.samples);
    let before = accuracy(&net, &test)?;
    let mut trainer = Trainer::new(Adam::<S, TRAINABLE>::new(AdamConfig::adam(FINETUNE_LR))?);
    let mut curve = Vec::new();
    for (epoch, chunk) in setup.batches.chunks(STEPS_PER_EPOCH).enumerate() {
        let mut loss_sum = 0.0;
        for batch in chunk {
            let batch = batch.map(|i| samples[i]);
            loss_sum += trainer.step_batch(&mut net, &batch)?;
        }
        let loss = loss_sum / chunk.len() as f64;
        let acc_now = accuracy(&net, &test)?;
        progress(&format!(
            "  [{name:>13}] epoch {:>2}/{FINETUNE_EPOCHS}: loss {loss:.4}, held-out shifted accuracy {acc_now:.1} %",
            epoch + 1
        ));
        curve.push((loss, acc_now));
    }
    Ok(Report {
        name,
        before,
        after: accuracy(&net, &test)?,
        train_bytes: core::mem::size_of::<Digits<S>>()
            + core::mem::size_of::<Trainer<Adam<S, TRAINABLE>>>(),
        steps: trainer.optimizer().step_count(),
        seconds: start.elapsed().as_secs_f64(),
        curve,
    })
}

/// The same fine-tuning with the plain f64 reference network and optimizer
/// (`edgetune::reference`), which share no code with the generic path.
pub fn finetune_reference(setup: &Setup, progress: &mut dyn FnMut(&str)) -> Report {
    use edgetune::reference::network::{RefActivation, RefMlp, RefTarget};
    use edgetune::reference::{Hyper, Kind};
    let start = Instant::now();
    let flat: Vec<f64> = setup.pretrained.iter().map(|&w| f64::from(w)).collect();
    let mut net = RefMlp::from_flat(
        &[64, 32, 10],
        &[RefActivation::Relu, RefActivation::None],
        &flat,
    )
    .expect("shapes");
    let image = |s: &Labelled| -> Vec<f64> { s.x.iter().map(|&v| f64::from(v)).collect() };
    let test_x: Vec<Vec<f64>> = setup.test.iter().map(image).collect();
    let test_y: Vec<usize> = setup.test.iter().map(|s| s.label).collect();
    let before = 100.0 * net.accuracy(&test_x, &test_y).expect("shapes");
    let hyper = Hyper {
        lr: FINETUNE_LR,
        ..Hyper::defaults(Kind::Adam)
    };
    let mut opt = net.optimizer(Kind::Adam, hyper);
    let mut curve = Vec::new();
    for (epoch, chunk) in setup.batches.chunks(STEPS_PER_EPOCH).enumerate() {
        let mut loss_sum = 0.0;
        for batch in chunk {
            let xs: Vec<Vec<f64>> = batch.iter().map(|&i| image(&setup.samples[i])).collect();
            let ts: Vec<RefTarget> = batch
                .iter()
                .map(|&i| RefTarget::Class(setup.samples[i].label))
                .collect();
            loss_sum += net.train_step(&mut opt, &xs, &ts).expect("valid batch");
        }
        let loss = loss_sum / chunk.len() as f64;
        let acc_now = 100.0 * net.accuracy(&test_x, &test_y).expect("shapes");
        progress(&format!(
            "  [{:>13}] epoch {:>2}/{FINETUNE_EPOCHS}: loss {loss:.4}, held-out shifted accuracy {acc_now:.1} %",
            "f64 reference",
            epoch + 1
        ));
        curve.push((loss, acc_now));
    }
    Report {
        name: "f64 reference",
        before,
        after: 100.0 * net.accuracy(&test_x, &test_y).expect("shapes"),
        train_bytes: 0,
        steps: opt.step as u32,
        seconds: start.elapsed().as_secs_f64(),
        curve,
    }
}
