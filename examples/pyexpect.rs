//! Writes `python/tests/data/expect.json`, the expected results of the Python bindings' tests
//! (`python/tests/test_rust_path.py`): for every optimizer, option set and number type, initial
//! parameters, gradients, and the parameters, state buffers, step count and rounding state after
//! the steps, all as raw bits, computed here by the **static** `[S; N]` optimizers (the bindings
//! run the run-time-sized ones, so the test crosses both paths and the Python plumbing).
//!
//! It also holds, for the other tests of `python/tests`:
//! - with every optimizer case, the checkpoint record `checkpoint::Store::save` writes for its
//!   final state (`test_checkpoint.py`);
//! - the layer cases of `test_layers.py` (dense forward and backward, ReLU, softmax
//!   cross-entropy, per number type and shape, from the static `nn` layers);
//! - the conv cases of `test_conv.py` (convolutions and pools from the `nn` functions, a batch of
//!   two, per number type and shape) and the activation cases of `test_activations.py` (ReLU6,
//!   LeakyReLU, sigmoid, tanh on `[S; N]` arrays);
//! - an I16F16 weight file written by `io::weights::write_raw` (`test_weights.py`).
//!
//! ```text
//! cargo run --release --example pyexpect              # rewrite the file
//! cargo run --release --example pyexpect -- --check   # fail if the file is not what this writes
//! ```

use edgetune::checkpoint::{Checkpointable, Progress, SimFlash, Store, Word};
use edgetune::nn::{
    avg_pool, conv1d, conv2d, global_avg_pool, max_pool, pointwise, Activation, Conv1dShape,
    Conv2dShape, LeakyRelu, Padding, Pool1dShape, Pool2dShape, Relu6, Sigmoid, Tanh,
};
use edgetune::num::fixed::{MiniFloat, RoundingState, I16F16, I4F12, I8F24};
use edgetune::num::{Num, Scalar};
use edgetune::optim::{
    Adagrad, AdagradConfig, Adam, AdamConfig, Lion, LionConfig, Momentum, MomentumConfig, Off, On,
    Optimizer, RmsProp, RmsPropConfig, Sgd, SgdConfig,
};
use serde_json::{json, Map, Value};

const N: usize = 7;
const STEPS: usize = 6;
const PATH: &str = "python/tests/data/expect.json";

/// A value's raw bits as JSON: f32 and MiniFloat as `u32`, fixed point as its `i32` for
/// parameters (what the bindings take) and as `u32` for state (what `state_bits` returns).
trait Bits: Copy {
    fn param_bits(self) -> Value;
    fn state_bits(self) -> u32;
}

impl Bits for f32 {
    fn param_bits(self) -> Value {
        json!(self.to_bits())
    }
    fn state_bits(self) -> u32 {
        self.to_bits()
    }
}

impl Bits for MiniFloat {
    fn param_bits(self) -> Value {
        json!(self.to_bits())
    }
    fn state_bits(self) -> u32 {
        self.to_bits()
    }
}

macro_rules! fixed_bits {
    ($t:ty) => {
        impl Bits for $t {
            fn param_bits(self) -> Value {
                json!(self.to_bits())
            }
            fn state_bits(self) -> u32 {
                self.to_bits() as u32
            }
        }
    };
}
fixed_bits!(I16F16);
fixed_bits!(I8F24);

impl Bits for I4F12 {
    fn param_bits(self) -> Value {
        json!(self.to_bits())
    }
    fn state_bits(self) -> u32 {
        u32::from(self.to_bits() as u16)
    }
}

/// The number types: name and how to seed the rounding.
trait Dt: Scalar + Num + Bits {
    const NAME: &'static str;
    /// Sets the rounding; returns `(rounding, seed)` as the Python constructor takes them.
    fn rounding(_aux: &mut Self::Aux, _case: usize) -> (&'static str, u32) {
        ("stochastic", 0)
    }
    fn aux_json(_aux: &Self::Aux) -> Value {
        Value::Null
    }
}

impl Dt for f32 {
    const NAME: &'static str = "f32";
}

macro_rules! fixed_dt {
    ($t:ty, $name:literal) => {
        impl Dt for $t {
            const NAME: &'static str = $name;
            fn rounding(aux: &mut RoundingState, case: usize) -> (&'static str, u32) {
                if case % 3 == 2 {
                    *aux = RoundingState::nearest();
                    ("nearest", 0)
                } else {
                    let seed = 1000 + 7919 * case as u32;
                    *aux = RoundingState::stochastic(seed);
                    ("stochastic", seed)
                }
            }
            fn aux_json(aux: &RoundingState) -> Value {
                json!([
                    if aux.is_stochastic() {
                        "stochastic"
                    } else {
                        "nearest"
                    },
                    aux.state()
                ])
            }
        }
    };
}
fixed_dt!(I16F16, "I16F16");
fixed_dt!(I8F24, "I8F24");
fixed_dt!(I4F12, "I4F12");

/// Deterministic data: a 64-bit LCG's top bits as a uniform value in `[-scale, scale)`.
fn data(seed: u64, count: usize, scale: f64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..count)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale
        })
        .collect()
}

