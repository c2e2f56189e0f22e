//! Instructions per parameter per optimizer step on a Cortex-M4F (QEMU `mps2-an386`,
//! single-precision FPU, `thumbv7em-none-eabihf`). The benchmark itself is `boards/bench-common`;
//! this file is the board's clock, RAM size and table.
//!
//! SysTick runs at the 25 MHz processor clock: 1 tick = 40 instructions under `-icount shift=0`.
//! These are instruction counts, not cycles: a VDIV or VSQRT counts 1 but costs 14 cycles.
//!
//! Memory: 4 MiB of RAM, so every row uses N = 1024 (the largest, `Adam<f32, 1024>`, needs
//! 8 248 + 8 192 bytes of stack).
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
    title: "QEMU mps2-an386 (Cortex-M4F, hard-float)",
    cpu_hz: 25_000_000,
    ram_bytes: 4 * 1024 * 1024,
};

// ---------------------------------------------------------------------------------------------
// The table. One line per row: `row!(Optimizer<NumberType, N>, config)`.
// ---------------------------------------------------------------------------------------------
fn rows() -> bool {
    let results = [
        row!(Sgd<f32, 1024>, SgdConfig::new(1e-2)),
        row!(Momentum<f32, 1024>, MomentumConfig::new(1e-2, 0.9)),
        row!(Adam<f32, 1024>, AdamConfig::adam(1e-3)),
        row!(AdamPlain<f32, 1024>, AdamConfig::adam(1e-3)),
        row!(AdamCompact<f32, 1024>, AdamConfig::adam(1e-3)),
        row!(RmsProp<f32, 1024>, RmsPropConfig::new(1e-3)),
        row!(Adagrad<f32, 1024>, AdagradConfig::new(1e-2)),
        row!(Lion<f32, 1024>, LionConfig::new(1e-3)),
        row!(Sgd<I16F16, 1024>, SgdConfig::new(1e-2)),
        row!(Momentum<I16F16, 1024>, MomentumConfig::new(1e-2, 0.9)),
        row!(Adam<I16F16, 1024>, AdamConfig::adam(1e-3)),
        row!(AdamPlain<I16F16, 1024>, AdamConfig::adam(1e-3)),
        row!(RmsProp<I16F16, 1024>, RmsPropConfig::new(1e-3)),
        row!(Adagrad<I16F16, 1024>, AdagradConfig::new(1e-2)),
        row!(Lion<I16F16, 1024>, LionConfig::new(1e-3)),
        row!(Sgd<I8F24, 1024>, SgdConfig::new(1e-2)),
        row!(Momentum<I8F24, 1024>, MomentumConfig::new(1e-2, 0.9)),
        row!(Adam<I8F24, 1024>, AdamConfig::adam(1e-3)),
        row!(RmsProp<I8F24, 1024>, RmsPropConfig::new(1e-3)),
        row!(Adagrad<I8F24, 1024>, AdagradConfig::new(1e-2)),
        row!(Lion<I8F24, 1024>, LionConfig::new(1e-3)),
        // Convolution kernels (bench-common/src/conv.rs): instructions per MAC, not per parameter.
        bench_common::conv::rows::<f32>("f32"),
        bench_common::conv::rows::<I16F16>("I16F16"),
        // int8 kernels (bench-common/src/int8.rs): instructions per MAC.
        bench_common::int8::rows(),
        // One f32 training step of AIfES's 64-32-10 MLP with Adam, batch 1 (instructions per
        // step; bench-common/src/mlp_step.rs).
        bench_common::mlp_step::row(),
    ];
    results.iter().all(|&ok| ok)
}

#[entry]
fn main() -> ! {
    bench_common::run(&BOARD, rows)
}
