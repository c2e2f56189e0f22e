//! The optimizer benchmark shared by the firmware in `boards/`: instructions per parameter per
//! optimizer step, counted under QEMU with `-icount shift=0,align=off,sleep=off`.
//!
//! With `-icount shift=0` QEMU's virtual clock advances exactly 1 ns per executed instruction, and
//! SysTick (CLKSOURCE = processor clock) counts that clock at the board's system clock, so
//! `instructions = ticks * 1e9 / cpu_hz`. The figures are instruction counts, bit-identical from
//! run to run; they are not cycles.
//!
//! A board supplies only its [`Board`] description (clock, RAM size, title), its memory map and
//! its table, one `row!` per line, and calls [`run`] from its `#[entry]`:
//!
//! ```ignore
//! fn rows() -> bool {
//!     [
//!         row!(Sgd<f32, 1024>, SgdConfig::new(1e-2)),
//!         row!(Adam<I16F16, 512>, AdamConfig::adam(1e-3)),
//!     ]
//!     .iter()
//!     .all(|&ok| ok)
//! }
//! #[entry]
//! fn main() -> ! { bench_common::run(&BOARD, rows) }
//! ```
//!
//! Every row runs three steps of a freshly built optimizer over `N` parameters, timing each step
//! separately (step 1 may differ: bias corrections, first-step buffer copies), and checks that
//! every parameter moved against its gradient and that `step_count()` is 3. Each row's optimizer,
//! parameters and gradients are locals of one `#[inline(never)]` function, so rows reuse the same
//! stack space one after another. The stack is painted at start-up and its high-water mark
//! reported at the end. Any failed check, error or panic exits through semihosting with status 1,
//! which QEMU passes on as its own exit status.
//!
//! Output lines that scripts/embedded.sh parses (keep their shape):
//! - `conditions: target T, profile P, opt-level O, lto, codegen-units 1; RUSTC-VERSION`
//! - `| Opt | Type | N | t1 / t2 / t3 | i1 / i2 / i3 | ok |` (instructions per parameter, 2 decimals)
//! - `memory: ...; stack peak S B, never touched F B of R B RAM`
//! - `bench: PASS` or `bench: FAIL`
#![no_std]

/// The value of a `Result`, or (on an error) a defmt error line naming `$what` and `return
/// false` from the calling run function.
macro_rules! tryf {
    ($e:expr, $what:literal) => {
        match $e {
            Ok(v) => v,
            Err(e) => {
                defmt::error!("{=str} failed: {}", $what, defmt::Debug2Format(&e));
                return false;
            }
        }
    };
}

pub mod conv;
pub mod finetune;
pub mod har;
pub mod har8;
pub mod har8_core;
pub mod har_core;
pub mod int8;
pub mod mlp_step;

