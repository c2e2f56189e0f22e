//! The imu pipeline, shared by `examples/imu` (which prints and plots it) and `tests/imu.rs`
//! (which checks its claims).

use edgetune::nn::{Init, Network, Scalar};
use edgetune::optim::{Adam, AdamConfig, AdamNum};
use edgetune::reference::cnn::{same_padding, RefCnn, RefLayer};
use edgetune::reference::network::{RefActivation, RefTarget};
use edgetune::reference::{Hyper, Kind};
use edgetune::train::{evaluate, Pcg32, Trainer};
use edgetune::Error;
use edgetune_basicmotions::{self as bm, CHANNELS, CLASSES, LEN, TRAIN_MEAN, TRAIN_STD, VALUES};
use std::time::Instant;

/// One network declaration per fine-tuning mode; they share the parameter layout (torch order),
/// so `export`/`import` move weights between them.
macro_rules! imu_net {
    ($(#[$m:meta])* $name:ident: $c1:ident, $bn1:ident, $c2:ident, $bn2:ident, $d:ident) => {
        edgetune::cnn! {
            $(#[$m])*
            pub struct $name {
                input [100, 6];
                conv1d(6, 16, 5, stride = 2, padding = same), $c1;
                batch_norm(16), relu, $bn1;
                max_pool1d(2);
                conv1d(16, 16, 3, padding = same), $c2;
                batch_norm(16), relu, $bn2;
                global_avg_pool;
                dense(16, 4), $d;
                loss softmax_cross_entropy;
            }
        }
    };
}

imu_net!(
    /// Every layer trains: pretraining on the host.
    Imu: train, train, train, train, train
);
imu_net!(
    /// Head only: the features stay as pretrained, the last dense layer learns.
    ImuHead: frozen, frozen, frozen, frozen, train
);
imu_net!(
    /// BN-affine only: the batch norms' scales and shifts learn, everything else is frozen.
    ImuBn: frozen, train, frozen, train, frozen
);
imu_net!(
    /// Bias only: every convolution and dense bias and every batch-norm shift learns.
    ImuBias: bias, bias, bias, bias, bias
);

/// Number of parameters (every declaration).
pub const PARAMS: usize = Imu::<f32>::PARAMS;

/// Pretraining epochs on the host.
pub const PRETRAIN_EPOCHS: usize = 40;
/// Pretraining mini-batch.
pub const PRETRAIN_BATCH: usize = 8;
/// Pretraining learning rate (Adam).
pub const PRETRAIN_LR: f64 = 1e-2;
/// Labelled recordings per class the device gets through its changed sensor.
pub const DEVICE_PER_CLASS: usize = 3;
/// Device fine-tuning mini-batch.
pub const BATCH: usize = 4;
/// Device fine-tuning epochs (one pass over its recordings each).
pub const EPOCHS: usize = 25;
/// Device fine-tuning learning rate (Adam), per mode.
pub const LR: [f64; 3] = [3e-2, 3e-2, 3e-2];
/// The sensor change's turn about the watch face's normal (z), degrees.
pub const TURN_DEG: f64 = 60.0;
/// The sensor change's tilt about x after the turn, degrees.
pub const TILT_DEG: f64 = 15.0;

/// A recording as the network reads it: 100 steps × 6 channels, channels-last.
pub type Recording = [f32; VALUES];

/// One labelled recording.
#[derive(Clone, Copy)]
pub struct Labelled {
    /// Normalised values.
    pub x: Recording,
    /// The activity.
    pub label: usize,
}

/// Per-channel normalisation with the train split's statistics (the device keeps the factory
/// statistics: it does not know its sensor changed).
pub fn normalise(raw: &Recording) -> Recording {
    let mut out = *raw;
    for (i, v) in out.iter_mut().enumerate() {
        let c = i % CHANNELS;
        *v = (*v - TRAIN_MEAN[c]) / TRAIN_STD[c];
    }
    out
}

/// The changed sensor: the watch worn rotated on the wrist (a fixed rotation applied to the
/// accelerometer and the gyroscope triplets alike), then per-channel gain and offset drift,
/// in the sensor's raw units.
pub struct SensorChange {
    /// The rotation matrix (row-major).
    pub rotation: [[f32; 3]; 3],
    /// Per-channel gain.
    pub gain: [f32; CHANNELS],
    /// Per-channel offset, raw units.
    pub offset: [f32; CHANNELS],
}

/// Rotation by `deg` degrees about the axis `axis` (0 = x, 1 = y, 2 = z).
fn rotation(axis: usize, deg: f64) -> [[f64; 3]; 3] {
    let (s, c) = deg.to_radians().sin_cos();
    let (i, j) = ((axis + 1) % 3, (axis + 2) % 3);
    let mut r = [[0.0; 3]; 3];
    r[axis][axis] = 1.0;
    r[i][i] = c;
    r[i][j] = -s;
    r[j][i] = s;
    r[j][j] = c;
    r
}

fn matmul(a: &[[f64; 3]; 3], b: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let mut out = [[0.0; 3]; 3];
    for (i, row) in out.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    out
}

/// The demo's sensor change: the watch turned [`TURN_DEG`] about z, then tilted [`TILT_DEG`]
/// about x, gains within ±15 %, offsets of a fraction of a standard deviation.
pub fn sensor_change() -> SensorChange {
    let r = matmul(&rotation(0, TILT_DEG), &rotation(2, TURN_DEG));
    SensorChange {
        rotation: r.map(|row| row.map(|v| v as f32)),
        gain: [1.1, 0.9, 1.15, 0.85, 1.1, 0.9],
        offset: [1.5, -1.0, 0.8, 0.3, -0.2, 0.3],
    }
}

impl SensorChange {
    /// A raw recording through the changed sensor.
    pub fn apply(&self, raw: &Recording) -> Recording {
        let mut out = [0.0f32; VALUES];
        for t in 0..LEN {
            for triplet in [0, 3] {
                let v = &raw[t * CHANNELS + triplet..t * CHANNELS + triplet + 3];
                for (i, row) in self.rotation.iter().enumerate() {
                    let c = triplet + i;
                    let rotated: f32 = row.iter().zip(v).map(|(r, x)| r * x).sum();
                    out[t * CHANNELS + c] = self.gain[c] * rotated + self.offset[c];
                }
            }
        }
        out
    }
}

/// `samples` at number type `S`, as the trainer and `evaluate` take them.
pub fn convert<'a, S: Scalar>(
    samples: impl IntoIterator<Item = &'a Labelled>,
) -> Vec<([S; VALUES], usize)> {
    samples
        .into_iter()
        .map(|s| (s.x.map(|v| input::<S>(f64::from(v))), s.label))
        .collect()
}

/// A normalised sensor value in `S`. A value beyond the number type's range would saturate to
/// `MIN`/`MAX`, which a network refuses as input (it may stand for an overflow): the device
/// clips it to just inside the range instead, `±7.999` standard deviations, as a firmware
/// clamps a sensor reading. Only I4F12 (range `[-8, 8)`) meets such values here (the changed
/// sensor's rare samples beyond 8σ); f32 and I16F16 never clip, so their runs are unchanged.
pub fn input<S: Scalar>(v: f64) -> S {
    let x = S::from_f64(v);
    if edgetune::num::Num::is_usable_gradient(x) {
        x
    } else {
        S::from_f64(v.clamp(-7.999, 7.999))
    }
}

/// Accuracy in percent of `net` over `set`.
pub fn accuracy<S: Scalar, N: Network<S, Target = usize>>(
    net: &N,
    set: &[([S; VALUES], usize)],
) -> Result<f64, Error> {
    Ok(100.0 * evaluate(net, set)?.accuracy.unwrap_or(0.0))
}

/// A training copy of `s` (pretraining and the device's batches alike): shifted in time by a
/// random number of steps, circularly (the activities are roughly periodic; the wrap is one
/// splice), each value jittered uniformly by up to ±0.05 standard deviations.
fn augment(s: &Labelled, rng: &mut Pcg32) -> Labelled {
    let shift = rng.below(LEN as u32) as usize;
    let mut x = [0.0f32; VALUES];
    for t in 0..LEN {
        for c in 0..CHANNELS {
            let u = rng.next_u32() as f32 / u32::MAX as f32;
            x[t * CHANNELS + c] = s.x[((t + shift) % LEN) * CHANNELS + c] + 0.1 * (u - 0.5);
        }
    }
    Labelled { x, label: s.label }
}

/// Everything the fine-tuning runs share.
pub struct Setup {
    /// Pretrained weights, torch order.
    pub pretrained: Vec<f32>,
    /// Seconds spent pretraining.
    pub pretrain_seconds: f64,
    /// Accuracy of the pretrained network on the 40 test recordings, unchanged sensor.
    pub clean_accuracy: f64,
    /// The device's labelled recordings, changed sensor.
    pub device: Vec<Labelled>,
    /// The mini-batches, `device.len() / BATCH` steps per epoch: each epoch is a shuffle of
    /// `device`, each recording shifted in time and jittered ([`augment`]), drawn once so
    /// every number type trains on the same data.
    pub batches: Vec<[Labelled; BATCH]>,
    /// The 40 test recordings through the changed sensor.
    pub test: Vec<Labelled>,
}

/// Loads BasicMotions, pretrains on the host (f32, torch's default initialisation, Adam, the 40
/// train recordings with augmentation) and prepares the device's data.
pub fn setup() -> Result<Setup, Error> {
    let data = bm::bundled()?;
    let raw_train: Vec<(Recording, usize)> = data.train().map(|s| (s.to_f32(), s.label)).collect();
    let raw_test: Vec<(Recording, usize)> = data.test().map(|s| (s.to_f32(), s.label)).collect();
    let clean = |set: &[(Recording, usize)]| -> Vec<Labelled> {
        set.iter()
            .map(|(x, label)| Labelled {
                x: normalise(x),
                label: *label,
            })
            .collect()
    };
    let train = clean(&raw_train);

    let t0 = Instant::now();
    let mut net = Imu::<f32>::zeroed();
    net.init(Init::TorchDefault, 0x1_u64)?;
    let mut trainer = Trainer::new(Adam::<f32, { Imu::<f32>::TRAINABLE }>::new(
        AdamConfig::adam(PRETRAIN_LR),
    )?);
    let mut rng = Pcg32::seeded(0x0140);
    let mut order: Vec<usize> = (0..train.len()).collect();
    for _ in 0..PRETRAIN_EPOCHS {
        rng.shuffle(&mut order);
        for chunk in order.chunks(PRETRAIN_BATCH) {
            let batch: Vec<Labelled> = chunk
                .iter()
                .map(|&i| augment(&train[i], &mut rng))
                .collect();
            trainer.step_batch(&mut net, &convert::<f32>(&batch))?;
        }
    }
    let pretrain_seconds = t0.elapsed().as_secs_f64();
    let clean_accuracy = accuracy(&net, &convert::<f32>(&clean(&raw_test)))?;
    let mut pretrained = vec![0.0f32; PARAMS];
    net.export(&mut pretrained)?;

    let change = sensor_change();
    let changed = |set: &[(Recording, usize)]| -> Vec<Labelled> {
        set.iter()
            .map(|(x, label)| Labelled {
                x: normalise(&change.apply(x)),
                label: *label,
            })
            .collect()
    };
    // The first DEVICE_PER_CLASS train recordings of each class, through the changed sensor.
    let mut device = Vec::new();
    for class in 0..CLASSES {
        let picked: Vec<(Recording, usize)> = raw_train
            .iter()
            .filter(|(_, l)| *l == class)
            .take(DEVICE_PER_CLASS)
            .copied()
            .collect();
        device.extend(changed(&picked));
    }
    let mut shuffle = Pcg32::seeded(0xDE71CE);
    let mut batches = Vec::new();
    let mut idx: Vec<usize> = (0..device.len()).collect();
    for _ in 0..EPOCHS {
        shuffle.shuffle(&mut idx);
        for chunk in idx.chunks_exact(BATCH) {
            let mut b = [device[0]; BATCH];
            for (slot, &i) in b.iter_mut().zip(chunk) {
                *slot = augment(&device[i], &mut shuffle);
            }
            batches.push(b);
        }
    }
    Ok(Setup {
        pretrained,
        pretrain_seconds,
        clean_accuracy,
        device,
        batches,
        test: changed(&raw_test),
    })
}

/// A fine-tuning mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Last dense layer only.
    Head,
    /// Batch-norm scales and shifts only.
    BnAffine,
    /// Biases and batch-norm shifts only.
    Bias,
}

