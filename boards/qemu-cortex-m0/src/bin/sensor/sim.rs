//! The shared part of the QEMU boards' `sensor` firmware: the real boards' application
//! (`sensor-app`: LIS3DH driver, window features, `App::cycle`, `firmware::log`) run against a
//! simulated LIS3DH on a simulated I2C bus and a simulated push button.
//!
//! Used by `boards/qemu-cortex-m0/src/bin/sensor.rs` and `boards/qemu-cortex-m4/src/bin/sensor.rs`
//! (both `#[path]` to this file, as `#[macro_use] mod sim;`), so both boards run the same code;
//! each board file only gives its `Board` and chooses the number type, and `sensor_main!`
//! writes its entry point, which holds the `App` in a static.
//!
//! # What runs
//! The real boards call `sensor_app::firmware::run`, which configures the sensor
//! (`Lis3dh::init(firmware::RANGE, firmware::RATE)`) and then loops forever over
//! `log(&app.cycle(sensor, button, delay))`. This firmware does exactly that with the same
//! functions, but for a fixed number of windows ([`WINDOWS`]), because it has to stop, evaluate
//! and exit QEMU, and it times each `App::cycle` (`run` never returns, so it cannot be called).
//!
//! # The simulated world
//! [`World`] is what the user does and what the sensor measures, shared (through `Cell`s) by
//! - [`SimLis3dh`], an `embedded_hal::i2c::I2c` device at address 0x18 with the LIS3DH's
//!   registers: `WHO_AM_I` (0x0F) = 0x33; `CTRL_REG1`..`CTRL_REG6` (0x20..0x25) writable, every
//!   other write is not acknowledged; `STATUS_REG` (0x27) with `ZYXDA`; `OUT_X_L`..`OUT_Z_H`
//!   (0x28..0x2D); a sub-address with bit 7 set auto-increments. It samples only when
//!   configured as the firmware must configure it (50 Hz, X/Y/Z on, high-resolution, ±4 g,
//!   block data update): otherwise `ZYXDA` never sets and the driver reports `NotReady`.
//! - [`SimButton`], an `embedded_hal::digital::InputPin` wired active low (as on the NUCLEO and
//!   the Pico): low while the user makes the gesture.
//! - [`SimDelay`], an `embedded_hal::delay::DelayNs` that takes no time but lets the sensor take
//!   its next sample (a poll that found no data waits, and the data is there at the next poll).
//!
//! The data: the same draws as the host's end-to-end test (`sensor-app/tests/app.rs` with
//! `tests/common`): labels from PCG32 seed 7 (window 1 released, window 2 held, then 30 %
//! held), each window 32 readings of `synth::USER_HELD` or `synth::USER_WAVE` (a gesture the
//! pretrained network has not seen) encoded at ±4 g by `synth::encode_4g` with random junk in
//! the 4 unused low bits, and every 8th reading found not ready on its first poll. Held-out: 40
//! windows from seed 0xbeef, never shown to the app. So the figures can be compared with the
//! host test's output.
//!
//! # Instruction counts
//! Each `App::cycle` is timed with SysTick (`bench_common::measure`): two button reads, 32
//! sensor readings (36 I2C transactions through the simulated device, whose register model
//! stands in for a HAL's I2C driver; the time a real bus and the 50 Hz sampling take is not
//! modelled), the features, scoring the window, storing it and, once both classes have been
//! seen, `STEPS_PER_WINDOW` Adam steps on balanced mini-batches. Generating the window's
//! synthetic readings happens before the timed region.
//!
//! # Stack
//! `bench_common::start` paints the stack and `memory_report` prints the whole run's
//! high-water mark. That includes this firmware's simulation: drawing a window's readings
//! (`synth::window_mg`, 32 × 3 `f64` and libm's `sin`, in soft float on the M0) takes about
//! 2.1 KiB more than the rest. Measured once on the M0, with the generator replaced by constant
//! readings and the held-out evaluation (which draws its windows the same way) and the
//! per-window log skipped: the peak fell from 6 580 B to 4 448 B (skipping the log alone changed
//! nothing). 4 448 B therefore bounds what `App::cycle` and this loop need; a real board's
//! `firmware::run` has no generator.
//!
//! # Verdict (`sensor: PASS`)
//! The thresholds are those of the host test (its head explains them): held-out accuracy on the
//! new gesture at least [`THRESHOLD_PCT`] % and above the pretrained network's, held-out mean
//! loss at most half the pretrained network's, and at least [`RECENT_RIGHT_MIN`] of the last 20
//! windows classified right before the app trained on them. Also required: every window read,
//! labelled as scheduled and learned; the sensor configured as above; the clock check; the
//! stack 64 B or more clear of the statics.

