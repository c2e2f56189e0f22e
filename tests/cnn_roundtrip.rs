//! PyTorch → `scripts/export_model.py` → `.etw` + `cnn!` declaration → edgetune, end to end.
//!
//! `scripts/gen_cnn_roundtrip.py` builds two seeded torch CNNs (batch norm in eval mode with
//! random running statistics), exports them with `scripts/export_model.py` and writes
//! `tests/data/cnn-roundtrip-{1d-full,1d-affine,2d-full}.{etw,rs}` and
//! `tests/data/cnn-roundtrip.json` (see `scripts/README.md`). Each `.rs` file is the exporter's
//! declaration, `include!`d as is; the weights come only through
//! `io::weights::parse(bytes, Net::<f32>::WEIGHT_SHAPES)` → `load_into` → `import`.
//!
//! The logits are compared with torch's under a bound derived from the sum lengths. With unit
//! roundoff `u` (`2^-24` for `f32`, `2^-53` for `f64`) and `γ_n = n·u/(1 − n·u)`, an evaluation
//! of the network whose longest accumulation chain is `n` rounded terms is within
//! `γ_n · m` of the exact value, where `m` is the same network run on absolute values
//! (`|x|`, `|W|`, `|b|`, activations dropped; the JSON's `magnitude`). The chain is the sum over
//! the layers on the path of their largest term count: a convolution `K·C_in/G + 1`, a dense
//! layer `I + 1`, a batch-norm line 2, an average pool `n + 2`; ReLU, ReLU6 and max pooling are
//! exact and 1-Lipschitz. Each model's chain is written out below as that sum
//! (`cargo test --test cnn_roundtrip -- --nocapture` prints every max |Δ| with its bound).

use edgetune::io::weights::{self, NumberType};
use edgetune::nn::{Network, Scalar};
use serde_json::Value;

include!("data/cnn-roundtrip-1d-full.rs");
include!("data/cnn-roundtrip-1d-affine.rs");
include!("data/cnn-roundtrip-2d-full.rs");

/// Unit roundoff of binary32.
const U32: f64 = f32::EPSILON as f64 / 2.0;
/// Unit roundoff of binary64.
const U64: f64 = f64::EPSILON / 2.0;

/// Higham's `γ_n = n·u / (1 − n·u)`.
fn gamma(n: usize, u: f64) -> f64 {
    let nu = n as f64 * u;
    assert!(nu < 0.5);
    nu / (1.0 - nu)
}

fn data() -> Value {
    let v: Value = serde_json::from_str(include_str!("data/cnn-roundtrip.json")).unwrap();
    assert_eq!(v["schema"], "cnn-roundtrip/v1");
    v
}

fn case(name: &str) -> Value {
    data()["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no model {name} in cnn-roundtrip.json"))
        .clone()
}

