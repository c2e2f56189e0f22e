//! Host throughput of every optimizer step: edgetune against a naive `f32` loop (`naive/`), and the
//! machine's memory bandwidth as the bound.
//!
//! `cargo bench --bench optim` runs everything (a few minutes); `scripts/bench-host.py` runs it,
//! times PyTorch on the same configurations and prints one table. Benchmark ids are
//! `<optimizer>/<impl>-<type>/<N>`, for example `adam/edgetune-I16F16/65536` or
//! `adam/naive-f32/1048576`, and `bandwidth/copy-dram/67108864`; a criterion filter (a regex on
//! the id) selects a subset: `cargo bench --bench optim -- 'adam/.*/1048576'`.
//!
//! # What one iteration is
//! One `step` over a flat arena of `N` parameters with the hyperparameters below (torch's
//! defaults unless said), from deterministic parameters in [-1, 1) and gradients in [-0.5, 0.5).
//! Successive iterations alternate between the gradient `g` and `-g`, so parameters and moments
//! stay bounded however many steps criterion runs (fixed-point parameters never reach saturation).
//! Arrays are heap-allocated (`Box<[S; N]>`); the optimizers are plain values of up to 12 MiB at
//! N = 1Mi, so they are built on a 256 MiB thread stack and moved into a `Box`.
//!
//! | id | edgetune | naive | torch (scripts/torch_bench.py) |
//! |---|---|---|---|
//! | `sgd` | `Sgd`, lr 1e-3 | `p -= lr·g` | `SGD(lr=1e-3)` |
//! | `momentum` | `Momentum`, lr 1e-3, μ 0.9 | `b = μb + g; p -= lr·b` | `SGD(lr=1e-3, momentum=0.9)` |
//! | `adam` | `Adam`, `AdamConfig::adam(1e-3)` | Algorithm 1, `m̂ = m/bc1`, `v̂ = v/bc2` | `Adam(lr=1e-3)` |
//! | `adamw` | `Adam`, `AdamConfig::adamw(1e-3)` (wd 1e-2) | the same after `p *= 1 − lr·wd` | `AdamW(lr=1e-3)` |
//! | `rmsprop` | `RmsProp`, lr 1e-2 | `v = αv + (1−α)g²; p -= lr·g/(√v + ε)` | `RMSprop(lr=1e-2)` |
//! | `adagrad` | `Adagrad`, lr 1e-2 | `s += g²; p -= lr·g/(√s + ε)` | `Adagrad(lr=1e-2)` |
//! | `lion` | `Lion`, lr 1e-4 | the authors' rule, `sign(0) = 0` | the same rule in torch tensor ops |
//!
//! # Threads
//! edgetune is built with `host-threads`: a float step of at least 128 Ki elements runs in pieces
//! on all the host's cores (`rayon`'s pool). With `RAYON_NUM_THREADS=1` they run whole on the
//! calling thread, under the ids `<optimizer>/edgetune-<type>-1t/<N>` (`scripts/bench-host.py`
//! runs those as a second pass). Fixed-point steps and smaller ones always run on the calling
//! thread.
//!
//! # Bytes moved per element and step
//! Throughput is reported both as elements (parameters) per second and as bytes per second
//! (criterion's `ElementsAndBytes`), the bytes counted from what one step must read and write:
//!
//! `bytes/element = 2·size(S)` (parameters read and written) `+ size(S)` (gradients read)
//! `+ size(S)` (edgetune only: the non-finite gradient check, a read-only pass over the gradients
//! before anything is written) `+ Σ 2·size(state buffer)` (each state buffer read and written),
//!
//! with the state buffer sizes taken from the number type's kernel trait (`f32`: 4 bytes;
//! fixed point: `I16F16`/`I8F24` or the 4-byte `MiniFloat`). With 4-byte types that is 16 (SGD),
//! 24 (Momentum, RMSprop, Adagrad, Lion) and 32 (Adam, AdamW) bytes per element for edgetune, 4
//! fewer for the naive loop, which has no check pass. It is a count of the traffic the algorithm
//! needs, not of what reaches DRAM: at N = 1Mi an f32 Adam step touches 16 MiB, which this host's
//! L3 holds (see `bandwidth` below).
//!
//! # Bandwidth (`bandwidth/...`)
//! STREAM-style, `f32` arrays: `copy` is `dst.copy_from_slice(src)` (counted 8 bytes per
//! element, read + write) and `triad` is `a = b + s·c` (12 bytes per element; STREAM's count,
//! which leaves out the write-allocate read of `a`). `dram` uses 64 Mi elements (256 MiB per
//! array, far beyond any last-level cache); `cache` uses 1 Mi elements (4 MiB per array), the
//! size of one optimizer buffer at N = 1Mi, for the bound when everything stays in cache.
//!
//! # Diagnostics (`diagnostics/...`)
//! At N = 1Mi, `f32`: the gradient check pass alone (edgetune's scan as a step runs it, a plain
//! `position` loop and a chunked branch-free form), and the naive Adam loop with edgetune's `f32` square root.
//!
//! # Criterion settings
//! Warm-up 0.5 s, measurement 1 s, 20 samples, 10,000 bootstrap resamples, no plots: about 4 to 5
//! minutes for the whole run (f64 rows included). Command-line options override them
//! (`-- --measurement-time 5 --sample-size 50` for a quieter machine).

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use edgetune::num::fixed::{I16F16, I8F24};
use edgetune::num::Scalar;
use edgetune::optim::{
    Adagrad, AdagradConfig, AdagradNum, Adam, AdamConfig, AdamNum, Lion, LionConfig, LionNum,
    Momentum, MomentumConfig, MomentumNum, Optimizer, RmsProp, RmsPropConfig, RmsPropNum, Sgd,
    SgdConfig, SgdNum,
};
use std::hint::black_box;
use std::mem::size_of;
use std::time::Duration;

