//! The training loop: label source, network, replay buffers, one window per [`App::cycle`].
//!
//! # Protocol
//! 1. Read the button, read [`WINDOW`] accelerometer samples, read the button again. If it
//!    changed during the window, the window is ambiguous and only reported
//!    ([`Report::label`] is `None`).
//! 2. Otherwise the label is the button: held = class 1 (the user's gesture), released =
//!    class 0. The current network classifies the window **before** learning from it, so
//!    [`Report::recent_right`] out of [`Report::recent_scored`] is the accuracy over the last
//!    [`RECENT`] windows on data the network had not trained on (prequential evaluation).
//! 3. The window's features go into its class's replay buffer ([`PER_CLASS`] windows per
//!    class, reservoir sampling: old windows are kept with the same probability as new ones).
//! 4. Once both classes have a window, the network takes [`STEPS_PER_WINDOW`] Adam steps, each
//!    on a balanced mini-batch of up to [`HALF_BATCH`] windows per class, the gradient averaged.
//!
//! Balanced batches matter here: a user holds the button for a small part of the time, and a
//! network trained on the raw stream would learn to answer "released".

use edgetune::nn::{Init, Network, NnError, Scalar};
use edgetune::optim::{Adam, AdamConfig, AdamNum};
use edgetune::train::{Policy, SampleBuffer, TrainError, Trainer};
use edgetune::Error;
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::InputPin;
use embedded_hal::i2c::I2c;

use crate::features::{Features, FEATURES, WINDOW};
use crate::lis3dh::{self, Accel, Lis3dh};

edgetune::mlp! {
    /// The device's classifier: six window features, eight tanh units, two logits (released,
    /// held). The feature layer (6 × 8 weights and 8 biases) is frozen as pretrained on the PC;
    /// only the head (8 × 2 weights and 2 biases) learns on the device.
    pub struct Net {
        dense 6 -> 8, tanh, frozen;
        dense 8 -> 2;
        loss softmax_cross_entropy;
    }
}

edgetune::mlp! {
    /// The same network with every layer trained: what `boards/tools/accel-pretrain` trains on
    /// the PC. Same parameter layout as [`Net`] (torch order), so its weights load into `Net`.
    pub struct FullNet {
        dense 6 -> 8, tanh;
        dense 8 -> 2;
        loss softmax_cross_entropy;
    }
}

/// Parameters of [`Net`]: 6·8 + 8 + 8·2 + 2 = 74.
pub const PARAMS: usize = Net::<f32>::PARAMS;
/// Parameters the device trains: the head, 8·2 + 2 = 18.
pub const TRAINABLE: usize = Net::<f32>::TRAINABLE;
/// Classes: 0 = button released, 1 = button held.
pub const CLASSES: usize = 2;
/// Windows kept per class in the replay buffers.
pub const PER_CLASS: usize = 32;
/// Windows per class in one mini-batch (fewer while a buffer holds fewer).
pub const HALF_BATCH: usize = 4;
/// Adam steps after every labelled window.
pub const STEPS_PER_WINDOW: usize = 4;
/// Adam's learning rate.
pub const LR: f64 = 0.05;
/// Windows the running accuracy covers.
pub const RECENT: u32 = 20;

/// The push button that labels the data.
#[derive(Debug)]
pub struct Button<P> {
    pin: P,
    active_low: bool,
}

impl<P: InputPin> Button<P> {
    /// A button that pulls the pin low when pressed (wired to ground, with a pull-up): the
    /// usual wiring, and the user buttons of the NUCLEO and nRF52840-DK boards.
    pub const fn active_low(pin: P) -> Self {
        Button {
            pin,
            active_low: true,
        }
    }

    /// A button that drives the pin high when pressed (wired to 3.3 V, with a pull-down).
    pub const fn active_high(pin: P) -> Self {
        Button {
            pin,
            active_low: false,
        }
    }

    /// Whether the button is held now.
    ///
    /// # Errors
    /// The pin's error.
    pub fn pressed(&mut self) -> Result<bool, P::Error> {
        if self.active_low {
            self.pin.is_low()
        } else {
            self.pin.is_high()
        }
    }

    /// Gives the pin back.
    pub fn release(self) -> P {
        self.pin
    }
}

/// Why a [`App::cycle`] failed. The training state is unchanged by a sensor or button failure
/// (the window is dropped), so the firmware can log it and call `cycle` again.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AppError<EI, EP> {
    /// The accelerometer.
    Sensor(lis3dh::Error<EI>),
    /// The button's pin.
    Button(EP),
    /// The learning step (the network, the optimizer or the batch bookkeeping; see
    /// [`App::learn`]).
    Train(Error),
}

