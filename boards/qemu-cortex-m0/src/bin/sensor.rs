//! The real boards' application in QEMU on a Cortex-M0 (`microbit`, 16 KiB RAM, no FPU), in
//! I16F16 like the Raspberry Pi Pico: `sensor-app`'s LIS3DH driver, window features and
//! `App::cycle` (head fine-tuning with Adam, button-labelled) against a simulated LIS3DH, button
//! and delay. The run, the simulation and the verdict are in `sensor/sim.rs`, shared with the
//! Cortex-M4F board.
//!
//! As on the Pico, the training state is an `App<I16F16>` moved into a `static` by
//! `cortex_m::singleton!` (in `.bss`); it is built after `bench_common::start` painted the
//! stack, so its construction counts in the stack high-water mark.
#![no_std]
#![no_main]

#[path = "sensor/sim.rs"]
mod sim;

use bench_common::Board;
use cortex_m_rt::entry;
use defmt_semihosting as _; // the defmt global logger
use edgetune::num::fixed::I16F16;
use sensor_app::App;

const BOARD: Board = Board {
    title: "QEMU microbit (Cortex-M0, soft-float), I16F16",
    cpu_hz: 16_000_000,
    ram_bytes: 16 * 1024,
};

type S = I16F16;

#[entry]
fn main() -> ! {
    let started = bench_common::start(
        &BOARD,
        "edgetune sensor app (sensor-app on simulated hardware)",
    );
    let app = match App::<S>::pretrained() {
        Ok(app) => app,
        Err(e) => {
            defmt::error!("App::pretrained failed: {}", e);
            bench_common::exit("sensor", false)
        }
    };
    let Some(app) = cortex_m::singleton!(: App<S> = app) else {
        bench_common::exit("sensor", false)
    };
    sim::main(&BOARD, "I16F16", app, started)
}
