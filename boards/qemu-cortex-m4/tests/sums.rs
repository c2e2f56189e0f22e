//! On-target test of the register-blocked `f32` sums on the Cortex-M4F (QEMU mps2-an386): dense
//! and convolution forward and backward passes and dense backward passes on the shapes of the
//! benchmarks (and odd ones that leave remainders), every output word against its
//! definition formed here one output at a time (`b + Σ w·x` in ascending order of the weight
//! index, `acc + w * x` per product, as the layer docs define it; `dW + dy·x` per weight
//! gradient), bit for bit.
//!
//! The layers block pixels and channels (and with the `arm-vldm` feature take runs of values by
//! `vldmia` in assembly, `edgetune::arm::vldm`); each sum keeps the definition's order, so the
//! bound is 0 ulp. The range checks' running sums (of the optimizers and the input checks) are
//! tested by what they must find. `scripts/embedded.sh` runs this test in the default build and again with
//! `--features edgetune/arm-vldm`. The shapes reach every blocked path: dense rows in fours
//! with a remainder of rows and of inputs; convolution runs of four and of two pixels, border
//! pixels paired vertically, one-pixel border windows, runs of an odd number of values, and
//! grouped layers (one pixel, four channels); depthwise rows in runs of four pixels, the first
//! and last lacking a padded column or not, with the pixels left over after them.
#![no_std]
#![no_main]

use bench_common as _; // panic handlers: log and exit QEMU with status 1
use cortex_m_rt as _;
use defmt_semihosting as _;

use edgetune::nn::{conv2d, dense, Conv2dShape};

#[path = "support/fill.rs"]
mod support;
use support::fill;

/// Fails the test at the first word of `got` that differs from `want`.
fn same_bits(what: &str, got: &[f32], want: &[f32]) {
    defmt::assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if g.to_bits() != w.to_bits() {
            defmt::panic!(
                "{=str}: word {=usize}: {=u32:#x}, definition {=u32:#x}",
                what,
                i,
                g.to_bits(),
                w.to_bits()
            );
        }
    }
    defmt::info!("{=str}: {=usize} words, bit for bit", what, got.len());
}

/// `y[o] = b[o] + Σᵢ w[o][i]·x[i]`, one output at a time.
fn dense_definition<const I: usize, const O: usize>(
    w: &[[f32; I]; O],
    b: &[f32; O],
    x: &[f32; I],
) -> [f32; O] {
    let mut y = [0.0; O];
    for ((yo, row), &bo) in y.iter_mut().zip(w).zip(b) {
        let mut acc = bo;
        for (&wi, &xi) in row.iter().zip(x) {
            acc += wi * xi;
        }
        *yo = acc;
    }
    y
}

fn dense_case<const I: usize, const O: usize>(what: &str, seed: u32) {
    let mut w = [[0.0f32; I]; O];
    let (mut b, mut x) = ([0.0f32; O], [0.0f32; I]);
    for (k, row) in w.iter_mut().enumerate() {
        fill(row, seed + k as u32);
    }
    fill(&mut b, seed ^ 0x55);
    fill(&mut x, seed ^ 0xaa);
    let mut y = [0.0f32; O];
    dense::forward(&w, &b, &x, &mut y);
    same_bits(what, &y, &dense_definition(&w, &b, &x));
}

/// A dense layer's backward pass against its definition: `dW[o][i] + dy[o]·x[i]` and
/// `db[o] + dy[o]` added to gradients that already hold values, and `dx[i] = Σₒ W[o][i]·dy[o]`
/// in ascending `o`.
fn dense_backward_case<const I: usize, const O: usize>(what: &str, seed: u32) {
    let mut w = [[0.0f32; I]; O];
    let mut dw = [[0.0f32; I]; O];
    for (k, (row, grow)) in w.iter_mut().zip(dw.iter_mut()).enumerate() {
        fill(row, seed + k as u32);
        fill(grow, seed + 1000 + k as u32);
    }
    let (mut x, mut dy, mut db) = ([0.0f32; I], [0.0f32; O], [0.0f32; O]);
    fill(&mut x, seed ^ 0xaa);
    fill(&mut dy, seed ^ 0x33);
    fill(&mut db, seed ^ 0x55);
    let (mut want_dw, mut want_db, mut want_dx) = (dw, db, [0.0f32; I]);
    for o in 0..O {
        for i in 0..I {
            want_dw[o][i] += dy[o] * x[i];
        }
        want_db[o] += dy[o];
    }
    for (i, d) in want_dx.iter_mut().enumerate() {
        let mut acc = 0.0f32;
        for o in 0..O {
            acc += w[o][i] * dy[o];
        }
        *d = acc;
    }
    let mut dx = [0.0f32; I];
    dense::backward(&w, &x, &dy, Some((&mut dw, &mut db)), Some(&mut dx));
    same_bits(what, dw.as_flattened(), want_dw.as_flattened());
    same_bits(what, &db, &want_db);
    same_bits(what, &dx, &want_dx);
}