fn buf<T: Bits>(name: &str, values: Option<&[T]>, out: &mut Map<String, Value>) {
    if let Some(v) = values {
        let bits: Vec<u32> = v.iter().map(|x| x.state_bits()).collect();
        out.insert(name.to_string(), json!(bits));
    }
}

/// The slot and write unit of the checkpoints in the fixture.
const SLOT: u32 = 1024;
const WRITE_SIZE: usize = 8;

/// The bytes a device's `Store::save` writes for `params`, `opt` and `progress` into an erased
/// two-slot region: its first slot up to the end of the record (the rest stays erased).
fn checkpoint<S: Checkpointable, O: Checkpointable>(
    params: &S,
    opt: &O,
    progress: &Progress,
) -> String {
    let mut store = Store::new(
        SimFlash::<{ 2 * SLOT as usize }, WRITE_SIZE, 256>::new(),
        0,
        SLOT,
    )
    .expect("geometry");
    store
        .save(params, opt, progress)
        .expect("the record fits its slot");
    let len = Store::<SimFlash<{ 2 * SLOT as usize }, WRITE_SIZE, 256>>::record_bytes::<S, O>();
    store.flash_mut().bytes_mut()[..len]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Runs `opt` over the case's data and returns the case as JSON.
fn case<S: Dt + Word, O: Optimizer<S, N> + Checkpointable>(
    index: usize,
    class: &str,
    kwargs: Value,
    mut opt: O,
    state: impl Fn(&O) -> Map<String, Value>,
) -> Value {
    let (rounding, seed) = S::rounding(opt.aux_mut(), index);
    let mut params: [S; N] = [S::from_f64(0.0); N];
    for (p, v) in params.iter_mut().zip(data(index as u64, N, 2.0)) {
        *p = S::from_f64(v);
    }
    let param0: Vec<Value> = params.iter().map(|p| p.param_bits()).collect();
    let mut grads = Vec::new();
    for t in 0..STEPS {
        let scale = [0.01, 1.0, 5.0][t % 3];
        let mut g: [S; N] = [S::from_f64(0.0); N];
        for (d, v) in g
            .iter_mut()
            .zip(data(1_000 + 31 * index as u64 + t as u64, N, scale))
        {
            *d = S::from_f64(v);
        }
        opt.step(&mut params, &g)
            .unwrap_or_else(|e| panic!("case {index} ({class}, {}): {e}", S::NAME));
        grads.push(g.iter().map(|x| x.param_bits()).collect::<Vec<_>>());
    }
    json!({
        "class": class,
        "dtype": S::NAME,
        "kwargs": kwargs,
        "rounding": rounding,
        "seed": seed,
        "param0": param0,
        "grads": grads,
        "params": params.iter().map(|p| p.param_bits()).collect::<Vec<_>>(),
        "state": state(&opt),
        "step": opt.step_count(),
        "aux": S::aux_json(opt.aux()),
        "checkpoint": {
            "slot_size": SLOT,
            "write_size": WRITE_SIZE,
            "progress": [index, 1000 + index, [1, 2, 3, index]],
            "record": checkpoint(&params, &opt, &Progress { epoch: index as u32, step: 1000 + index as u64, user: [1, 2, 3, index as u32] }),
        },
    })
}

fn cases<S>(out: &mut Vec<Value>)
where
    S: Dt
        + edgetune::optim::SgdNum
        + edgetune::optim::MomentumNum
        + edgetune::optim::AdamNum
        + edgetune::optim::RmsPropNum
        + edgetune::optim::AdagradNum
        + edgetune::optim::LionNum,
    <S as edgetune::optim::MomentumNum>::Buffer: Bits,
    <S as edgetune::optim::AdamNum>::Moment: Bits,
    <S as edgetune::optim::AdamNum>::SqMoment: Bits,
    <S as edgetune::optim::RmsPropNum>::SqAvg: Bits,
    <S as edgetune::optim::RmsPropNum>::Avg: Bits,
    <S as edgetune::optim::AdagradNum>::Sum: Bits,
    <S as edgetune::optim::LionNum>::Moment: Bits,
    S: Word,
    <S as Num>::Aux: Word,
    <S as edgetune::optim::MomentumNum>::Buffer: Word,
    <S as edgetune::optim::AdamNum>::Moment: Word,
    <S as edgetune::optim::AdamNum>::SqMoment: Word,
    <S as edgetune::optim::RmsPropNum>::SqAvg: Word,
    <S as edgetune::optim::RmsPropNum>::Avg: Word,
    <S as edgetune::optim::AdagradNum>::Sum: Word,
    <S as edgetune::optim::LionNum>::Moment: Word,
{
    let mut i = out.len();
    let mut next = || {
        i += 1;
        i
    };
    macro_rules! push {
        ($class:literal, $kw:expr, $opt:expr, |$o:ident| [$($name:literal => $b:expr),*]) => {{
            let opt = $opt.unwrap();
            out.push(case::<S, _>(next(), $class, $kw, opt, |$o| {
                #[allow(unused_mut)]
                let mut m = Map::new();
                $( buf($name, $b, &mut m); )*
                m
            }));
        }};
    }

    push!(
        "SGD",
        json!({"lr": 0.05}),
        Sgd::<S, N>::new(SgdConfig::new(0.05)),
        |_o| []
    );
    let c = SgdConfig {
        lr: 0.02,
        weight_decay: 0.1,
        maximize: true,
    };
    push!(
        "SGD",
        json!({"lr": 0.02, "weight_decay": 0.1, "maximize": true}),
        Sgd::<S, N>::new(c),
        |_o| []
    );
    push!("SGD", json!({"lr": 0.03, "momentum": 0.9}),
        Momentum::<S, N>::new(MomentumConfig::new(0.03, 0.9)),
        |o| ["momentum_buffer" => Some(o.momentum_buffer().as_slice())]);
    push!("SGD", json!({"lr": 0.01, "momentum": 0.8, "nesterov": true, "weight_decay": 0.01}),
        Momentum::<S, N>::new(MomentumConfig { weight_decay: 0.01, ..MomentumConfig::nesterov(0.01, 0.8) }),
        |o| ["momentum_buffer" => Some(o.momentum_buffer().as_slice())]);
    let c = MomentumConfig {
        dampening: 0.3,
        maximize: true,
        ..MomentumConfig::new(0.02, 0.5)
    };
    push!("SGD", json!({"lr": 0.02, "momentum": 0.5, "dampening": 0.3, "maximize": true}),
        Momentum::<S, N>::new(c),
        |o| ["momentum_buffer" => Some(o.momentum_buffer().as_slice())]);

    push!("Adam", json!({"lr": 0.01}), Adam::<S, N>::new(AdamConfig::adam(0.01)),
        |o| ["exp_avg" => Some(o.exp_avg().as_slice()), "exp_avg_sq" => Some(o.exp_avg_sq().as_slice())]);
    let c = AdamConfig {
        beta1: 0.8,
        beta2: 0.99,
        eps: 1e-6,
        weight_decay: 0.05,
        maximize: true,
        ..AdamConfig::adam(0.003)
    };
    push!("Adam", json!({"lr": 0.003, "betas": [0.8, 0.99], "eps": 1e-6, "weight_decay": 0.05, "amsgrad": true, "maximize": true}),
        Adam::<S, N, On>::new(c),
        |o| ["exp_avg" => Some(o.exp_avg().as_slice()), "exp_avg_sq" => Some(o.exp_avg_sq().as_slice()), "max_exp_avg_sq" => o.max_exp_avg_sq()]);
    push!("AdamW", json!({"lr": 0.01}), Adam::<S, N>::new(AdamConfig::adamw(0.01)),
        |o| ["exp_avg" => Some(o.exp_avg().as_slice()), "exp_avg_sq" => Some(o.exp_avg_sq().as_slice())]);
    let c = AdamConfig {
        weight_decay: 0.2,
        ..AdamConfig::adamw(0.02)
    };
    push!("AdamW", json!({"lr": 0.02, "weight_decay": 0.2, "amsgrad": true}),
        Adam::<S, N, On>::new(c),
        |o| ["exp_avg" => Some(o.exp_avg().as_slice()), "exp_avg_sq" => Some(o.exp_avg_sq().as_slice()), "max_exp_avg_sq" => o.max_exp_avg_sq()]);
    let c = AdamConfig {
        decoupled_weight_decay: true,
        weight_decay: 0.1,
        ..AdamConfig::adam(0.01)
    };
    push!("Adam", json!({"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": true}),
        Adam::<S, N>::new(c),
        |o| ["exp_avg" => Some(o.exp_avg().as_slice()), "exp_avg_sq" => Some(o.exp_avg_sq().as_slice())]);

    push!("RMSprop", json!({"lr": 0.01}), RmsProp::<S, N>::new(RmsPropConfig::new(0.01)),
        |o| ["square_avg" => Some(o.square_avg().as_slice())]);
    let c = RmsPropConfig {
        momentum: 0.9,
        weight_decay: 0.01,
        ..RmsPropConfig::new(0.005)
    };
    push!("RMSprop", json!({"lr": 0.005, "momentum": 0.9, "weight_decay": 0.01}),
        RmsProp::<S, N, On, Off>::new(c),
        |o| ["square_avg" => Some(o.square_avg().as_slice()), "momentum_buffer" => o.momentum_buffer()]);
    let c = RmsPropConfig {
        alpha: 0.9,
        eps: 1e-5,
        maximize: true,
        ..RmsPropConfig::new(0.01)
    };
    push!("RMSprop", json!({"lr": 0.01, "alpha": 0.9, "eps": 1e-5, "centered": true, "maximize": true}),
        RmsProp::<S, N, Off, On>::new(c),
        |o| ["square_avg" => Some(o.square_avg().as_slice()), "grad_avg" => o.grad_avg()]);
    let c = RmsPropConfig {
        momentum: 0.5,
        ..RmsPropConfig::new(0.002)
    };
    push!("RMSprop", json!({"lr": 0.002, "momentum": 0.5, "centered": true}),
        RmsProp::<S, N, On, On>::new(c),
        |o| ["square_avg" => Some(o.square_avg().as_slice()), "momentum_buffer" => o.momentum_buffer(), "grad_avg" => o.grad_avg()]);

    push!("Adagrad", json!({"lr": 0.1}), Adagrad::<S, N>::new(AdagradConfig::new(0.1)),
        |o| ["sum" => Some(o.sum().as_slice())]);
    let c = AdagradConfig {
        lr_decay: 0.01,
        weight_decay: 0.02,
        initial_accumulator_value: 0.1,
        eps: 1e-6,
        maximize: true,
        ..AdagradConfig::new(0.05)
    };
    push!("Adagrad", json!({"lr": 0.05, "lr_decay": 0.01, "weight_decay": 0.02, "initial_accumulator_value": 0.1, "eps": 1e-6, "maximize": true}),
        Adagrad::<S, N>::new(c),
        |o| ["sum" => Some(o.sum().as_slice())]);

    push!("Lion", json!({"lr": 0.001}), Lion::<S, N>::new(LionConfig::new(0.001)),
        |o| ["exp_avg" => Some(o.exp_avg().as_slice())]);
    let c = LionConfig {
        beta1: 0.95,
        beta2: 0.98,
        weight_decay: 0.1,
        ..LionConfig::new(0.0003)
    };
    push!("Lion", json!({"lr": 0.0003, "betas": [0.95, 0.98], "weight_decay": 0.1}),
        Lion::<S, N>::new(c),
        |o| ["exp_avg" => Some(o.exp_avg().as_slice())]);
}

/// The library's error messages for invalid configurations and steps, as the bindings must
/// raise them (`EdgetuneError` with the `Display` text).
fn errors() -> Vec<Value> {
    let msg = |e: edgetune::Error| e.to_string();
    let mut out = Vec::new();
    let mut ctor = |class: &str, kwargs: Value, e: edgetune::Error| {
        out.push(json!({"class": class, "kwargs": kwargs, "message": msg(e)}));
    };
    let bad = |c: Result<(), edgetune::Error>| c.expect_err("an invalid configuration");
    ctor(
        "SGD",
        json!({"lr": -0.1}),
        bad(SgdConfig::new(-0.1).validate()),
    );
    ctor(
        "SGD",
        json!({"lr": 0.1, "momentum": -0.5}),
        bad(MomentumConfig::new(0.1, -0.5).validate()),
    );
    ctor(
        "SGD",
        json!({"lr": 0.1, "nesterov": true}),
        bad(MomentumConfig::nesterov(0.1, 0.0).validate()),
    );
    ctor(
        "SGD",
        json!({"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": true}),
        bad(MomentumConfig {
            dampening: 0.1,
            ..MomentumConfig::nesterov(0.1, 0.9)
        }
        .validate()),
    );
    ctor(
        "Adam",
        json!({"betas": [1.0, 0.999]}),
        bad(AdamConfig {
            beta1: 1.0,
            ..AdamConfig::adam(1e-3)
        }
        .validate()),
    );
    ctor(
        "Adam",
        json!({"eps": 0.0}),
        bad(AdamConfig {
            eps: 0.0,
            ..AdamConfig::adam(1e-3)
        }
        .validate()),
    );
    ctor(
        "AdamW",
        json!({"weight_decay": -1.0}),
        bad(AdamConfig {
            weight_decay: -1.0,
            ..AdamConfig::adamw(1e-3)
        }
        .validate()),
    );
    ctor(
        "RMSprop",
        json!({"alpha": -0.5}),
        bad(RmsPropConfig {
            alpha: -0.5,
            ..RmsPropConfig::new(0.01)
        }
        .validate()),
    );
    ctor(
        "Adagrad",
        json!({"lr_decay": -1.0}),
        bad(AdagradConfig {
            lr_decay: -1.0,
            ..AdagradConfig::new(0.01)
        }
        .validate()),
    );
    ctor(
        "Lion",
        json!({"betas": [0.9, 1.5]}),
        bad(LionConfig {
            beta2: 1.5,
            ..LionConfig::new(1e-4)
        }
        .validate()),
    );
    out
}

/// Step errors: (what, message) from the static optimizers.
fn step_errors() -> Value {
    let mut adam = Adam::<f32, N>::new(AdamConfig::adam(0.01)).expect("valid");
    let mut p = [0.5f32; N];
    let mut g = [0.25f32; N];
    g[3] = f32::NAN;
    let nan = adam.step(&mut p, &g).expect_err("NaN gradient").to_string();
    let mut fixed = Adam::<I16F16, N>::new(AdamConfig::adam(0.01)).expect("valid");
    let mut q = [I16F16::from_num(0.5); N];
    let mut h = [I16F16::from_num(0.25); N];
    h[5] = I16F16::MIN;
    let saturated = fixed
        .step(&mut q, &h)
        .expect_err("MIN gradient")
        .to_string();
    let short = adam
        .step_slices(&mut p[..N - 1], &g[..N - 1])
        .expect_err("short")
        .to_string();
    let mut sgd = Sgd::<f32, N>::new(SgdConfig {
        weight_decay: 10.0,
        ..SgdConfig::new(0.5)
    })
    .expect("valid");
    let mut big = [1.0f32; N];
    big[2] = 3e38;
    let overflow = sgd
        .step(&mut big, &[0.5; N])
        .expect_err("overflow")
        .to_string();
    json!({
        "nan_at_3": nan,
        "min_at_5": saturated,
        "short_params": short,
        "overflow_at_2": overflow,
    })
}

/// One layer case: a batch of `B` samples through the static `Dense<S, I, O>`, ReLU and softmax
/// cross-entropy (labels from the data), backward accumulated over the batch in sample order.
fn layer_case<S: Dt, const I: usize, const O: usize>(seed: u64) -> Value {
    const B: usize = 3;
    // The 16-bit format holds (-8, 8): smaller data keep every sum of these shapes inside it.
    let s = if S::NAME == "I4F12" { 0.25 } else { 1.0 };
    let q = |v: Vec<f64>| v.into_iter().map(S::from_f64).collect::<Vec<S>>();
    let w = q(data(seed, I * O, s));
    let b = q(data(seed + 1, O, 0.5 * s));
    let x = q(data(seed + 2, B * I, 2.0 * s));
    let dy = q(data(seed + 3, B * O, s));
    let labels: Vec<usize> = data(seed + 4, B, 1.0)
        .iter()
        .map(|u| ((u + 1.0) / 2.0 * O as f64) as usize % O)
        .collect();
    let mut layer = edgetune::nn::Dense::<S, I, O>::zeroed();
    for (row, src) in layer.weights.iter_mut().zip(w.chunks_exact(I)) {
        row.copy_from_slice(src);
    }
    layer.bias.copy_from_slice(&b);
    let mut grads = edgetune::nn::Dense::<S, I, O>::zeroed();
    let (mut ys, mut hs, mut dhs, mut dxs, mut losses, mut dzs) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for k in 0..B {
        let xk: [S; I] = x[k * I..(k + 1) * I].try_into().expect("I");
        let dyk: [S; O] = dy[k * O..(k + 1) * O].try_into().expect("O");
        let mut y = [S::ZERO; O];
        layer.forward(&xk, &mut y);
        let mut h = [S::ZERO; O];
        edgetune::nn::Activation::forward(&edgetune::nn::Relu, &y, &mut h);
        let mut dh = [S::ZERO; O];
        edgetune::nn::Activation::backward(&edgetune::nn::Relu, &h, &dyk, &mut dh);
        let mut dz = [S::ZERO; O];
        let loss = edgetune::nn::softmax_cross_entropy(&y, labels[k], &mut dz).expect("label");
        let mut dx = [S::ZERO; I];
        layer.backward(&xk, &dyk, Some(&mut grads), Some(&mut dx));
        ys.extend(y);
        hs.extend(h);
        dhs.extend(dh);
        dzs.extend(dz);
        dxs.extend(dx);
        losses.push(loss);
    }
    let bits = |v: &[S]| v.iter().map(|s| s.param_bits()).collect::<Vec<Value>>();
    json!({
        "dtype": S::NAME, "inputs": I, "outputs": O, "batch": B,
        "w": bits(&w), "b": bits(&b), "x": bits(&x), "dy": bits(&dy), "labels": labels,
        "y": bits(&ys), "relu": bits(&hs), "relu_backward": bits(&dhs),
        "loss": bits(&losses), "dlogits": bits(&dzs),
        "dw": bits(grads.weights.as_flattened()), "db": bits(&grads.bias), "dx": bits(&dxs),
    })
}

fn layer_cases<S: Dt>(out: &mut Vec<Value>) {
    out.push(layer_case::<S, 64, 32>(101));
    out.push(layer_case::<S, 32, 10>(102));
    out.push(layer_case::<S, 3, 5>(103));
    out.push(layer_case::<S, 17, 1>(104));
    out.push(layer_case::<S, 5, 4>(105));
}

/// A convolution-family layer of the conv cases, with the keywords the Python binding takes
/// for it (the binding rebuilds the shape from these and the arrays' sizes).
enum ConvSpec {
    Conv2d(Conv2dShape),
    Conv1d(Conv1dShape),
    Pointwise(Conv2dShape),
    MaxPool2d(Pool2dShape),
    AvgPool2d(Pool2dShape, bool),
    MaxPool1d(Pool1dShape),
    AvgPool1d(Pool1dShape, bool),
    Gap { h: usize, w: usize, c: usize },
}

/// One conv case: a batch of `B` samples through the `nn` layer in `S`, forward per sample,
/// backward with `dW`, `db` accumulated over the batch from zero, `dx` per sample, and (for a
/// convolution) the input gradient alone.
fn conv_case<S: Dt>(name: &str, spec: &ConvSpec, kwargs: Value, seed: u64) -> Value {
    const B: usize = 2;
    // The 16-bit format holds (-8, 8): smaller data keep these sums inside it.
    let sc = if S::NAME == "I4F12" { 0.25 } else { 1.0 };
    let q = |v: Vec<f64>| v.into_iter().map(S::from_f64).collect::<Vec<S>>();
    // (w elements, b elements, x per sample, y per sample, numpy shapes of w, x and y samples)
    let (nw, nb, nx, ny, w_shape, x_dims, y_dims): (
        _,
        _,
        _,
        _,
        Vec<usize>,
        Vec<usize>,
        Vec<usize>,
    ) = match *spec {
        ConvSpec::Conv2d(s) => (
            s.weights(),
            s.out_c,
            s.input_len(),
            s.output_len(),
            vec![s.out_c, s.kh, s.kw, s.in_c_per_group()],
            vec![s.in_h, s.in_w, s.in_c],
            vec![s.out_h(), s.out_w(), s.out_c],
        ),
        ConvSpec::Pointwise(s) => (
            s.weights(),
            s.out_c,
            s.input_len(),
            s.output_len(),
            vec![s.out_c, s.in_c],
            vec![s.in_h, s.in_w, s.in_c],
            vec![s.out_h(), s.out_w(), s.out_c],
        ),
        ConvSpec::Conv1d(s) => (
            s.weights(),
            s.out_c,
            s.input_len(),
            s.output_len(),
            vec![s.out_c, s.k, s.in_c / s.groups],
            vec![s.len, s.in_c],
            vec![s.out_len(), s.out_c],
        ),
        ConvSpec::MaxPool2d(s) | ConvSpec::AvgPool2d(s, _) => (
            0,
            0,
            s.input_len(),
            s.output_len(),
            vec![],
            vec![s.in_h, s.in_w, s.c],
            vec![s.out_h(), s.out_w(), s.c],
        ),
        ConvSpec::MaxPool1d(s) | ConvSpec::AvgPool1d(s, _) => (
            0,
            0,
            s.input_len(),
            s.output_len(),
            vec![],
            vec![s.len, s.c],
            vec![s.out_len(), s.c],
        ),
        ConvSpec::Gap { h, w, c } => (0, 0, h * w * c, c, vec![], vec![h, w, c], vec![c]),
    };
    let w = q(data(seed, nw, sc));
    let b = q(data(seed + 1, nb, 0.5 * sc));
    let x = q(data(seed + 2, B * nx, 2.0 * sc));
    let dy = q(data(seed + 3, B * ny, sc));
    let (mut y, mut dx, mut dx_input) = (vec![S::ZERO; B * ny], vec![S::ZERO; B * nx], vec![]);
    let (mut dw, mut db) = (vec![S::ZERO; nw], vec![S::ZERO; nb]);
    for k in 0..B {
        let (xk, dyk) = (&x[k * nx..(k + 1) * nx], &dy[k * ny..(k + 1) * ny]);
        let (yk, dxk) = (&mut y[k * ny..(k + 1) * ny], &mut dx[k * nx..(k + 1) * nx]);
        let g = Some((&mut dw[..], &mut db[..]));
        let mut alone = vec![S::ZERO; nx];
        match *spec {
            ConvSpec::Conv2d(s) => {
                conv2d::forward(&s, &w, &b, xk, yk).expect("conv2d");
                conv2d::backward(&s, &w, xk, dyk, g, Some(dxk)).expect("conv2d");
                conv2d::backward_input(&s, &w, dyk, &mut alone).expect("conv2d");
            }
            ConvSpec::Conv1d(s) => {
                conv1d::forward(&s, &w, &b, xk, yk).expect("conv1d");
                conv1d::backward(&s, &w, xk, dyk, g, Some(dxk)).expect("conv1d");
                conv2d::backward_input(&s.to_2d(), &w, dyk, &mut alone).expect("conv1d");
            }
            ConvSpec::Pointwise(s) => {
                pointwise::forward(&s, &w, &b, xk, yk).expect("pointwise");
                pointwise::backward(&s, &w, xk, dyk, g, Some(dxk)).expect("pointwise");
                pointwise::backward_input(&s, &w, dyk, &mut alone).expect("pointwise");
            }
            ConvSpec::MaxPool2d(s) => {
                max_pool::forward(&s, xk, yk).expect("max_pool2d");
                max_pool::backward(&s, xk, dyk, dxk).expect("max_pool2d");
            }
            ConvSpec::AvgPool2d(s, inc) => {
                avg_pool::forward(&s, inc, xk, yk).expect("avg_pool2d");
                avg_pool::backward(&s, inc, dyk, dxk).expect("avg_pool2d");
            }
            ConvSpec::MaxPool1d(s) => {
                max_pool::forward_1d(&s, xk, yk).expect("max_pool1d");
                max_pool::backward_1d(&s, xk, dyk, dxk).expect("max_pool1d");
            }
            ConvSpec::AvgPool1d(s, inc) => {
                avg_pool::forward_1d(&s, inc, xk, yk).expect("avg_pool1d");
                avg_pool::backward_1d(&s, inc, dyk, dxk).expect("avg_pool1d");
            }
            ConvSpec::Gap { h, w: wd, c } => {
                global_avg_pool::forward(h * wd, c, xk, yk).expect("gap");
                global_avg_pool::backward(h * wd, c, dyk, dxk).expect("gap");
            }
        }
        if nw > 0 {
            dx_input.extend(alone);
        }
    }
    let layer = match spec {
        ConvSpec::Conv2d(_) => "conv2d",
        ConvSpec::Conv1d(_) => "conv1d",
        ConvSpec::Pointwise(_) => "pointwise",
        ConvSpec::MaxPool2d(_) => "max_pool2d",
        ConvSpec::AvgPool2d(..) => "avg_pool2d",
        ConvSpec::MaxPool1d(_) => "max_pool1d",
        ConvSpec::AvgPool1d(..) => "avg_pool1d",
        ConvSpec::Gap { .. } => "global_avg_pool",
    };
    let with_batch = |d: &[usize]| [&[B][..], d].concat();
    let bits = |v: &[S]| v.iter().map(|s| s.param_bits()).collect::<Vec<Value>>();
    json!({
        "layer": layer, "name": name, "dtype": S::NAME, "kwargs": kwargs,
        "w_shape": w_shape, "x_shape": with_batch(&x_dims), "y_shape": with_batch(&y_dims),
        "w": bits(&w), "b": bits(&b), "x": bits(&x), "dy": bits(&dy),
        "y": bits(&y), "dw": bits(&dw), "db": bits(&db), "dx": bits(&dx),
        "dx_input": bits(&dx_input),
    })
}

fn conv_cases<S: Dt>(out: &mut Vec<Value>) {
    let sym = Padding::symmetric;
    let asym = |before, after| Padding { before, after };
    let specs: [(&str, ConvSpec, Value); 12] = [
        (
            "conv2d 3x3 stride 2 SAME groups 2",
            ConvSpec::Conv2d(
                Conv2dShape::new(7, 6, 4, 6, 3, 3)
                    .stride(2, 2)
                    .same()
                    .groups(2),
            ),
            json!({"stride_h": 2, "stride_w": 2, "pad_h": "same", "pad_w": "same", "groups": 2}),
        ),
        (
            "conv2d depthwise 3x3 pad 1 (8 channels)",
            ConvSpec::Conv2d(
                Conv2dShape::new(4, 5, 8, 8, 3, 3)
                    .pad(sym(1), sym(1))
                    .groups(8),
            ),
            json!({"pad_h": 1, "pad_w": 1, "groups": 8}),
        ),
        (
            "conv2d depthwise x2 2x3 stride (2,1) asymmetric pad",
            ConvSpec::Conv2d(
                Conv2dShape::new(5, 4, 3, 6, 2, 3)
                    .stride(2, 1)
                    .pad(asym(0, 1), asym(1, 0))
                    .groups(3),
            ),
            json!({"stride_h": 2, "pad_h": [0, 1], "pad_w": [1, 0], "groups": 3}),
        ),
        (
            "conv2d 4x3 stride 2 SAME, 1 input channel",
            ConvSpec::Conv2d(Conv2dShape::new(11, 6, 1, 5, 4, 3).stride(2, 2).same()),
            json!({"stride_h": 2, "stride_w": 2, "pad_h": "same", "pad_w": "same"}),
        ),
        (
            "conv1d k3 stride 2 pad 1",
            ConvSpec::Conv1d(Conv1dShape::new(10, 3, 4, 3).stride(2).pad(sym(1))),
            json!({"stride": 2, "pad": 1}),
        ),
        (
            "conv1d depthwise x2 k4 SAME",
            ConvSpec::Conv1d(Conv1dShape::new(9, 3, 6, 4).same().groups(3)),
            json!({"pad": "same", "groups": 3}),
        ),
        (
            "pointwise 1x1",
            ConvSpec::Pointwise(Conv2dShape::new(3, 4, 5, 3, 1, 1)),
            json!({}),
        ),
        (
            "max_pool2d 3x3 stride 2 pad 1",
            ConvSpec::MaxPool2d(
                Pool2dShape::new(6, 6, 2, 3, 3)
                    .stride(2, 2)
                    .pad(sym(1), sym(1)),
            ),
            json!({"kh": 3, "kw": 3, "stride_h": 2, "stride_w": 2, "pad_h": 1, "pad_w": 1}),
        ),
        (
            "avg_pool2d 3x3 stride 2 SAME exclude pad",
            ConvSpec::AvgPool2d(Pool2dShape::new(6, 5, 2, 3, 3).stride(2, 2).same(), false),
            json!({"kh": 3, "kw": 3, "stride_h": 2, "stride_w": 2, "pad_h": "same",
                   "pad_w": "same", "count_include_pad": false}),
        ),
        (
            "max_pool1d k3 stride 2 pad 1",
            ConvSpec::MaxPool1d(Pool1dShape::new(9, 2, 3).stride(2).pad(sym(1))),
            json!({"k": 3, "stride": 2, "pad": 1}),
        ),
        (
            "avg_pool1d k3 stride 1 pad 1 include pad",
            ConvSpec::AvgPool1d(Pool1dShape::new(8, 3, 3).stride(1).pad(sym(1)), true),
            json!({"k": 3, "stride": 1, "pad": 1}),
        ),
        (
            "global_avg_pool 5x4x3",
            ConvSpec::Gap { h: 5, w: 4, c: 3 },
            json!({}),
        ),
    ];
    for (i, (name, spec, kwargs)) in specs.into_iter().enumerate() {
        out.push(conv_case::<S>(name, &spec, kwargs, 301 + i as u64 * 10));
    }
}

/// One activation case: `x` through the static `Activation::forward` on an `[S; N]` array,
/// then `backward` from its output with `dy`.
fn activation_case<S: Dt, A: Activation<S>, const N: usize>(
    name: &str,
    kwargs: Value,
    a: A,
    x: &[S; N],
    dy: &[S; N],
) -> Value {
    let (mut y, mut dx) = ([S::ZERO; N], [S::ZERO; N]);
    a.forward(x, &mut y);
    a.backward(&y, dy, &mut dx);
    let bits = |v: &[S]| v.iter().map(|s| s.param_bits()).collect::<Vec<Value>>();
    json!({
        "activation": name, "dtype": S::NAME, "kwargs": kwargs,
        "x": bits(x), "dy": bits(dy), "y": bits(&y), "dx": bits(&dx),
    })
}

/// The activation cases: `N` inputs (with 0, 6 and both sides of them) per activation.
fn activation_cases<S: Dt>(out: &mut Vec<Value>) {
    const N: usize = 28;
    // The 16-bit format holds (-8, 8).
    let sc = if S::NAME == "I4F12" { 7.5 } else { 9.0 };
    let mut xs = data(401, N - 4, sc);
    xs.extend([0.0, 6.0, -0.0625, 6.0625]);
    let dys = data(402, N, 1.0);
    let x: [S; N] = core::array::from_fn(|i| S::from_f64(xs[i]));
    let dy: [S; N] = core::array::from_fn(|i| S::from_f64(dys[i]));
    let leaky = LeakyRelu::<S>::new(0.2).expect("slope");
    out.push(activation_case("relu6", json!({}), Relu6, &x, &dy));
    out.push(activation_case(
        "leaky_relu",
        json!({"negative_slope": 0.2}),
        leaky,
        &x,
        &dy,
    ));
    out.push(activation_case("sigmoid", json!({}), Sigmoid, &x, &dy));
    out.push(activation_case("tanh", json!({}), Tanh, &x, &dy));
}

/// An I16F16 weight file of a 3-5-2 MLP written by the library's writer, with its raw words.
fn weight_file() -> Value {
    let shapes = [(3usize, 5usize), (5, 2)];
    let raw: Vec<i32> = data(201, 3 * 5 + 5 + 5 * 2 + 2, 3.0)
        .into_iter()
        .map(|v| I16F16::from_f64(v).to_bits())
        .collect();
    let mut file = vec![0u8; edgetune::io::weights::encoded_len(&shapes).expect("len")];
    edgetune::io::weights::write_raw(
        edgetune::io::weights::NumberType::I16F16,
        &shapes,
        &raw,
        &mut file,
    )
    .expect("write");
    let hex: String = file.iter().map(|b| format!("{b:02x}")).collect();
    json!({ "dtype": "I16F16", "shapes": shapes, "raw": raw, "hex": hex })
}

fn main() {
    let mut layers = Vec::new();
    layer_cases::<f32>(&mut layers);
    layer_cases::<I16F16>(&mut layers);
    layer_cases::<I8F24>(&mut layers);
    layer_cases::<I4F12>(&mut layers);
    let mut convs = Vec::new();
    conv_cases::<f32>(&mut convs);
    conv_cases::<I16F16>(&mut convs);
    conv_cases::<I8F24>(&mut convs);
    conv_cases::<I4F12>(&mut convs);
    let mut activations = Vec::new();
    activation_cases::<f32>(&mut activations);
    activation_cases::<I16F16>(&mut activations);
    activation_cases::<I8F24>(&mut activations);
    activation_cases::<I4F12>(&mut activations);
    let mut all = Vec::new();
    cases::<f32>(&mut all);
    cases::<I16F16>(&mut all);
    cases::<I8F24>(&mut all);
    cases::<I4F12>(&mut all);
    let count = all.len();
    let text = serde_json::to_string(&json!({
        "schema": "edgetune-pyexpect/v1",
        "generator": "cargo run --release --example pyexpect (static [S; N] optimizers)",
        "cases": all,
        "config_errors": errors(),
        "step_errors": step_errors(),
        "layers": layers,
        "conv": convs,
        "activations": activations,
        "weight_file": weight_file(),
    }))
    .expect("JSON")
        + "\n";
    if std::env::args().any(|a| a == "--check") {
        let old = std::fs::read_to_string(PATH).unwrap_or_default();
        if old != text {
            eprintln!("{PATH} is not what this example writes: rerun it without --check");
            std::process::exit(1);
        }
        println!("{PATH}: {count} cases, up to date");
    } else {
        std::fs::write(PATH, text).expect("write the fixture");
        println!("{PATH}: {count} cases written");
    }
}
