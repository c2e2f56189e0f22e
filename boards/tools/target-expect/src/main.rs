//! Writes `boards/common-data/target_expect.rs`: the inputs and the host's outputs of every case
//! the boards' on-target tests run (`boards/qemu-cortex-*/tests/`), as `u32` bit patterns.
//!
//! The inputs come from a fixed-seed [`Pcg32`] plus hand-picked edge values (zero, negative zero,
//! subnormal and 1-LSB values, large gradients, parameters next to the fixed-point range's ends),
//! so the file is the same on every run and every machine. The outputs are computed by the same
//! `cases.rs` the firmware runs, with the same edgetune, on the host (x86-64: SSE arithmetic,
//! edgetune's host `f32` square root). A library change that alters any result therefore changes
//! this file: `scripts/embedded.sh` regenerates it into a temporary file and fails if it differs
//! from the committed one, so the regenerated file must come in the same commit.
//!
//! Usage (from this directory): `cargo run --release` rewrites the committed file;
//! `cargo run --release -- FILE` writes `FILE` instead.
mod cases;

use cases::*;
use edgetune::num::fixed::{I16F16, I4F12, I8F24};
use edgetune::num::Scalar;
use edgetune::train::Pcg32;
use std::fmt::Write as _;

const OUT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../common-data/target_expect.rs"
);
/// The seed of every input.
const SEED: u64 = 0x7a72_6765_7465_7870;

/// One number type's inputs: how values are drawn and which edge values it gets.
struct Kind {
    /// Module name in the generated file.
    module: &'static str,
    /// Human name.
    title: &'static str,
    /// `Pcg32` stream.
    stream: u64,
    /// Largest gradient magnitude drawn (log-uniform from 1e-4).
    grad_max: f64,
    /// The bits of 1 LSB (the smallest positive value used: a subnormal for `f32`).
    tiny: u32,
    /// A large gradient.
    big_grad: f64,
    /// A parameter close to the top of the range (pushed further up by a large negative
    /// gradient: saturation in fixed point).
    near_max: u32,
    /// A parameter close to the bottom of the range.
    near_min: u32,
    /// Negative zero (`f32`) or zero.
    neg_zero: u32,
    /// A large activation input (tanh and sigmoid saturate).
    big_x: f64,
}

const FLOAT: Kind = Kind {
    module: "float",
    title: "f32",
    stream: 1,
    grad_max: 1e2,
    tiny: 1, // the smallest subnormal
    big_grad: 1e3,
    near_max: 0x461c_4000, // 1e4
    near_min: 0xc61c_4000, // -1e4
    neg_zero: 0x8000_0000,
    big_x: 100.0,
};

const Q16: Kind = Kind {
    module: "q16",
    title: "I16F16",
    stream: 2,
    grad_max: 1e2,
    tiny: 1,
    big_grad: 1e3,
    near_max: 0x7fff_fffd,
    near_min: 0x8000_0003,
    neg_zero: 0,
    big_x: 20.0,
};

const Q24: Kind = Kind {
    module: "q24",
    title: "I8F24",
    stream: 3,
    grad_max: 10.0,
    tiny: 1,
    // Large, yet with momentum 0.9 the buffer stays inside ±128 over the four steps
    // (30·(1 + 0.9 + 0.81 + 0.729) = 103): a buffer beyond the format is refused with
    // `StepOverflow` (100 here reached -190 on step 2). SGD still pushes the parameters next to
    // the range's ends past them (lr·30 = 1.5 ≫ 3 LSB): the saturation is still covered.
    big_grad: 30.0,
    near_max: 0x7fff_fffd,
    near_min: 0x8000_0003,
    neg_zero: 0,
    big_x: 20.0,
};