impl Mode {
    /// Every mode, in table order.
    pub const ALL: [Mode; 3] = [Mode::Head, Mode::BnAffine, Mode::Bias];

    /// Its name in the table.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Head => "head",
            Mode::BnAffine => "BN-affine",
            Mode::Bias => "bias",
        }
    }

    /// Its learning rate.
    pub fn lr(self) -> f64 {
        LR[self as usize]
    }

    /// `(train_weights, train_bias)` per layer of the reference network (conv, bn, pool, conv,
    /// bn, gap, dense).
    fn ref_modes(self) -> [(bool, bool); 7] {
        const F: (bool, bool) = (false, false);
        const T: (bool, bool) = (true, true);
        const B: (bool, bool) = (false, true);
        match self {
            Mode::Head => [F, F, F, F, F, F, T],
            Mode::BnAffine => [F, T, F, F, T, F, F],
            Mode::Bias => [B, B, F, B, B, F, B],
        }
    }
}

/// What one fine-tuning run reports.
pub struct Report {
    /// The mode.
    pub mode: Mode,
    /// The number type.
    pub name: &'static str,
    /// Trained parameters.
    pub trainable: usize,
    /// Changed-sensor test accuracy before fine-tuning, %.
    pub before: f64,
    /// After, %.
    pub after: f64,
    /// Network (parameters, gradients, kept activations, scratch) plus trainer (Adam state and
    /// clipping setting), bytes; 0 for the host-only reference.
    pub train_bytes: usize,
    /// Wall time of the fine-tuning, seconds.
    pub seconds: f64,
    /// Mean training loss and changed-sensor test accuracy after each epoch.
    pub curve: Vec<(f64, f64)>,
}

