//! Instructions per multiply-accumulate of the layer kernels on a Cortex-M0 (QEMU `microbit`, no
//! FPU, f32 in soft-float): the convolution rows (`bench-common/src/conv.rs`, f32 and I16F16) and
//! the int8 rows (`bench-common/src/int8.rs`). A firmware apart from `bench.rs`, whose optimizer
//! rows and these together overflow the microbit's 256 KiB of flash; the clock and RAM are the
//! same (1 SysTick = 62.5 instructions under `-icount shift=0`).
#![no_std]
#![no_main]

use bench_common::Board;
use cortex_m as _; // critical-section implementation (single core)
use cortex_m_rt::entry;
use defmt_semihosting as _; // the defmt global logger (semihosting writes to QEMU's stdout)
use edgetune::num::fixed::I16F16;

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
    ];
    results.iter().all(|&ok| ok)
}

#[entry]
fn main() -> ! {
    bench_common::run_kernels(&BOARD, rows)
}
