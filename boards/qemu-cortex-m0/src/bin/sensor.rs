//! The real boards' application in QEMU on a Cortex-M0 (`microbit`, 16 KiB RAM, no FPU), in
//! I16F16 like the Raspberry Pi Pico: `sensor-app`'s LIS3DH driver, window features and
//! `App::cycle` (head fine-tuning with Adam, button-labelled) against a simulated LIS3DH, button
//! and delay. The entry point (`sensor_main!`), the run, the simulation and the verdict are in
//! `sensor/sim.rs`, shared with the Cortex-M4F board.
//!
//! As on the Pico, the training state is an `App<I16F16>` moved into a `static` by
//! `cortex_m::singleton!` (in `.bss`); it is built after `bench_common::start` painted the
//! stack, so its construction counts in the stack high-water mark.
#![no_std]
#![no_main]

#[path = "sensor/sim.rs"]
#[macro_use]
mod sim;

use bench_common::Board;
use defmt_semihosting as _; // the defmt global logger
use edgetune::num::fixed::I16F16;

const BOARD: Board = Board {
    title: "QEMU microbit (Cortex-M0, soft-float), I16F16",
    cpu_hz: 16_000_000,
    ram_bytes: 16 * 1024,
};

sensor_main!(BOARD, I16F16);