/// Fine-tunes a copy of the pretrained weights in `mode` with network `Net` (one of the mode
/// declarations at number type `S`, `N` its trainable count); `progress` gets a line per epoch.
pub fn finetune<S, const N: usize, Net>(
    mode: Mode,
    name: &'static str,
    mut net: Net,
    setup: &Setup,
    progress: &mut dyn FnMut(&str),
) -> Result<Report, Error>
where
    S: Scalar + AdamNum,
    Net: Network<S, Target = usize>,
{
    let start = Instant::now();
    let weights: Vec<S> = setup
        .pretrained
        .iter()
        .map(|&w| S::from_f64(f64::from(w)))
        .collect();
    net.import(&weights)?;
    let test = convert::<S>(&setup.test);
    let before = accuracy(&net, &test)?;
    let mut trainer = Trainer::new(Adam::<S, N>::new(AdamConfig::adam(mode.lr()))?);
    let steps_per_epoch = setup.batches.len() / EPOCHS;
    let mut curve = Vec::new();
    for (epoch, chunk) in setup.batches.chunks(steps_per_epoch).enumerate() {
        let mut loss_sum = 0.0;
        for batch in chunk {
            loss_sum += trainer.step_batch(&mut net, &convert::<S>(batch))?;
        }
        let loss = loss_sum / chunk.len() as f64;
        let acc_now = accuracy(&net, &test)?;
        progress(&format!(
            "  [{:>9} {name:>13}] epoch {:>2}/{EPOCHS}: loss {loss:.4}, changed-sensor test accuracy {acc_now:.1} %",
            mode.name(),
            epoch + 1
        ));
        curve.push((loss, acc_now));
    }
    Ok(Report {
        mode,
        name,
        trainable: N,
        before,
        after: accuracy(&net, &test)?,
        train_bytes: core::mem::size_of::<Net>() + core::mem::size_of::<Trainer<Adam<S, N>>>(),
        seconds: start.elapsed().as_secs_f64(),
        curve,
    })
}

