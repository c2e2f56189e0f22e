//! The int8 golden files (`tests/data/int8/*.json`, `scripts/tflite_golden.py`): loading them,
//! and each operator as edgetune runs it, derived from the file's constants, scales and options
//! only.
#![allow(dead_code)]

use std::collections::HashMap;

pub use edgetune::nn::int8::{
    activation_range, avg_pool, conv2d, depthwise, from_scales_into, fully_connected, max_pool,
    ConvShape, DenseShape, FusedActivation, Int8Conv, Int8Dense, Int8Layer, Int8Pool, OutputStage,
    QuantParams, Requant,
};
pub use edgetune::nn::{Conv2dShape, Pool2dShape};
pub use serde_json::Value;

pub struct Tensor {
    pub shape: Vec<usize>,
    pub scales: Vec<f32>,
    pub zero_points: Vec<i32>,
    pub quantized_dimension: usize,
    pub data: Option<Vec<i64>>,
}

impl Tensor {
    pub fn quant(&self) -> QuantParams {
        assert_eq!(self.scales.len(), 1, "activations are per-tensor");
        QuantParams::new(self.scales[0], self.zero_points[0]).unwrap()
    }
    pub fn i8s(&self) -> Vec<i8> {
        self.data
            .as_ref()
            .unwrap()
            .iter()
            .map(|&v| i8::try_from(v).unwrap())
            .collect()
    }
    pub fn i32s(&self) -> Vec<i32> {
        self.data
            .as_ref()
            .unwrap()
            .iter()
            .map(|&v| i32::try_from(v).unwrap())
            .collect()
    }
}

pub struct Op {
    pub op: String,
    pub options: Value,
    pub inputs: Vec<i64>,
    pub outputs: Vec<usize>,
}

pub struct Golden {
    pub model: String,
    pub tensors: HashMap<usize, Tensor>,
    pub ops: Vec<Op>,
    /// Per sample: tensor index → int8 data.
    pub samples: Vec<HashMap<usize, Vec<i8>>>,
}

pub fn load(model: &str) -> Golden {
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

pub fn act(o: &Op) -> FusedActivation {
    match o.options["fused_activation"].as_str().unwrap_or("NONE") {
        "NONE" => FusedActivation::None,
        "RELU" => FusedActivation::Relu,
        "RELU6" => FusedActivation::Relu6,
        "RELU_N1_TO_1" => FusedActivation::ReluN1To1,
        other => panic!("fused activation {other} is not supported"),
    }
}

pub fn opt(o: &Op, k: &str) -> usize {
    o.options[k].as_u64().unwrap() as usize
}

pub fn same(o: &Op) -> bool {
    match o.options["padding"].as_str().unwrap() {
        "SAME" => true,
        "VALID" => false,
        p => panic!("padding {p}"),
    }
}

/// What edgetune needs to run one operator, derived from the golden file's constants, scales
/// and options only.
pub enum Layer {
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

pub struct Quant {
    pub input_zp: i32,
    pub multiplier: Vec<i32>,
    pub shift: Vec<i32>,
    pub output_zp: i32,
    pub act: (i8, i8),
}

impl Quant {
    pub fn stage(&self) -> OutputStage<'_> {
        OutputStage {
            input_zero_point: self.input_zp,
            requant: Requant::new(&self.multiplier, &self.shift).unwrap(),
            output_zero_point: self.output_zp,
            act_min: self.act.0,
            act_max: self.act.1,
        }
    }
}

pub fn quant(g: &Golden, o: &Op, filter: &Tensor, channel_dim: usize) -> Quant {
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

pub fn bias(g: &Golden, o: &Op) -> Option<Vec<i32>> {
    o.inputs
        .get(2)
        .filter(|&&i| i >= 0)
        .map(|&i| g.tensors[&(i as usize)].i32s())
}

pub fn layer(g: &Golden, o: &Op) -> Layer {
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

pub fn run(l: &Layer, x: &[i8], out_len: usize) -> Vec<i8> {
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

/// The operator as an [`Int8Layer`] borrowing its constants, or `None` for a `RESHAPE`.
pub fn int8_layer(l: &Layer) -> Option<Int8Layer<'_>> {
    Some(match l {
        Layer::Conv {
            shape,
            depthwise,
            filter,
            bias,
            q,
        } => {
            let conv = Int8Conv {
                shape: *shape,
                filter,
                bias: bias.as_deref(),
                stage: q.stage(),
            };
            if *depthwise {
                Int8Layer::Depthwise(conv)
            } else {
                Int8Layer::Conv(conv)
            }
        }
        Layer::Dense {
            shape,
            filter,
            bias,
            q,
        } => Int8Layer::Dense(Int8Dense {
            shape: *shape,
            filter,
            bias: bias.as_deref(),
            stage: q.stage(),
        }),
        Layer::AvgPool { shape, act } => Int8Layer::AvgPool(Int8Pool {
            shape: *shape,
            act: *act,
        }),
        Layer::MaxPool { shape, act } => Int8Layer::MaxPool(Int8Pool {
            shape: *shape,
            act: *act,
        }),
        Layer::Reshape => return None,
    })
}
