//! int8 rows of the benchmark: instructions per multiply-accumulate of the int8 kernels
//! (`edgetune::nn::int8`, TFLite's quantisation scheme) on the shapes of the float convolution
//! rows (`conv.rs`), so the rows compare directly, and a dense layer.
//!
//! | row | kernel | shape | MACs |
//! |---|---|---|---|
//! | `Int8DenseFwd` | `fully_connected` (per channel) | 256 → 32 | 8 192 |
//! | `Int8Conv2dFwd` | `conv2d` | 8 × 8 × 4 → 8 channels, kernel 3 × 3, SAME | 18 432 |
//! | `Int8DwConv2dFwd` | `depthwise` | 8 × 8 × 8, kernel 3 × 3, SAME | 4 608 |
//!
//! Weights are `static` (a frozen backbone stays in flash), requantisation per output channel
//! (multipliers computed from scales once, outside the timed region), input zero point −3,
//! output zero point 5, ReLU clamp. One `forward` per timed region, three regions, divided by
//! the nominal MACs (padding taps included though skipped, as the float rows); each output
//! includes its requantisation. The row checks the calls succeeded and the outputs are not all
//! equal. Row line as the other rows: `Int8Conv2dFwd<i8, 8x8x4->8 k3 same>` is the baseline key.
use core::hint::black_box;

use edgetune::nn::int8::{
    conv2d, depthwise, fully_connected, ConvShape, DenseShape, OutputStage, Requantizer,
};
use edgetune::nn::Conv2dShape;

use crate::{instr_x100_per_param, measure};

/// The dense row's shape.
pub const D: DenseShape = DenseShape::new(256, 32);
/// The conv row's shape (the float `Conv2dFwd` row's).
pub const C2: ConvShape = ConvShape::new(Conv2dShape::new(8, 8, 4, 8, 3, 3)).same();
/// The depthwise row's shape (the float `DwConv2dFwd` row's).
pub const DW: ConvShape = ConvShape::new(Conv2dShape::new(8, 8, 8, 8, 3, 3).groups(8)).same();
const _: () = assert!(D.valid() && C2.valid() && DW.valid());

/// Deterministic int8 value `i` in [-100, 100].
const fn value(i: usize, salt: usize) -> i8 {
    (((i * 37 + salt * 11) % 201) as i32 - 100) as i8
}

const fn table<const N: usize>(salt: usize) -> [i8; N] {
    let mut t = [0i8; N];
    let mut i = 0;
    while i < N {
        t[i] = value(i, salt);
        i += 1;
    }
    t
}

static D_W: [i8; D.weights()] = table(3);
static C2_W: [i8; C2.weights()] = table(5);
static DW_W: [i8; DW.weights()] = table(7);

fn print_row(name: &str, tag: &str, ticks: &[u32; 3], macs: usize, ok: bool) {
    let per = ticks.map(|t| instr_x100_per_param(t, macs));
    defmt::info!(
        "| {=str} | i8 | {=str} | {=u32} / {=u32} / {=u32} | {=u32}.{=u32:02} / {=u32}.{=u32:02} / {=u32}.{=u32:02} | {=str} |",
        name, tag, ticks[0], ticks[1], ticks[2],
        per[0] / 100, per[0] % 100, per[1] / 100, per[1] % 100, per[2] / 100, per[2] % 100,
        if ok { "ok" } else { "FAILED" }
    );
}

fn varied(y: &[i8]) -> bool {
    y.iter().any(|&v| v != y[0])
}

/// One row: times `run` three times.
fn row(name: &str, tag: &str, macs: usize, y: &mut [i8], run: impl Fn(&mut [i8]) -> bool) -> bool {
    let mut ok = true;
    let mut ticks = [0u32; 3];
    for t in ticks.iter_mut() {
        let (dt, r) = measure(|| run(black_box(&mut *y)));
        ok &= r;
        *t = dt;
    }
    ok &= varied(y);
    print_row(name, tag, &ticks, macs, ok);
    ok
}

/// The three int8 rows; `true` if all passed.
#[inline(never)]
pub fn rows() -> bool {
    let Ok(r32) = Requantizer::<32>::from_scales(0.05, &[0.002; 32], 0.5) else {
        return false;
    };
    let Ok(r8) = Requantizer::<8>::from_scales(
        0.05,
        &[0.003, 0.004, 0.005, 0.006, 0.007, 0.008, 0.009, 0.01],
        0.4,
    ) else {
        return false;
    };
    let stage = |r| OutputStage {
        input_zero_point: -3,
        requant: r,
        output_zero_point: 5,
        act_min: 5,
        act_max: 127,
    };
    let (s32, s8) = (stage(r32.view()), stage(r8.view()));
    let bias = [100i32; 32];

    let x: [i8; 256] = table(1);
    let mut y = [0i8; 32];
    let mut ok = row("Int8DenseFwd", "256->32", D.weights(), &mut y, |y| {
        fully_connected::forward(&D, &s32, black_box(&D_W), Some(&bias), black_box(&x), y).is_ok()
    });

    let x: [i8; C2.input_len()] = table(2);
    let mut y = [0i8; C2.output_len()];
    ok &= row(
        "Int8Conv2dFwd",
        "8x8x4->8 k3 same",
        C2.macs(),
        &mut y,
        |y| {
            conv2d::forward(
                &C2,
                &s8,
                black_box(&C2_W),
                Some(&bias[..8]),
                black_box(&x),
                y,
            )
            .is_ok()
        },
    );

    let x: [i8; DW.input_len()] = table(4);
    let mut y = [0i8; DW.output_len()];
    ok &= row("Int8DwConv2dFwd", "8x8x8 k3 same", DW.macs(), &mut y, |y| {
        depthwise::forward(
            &DW,
            &s8,
            black_box(&DW_W),
            Some(&bias[..8]),
            black_box(&x),
            y,
        )
        .is_ok()
    });
    ok
}
