//! Every convolution-family layer against PyTorch, in `f64`, `f32`, I16F16 and I8F24.
//!
//! `tests/data/conv-golden.json` is written by `scripts/gen_conv_golden.py` (see
//! `scripts/README.md`): `torch.nn.functional` forward passes and autograd backward passes in
//! float64, converted to edgetune's layouts (channels-last maps, OHWI weights). Every input,
//! weight and `dy` lies on a grid of `2^-6` with `|v| ≤ 2`, exact in all four number types, so
//! each type computes from exactly torch's operands and only its own arithmetic is bounded:
//!
//! - **fixed point** (I16F16, I8F24; `LSB = 2^-16`, `2^-24`): a convolution, pointwise, pool or
//!   scale-shift value is one exact accumulator sum rounded once: `½ LSB`. Average pooling with
//!   `count_include_pad = false` rounds each window's share of `dx` separately: `½ LSB` per
//!   window containing the element (`≤ kh·kw`). Max pooling and ReLU6 select or add grid values:
//!   exact. Folded batch norm: `½ LSB` for each rounded folded weight times `|x|`, `½` for the
//!   folded bias and `½` for the output: `½·(2 + Σ|x|) LSB`.
//! - **f32** (`u = 2^-24`, `γ_n = n·u/(1 − n·u)`): a sum of at most `n` products:
//!   `γ_n·Σ|terms|`, where `Σ|terms|` is measured by running the same layer on the absolute
//!   values of its operands, and `n` is the layer's largest term count.
//! - **f64**: the same with `u = 2^-53`, doubled (torch's own summation order differs).
//!
//! The printed ratios are the worst `error / bound` per case and type
//! (`cargo test --test conv_golden -- --nocapture`).

mod conv_support;

use conv_support::{abs, check, compare, gamma, max_terms, run, Kind, Layer, Out, U64};
use edgetune::nn::{
    bn_fold, bn_stats, conv2d, Conv1dShape, Conv2dShape, Padding, Pool1dShape, Pool2dShape, Scalar,
};
use fixed::types::{I16F16, I8F24};
use serde_json::Value;

fn golden() -> Vec<Value> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/conv-golden.json"
    ))
    .unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["schema"], "conv-golden/v1");
    v["cases"].as_array().unwrap().clone()
}

