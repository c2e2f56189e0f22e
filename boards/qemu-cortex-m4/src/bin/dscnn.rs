//! One training step of DS-CNN Small (Arm ML-zoo's keyword spotter: input 49 × 10 × 1, 23,756
//! parameters, 2,656,768 MACs forward) in f32 on a Cortex-M4F (QEMU `mps2-an386`, 4 MiB RAM),
//! in several fine-tuning modes, each with the ordinary update (`zero_grad`, `accumulate`, one
//! Adam step over the trainable arena) and the fused one (`update fused;`: `net.step(&mut opt,
//! x, target)` steps each layer as soon as its gradient is complete).
//!
//! The networks are the declarations of the library's memory example
//! (`examples/memory/dscnn.rs`, included with `#[path]`), so this firmware measures the plans
//! that example prints. Weights are seeded random values (memory and instruction counts do not
//! depend on them), built at compile time by a `const fn` generator: per mode the frozen
//! parameters are a `static` in flash (`split_frozen`), the trainable ones a `static` in flash
//! (`split_trainable`) copied into the network's arena before the first step. One seeded input
//! (a `static` in flash) and one label. The network and its Adam are `static`s in RAM.
//!
//! Per mode and variant, three steps on the same sample; for each:
//! - the instructions of the whole step (SysTick under `-icount shift=0`; 1 tick = 40
//!   instructions at 25 MHz), printed as a row `| DsCnnStep | f32 | MODE | ticks | instructions
//!   per step | ok |` (one sample per step, so instructions per step = per sample; gated on
//!   step 2 by scripts/embedded.sh) and per forward MAC;
//! - the stack peak: the free RAM is repainted before the step and the deepest word written
//!   read after it.
//!
//! The `dscnn memory:` line of a mode compares the measured peak RAM, `size_of` of the network
//! and optimizer statics plus the painted stack peak (from the stack's top, so the firmware's
//! own frames below `main` count), with `memory_plan::<Adam<..>>(false).total()` (frozen
//! parameters in flash), which counts the network's buffers and the optimizer but no stack.
//!
//! Verdict (`dscnn: PASS`): every step completes with a finite loss, the step's stack stays
//! clear of the statics, the statics equal the plan up to the frozen arena's pointer and its
//! alignment, and per step the trainable arena after the fused step is bit-identical to the
//! ordinary one (FNV-1a hash of the parameters' bits) with the same loss bits.
#![no_std]
#![no_main]
#![allow(long_running_const_eval)]

use bench_common::{measure, Board};
use core::hint::black_box;
use cortex_m_rt::entry;
use defmt_semihosting as _; // the defmt global logger
use edgetune::optim::{Adam, AdamConfig, Optimizer};
use edgetune::Error;

#[allow(dead_code, unused_imports)]
#[path = "../../../../examples/memory/dscnn.rs"]
mod dscnn;
use dscnn::*;

const BOARD: Board = Board {
    title: "QEMU mps2-an386 (Cortex-M4F), f32",
    cpu_hz: 25_000_000,
    ram_bytes: 4 * 1024 * 1024,
};

const PARAMS: usize = Full::<f32>::PARAMS;
const INPUTS: usize = Full::<f32>::INPUTS;
const MACS: usize = Full::<f32>::MACS;
/// Adam's learning rate.
const LR: f64 = 1e-3;
/// The class of the one sample.
const LABEL: usize = 7;
/// Steps per mode and variant.
const STEPS: usize = 3;

const fn xorshift(mut s: u32) -> u32 {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    s
}

/// Fills `n` elements from `at` with `offset + scale · u`, `u` uniform in [-1, 1); returns the
/// next index.
const fn fill(
    out: &mut [f32; PARAMS],
    at: usize,
    n: usize,
    offset: f32,
    scale: f32,
    s: &mut u32,
) -> usize {
    let mut i = 0;
    while i < n {
        *s = xorshift(*s);
        let u = (*s >> 8) as f32 / 8_388_608.0 - 1.0;
        out[at + i] = offset + scale * u;
        i += 1;
    }
    at + n
}

