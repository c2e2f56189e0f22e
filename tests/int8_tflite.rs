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

use edgetune::nn::int8::{
    activation_range, avg_pool, conv2d, depthwise, from_scales_into, fully_connected, max_pool,
    multiply_by_quantized_multiplier, multiply_by_quantized_multiplier_single_rounding, ConvShape,
    DenseShape, FusedActivation, OutputStage, QuantParams, Requant,
};
use edgetune::nn::{Conv2dShape, Pool2dShape};
use serde_json::Value;

const MODELS: [&str; 3] = ["imu1d", "digits2d", "digits2d_clamp"];

struct Tensor {
    shape: Vec<usize>,
    scales: Vec<f32>,
    zero_points: Vec<i32>,
    quantized_dimension: usize,
    data: Option<Vec<i64>>,
}

impl Tensor {
    fn quant(&self) -> QuantParams {
        assert_eq!(self.scales.len(), 1, "activations are per-tensor");
        QuantParams::new(self.scales[0], self.zero_points[0]).unwrap()
    }
    fn i8s(&self) -> Vec<i8> {
        self.data
            .as_ref()
            .unwrap()
            .iter()
            .map(|&v| i8::try_from(v).unwrap())
            .collect()
    }
    fn i32s(&self) -> Vec<i32> {
        self.data
            .as_ref()
            .unwrap()
            .iter()
            .map(|&v| i32::try_from(v).unwrap())
            .collect()
    }
}

struct Op {
    op: String,
    options: Value,
    inputs: Vec<i64>,
    outputs: Vec<usize>,
}

struct Golden {
    model: String,
    tensors: HashMap<usize, Tensor>,
    ops: Vec<Op>,
    /// Per sample: tensor index → int8 data.
    samples: Vec<HashMap<usize, Vec<i8>>>,
}

fn load(model: &str) -> Golden {
    let path = format!(
        "{}/tests/data/int8/{model}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(v["schema"], "int8-golden/v1");
    assert_eq!(v["generator"]["op_resolver"], "BUILTIN_REF");
    let nums = |x: &Value| -> Vec<i64> {
        x.as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_i64().unwrap())
            .collect()
    };
    let mut tensors = HashMap::new();
    for t in v["tensors"].as_array().unwrap() {
        tensors.insert(
            t["index"].as_u64().unwrap() as usize,
            Tensor {
                shape: nums(&t["shape"]).into_iter().map(|d| d as usize).collect(),
                // Scales are float32 values written as decimal doubles: exact back to f32.
                scales: t["scales"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_f64().unwrap() as f32)
                    .collect(),
                zero_points: nums(&t["zero_points"])
                    .into_iter()
                    .map(|z| z as i32)
                    .collect(),
                quantized_dimension: t["quantized_dimension"].as_u64().unwrap() as usize,
                data: t.get("data").map(&nums),
            },
        );
    }
    let ops = v["operators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| Op {
            op: o["op"].as_str().unwrap().to_string(),
            options: o["options"].clone(),
            inputs: nums(&o["inputs"]),
            outputs: nums(&o["outputs"])
                .into_iter()
                .map(|i| i as usize)
                .collect(),
        })
        .collect();
    let samples = v["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["activations"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, d)| {
                    (
                        k.parse().unwrap(),
                        nums(d)
                            .into_iter()
                            .map(|x| i8::try_from(x).unwrap())
                            .collect(),
                    )
                })
                .collect()
        })
        .collect();
    Golden {
        model: model.to_string(),
        tensors,
        ops,
        samples,
    }
}

fn act(o: &Op) -> FusedActivation {
    match o.options["fused_activation"].as_str().unwrap_or("NONE") {
        "NONE" => FusedActivation::None,
        "RELU" => FusedActivation::Relu,
        "RELU6" => FusedActivation::Relu6,
        "RELU_N1_TO_1" => FusedActivation::ReluN1To1,
        other => panic!("fused activation {other} is not supported"),
    }
}

fn opt(o: &Op, k: &str) -> usize {
    o.options[k].as_u64().unwrap() as usize
}

fn same(o: &Op) -> bool {
    match o.options["padding"].as_str().unwrap() {
        "SAME" => true,
        "VALID" => false,
        p => panic!("padding {p}"),
    }
}

/// What edgetune needs to run one operator, derived from the golden file's constants, scales
/// and options only.
enum Layer {
    Conv {
        shape: ConvShape,
        depthwise: bool,
        filter: Vec<i8>,
        bias: Option<Vec<i32>>,
        q: Quant,
    },
    Dense {
        shape: DenseShape,
        filter: Vec<i8>,
        bias: Option<Vec<i32>>,
        q: Quant,
    },
    AvgPool {
        shape: Pool2dShape,
        act: (i8, i8),
    },
    MaxPool {
        shape: Pool2dShape,
        act: (i8, i8),
    },
    Reshape,
}

struct Quant {
    input_zp: i32,
    multiplier: Vec<i32>,
    shift: Vec<i32>,
    output_zp: i32,
    act: (i8, i8),
}

impl Quant {
    fn stage(&self) -> OutputStage<'_> {
        OutputStage {
            input_zero_point: self.input_zp,
            requant: Requant::new(&self.multiplier, &self.shift).unwrap(),
            output_zero_point: self.output_zp,
            act_min: self.act.0,
            act_max: self.act.1,
        }
    }
}

