//! The files `scripts/tflite_import.py` generated from the two golden TFLite models
//! and from `digits2d_clamp` (its fused clamps bind) (`tests/data/int8/*_model.rs`), checked
//! against the TFLite interpreter's own tensors in `tests/data/int8/*.json` (no Python at test
//! time; `scripts/import-check.sh` checks in CI that the files are what the importer writes):
//!
//! - the generated `BACKBONE`, run on each golden input's int8 model input, must give bit for bit
//!   the interpreter's tensor at the split (the flatten's output, the first head operator's
//!   input);
//! - its input and output quantisation must be the file's, and `constant_bytes()` the sum of the
//!   filter, bias and requantisation sizes counted from the file;
//! - `HEAD_INIT` must hold, element for element, the f32 rounding of the parameters dequantised
//!   here from the file (`scale · q` in f64), and the generated head, run in f64 from the
//!   dequantised backbone output, must agree with a float forward written here within the bound
//!   that rounding implies; its class must be the interpreter's (int8 head) on most inputs.

use edgetune::nn::int8::{dequantize, QuantParams};
use serde_json::Value;

mod imu1d {
    include!("data/int8/imu1d_model.rs");
}

mod digits2d {
    include!("data/int8/digits2d_model.rs");
}

/// `digits2d` with two layers' output quantisation edited so that their fused ReLU and ReLU6
/// clamps bind (`scripts/tflite_golden.py`, `clamped()`).
mod digits2d_clamp {
    include!("data/int8/digits2d_clamp_model.rs");
}

/// The operators before this index are the backbone, in both models (up to the flatten).
const SPLIT: usize = 6;

struct Tensor {
    shape: Vec<usize>,
    scales: Vec<f64>,
    zero_points: Vec<i64>,
    data: Option<Vec<i64>>,
}

impl Tensor {
    fn quant(&self) -> QuantParams {
        assert_eq!(self.scales.len(), 1);
        QuantParams {
            scale: self.scales[0] as f32,
            zero_point: self.zero_points[0] as i32,
        }
    }
}

struct Op {
    op: String,
    act: String,
    inputs: Vec<i64>,
    output: usize,
}

struct Golden {
    tensors: std::collections::HashMap<usize, Tensor>,
    ops: Vec<Op>,
    /// Per sample: tensor index → int8 data.
    samples: Vec<std::collections::HashMap<usize, Vec<i64>>>,
}

fn nums(x: &Value) -> Vec<i64> {
    x.as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_i64().unwrap())
        .collect()
}

fn load(model: &str) -> Golden {
    let path = format!(
        "{}/tests/data/int8/{model}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(v["schema"], "int8-golden/v1");
    let tensors = v["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["index"].as_u64().unwrap() as usize,
                Tensor {
                    shape: nums(&t["shape"]).into_iter().map(|d| d as usize).collect(),
                    // float32 values written as decimal doubles: exact in f64.
                    scales: t["scales"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s.as_f64().unwrap())
                        .collect(),
                    zero_points: nums(&t["zero_points"]),
                    data: t.get("data").map(nums),
                },
            )
        })
        .collect();
    let ops = v["operators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| Op {
            op: o["op"].as_str().unwrap().to_string(),
            act: o["options"]["fused_activation"]
                .as_str()
                .unwrap_or("NONE")
                .to_string(),
            inputs: nums(&o["inputs"]),
            output: nums(&o["outputs"])[0] as usize,
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
                .map(|(k, d)| (k.parse().unwrap(), nums(d)))
                .collect()
        })
        .collect();
    Golden {
        tensors,
        ops,
        samples,
    }
}

fn i8s(v: &[i64]) -> Vec<i8> {
    v.iter().map(|&x| i8::try_from(x).unwrap()).collect()
}