fn vec(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn n(v: &Value, key: &str) -> usize {
    v[key].as_u64().unwrap_or_else(|| panic!("missing {key}")) as usize
}

fn conv2d_shape(s: &Value) -> Conv2dShape {
    let pad = |a, b| Padding {
        before: n(s, a),
        after: n(s, b),
    };
    Conv2dShape::new(
        n(s, "in_h"),
        n(s, "in_w"),
        n(s, "in_c"),
        n(s, "out_c"),
        n(s, "kh"),
        n(s, "kw"),
    )
    .stride(n(s, "stride_h"), n(s, "stride_w"))
    .pad(pad("pad_top", "pad_bottom"), pad("pad_left", "pad_right"))
    .groups(n(s, "groups"))
}

fn layer(c: &Value) -> Option<Layer> {
    let s = &c["shape"];
    let inc = c["count_include_pad"].as_bool().unwrap_or(true);
    let pool2d = || {
        Pool2dShape::new(
            n(s, "in_h"),
            n(s, "in_w"),
            n(s, "c"),
            n(s, "kh"),
            n(s, "kw"),
        )
        .stride(n(s, "stride_h"), n(s, "stride_w"))
        .pad(
            Padding::symmetric(n(s, "pad_h")),
            Padding::symmetric(n(s, "pad_w")),
        )
    };
    let pool1d = || {
        Pool1dShape::new(n(s, "len"), n(s, "c"), n(s, "k"))
            .stride(n(s, "stride"))
            .pad(Padding::symmetric(n(s, "pad")))
    };
    Some(match c["layer"].as_str().unwrap() {
        "conv2d" => Layer::Conv2d(conv2d_shape(s)),
        "pointwise" => Layer::Pointwise(conv2d_shape(s)),
        "conv1d" => Layer::Conv1d(
            Conv1dShape::new(n(s, "len"), n(s, "in_c"), n(s, "out_c"), n(s, "k"))
                .stride(n(s, "stride"))
                .pad(Padding {
                    before: n(s, "pad_before"),
                    after: n(s, "pad_after"),
                })
                .groups(n(s, "groups")),
        ),
        "max_pool2d" => Layer::MaxPool2d(pool2d()),
        "max_pool1d" => Layer::MaxPool1d(pool1d()),
        "avg_pool2d" => Layer::AvgPool2d(pool2d(), inc),
        "avg_pool1d" => Layer::AvgPool1d(pool1d(), inc),
        "global_avg_pool" => Layer::Gap {
            pixels: n(c, "pixels"),
            channels: n(c, "channels"),
        },
        "scale_shift" => Layer::ScaleShift {
            pixels: vec(&c["x"]).len() / vec(&c["scale"]).len(),
            channels: vec(&c["scale"]).len(),
        },
        "relu6" => Layer::Relu6 {
            len: vec(&c["x"]).len(),
        },
        _ => return None,
    })
}

/// Runs a layer case in `S` and checks y, dx, dW, db against torch.
fn layer_case<S: Kind>(name: &str, l: &Layer, c: &Value) -> f64 {
    let (w, b) = match l {
        Layer::ScaleShift { .. } => (vec(&c["scale"]), vec(&c["shift"])),
        _ => (
            c.get("w").map(vec).unwrap_or_default(),
            c.get("b").map(vec).unwrap_or_default(),
        ),
    };
    let want = Out {
        y: vec(&c["y"]),
        dx: vec(&c["dx"]),
        dw: match l {
            Layer::ScaleShift { .. } => vec(&c["dscale"]),
            _ => c.get("dw").map(vec).unwrap_or_default(),
        },
        db: match l {
            Layer::ScaleShift { .. } => vec(&c["dshift"]),
            _ => c.get("db").map(vec).unwrap_or_default(),
        },
    };
    compare::<S>(name, l, &w, &b, &vec(&c["x"]), &vec(&c["dy"]), &want)
}

fn to<S: Scalar>(v: &[f64]) -> Vec<S> {
    v.iter().map(|&x| S::from_f64(x)).collect()
}
fn back<S: Scalar>(v: &[S]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

/// Batch norm in eval mode through `to_scale_shift` and the scale-shift layer.
fn bn_eval_case<S: Kind>(name: &str, c: &Value) -> f64 {
    let (gamma_, beta, mean, var) = (
        to::<S>(&vec(&c["gamma"])),
        to::<S>(&vec(&c["beta"])),
        to::<S>(&vec(&c["mean"])),
        to::<S>(&vec(&c["var"])),
    );
    let eps = c["eps"].as_f64().unwrap();
    let bn = bn_fold::BatchNorm {
        gamma: &gamma_,
        beta: &beta,
        mean: &mean,
        var: &var,
        eps,
    };
    let ch = gamma_.len();
    let (mut scale, mut shift) = (vec![S::ZERO; ch], vec![S::ZERO; ch]);
    bn_fold::to_scale_shift(&bn, &mut scale, &mut shift).unwrap();
    let x = vec(&c["x"]);
    let mut y = vec![S::ZERO; x.len()];
    edgetune::nn::scale_shift::forward(&scale, &shift, &to::<S>(&x), &mut y).unwrap();
    // Exact scale and shift in f64 for the bound.
    let s64: Vec<f64> = (0..ch)
        .map(|k| bn.gamma[k].to_f64() / (bn.var[k].to_f64() + eps).sqrt())
        .collect();
    let sh64: Vec<f64> = (0..ch)
        .map(|k| bn.beta[k].to_f64() - s64[k] * bn.mean[k].to_f64())
        .collect();
    let want = vec(&c["y"]);
    check(&format!("{name} {}", S::NAME), &back(&y), &want, &|i| {
        let k = i % ch;
        let (sx, sh) = ((s64[k] * x[i]).abs(), sh64[k].abs());
        // torch's own: about ten f64 roundings of terms of this size.
        let torch =
            10.0 * U64 * ((s64[k].abs() * (x[i].abs() + bn.mean[k].to_f64().abs())) + sh + 1.0);
        torch
            + match S::LSB {
                // scale (½, times |x|), shift (½), output (½).
                Some(lsb) => 0.5 * lsb * (x[i].abs() + 2.0),
                // scale u, product u, shift u, sum u (each relative to |s·x| + |shift|).
                None => 4.0 * S::U * (sx + sh) * (1.0 + 4.0 * S::U),
            }
    })
}

/// A convolution with batch norm folded into its weights and bias.
fn conv_bn_case<S: Kind>(name: &str, c: &Value) -> f64 {
    let s = conv2d_shape(&c["shape"]);
    let (mut w, mut b) = (to::<S>(&vec(&c["w"])), to::<S>(&vec(&c["b"])));
    let (g, be, m, v) = (
        to::<S>(&vec(&c["gamma"])),
        to::<S>(&vec(&c["beta"])),
        to::<S>(&vec(&c["mean"])),
        to::<S>(&vec(&c["var"])),
    );
    let bn = bn_fold::BatchNorm {
        gamma: &g,
        beta: &be,
        mean: &m,
        var: &v,
        eps: c["eps"].as_f64().unwrap(),
    };
    bn_fold::fold_into_conv(&bn, &mut w, &mut b).unwrap();
    let x = vec(&c["x"]);
    let mut y = vec![S::ZERO; s.output_len()];
    conv2d::forward(&s, &w, &b, &to::<S>(&x), &mut y).unwrap();
    // Σ|x| over each output's taps (+1), and Σ|W'x| + |b'| in f64.
    let ones = vec![1.0; s.weights()];
    let taps = run::<f64>(
        &Layer::Conv2d(s),
        &ones,
        &vec![1.0; s.out_c],
        &abs(&x),
        &vec![0.0; s.output_len()],
    )
    .y;
    let mag = run::<f64>(
        &Layer::Conv2d(s),
        &abs(&back(&w)),
        &abs(&back(&b)),
        &abs(&x),
        &vec![0.0; s.output_len()],
    )
    .y;
    let nt = max_terms(&Layer::Conv2d(s));
    check(
        &format!("{name} {}", S::NAME),
        &back(&y),
        &vec(&c["y"]),
        &|i| {
            let torch = (2.0 * gamma(nt, U64) + 10.0 * U64) * mag[i] * 1.01;
            torch
                + match S::LSB {
                    // taps[i] = Σ|x| + 1: folded weights (½·|x| each) and bias (½), plus the output (½).
                    Some(lsb) => 0.5 * lsb * (taps[i] + 1.0),
                    // folded weights and bias rounded (u), then the convolution (γ_n).
                    None => (S::U + gamma(nt, S::U)) * mag[i] * 1.01,
                }
        },
    )
}

/// Running statistics over several batches against torch's `BatchNorm2d` in training mode.
fn bn_stats_case<S: Kind>(name: &str, c: &Value) -> f64 {
    let ch = n(c, "channels");
    let momentum = c["momentum"].as_f64();
    let mode = match momentum {
        Some(m) => bn_stats::Momentum::Exponential(S::from_f64(m)),
        None => bn_stats::Momentum::Cumulative,
    };
    // Error of the quantised momentum against torch's exact 0.1.
    let dm = momentum.map_or(0.0, |m| (S::from_f64(m).to_f64() - m).abs());
    let mut rm = to::<S>(&vec(&c["running_mean0"]));
    let mut rv = to::<S>(&vec(&c["running_var0"]));
    let mut tracked = 0u32;
    // Bounds carried from batch to batch: e ← (1 − f)·e + f·e_stat + rounding + |Δm|·|stat − r|.
    let (mut em, mut ev) = (vec![0.0; ch], vec![0.0; ch]);
    let mut worst: f64 = 0.0;
    for (k, batch) in c["batches"].as_array().unwrap().iter().enumerate() {
        let x = vec(&batch["x"]);
        let pos = x.len() / ch;
        let (old_m, old_v) = (back(&rm), back(&rv));
        bn_stats::update(&to::<S>(&x), mode, &mut tracked, &mut rm, &mut rv).unwrap();
        assert_eq!(
            tracked as u64,
            batch["num_batches_tracked"].as_u64().unwrap()
        );
        let f = momentum.unwrap_or(1.0 / (k + 1) as f64);
        let (want_m, want_v) = (vec(&batch["running_mean"]), vec(&batch["running_var"]));
        for ch_i in 0..ch {
            let xs: Vec<f64> = x.iter().skip(ch_i).step_by(ch).copied().collect();
            let mean = xs.iter().sum::<f64>() / pos as f64;
            let var = xs.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (pos - 1) as f64;
            let mean_abs = xs.iter().map(|v| v.abs()).sum::<f64>() / pos as f64;
            let (stat_em, stat_ev, round_m, round_v) = match S::LSB {
                // mean: one division (½); var: one division (½) plus n/(n−1)·(½ LSB)² from
                // the rounded mean; update: one multiply or division (½).
                Some(lsb) => (
                    0.5 * lsb,
                    0.5 * lsb + pos as f64 / (pos - 1) as f64 * (0.5 * lsb).powi(2),
                    0.5 * lsb,
                    0.5 * lsb,
                ),
                // mean: γ_{n+1}·mean|x|; var: γ_{n+3}·var (differences, squares, sum, divide);
                // update: subtract, multiply, add: 3u of the terms.
                None => (
                    gamma(pos + 1, S::U) * mean_abs,
                    gamma(pos + 3, S::U) * var * 1.01,
                    3.0 * S::U * (old_m[ch_i].abs() + (mean - old_m[ch_i]).abs() + mean.abs()),
                    3.0 * S::U * (old_v[ch_i].abs() + (var - old_v[ch_i]).abs() + var.abs()),
                ),
            };
            em[ch_i] = (1.0 - f) * em[ch_i]
                + f * stat_em
                + round_m
                + dm * (mean - old_m[ch_i]).abs()
                + 8.0 * U64 * (mean_abs + old_m[ch_i].abs());
            ev[ch_i] = (1.0 - f) * ev[ch_i]
                + f * stat_ev
                + round_v
                + dm * (var - old_v[ch_i]).abs()
                + 8.0 * U64 * (var + old_v[ch_i].abs()) * (pos as f64);
            let (gm, gv) = (rm[ch_i].to_f64(), rv[ch_i].to_f64());
            for (what, g, w, b) in [
                ("running_mean", gm, want_m[ch_i], em[ch_i]),
                ("running_var", gv, want_v[ch_i], ev[ch_i]),
            ] {
                let err = (g - w).abs();
                assert!(
                    err <= b + 1e-300,
                    "{name} {} batch {k} {what}[{ch_i}]: {g:e} vs torch {w:e}, error {err:e} > {b:e}",
                    S::NAME
                );
                worst = worst.max(err / (b + 1e-300));
            }
        }
    }
    worst
}

fn all_cases<S: Kind>() -> usize {
    let mut count = 0;
    for c in golden() {
        let name = format!(
            "{} ({})",
            c["layer"].as_str().unwrap(),
            c["name"].as_str().unwrap()
        );
        let worst = if let Some(l) = layer(&c) {
            layer_case::<S>(&name, &l, &c)
        } else {
            match c["layer"].as_str().unwrap() {
                "batch_norm_eval" => bn_eval_case::<S>(&name, &c),
                "conv_bn_fold" => conv_bn_case::<S>(&name, &c),
                "bn_stats" => bn_stats_case::<S>(&name, &c),
                other => panic!("unknown layer {other}"),
            }
        };
        println!(
            "golden {:<6} {name}: worst error / bound {worst:.3}",
            S::NAME
        );
        count += 1;
    }
    count
}

#[test]
fn f64_matches_torch_on_every_golden_case() {
    assert_eq!(all_cases::<f64>(), 25);
}

#[test]
fn f32_matches_torch_within_the_summation_bound() {
    assert_eq!(all_cases::<f32>(), 25);
}

#[test]
fn i16f16_matches_torch_within_half_an_lsb_per_rounding() {
    assert_eq!(all_cases::<I16F16>(), 25);
}

#[test]
fn i8f24_matches_torch_within_half_an_lsb_per_rounding() {
    assert_eq!(all_cases::<I8F24>(), 25);
}