fn quant(g: &Golden, o: &Op, filter: &Tensor, channel_dim: usize) -> Quant {
    let input = g.tensors[&(o.inputs[0] as usize)].quant();
    let output = g.tensors[&o.outputs[0]].quant();
    let n = filter.scales.len();
    assert!(
        filter.zero_points.iter().all(|&z| z == 0),
        "symmetric weights"
    );
    if n > 1 {
        assert_eq!(filter.quantized_dimension, channel_dim);
        assert_eq!(n, filter.shape[channel_dim]);
    }
    let (mut multiplier, mut shift) = (vec![0; n], vec![0; n]);
    from_scales_into(
        input.scale,
        &filter.scales,
        output.scale,
        &mut multiplier,
        &mut shift,
    )
    .unwrap();
    Quant {
        input_zp: input.zero_point,
        multiplier,
        shift,
        output_zp: output.zero_point,
        act: activation_range(act(o), &output).unwrap(),
    }
}

fn bias(g: &Golden, o: &Op) -> Option<Vec<i32>> {
    o.inputs
        .get(2)
        .filter(|&&i| i >= 0)
        .map(|&i| g.tensors[&(i as usize)].i32s())
}

fn layer(g: &Golden, o: &Op) -> Layer {
    let t = |i: i64| &g.tensors[&(i as usize)];
    let input = t(o.inputs[0]);
    let output = &g.tensors[&o.outputs[0]];
    let layer = match o.op.as_str() {
        "CONV_2D" | "DEPTHWISE_CONV_2D" => {
            let depthwise = o.op == "DEPTHWISE_CONV_2D";
            let f = t(o.inputs[1]);
            let [_, in_h, in_w, in_c] = input.shape[..] else {
                panic!()
            };
            let (out_c, kh, kw) = if depthwise {
                (f.shape[3], f.shape[1], f.shape[2])
            } else {
                (f.shape[0], f.shape[1], f.shape[2])
            };
            let groups = if depthwise {
                assert_eq!(out_c, in_c * opt(o, "depth_multiplier"));
                in_c
            } else {
                in_c / f.shape[3]
            };
            let mut shape = ConvShape::new(
                Conv2dShape::new(in_h, in_w, in_c, out_c, kh, kw)
                    .stride(opt(o, "stride_h"), opt(o, "stride_w"))
                    .groups(groups),
            )
            .dilation(opt(o, "dilation_h"), opt(o, "dilation_w"));
            if same(o) {
                shape = shape.same();
            }
            assert!(shape.valid());
            assert_eq!(
                [1, shape.out_h(), shape.out_w(), out_c],
                output.shape[..],
                "{} geometry",
                o.op
            );
            Layer::Conv {
                shape,
                depthwise,
                filter: f.i8s(),
                bias: bias(g, o),
                q: quant(g, o, f, if depthwise { 3 } else { 0 }),
            }
        }
        "FULLY_CONNECTED" => {
            let f = t(o.inputs[1]);
            assert!(!o.options["keep_num_dims"].as_bool().unwrap());
            let shape = DenseShape::new(f.shape[1], f.shape[0]);
            assert_eq!(input.shape.iter().product::<usize>(), shape.inputs);
            assert_eq!(output.shape, [1, shape.outputs]);
            Layer::Dense {
                shape,
                filter: f.i8s(),
                bias: bias(g, o),
                q: quant(g, o, f, 0),
            }
        }
        "AVERAGE_POOL_2D" | "MAX_POOL_2D" => {
            let [_, in_h, in_w, c] = input.shape[..] else {
                panic!()
            };
            let mut shape = Pool2dShape::new(in_h, in_w, c, opt(o, "filter_h"), opt(o, "filter_w"))
                .stride(opt(o, "stride_h"), opt(o, "stride_w"));
            if same(o) {
                shape = shape.same();
            }
            assert_eq!(
                [1, shape.out_h(), shape.out_w(), c],
                output.shape[..],
                "{} geometry",
                o.op
            );
            // TFLite requires the output quantisation to equal the input's.
            assert_eq!(input.quant(), output.quant());
            let act = activation_range(act(o), &output.quant()).unwrap();
            if o.op == "AVERAGE_POOL_2D" {
                Layer::AvgPool { shape, act }
            } else {
                Layer::MaxPool { shape, act }
            }
        }
        "RESHAPE" => {
            assert_eq!(input.quant(), output.quant());
            Layer::Reshape
        }
        other => panic!("{}: operator {other} is not covered", g.model),
    };
    layer
}

fn run(l: &Layer, x: &[i8], out_len: usize) -> Vec<i8> {
    let mut y = vec![0i8; out_len];
    match l {
        Layer::Conv {
            shape,
            depthwise: false,
            filter,
            bias,
            q,
        } => conv2d::forward(shape, &q.stage(), filter, bias.as_deref(), x, &mut y).unwrap(),
        Layer::Conv {
            shape,
            depthwise: true,
            filter,
            bias,
            q,
        } => depthwise::forward(shape, &q.stage(), filter, bias.as_deref(), x, &mut y).unwrap(),
        Layer::Dense {
            shape,
            filter,
            bias,
            q,
        } => {
            fully_connected::forward(shape, &q.stage(), filter, bias.as_deref(), x, &mut y).unwrap()
        }
        Layer::AvgPool { shape, act } => avg_pool::forward(shape, *act, x, &mut y).unwrap(),
        Layer::MaxPool { shape, act } => max_pool::forward(shape, *act, x, &mut y).unwrap(),
        Layer::Reshape => y.copy_from_slice(x),
    }
    y
}

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