/// Seeded parameters in torch order: convolution and dense weights uniform in ±√(6 / fan-in)
/// (He), biases and batch-norm shifts in ±0.05, batch-norm scales in 1 ± 0.1.
const fn seeded_params() -> [f32; PARAMS] {
    let mut out = [0.0f32; PARAMS];
    let mut s = 0x2545_f491u32;
    // conv2d(1, 64, (10, 4)): fan-in 40; bias; batch norm.
    let mut i = fill(&mut out, 0, 64 * 40, 0.0, 0.387_298_3, &mut s);
    i = fill(&mut out, i, 64, 0.0, 0.05, &mut s);
    i = fill(&mut out, i, 64, 1.0, 0.1, &mut s);
    i = fill(&mut out, i, 64, 0.0, 0.05, &mut s);
    let mut b = 0;
    while b < 4 {
        // depthwise 3 × 3: fan-in 9; bias; batch norm.
        i = fill(&mut out, i, 64 * 9, 0.0, 0.816_496_6, &mut s);
        i = fill(&mut out, i, 64, 0.0, 0.05, &mut s);
        i = fill(&mut out, i, 64, 1.0, 0.1, &mut s);
        i = fill(&mut out, i, 64, 0.0, 0.05, &mut s);
        // pointwise 64 -> 64: fan-in 64; bias; batch norm.
        i = fill(&mut out, i, 64 * 64, 0.0, 0.306_186_2, &mut s);
        i = fill(&mut out, i, 64, 0.0, 0.05, &mut s);
        i = fill(&mut out, i, 64, 1.0, 0.1, &mut s);
        i = fill(&mut out, i, 64, 0.0, 0.05, &mut s);
        b += 1;
    }
    // dense(64, 12).
    i = fill(&mut out, i, 12 * 64, 0.0, 0.306_186_2, &mut s);
    i = fill(&mut out, i, 12, 0.0, 0.05, &mut s);
    assert!(i == PARAMS);
    out
}

/// One seeded input in [-1, 1).
const fn seeded_input() -> [f32; INPUTS] {
    let mut out = [0.0f32; INPUTS];
    let mut s = 0x9e37_79b9u32;
    let mut i = 0;
    while i < INPUTS {
        s = xorshift(s);
        out[i] = (s >> 8) as f32 / 8_388_608.0 - 1.0;
        i += 1;
    }
    out
}

const ALL: [f32; PARAMS] = seeded_params();
/// The sample, in flash.
static X: [f32; INPUTS] = seeded_input();

/// FNV-1a over the bits of `params`.
fn params_hash(params: &[f32]) -> u32 {
    let mut h = 0x811c_9dc5u32;
    for p in params {
        for b in p.to_bits().to_le_bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
    }
    h
}

/// What one step of one variant left: loss bits, trainable-arena hash, ticks, stack peak (from
/// the stack's top) and the part of it below the caller's frame.
#[derive(Clone, Copy, Default)]
struct StepResult {
    loss: u32,
    hash: u32,
    ticks: u32,
    stack: usize,
    own_stack: usize,
}

/// Runs `step` once, repainting the stack first; `None` (logged) on an error.
fn run_step(
    key: &str,
    k: usize,
    step: impl FnOnce() -> Result<f32, Error>,
) -> Option<(u32, usize, usize, f32)> {
    bench_common::stack_repaint();
    let before = bench_common::stack_in_use();
    let (ticks, r) = measure(step);
    let peak = bench_common::stack_peak();
    match r {
        Ok(loss) => Some((ticks, peak, peak.saturating_sub(before), loss)),
        Err(e) => {
            defmt::error!(
                "DsCnnStep<f32, {=str}>: step {=usize} failed: {}",
                key,
                k + 1,
                defmt::Debug2Format(&e)
            );
            None
        }
    }
}

/// Instructions of `ticks` SysTick ticks.
fn instr(ticks: u32) -> u64 {
    ticks as u64 * 1_000_000_000 / BOARD.cpu_hz as u64
}

/// The table row and the per-MAC line of one variant (`ok`: every step finished, finite).
fn report_variant(key: &str, res: &[StepResult; STEPS], ok: bool) {
    let i = res.map(|r| instr(r.ticks));
    defmt::info!(
        "| DsCnnStep | f32 | {=str} | {=u32} / {=u32} / {=u32} | {=u64}.00 / {=u64}.00 / {=u64}.00 | {=str} |",
        key, res[0].ticks, res[1].ticks, res[2].ticks, i[0], i[1], i[2],
        if ok { "ok" } else { "FAILED" }
    );
    let per_mac_x100 = i[1] * 100 / MACS as u64;
    defmt::info!(
        "dscnn instructions: {=str}: {=u64} / {=u64} / {=u64} per step (one sample), {=u64}.{=u64:02} per forward MAC at step 2; losses {=f32} / {=f32} / {=f32}; stack peak {=usize} B ({=usize} B below the caller)",
        key, i[0], i[1], i[2], per_mac_x100 / 100, per_mac_x100 % 100,
        f32::from_bits(res[0].loss), f32::from_bits(res[1].loss), f32::from_bits(res[2].loss),
        res.iter().map(|r| r.stack).max().unwrap_or(0),
        res.iter().map(|r| r.own_stack).max().unwrap_or(0)
    );
}

