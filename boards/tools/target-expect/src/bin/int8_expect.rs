//! Writes `boards/common-data/int8_expect.rs`: the converted models of
//! `tests/data/int8/*.json` (two, and `digits2d_clamp`, whose fused clamps bind) (`scripts/tflite_golden.py`) as tables of [`Int8Layer`]s with their
//! constants, two held-out inputs each, and TFLite's output of every layer for them (from the
//! golden files: the interpreter's `BUILTIN_REF` kernels). Before writing, it runs every layer
//! with edgetune on the host, chained from the model input, and fails unless each output equals
//! TFLite's bit for bit: the file then holds what both TFLite and the host compute, and the
//! firmware (`boards/qemu-cortex-*/tests/int8.rs`) must reproduce it.
//!
//! Usage (from `boards/tools/target-expect`): `cargo run --release --bin int8-expect` rewrites the
//! committed file; `... -- FILE` writes `FILE` instead (the freshness check of
//! `scripts/embedded.sh`).

#[path = "../int8_cases.rs"]
mod int8_cases;

use int8_cases::{Int8Layer, Kind, Prepared};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Write as _;

const OUT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../common-data/int8_expect.rs"
);
const MODELS: [&str; 3] = ["imu1d", "digits2d", "digits2d_clamp"];
/// Held-out inputs per model kept for the firmware (flash: about 3 KB per imu1d input).
const SAMPLES: usize = 2;

fn leak<T>(v: Vec<T>) -> &'static [T] {
    Box::leak(v.into_boxed_slice())
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

fn hwc(shape: &[i64]) -> [usize; 3] {
    match shape {
        [1, h, w, c] => [*h as usize, *w as usize, *c as usize],
        [1, n] => [1, 1, *n as usize],
        s => panic!("shape {s:?}"),
    }
}

struct Model {
    name: &'static str,
    layers: Vec<Int8Layer>,
    /// Per sample: the model input, then each layer's output.
    samples: Vec<(Vec<i8>, Vec<Vec<i8>>)>,
}