/// The reference network of `mode`: the same layers written for `RefCnn`.
pub fn reference_network(mode: Mode, flat: &[f64]) -> RefCnn {
    let m = mode.ref_modes();
    let layers = vec![
        (
            RefLayer::conv1d(6, 16, 5, 2, same_padding(100, 5, 2), 1),
            RefActivation::None,
        ),
        (RefLayer::BatchNorm { channels: 16 }, RefActivation::Relu),
        (RefLayer::max_pool1d(2, 2, (0, 0)), RefActivation::None),
        (
            RefLayer::conv1d(16, 16, 3, 1, same_padding(25, 3, 1), 1),
            RefActivation::None,
        ),
        (RefLayer::BatchNorm { channels: 16 }, RefActivation::Relu),
        (RefLayer::GlobalAvgPool, RefActivation::None),
        (
            RefLayer::Dense {
                inputs: 16,
                outputs: 4,
            },
            RefActivation::None,
        ),
    ];
    let layers = layers
        .into_iter()
        .zip(m)
        .map(|((l, a), (w, b))| (l, a, w, b))
        .collect();
    RefCnn::from_flat([1, LEN, CHANNELS], layers, flat).expect("the reference layers fit")
}

/// The same fine-tuning with the plain f64 reference CNN and optimizer (`edgetune::reference`),
/// which share no code with the generic path.
pub fn finetune_reference(mode: Mode, setup: &Setup, progress: &mut dyn FnMut(&str)) -> Report {
    let start = Instant::now();
    let flat: Vec<f64> = setup.pretrained.iter().map(|&w| f64::from(w)).collect();
    let mut net = reference_network(mode, &flat);
    let values = |s: &Labelled| -> Vec<f64> { s.x.iter().map(|&v| f64::from(v)).collect() };
    let test_x: Vec<Vec<f64>> = setup.test.iter().map(values).collect();
    let test_y: Vec<usize> = setup.test.iter().map(|s| s.label).collect();
    let before = 100.0 * net.accuracy(&test_x, &test_y).expect("shapes");
    let hyper = Hyper {
        lr: mode.lr(),
        ..Hyper::defaults(Kind::Adam)
    };
    let mut opt = net.optimizer(Kind::Adam, hyper);
    let steps_per_epoch = setup.batches.len() / EPOCHS;
    let mut curve = Vec::new();
    for (epoch, chunk) in setup.batches.chunks(steps_per_epoch).enumerate() {
        let mut loss_sum = 0.0;
        for batch in chunk {
            let xs: Vec<Vec<f64>> = batch.iter().map(values).collect();
            let ts: Vec<RefTarget> = batch.iter().map(|s| RefTarget::Class(s.label)).collect();
            loss_sum += net.train_step(&mut opt, &xs, &ts).expect("valid batch");
        }
        let loss = loss_sum / chunk.len() as f64;
        let acc_now = 100.0 * net.accuracy(&test_x, &test_y).expect("shapes");
        progress(&format!(
            "  [{:>9} {:>13}] epoch {:>2}/{EPOCHS}: loss {loss:.4}, changed-sensor test accuracy {acc_now:.1} %",
            mode.name(),
            "f64 reference",
            epoch + 1
        ));
        curve.push((loss, acc_now));
    }
    Report {
        mode,
        name: "f64 reference",
        trainable: net.num_trainable(),
        before,
        after: 100.0 * net.accuracy(&test_x, &test_y).expect("shapes"),
        train_bytes: 0,
        seconds: start.elapsed().as_secs_f64(),
        curve,
    }
}

