//! edgetune's int8 kernels against TFLite's reference kernels, bit for bit, on every layer of two
//! converted CNNs and of a variant of one whose fused ReLU/ReLU6 clamps bind
//! (`tests/data/int8/*.json`, written by `scripts/tflite_golden.py` from the
//! TFLite 2.21 interpreter with `BUILTIN_REF` kernels; no Python at test time).
//!
//! - Per layer: each operator gets the interpreter's own input tensor, and its output must equal
//!   the interpreter's output tensor.
//! - Chain: from the model input only, every operator runs on edgetune's previous output, and
//!   every intermediate must equal the interpreter's.
//! - The requantisation multipliers and shifts are computed here from the file's scales
//!   (`from_scales_into`: TFLite's `QuantizeMultiplier`), and the clamps from the fused
//!   activation and the output's scale and zero point (`activation_range`), so those are tested
//!   by the outputs too.
//! - An independent plain reference (i64 accumulation, written here) gives each layer's
//!   accumulators; requantised with the double-rounding form they must match TFLite, and the
//!   count of outputs where the single-rounding form (`TFLITE_SINGLE_ROUNDING`) differs is
//!   printed, which shows which form the interpreter uses.

use std::collections::HashMap;

#[path = "common/int8_golden.rs"]
mod int8_golden;

use edgetune::nn::int8::{
    multiply_by_quantized_multiplier, multiply_by_quantized_multiplier_single_rounding,
};
use int8_golden::*;

const MODELS: [&str; 3] = ["imu1d", "digits2d", "digits2d_clamp"];

fn mismatches(a: &[i8], b: &[i8]) -> usize {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).filter(|(x, y)| x != y).count()
}

#[test]
fn every_layer_matches_tflite_reference_kernels_bit_for_bit() {
    println!("model           layer  op                  outputs compared  mismatches  chain mismatches  per-channel  clamp        at a binding clamp");
    let (mut total, mut clamped) = (0, 0);
    for model in MODELS {
        let g = load(model);
        assert!(g.samples.len() >= 8);
        let layers: Vec<Layer> = g.ops.iter().map(|o| layer(&g, o)).collect();
        // Chain state per sample: edgetune's own tensors, seeded with the model input.
        let first_input = g.ops[0].inputs[0] as usize;
        let mut chain: Vec<HashMap<usize, Vec<i8>>> = g
            .samples
            .iter()
            .map(|s| HashMap::from([(first_input, s[&first_input].clone())]))
            .collect();
        for (i, (o, l)) in g.ops.iter().zip(&layers).enumerate() {
            let (inp, out) = (o.inputs[0] as usize, o.outputs[0]);
            let (mut compared, mut bad, mut chain_bad) = (0, 0, 0);
            for (s, c) in g.samples.iter().zip(chain.iter_mut()) {
                let want = &s[&out];
                let got = run(l, &s[&inp], want.len());
                bad += mismatches(&got, want);
                compared += want.len();
                let got_chain = run(l, &c[&inp], want.len());
                chain_bad += mismatches(&got_chain, want);
                c.insert(out, got_chain);
            }
            let (per_channel, act) = match l {
                Layer::Conv { q, .. } | Layer::Dense { q, .. } => {
                    (format!("{}", q.multiplier.len() > 1), Some(q.act))
                }
                Layer::AvgPool { act, .. } | Layer::MaxPool { act, .. } => ("-".into(), Some(*act)),
                Layer::Reshape => ("-".into(), None),
            };
            // Outputs equal to a clamp bound inside int8's range: where the fused activation
            // decided the value.
            let binding = act.map_or(0, |(lo, hi)| {
                g.samples
                    .iter()
                    .flat_map(|s| s[&out].iter())
                    .filter(|&&v| (lo > -128 && v == lo) || (hi < 127 && v == hi))
                    .count()
            });
            clamped += binding;
            let act = act.map_or("-".into(), |(lo, hi)| format!("[{lo}, {hi}]"));
            println!(
                "{model:15} {i:5}  {:18} {compared:17} {bad:11} {chain_bad:17}  {per_channel:11}  {act:11}  {binding}",
                o.op
            );
            assert_eq!((bad, chain_bad), (0, 0), "{model} layer {i} ({})", o.op);
            total += compared;
        }
    }
    println!(
        "{total} int8 outputs compared, all bit-identical; {clamped} of them at a binding clamp"
    );
    assert!(total > 10_000);
    assert!(
        clamped > 1000,
        "digits2d_clamp's ReLU and ReLU6 clamps bind"
    );
}