const Q12: Kind = Kind {
    module: "q12",
    title: "I4F12",
    stream: 4,
    // The range is [-8, 8): gradients up to 4, a large one of 6 (with momentum 0.9 the I8F24
    // buffer reaches 6·3.44 = 21 over the four steps, inside ±128), and SGD still pushes the
    // parameters next to the range's ends past them (lr·6 = 0.3 ≫ 3 LSB): saturation covered.
    grad_max: 4.0,
    tiny: 1,
    big_grad: 6.0,
    near_max: 0x7ffd,
    near_min: 0xffff_8003,
    neg_zero: 0,
    big_x: 7.0,
};

/// Draws from one stream.
struct Draw(Pcg32);

impl Draw {
    /// Uniform in `[lo, hi)`.
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (f64::from(self.0.next_u32()) / 4_294_967_296.0)
    }
    /// Random sign, magnitude log-uniform in `[lo, hi)`.
    fn log_signed(&mut self, lo: f64, hi: f64) -> f64 {
        let (a, b) = (libm::log(lo), libm::log(hi));
        let m = libm::exp(a + (b - a) * self.uniform(0.0, 1.0));
        if self.0.next_u32() & 1 == 1 {
            -m
        } else {
            m
        }
    }
}

fn bits<S: CaseNum>(x: f64) -> u32 {
    <S as Scalar>::from_f64(x).to_u32()
}

/// Inputs and outputs of one number type, as named arrays.
struct Module {
    arrays: Vec<(String, String, Vec<u32>)>,
}

impl Module {
    fn push(&mut self, name: &str, doc: &str, words: Vec<u32>) {
        self.arrays.push((name.into(), doc.into(), words));
    }
}

type Case = fn(&[u32], &mut [u32]) -> Result<(), CaseError>;

fn run<F: Fn(&[u32], &mut [u32]) -> Result<(), CaseError>>(
    name: &str,
    len: usize,
    input: &[u32],
    f: F,
) -> Vec<u32> {
    let mut out = vec![0u32; len];
    if let Err(e) = f(input, &mut out) {
        panic!("case {name} failed on the host: {e:?}");
    }
    out
}

