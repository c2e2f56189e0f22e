//! Convolution rows of the benchmark: instructions per multiply-accumulate of the layer kernels
//! `edgetune::nn::conv1d` and `conv2d` (dense and depthwise), forward and backward, on shapes
//! that fit the Cortex-M0's 16 KiB next to the benchmark (the same shapes on every board).
//!
//! | row | kernel | shape (stride 1, SAME zero padding) | MACs |
//! |---|---|---|---|
//! | `Conv1dFwd` / `Conv1dBwd` | `conv1d` | 50 steps × 6 channels → 8 channels, kernel 5 | 12 000 |
//! | `Conv2dFwd` / `Conv2dBwd` | `conv2d` | 8 × 8 × 4 → 8 channels, kernel 3 × 3 | 18 432 |
//! | `DwConv2dFwd` / `DwConv2dBwd` | `conv2d`, groups = channels | 8 × 8 × 8, kernel 3 × 3 | 4 608 |
//!
//! MACs are the shape's nominal `macs()` (`output_len · kh · kw · in_c/groups`, padding taps
//! included, though the kernels skip them). `Fwd` = one `forward` per region, divided by the MACs;
//! `Bwd` = one `backward` computing both the weight (and bias) gradients and the input gradient,
//! divided by twice the MACs. Three timed regions per row, on deterministic inputs; the row
//! checks that the outputs and gradients are finite and not all zero. Row line:
//! `| Name | Type | shape | t1 / t2 / t3 | i1 / i2 / i3 | ok |`, so the baseline key is e.g.
//! `Conv1dFwd<f32, 50x6->8 k5 same>`.
use core::hint::black_box;

use edgetune::nn::{conv1d, conv2d, Conv1dShape, Conv2dShape, Scalar};
use edgetune::Error;

use crate::{instr_x100_per_param, measure};

/// The 1-D convolution row's shape.
pub const C1: Conv1dShape = Conv1dShape::new(50, 6, 8, 5).same();
/// The 2-D convolution row's shape.
pub const C2: Conv2dShape = Conv2dShape::new(8, 8, 4, 8, 3, 3).same();
/// The depthwise 2-D convolution row's shape.
pub const DW: Conv2dShape = Conv2dShape::new(8, 8, 8, 8, 3, 3).same().groups(8);
const _: () = assert!(C1.valid() && C2.valid() && DW.valid());

/// Deterministic value `i` of a buffer, in [-0.75, 0.75].
fn value<S: Scalar>(i: usize, salt: usize) -> S {
    S::from_f64(((i * 7 + salt) % 13) as f64 / 8.0 - 0.75)
}

fn fill<S: Scalar>(v: &mut [S], salt: usize) {
    for (i, x) in v.iter_mut().enumerate() {
        *x = value(i, salt);
    }
}

fn sane<S: Scalar>(v: &[S]) -> bool {
    v.iter().all(|x| x.to_f64().is_finite()) && v.iter().any(|x| x.to_f64() != 0.0)
}

fn print_row(name: &str, ty: &str, tag: &str, ticks: &[u32; 3], macs: usize, ok: bool) {
    let per = ticks.map(|t| instr_x100_per_param(t, macs));
    defmt::info!(
        "| {=str} | {=str} | {=str} | {=u32} / {=u32} / {=u32} | {=u32}.{=u32:02} / {=u32}.{=u32:02} / {=u32}.{=u32:02} | {=str} |",
        name, ty, tag, ticks[0], ticks[1], ticks[2],
        per[0] / 100, per[0] % 100, per[1] / 100, per[1] % 100, per[2] / 100, per[2] % 100,
        if ok { "ok" } else { "FAILED" }
    );
}

type Fwd<S> = fn(&[S], &[S], &[S], &mut [S]) -> Result<(), Error>;
type Bwd<S> = fn(&[S], &[S], &[S], &mut [S], &mut [S], &mut [S]) -> Result<(), Error>;