/// An independent plain reference of a layer's accumulators (i64, nested loops over the NHWC
/// index formulas of TFLite's reference kernels, sharing nothing with edgetune's kernels).
fn accumulators(g: &Golden, o: &Op, x: &[i8]) -> Option<(Vec<i64>, Vec<usize>)> {
    let t = |i: i64| &g.tensors[&(i as usize)];
    let input = t(o.inputs[0]);
    let out = &g.tensors[&o.outputs[0]].shape;
    let zp = input.zero_points[0] as i64;
    let b = bias(g, o);
    let mut acc = Vec::new();
    let mut channel = Vec::new();
    match o.op.as_str() {
        "FULLY_CONNECTED" => {
            let f = t(o.inputs[1]);
            let w = f.data.as_ref().unwrap();
            let (n, k) = (f.shape[0], f.shape[1]);
            for j in 0..n {
                let s: i64 = (0..k).map(|i| w[j * k + i] * (x[i] as i64 - zp)).sum();
                acc.push(s + b.as_ref().map_or(0, |b| b[j] as i64));
                channel.push(j);
            }
        }
        "CONV_2D" | "DEPTHWISE_CONV_2D" => {
            let dw = o.op == "DEPTHWISE_CONV_2D";
            let f = t(o.inputs[1]);
            let w = f.data.as_ref().unwrap();
            let (ih, iw, ic) = (
                input.shape[1] as i64,
                input.shape[2] as i64,
                input.shape[3] as i64,
            );
            let (oh, ow, oc) = (out[1] as i64, out[2] as i64, out[3] as i64);
            let (kh, kw) = (f.shape[1] as i64, f.shape[2] as i64);
            let fic = if dw { 1 } else { f.shape[3] as i64 };
            let (sh, sw) = (opt(o, "stride_h") as i64, opt(o, "stride_w") as i64);
            let (dh, dwf) = (opt(o, "dilation_h") as i64, opt(o, "dilation_w") as i64);
            // TFLite's ComputePaddingWithOffset: the top/left padding.
            let pad = |inn: i64, k: i64, s: i64, d: i64, outn: i64| {
                if same(o) {
                    (((outn - 1) * s + (k - 1) * d + 1 - inn).max(0)) / 2
                } else {
                    0
                }
            };
            let (pt, pl) = (pad(ih, kh, sh, dh, oh), pad(iw, kw, sw, dwf, ow));
            for y in 0..oh {
                for xo in 0..ow {
                    for c in 0..oc {
                        let mut s = 0i64;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let (iy, ix) = (y * sh - pt + ky * dh, xo * sw - pl + kx * dwf);
                                if iy < 0 || iy >= ih || ix < 0 || ix >= iw {
                                    continue;
                                }
                                for ci in 0..fic {
                                    let (xc, wi) = if dw {
                                        let mult = oc / ic;
                                        (c / mult, (ky * kw + kx) * oc + c)
                                    } else {
                                        let group = c / (oc / (ic / fic));
                                        (group * fic + ci, ((c * kh + ky) * kw + kx) * fic + ci)
                                    };
                                    let xv = x[((iy * iw + ix) * ic + xc) as usize] as i64;
                                    s += w[wi as usize] * (xv - zp);
                                }
                            }
                        }
                        acc.push(s + b.as_ref().map_or(0, |b| b[c as usize] as i64));
                        channel.push(c as usize);
                    }
                }
            }
        }
        _ => return None,
    }
    Some((acc, channel))
}