fn module<S: CaseNum>(k: &Kind) -> Module {
    let mut d = Draw(Pcg32::new(SEED, k.stream));
    let mut m = Module { arrays: Vec::new() };

    // Optimizers: parameters, then gradients step by step.
    let mut init: Vec<u32> = (0..N).map(|_| bits::<S>(d.uniform(-2.0, 2.0))).collect();
    init[0] = 0;
    init[1] = k.neg_zero;
    init[2] = k.tiny;
    init[3] = k.near_max;
    init[4] = k.near_min;
    let mut grads = Vec::with_capacity(STEPS * N);
    for s in 0..STEPS {
        let mut g: Vec<u32> = (0..N)
            .map(|_| bits::<S>(d.log_signed(1e-4, k.grad_max)))
            .collect();
        let sign = if s % 2 == 0 { 1.0 } else { -1.0 };
        g[3] = bits::<S>(-k.big_grad); // pushes the parameter near the top further up
        g[4] = bits::<S>(k.big_grad); // and the one near the bottom further down
        g[5] = 0;
        g[6] = if s % 2 == 0 { k.tiny } else { bits::<S>(0.0) };
        g[7] = bits::<S>(sign * k.big_grad);
        g[8] = bits::<S>(sign * 0.5);
        g[9] = k.tiny;
        grads.extend(g);
    }
    m.push(
        "OPT_INIT",
        "Parameters before the first optimizer step.",
        init.clone(),
    );
    m.push(
        "OPT_GRADS",
        "Gradients of each optimizer step, step by step.",
        grads.clone(),
    );
    for opt in Opt::ALL {
        let out = run(opt.name(), OPT_OUT, &init, |i, o| {
            run_opt::<S>(opt, false, i, &grads, o)
        });
        let doc = format!(
            "{opt:?}: the parameters after each step, then the rounding generator's state."
        );
        m.push(&format!("OPT_{}", opt.name()), &doc, out);
    }
    if k.module != "float" {
        for opt in [Opt::Sgd, Opt::Adam, Opt::Lion] {
            let out = run(opt.name(), OPT_OUT, &init, |i, o| {
                run_opt::<S>(opt, true, i, &grads, o)
            });
            let doc = format!("{opt:?} rounding to nearest: as `OPT_{}`.", opt.name());
            m.push(&format!("OPT_{}_NEAREST", opt.name()), &doc, out);
        }
    }

    // Dense layer.
    let mut dense_in = Vec::with_capacity(DENSE_IN);
    dense_in.extend((0..DI * DO).map(|_| bits::<S>(d.uniform(-1.0, 1.0))));
    dense_in.extend((0..DO).map(|_| bits::<S>(d.uniform(-0.5, 0.5))));
    for _ in 0..2 {
        let mut x: Vec<u32> = (0..DI).map(|_| bits::<S>(d.uniform(-2.0, 2.0))).collect();
        x[0] = 0;
        x[1] = k.tiny;
        x[2] = bits::<S>(3.0);
        dense_in.extend(x);
        dense_in.extend((0..DO).map(|_| bits::<S>(d.uniform(-1.0, 1.0))));
    }
    let out = run("dense", DENSE_OUT, &dense_in, run_dense::<S>);
    m.push(
        "DENSE_IN",
        "Dense layer: W (row by row), b, x1, dy1, x2, dy2.",
        dense_in,
    );
    m.push(
        "DENSE_OUT",
        "Dense layer: y = W x1 + b, dW, db (two backward passes), dx of the second.",
        out,
    );

    // Activations.
    let mut act_in: Vec<u32> = (0..ACT).map(|_| bits::<S>(d.uniform(-6.0, 6.0))).collect();
    act_in[0] = 0;
    act_in[1] = k.neg_zero;
    act_in[2] = k.tiny;
    act_in[3] = bits::<S>(k.big_x);
    act_in[4] = bits::<S>(-k.big_x);
    act_in[5] = bits::<S>(1e-3);
    act_in[6] = bits::<S>(-1e-3);
    act_in[7] = bits::<S>(17.0);
    act_in.extend((0..ACT).map(|_| bits::<S>(d.uniform(-1.0, 1.0))));
    let out = run("activations", ACT_OUT, &act_in, run_activations::<S>);
    m.push("ACT_IN", "Activations: x, dy.", act_in);
    m.push(
        "ACT_OUT",
        "Activations: tanh y, dx, then sigmoid y, dx.",
        out,
    );

    // Softmax cross-entropy: rows of growing scale, one row of equal logits.
    let mut ce_in = Vec::with_capacity(CE_IN);
    for scale in [1.0, 5.0, 0.0, 20.0, 40.0] {
        ce_in.extend((0..CLASSES).map(|_| bits::<S>(scale * d.uniform(-1.0, 1.0))));
    }
    let out = run("softmax_ce", CE_OUT, &ce_in, run_softmax_ce::<S>);
    m.push(
        "CE_IN",
        "Softmax cross-entropy: the logits of each row.",
        ce_in,
    );
    m.push(
        "CE_OUT",
        "Softmax cross-entropy: per row the loss, then dL/dz.",
        out,
    );

    // A training step of the network.
    let mut net_in: Vec<u32> = (0..NET_PARAMS)
        .map(|_| bits::<S>(d.uniform(-0.5, 0.5)))
        .collect();
    net_in.extend((0..NET_STEPS * NET_BATCH * NET_X).map(|_| bits::<S>(d.uniform(-1.0, 1.0))));
    let adam = run("net_adam", NET_OUT, &net_in, run_net_adam::<S>);
    let nesterov = run("net_nesterov", NET_OUT, &net_in, run_net_nesterov::<S>);
    m.push(
        "NET_IN",
        "Network: torch-order parameters, then the samples.",
        net_in,
    );
    m.push(
        "NET_ADAM_OUT",
        "Network with Adam: per step the losses then all parameters; then the rounding state.",
        adam,
    );
    m.push(
        "NET_NESTEROV_OUT",
        "Network with Nesterov momentum: as NET_ADAM_OUT.",
        nesterov,
    );

    // Convolutions: weights, bias, then two (x, dy) pairs; x with a zero and a 1-LSB value.
    let convs: [(&str, usize, usize, Case); 3] = [
        ("CONV1D", CONV1_IN, CONV1_OUT, run_conv1d::<S>),
        ("CONV2D", CONV2_IN, CONV2_OUT, run_conv2d::<S>),
        ("DWCONV2D", DWCONV_IN, DWCONV_OUT, run_dwconv2d::<S>),
    ];
    for (name, n_in, n_out, case) in convs {
        let mut input: Vec<u32> = (0..n_in).map(|_| bits::<S>(d.uniform(-1.0, 1.0))).collect();
        input[n_in / 2] = 0;
        input[n_in / 2 + 1] = k.tiny;
        let out = run(name, n_out, &input, case);
        m.push(
            &format!("{name}_IN"),
            &format!("{name}: W (OHWI), b, x1, dy1, x2, dy2."),
            input,
        );
        m.push(
            &format!("{name}_OUT"),
            &format!("{name}: y of x1, dW and db after two accumulated backward passes, dx of the second."),
            out,
        );
    }

    // Training steps of the cnn! network.
    let mut cnet_in: Vec<u32> = (0..CNET_PARAMS)
        .map(|_| bits::<S>(d.uniform(-0.5, 0.5)))
        .collect();
    cnet_in.extend((0..NET_STEPS * NET_BATCH * CNET_X).map(|_| bits::<S>(d.uniform(-1.5, 1.5))));
    let cnet = run("cnet", CNET_OUT, &cnet_in, run_cnet::<S>);
    m.push(
        "CNET_IN",
        "cnn! network: torch-order parameters, then the samples.",
        cnet_in,
    );
    m.push(
        "CNET_OUT",
        "cnn! network with Nesterov momentum: per step the losses then all parameters; then the rounding state.",
        cnet,
    );
    m
}

