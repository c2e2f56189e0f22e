//! The real boards' application in QEMU on a Cortex-M4F (`mps2-an386`), in f32 like the NUCLEO
//! and nRF52840 boards: `sensor-app`'s LIS3DH driver, window features and `App::cycle` (head
//! fine-tuning with Adam, button-labelled) against a simulated LIS3DH, button and delay. The
//! entry point (`sensor_main!`), the run, the simulation and the verdict are the Cortex-M0
//! board's `src/bin/sensor/sim.rs`, included here by path so both boards run the same code.
//!
//! The training state is an `App<f32>` moved into a `static` by `cortex_m::singleton!` (in
//! `.bss`), built after `bench_common::start` painted the stack.
#![no_std]
#![no_main]

#[path = "../../../qemu-cortex-m0/src/bin/sensor/sim.rs"]
#[macro_use]
mod sim;

use bench_common::Board;
use defmt_semihosting as _; // the defmt global logger

const BOARD: Board = Board {
    title: "QEMU mps2-an386 (Cortex-M4F), f32",
    cpu_hz: 25_000_000,
    ram_bytes: 4 * 1024 * 1024,
};

sensor_main!(BOARD, f32);