use core::hint::black_box;
use core::sync::atomic::{compiler_fence, AtomicU32, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use edgetune::num::Scalar;
use edgetune::optim::Optimizer;

/// What a board tells the benchmark about itself.
pub struct Board {
    /// First output line, e.g. "QEMU microbit (Cortex-M0, soft-float)".
    pub title: &'static str,
    /// Processor clock that clocks SysTick (CLKSOURCE = 1), in Hz.
    pub cpu_hz: u32,
    /// RAM size in bytes (as in the board's memory file), for the memory report.
    pub ram_bytes: usize,
}

/// With `-icount shift=0`, one instruction is 1 ns of virtual time.
const INSTR_PER_SEC: u64 = 1_000_000_000;

/// `row!(Opt<S, N>, config)`: benchmarks one optimizer/number type/size; `true` if it passed.
/// The optimizer type must be in scope at the call site.
#[macro_export]
macro_rules! row {
    ($opt:ident < $s:ty, $n:literal >, $cfg:expr) => {
        $crate::bench_row::<$s, $opt<$s, $n>, $n>(stringify!($opt), stringify!($s), || {
            <$opt<$s, $n>>::new($cfg)
        })
    };
}

/// Adam with its flags fixed at compile time (`maximize = false`, no weight decay): the row
/// that shows one configuration's step, whose other loops are not linked.
pub type AdamPlain<S, const N: usize> =
    edgetune::optim::Adam<S, N, edgetune::optim::Off, edgetune::optim::PlainAdam>;

/// [`AdamPlain`]'s configurations with the compact form: one shared scalar loop, the least flash.
pub type AdamCompact<S, const N: usize> =
    edgetune::optim::Adam<S, N, edgetune::optim::Off, edgetune::optim::CompactAdam>;

/// Deterministic initial parameter `i`, in [-0.75, 0.75].
fn init_param(i: usize) -> f64 {
    ((i % 13) as f64 - 6.0) / 8.0
}

/// Deterministic gradient `i`: alternating sign, magnitude in [0.25, 0.97].
fn init_grad(i: usize) -> f64 {
    let mag = 0.25 + (i % 7) as f64 * 0.12;
    if i % 2 == 0 {
        mag
    } else {
        -mag
    }
}

/// One optimizer step, never inlined so that the timed region is exactly this call.
#[inline(never)]
fn step_once<S: Scalar, O: Optimizer<S, N>, const N: usize>(
    opt: &mut O,
    params: &mut [S; N],
    grads: &[S; N],
) -> Result<(), edgetune::Error> {
    black_box(opt).step(black_box(params), black_box(grads))
}

/// Clock of the running board, set once by [`run`] before any row. (Plain load/store: thumbv6m
/// has 32-bit atomic loads and stores, no read-modify-write.)
static CPU_HZ: AtomicU32 = AtomicU32::new(0);

fn cpu_hz() -> u64 {
    CPU_HZ.load(Ordering::Relaxed) as u64
}

/// Three timed steps of a freshly built optimizer, the table row and the sanity checks.
/// Use it through [`row!`].
#[doc(hidden)]
#[inline(never)]
pub fn bench_row<S: Scalar, O: Optimizer<S, N>, const N: usize>(
    opt_name: &'static str,
    num_name: &'static str,
    make: impl FnOnce() -> Result<O, edgetune::Error>,
) -> bool {
    // Keep the Result in place (no move of a multi-KiB optimizer on a 16 KiB stack).
    let mut built = make();
    let opt = match &mut built {
        Ok(opt) => opt,
        Err(e) => {
            defmt::error!(
                "{=str}<{=str}, {=usize}>: new() failed: {}",
                opt_name,
                num_name,
                N,
                defmt::Debug2Format(e)
            );
            return false;
        }
    };
    let mut params = [S::ZERO; N];
    let mut grads = [S::ZERO; N];
    for i in 0..N {
        params[i] = S::from_f64(init_param(i));
        grads[i] = S::from_f64(init_grad(i));
    }

    let mut ticks = [0u32; 3];
    let mut ok = true;
    for t in ticks.iter_mut() {
        let (dt, res) = measure(|| step_once::<S, O, N>(opt, &mut params, &grads));
        *t = dt;
        if let Err(e) = res {
            defmt::error!(
                "{=str}<{=str}, {=usize}>: step failed: {}",
                opt_name,
                num_name,
                N,
                defmt::Debug2Format(&e)
            );
            ok = false;
        }
    }

    // Sanity: three steps against a constant gradient move every parameter against its gradient.
    let mut wrong = 0usize;
    let mut first_wrong = usize::MAX;
    for i in 0..N {
        let before = S::from_f64(init_param(i)).to_f64();
        let after = params[i].to_f64();
        let g = grads[i].to_f64();
        let moved_right = after.is_finite() && (after - before) * g < 0.0;
        if !moved_right {
            wrong += 1;
            first_wrong = first_wrong.min(i);
        }
    }
    if wrong != 0 {
        let i = first_wrong;
        defmt::error!(
            "{=str}<{=str}, {=usize}>: {=usize} parameters did not move against their gradient; first: #{=usize} {=f64} -> {=f64} (grad {=f64})",
            opt_name, num_name, N, wrong, i, init_param(i), params[i].to_f64(), grads[i].to_f64()
        );
        ok = false;
    }
    if opt.step_count() != 3 {
        defmt::error!(
            "{=str}<{=str}, {=usize}>: step_count {=u32}, expected 3",
            opt_name,
            num_name,
            N,
            opt.step_count()
        );
        ok = false;
    }

    let per = ticks.map(|t| instr_x100_per_param(t, N));
    defmt::info!(
        "| {=str} | {=str} | {=usize} | {=u32} / {=u32} / {=u32} | {=u32}.{=u32}{=u32} / {=u32}.{=u32}{=u32} / {=u32}.{=u32}{=u32} | {=str} |",
        opt_name, num_name, N, ticks[0], ticks[1], ticks[2],
        per[0] / 100, per[0] / 10 % 10, per[0] % 10,
        per[1] / 100, per[1] / 10 % 10, per[1] % 10,
        per[2] / 100, per[2] / 10 % 10, per[2] % 10,
        if ok { "ok" } else { "FAILED" }
    );
    ok
}

/// Instructions per parameter, in hundredths, from SysTick ticks over `n` parameters.
pub fn instr_x100_per_param(ticks: u32, n: usize) -> u32 {
    (ticks as u64 * INSTR_PER_SEC * 100 / cpu_hz() / n as u64) as u32
}

fn systick_start(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(0x00FF_FFFF);
    syst.clear_current();
    syst.disable_interrupt();
    syst.enable_counter();
}

/// SysTick ticks spent in `f` (SysTick counts down; regions must stay under 2^24 ticks).
#[inline(always)]
pub fn measure<R>(f: impl FnOnce() -> R) -> (u32, R) {
    compiler_fence(Ordering::SeqCst);
    let t0 = SYST::get_current();
    compiler_fence(Ordering::SeqCst);
    let r = black_box(f());
    compiler_fence(Ordering::SeqCst);
    let t1 = SYST::get_current();
    compiler_fence(Ordering::SeqCst);
    (t0.wrapping_sub(t1) & 0x00FF_FFFF, r)
}

/// Exactly `2 * n` instructions (`subs` + `bne` per iteration), to check the clock assumption.
#[inline(never)]
fn spin(n: u32) {
    // SAFETY: a register-only countdown loop; touches no memory.
    unsafe {
        core::arch::asm!(
            "2:",
            "subs {0}, #1",
            "bne 2b",
            inout(reg) n => _,
            options(nomem, nostack),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Memory: linker symbols from cortex-m-rt's link.x, and stack painting.
// ---------------------------------------------------------------------------------------------
extern "C" {
    static __sbss: u32;
    static __ebss: u32;
    static __sdata: u32;
    static __edata: u32;
    static __sidata: u32;
    static __sheap: u32;
    static _stack_start: u32;
}

fn sym(p: *const u32) -> usize {
    p as usize
}

const PAINT: u32 = 0xACAC_ACAC;

/// Fills the free RAM between the end of `.bss`/`.uninit` and a margin below the current stack
/// pointer with `PAINT`, so that the stack's high-water mark can be found later.
#[inline(never)]
fn paint_stack() {
    let bottom = sym(&raw const __sheap);
    let sp = cortex_m::register::msp::read() as usize;
    let top = sp.saturating_sub(256) & !3;
    let mut a = bottom;
    while a < top {
        // SAFETY: [__sheap, sp - 256) is RAM that nothing uses yet: above every static, below
        // every live stack frame; interrupts are not enabled.
        unsafe { (a as *mut u32).write_volatile(PAINT) };
        a += 4;
    }
}

/// Lowest address the stack has written to (the first unpainted word from the bottom).
fn stack_low_water() -> usize {
    let bottom = sym(&raw const __sheap);
    let top = sym(&raw const _stack_start);
    let mut a = bottom;
    // SAFETY: reads of RAM inside [__sheap, _stack_start).
    while a < top && unsafe { (a as *const u32).read_volatile() } == PAINT {
        a += 4;
    }
    a
}

/// Repaints the free RAM below the caller's stack (as at start-up) so that [`stack_peak`] then
/// gives the deepest stack since this call: for the stack peak of one region (a training step).
#[inline(never)]
pub fn stack_repaint() {
    paint_stack();
}

/// Bytes from the top of the stack (`_stack_start`) down to the deepest word written since the
/// last paint ([`stack_repaint`], or start-up): the stack in use at its peak, the caller's
/// frames included.
pub fn stack_peak() -> usize {
    sym(&raw const _stack_start) - stack_low_water()
}

/// Bytes from the top of the stack down to the current stack pointer (the frames of the
/// caller's call chain): subtract from [`stack_peak`] for the depth of a region alone.
#[inline(always)]
pub fn stack_in_use() -> usize {
    sym(&raw const _stack_start) - cortex_m::register::msp::read() as usize
}

/// Start-up shared by every firmware of the boards: paints the stack, starts SysTick, prints
/// `title` and the `conditions:` line, and checks the clock (1 000 000 known instructions must
/// take `1e6 * cpu_hz / 1e9` ticks). Returns whether the clock check passed.
pub fn start(board: &Board, title: &str) -> bool {
    paint_stack();
    CPU_HZ.store(board.cpu_hz, Ordering::Relaxed);
    let cp = cortex_m::Peripherals::take().unwrap();
    systick_start(cp.SYST);

    defmt::info!("{=str}: {=str}", title, board.title);
    defmt::info!(
        "conditions: target {=str}, profile {=str}, opt-level {=str}, lto, codegen-units 1; {=str}",
        env!("BENCH_TARGET"),
        env!("BENCH_PROFILE"),
        env!("BENCH_OPT_LEVEL"),
        env!("BENCH_RUSTC")
    );

    let (cal, ()) = measure(|| spin(black_box(500_000)));
    let expected = (1_000_000 * board.cpu_hz as u64 / INSTR_PER_SEC) as u32;
    let ok = cal.abs_diff(expected) <= 2;
    defmt::info!(
        "clock check: 1000000 instructions = {=u32} ticks (expect {=u32}): {=str}",
        cal,
        expected,
        if ok {
            "ok"
        } else {
            "FAILED (is QEMU running with -icount shift=0?)"
        }
    );
    ok
}

/// Prints the `memory:` line (.bss, .data, flash, stack high-water mark) and returns `false` if
/// the stack came within 64 bytes of the statics.
pub fn memory_report(board: &Board) -> bool {
    let bss = sym(&raw const __ebss) - sym(&raw const __sbss);
    let data = sym(&raw const __edata) - sym(&raw const __sdata);
    let flash = sym(&raw const __sidata) + data;
    let low = stack_low_water();
    let stack_top = sym(&raw const _stack_start);
    let stack_peak = stack_top - low;
    let free = low - sym(&raw const __sheap);
    defmt::info!(
        "memory: .bss {=usize} B, .data {=usize} B, flash used {=usize} B (to end of .data image); stack peak {=usize} B, never touched {=usize} B of {=usize} B RAM",
        bss, data, flash, stack_peak, free, board.ram_bytes
    );
    if free < 64 {
        defmt::error!(
            "stack came within {=usize} B of .bss: overflow likely",
            free
        );
        return false;
    }
    true
}

/// Prints `{tag}: PASS` or `{tag}: FAIL` and exits QEMU through semihosting with status 0 or 1.
pub fn exit(tag: &str, ok: bool) -> ! {
    if ok {
        defmt::info!("{=str}: PASS", tag);
        semihosting::process::exit(0)
    } else {
        defmt::error!("{=str}: FAIL", tag);
        semihosting::process::exit(1)
    }
}

/// The whole benchmark: paints the stack, starts SysTick, checks the clock, runs `rows` (the
/// board's table), reports memory and exits QEMU through semihosting with the verdict.
/// Call it first thing in the board's `#[entry]`.
pub fn run(board: &Board, rows: fn() -> bool) -> ! {
    let mut ok = start(board, "edgetune optimizer benchmark");
    defmt::info!(
        "instructions per parameter per step = ticks * 1e9 / {=u32} / N; steps 1 / 2 / 3",
        board.cpu_hz
    );
    defmt::info!("| optimizer | type | N | ticks | instr/param/step | check |");
    defmt::info!("|---|---|---|---|---|---|");
    ok &= sqrt_check();
    ok &= rows();
    ok &= memory_report(board);
    exit("bench", ok)
}

/// Where this build's `f32` root is correctly rounded
/// (`edgetune::num::sqrt::SQRT_F32_CORRECTLY_ROUNDED`: `nightly`, `arm-vsqrt`, or a core without
/// an FPU), checks that the root the optimizers take gives `libm::sqrtf`'s bits
/// (`sqrt_f32_accurate`) on 65,536 inputs spread over every sign and exponent (`bits = i ·
/// 65,537`: each 16-bit half takes every value) and on the special values: that is the claim a
/// host replaying the device with `exact-sqrt` rests on. Prints one `sqrt check:` line.
fn sqrt_check() -> bool {
    use edgetune::num::sqrt::{sqrt_f32, sqrt_f32_accurate, SQRT_F32_CORRECTLY_ROUNDED};
    if !SQRT_F32_CORRECTLY_ROUNDED {
        defmt::info!(
            "sqrt check: skipped (this build's root is the refined one, within 1 ulp: host-tested)"
        );
        return true;
    }
    let same = |x: f32| {
        let (a, b) = (sqrt_f32(black_box(x)), sqrt_f32_accurate(x));
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    };
    let specials = [
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MAX,
        f32::MIN_POSITIVE,
        f32::from_bits(1),
    ];
    let mut bad = specials.iter().filter(|&&x| !same(x)).count() as u32;
    for i in 0..=u16::MAX as u32 {
        if !same(f32::from_bits(i.wrapping_mul(65_537))) {
            bad += 1;
        }
    }
    defmt::info!(
        "sqrt check: the optimizers' root against libm::sqrtf on 65,544 inputs: {=u32} differ: {=str}",
        bad,
        if bad == 0 { "ok" } else { "FAILED" }
    );
    bad == 0
}

/// A second benchmark firmware of the layer kernels' rows (instructions per MAC; `conv`,
/// `int8`), for a board whose flash cannot hold them beside the optimizer rows of [`run`]: the
/// same start, memory report and exit, tagged `kernels`. scripts/embedded.sh joins its rows to
/// the board's.
pub fn run_kernels(board: &Board, rows: fn() -> bool) -> ! {
    let mut ok = start(board, "edgetune kernel benchmark");
    ok &= rows();
    ok &= memory_report(board);
    exit("kernels", ok)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    if let Some(l) = info.location() {
        defmt::error!("panic at {=str}:{=u32}", l.file(), l.line());
    } else {
        defmt::error!("panic");
    }
    semihosting::process::exit(1)
}

#[defmt::panic_handler]
fn defmt_panic() -> ! {
    semihosting::process::exit(1)
}
