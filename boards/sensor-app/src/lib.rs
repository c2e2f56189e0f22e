//! The device-independent half of the real-board firmware (`boards/nucleo-f411re`,
//! `boards/rpi-pico`, `boards/nrf52840-dk`): everything but clocks and pins.
//!
//! - [`lis3dh`]: a driver for ST's LIS3DH accelerometer, generic over
//!   [`embedded_hal::i2c::I2c`]; readings in milli-g, scaled by the datasheet's sensitivity.
//! - [`features`]: a window of [`WINDOW`] readings turned into [`FEATURES`] numbers (per-axis
//!   mean and mean absolute deviation).
//! - [`app`]: the training loop. The user holds a push button while doing a gesture (class 1)
//!   and lets go otherwise (class 0); every window is first classified by the current network
//!   (a test on data it has not trained on), then stored in a per-class replay buffer and
//!   the network takes [`app::STEPS_PER_WINDOW`] Adam steps on balanced mini-batches.
//! - `firmware` (feature `defmt`): the boards' main loop, `firmware::run`: configure the
//!   sensor, then one [`App::cycle`] after another, each logged over defmt.
//!
//! Nothing is allocated: the whole training state is one [`app::App`] (2 296 bytes for
//! `App<f32>` on a 32-bit target, asserted in the boards' `main.rs`), which the firmware keeps in a `static`. No function here panics on data
//! from the bus, the button or the network: every failure is a typed error ([`lis3dh::Error`],
//! [`app::AppError`]).
//!
//! # What is learned where
//! - Fixed, hand-written: the window features ([`features`]).
//! - Pretrained on a PC ([`pretrained`], written by `boards/tools/accel-pretrain`): the whole
//!   6-8-2 network, with edgetune, on synthetic windows (module `synth`, feature `synth`) of a
//!   board lying still versus shaken hard. No real sensor data was used.
//! - Learned on the device: the head (the last layer, 18 of the 74 parameters), from the user's
//!   own windows and button; the feature layer stays as pretrained ([`app::Net`]).
#![no_std]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod app;
pub mod features;
#[cfg(feature = "defmt")]
pub mod firmware;
pub mod lis3dh;
pub mod pretrained;
#[cfg(feature = "synth")]
pub mod synth;

pub use app::{App, AppError, Button, Report};
pub use features::{Features, FEATURES, WINDOW};
pub use lis3dh::{Accel, Address, DataRate, Lis3dh, Range};