mod naive;

const SGD_LR: f64 = 1e-3;
const MOMENTUM_LR: f64 = 1e-3;
const MOMENTUM: f64 = 0.9;
const ADAM_LR: f64 = 1e-3;
const RMSPROP_LR: f64 = 1e-2;
const ADAGRAD_LR: f64 = 1e-2;
const LION_LR: f64 = 1e-4;

/// The largest optimizer value (`AmsGrad`-sized, 12 MiB at N = 1Mi) is built on the stack before
/// it is boxed, possibly with a copy or two in flight: far beyond the main thread's 8 MiB.
const STACK_BYTES: usize = 256 << 20;

type Group<'a> = BenchmarkGroup<'a, WallTime>;

/// Bytes one step moves per element (see the module docs).
/// The smallest step `host-threads` cuts into pieces (two of its grains, `optim::threads`).
const THREADED_FROM: usize = 1 << 17;

fn bytes_per_element(param: usize, grad: usize, states: &[usize], check_pass: bool) -> u64 {
    let check = if check_pass { grad } else { 0 };
    (2 * param + grad + check + 2 * states.iter().sum::<usize>()) as u64
}

/// A deterministic value in [-1, 1) for element `i` of stream `seed` (splitmix64).
fn value(seed: u64, i: usize) -> f64 {
    let mut z = seed
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(i as u64)
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

/// A heap array built element by element (never on the stack).
fn boxed<T, const N: usize>(f: impl FnMut(usize) -> T) -> Box<[T; N]> {
    let slice: Box<[T]> = (0..N).map(f).collect();
    match slice.try_into() {
        Ok(array) => array,
        Err(_) => unreachable!("the iterator yields exactly N elements"),
    }
}

/// Parameters, and the gradient and its negation (alternated step by step).
struct Data<S, const N: usize> {
    params: Box<[S; N]>,
    grads: [Box<[S; N]>; 2],
}

fn data<S: Scalar, const N: usize>() -> Data<S, N> {
    Data {
        params: boxed(|i| S::from_f64(value(1, i))),
        grads: [
            boxed(|i| S::from_f64(0.5 * value(2, i))),
            boxed(|i| S::from_f64(-0.5 * value(2, i))),
        ],
    }
}

/// Panics unless one step succeeds and moves at least one parameter: a bench of a step that
/// returns early would measure nothing.
fn check_step<S: Scalar, const N: usize>(
    what: &str,
    params: &mut [S; N],
    grads: &[S; N],
    step: impl FnOnce(&mut [S; N], &[S; N]) -> bool,
) {
    let before = params.first().copied();
    let first = params.iter().map(|p| p.to_f64()).sum::<f64>();
    assert!(step(params, grads), "{what}: the step failed");
    let after = params.iter().map(|p| p.to_f64()).sum::<f64>();
    assert!(
        first != after || before != params.first().copied(),
        "{what}: the step changed nothing"
    );
}

/// Benches edgetune's `opt.step` at size `N`, on the optimizer `make` builds (moved to the heap);
/// `states` are the sizes of its state buffers' elements.
fn bench_edgetune<S: Scalar, O: Optimizer<S, N>, const N: usize>(
    g: &mut Group,
    ty: &str,
    make: impl FnOnce() -> O,
    states: &[usize],
) {
    let mut opt = Box::new(make());
    // A step `host-threads` would cut, run where rayon's pool has one thread, is its own row.
    let cut = N >= THREADED_FROM && matches!(ty, "f32" | "f64");
    let one = if cut && rayon::current_num_threads() == 1 {
        "-1t"
    } else {
        ""
    };
    let name = format!("edgetune-{ty}{one}");
    let Data { mut params, grads } = data::<S, N>();
    check_step(&format!("{name}/{N}"), &mut params, &grads[0], |p, g| {
        opt.step(p, g).is_ok()
    });
    let bytes = bytes_per_element(size_of::<S>(), size_of::<S>(), states, true) * N as u64;
    g.throughput(Throughput::ElementsAndBytes {
        elements: N as u64,
        bytes,
    });
    let mut k = 0;
    g.bench_function(BenchmarkId::new(name, N), |b| {
        b.iter(|| {
            k ^= 1;
            if opt.step(&mut params, &grads[k]).is_err() {
                panic!("step failed");
            }
        })
    });
    black_box(&params);
}

/// Benches a naive `f32` step at size `N`, with `states` state buffers of `f32`.
fn bench_naive<const N: usize>(
    g: &mut Group,
    mut step: impl FnMut(&mut [f32], &[f32]),
    states: usize,
) {
    let Data { mut params, grads } = data::<f32, N>();
    check_step(&format!("naive-f32/{N}"), &mut params, &grads[0], |p, g| {
        step(p, g);
        true
    });
    let bytes = bytes_per_element(4, 4, &vec![4; states], false) * N as u64;
    g.throughput(Throughput::ElementsAndBytes {
        elements: N as u64,
        bytes,
    });
    let mut k = 0;
    g.bench_function(BenchmarkId::new("naive-f32", N), |b| {
        b.iter(|| {
            k ^= 1;
            step(&mut params[..], &grads[k][..]);
        })
    });
    black_box(&params);
}

/// Calls `$f::<S, N>(group, "S")` for every number type.
macro_rules! each_type {
    ($f:ident, $g:expr, $n:ident) => {
        $f::<f32, $n>($g, "f32");
        $f::<f64, $n>($g, "f64");
        $f::<I16F16, $n>($g, "I16F16");
        $f::<I8F24, $n>($g, "I8F24");
    };
}

/// Runs `$f::<N>(group)` for every size in one criterion group.
macro_rules! each_size {
    ($c:expr, $name:literal, $f:ident) => {{
        let mut group = $c.benchmark_group($name);
        $f::<64>(&mut group);
        $f::<1024>(&mut group);
        $f::<65536>(&mut group);
        $f::<1048576>(&mut group);
        group.finish();
    }};
}

fn sgd<const N: usize>(g: &mut Group) {
    fn et<S: Scalar + SgdNum, const N: usize>(g: &mut Group, ty: &str) {
        let make = || Sgd::<S, N>::new(SgdConfig::new(SGD_LR)).expect("valid");
        bench_edgetune::<S, _, N>(g, ty, make, &[]);
    }
    each_type!(et, g, N);
    let mut o = naive::Sgd::new(SGD_LR as f32);
    bench_naive::<N>(g, move |p, gr| o.step(p, gr), 0);
}

fn momentum<const N: usize>(g: &mut Group) {
    fn et<S: Scalar + MomentumNum, const N: usize>(g: &mut Group, ty: &str) {
        let cfg = MomentumConfig::new(MOMENTUM_LR, MOMENTUM);
        let make = || Momentum::<S, N>::new(cfg).expect("valid");
        bench_edgetune::<S, _, N>(g, ty, make, &[size_of::<S::Buffer>()]);
    }
    each_type!(et, g, N);
    let mut o = naive::Momentum::new(N, MOMENTUM_LR as f32, MOMENTUM as f32);
    bench_naive::<N>(g, move |p, gr| o.step(p, gr), 1);
}

fn adam_with<S: Scalar + AdamNum, const N: usize>(g: &mut Group, ty: &str, cfg: AdamConfig) {
    let make = || Adam::<S, N>::new(cfg).expect("valid");
    let states = [size_of::<S::Moment>(), size_of::<S::SqMoment>()];
    bench_edgetune::<S, _, N>(g, ty, make, &states);
}

fn adam<const N: usize>(g: &mut Group) {
    fn et<S: Scalar + AdamNum, const N: usize>(g: &mut Group, ty: &str) {
        adam_with::<S, N>(g, ty, AdamConfig::adam(ADAM_LR));
    }
    each_type!(et, g, N);
    let mut o = naive::Adam::new(N, ADAM_LR as f32);
    bench_naive::<N>(g, move |p, gr| o.step(p, gr), 2);
}

fn adamw<const N: usize>(g: &mut Group) {
    fn et<S: Scalar + AdamNum, const N: usize>(g: &mut Group, ty: &str) {
        adam_with::<S, N>(g, ty, AdamConfig::adamw(ADAM_LR));
    }
    each_type!(et, g, N);
    let mut o = naive::Adam::adamw(N, ADAM_LR as f32);
    bench_naive::<N>(g, move |p, gr| o.step(p, gr), 2);
}

fn rmsprop<const N: usize>(g: &mut Group) {
    fn et<S: Scalar + RmsPropNum, const N: usize>(g: &mut Group, ty: &str) {
        let make = || RmsProp::<S, N>::new(RmsPropConfig::new(RMSPROP_LR)).expect("valid");
        bench_edgetune::<S, _, N>(g, ty, make, &[size_of::<S::SqAvg>()]);
    }
    each_type!(et, g, N);
    let mut o = naive::RmsProp::new(N, RMSPROP_LR as f32);
    bench_naive::<N>(g, move |p, gr| o.step(p, gr), 1);
}

fn adagrad<const N: usize>(g: &mut Group) {
    fn et<S: Scalar + AdagradNum, const N: usize>(g: &mut Group, ty: &str) {
        let make = || Adagrad::<S, N>::new(AdagradConfig::new(ADAGRAD_LR)).expect("valid");
        bench_edgetune::<S, _, N>(g, ty, make, &[size_of::<S::Sum>()]);
    }
    each_type!(et, g, N);
    let mut o = naive::Adagrad::new(N, ADAGRAD_LR as f32);
    bench_naive::<N>(g, move |p, gr| o.step(p, gr), 1);
}

fn lion<const N: usize>(g: &mut Group) {
    fn et<S: Scalar + LionNum, const N: usize>(g: &mut Group, ty: &str) {
        let make = || Lion::<S, N>::new(LionConfig::new(LION_LR)).expect("valid");
        bench_edgetune::<S, _, N>(g, ty, make, &[size_of::<S::Moment>()]);
    }
    each_type!(et, g, N);
    let mut o = naive::Lion::new(N, LION_LR as f32);
    bench_naive::<N>(g, move |p, gr| o.step(p, gr), 1);
}

/// STREAM-style copy and triad over `f32` arrays (see the module docs).
fn bandwidth(c: &mut Criterion) {
    let mut g = c.benchmark_group("bandwidth");
    for (name, len) in [("dram", 64usize << 20), ("cache", 1 << 20)] {
        let b = vec![1.0f32; len];
        let c = vec![2.0f32; len];
        let mut a = vec![0.0f32; len];
        g.throughput(Throughput::Bytes(8 * len as u64));
        g.bench_function(BenchmarkId::new(format!("copy-{name}"), len), |bencher| {
            bencher.iter(|| a.copy_from_slice(black_box(&b)))
        });
        g.throughput(Throughput::Bytes(12 * len as u64));
        let s = black_box(3.0f32);
        g.bench_function(BenchmarkId::new(format!("triad-{name}"), len), |bencher| {
            bencher.iter(|| {
                for ((a, b), c) in a.iter_mut().zip(black_box(&b)).zip(&c) {
                    *a = b + s * c;
                }
            })
        });
        black_box(&a);
    }
    g.finish();
}

/// Where edgetune's `f32` time goes, at N = 1Mi: the non-finite gradient check as a step runs it
/// (`Num::first_unusable_and_small`), a plain early-exit `position` loop and a chunked
/// branch-free form, and the naive
/// Adam loop with edgetune's `f32` square root (`edgetune::num::sqrt::sqrt_f32`) instead of
/// `f32::sqrt`.
fn diagnostics(c: &mut Criterion) {
    const N: usize = 1 << 20;
    let mut g = c.benchmark_group("diagnostics");
    let Data { mut params, grads } = data::<f32, N>();
    g.throughput(Throughput::ElementsAndBytes {
        elements: N as u64,
        bytes: 4 * N as u64,
    });
    g.bench_function(BenchmarkId::new("gradcheck-position-f32", N), |b| {
        b.iter(|| black_box(&grads[0]).iter().position(|g| !g.is_finite()))
    });
    // The scan every float step runs first (a NaN, and whether every |g| < 2^60), as the step
    // calls it: in pieces on the pool at this size unless RAYON_NUM_THREADS=1.
    g.bench_function(BenchmarkId::new("gradscan-edgetune-f32", N), |b| {
        b.iter(|| <f32 as edgetune::num::Num>::first_unusable_and_small(black_box(&grads[0][..])))
    });
    g.bench_function(BenchmarkId::new("gradcheck-chunked-f32", N), |b| {
        b.iter(|| {
            black_box(&grads[0])
                .chunks(64)
                .position(|c| !c.iter().fold(true, |ok, g| ok & g.is_finite()))
        })
    });
    let mut o = naive::Adam::new(N, ADAM_LR as f32);
    g.throughput(Throughput::ElementsAndBytes {
        elements: N as u64,
        bytes: bytes_per_element(4, 4, &[4, 4], false) * N as u64,
    });
    let mut k = 0;
    g.bench_function(BenchmarkId::new("adam-naive-edgetune-sqrt-f32", N), |b| {
        b.iter(|| {
            k ^= 1;
            o.step_with_sqrt(
                &mut params[..],
                &grads[k][..],
                edgetune::num::sqrt::sqrt_f32,
            );
        })
    });
    black_box(&params);
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20)
        .nresamples(10_000)
        .without_plots()
}

fn main() {
    let worker = std::thread::Builder::new()
        .name("bench".into())
        .stack_size(STACK_BYTES)
        .spawn(|| {
            let mut c = config().configure_from_args();
            bandwidth(&mut c);
            each_size!(c, "sgd", sgd);
            each_size!(c, "momentum", momentum);
            each_size!(c, "adam", adam);
            each_size!(c, "adamw", adamw);
            each_size!(c, "rmsprop", rmsprop);
            each_size!(c, "adagrad", adagrad);
            each_size!(c, "lion", lion);
            diagnostics(&mut c);
            c.final_summary();
        })
        .expect("spawn the bench thread");
    if worker.join().is_err() {
        std::process::exit(101);
    }
}