fn render(modules: &[(&Kind, Module)]) -> String {
    let mut s = String::new();
    s.push_str(
        "// @generated by boards/tools/target-expect (`cd boards/tools/target-expect && cargo run \
         --release`).\n\
         // Do not edit: scripts/embedded.sh regenerates it and fails if it differs.\n\
         //\n\
         // Inputs and host outputs of the on-target test cases (boards/tools/target-expect/src/\n\
         // cases.rs), as u32 bit patterns: f32::to_bits, or the two's complement bits of the\n\
         // fixed-point value. Included by boards/qemu-cortex-*/tests/*.rs.\n",
    );
    let _ = writeln!(
        s,
        "\n/// The seed of every input (`Pcg32::new(SEED, stream)`)."
    );
    let _ = writeln!(s, "pub const SEED: u64 = {SEED:#x};");
    for (k, m) in modules {
        let _ = writeln!(
            s,
            "\n/// {} cases (`Pcg32` stream {}).\npub mod {} {{",
            k.title, k.stream, k.module
        );
        for (name, doc, words) in &m.arrays {
            let _ = writeln!(s, "    /// {doc}");
            let _ = writeln!(s, "    pub static {name}: [u32; {}] = [", words.len());
            for line in words.chunks(8) {
                s.push_str("       ");
                for w in line {
                    let _ = write!(s, " {w:#010x},");
                }
                s.push('\n');
            }
            s.push_str("    ];\n");
        }
        s.push_str("}\n");
    }
    s
}

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| OUT.to_string());
    let modules = [
        (&FLOAT, module::<f32>(&FLOAT)),
        (&Q16, module::<I16F16>(&Q16)),
        (&Q24, module::<I8F24>(&Q24)),
        (&Q12, module::<I4F12>(&Q12)),
    ];
    let text = render(&modules);
    if let Err(e) = std::fs::write(&path, &text) {
        eprintln!("error: cannot write {path}: {e}");
        std::process::exit(1);
    }
    let words: usize = modules
        .iter()
        .flat_map(|(_, m)| m.arrays.iter().map(|a| a.2.len()))
        .sum();
    println!("wrote {path}: {words} words");
}
