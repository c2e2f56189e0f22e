//! The firmware's main loop, shared by every board (feature `defmt`): configure the sensor, then
//! learn from one window after another, logging each over defmt.
//!
//! Not built for the host tests (the `defmt` feature is off there: host links fail on
//! `_defmt_write`); everything it calls is tested through [`App::cycle`](crate::App::cycle).

use core::fmt::Debug;

use edgetune::nn::Scalar;
use edgetune::optim::AdamNum;
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::InputPin;
use embedded_hal::i2c::I2c;

use crate::app::{AppError, Button, Report};
use crate::lis3dh::{DataRate, Lis3dh, Range};
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
                    "LIS3DH not found ({}); check the wiring; retrying in 1 s",
                    defmt::Debug2Format(&e)
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
pub fn log<EI: Debug, EP: Debug>(result: &Result<Report, AppError<EI, EP>>) {
    let r = match result {
        Ok(r) => r,
        Err(e) => {
            defmt::warn!("window dropped: {}", defmt::Debug2Format(e));
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
