//! Instructions per parameter per optimizer step on a Cortex-M0 (QEMU `microbit`, no FPU, f32 in
//! soft-float). The benchmark itself is `boards/bench-common`; this file is the board's clock,
//! RAM size and table.
//!
//! SysTick runs at the 16 MHz processor clock: 1 tick = 62.5 instructions under
//! `-icount shift=0`. These are instruction counts, not cycles (a Cortex-M0 load takes 2 cycles,
//! a taken branch 3).
//!
//! Memory: 16 KiB of RAM in all. Rows run one after another in the same stack space; the largest
//! rows, `Momentum`/`RmsProp`/`Adagrad<f32, 1024>`, need about 4 150 + 4 096 + 4 096 bytes.
//! `Adam<f32, 1024>` (8 248 + 8 192 bytes) cannot fit, so Adam runs with N = 512.
//!
//! The layer kernels' rows are a firmware of their own (`kernels.rs`): with them this one
//! overflows the microbit's 256 KiB of flash.
#![no_std]
#![no_main]

use bench_common::{row, AdamCompact, AdamPlain, Board};
use cortex_m as _; // critical-section implementation (single core)
use cortex_m_rt::entry;
use defmt_semihosting as _; // the defmt global logger (semihosting writes to QEMU's stdout)
use edgetune::num::fixed::{I16F16, I8F24};
use edgetune::optim::{
    Adagrad, AdagradConfig, Adam, AdamConfig, Lion, LionConfig, Momentum, MomentumConfig, RmsProp,
    RmsPropConfig, Sgd, SgdConfig,
};

const BOARD: Board = Board {
    title: "QEMU microbit (Cortex-M0, soft-float)",
    cpu_hz: 16_000_000,
    ram_bytes: 16 * 1024,
};

// ---------------------------------------------------------------------------------------------
// The table. One line per row: `row!(Optimizer<NumberType, N>, config)`.
// ---------------------------------------------------------------------------------------------
fn rows() -> bool {
    let results = [
        row!(Sgd<f32, 1024>, SgdConfig::new(1e-2)),
        row!(Momentum<f32, 1024>, MomentumConfig::new(1e-2, 0.9)),
        row!(Adam<f32, 512>, AdamConfig::adam(1e-3)),
        row!(AdamPlain<f32, 512>, AdamConfig::adam(1e-3)),
        row!(AdamCompact<f32, 512>, AdamConfig::adam(1e-3)),
        row!(RmsProp<f32, 1024>, RmsPropConfig::new(1e-3)),
        row!(Adagrad<f32, 1024>, AdagradConfig::new(1e-2)),
        row!(Lion<f32, 1024>, LionConfig::new(1e-3)),
        row!(Sgd<I16F16, 1024>, SgdConfig::new(1e-2)),
        row!(Momentum<I16F16, 1024>, MomentumConfig::new(1e-2, 0.9)),
        row!(Adam<I16F16, 512>, AdamConfig::adam(1e-3)),
        row!(AdamPlain<I16F16, 512>, AdamConfig::adam(1e-3)),
        row!(RmsProp<I16F16, 1024>, RmsPropConfig::new(1e-3)),
        row!(Adagrad<I16F16, 1024>, AdagradConfig::new(1e-2)),
        row!(Lion<I16F16, 1024>, LionConfig::new(1e-3)),
        row!(Sgd<I8F24, 1024>, SgdConfig::new(1e-2)),
        row!(Momentum<I8F24, 1024>, MomentumConfig::new(1e-2, 0.9)),
        row!(Adam<I8F24, 512>, AdamConfig::adam(1e-3)),
    ];
    results.iter().all(|&ok| ok)
}

#[entry]
fn main() -> ! {
    bench_common::run(&BOARD, rows)
}