use core::cell::Cell;
use core::convert::Infallible;
use core::hint::black_box;

use bench_common::{measure, Board};
use edgetune::nn::Scalar;
use edgetune::optim::AdamNum;
use edgetune::train::{evaluate_with, Pcg32};
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{self, InputPin};
use embedded_hal::i2c::{self, ErrorKind, I2c, NoAcknowledgeSource, Operation};
use sensor_app::app::{RECENT, STEPS_PER_WINDOW};
use sensor_app::lis3dh::{self, ZYXDA};
use sensor_app::synth::{encode_4g, window_accel, window_mg, Scene, USER_HELD, USER_WAVE};
use sensor_app::{firmware, Address, App, Button, Features, Lis3dh, FEATURES, WINDOW};

/// Windows the user makes (as the host test).
pub const WINDOWS: usize = 60;
/// Held-out windows per class.
pub const HELD_OUT_PER_CLASS: usize = 20;
/// Seed of the label schedule and the stream's readings (the host test's).
pub const STREAM_SEED: u64 = 7;
/// Seed of the held-out windows (the host test's).
pub const HELD_OUT_SEED: u64 = 0xbeef;
/// Every this many readings, the first poll finds no new data (the loop outran 50 Hz).
pub const NOT_READY_EVERY: usize = 8;
/// Held-out accuracy the adapted network must reach, %.
pub const THRESHOLD_PCT: u32 = 90;
/// Right predictions among the last [`RECENT`] windows, before training on them.
pub const RECENT_RIGHT_MIN: u8 = 18;
/// The windows whose instruction counts form the gated `SensorWindow` row (1-based; the last
/// three, when the replay buffers and mini-batches are at their steady size).
pub const ROW_WINDOWS: [usize; 3] = [WINDOWS - 2, WINDOWS - 1, WINDOWS];

/// The sensor's I2C address (SA0 low, as the real boards use it).
pub const ADDRESS: Address = Address::Sa0Low;
/// `CTRL_REG1` as the firmware must write it: ODR 0100 (50 Hz), LPen 0, Z/Y/X enabled.
pub const EXPECT_CTRL_REG1: u8 = 0x47;
/// `CTRL_REG4` as the firmware must write it: BDU 1, FS 01 (±4 g), HR 1.
pub const EXPECT_CTRL_REG4: u8 = 0x98;

/// The simulated physical world: the user's current gesture, the sensor's registers and the
/// readings the sensor will take during the current window.
pub struct World {
    /// 1 while the user makes the gesture and holds the button, 0 otherwise.
    gesture: Cell<u8>,
    /// The readings of the current window: `OUT_X_L..OUT_Z_H` of each sample.
    samples: [Cell<[u8; 6]>; WINDOW],
    /// Samples of `samples` taken so far by the sensor.
    taken: Cell<usize>,
    /// The output registers `OUT_X_L..OUT_Z_H`: the last sample taken.
    out: Cell<[u8; 6]>,
    /// Whether the output registers hold a sample not read yet (`ZYXDA`).
    ready: Cell<bool>,
    /// The register pointer and whether it auto-increments.
    pointer: Cell<u8>,
    auto_increment: Cell<bool>,
    ctrl: Cell<[u8; 6]>,
    /// Register writes seen, for the log.
    writes: Cell<u32>,
    /// Readings the driver took (`OUT_Z_H` read while `ZYXDA` was set).
    readings: Cell<u32>,
    /// Polls that found no new data.
    not_ready_polls: Cell<u32>,
}