/// The convolution's definition (`conv2d` module docs): `y[oh][ow][o] = b[o] + Σ_{ki,kj,ci}
/// W[o][ki][kj][ci]·x[ih][iw][g·Cg + ci]` over the taps inside the input, one output at a time.
fn conv_definition(s: &Conv2dShape, w: &[f32], b: &[f32], x: &[f32], y: &mut [f32]) {
    let (cg, og) = (s.in_c / s.groups, s.out_c / s.groups);
    let mut k = 0;
    for oh in 0..s.out_h() {
        for ow in 0..s.out_w() {
            for o in 0..s.out_c {
                let g = o / og;
                let mut acc = b[o];
                for ki in 0..s.kh {
                    let Some(ih) = (oh * s.stride_h + ki).checked_sub(s.pad_h.before) else {
                        continue;
                    };
                    if ih >= s.in_h {
                        continue;
                    }
                    for kj in 0..s.kw {
                        let Some(iw) = (ow * s.stride_w + kj).checked_sub(s.pad_w.before) else {
                            continue;
                        };
                        if iw >= s.in_w {
                            continue;
                        }
                        for ci in 0..cg {
                            let wv = w[((o * s.kh + ki) * s.kw + kj) * cg + ci];
                            let xv = x[(ih * s.in_w + iw) * s.in_c + g * cg + ci];
                            acc += wv * xv;
                        }
                    }
                }
                y[k] = acc;
                k += 1;
            }
        }
    }
}

fn conv_case<const X: usize, const W: usize, const O: usize, const Y: usize>(
    what: &str,
    s: &Conv2dShape,
    seed: u32,
) {
    defmt::assert!(
        s.valid() && s.input_len() == X && s.weights() == W && s.out_c == O && s.output_len() == Y
    );
    let (mut w, mut b, mut x) = ([0.0f32; W], [0.0f32; O], [0.0f32; X]);
    fill(&mut w, seed);
    fill(&mut b, seed ^ 0x55);
    fill(&mut x, seed ^ 0xaa);
    let (mut y, mut want) = ([0.0f32; Y], [0.0f32; Y]);
    defmt::unwrap!(conv2d::forward(s, &w, &b, &x, &mut y).ok());
    conv_definition(s, &w, &b, &x, &mut want);
    same_bits(what, &y, &want);
    // The backward pass of a gradient with the output's shape (the forward output reused).
    let (mut dx, mut want_dx) = ([0.0f32; X], [0.0f32; X]);
    let (mut dw, mut db) = ([0.0f32; W], [0.0f32; O]);
    defmt::unwrap!(conv2d::backward(s, &w, &x, &y, Some((&mut dw, &mut db)), Some(&mut dx)).ok());
    input_gradient_definition(s, &w, &y, &mut want_dx);
    same_bits(what, &dx, &want_dx);
    let (mut want_dw, mut want_db) = ([0.0f32; W], [0.0f32; O]);
    weight_gradient_definition(s, &x, &y, &mut want_dw, &mut want_db);
    same_bits(what, &dw, &want_dw);
    same_bits(what, &db, &want_db);
}

/// The weight gradient's definition (`conv2d` module docs), added to zeros: `dW[o][ki][kj][ci]
/// += Σ_{oh,ow} dy[oh][ow][o]·x[ih][iw][g·Cg + ci]` and `db[o] += Σ_{oh,ow} dy[oh][ow][o]`, each
/// sum from 0 over the output pixels in order (those whose tap lies inside the input).
fn weight_gradient_definition(
    s: &Conv2dShape,
    x: &[f32],
    dy: &[f32],
    dw: &mut [f32],
    db: &mut [f32],
) {
    let (cg, og) = (s.in_c / s.groups, s.out_c / s.groups);
    let (out_h, out_w) = (s.out_h(), s.out_w());
    for o in 0..s.out_c {
        let g = o / og;
        let mut sum = 0.0f32;
        for p in 0..out_h * out_w {
            sum += dy[p * s.out_c + o];
        }
        db[o] += sum;
        for ki in 0..s.kh {
            for kj in 0..s.kw {
                for ci in 0..cg {
                    let mut acc = 0.0f32;
                    for oh in 0..out_h {
                        let Some(ih) = (oh * s.stride_h + ki).checked_sub(s.pad_h.before) else {
                            continue;
                        };
                        if ih >= s.in_h {
                            continue;
                        }
                        for ow in 0..out_w {
                            let Some(iw) = (ow * s.stride_w + kj).checked_sub(s.pad_w.before)
                            else {
                                continue;
                            };
                            if iw >= s.in_w {
                                continue;
                            }
                            let xv = x[(ih * s.in_w + iw) * s.in_c + g * cg + ci];
                            acc += dy[(oh * out_w + ow) * s.out_c + o] * xv;
                        }
                    }
                    dw[((o * s.kh + ki) * s.kw + kj) * cg + ci] += acc;
                }
            }
        }
    }
}

