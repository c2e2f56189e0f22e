//! The exact I2C and pin transactions `App::cycle` makes to read synthetic windows
//! (`sensor_app::synth`).
#![allow(dead_code)]

use edgetune::train::Pcg32;
use embedded_hal_mock::eh1::digital::{State, Transaction as PinTx};
use embedded_hal_mock::eh1::i2c::Transaction as I2cTx;
use sensor_app::lis3dh::{Accel, ZYXDA};
use sensor_app::synth::{encode_4g, window_mg, Scene};
use sensor_app::WINDOW;

/// The Adafruit breakout's address (SA0 low).
pub const ADDR: u8 = 0x18;

/// The transactions of one window of `scene` read by `App::cycle` (button read, 32 readings,
/// button read) with the button held for class 1 (active low) and, for every
/// `not_ready_every`-th reading, one poll that finds no new data first. Each reading carries
/// junk in the 4 unused low bits. Returns the transactions and the readings the driver must
/// decode.
pub fn window_transactions(
    rng: &mut Pcg32,
    scene: &Scene,
    class: usize,
    not_ready_every: usize,
) -> (Vec<PinTx>, Vec<I2cTx>, [Accel; WINDOW]) {
    let level = if class == 1 { State::Low } else { State::High };
    let pin = vec![PinTx::get(level), PinTx::get(level)];
    let mut i2c = Vec::new();
    let mut decoded = [Accel::default(); WINDOW];
    for (t, s) in window_mg(rng, scene).iter().enumerate() {
        if not_ready_every > 0 && t % not_ready_every == 0 {
            i2c.push(I2cTx::write_read(ADDR, vec![0xA7], vec![0; 7]));
        }
        let mut bytes = vec![ZYXDA | 0x07];
        let mut axes = [0i16; 3];
        for (k, v) in s.iter().enumerate() {
            let (b, d) = encode_4g(*v, (rng.next_u32() & 0x0F) as u8);
            bytes.extend_from_slice(&b);
            axes[k] = d;
        }
        i2c.push(I2cTx::write_read(ADDR, vec![0xA7], bytes));
        decoded[t] = Accel {
            x: axes[0],
            y: axes[1],
            z: axes[2],
        };
    }
    (pin, i2c, decoded)
}