/// `CTRL_REG1..=CTRL_REG6` after power-on: `CTRL_REG1` = 0x07 (power-down, X/Y/Z enabled),
/// the others 0.
const CTRL_RESET: [u8; 6] = [0x07, 0, 0, 0, 0, 0];
const CTRL_REG1: u8 = lis3dh::CTRL_REG1;
const CTRL_REG6: u8 = 0x25;
const OUT_X_L: u8 = 0x28;
const OUT_Z_H: u8 = 0x2D;

impl World {
    /// Power-on state, no window loaded.
    pub const fn new() -> Self {
        World {
            gesture: Cell::new(0),
            samples: [const { Cell::new([0; 6]) }; WINDOW],
            taken: Cell::new(0),
            out: Cell::new([0; 6]),
            ready: Cell::new(false),
            pointer: Cell::new(0),
            auto_increment: Cell::new(false),
            ctrl: Cell::new(CTRL_RESET),
            writes: Cell::new(0),
            readings: Cell::new(0),
            not_ready_polls: Cell::new(0),
        }
    }

    /// `CTRL_REG1` and `CTRL_REG4`.
    pub fn ctrl_reg1_reg4(&self) -> (u8, u8) {
        let c = self.ctrl.get();
        (c[0], c[3])
    }

    /// Whether the sensor is configured as the firmware must configure it, the only
    /// configuration in which it samples (the readings are encoded for ±4 g high-resolution).
    fn sampling(&self) -> bool {
        self.ctrl_reg1_reg4() == (EXPECT_CTRL_REG1, EXPECT_CTRL_REG4)
    }

    /// The next window: the user does `class` (0 = holds the board, 1 = waves it) and the
    /// sensor will measure `scene`, drawn from `rng` exactly as the host test's
    /// `window_transactions` draws it (the readings, then 4 junk bits per axis).
    pub fn load_window(&self, rng: &mut Pcg32, class: u8, scene: &Scene) {
        for (cell, mg) in self.samples.iter().zip(window_mg(rng, scene).iter()) {
            let mut s = [0u8; 6];
            for (k, v) in mg.iter().enumerate() {
                let (le, _) = encode_4g(*v, (rng.next_u32() & 0x0F) as u8);
                s[2 * k] = le[0];
                s[2 * k + 1] = le[1];
            }
            cell.set(s);
        }
        self.gesture.set(class);
        self.taken.set(0);
        self.ready.set(false);
    }

    /// Time passes (a delay): a sampling sensor takes its next sample, if the window has one.
    fn tick(&self) {
        let t = self.taken.get();
        if self.sampling() && !self.ready.get() {
            if let Some(s) = self.samples.get(t) {
                self.out.set(s.get());
                self.taken.set(t + 1);
                self.ready.set(true);
            }
        }
    }

    fn read_register(&self, r: u8) -> u8 {
        match r {
            lis3dh::WHO_AM_I => lis3dh::DEVICE_ID,
            CTRL_REG1..=CTRL_REG6 => self.ctrl.get()[usize::from(r - CTRL_REG1)],
            lis3dh::STATUS_REG => {
                if self.ready.get() {
                    ZYXDA | 0x07
                } else {
                    self.not_ready_polls.set(self.not_ready_polls.get() + 1);
                    0
                }
            }
            OUT_X_L..=OUT_Z_H => {
                let byte = self.out.get()[usize::from(r - OUT_X_L)];
                // Reading the last output byte of a new sample clears ZYXDA; the sensor's next
                // sample is there at once, except every NOT_READY_EVERY-th one, which comes
                // only after the driver's poll delay.
                if r == OUT_Z_H && self.ready.get() {
                    self.ready.set(false);
                    self.readings.set(self.readings.get() + 1);
                    if self.taken.get() % NOT_READY_EVERY != 0 {
                        self.tick();
                    }
                }
                byte
            }
            _ => 0,
        }
    }

    fn write_register(&self, r: u8, value: u8) -> Result<(), ErrorKind> {
        match r {
            CTRL_REG1..=CTRL_REG6 => {
                let mut c = self.ctrl.get();
                c[usize::from(r - CTRL_REG1)] = value;
                self.ctrl.set(c);
                self.writes.set(self.writes.get() + 1);
                Ok(())
            }
            // Read-only or reserved: the simulated part does not acknowledge the data byte.
            _ => Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data)),
        }
    }

    fn advance_pointer(&self) {
        if self.auto_increment.get() {
            self.pointer.set(self.pointer.get().wrapping_add(1) & 0x7F);
        }
    }
}