#[test]
fn interpreter_uses_double_rounding_not_single_rounding() {
    println!("model     layer  op                  outputs  double-rounding mismatches  single-rounding mismatches");
    let (mut single_total, mut checked) = (0, 0);
    for model in MODELS {
        let g = load(model);
        for (i, o) in g.ops.iter().enumerate() {
            let Some(Layer::Conv { q, .. } | Layer::Dense { q, .. }) = Some(layer(&g, o)) else {
                continue;
            };
            let (mut n, mut double_bad, mut single_bad) = (0, 0, 0);
            for s in &g.samples {
                let (acc, ch) = accumulators(&g, o, &s[&(o.inputs[0] as usize)]).unwrap();
                let want = &s[&o.outputs[0]];
                for ((&a, &c), &w) in acc.iter().zip(&ch).zip(want.iter()) {
                    let a = i32::try_from(a).unwrap();
                    let k = if q.multiplier.len() == 1 { 0 } else { c };
                    let fin =
                        |v: i32| (v + q.output_zp).clamp(q.act.0 as i32, q.act.1 as i32) as i8;
                    let d = fin(multiply_by_quantized_multiplier(
                        a,
                        q.multiplier[k],
                        q.shift[k],
                    ));
                    let s1 = fin(multiply_by_quantized_multiplier_single_rounding(
                        a,
                        q.multiplier[k],
                        q.shift[k],
                    ));
                    double_bad += usize::from(d != w);
                    single_bad += usize::from(s1 != w);
                    n += 1;
                }
            }
            println!(
                "{model:9} {i:5}  {:18} {n:8} {double_bad:27} {single_bad:27}",
                o.op
            );
            assert_eq!(double_bad, 0, "{model} layer {i}");
            single_total += single_bad;
            checked += n;
        }
    }
    println!("{checked} requantised outputs; the single-rounding form differs from TFLite on {single_total}");
    assert!(
        single_total > 0,
        "the data tell the two rounding forms apart"
    );
}

#[test]
fn const_requantizer_equals_the_runtime_one_on_a_golden_layer() {
    let g = load("imu1d");
    let o = &g.ops[0];
    let f = &g.tensors[&(o.inputs[1] as usize)];
    let scales: [f32; 8] = f.scales[..].try_into().unwrap();
    let (i, out) = (
        g.tensors[&(o.inputs[0] as usize)].quant(),
        g.tensors[&o.outputs[0]].quant(),
    );
    let r = edgetune::nn::int8::Requantizer::<8>::from_scales(i.scale, &scales, out.scale).unwrap();
    let q = quant(&g, o, f, 0);
    assert_eq!(
        (r.multiplier.to_vec(), r.shift.to_vec()),
        (q.multiplier, q.shift)
    );
    assert_eq!(core::mem::size_of_val(&r), 8 * 8, "8 bytes per channel");
}

#[test]
fn a_wrong_input_zero_point_is_caught_by_the_golden_comparison() {
    // The comparison can fail: the same layer with the input zero point off by one.
    let g = load("digits2d");
    let o = &g.ops[0];
    let Layer::Conv {
        shape,
        filter,
        bias,
        mut q,
        ..
    } = layer(&g, o)
    else {
        panic!()
    };
    q.input_zp += 1;
    let s = &g.samples[0];
    let want = &s[&o.outputs[0]];
    let mut y = vec![0i8; want.len()];
    conv2d::forward(
        &shape,
        &q.stage(),
        &filter,
        bias.as_deref(),
        &s[&(o.inputs[0] as usize)],
        &mut y,
    )
    .unwrap();
    assert!(mismatches(&y, want) > 0);
}