/// The `dscnn memory:` line of one variant; `true` if the statics match the plan (`slack`
/// bytes allowed for the frozen arena's pointer and the struct's padding) and the stack stayed
/// clear of the statics.
fn report_memory(
    key: &str,
    plan: edgetune::nn::network::MemoryPlan,
    net: usize,
    opt: usize,
    res: &[StepResult; STEPS],
) -> bool {
    let stack = res.iter().map(|r| r.stack).max().unwrap_or(0);
    let own = res.iter().map(|r| r.own_stack).max().unwrap_or(0);
    let statics = net + opt;
    let measured = statics + stack;
    let total = plan.total();
    defmt::info!(
        "dscnn memory: {=str}: plan {=usize} B (trainable {=usize}, optimizer {=usize}, gradients {=usize}, kept {=usize}, scratch {=usize}; frozen in flash); statics {=usize} B (network {=usize} + Adam {=usize}) + stack peak {=usize} B = {=usize} B; measured - plan = {=isize} B (step's own stack {=usize} B)",
        key, total, plan.trainable, plan.optimizer, plan.gradients, plan.kept, plan.scratch,
        statics, net, opt, stack, measured, measured as isize - total as isize, own
    );
    let slack = 8;
    let statics_ok = statics >= total && statics - total <= slack;
    if !statics_ok {
        defmt::error!(
            "{=str}: statics {=usize} B differ from the plan's {=usize} B by more than the frozen arena's pointer",
            key,
            statics,
            total
        );
    }
    statics_ok
}