/// The simulated LIS3DH on its I2C bus.
pub struct SimLis3dh<'w>(pub &'w World);

impl i2c::ErrorType for SimLis3dh<'_> {
    type Error = ErrorKind;
}

impl I2c for SimLis3dh<'_> {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), Self::Error> {
        let w = self.0;
        if address != ADDRESS.bits() {
            return Err(ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
        }
        for op in operations.iter_mut() {
            match op {
                Operation::Write(bytes) => {
                    // The first byte written is the sub-address; the rest go to the registers.
                    let Some((&sub, data)) = bytes.split_first() else {
                        continue;
                    };
                    w.pointer.set(sub & 0x7F);
                    w.auto_increment.set(sub & lis3dh::AUTO_INCREMENT != 0);
                    for &b in data {
                        w.write_register(w.pointer.get(), b)?;
                        w.advance_pointer();
                    }
                }
                Operation::Read(buf) => {
                    for b in buf.iter_mut() {
                        *b = w.read_register(w.pointer.get());
                        w.advance_pointer();
                    }
                }
            }
        }
        Ok(())
    }
}

/// The push button, wired active low: low while the user makes the gesture.
pub struct SimButton<'w>(pub &'w World);

impl digital::ErrorType for SimButton<'_> {
    type Error = Infallible;
}

impl InputPin for SimButton<'_> {
    fn is_high(&mut self) -> Result<bool, Infallible> {
        Ok(self.0.gesture.get() == 0)
    }
    fn is_low(&mut self) -> Result<bool, Infallible> {
        Ok(self.0.gesture.get() != 0)
    }
}

/// A delay that takes no simulated time on the core but lets the sensor sample.
pub struct SimDelay<'w>(pub &'w World);

impl DelayNs for SimDelay<'_> {
    fn delay_ns(&mut self, _ns: u32) {
        self.0.tick();
    }
}

/// The labels of the stream, drawn as the host test draws them.
fn labels(rng: &mut Pcg32) -> [u8; WINDOWS] {
    let mut out = [0u8; WINDOWS];
    for (i, l) in out.iter_mut().enumerate() {
        *l = match i {
            0 => 0,
            1 => 1,
            _ => u8::from(rng.below(10) < 3),
        };
    }
    out
}

fn scene(class: u8) -> &'static Scene {
    if class == 1 {
        &USER_WAVE
    } else {
        &USER_HELD
    }
}

/// (accuracy in tenths of %, mean loss in millionths) on the held-out windows, regenerated
/// from their seed each time (no RAM for them), through `edgetune::train::evaluate_with`.
fn evaluate<S: Scalar + AdamNum>(app: &App<S>) -> Option<(u32, u32)> {
    let mut rng = Pcg32::seeded(HELD_OUT_SEED);
    let n = 2 * HELD_OUT_PER_CLASS;
    let e = evaluate_with(app.net(), n, |i, x: &mut [S; FEATURES]| {
        let class = i % 2;
        *x = Features::of(&window_accel(&mut rng, scene(class as u8))).input::<S>();
        Ok(class)
    })
    .ok()?;
    // The hit count back from the fraction (exact: hits / n · n rounds to hits).
    let right = (e.accuracy? * n as f64 + 0.5) as u32;
    Some((right * 1000 / n as u32, (e.mean_loss * 1e6 + 0.5) as u32))
}

/// Instructions in hundredths from SysTick ticks (u64: a window is millions of instructions).
fn instr_x100(ticks: u32, cpu_hz: u32) -> u64 {
    u64::from(ticks) * 100_000_000_000 / u64::from(cpu_hz)
}

