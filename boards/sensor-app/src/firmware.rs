//! The firmware's main loop, shared by every board (feature `defmt`): configure the sensor, then
//! learn from one window after another, logging each over defmt.
//!
//! Not built for the host tests (the `defmt` feature is off there: host links fail on
//! `_defmt_write`); everything it calls is tested through [`App::cycle`](crate::App::cycle).

use edgetune::nn::Scalar;
use edgetune::optim::AdamNum;
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{self, InputPin};
use embedded_hal::i2c::{self, I2c, NoAcknowledgeSource};

use crate::app::{AppError, Button, Report};
use crate::lis3dh::{self, DataRate, Lis3dh, Range};
use crate::App;

/// Full scale the firmware uses: ±4 g holds a vigorous shake, at 2 mg per digit.
pub const RANGE: Range = Range::G4;
/// Sample rate: 50 Hz, so a window of 32 readings is 0.64 s.
pub const RATE: DataRate = DataRate::Hz50;

/// Configures the sensor (retrying every second until it answers as a LIS3DH), then runs
/// [`App::cycle`] forever and logs every window. Errors are logged and the loop goes on: a
/// loose wire costs the windows read while it is loose, not the training so far.
pub fn run<S, I2C, P, D>(
    app: &mut App<S>,
    sensor: &mut Lis3dh<I2C>,
    button: &mut Button<P>,
    delay: &mut D,
) -> !
where
    S: Scalar + AdamNum,
    I2C: I2c,
    P: InputPin,
    D: DelayNs,
{
    loop {
        match sensor.init(RANGE, RATE) {
            Ok(()) => break,
            Err(e) => {
                defmt::error!(
                    "LIS3DH not configured: {=str}; check the wiring; retrying in 1 s",
                    sensor_error(&e)
                );
                delay.delay_ms(1000);
            }
        }
    }
    defmt::info!(
        "LIS3DH ready: +-4 g, 50 Hz, windows of {=usize} readings. Hold the button while you make your gesture, let go otherwise.",
        crate::WINDOW
    );
    loop {
        log(&app.cycle(sensor, button, delay));
    }
}

/// One log line for one window's outcome.
///
/// Errors are logged through embedded-hal's error kinds, not the HALs' own types: those do not
/// all implement `defmt::Format`, and formatting them with `core::fmt` would add about 10 KiB
/// of formatting code to the firmware.
pub fn log<EI: i2c::Error, EP: digital::Error>(result: &Result<Report, AppError<EI, EP>>) {
    let r = match result {
        Ok(r) => r,
        Err(AppError::Sensor(e)) => {
            defmt::warn!("window dropped: {=str}", sensor_error(e));
            return;
        }
        Err(AppError::Button(e)) => {
            defmt::warn!(
                "window dropped: button pin error ({=str})",
                match e.kind() {
                    digital::ErrorKind::Other => "other",
                    _ => "unknown",
                }
            );
            return;
        }
        Err(AppError::Train(e)) => {
            defmt::warn!("window dropped: training step failed: {}", e);
            return;
        }
    };
    let f = &r.features;
    let Some(label) = r.label else {
        defmt::info!(
            "window {=u32}: button changed during the window, not learned",
            r.window
        );
        return;
    };
    match r.batch_loss_milli {
        None => defmt::info!(
            "window {=u32}: button {=u8}, net says {=u8} | stored {=u16}/{=u16} | waiting for both classes (hold the button during a gesture)",
            r.window,
            label,
            r.predicted,
            r.stored[0],
            r.stored[1]
        ),
        Some(loss) => defmt::info!(
            "window {=u32}: button {=u8}, net says {=u8} | last {=u8}: {=u8} right | batch loss {=u32}.{=u32:03} | stored {=u16}/{=u16} | mean mg {=i32} {=i32} {=i32} dev mg {=i32} {=i32} {=i32}",
            r.window,
            label,
            r.predicted,
            r.recent_scored,
            r.recent_right,
            loss / 1000,
            loss % 1000,
            r.stored[0],
            r.stored[1],
            f.mean_mg[0],
            f.mean_mg[1],
            f.mean_mg[2],
            f.mad_mg[0],
            f.mad_mg[1],
            f.mad_mg[2]
        ),
    }
}

/// A sensor error in words.
fn sensor_error<E: i2c::Error>(e: &lis3dh::Error<E>) -> &'static str {
    match e {
        lis3dh::Error::WrongDevice(_) => "WHO_AM_I is not 0x33 (another part, or SA0 high: 0x19)",
        lis3dh::Error::NotReady => "no new data for 0.2 s (sensor reset or unpowered?)",
        lis3dh::Error::I2c(e) => match e.kind() {
            i2c::ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address) => {
                "I2C: no acknowledge of the address (wiring, power, pull-ups?)"
            }
            i2c::ErrorKind::NoAcknowledge(_) => "I2C: no acknowledge",
            i2c::ErrorKind::Bus => "I2C: bus error",
            i2c::ErrorKind::ArbitrationLoss => "I2C: arbitration lost",
            i2c::ErrorKind::Overrun => "I2C: overrun",
            _ => "I2C: other error",
        },
    }
}