fn load(name: &'static str) -> Model {
    let path = format!(
        "{}/../../../tests/data/int8/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let g: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(g["generator"]["op_resolver"], "BUILTIN_REF");
    let tensors: HashMap<i64, &Value> = g["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["index"].as_i64().unwrap(), t))
        .collect();
    let scale = |t: &Value| t["scales"][0].as_f64().unwrap() as f32;
    let zp = |t: &Value| t["zero_points"][0].as_i64().unwrap() as i32;
    let mut layers = Vec::new();
    let mut flow = Vec::new(); // (input tensor, output tensor) per layer
    for o in g["operators"].as_array().unwrap() {
        let op = o["op"].as_str().unwrap();
        let opts = &o["options"];
        let ins = ints(&o["inputs"]);
        let out_t = ints(&o["outputs"])[0];
        let (i, y) = (tensors[&ins[0]], tensors[&out_t]);
        let u = |k: &str| opts[k].as_u64().unwrap_or(1) as usize;
        let filter_t = ins.get(1).map(|t| tensors[t]);
        let kind = match op {
            "CONV_2D" => Kind::Conv,
            "DEPTHWISE_CONV_2D" => Kind::Depthwise,
            "FULLY_CONNECTED" => Kind::Dense,
            "AVERAGE_POOL_2D" => Kind::AvgPool,
            "MAX_POOL_2D" => Kind::MaxPool,
            "RESHAPE" => Kind::Reshape,
            other => panic!("{name}: operator {other}"),
        };
        let has_filter = matches!(kind, Kind::Conv | Kind::Depthwise | Kind::Dense);
        let fshape = filter_t.map(|f| ints(&f["shape"])).unwrap_or_default();
        let kernel = match kind {
            Kind::Conv | Kind::Depthwise => [fshape[1] as usize, fshape[2] as usize],
            Kind::AvgPool | Kind::MaxPool => [u("filter_h"), u("filter_w")],
            _ => [1, 1],
        };
        let activation = match opts["fused_activation"].as_str().unwrap_or("NONE") {
            "NONE" => 0,
            "RELU" => 1,
            "RELU6" => 3,
            a => panic!("activation {a}"),
        };
        let filter: Vec<i8> = if has_filter {
            ints(&filter_t.unwrap()["data"])
                .into_iter()
                .map(|v| v as i8)
                .collect()
        } else {
            Vec::new()
        };
        let bias: Vec<i32> = match ins.get(2) {
            Some(&b) if has_filter && b >= 0 => ints(&tensors[&b]["data"])
                .into_iter()
                .map(|v| v as i32)
                .collect(),
            _ => Vec::new(),
        };
        let filter_scales: Vec<f32> = if has_filter {
            filter_t.unwrap()["scales"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_f64().unwrap() as f32)
                .collect()
        } else {
            Vec::new()
        };
        layers.push(Int8Layer {
            kind,
            input: hwc(&ints(&i["shape"])),
            output: hwc(&ints(&y["shape"])),
            kernel,
            stride: [u("stride_h"), u("stride_w")],
            dilation: [u("dilation_h"), u("dilation_w")],
            same: opts["padding"] == "SAME",
            activation,
            filter: leak(filter),
            bias: leak(bias),
            input_scale: scale(i),
            input_zero_point: zp(i),
            filter_scales: leak(filter_scales),
            output_scale: scale(y),
            output_zero_point: zp(y),
        });
        flow.push((ins[0], out_t));
    }
    let as_i8 = |v: &Value| -> Vec<i8> { ints(v).into_iter().map(|x| x as i8).collect() };
    let samples = g["inputs"].as_array().unwrap()[..SAMPLES]
        .iter()
        .map(|s| {
            let a = &s["activations"];
            let input = as_i8(&a[flow[0].0.to_string()]);
            let outs = flow.iter().map(|(_, o)| as_i8(&a[o.to_string()])).collect();
            (input, outs)
        })
        .collect();
    Model {
        name,
        layers,
        samples,
    }
}

/// Runs the chain on the host and panics unless every layer reproduces TFLite's output.
fn check(m: &Model) -> usize {
    let mut compared = 0;
    for (input, outs) in &m.samples {
        let mut x = input.clone();
        for (k, (l, want)) in m.layers.iter().zip(outs).enumerate() {
            let p = Prepared::new(l).unwrap();
            let mut y = vec![0i8; l.output_len()];
            p.run(&x, &mut y).unwrap();
            assert_eq!(&y, want, "{} layer {k}: host differs from TFLite", m.name);
            compared += y.len();
            x = y;
        }
    }
    compared
}

fn array<T: std::fmt::Display>(s: &mut String, name: &str, ty: &str, v: &[T]) {
    let _ = writeln!(s, "    pub static {name}: [{ty}; {}] = [", v.len());
    for line in v.chunks(16) {
        s.push_str("       ");
        for x in line {
            let _ = write!(s, " {x},");
        }
        s.push('\n');
    }
    s.push_str("    ];\n");
}

fn render(models: &[Model]) -> String {
    let mut s = String::new();
    s.push_str(
        "// @generated by boards/tools/target-expect (`cd boards/tools/target-expect && cargo run \
         --release --bin int8-expect`).\n\
         // Do not edit: scripts/embedded.sh regenerates it and fails if it differs.\n\
         //\n\
         // Two int8 models converted by TFLite (tests/data/int8/*.json, scripts/tflite_golden.py):\n\
         // per layer its constants (TFLite's layouts) and scales, then held-out inputs and TFLite's\n\
         // output of every layer (BUILTIN_REF kernels), which the host's edgetune reproduces bit for\n\
         // bit (checked by the generator). Included by boards/qemu-cortex-*/tests/int8.rs.\n",
    );
    for m in models {
        let _ = writeln!(s, "\n/// `{}`.\npub mod {} {{", m.name, m.name);
        s.push_str("    use super::{Int8Layer, Kind};\n");
        for (k, l) in m.layers.iter().enumerate() {
            if !l.filter.is_empty() {
                array(&mut s, &format!("L{k}_FILTER"), "i8", l.filter);
                array(&mut s, &format!("L{k}_BIAS"), "i32", l.bias);
                let scales: Vec<String> = l
                    .filter_scales
                    .iter()
                    .map(|f| format!("f32::from_bits({:#010x})", f.to_bits()))
                    .collect();
                array(&mut s, &format!("L{k}_SCALES"), "f32", &scales);
            }
        }
        let _ = writeln!(
            s,
            "    pub static LAYERS: [Int8Layer; {}] = [",
            m.layers.len()
        );
        for (k, l) in m.layers.iter().enumerate() {
            let (f, b, sc) = if l.filter.is_empty() {
                ("&[]".to_string(), "&[]".to_string(), "&[]".to_string())
            } else {
                (
                    format!("&L{k}_FILTER"),
                    format!("&L{k}_BIAS"),
                    format!("&L{k}_SCALES"),
                )
            };
            let _ = writeln!(
                s,
                "        Int8Layer {{ kind: Kind::{:?}, input: {:?}, output: {:?}, kernel: {:?}, \
                 stride: {:?}, dilation: {:?}, same: {}, activation: {}, filter: {f}, bias: {b}, \
                 input_scale: f32::from_bits({:#010x}), input_zero_point: {}, filter_scales: {sc}, \
                 output_scale: f32::from_bits({:#010x}), output_zero_point: {} }},",
                l.kind,
                l.input,
                l.output,
                l.kernel,
                l.stride,
                l.dilation,
                l.same,
                l.activation,
                l.input_scale.to_bits(),
                l.input_zero_point,
                l.output_scale.to_bits(),
                l.output_zero_point
            );
        }
        s.push_str("    ];\n");
        for (i, (input, outs)) in m.samples.iter().enumerate() {
            array(&mut s, &format!("S{i}_INPUT"), "i8", input);
            for (k, o) in outs.iter().enumerate() {
                array(&mut s, &format!("S{i}_L{k}"), "i8", o);
            }
        }
        let _ = writeln!(
            s,
            "    /// Per sample: the model input.\n    pub static INPUTS: [&[i8]; {}] = [{}];",
            m.samples.len(),
            (0..m.samples.len())
                .map(|i| format!("&S{i}_INPUT"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(
            s,
            "    /// Per sample and layer: TFLite's output.\n    pub static OUTPUTS: [[&[i8]; {}]; {}] = [",
            m.layers.len(),
            m.samples.len()
        );
        for i in 0..m.samples.len() {
            let row: Vec<String> = (0..m.layers.len()).map(|k| format!("&S{i}_L{k}")).collect();
            let _ = writeln!(s, "        [{}],", row.join(", "));
        }
        s.push_str("    ];\n}\n");
    }
    s
}

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| OUT.to_string());
    let models: Vec<Model> = MODELS.iter().map(|m| load(m)).collect();
    for m in &models {
        let n = check(m);
        println!(
            "{}: {} layers, {n} outputs of {SAMPLES} inputs equal to TFLite's on the host",
            m.name,
            m.layers.len()
        );
    }
    if let Err(e) = std::fs::write(&path, render(&models)) {
        eprintln!("error: cannot write {path}: {e}");
        std::process::exit(1);
    }
    println!("wrote {path}");
}