/// One mode: an ordinary network type and its fused twin sharing one layout, their statics,
/// and the run. `F` is where the frozen parameters are: a reference to the flash `static`, or
/// (full training, nothing frozen) the empty array, which leaves the network all zeros until
/// the first copy, so its `static` goes to `.bss` rather than a 1 MB `.data` image in flash.
macro_rules! mode {
    ($m:ident, $key:literal, $net:ident, $fused:ident) => {
        mode!($m, $key, $net, $fused, &'static [f32; FROZEN], &FROZEN_W);
    };
    ($m:ident, $key:literal, $net:ident, $fused:ident, $fty:ty, $fval:expr) => {
        mod $m {
            use super::*;

            pub const TRAINABLE: usize = $net::<f32>::TRAINABLE;
            pub const FROZEN: usize = $net::<f32>::FROZEN;
            pub type Opt = Adam<f32, TRAINABLE>;
            pub type Net = $net<f32, $fty>;
            pub type Fused = $fused<f32, $fty>;

            /// Frozen parameters, in flash.
            #[allow(dead_code)]
            static FROZEN_W: [f32; FROZEN] = $net::<f32>::split_frozen(&ALL);
            /// The trainable parameters' initial values, in flash.
            static INIT: [f32; TRAINABLE] = $net::<f32>::split_trainable(&ALL);

            const fn adam() -> Opt {
                match Adam::new(AdamConfig::adam(LR)) {
                    Ok(o) => o,
                    Err(_) => panic!("invalid Adam configuration"),
                }
            }

            static mut NET: Net = Net::with_frozen($fval);
            static mut OPT: Opt = adam();
            static mut NET_FUSED: Fused = Fused::with_frozen($fval);
            static mut OPT_FUSED: Opt = adam();

            /// Ordinary step: gradients accumulated into the whole gradient arena, then Adam.
            #[inline(never)]
            fn step(net: &mut Net, opt: &mut Opt, x: &[f32; INPUTS]) -> Result<f32, Error> {
                net.zero_grad();
                let loss = net.accumulate(x, LABEL)?;
                let (p, g) = net.trainable_and_grads();
                opt.step(p, g)?;
                Ok(loss)
            }

            /// Fused step: each layer stepped as soon as its gradient is complete.
            #[inline(never)]
            fn step_fused(net: &mut Fused, opt: &mut Opt, x: &[f32; INPUTS]) -> Result<f32, Error> {
                net.step(opt, x, LABEL)
            }

            /// Both variants, three steps each; the verdict.
            pub fn run() -> bool {
                // SAFETY: the only references to these statics, taken once; no interrupt
                // handler runs.
                let (net, opt, fnet, fopt) = unsafe {
                    (
                        &mut *(&raw mut NET),
                        &mut *(&raw mut OPT),
                        &mut *(&raw mut NET_FUSED),
                        &mut *(&raw mut OPT_FUSED),
                    )
                };
                net.trainable_mut().copy_from_slice(&INIT);
                fnet.trainable_mut().copy_from_slice(&INIT);
                defmt::info!(
                    "mode {=str}: {=usize} trainable, {=usize} frozen in flash",
                    $key,
                    TRAINABLE,
                    FROZEN
                );
                let mut ok = true;
                let mut ord = [StepResult::default(); STEPS];
                let mut fus = [StepResult::default(); STEPS];
                let (mut ok_o, mut ok_f) = (true, true);
                for k in 0..STEPS {
                    match run_step($key, k, || step(black_box(&mut *net), black_box(&mut *opt), black_box(&X))) {
                        Some((t, s, own, loss)) => {
                            ok_o &= loss.is_finite();
                            ord[k] = StepResult { loss: loss.to_bits(), hash: params_hash(net.trainable()), ticks: t, stack: s, own_stack: own };
                        }
                        None => ok_o = false,
                    }
                }
                for k in 0..STEPS {
                    match run_step(concat!($key, " fused"), k, || step_fused(black_box(&mut *fnet), black_box(&mut *fopt), black_box(&X))) {
                        Some((t, s, own, loss)) => {
                            ok_f &= loss.is_finite();
                            fus[k] = StepResult { loss: loss.to_bits(), hash: params_hash(fnet.trainable()), ticks: t, stack: s, own_stack: own };
                        }
                        None => ok_f = false,
                    }
                }
                report_variant($key, &ord, ok_o);
                report_variant(concat!($key, " fused"), &fus, ok_f);
                ok &= ok_o && ok_f;
                ok &= report_memory(
                    $key,
                    $net::<f32>::memory_plan::<Opt>(false),
                    core::mem::size_of::<Net>(),
                    core::mem::size_of::<Opt>(),
                    &ord,
                );
                ok &= report_memory(
                    concat!($key, " fused"),
                    $fused::<f32>::memory_plan::<Opt>(false),
                    core::mem::size_of::<Fused>(),
                    core::mem::size_of::<Opt>(),
                    &fus,
                );
                let mut same = true;
                for k in 0..STEPS {
                    same &= ord[k].hash == fus[k].hash && ord[k].loss == fus[k].loss;
                }
                defmt::info!(
                    "dscnn check: {=str}: losses finite {=bool}; fused = ordinary bit for bit after steps 1 / 2 / 3 {=bool} (trainable hashes {=u32:#010x} / {=u32:#010x} / {=u32:#010x}, fused {=u32:#010x} / {=u32:#010x} / {=u32:#010x})",
                    $key, ok_o && ok_f, same,
                    ord[0].hash, ord[1].hash, ord[2].hash, fus[0].hash, fus[1].hash, fus[2].hash
                );
                ok && same
            }
        }
    };
}

mode!(bias_only, "bias-only", BiasOnly, BiasOnlyFused);
mode!(sparse_tail, "sparse-tail", SparseTail, SparseTailFused);
mode!(last_layer, "last-layer", LastLayer, LastLayerFused);
mode!(full, "full", Full, FullFused, [f32; 0], []);

#[entry]
fn main() -> ! {
    let mut ok = bench_common::start(&BOARD, "edgetune DS-CNN Small training step");
    defmt::info!(
        "network: DS-CNN Small (examples/memory/dscnn.rs), f32, input 49 x 10 x 1, {=usize} parameters, {=usize} MACs forward; seeded weights, frozen parameters in flash; one sample (label {=usize}), Adam lr 0.001; {=usize} steps per variant",
        PARAMS, MACS, LABEL, STEPS
    );
    defmt::info!(
        "instructions per step = ticks * 1e9 / {=u32}; steps 1 / 2 / 3",
        BOARD.cpu_hz
    );
    defmt::info!("| step | type | mode | ticks | instructions per step (one sample) | check |");
    defmt::info!("|---|---|---|---|---|---|");
    ok &= bias_only::run();
    ok &= sparse_tail::run();
    ok &= last_layer::run();
    ok &= full::run();
    ok &= bench_common::memory_report(&BOARD);
    bench_common::exit("dscnn", ok)
}