/// The board's entry point, `sensor_main!(BOARD, S)` with `S` the number type (an identifier:
/// `I16F16`, `f32`; its name is the type in the log): `bench_common::start` (which paints the
/// stack), then the pretrained `App<S>` built and moved into a `static` by
/// `cortex_m::singleton!` (in `.bss`; built after the painting, so its construction counts in
/// the stack high-water mark), then [`main`]. A macro, not a generic function: the `static` of
/// `singleton!` cannot depend on a type parameter.
macro_rules! sensor_main {
    ($board:path, $S:ident) => {
        #[cortex_m_rt::entry]
        fn main() -> ! {
            let started = bench_common::start(
                &$board,
                "edgetune sensor app (sensor-app on simulated hardware)",
            );
            let app = match sensor_app::App::<$S>::pretrained() {
                Ok(app) => app,
                Err(e) => {
                    defmt::error!("App::pretrained failed: {}", e);
                    bench_common::exit("sensor", false)
                }
            };
            let Some(app) = cortex_m::singleton!(: sensor_app::App<$S> = app) else {
                bench_common::exit("sensor", false)
            };
            crate::sim::main(&$board, stringify!($S), app, started)
        }
    };
}

/// The run after start-up (`bench_common::start`, called by the board file before it built
/// `app`): configure the sensor, [`WINDOWS`] windows, evaluation, instruction counts, memory,
/// verdict.
pub fn main<S: Scalar + AdamNum>(
    board: &Board,
    ty: &'static str,
    app: &mut App<S>,
    started: bool,
) -> ! {
    let mut ok = started;
    ok &= run(board, ty, app);
    ok &= bench_common::memory_report(board);
    bench_common::exit("sensor", ok)
}