/// What one window did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Report {
    /// Windows read so far, this one included (1-based).
    pub window: u32,
    /// The window's features.
    pub features: Features,
    /// The button's class, `None` if it changed during the window (nothing learned).
    pub label: Option<u8>,
    /// The class the network gave the window before learning from it.
    pub predicted: u8,
    /// Right predictions among the last `recent_scored` labelled windows.
    pub recent_right: u8,
    /// Labelled windows in the running accuracy (at most [`RECENT`]).
    pub recent_scored: u8,
    /// Windows stored per class.
    pub stored: [u16; CLASSES],
    /// Mean cross-entropy of the mini-batches of this window's steps, in thousandths (before
    /// each step's update); `None` until both classes have been seen.
    pub batch_loss_milli: Option<u32>,
}

/// The whole training state. `S` is the number type: `f32` on an FPU, `I16F16` without.
///
/// RAM: the network (`size_of::<Net<S>>()`: 74 parameters, 18 gradients, kept activations,
/// scratch), the trainer (Adam's two moments, 2 × 18 values, and its clipping setting), two
/// replay buffers of 32 windows × 6 values,
/// and a few counters: 2 312 bytes for `App<f32>` on a 64-bit host (printed, and checked to be
/// at most 4 KiB, by the host tests); the firmware's `.bss` figures are in each board's README.
///
/// `repr(C)` keeps the network first, at the start of the `static` the firmware moves the app
/// into. With LTO the forward pass is compiled for that one address, and a Cortex-M4F `vldr`
/// reaches only 1020 bytes past its base register: with the network's parameters 1.8 KiB into
/// the struct (where Rust's own field order put them once the trainer joined), every one of the
/// 74 parameter loads needed an extra `add` first (+77 instructions per forward pass, +2 500 per
/// window on the M4F).
#[repr(C)]
pub struct App<S: Scalar + AdamNum> {
    net: Net<S>,
    trainer: Trainer<Adam<S, TRAINABLE>>,
    replay: [SampleBuffer<[S; FEATURES], PER_CLASS>; CLASSES],
    history: u32,
    scored: u32,
    windows: u32,
}

impl<S: Scalar + AdamNum> App<S> {
    /// The network pretrained on the PC ([`crate::pretrained::PARAMS`]), Adam at [`LR`] on
    /// the head, empty buffers. What the firmware starts from.
    ///
    /// # Errors
    /// Only if the constants above were inconsistent.
    pub fn pretrained() -> Result<Self, Error> {
        Self::with_params(&crate::pretrained::PARAMS.map(f64::from))
    }

    /// A network whose feature layer is random (Glorot uniform, [`GLOROT`], from `seed`; the
    /// values of [`glorot`]): what the device could do without pretraining. For comparison in
    /// the tests.
    ///
    /// # Errors
    /// As [`pretrained`](App::pretrained).
    pub fn seeded(seed: u64) -> Result<Self, Error> {
        let mut app = Self::with_params(&[0.0; PARAMS])?;
        app.net.init(GLOROT, seed)?;
        Ok(app)
    }

    /// A network with the given parameters (torch order: W0 row by row, b0, W1, b1).
    ///
    /// # Errors
    /// As [`pretrained`](App::pretrained).
    pub fn with_params(params: &[f64; PARAMS]) -> Result<Self, Error> {
        let mut net = Net::<S>::zeroed();
        net.import(&params.map(S::from_f64))?;
        Ok(App {
            net,
            trainer: Trainer::new(Adam::new(AdamConfig::adam(LR))?),
            replay: [
                SampleBuffer::new(Policy::Reservoir, 0x5eed_0001),
                SampleBuffer::new(Policy::Reservoir, 0x5eed_0002),
            ],
            history: 0,
            scored: 0,
            windows: 0,
        })
    }

    /// One window: button, [`WINDOW`] readings (each when the sensor has it), button,
    /// then [`learn`](App::learn) unless the button changed.
    ///
    /// # Errors
    /// [`AppError::Sensor`] or [`AppError::Button`]: the window is dropped and nothing else
    /// changes. [`AppError::Train`] from [`learn`](App::learn).
    pub fn cycle<I2C: I2c, P: InputPin, D: DelayNs>(
        &mut self,
        sensor: &mut Lis3dh<I2C>,
        button: &mut Button<P>,
        delay: &mut D,
    ) -> Result<Report, AppError<I2C::Error, P::Error>> {
        let before = button.pressed().map_err(AppError::Button)?;
        let mut window = [Accel::default(); WINDOW];
        for a in window.iter_mut() {
            *a = sensor.read_when_ready(delay).map_err(AppError::Sensor)?;
        }
        let after = button.pressed().map_err(AppError::Button)?;
        let features = Features::of(&window);
        if before != after {
            let predicted = self.net.predict(&features.input::<S>());
            let predicted = predicted.map_err(AppError::Train)? as u8;
            self.windows += 1;
            return Ok(Report {
                window: self.windows,
                features,
                label: None,
                predicted,
                recent_right: self.recent_right(),
                recent_scored: self.scored as u8,
                stored: self.stored(),
                batch_loss_milli: None,
            });
        }
        self.learn(&features, usize::from(before))
            .map_err(AppError::Train)
    }

