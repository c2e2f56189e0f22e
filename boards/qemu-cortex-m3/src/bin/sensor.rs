//! The real boards' application in QEMU on a Cortex-M3 (`mps2-an385`, no FPU), in I16F16 like
//! the Cortex-M0 board: `sensor-app`'s LIS3DH driver, window features and `App::cycle` (head
//! fine-tuning with Adam, button-labelled) against a simulated LIS3DH, button and delay. The
//! entry point (`sensor_main!`), the run, the simulation and the verdict are the Cortex-M0's
//! `sensor/sim.rs`, shared by the QEMU boards.
#![no_std]
#![no_main]

#[path = "../../../qemu-cortex-m0/src/bin/sensor/sim.rs"]
#[macro_use]
mod sim;

use bench_common::Board;
use defmt_semihosting as _; // the defmt global logger
use edgetune::num::fixed::I16F16;

const BOARD: Board = Board {
    title: "QEMU mps2-an385 (Cortex-M3, soft-float), I16F16",
    cpu_hz: 25_000_000,
    ram_bytes: 4 * 1024 * 1024,
};

sensor_main!(BOARD, I16F16);
