//! Instructions per multiply-accumulate of the layer kernels on a Cortex-M0 (QEMU `microbit`, no
//! FPU, f32 in soft-float): the convolution rows (`bench-common/src/conv.rs`, f32 and I16F16) and
//! the int8 rows (`bench-common/src/int8.rs`); and the optimizer rows of the 16-bit I4F12
//! (instructions per parameter, as `bench.rs`'s). A firmware apart from `bench.rs`, whose optimizer
//! rows and these together overflow the microbit's 256 KiB of flash; the clock and RAM are the
//! same (1 SysTick = 62.5 instructions under `-icount shift=0`).
#![no_std]
#![no_main]

use bench_common::{row, AdamPlain, Board};
use cortex_m as _; // critical-section implementation (single core)
use cortex_m_rt::entry;
use defmt_semihosting as _; // the defmt global logger (semihosting writes to QEMU's stdout)
use edgetune::num::fixed::{I16F16, I4F12};
use edgetune::optim::{
    Adagrad, AdagradConfig, Adam, AdamConfig, Lion, LionConfig, Momentum, MomentumConfig, RmsProp,
    RmsPropConfig, Sgd, SgdConfig,
};

const BOARD: Board = Board {
    title: "QEMU microbit (Cortex-M0, soft-float)",
    cpu_hz: 16_000_000,
    ram_bytes: 16 * 1024,
};

fn rows() -> bool {
    let results = [
        bench_common::conv::rows::<f32>("f32"),
        bench_common::conv::rows::<I16F16>("I16F16"),
        bench_common::int8::rows(),
        // The 16-bit storage format: every optimizer through the I8F24 kernel with the
        // parameter write rounded to 16 bits (`edgetune::num::fixed16`), beside `bench`'s I16F16
        // and I8F24 rows (whose firmware has no flash left for them).
        row!(Sgd<I4F12, 1024>, SgdConfig::new(1e-2)),
        row!(Momentum<I4F12, 1024>, MomentumConfig::new(1e-2, 0.9)),
        row!(Adam<I4F12, 512>, AdamConfig::adam(1e-3)),
        row!(AdamPlain<I4F12, 512>, AdamConfig::adam(1e-3)),
        row!(RmsProp<I4F12, 1024>, RmsPropConfig::new(1e-3)),
        row!(Adagrad<I4F12, 1024>, AdagradConfig::new(1e-2)),
        row!(Lion<I4F12, 1024>, LionConfig::new(1e-3)),
    ];
    results.iter().all(|&ok| ok)
}

#[entry]
fn main() -> ! {
    bench_common::run_kernels(&BOARD, rows)
}