    /// Scores the network on one labelled window, stores it, and trains (protocol steps 2-4).
    ///
    /// # Errors
    /// [`NnError::LabelOutOfRange`] for a label outside `0..CLASSES`, the network's
    /// [`Error::InvalidInput`] for features it cannot take (fixed point: a value at the type's
    /// end): nothing changes then. The trainer's error otherwise (the parameters and Adam's
    /// state are unchanged, the window is stored and counted).
    pub fn learn(&mut self, features: &Features, label: usize) -> Result<Report, Error> {
        let Some(buffer) = self.replay.get_mut(label) else {
            return Err(NnError::LabelOutOfRange {
                label,
                classes: CLASSES,
            }
            .into());
        };
        let x = features.input::<S>();
        let predicted = self.net.predict(&x)?;
        buffer.push(x);
        self.windows += 1;
        self.history = self.history << 1 | u32::from(predicted == label);
        self.scored = (self.scored + 1).min(RECENT);

        let mut batch_loss_milli = None;
        if self.replay.iter().all(|b| !b.is_empty()) {
            let mut sum = 0.0;
            for _ in 0..STEPS_PER_WINDOW {
                sum += self.step()?;
            }
            batch_loss_milli = Some((sum / STEPS_PER_WINDOW as f64 * 1000.0) as u32);
        }
        Ok(Report {
            window: self.windows,
            features: *features,
            label: Some(label as u8),
            predicted: predicted as u8,
            recent_right: self.recent_right(),
            recent_scored: self.scored as u8,
            stored: self.stored(),
            batch_loss_milli,
        })
    }

    /// One Adam step on a balanced mini-batch (up to [`HALF_BATCH`] windows of class 0, then of
    /// class 1); returns its mean loss before the update.
    fn step(&mut self) -> Result<f64, Error> {
        let mut idx = [[0usize; HALF_BATCH]; CLASSES];
        let mut len = [0usize; CLASSES];
        for ((buffer, idx), len) in self.replay.iter_mut().zip(&mut idx).zip(&mut len) {
            *len = HALF_BATCH.min(buffer.len());
            buffer.draw_batch(&mut idx[..*len])?;
        }
        let replay = &self.replay;
        let split = len[0];
        self.trainer.step_with(
            &mut self.net,
            len[0] + len[1],
            |i, x: &mut [S; FEATURES]| {
                let (class, k) = if i < split { (0, i) } else { (1, i - split) };
                let sample = idx
                    .get(class)
                    .and_then(|idx| idx.get(k))
                    .and_then(|&j| replay.get(class)?.get(j));
                // Cannot fail: draw_batch's indices are below each buffer's length.
                let Some(sample) = sample else {
                    return Err(TrainError::BatchTooLarge {
                        requested: k.saturating_add(1),
                        available: replay.get(class).map_or(0, |b| b.len()),
                    }
                    .into());
                };
                *x = *sample;
                Ok(class)
            },
        )
    }

    /// The network (to evaluate it with `edgetune::train::evaluate_with`, for example).
    pub fn net(&self) -> &Net<S> {
        &self.net
    }

    /// The network's class for a feature vector (no learning).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for features the network cannot take.
    pub fn predict(&self, x: &[S; FEATURES]) -> Result<usize, Error> {
        self.net.predict(x)
    }

    /// The network's cross-entropy on a labelled feature vector (no learning).
    ///
    /// # Errors
    /// [`NnError::LabelOutOfRange`] for a label outside `0..CLASSES`, [`Error::InvalidInput`].
    pub fn loss(&self, x: &[S; FEATURES], label: usize) -> Result<f64, Error> {
        Ok(self.net.loss(x, label)?.to_f64())
    }

    /// The network's parameters, torch order.
    ///
    /// # Errors
    /// Only if the constants above were inconsistent.
    pub fn params(&self) -> Result<[S; PARAMS], Error> {
        let mut out = [S::from_f64(0.0); PARAMS];
        self.net.export(&mut out)?;
        Ok(out)
    }

    fn recent_right(&self) -> u8 {
        let mask = (1u32 << self.scored) - 1;
        (self.history & mask).count_ones() as u8
    }

    fn stored(&self) -> [u16; CLASSES] {
        self.replay.each_ref().map(|b| b.len() as u16)
    }
}

/// The random initialisation of [`App::seeded`] and of `boards/tools/accel-pretrain`: Glorot
/// (Xavier) uniform, weights `U(−a, a)` with `a = √(6/(fan_in + fan_out))`, biases zero.
pub const GLOROT: Init = Init::XavierUniform { gain: 1.0 };

/// The parameters [`GLOROT`] draws from `seed` for [`Net`] / [`FullNet`] (the same layout),
/// torch order, in `f64`: `edgetune::nn::Network::init` on a `FullNet<f64>`.
pub fn glorot(seed: u64) -> [f64; PARAMS] {
    let mut net = FullNet::<f64>::zeroed();
    let mut out = [0.0; PARAMS];
    // Neither can fail: every fan of these layers is positive, the gain is 1 and `out` has
    // PARAMS elements (the tests check the values).
    let _ = net.init(GLOROT, seed);
    let _ = net.export(&mut out);
    out
}