/// The four runs of `mode`: f64 reference, f32, I16F16, I4F12.
pub fn run_mode(
    mode: Mode,
    setup: &Setup,
    progress: &mut dyn FnMut(&str),
) -> Result<[Report; 4], Error> {
    use edgetune::num::fixed::{I16F16, I4F12};
    let reference = finetune_reference(mode, setup, progress);
    macro_rules! runs {
        ($net:ident) => {
            [
                reference,
                finetune::<f32, { $net::<f32>::TRAINABLE }, _>(
                    mode,
                    "f32",
                    $net::<f32>::zeroed(),
                    setup,
                    progress,
                )?,
                finetune::<I16F16, { $net::<f32>::TRAINABLE }, _>(
                    mode,
                    "I16F16",
                    $net::<I16F16>::zeroed(),
                    setup,
                    progress,
                )?,
                finetune::<I4F12, { $net::<f32>::TRAINABLE }, _>(
                    mode,
                    "I4F12",
                    $net::<I4F12>::zeroed(),
                    setup,
                    progress,
                )?,
            ]
        };
    }
    Ok(match mode {
        Mode::Head => runs!(ImuHead),
        Mode::BnAffine => runs!(ImuBn),
        Mode::Bias => runs!(ImuBias),
    })
}

/// The largest `|loss − reference loss|` over the epochs.
pub fn max_loss_gap(run: &Report, reference: &Report) -> f64 {
    run.curve
        .iter()
        .zip(&reference.curve)
        .map(|(a, b)| (a.0 - b.0).abs())
        .fold(0.0, f64::max)
}

/// `|loss − reference loss|` of the last epoch.
pub fn last_loss_gap(run: &Report, reference: &Report) -> f64 {
    match (run.curve.last(), reference.curve.last()) {
        (Some(a), Some(b)) => (a.0 - b.0).abs(),
        _ => f64::NAN,
    }
}
