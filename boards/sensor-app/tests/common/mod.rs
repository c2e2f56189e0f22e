//! Synthetic LIS3DH traffic for the host tests: windows of accelerometer-like data of two
//! classes, and the exact I2C and pin transactions the app makes to read them.
#![allow(dead_code)]

use edgetune::train::Pcg32;
use embedded_hal_mock::eh1::digital::{State, Transaction as PinTx};
use embedded_hal_mock::eh1::i2c::Transaction as I2cTx;
use sensor_app::lis3dh::{Accel, ZYXDA};
use sensor_app::WINDOW;

/// The Adafruit breakout's address (SA0 low).
pub const ADDR: u8 = 0x18;
/// Sample rate of the synthetic data, Hz (the firmware's 50 Hz).
pub const RATE_HZ: f64 = 50.0;

/// A uniform draw in [0, 1).
pub fn uniform(rng: &mut Pcg32) -> f64 {
    f64::from(rng.next_u32()) / 4_294_967_296.0
}

/// Roughly normal noise (sum of four uniforms, standard deviation `sigma`).
pub fn noise(rng: &mut Pcg32, sigma: f64) -> f64 {
    let s: f64 = (0..4).map(|_| uniform(rng)).sum::<f64>() - 2.0;
    s * sigma * (3.0f64).sqrt()
}

/// One window of one class, in mg, as the sensor would see it.
///
/// - Both classes: gravity (1000 mg) tilted by up to 40° from +z in a random direction (a board
///   on a desk or in a hand), plus 8 mg of sensor noise per axis.
/// - Class 1 ("shake"): plus a sinusoid of 400 to 1200 mg at 2 to 5 Hz, random phase, along a
///   random direction in the x-y plane.
pub fn window_mg(rng: &mut Pcg32, class: usize) -> [[f64; 3]; WINDOW] {
    let tilt = uniform(rng) * 40f64.to_radians();
    let azimuth = uniform(rng) * std::f64::consts::TAU;
    let g = [
        1000.0 * tilt.sin() * azimuth.cos(),
        1000.0 * tilt.sin() * azimuth.sin(),
        1000.0 * tilt.cos(),
    ];
    let amp = 400.0 + 800.0 * uniform(rng);
    let freq = 2.0 + 3.0 * uniform(rng);
    let phase = uniform(rng) * std::f64::consts::TAU;
    let dir = uniform(rng) * std::f64::consts::TAU;
    let mut out = [[0.0; 3]; WINDOW];
    for (t, s) in out.iter_mut().enumerate() {
        let shake = if class == 1 {
            amp * (std::f64::consts::TAU * freq * t as f64 / RATE_HZ + phase).sin()
        } else {
            0.0
        };
        *s = [
            g[0] + shake * dir.cos() + noise(rng, 8.0),
            g[1] + shake * dir.sin() + noise(rng, 8.0),
            g[2] + noise(rng, 8.0),
        ];
    }
    out
}

/// What the sensor puts in its output registers for `mg` at ±4 g in high-resolution mode
/// (2 mg/digit, 12 bits, left-justified), with junk in the 4 unused low bits (the driver must
/// ignore them), and what the driver must decode from it.
pub fn encode_4g(mg: f64, junk: u8) -> ([u8; 2], i16) {
    let digit = (mg / 2.0).round().clamp(-2048.0, 2047.0) as i16;
    let raw = (digit << 4) | i16::from(junk & 0x0F);
    (raw.to_le_bytes(), digit * 2)
}

/// The transactions of one window read by `App::cycle` (button read, 32 readings, button read)
/// with the button held for class 1 (active low) and, for every `not_ready_every`-th reading,
/// one poll that finds no new data first. Returns the transactions and the readings the driver
/// must decode.
pub fn window_transactions(
    rng: &mut Pcg32,
    class: usize,
    not_ready_every: usize,
) -> (Vec<PinTx>, Vec<I2cTx>, [Accel; WINDOW]) {
    let level = if class == 1 { State::Low } else { State::High };
    let pin = vec![PinTx::get(level), PinTx::get(level)];
    let mut i2c = Vec::new();
    let mut decoded = [Accel::default(); WINDOW];
    for (t, s) in window_mg(rng, class).iter().enumerate() {
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

/// The decoded readings of one window, without transactions (held-out sets).
pub fn window_accel(rng: &mut Pcg32, class: usize) -> [Accel; WINDOW] {
    let mut out = [Accel::default(); WINDOW];
    for (a, s) in out.iter_mut().zip(window_mg(rng, class).iter()) {
        let d = s.map(|v| encode_4g(v, 0).1);
        *a = Accel {
            x: d[0],
            y: d[1],
            z: d[2],
        };
    }
    out
}
