//! The adapt pipeline, shared by `examples/adapt` (which prints and plots it) and
//! `tests/adapt.rs` (which checks that the number types agree with the f64 reference).

use edgetune::nn::Scalar;
use edgetune::optim::{Adam, AdamConfig, AdamNum, Optimizer};
use edgetune::train::{GradAccumulator, Policy, SampleBuffer};
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

/// A deterministic shuffle (xorshift64*), so every run and every number type sees the same data.
pub fn shuffle<T>(v: &mut [T], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        let j = (seed.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % (i + 1);
        v.swap(i, j);
    }
}

fn convert<S: Scalar>(x: &Image) -> [S; 64] {
    x.map(|v| S::from_f64(f64::from(v)))
}

/// Accuracy in percent of `net` over `set`.
pub fn accuracy<S: Scalar>(net: &mut Digits<S>, set: &[Labelled]) -> f64 {
    let correct = set
        .iter()
        .filter(|s| net.predict(&convert(&s.x)) == Ok(s.label))
        .count();
    100.0 * correct as f64 / set.len() as f64
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

/// Loads the digits, pretrains on the host (f32, Adam, mini-batches of 32) and prepares the
/// device's data.
pub fn setup() -> Setup {
    let data = digits::parse(DIGITS).expect("the committed digits file is valid");
    let mut all: Vec<Labelled> = data
        .iter()
        .map(|s: Sample<'_>| Labelled {
            x: s.to_f32(),
            label: usize::from(s.label),
        })
        .collect();
    shuffle(&mut all, 0x00ED_6E7E);
    let (host, device) = all.split_at(PRETRAIN);

    let t0 = Instant::now();
    let mut net = Digits::<f32>::zeroed();
    let mut init = [0.0f32; PARAMS];
    let mut seed = 0x5EED_u64;
    for (i, w) in init.iter_mut().enumerate() {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let u = (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
        let fan_in = if i < 64 * 32 + 32 { 64.0f32 } else { 32.0 };
        *w = u * 2.0 / fan_in.sqrt();
    }
    net.import(&init).expect("length");
    let mut opt = Adam::<f32, TRAINABLE>::new(AdamConfig::adam(3e-3)).expect("valid");
    let mut order: Vec<usize> = (0..host.len()).collect();
    for epoch in 0..PRETRAIN_EPOCHS {
        shuffle(&mut order, epoch as u64 + 1);
        for batch in order.chunks(32) {
            net.zero_grad();
            for &i in batch {
                net.accumulate(&host[i].x, host[i].label)
                    .expect("valid label");
            }
            let scale = 1.0 / batch.len() as f32;
            net.grads_mut().iter_mut().for_each(|g| *g *= scale);
            let (params, grads) = net.trainable_and_grads();
            opt.step(params, grads).expect("finite gradients");
        }
    }
    let clean_accuracy = accuracy(&mut net, device);
    let mut pretrained = vec![0.0f32; PARAMS];
    net.export(&mut pretrained).expect("length");
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
            buffer
                .draw_batch(&mut idx)
                .expect("buffer holds more than a batch");
            idx
        })
        .collect();
    Setup {
        pretrained,
        clean_accuracy,
        pretrain_seconds,
        host_samples: host.len(),
        samples: buffer.as_slice().to_vec(),
        batches,
        test: test.to_vec(),
    }
}

/// What one fine-tuning run reports.
pub struct Report {
    /// The number type.
    pub name: &'static str,
    /// Held-out shifted accuracy before fine-tuning, %.
    pub before: f64,
    /// After, %.
    pub after: f64,
    /// Network (parameters, gradients, kept activations, scratch) plus optimizer, bytes.
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
) -> Report {
    let start = Instant::now();
    let mut net = Digits::<S>::zeroed();
    let weights: Vec<S> = setup
        .pretrained
        .iter()
        .map(|&w| S::from_f64(f64::from(w)))
        .collect();
    net.import(&weights).expect("weights fit");
    let before = accuracy(&mut net, &setup.test);
    let mut opt = Adam::<S, TRAINABLE>::new(AdamConfig::adam(FINETUNE_LR)).expect("valid");
    let mut acc = GradAccumulator::new();
    let mut curve = Vec::new();
    for (epoch, chunk) in setup.batches.chunks(STEPS_PER_EPOCH).enumerate() {
        let mut loss_sum = 0.0;
        for batch in chunk {
            net.zero_grad();
            for &i in batch {
                let s = &setup.samples[i];
                let loss = net
                    .accumulate(&convert(&s.x), s.label)
                    .expect("valid label");
                loss_sum += loss.to_f64();
                acc.add_sample().expect("few samples");
            }
            // Mean over the mini-batch, in place in the gradient arena.
            acc.finish(net.grads_mut()).expect("a full batch");
            let (params, grads) = net.trainable_and_grads();
            opt.step(params, grads).expect("finite gradients");
        }
        let loss = loss_sum / (chunk.len() * BATCH) as f64;
        let acc_now = accuracy(&mut net, &setup.test);
        progress(&format!(
            "  [{name:>13}] epoch {:>2}/{FINETUNE_EPOCHS}: loss {loss:.4}, held-out shifted accuracy {acc_now:.1} %",
            epoch + 1
        ));
        curve.push((loss, acc_now));
    }
    Report {
        name,
        before,
        after: accuracy(&mut net, &setup.test),
        train_bytes: core::mem::size_of::<Digits<S>>() + core::mem::size_of::<Adam<S, TRAINABLE>>(),
        steps: opt.step_count(),
        seconds: start.elapsed().as_secs_f64(),
        curve,
    }
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