/// One shape's two rows: `XI` input, `WN` weights, `B` biases, `YO` outputs.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn case<S: Scalar, const XI: usize, const WN: usize, const B: usize, const YO: usize>(
    names: (&str, &str),
    ty: &str,
    tag: &str,
    macs: usize,
    fwd: Fwd<S>,
    bwd: Bwd<S>,
) -> bool {
    let mut x = [S::ZERO; XI];
    let mut w = [S::ZERO; WN];
    let mut b = [S::ZERO; B];
    fill(&mut x, 1);
    fill(&mut w, 5);
    fill(&mut b, 9);
    let mut y = [S::ZERO; YO];
    let mut ok = true;
    let mut ticks = [0u32; 3];
    for t in ticks.iter_mut() {
        let (dt, r) = measure(|| black_box(fwd)(black_box(&w), &b, black_box(&x), &mut y));
        ok &= r.is_ok();
        *t = dt;
    }
    ok &= sane(&y);
    print_row(names.0, ty, tag, &ticks, macs, ok);

    // Backward from dy = the forward output scaled down (any deterministic values do).
    let dy = y.map(|v| v.mul(S::from_f64(0.25)));
    let mut dw = [S::ZERO; WN];
    let mut db = [S::ZERO; B];
    let mut ok_b = true;
    for t in ticks.iter_mut() {
        // The input gradient is overwritten each time; the weight gradients accumulate.
        let mut dx = [S::ZERO; XI];
        let (dt, r) = measure(|| {
            black_box(bwd)(
                black_box(&w),
                black_box(&x),
                black_box(&dy),
                &mut dw,
                &mut db,
                &mut dx,
            )
        });
        ok_b &= r.is_ok() && sane(&dx);
        *t = dt;
    }
    ok_b &= sane(&dw) && sane(&db);
    print_row(names.1, ty, tag, &ticks, 2 * macs, ok_b);
    ok && ok_b
}

fn c1_fwd<S: Scalar>(w: &[S], b: &[S], x: &[S], y: &mut [S]) -> Result<(), Error> {
    conv1d::forward(&C1, w, b, x, y)
}
fn c1_bwd<S: Scalar>(
    w: &[S],
    x: &[S],
    dy: &[S],
    dw: &mut [S],
    db: &mut [S],
    dx: &mut [S],
) -> Result<(), Error> {
    conv1d::backward(&C1, w, x, dy, Some((dw, db)), Some(dx))
}
fn c2_fwd<S: Scalar>(w: &[S], b: &[S], x: &[S], y: &mut [S]) -> Result<(), Error> {
    conv2d::forward(&C2, w, b, x, y)
}
fn c2_bwd<S: Scalar>(
    w: &[S],
    x: &[S],
    dy: &[S],
    dw: &mut [S],
    db: &mut [S],
    dx: &mut [S],
) -> Result<(), Error> {
    conv2d::backward(&C2, w, x, dy, Some((dw, db)), Some(dx))
}
fn dw_fwd<S: Scalar>(w: &[S], b: &[S], x: &[S], y: &mut [S]) -> Result<(), Error> {
    conv2d::forward(&DW, w, b, x, y)
}
fn dw_bwd<S: Scalar>(
    w: &[S],
    x: &[S],
    dy: &[S],
    dw: &mut [S],
    db: &mut [S],
    dx: &mut [S],
) -> Result<(), Error> {
    conv2d::backward(&DW, w, x, dy, Some((dw, db)), Some(dx))
}

/// The six convolution rows for number type `S` (named `ty`); `true` if all passed.
pub fn rows<S: Scalar>(ty: &str) -> bool {
    let mut ok = case::<S, { C1.input_len() }, { C1.weights() }, 8, { C1.output_len() }>(
        ("Conv1dFwd", "Conv1dBwd"),
        ty,
        "50x6->8 k5 same",
        C1.to_2d().macs(),
        c1_fwd::<S>,
        c1_bwd::<S>,
    );
    ok &= case::<S, { C2.input_len() }, { C2.weights() }, 8, { C2.output_len() }>(
        ("Conv2dFwd", "Conv2dBwd"),
        ty,
        "8x8x4->8 k3 same",
        C2.macs(),
        c2_fwd::<S>,
        c2_bwd::<S>,
    );
    ok &= case::<S, { DW.input_len() }, { DW.weights() }, 8, { DW.output_len() }>(
        ("DwConv2dFwd", "DwConv2dBwd"),
        ty,
        "8x8x8 k3 same",
        DW.macs(),
        dw_fwd::<S>,
        dw_bwd::<S>,
    );
    ok
}