/// Bytes of the backbone's constants counted from the file: each filter (1 B per value), bias
/// (4 B) and one multiplier and shift (8 B) per weight scale.
fn constant_bytes_from_file(g: &Golden) -> usize {
    let mut bytes = 0;
    for o in &g.ops[..SPLIT] {
        if let Some(&w) = o.inputs.get(1) {
            if o.op == "RESHAPE" {
                continue; // its second input is the new shape, not a constant of edgetune's
            }
            let w = &g.tensors[&(w as usize)];
            bytes += w.data.as_ref().unwrap().len() + 8 * w.scales.len();
        }
        if let Some(&b) = o.inputs.get(2).filter(|&&b| b >= 0) {
            bytes += 4 * g.tensors[&(b as usize)].data.as_ref().unwrap().len();
        }
    }
    bytes
}

/// A head dense layer dequantised from the file in f64: `W[o][i] = scale[o] · q`,
/// `b[o] = bias_scale[o] · q`.
struct Dense {
    w: Vec<f64>,
    b: Vec<f64>,
    inputs: usize,
    outputs: usize,
    act: String,
}

fn head_from_file(g: &Golden) -> Vec<Dense> {
    g.ops[SPLIT..]
        .iter()
        .map(|o| {
            assert_eq!(o.op, "FULLY_CONNECTED");
            let w = &g.tensors[&(o.inputs[1] as usize)];
            let b = &g.tensors[&(o.inputs[2] as usize)];
            let (outputs, inputs) = (w.shape[0], w.shape[1]);
            let scale = |s: &[f64], c: usize| if s.len() == 1 { s[0] } else { s[c] };
            let wq = w.data.as_ref().unwrap();
            let bq = b.data.as_ref().unwrap();
            Dense {
                w: (0..outputs * inputs)
                    .map(|k| scale(&w.scales, k / inputs) * wq[k] as f64)
                    .collect(),
                b: (0..outputs)
                    .map(|c| scale(&b.scales, c) * bq[c] as f64)
                    .collect(),
                inputs,
                outputs,
                act: o.act.clone(),
            }
        })
        .collect()
}

fn activation(act: &str, v: f64) -> f64 {
    match act {
        "NONE" => v,
        "RELU" => v.max(0.0),
        "RELU6" => v.clamp(0.0, 6.0),
        other => panic!("head activation {other}"),
    }
}

/// The float forward of the dequantised head in f64, and per output a bound on how far a forward
/// with every parameter rounded to f32 can lie from it.
///
/// Rounding to nearest f32 moves a parameter `p` by at most `2^-24·|p|`. For one dense layer
/// with exact input `x` that moves output `o` by at most `2^-24·(Σ_i |W_oi|·|x_i| + |b_o|)`; an
/// input already off by `e_i` adds `Σ_i |W_oi|·e_i` (to first order; the second-order term
/// `2^-24·Σ|W||e|` is added too). ReLU and ReLU6 are 1-Lipschitz, so the bound passes through
/// them. The f64 arithmetic of both forwards adds at most `(n + 2)·2^-52` relative to the same
/// magnitudes, far below, but counted.
fn float_head(head: &[Dense], x: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (mut x, mut e) = (x.to_vec(), vec![0.0; x.len()]);
    let u = 2f64.powi(-24);
    for d in head {
        let (mut y, mut ey) = (vec![0.0; d.outputs], vec![0.0; d.outputs]);
        for o in 0..d.outputs {
            let row = &d.w[o * d.inputs..(o + 1) * d.inputs];
            let sum: f64 = row.iter().zip(&x).map(|(w, v)| w * v).sum::<f64>() + d.b[o];
            let mag: f64 =
                row.iter().zip(&x).map(|(w, v)| (w * v).abs()).sum::<f64>() + d.b[o].abs();
            let prop: f64 = row.iter().zip(&e).map(|(w, ei)| w.abs() * ei).sum();
            let arith = (d.inputs as f64 + 2.0) * 2f64.powi(-52) * (mag + prop);
            y[o] = activation(&d.act, sum);
            ey[o] = u * mag + prop * (1.0 + u) + arith;
        }
        x = y;
        e = ey;
    }
    (x, e)
}

fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

macro_rules! check_model {
    ($model:ident, $head:ident, $min_agree:expr) => {{
        use $model::{$head, BACKBONE, HEAD_INIT, INPUT, OUTPUT};
        let g = load(stringify!($model));
        let input = &g.tensors[&(g.ops[0].inputs[0] as usize)];
        let boundary = g.ops[SPLIT - 1].output;
        let logits = g.ops.last().unwrap().output;

        // Quantisation at both edges, and the constants' size.
        assert_eq!(INPUT, input.quant(), "input quantisation");
        assert_eq!(BACKBONE.input_quant(), input.quant());
        assert_eq!(OUTPUT, g.tensors[&boundary].quant(), "output quantisation");
        assert_eq!(
            BACKBONE.output_len(),
            g.tensors[&boundary].shape.iter().product::<usize>()
        );
        assert_eq!(BACKBONE.constant_bytes(), constant_bytes_from_file(&g));

        // HEAD_INIT is the f32 rounding of the parameters dequantised in f64, in torch order.
        let head = head_from_file(&g);
        let expected: Vec<f32> = head
            .iter()
            .flat_map(|d| d.w.iter().chain(&d.b).map(|&p| p as f32))
            .collect();
        assert_eq!(HEAD_INIT.len(), expected.len());
        let differ = HEAD_INIT
            .iter()
            .zip(&expected)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(differ, 0, "HEAD_INIT elements that are not f32(scale · q)");

        let mut net = $head::<f64>::zeroed();
        let init: Vec<f64> = HEAD_INIT.iter().map(|&p| p as f64).collect();
        net.import(&init).unwrap();

        let (mut compared, mut agree, mut worst) = (0, 0, 0.0f64);
        let mut a = [0i8; BACKBONE.buffer_len()];
        let mut b = [0i8; BACKBONE.buffer_len()];
        for s in &g.samples {
            let x = i8s(&s[&(g.ops[0].inputs[0] as usize)]);
            let y = BACKBONE.run(&x, &mut a, &mut b).unwrap();
            let want = i8s(&s[&boundary]);
            assert_eq!(y, &want[..], "backbone output at the split");
            compared += y.len();

            let mut features = [0.0f64; BACKBONE.output_len()];
            dequantize(&OUTPUT, y, &mut features).unwrap();
            let out = net.infer(&features).unwrap();
            let (reference, bound) = float_head(&head, &features);
            for o in 0..out.len() {
                // The bound of `float_head`: f32 rounding of the parameters, propagated.
                let d = (out[o] - reference[o]).abs();
                assert!(
                    d <= bound[o],
                    "head output {o}: |{} − {}| > {}",
                    out[o],
                    reference[o],
                    bound[o]
                );
                worst = worst.max(d / bound[o].max(f64::MIN_POSITIVE));
            }
            let int8_logits: Vec<f64> = s[&logits].iter().map(|&v| v as f64).collect();
            agree += usize::from(argmax(&out) == argmax(&int8_logits));
        }
        println!(
            "{}: backbone {} outputs compared over {} inputs, 0 mismatches; head class = int8 \
             interpreter's on {}/{}; worst head error {:.3} of its bound",
            stringify!($model),
            compared,
            g.samples.len(),
            agree,
            g.samples.len(),
            worst
        );
        assert!(
            agree >= $min_agree,
            "head agreed with the int8 model on {agree} inputs"
        );
        (compared, agree)
    }};
}

#[test]
fn imported_imu1d_backbone_is_bit_exact_and_head_matches_dequantised_reference() {
    // Measured: 8 of 8 (the float head drops the int8 head's intermediate rounding).
    check_model!(imu1d, ImuHead, 7);
}