/// The input gradient's definition (`conv2d` module docs): `dx[ih][iw][g·Cg + ci] = Σ_{ki,kj,o}
/// W[o][ki][kj][ci]·dy[oh][ow][o]` over the outputs of group `g` whose taps reach the pixel,
/// from 0, one input at a time.
fn input_gradient_definition(s: &Conv2dShape, w: &[f32], dy: &[f32], dx: &mut [f32]) {
    let (cg, og) = (s.in_c / s.groups, s.out_c / s.groups);
    let tapped = |i: usize, stride: usize, k: usize, before: usize, out: usize| {
        let t = (i + before).checked_sub(k)?;
        (t % stride == 0 && t / stride < out).then_some(t / stride)
    };
    let mut k = 0;
    for ih in 0..s.in_h {
        for iw in 0..s.in_w {
            for c in 0..s.in_c {
                let (g, ci) = (c / cg, c % cg);
                let mut acc = 0.0f32;
                for ki in 0..s.kh {
                    let Some(oh) = tapped(ih, s.stride_h, ki, s.pad_h.before, s.out_h()) else {
                        continue;
                    };
                    for kj in 0..s.kw {
                        let Some(ow) = tapped(iw, s.stride_w, kj, s.pad_w.before, s.out_w())
                        else {
                            continue;
                        };
                        for o in g * og..(g + 1) * og {
                            let wv = w[((o * s.kh + ki) * s.kw + kj) * cg + ci];
                            acc += wv * dy[(oh * s.out_w() + ow) * s.out_c + o];
                        }
                    }
                }
                dx[k] = acc;
                k += 1;
            }
        }
    }
}

/// The range checks' sums (`Float::all_below_pow2`, `Num::first_unusable`), whose eight running
/// sums the `arm-vldm` build forms sixteen values per iteration: for every length up to 70 and
/// every position, one value at or above `2^20` (or an infinity, or a NaN) among values below 1
/// must be found, and values below 1 alone must pass.
fn range_check_case() {
    use edgetune::num::{Float, Num};
    let mut v = [0.0f32; 70];
    fill(&mut v, 77);
    for n in 1..=v.len() {
        let x = &mut v[..n];
        defmt::assert!(f32::all_below_pow2(x, 20), "n {=usize}: in range", n);
        defmt::assert_eq!(f32::first_unusable(x), None);
        for i in 0..n {
            for bad in [1_048_576.0f32, -3.0e7, f32::INFINITY, f32::NAN] {
                let keep = x[i];
                x[i] = bad;
                defmt::assert!(!f32::all_below_pow2(x, 20), "n {=usize}, at {=usize}", n, i);
                if !bad.is_finite() {
                    defmt::assert_eq!(f32::first_unusable(x), Some(i));
                }
                x[i] = keep;
            }
        }
    }
    defmt::info!("range checks: lengths 1 to 70, every position");
}

/// The bench's 1-D convolution (50 steps × 6 → 8 channels, kernel 5, SAME), as a 2-D one of
/// height 1.
const C1: Conv2dShape = Conv2dShape::new(1, 50, 6, 8, 1, 5).same();
/// The bench's 2-D convolution (8 × 8 × 4 → 8, kernel 3 × 3, SAME).
const C2: Conv2dShape = Conv2dShape::new(8, 8, 4, 8, 3, 3).same();
/// Odd sizes: 7 × 9 × 5 → 12, kernel 3 × 2, stride (2, 1), SAME.
const C3: Conv2dShape = Conv2dShape::new(7, 9, 5, 12, 3, 2).stride(2, 1).same();
/// Two groups of four input channels: 6 × 5 × 8 → 8, kernel 3 × 3, SAME.
const C4: Conv2dShape = Conv2dShape::new(6, 5, 8, 8, 3, 3).same().groups(2);
/// Runs of an odd number of values (3 columns × 3 channels): 6 × 9 × 3 → 8, kernel 3 × 3, SAME.
const C5: Conv2dShape = Conv2dShape::new(6, 9, 3, 8, 3, 3).same();