fn matrix(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

fn count(v: &Value, key: &str) -> usize {
    v[key].as_u64().unwrap_or_else(|| panic!("missing {key}")) as usize
}

/// The `.etw` file's `f32` parameters, through the public loader and the network's shapes.
fn load_etw(bytes: &[u8], shapes: &[(usize, usize)], params: usize) -> Vec<f32> {
    let file = weights::parse(bytes, shapes).expect("the .etw fits the declaration");
    assert_eq!(file.number_type(), NumberType::F32);
    assert_eq!(file.len(), params);
    let mut arena = vec![0.0f32; params];
    file.load_into(&mut arena).unwrap();
    arena
}

/// The logits of `net` for the channels-last input `x`, as `f64`.
fn logits<S: Scalar, N: Network<S>>(net: &N, x: &[f64]) -> Vec<f64> {
    let xs: Vec<S> = x.iter().map(|&v| S::try_from_f64(v).unwrap()).collect();
    let mut out = vec![S::from_f64(0.0); N::OUTPUTS];
    net.forward_into(&xs, &mut out).unwrap();
    out.iter().map(|v| v.to_f64()).collect()
}

/// Largest `|got − want|` and the bound `factor · m` at that element; panics on the first
/// element over its bound.
fn compare(what: &str, got: &[f64], want: &[f64], m: &[f64], factor: f64, worst: &mut (f64, f64)) {
    assert_eq!(got.len(), want.len(), "{what}: output count");
    for (k, ((g, w), m)) in got.iter().zip(want).zip(m).enumerate() {
        let d = (g - w).abs();
        let bound = factor * m;
        assert!(
            d <= bound,
            "{what}: logit {k}: edgetune {g}, torch {w}, |Δ| {d:e} > bound {bound:e}"
        );
        if d > worst.0 {
            *worst = (d, bound);
        }
    }
}

/// One model: the declaration, the file and the logits.
///
/// `chain` is the longest accumulation chain written out as a sum (see the module docs); the
/// test checks it against the generator's.
macro_rules! roundtrip {
    ($test:ident, $net:ident, $name:literal, chain = $chain:expr) => {
        #[test]
        fn $test() {
            let case = case($name);
            let params = count(&case, "params");
            let chain: usize = $chain;
            assert_eq!(chain, count(&case, "chain"), "chain written here vs generator");
            // Rounded parameters on a path: each folded or batch-norm value is rounded to f32
            // once, at most one per parameterised layer.
            let rounded = count(&case, "param_layers");
            // torch evaluates each folded batch norm as two more operations (·scale, +shift).
            let torch_extra = 2 * count(&case, "folded_bn");

            // The declaration matches the file: layer shapes and parameter count.
            let shapes: Vec<(usize, usize)> = matrix(&case["shapes"])
                .iter()
                .map(|s| (s[0] as usize, s[1] as usize))
                .collect();
            assert_eq!($net::<f32>::WEIGHT_SHAPES, shapes.as_slice());
            assert_eq!(<$net<f32> as Network<f32>>::PARAMS, params);
            assert_eq!(
                <$net<f32> as Network<f32>>::INPUTS,
                case["input_shape"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap() as usize)
                    .product::<usize>()
            );
            assert_eq!(
                <$net<f32> as Network<f32>>::OUTPUTS,
                count(&case, "outputs")
            );

            let bytes = include_bytes!(concat!("data/cnn-roundtrip-", $name, ".etw"));
            let w32 = load_etw(bytes, $net::<f32>::WEIGHT_SHAPES, params);
            let mut net32 = Box::new($net::<f32>::zeroed());
            Network::import(&mut *net32, &w32).unwrap();
            // import/export is the identity on the file's values.
            let mut back = vec![0.0f32; params];
            Network::export(&*net32, &mut back).unwrap();
            assert!(back.iter().zip(&w32).all(|(a, b)| a.to_bits() == b.to_bits()));
            // f64: the same f32 values, exactly.
            let w64: Vec<f64> = w32.iter().map(|&v| f64::from(v)).collect();
            let mut net64 = Box::new($net::<f64>::zeroed());
            Network::import(&mut *net64, &w64).unwrap();

            let inputs = matrix(&case["inputs"]);
            let t32 = matrix(&case["logits_f32"]);
            let t64 = matrix(&case["logits_f64"]);
            let orig64 = matrix(&case["logits_orig_f64"]);
            let mag = matrix(&case["magnitude"]);
            assert!(!inputs.is_empty());
            let (mut w64_64, mut w32_64, mut w32_orig, mut w32_32) =
                ((0.0, 0.0), (0.0, 0.0), (0.0, 0.0), (0.0, 0.0));
            for (i, x) in inputs.iter().enumerate() {
                let y64 = logits::<f64, _>(&*net64, x);
                let y32 = logits::<f32, _>(&*net32, x);
                // f64 vs torch float64 on the same (f32-rounded, exported) operands: both
                // evaluations are within γ_chain(u64)·m of the exact value.
                let f64_bound = 2.0 * gamma(chain, U64);
                compare(&format!("{} f64 vs torch f64, sample {i}", $name), &y64, &t64[i], &mag[i], f64_bound, &mut w64_64);
                // f32 vs torch float64 on the same operands: edgetune's own rounding,
                // γ_chain(u32)·m, plus torch's float64 rounding.
                compare(&format!("{} f32 vs torch f64, sample {i}", $name), &y32, &t64[i], &mag[i], gamma(chain, U32) + f64_bound, &mut w32_64);
                // f32 vs the original (unfolded, unrounded) model in float64: add the f32
                // rounding of the folded / batch-norm parameters, one u per layer on the path.
                compare(&format!("{} f32 vs torch f64 original, sample {i}", $name), &y32, &orig64[i], &mag[i], gamma(chain + rounded, U32) + f64_bound, &mut w32_orig);
                // f32 vs torch float32 on the original model: both sides' float32 rounding
                // (torch's chain has two more terms per folded batch norm) and the parameter
                // rounding: 2·γ_{chain + layers + 2·folded}(u32)·m.
                compare(&format!("{} f32 vs torch f32, sample {i}", $name), &y32, &t32[i], &mag[i], 2.0 * gamma(chain + rounded + torch_extra, U32), &mut w32_32);
            }
            println!(
                "{:>9}: chain {chain}, {} samples; max |Δ| (bound there): f64 vs torch f64 {:.2e} ({:.2e}); \
                 f32 vs torch f64 {:.2e} ({:.2e}); f32 vs original f64 {:.2e} ({:.2e}); f32 vs torch f32 {:.2e} ({:.2e})",
                $name,
                inputs.len(),
                w64_64.0, w64_64.1, w32_64.0, w32_64.1, w32_orig.0, w32_orig.1, w32_32.0, w32_32.1
            );
        }
    };
}

// conv1d(6, 16, 5) + BN folded: 5·6 + 1 = 31; max_pool1d: 0; depthwise conv1d(k 3, 1 input
// channel per group): 3·1 + 1 = 4; pointwise conv1d(16, 24, 1): 16 + 1 = 17; global_avg_pool
// over 16 positions: 16 + 2 = 18; dense(24, 4): 24 + 1 = 25.
roundtrip!(
    roundtrip_1d_full,
    Roundtrip1dFull,
    "1d-full",
    chain = 31 + 4 + 17 + 18 + 25
);
// The same with the batch norm kept as a `batch_norm(16)` line: + 2 (·scale, +shift).
roundtrip!(
    roundtrip_1d_affine,
    Roundtrip1dAffine,
    "1d-affine",
    chain = 31 + 2 + 4 + 17 + 18 + 25
);
// conv2d(1, 8, 3) + BN folded: 3·3·1 + 1 = 10; conv2d(8, 16, 3, groups 4): 3·3·2 + 1 = 19;
// avg_pool2d(2): 4 + 2 = 6; dense(64, 10): 64 + 1 = 65.
roundtrip!(
    roundtrip_2d_full,
    Roundtrip2dFull,
    "2d-full",
    chain = 10 + 19 + 6 + 65
);

/// The declarations' fine-tuning modes: `full` trains everything, `affine` only the batch-norm
/// line's scale and shift.
#[test]
fn modes_of_the_exported_declarations() {
    assert_eq!(
        <Roundtrip1dFull<f32> as Network<f32>>::TRAINABLE,
        <Roundtrip1dFull<f32> as Network<f32>>::PARAMS
    );
    assert_eq!(<Roundtrip1dFull<f32> as Network<f32>>::FROZEN, 0);
    assert_eq!(<Roundtrip1dAffine<f32> as Network<f32>>::TRAINABLE, 2 * 16);
    assert_eq!(
        <Roundtrip1dAffine<f32> as Network<f32>>::FROZEN,
        <Roundtrip1dAffine<f32> as Network<f32>>::PARAMS - 2 * 16
    );
    assert_eq!(
        <Roundtrip2dFull<f32> as Network<f32>>::TRAINABLE,
        <Roundtrip2dFull<f32> as Network<f32>>::PARAMS
    );
}

/// A file is refused for another network's declaration (the layer table is checked).
#[test]
fn etw_files_are_not_interchangeable() {
    let one_d = include_bytes!("data/cnn-roundtrip-1d-full.etw");
    let two_d = include_bytes!("data/cnn-roundtrip-2d-full.etw");
    let affine = include_bytes!("data/cnn-roundtrip-1d-affine.etw");
    assert!(weights::parse(one_d, Roundtrip2dFull::<f32>::WEIGHT_SHAPES).is_err());
    assert!(weights::parse(two_d, Roundtrip1dFull::<f32>::WEIGHT_SHAPES).is_err());
    assert!(weights::parse(affine, Roundtrip1dFull::<f32>::WEIGHT_SHAPES).is_err());
    assert!(weights::parse(one_d, Roundtrip1dAffine::<f32>::WEIGHT_SHAPES).is_err());
}
