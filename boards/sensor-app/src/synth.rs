//! Synthetic accelerometer windows (feature `synth`), for the pretraining tool
//! (`boards/tools/accel-pretrain`), the host tests and the QEMU firmware `sensor`
//! (`boards/qemu-cortex-*/src/bin/sensor.rs`, which feeds them to a simulated LIS3DH). `no_std`:
//! `sin`, `cos`, `sqrt` and `round` are `libm`'s (f64). Nothing here runs on a real board.
//!
//! A [`Scene`] says how a board is held and how it moves; [`window_mg`] draws one window of it
//! at 50 Hz, in mg. Every window: gravity (1000 mg) tilted from +z by up to `tilt_deg` in a
//! random direction, a sinusoid of random amplitude, frequency and phase along a random
//! direction in the x-y plane (none if `amp_mg` is `(0, 0)`), and independent noise on each axis
//! (a sum of four uniforms: close to normal, standard deviation `noise_mg`). Draws come from
//! edgetune's PCG32, so a seed gives the same windows on every machine.

use core::f64::consts::TAU;

use edgetune::train::Pcg32;

use crate::lis3dh::Accel;
use crate::WINDOW;

/// Sample rate of the synthetic windows, Hz (the firmware's rate).
pub const RATE_HZ: f64 = 50.0;

/// How a board is held and moved.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scene {
    /// Largest tilt of gravity from +z, degrees.
    pub tilt_deg: f64,
    /// Range of the motion's amplitude, mg.
    pub amp_mg: (f64, f64),
    /// Range of the motion's frequency, Hz.
    pub freq_hz: (f64, f64),
    /// Per-axis noise (sensor noise, hand tremor), standard deviation in mg.
    pub noise_mg: f64,
}

/// Pretraining class 0: a board lying still (sensor noise only).
pub const PRETRAIN_STILL: Scene = Scene {
    tilt_deg: 40.0,
    amp_mg: (0.0, 0.0),
    freq_hz: (0.0, 0.0),
    noise_mg: 8.0,
};
/// Pretraining class 1: a board shaken hard, 400 to 1200 mg at 2 to 5 Hz.
pub const PRETRAIN_SHAKE: Scene = Scene {
    tilt_deg: 40.0,
    amp_mg: (400.0, 1200.0),
    freq_hz: (2.0, 5.0),
    noise_mg: 8.0,
};
/// A user's class 0, unlike pretraining: the board held in a hand (25 mg of tremor).
pub const USER_HELD: Scene = Scene {
    tilt_deg: 40.0,
    amp_mg: (0.0, 0.0),
    freq_hz: (0.0, 0.0),
    noise_mg: 25.0,
};
/// A user's class 1, unlike pretraining: a gentle wave, 100 to 300 mg at 1 to 2.5 Hz, in a
/// trembling hand.
pub const USER_WAVE: Scene = Scene {
    tilt_deg: 40.0,
    amp_mg: (100.0, 300.0),
    freq_hz: (1.0, 2.5),
    noise_mg: 25.0,
};

/// A uniform draw in `[0, 1)`.
pub fn uniform(rng: &mut Pcg32) -> f64 {
    f64::from(rng.next_u32()) / 4_294_967_296.0
}

fn between(rng: &mut Pcg32, (lo, hi): (f64, f64)) -> f64 {
    lo + (hi - lo) * uniform(rng)
}

/// Close to normal noise with standard deviation `sigma` (a sum of four uniforms).
pub fn noise(rng: &mut Pcg32, sigma: f64) -> f64 {
    let s: f64 = (0..4).map(|_| uniform(rng)).sum::<f64>() - 2.0;
    s * sigma * libm::sqrt(3.0)
}

/// One window of `scene`, in mg.
pub fn window_mg(rng: &mut Pcg32, scene: &Scene) -> [[f64; 3]; WINDOW] {
    let tilt = uniform(rng) * scene.tilt_deg.to_radians();
    let azimuth = uniform(rng) * TAU;
    let g = [
        1000.0 * libm::sin(tilt) * libm::cos(azimuth),
        1000.0 * libm::sin(tilt) * libm::sin(azimuth),
        1000.0 * libm::cos(tilt),
    ];
    let amp = between(rng, scene.amp_mg);
    let freq = between(rng, scene.freq_hz);
    let phase = uniform(rng) * TAU;
    let dir = uniform(rng) * TAU;
    let mut out = [[0.0; 3]; WINDOW];
    for (t, s) in out.iter_mut().enumerate() {
        let m = amp * libm::sin(TAU * freq * t as f64 / RATE_HZ + phase);
        *s = [
            g[0] + m * libm::cos(dir) + noise(rng, scene.noise_mg),
            g[1] + m * libm::sin(dir) + noise(rng, scene.noise_mg),
            g[2] + noise(rng, scene.noise_mg),
        ];
    }
    out
}

/// What a LIS3DH at ±4 g in high-resolution mode (2 mg/digit, 12 bits, left-justified) puts in
/// its output registers for `mg`, with `junk` in the 4 unused low bits, and the mg the driver
/// must decode from it.
pub fn encode_4g(mg: f64, junk: u8) -> ([u8; 2], i16) {
    let digit = libm::round(mg / 2.0).clamp(-2048.0, 2047.0) as i16;
    let raw = (digit << 4) | i16::from(junk & 0x0F);
    (raw.to_le_bytes(), digit * 2)
}

/// One window of `scene` as the driver decodes it at ±4 g.
pub fn window_accel(rng: &mut Pcg32, scene: &Scene) -> [Accel; WINDOW] {
    let mut out = [Accel::default(); WINDOW];
    for (a, s) in out.iter_mut().zip(window_mg(rng, scene).iter()) {
        let d = s.map(|v| encode_4g(v, 0).1);
        *a = Accel {
            x: d[0],
            y: d[1],
            z: d[2],
        };
    }
    out
}