/// Depthwise layers (groups = channels), whose rows go in runs of four pixels (with the
/// `arm-vldm` feature through one kernel call per row): the bench's 8 × 8 × 8, SAME.
const D1: Conv2dShape = Conv2dShape::new(8, 8, 8, 8, 3, 3).same().groups(8);
/// Width 9: two runs, then one pixel with the right padding.
const D2: Conv2dShape = Conv2dShape::new(5, 9, 4, 4, 3, 3).same().groups(4);
/// Width 4: one run lacking both outer columns.
const D3: Conv2dShape = Conv2dShape::new(4, 4, 4, 4, 3, 3).same().groups(4);
/// No padding, width 10 (two runs with every column), 12 channels (three blocks).
const D4: Conv2dShape = Conv2dShape::new(6, 10, 12, 12, 3, 3).groups(12);
/// Width 12 (a middle run), two kernel rows, stride 2 down.
const D5: Conv2dShape = Conv2dShape::new(7, 12, 8, 8, 2, 3)
    .stride(2, 1)
    .same()
    .groups(8);
/// One kernel row.
const D6: Conv2dShape = Conv2dShape::new(3, 8, 4, 4, 1, 3).same().groups(4);

#[defmt_test::tests]
mod tests {
    use super::{
        conv_case, dense_backward_case, dense_case, range_check_case, C1, C2, C3, C4, C5, D1, D2,
        D3, D4, D5, D6,
    };

    #[test]
    fn depthwise_8x8x8_k3_same() {
        conv_case::<{ D1.input_len() }, { D1.weights() }, { D1.out_c }, { D1.output_len() }>(
            "depthwise 8x8x8 k3 same",
            &D1,
            11,
        );
    }

    #[test]
    fn depthwise_5x9x4_k3_same() {
        conv_case::<{ D2.input_len() }, { D2.weights() }, { D2.out_c }, { D2.output_len() }>(
            "depthwise 5x9x4 k3 same",
            &D2,
            12,
        );
    }

    #[test]
    fn depthwise_4x4x4_k3_same() {
        conv_case::<{ D3.input_len() }, { D3.weights() }, { D3.out_c }, { D3.output_len() }>(
            "depthwise 4x4x4 k3 same",
            &D3,
            13,
        );
    }

    #[test]
    fn depthwise_6x10x12_k3_valid() {
        conv_case::<{ D4.input_len() }, { D4.weights() }, { D4.out_c }, { D4.output_len() }>(
            "depthwise 6x10x12 k3 valid",
            &D4,
            14,
        );
    }

    #[test]
    fn depthwise_7x12x8_k2x3_stride_2_1_same() {
        conv_case::<{ D5.input_len() }, { D5.weights() }, { D5.out_c }, { D5.output_len() }>(
            "depthwise 7x12x8 k2x3 s(2,1) same",
            &D5,
            15,
        );
    }

    #[test]
    fn depthwise_3x8x4_k1x3_same() {
        conv_case::<{ D6.input_len() }, { D6.weights() }, { D6.out_c }, { D6.output_len() }>(
            "depthwise 3x8x4 k1x3 same",
            &D6,
            16,
        );
    }

    #[test]
    fn range_checks() {
        range_check_case();
    }

    #[test]
    fn dense_64_to_16() {
        dense_case::<64, 16>("dense 64 -> 16", 1);
    }

    #[test]
    fn dense_37_to_11() {
        dense_case::<37, 11>("dense 37 -> 11", 2);
    }

    #[test]
    fn dense_backward_16_to_10() {
        dense_backward_case::<16, 10>("dense backward 16 -> 10", 8);
    }

    #[test]
    fn dense_backward_37_to_11() {
        dense_backward_case::<37, 11>("dense backward 37 -> 11", 9);
    }

    #[test]
    fn conv1d_50x6_to_8_k5_same() {
        conv_case::<{ C1.input_len() }, { C1.weights() }, { C1.out_c }, { C1.output_len() }>(
            "conv1d 50x6->8 k5 same",
            &C1,
            3,
        );
    }

    #[test]
    fn conv2d_8x8x4_to_8_k3_same() {
        conv_case::<{ C2.input_len() }, { C2.weights() }, { C2.out_c }, { C2.output_len() }>(
            "conv2d 8x8x4->8 k3 same",
            &C2,
            4,
        );
    }

    #[test]
    fn conv2d_7x9x5_to_12_k3x2_stride_2_1_same() {
        conv_case::<{ C3.input_len() }, { C3.weights() }, { C3.out_c }, { C3.output_len() }>(
            "conv2d 7x9x5->12 k3x2 s(2,1) same",
            &C3,
            5,
        );
    }

    #[test]
    fn conv2d_6x5x8_to_8_k3_same_2_groups() {
        conv_case::<{ C4.input_len() }, { C4.weights() }, { C4.out_c }, { C4.output_len() }>(
            "conv2d 6x5x8->8 k3 same groups 2",
            &C4,
            6,
        );
    }

    #[test]
    fn conv2d_6x9x3_to_8_k3_same() {
        conv_case::<{ C5.input_len() }, { C5.weights() }, { C5.out_c }, { C5.output_len() }>(
            "conv2d 6x9x3->8 k3 same",
            &C5,
            7,
        );
    }
}