#[test]
fn imported_digits2d_backbone_is_bit_exact_and_head_matches_dequantised_reference() {
    // Measured: 8 of 8.
    check_model!(digits2d, DigitsHead, 7);
}

#[test]
fn imported_digits2d_clamp_backbone_with_binding_clamps_is_bit_exact() {
    // Measured: 8 of 8.
    check_model!(digits2d_clamp, DigitsHead, 7);
}

/// A 1-D CNN trained in PyTorch on BasicMotions and quantised to TFLite's scheme without
/// TensorFlow (`scripts/torch_int8.py --demo-imu`).
mod imu_torch {
    include!("data/int8/imu_torch_model.rs");
}

/// The PyTorch route: the generated backbone equals, bit for bit, the numpy reference of
/// TFLite's integer arithmetic the script evaluated the model with (`scripts/int8_reference.py`,
/// itself equal to the interpreter on the golden files), and the generated head in f64 predicts
/// the class the script's f64 head predicted.
#[test]
fn torch_quantised_imu_backbone_matches_numpy_reference_bit_for_bit() {
    use imu_torch::{ImuTorchHead, BACKBONE, HEAD_INIT, OUTPUT};
    let path = format!(
        "{}/tests/data/int8/imu_torch.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(v["schema"], "torch-int8-golden/v1");
    let mut net = ImuTorchHead::<f64>::zeroed();
    let init: Vec<f64> = HEAD_INIT.iter().map(|&p| p as f64).collect();
    net.import(&init).unwrap();
    let mut a = [0i8; BACKBONE.buffer_len()];
    let mut b = [0i8; BACKBONE.buffer_len()];
    let (mut compared, mut same_class) = (0, 0);
    let samples = v["samples"].as_array().unwrap();
    for s in samples {
        let x = i8s(&nums(&s["input"]));
        let y = BACKBONE.run(&x, &mut a, &mut b).unwrap();
        assert_eq!(y, &i8s(&nums(&s["backbone_output"]))[..]);
        compared += y.len();
        let mut features = [0.0f64; BACKBONE.output_len()];
        dequantize(&OUTPUT, y, &mut features).unwrap();
        same_class += usize::from(
            net.predict(&features).unwrap() as u64 == s["int8_class"].as_u64().unwrap(),
        );
    }
    println!(
        "imu_torch: backbone {compared} outputs over {} inputs, 0 mismatches; head class = the \
         script's on {same_class}/{}",
        samples.len(),
        samples.len()
    );
    assert_eq!(samples.len(), 8);
    assert_eq!(same_class, samples.len());
}

/// `digits2d` split after its first convolution: the head is a `cnn!` of a depthwise conv, a
/// pointwise conv, a max pool (SAME), an average pool, a flatten and a dense layer.
mod digits2d_convhead {
    include!("data/int8/digits2d_convhead_model.rs");
}

/// The head's parameters dequantised from the file in torch order, for operators `split..`:
/// a conv's OHWI filter as it is, a depthwise `[1][kh][kw][c]` filter as `[c][kh][kw][1]`, a
/// dense `[out][in]`; each value `scale[channel] · q` in f64, rounded to f32; then the bias.
fn head_init_from_file(g: &Golden, split: usize) -> Vec<f32> {
    let mut out = Vec::new();
    for o in &g.ops[split..] {
        if !matches!(
            o.op.as_str(),
            "CONV_2D" | "DEPTHWISE_CONV_2D" | "FULLY_CONNECTED"
        ) {
            continue;
        }
        let w = &g.tensors[&(o.inputs[1] as usize)];
        let b = &g.tensors[&(o.inputs[2] as usize)];
        let q = w.data.as_ref().unwrap();
        let scale = |s: &[f64], c: usize| if s.len() == 1 { s[0] } else { s[c] };
        if o.op == "DEPTHWISE_CONV_2D" {
            let c = w.shape[3];
            let taps = q.len() / c;
            for ch in 0..c {
                for t in 0..taps {
                    out.push((scale(&w.scales, ch) * q[t * c + ch] as f64) as f32);
                }
            }
        } else {
            let per = q.len() / w.shape[0];
            out.extend(
                q.iter()
                    .enumerate()
                    .map(|(k, &v)| (scale(&w.scales, k / per) * v as f64) as f32),
            );
        }
        let bq = b.data.as_ref().unwrap();
        out.extend(
            bq.iter()
                .enumerate()
                .map(|(c, &v)| (scale(&b.scales, c) * v as f64) as f32),
        );
    }
    out
}

#[test]
fn imported_conv_head_has_dequantised_parameters_and_predicts_the_int8_class() {
    use digits2d_convhead::{DigitsConvHead, BACKBONE, HEAD_INIT, OUTPUT};
    let g = load("digits2d");
    let boundary = g.ops[0].output;
    assert_eq!(BACKBONE.layers().len(), 1);
    assert_eq!(BACKBONE.output_quant(), g.tensors[&boundary].quant());
    let expected = head_init_from_file(&g, 1);
    assert_eq!(HEAD_INIT.len(), expected.len());
    let differ = HEAD_INIT
        .iter()
        .zip(&expected)
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(differ, 0, "HEAD_INIT elements that are not f32(scale · q)");

    let mut net = DigitsConvHead::<f64>::zeroed();
    let init: Vec<f64> = HEAD_INIT.iter().map(|&p| p as f64).collect();
    net.import(&init).unwrap();
    let logits = g.ops.last().unwrap().output;
    let mut a = [0i8; BACKBONE.buffer_len()];
    let mut b = [0i8; BACKBONE.buffer_len()];
    let mut agree = 0;
    for s in &g.samples {
        let y = BACKBONE
            .run(&i8s(&s[&(g.ops[0].inputs[0] as usize)]), &mut a, &mut b)
            .unwrap();
        assert_eq!(y, &i8s(&s[&boundary])[..], "backbone output at the split");
        let mut features = [0.0f64; BACKBONE.output_len()];
        dequantize(&OUTPUT, y, &mut features).unwrap();
        let int8_logits: Vec<f64> = s[&logits].iter().map(|&v| v as f64).collect();
        agree += usize::from(net.predict(&features).unwrap() == argmax(&int8_logits));
    }
    println!(
        "digits2d_convhead: head class = int8 interpreter's on {agree}/{}",
        g.samples.len()
    );
    // Measured: 8 of 8 (five float layers stand in for five int8 ones).
    assert!(
        agree >= 7,
        "head agreed with the int8 model on {agree} inputs"
    );
}

/// Each generated file's `Model<S>` is the whole network, ready to train: built from its
/// `BACKBONE` and head, it runs one sample (the head starting from `HEAD_INIT`).
#[test]
fn every_generated_model_alias_builds_and_trains() {
    macro_rules! check {
        ($m:ident, $head:ident) => {{
            let mut head = $m::$head::<f32>::zeroed();
            edgetune::nn::network::Network::import(&mut head, &$m::HEAD_INIT).unwrap();
            let mut net = $m::Model::<f32>::new($m::BACKBONE, head).unwrap();
            let x = vec![0.25f32; $m::BACKBONE.input_len()];
            let loss = edgetune::nn::network::Network::accumulate(&mut net, &x, &0).unwrap();
            assert!(loss.is_finite() && loss > 0.0, stringify!($m));
            let grads = edgetune::nn::network::Network::grads(&net);
            assert!(grads.iter().any(|&g| g != 0.0), stringify!($m));
        }};
    }
    check!(imu1d, ImuHead);
    check!(digits2d, DigitsHead);
    check!(digits2d_clamp, DigitsHead);
    check!(imu_torch, ImuTorchHead);
    check!(digits2d_convhead, DigitsConvHead);
}