fn run<S: Scalar + AdamNum>(board: &Board, ty: &'static str, app: &mut App<S>) -> bool {
    defmt::info!(
        "sensor-app's App<{=str}> ({=usize} B, a static): 6-8-2 network pretrained on the PC, head trained here with Adam; simulated LIS3DH at {=u8:#04x} on a simulated I2C bus, simulated button (active low)",
        ty,
        core::mem::size_of::<App<S>>(),
        ADDRESS.bits()
    );
    let world = World::new();
    let mut sensor = Lis3dh::new(SimLis3dh(&world), ADDRESS);
    let mut button = Button::active_low(SimButton(&world));
    let mut delay = SimDelay(&world);

    // Set-up as firmware::run does it (which retries forever; here one failure is a FAIL).
    if let Err(e) = sensor.init(firmware::RANGE, firmware::RATE) {
        match e {
            lis3dh::Error::WrongDevice(id) => defmt::error!("LIS3DH init: WHO_AM_I {=u8:#04x}", id),
            lis3dh::Error::NotReady => defmt::error!("LIS3DH init: not ready"),
            lis3dh::Error::I2c(_) => defmt::error!("LIS3DH init: I2C error"),
        }
        return false;
    }
    let (c1, c4) = world.ctrl_reg1_reg4();
    let configured = c1 == EXPECT_CTRL_REG1 && c4 == EXPECT_CTRL_REG4;
    defmt::info!(
        "LIS3DH configured by the driver: {=u32} register writes, CTRL_REG1 = {=u8:#04x} (expect {=u8:#04x}: 50 Hz, XYZ), CTRL_REG4 = {=u8:#04x} (expect {=u8:#04x}: BDU, +-4 g, HR): {=str}",
        world.writes.get(), c1, EXPECT_CTRL_REG1, c4, EXPECT_CTRL_REG4,
        if configured { "ok" } else { "WRONG" }
    );
    if !configured {
        return false;
    }

    let Some((acc0, loss0)) = evaluate(app) else {
        defmt::error!("held-out evaluation failed");
        return false;
    };
    defmt::info!(
        "pretrained network on {=usize} held-out windows of the new user's gestures: accuracy {=u32}.{=u32} %, mean loss {=u32}.{=u32:06}",
        2 * HELD_OUT_PER_CLASS, acc0 / 10, acc0 % 10, loss0 / 1_000_000, loss0 % 1_000_000
    );

    let mut rng = Pcg32::seeded(STREAM_SEED);
    let schedule = labels(&mut rng);
    let mut ticks = [0u32; WINDOWS];
    let mut labelled_ok = true;
    let mut last = None;
    for (k, &class) in schedule.iter().enumerate() {
        world.load_window(&mut rng, class, scene(class));
        let (t, r) = measure(|| {
            app.cycle(
                black_box(&mut sensor),
                black_box(&mut button),
                black_box(&mut delay),
            )
        });
        ticks[k] = t;
        firmware::log(&r);
        match r {
            Ok(rep) if rep.label == Some(class) && rep.window as usize == k + 1 => last = Some(rep),
            _ => {
                defmt::error!(
                    "window {=usize}: not read, labelled and learned as scheduled",
                    k + 1
                );
                labelled_ok = false;
            }
        }
    }
    let Some(last) = last else {
        return false;
    };

    let Some((acc1, loss1)) = evaluate(app) else {
        defmt::error!("held-out evaluation failed");
        return false;
    };
    let reached = acc1 >= THRESHOLD_PCT * 10;
    let improved = acc1 > acc0;
    let halved = 2 * u64::from(loss1) <= u64::from(loss0);
    let online = last.recent_scored as u32 == RECENT && last.recent_right >= RECENT_RIGHT_MIN;
    let held = schedule.iter().filter(|&&c| c == 1).count();
    defmt::info!(
        "sensor result: held-out new-gesture accuracy {=u32}.{=u32} % -> {=u32}.{=u32} % (threshold {=u32} %), held-out loss {=u32}.{=u32:06} -> {=u32}.{=u32:06} (at most half), online {=u8}/{=u8} right before training (threshold {=u8}); {=usize} windows ({=usize} gesture), {=usize} Adam steps",
        acc0 / 10, acc0 % 10, acc1 / 10, acc1 % 10, THRESHOLD_PCT,
        loss0 / 1_000_000, loss0 % 1_000_000, loss1 / 1_000_000, loss1 % 1_000_000,
        last.recent_right, last.recent_scored, RECENT_RIGHT_MIN,
        WINDOWS, held, (WINDOWS - 1) * STEPS_PER_WINDOW
    );
    defmt::info!(
        "checks: every window read and learned {=bool}, accuracy >= {=u32} % {=bool}, above pretrained {=bool}, loss halved {=bool}, online >= {=u8}/20 {=bool}",
        labelled_ok, THRESHOLD_PCT, reached, improved, halved, RECENT_RIGHT_MIN, online
    );
    defmt::info!(
        "sensor bus: {=u32} readings, {=u32} polls found no new data",
        world.readings.get(),
        world.not_ready_polls.get()
    );

    // Instruction counts: window 1 (class 0 only: scored and stored, no training) and the
    // training windows 2..=WINDOWS.
    let first = instr_x100(ticks[0], board.cpu_hz) / 100;
    let train = &ticks[1..];
    let (mut lo, mut hi, mut sum) = (u32::MAX, 0u32, 0u64);
    for &t in train {
        lo = lo.min(t);
        hi = hi.max(t);
        sum += u64::from(t);
    }
    let mean = instr_x100((sum / train.len() as u64) as u32, board.cpu_hz) / 100;
    defmt::info!(
        "window instructions: windows 2-{=usize} (read + features + score + store + {=usize} Adam steps) mean {=u64}, min {=u64}, max {=u64}; window 1 (no training yet) {=u64}",
        WINDOWS, STEPS_PER_WINDOW, mean,
        instr_x100(lo, board.cpu_hz) / 100, instr_x100(hi, board.cpu_hz) / 100, first
    );
    let row = ROW_WINDOWS.map(|w| ticks[w - 1]);
    let per = row.map(|t| instr_x100(t, board.cpu_hz));
    defmt::info!(
        "instructions per window = ticks * 1e9 / {=u32}; windows {=usize} / {=usize} / {=usize}",
        board.cpu_hz,
        ROW_WINDOWS[0],
        ROW_WINDOWS[1],
        ROW_WINDOWS[2]
    );
    defmt::info!("| window | type | N | ticks | instr/window | check |");
    defmt::info!("|---|---|---|---|---|---|");
    defmt::info!(
        "| SensorWindow | {=str} | 1 | {=u32} / {=u32} / {=u32} | {=u64}.{=u64:02} / {=u64}.{=u64:02} / {=u64}.{=u64:02} | {=str} |",
        ty, row[0], row[1], row[2],
        per[0] / 100, per[0] % 100, per[1] / 100, per[1] % 100, per[2] / 100, per[2] % 100,
        if labelled_ok { "ok" } else { "FAILED" }
    );
    labelled_ok && reached && improved && halved && online
}
