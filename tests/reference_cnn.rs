//! The plain f64 reference CNN (`edgetune::reference::cnn`): its backward pass against central finite
//! differences (every parameter and every input element) on small networks covering every layer kind and
//! option, its forward pass against hand arithmetic (OHWI order, padding sides, groups, the max-pool tie
//! rule, `count_include_pad`, SAME padding), typed shape errors, the flat torch-order round trip, the
//! training modes and a training step.
//!
//! # Finite-difference tolerance
//! `common::numeric_gradient` takes `(L(p + h) − L(p − h)) / 2h` with `h = common::FD_STEP = 1e-6`. It
//! differs from `∂L/∂p` by
//! - truncation `h²/6 · |L'''| ≈ 1.7e-13 · |L'''|`; with weights in `[-0.5, 0.5]`, inputs in `[-1, 1]` and
//!   smooth activations, `|L'''|` is of order 1 to 10 here, so `≲ 2e-12`; plus
//! - rounding `δ/h`, with `δ` the absolute rounding error of one loss evaluation. The largest network below
//!   does about 2 000 multiply-adds of terms of size ≤ 5 on the path to the loss, so `δ ≲ 2000 · 5 · 1.1e-16
//!   ≈ 1.1e-12` in the worst (all errors aligned) case, and `δ/h ≲ 1.1e-6`; random rounding errors partly
//!   cancel (≈ √2000 · 5 · 1.1e-16 / h ≈ 2.5e-8).
//!
//! Hence `common::FD_TOL = 1e-6`, applied as `|analytic − numeric| ≤ FD_TOL · max(1, |analytic|)`
//! (`common::assert_gradient`); the measured worst errors are printed
//! (`cargo test --release --test reference_cnn -- --nocapture`) and are ~1e-9.
//!
//! The ReLU, LeakyReLU and ReLU6 kinks and max-pool argmax switches make `L` non-differentiable on a null
//! set; every drawn point is checked to keep each kinked pre-activation and each max-pool window's runner-up
//! at least `MARGIN = 1e-3` away. One step `h` moves any pre-activation by at most `h · Σ|∂z/∂p| ≲ 1e-6 · 10`,
//! a hundred times less, so no difference straddles a kink.

// Hand-written expectations index several slices with the same index, as on paper.
#![allow(clippy::needless_range_loop)]

mod common;

use common::{assert_gradient, numeric_gradient, Rng};
use edgetune::reference::cnn::{same_padding, RefCnn, RefLayer};
use edgetune::reference::network::{RefActivation, RefNetError, RefTarget};
use edgetune::reference::{Hyper, Kind};

/// Minimum distance of every kinked pre-activation from its kink, and of every max-pool window's largest
/// input from the others (see the module docs).
const MARGIN: f64 = 1e-3;

/// Mode `train`: weights and bias train.
const TRAIN: (bool, bool) = (true, true);
/// Mode `bias`: only the bias (BatchNorm: shift) trains.
const BIAS: (bool, bool) = (false, true);
/// Mode `frozen`.
const FROZEN: (bool, bool) = (false, false);

type Spec = Vec<(RefLayer, RefActivation, bool, bool)>;

fn l(layer: RefLayer, act: RefActivation) -> (RefLayer, RefActivation, bool, bool) {
    (layer, act, true, true)
}

fn lm(
    layer: RefLayer,
    act: RefActivation,
    mode: (bool, bool),
) -> (RefLayer, RefActivation, bool, bool) {
    (layer, act, mode.0, mode.1)
}

use RefActivation::{LeakyRelu, Relu, Relu6, Sigmoid, Tanh};
const NONE: RefActivation = RefActivation::None;

/// Random parameters: weights and biases in `[-0.5, 0.5)`, BatchNorm scale in `[0.5, 1.5)`, plus `offset`
/// added to every bias (to move ReLU6 pre-activations into its linear part).
fn random_params(net: &RefCnn, rng: &mut Rng, bias_offset: f64) -> Vec<f64> {
    let mut flat = Vec::new();
    for layer in net.layers() {
        let (nw, nb) = layer.param_counts();
        let is_bn = matches!(layer, RefLayer::BatchNorm { .. });
        for _ in 0..nw {
            flat.push(if is_bn {
                1.0 + rng.uniform(0.5)
            } else {
                rng.uniform(0.5)
            });
        }
        for _ in 0..nb {
            flat.push(rng.uniform(0.5) + bias_offset);
        }
    }
    flat
}

/// Whether `net` at `x` keeps every kink and max-pool switch at least [`MARGIN`] away.
fn away_from_kinks(net: &RefCnn, x: &[f64]) -> bool {
    let z = net.pre_activations(x).unwrap();
    let acts = net.activations();
    let shapes = net.shapes();
    for k in 0..net.layers().len() {
        for &v in &z[k] {
            let near = |kink: f64| (v - kink).abs() < MARGIN;
            let bad = match acts[k] {
                RefActivation::Relu | RefActivation::LeakyRelu(_) => near(0.0),
                RefActivation::Relu6 => near(0.0) || near(6.0),
                _ => false,
            };
            if bad {
                return false;
            }
        }
        if let RefLayer::MaxPool {
            kh,
            kw,
            stride_h,
            stride_w,
            pad_top,
            pad_left,
            ..
        } = net.layers()[k]
        {
            // This layer's input: x, or the previous layer's activated output.
            let input: Vec<f64> = if k == 0 {
                x.to_vec()
            } else {
                z[k - 1].iter().map(|&v| acts[k - 1].apply(v)).collect()
            };
            let [h, w, c] = shapes[k];
            let [oh_n, ow_n, _] = shapes[k + 1];
            for oh in 0..oh_n {
                for ow in 0..ow_n {
                    for ch in 0..c {
                        let mut vals = Vec::new();
                        for ki in 0..kh {
                            for kj in 0..kw {
                                let ih = (oh * stride_h + ki) as isize - pad_top as isize;
                                let iw = (ow * stride_w + kj) as isize - pad_left as isize;
                                if ih >= 0 && iw >= 0 && (ih as usize) < h && (iw as usize) < w {
                                    vals.push(input[(ih as usize * w + iw as usize) * c + ch]);
                                }
                            }
                        }
                        let m = vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                        let mut ties = 0;
                        for &v in &vals {
                            if v == m {
                                ties += 1;
                            } else if m - v < MARGIN {
                                return false;
                            }
                        }
                        // An exact tie is harmless only at a clipped value (ReLU's 0, ReLU6's 0 or 6): the
                        // pre-activations behind it are at least MARGIN inside the flat part.
                        if ties > 1 && m != 0.0 && m != 6.0 {
                            return false;
                        }
                    }
                }
            }
        }
    }
    true
}

/// The worst scaled errors `(parameters, input)` of one configuration.
struct Worst {
    params: f64,
    input: f64,
    /// The network and input checked.
    net: RefCnn,
    x: Vec<f64>,
}

/// Builds `spec` on `input`, draws parameters and an input away from every kink, and checks the gradients
/// of the loss against `target` w.r.t. every parameter and every input element.
fn gradcheck(name: &str, input: [usize; 3], spec: Spec, target: RefTarget, seed: u64) -> Worst {
    gradcheck_offset(name, input, spec, target, seed, 0.0, 1.0)
}

fn gradcheck_offset(
    name: &str,
    input: [usize; 3],
    spec: Spec,
    target: RefTarget,
    seed: u64,
    bias_offset: f64,
    x_scale: f64,
) -> Worst {
    let mut net = RefCnn::new(input, spec).unwrap();
    let mut rng = Rng(seed);
    let mut tries = 0;
    let x = loop {
        let p = random_params(&net, &mut rng, bias_offset);
        net.load_flat(&p).unwrap();
        let x = rng.vec(net.inputs(), x_scale);
        if away_from_kinks(&net, &x) {
            break x;
        }
        tries += 1;
        assert!(tries < 1000, "{name}: no draw away from the kinks");
    };
    let (loss, grads, dx) = net.loss_and_grads_unmasked(&x, &target).unwrap();
    assert!(loss.is_finite());
    assert_eq!(grads.len(), net.num_params());
    assert_eq!(dx.len(), net.inputs());

    let p0 = net.to_flat();
    let f_params = |p: &[f64]| {
        let mut n = net.clone();
        n.load_flat(p).unwrap();
        n.loss(&x, &target).unwrap()
    };
    let f_input = |xi: &[f64]| net.loss(xi, &target).unwrap();
    let num_p = numeric_gradient(&f_params, &p0);
    let num_x = numeric_gradient(&f_input, &x);
    let params = assert_gradient(&format!("{name} params"), &grads, &num_p);
    let input = assert_gradient(&format!("{name} input"), &dx, &num_x);
    Worst {
        params,
        input,
        net,
        x,
    }
}

#[test]
fn gradients_match_finite_differences() {
    let mut worst_p: f64 = 0.0;
    let mut worst_x: f64 = 0.0;
    let mut record = |w: Worst| {
        worst_p = worst_p.max(w.params);
        worst_x = worst_x.max(w.input);
        (w.net, w.x)
    };

    // 1. 1-D conv, symmetric padding, tanh; 1-D max pool; flatten; dense; cross-entropy.
    record(gradcheck(
        "conv1d+maxpool1d+flatten+dense, CE",
        [1, 8, 2],
        vec![
            l(RefLayer::conv1d(2, 3, 3, 1, (1, 1), 1), Tanh),
            l(RefLayer::max_pool1d(2, 2, (0, 0)), NONE),
            l(RefLayer::Flatten, NONE),
            l(
                RefLayer::Dense {
                    inputs: 12,
                    outputs: 3,
                },
                NONE,
            ),
        ],
        RefTarget::Class(1),
        1,
    ));

    // 2. 1-D conv, stride 2, TF SAME padding (odd element after), ReLU; padded 1-D avg pool; global avg
    //    pool; dense; MSE.
    let (sl, sr) = same_padding(9, 4, 2);
    assert_eq!((sl, sr), (1, 2));
    record(gradcheck(
        "conv1d stride 2 SAME+avgpool1d pad+gap+dense, MSE",
        [1, 9, 3],
        vec![
            l(RefLayer::conv1d(3, 4, 4, 2, (sl, sr), 1), Relu),
            l(RefLayer::avg_pool1d(3, 1, (1, 1)), NONE),
            l(RefLayer::GlobalAvgPool, NONE),
            l(
                RefLayer::Dense {
                    inputs: 4,
                    outputs: 2,
                },
                NONE,
            ),
        ],
        RefTarget::Values(vec![0.3, -0.2]),
        2,
    ));

    // 3. 2-D conv, non-square kernel, asymmetric padding (top 0, bottom 2, left 1, right 0), LeakyReLU;
    //    global avg pool; dense; CE.
    record(gradcheck(
        "conv2d asym pad+gap+dense, CE",
        [5, 4, 2],
        vec![
            l(
                RefLayer::conv2d(2, 3, (3, 2), (1, 1), (0, 2, 1, 0), 1),
                LeakyRelu(0.1),
            ),
            l(RefLayer::GlobalAvgPool, NONE),
            l(
                RefLayer::Dense {
                    inputs: 3,
                    outputs: 3,
                },
                NONE,
            ),
        ],
        RefTarget::Class(2),
        3,
    ));

    // 4. 2-D conv, stride 2, SAME, sigmoid; 2-D max pool with bottom/right padding; flatten; dense; CE.
    let (pt, pb) = same_padding(7, 3, 2);
    let (pl, pr) = same_padding(6, 3, 2);
    record(gradcheck(
        "conv2d stride 2 SAME+maxpool2d pad+dense, CE",
        [7, 6, 1],
        vec![
            l(
                RefLayer::conv2d(1, 4, (3, 3), (2, 2), (pt, pb, pl, pr), 1),
                Sigmoid,
            ),
            // 4 × 3 → windows 2 × 2, stride 2, one padding column on the right: 2 × 2.
            l(RefLayer::max_pool2d((2, 2), (2, 2), (0, 0, 0, 1)), NONE),
            l(RefLayer::Flatten, NONE),
            l(
                RefLayer::Dense {
                    inputs: 16,
                    outputs: 2,
                },
                NONE,
            ),
        ],
        RefTarget::Class(0),
        4,
    ));

    // 5. Depthwise 2-D conv with channel multiplier 2 (groups = in_c = 3, out_c = 6), ReLU6 (biases moved
    //    to ~3 so most pre-activations are in its linear part); pointwise conv; gap; dense; MSE.
    record(gradcheck_offset(
        "depthwise x2 conv2d relu6+pointwise+gap+dense, MSE",
        [4, 5, 3],
        vec![
            l(
                RefLayer::conv2d(3, 6, (3, 3), (1, 1), (1, 1, 1, 1), 3),
                Relu6,
            ),
            l(
                RefLayer::conv2d(6, 2, (1, 1), (1, 1), (0, 0, 0, 0), 1),
                NONE,
            ),
            l(RefLayer::GlobalAvgPool, NONE),
            l(
                RefLayer::Dense {
                    inputs: 2,
                    outputs: 3,
                },
                NONE,
            ),
        ],
        RefTarget::Values(vec![0.1, 0.5, -0.4]),
        5,
        3.0,
        1.0,
    ));

    // 6. Grouped (not depthwise) conv, groups 2; batch norm with ReLU; padded 2-D avg pool with
    //    overlapping windows; flatten; dense; CE.
    record(gradcheck(
        "grouped conv2d+batchnorm relu+avgpool2d pad+dense, CE",
        [3, 4, 4],
        vec![
            l(
                RefLayer::conv2d(4, 6, (2, 2), (1, 1), (0, 0, 0, 0), 2),
                Tanh,
            ),
            l(RefLayer::BatchNorm { channels: 6 }, Relu),
            // 2 × 3 → windows 2 × 2, stride 1, one padding row above and column left: 2 × 3.
            l(RefLayer::avg_pool2d((2, 2), (1, 1), (1, 0, 1, 0)), NONE),
            l(RefLayer::Flatten, NONE),
            l(
                RefLayer::Dense {
                    inputs: 36,
                    outputs: 3,
                },
                NONE,
            ),
        ],
        RefTarget::Class(1),
        6,
    ));

    // 7. Batch norm on the input; 1-D depthwise conv (multiplier 1); padded, overlapping 1-D max pool;
    //    gap; dense; CE.
    record(gradcheck(
        "batchnorm+depthwise conv1d+maxpool1d pad+gap+dense, CE",
        [1, 10, 3],
        vec![
            l(RefLayer::BatchNorm { channels: 3 }, NONE),
            l(RefLayer::conv1d(3, 3, 3, 1, (1, 1), 3), Tanh),
            l(RefLayer::max_pool1d(3, 2, (1, 1)), NONE),
            l(RefLayer::GlobalAvgPool, NONE),
            l(
                RefLayer::Dense {
                    inputs: 3,
                    outputs: 4,
                },
                NONE,
            ),
        ],
        RefTarget::Class(3),
        7,
    ));

    // 8. Dense directly after a conv (the flatten is implied), two dense layers; MSE.
    record(gradcheck(
        "conv2d+dense (implied flatten)+dense, MSE",
        [3, 3, 2],
        vec![
            l(
                RefLayer::conv2d(2, 2, (2, 2), (1, 1), (0, 0, 0, 0), 1),
                Sigmoid,
            ),
            l(
                RefLayer::Dense {
                    inputs: 8,
                    outputs: 3,
                },
                Tanh,
            ),
            l(
                RefLayer::Dense {
                    inputs: 3,
                    outputs: 2,
                },
                NONE,
            ),
        ],
        RefTarget::Values(vec![0.5, -0.5]),
        8,
    ));

    // 9. Two 2-D convs, overlapping padded 3 × 3 max pool (stride 1), 2-D avg pool, dense; CE.
    record(gradcheck(
        "conv2d x2+maxpool2d 3x3 s1 pad+avgpool2d+dense, CE",
        [5, 5, 2],
        vec![
            l(
                RefLayer::conv2d(2, 3, (3, 3), (1, 1), (1, 1, 1, 1), 1),
                LeakyRelu(0.2),
            ),
            l(
                RefLayer::conv2d(3, 3, (2, 2), (1, 1), (0, 1, 0, 1), 1),
                Tanh,
            ),
            l(RefLayer::max_pool2d((3, 3), (1, 1), (1, 1, 1, 1)), NONE),
            l(RefLayer::avg_pool2d((2, 2), (2, 2), (0, 0, 0, 0)), NONE),
            l(
                RefLayer::Dense {
                    inputs: 12,
                    outputs: 3,
                },
                NONE,
            ),
        ],
        RefTarget::Class(2),
        9,
    ));

    // 10. ReLU6 on both flat parts: inputs up to ±20 push pre-activations below 0 and above 6.
    let (net, x) = record(gradcheck_offset(
        "conv1d relu6 both sides+dense, MSE",
        [1, 6, 2],
        vec![
            l(RefLayer::conv1d(2, 4, 2, 1, (0, 0), 1), Relu6),
            l(
                RefLayer::Dense {
                    inputs: 20,
                    outputs: 2,
                },
                Tanh,
            ),
        ],
        RefTarget::Values(vec![0.2, 0.1]),
        10,
        3.0,
        20.0,
    ));
    let z = &net.pre_activations(&x).unwrap()[0];
    let below = z.iter().filter(|&&v| v < 0.0).count();
    let inside = z.iter().filter(|&&v| v > 0.0 && v < 6.0).count();
    let above = z.iter().filter(|&&v| v > 6.0).count();
    println!("relu6 pre-activations: {below} below 0, {inside} inside, {above} above 6");
    assert!(below > 0 && inside > 0 && above > 0);

    // 11. 1-D grouped conv (groups 2), stride 3, asymmetric padding (2, 0), then ReLU into max pool (exact
    //     ties at 0 are allowed: both sides are flat); dense; CE.
    record(gradcheck(
        "conv1d groups 2 stride 3 pad (2,0) relu+maxpool1d+dense, CE",
        [1, 11, 4],
        vec![
            l(RefLayer::conv1d(4, 4, 3, 3, (2, 0), 2), Relu),
            l(RefLayer::max_pool1d(2, 2, (0, 1)), NONE),
            l(
                RefLayer::Dense {
                    inputs: 8,
                    outputs: 3,
                },
                NONE,
            ),
        ],
        RefTarget::Class(0),
        11,
    ));

    // 12. Batch norm with sigmoid after a stride-(2, 1) conv, then dense; MSE with one output.
    record(gradcheck(
        "conv2d stride (2,1)+batchnorm sigmoid+dense, MSE",
        [5, 3, 2],
        vec![
            l(
                RefLayer::conv2d(2, 3, (2, 3), (2, 1), (0, 1, 1, 1), 1),
                NONE,
            ),
            l(RefLayer::BatchNorm { channels: 3 }, Sigmoid),
            l(
                RefLayer::Dense {
                    inputs: 27,
                    outputs: 1,
                },
                NONE,
            ),
        ],
        RefTarget::Values(vec![0.7]),
        12,
    ));

    println!(
        "worst scaled error over all configurations: params {worst_p:.2e}, input {worst_x:.2e}"
    );
}

/// Frozen and bias-only layers: `loss_and_grads` is the unmasked gradient with exact zeros where the mask
/// is false; the input gradient does not depend on the modes.
#[test]
fn masked_gradients_are_the_unmasked_ones_with_zeros_where_frozen() {
    let spec = vec![
        lm(
            RefLayer::conv2d(2, 4, (3, 3), (1, 1), (1, 1, 1, 1), 2),
            Tanh,
            FROZEN,
        ),
        lm(RefLayer::BatchNorm { channels: 4 }, NONE, TRAIN),
        lm(
            RefLayer::max_pool2d((2, 2), (2, 2), (0, 0, 0, 0)),
            NONE,
            FROZEN,
        ),
        lm(
            RefLayer::Dense {
                inputs: 16,
                outputs: 3,
            },
            NONE,
            BIAS,
        ),
    ];
    let mut net = RefCnn::new([4, 4, 2], spec).unwrap();
    let mut rng = Rng(42);
    let p = random_params(&net, &mut rng, 0.0);
    net.load_flat(&p).unwrap();
    let x = rng.vec(net.inputs(), 1.0);
    let t = RefTarget::Class(1);
    let (l1, full, dx1) = net.loss_and_grads_unmasked(&x, &t).unwrap();
    let (l2, masked, dx2) = net.loss_and_grads(&x, &t).unwrap();
    assert_eq!(l1, l2);
    assert_eq!(dx1, dx2);
    let mask = net.trainable_mask();
    for i in 0..full.len() {
        if mask[i] {
            assert_eq!(masked[i], full[i], "element {i}");
        } else {
            assert_eq!(masked[i], 0.0, "element {i}");
        }
    }
    // The unmasked gradient of the frozen conv is not all zero (so the mask did something).
    assert!(full[..2 * 3 * 3 + 4].iter().any(|&g| g != 0.0));
    // Fully trainable, the same network gives the same unmasked gradient.
    let mut all = net.clone();
    for k in 0..4 {
        all.set_mode(k, true, true);
    }
    let (_, full_all, _) = all.loss_and_grads(&x, &t).unwrap();
    assert_eq!(full_all, full);
}

#[test]
fn trainable_mask_matches_the_modes() {
    // conv 2→4 k3 groups 2: 4·3·3·1 = 36 weights + 4 bias; bn 4: 4 + 4; pool: none; dense 16→3: 48 + 3.
    let spec = vec![
        lm(
            RefLayer::conv2d(2, 4, (3, 3), (1, 1), (1, 1, 1, 1), 2),
            Relu,
            BIAS,
        ),
        lm(RefLayer::BatchNorm { channels: 4 }, NONE, TRAIN),
        lm(
            RefLayer::avg_pool2d((2, 2), (2, 2), (0, 0, 0, 0)),
            NONE,
            TRAIN,
        ),
        lm(
            RefLayer::Dense {
                inputs: 16,
                outputs: 3,
            },
            NONE,
            FROZEN,
        ),
    ];
    let net = RefCnn::new([4, 4, 2], spec).unwrap();
    assert_eq!(net.num_params(), 36 + 4 + 4 + 4 + 48 + 3);
    let mut expected = Vec::new();
    expected.extend([false; 36]);
    expected.extend([true; 4]);
    expected.extend([true; 8]);
    expected.extend([false; 51]);
    assert_eq!(net.trainable_mask(), expected);
    assert_eq!(net.num_trainable(), 12);
    assert_eq!(net.trainable_params().len(), 12);
    assert_eq!(net.modes(), vec![BIAS, TRAIN, TRAIN, FROZEN]);
    assert_eq!(net.weight_shapes(), vec![(9, 4), (1, 4), (16, 3)]);

    // BN-affine-only fine-tuning: every batch_norm `train`, everything else frozen.
    let spec = vec![
        lm(RefLayer::conv1d(1, 2, 3, 1, (1, 1), 1), Relu, FROZEN),
        lm(RefLayer::BatchNorm { channels: 2 }, NONE, TRAIN),
        lm(
            RefLayer::Dense {
                inputs: 10,
                outputs: 2,
            },
            NONE,
            FROZEN,
        ),
    ];
    let net = RefCnn::new([1, 5, 1], spec).unwrap();
    let mask = net.trainable_mask();
    let trained: Vec<usize> = (0..mask.len()).filter(|&i| mask[i]).collect();
    // conv: 6 weights + 2 bias = indices 0..8; bn: 8..12.
    assert_eq!(trained, vec![8, 9, 10, 11]);
}

#[test]
fn set_trainable_params_and_train_step_touch_only_trainable_elements() {
    let spec = vec![
        lm(RefLayer::conv1d(2, 3, 2, 1, (0, 1), 1), Tanh, BIAS),
        lm(RefLayer::BatchNorm { channels: 3 }, NONE, TRAIN),
        lm(RefLayer::GlobalAvgPool, NONE, TRAIN),
        lm(
            RefLayer::Dense {
                inputs: 3,
                outputs: 2,
            },
            NONE,
            FROZEN,
        ),
    ];
    let mut net = RefCnn::new([1, 4, 2], spec).unwrap();
    let mut rng = Rng(7);
    let p = random_params(&net, &mut rng, 0.0);
    net.load_flat(&p).unwrap();
    let mask = net.trainable_mask();

    let xs = vec![rng.vec(8, 1.0), rng.vec(8, 1.0), rng.vec(8, 1.0)];
    let ts = vec![
        RefTarget::Class(0),
        RefTarget::Class(1),
        RefTarget::Class(1),
    ];
    // The batch gradient is the mean of the per-sample ones, and so is the loss.
    let (batch_loss, batch_grads) = net.batch_loss_and_grads(&xs, &ts).unwrap();
    let mut mean_loss = 0.0;
    let mut mean = vec![0.0; net.num_params()];
    for s in 0..3 {
        let (loss, g, _) = net.loss_and_grads(&xs[s], &ts[s]).unwrap();
        mean_loss += loss / 3.0;
        for i in 0..mean.len() {
            mean[i] += g[i] / 3.0;
        }
    }
    assert!((batch_loss - mean_loss).abs() <= 1e-15);
    for i in 0..mean.len() {
        assert!((batch_grads[i] - mean[i]).abs() <= 1e-15, "element {i}");
    }

    // One SGD step: p − lr·g on trainable elements, nothing else moves.
    let hyper = Hyper {
        lr: 0.1,
        ..Hyper::defaults(Kind::Sgd)
    };
    let mut opt = net.optimizer(Kind::Sgd, hyper);
    assert_eq!(opt.n, net.num_trainable());
    let loss = net.train_step(&mut opt, &xs, &ts).unwrap();
    assert_eq!(loss, batch_loss);
    let after = net.to_flat();
    for i in 0..p.len() {
        if mask[i] {
            assert_eq!(after[i], p[i] - 0.1 * batch_grads[i], "element {i}");
        } else {
            assert_eq!(after[i], p[i], "frozen element {i} moved");
        }
    }

    // set_trainable_params writes trainable elements in flat order; a wrong length changes nothing.
    let values: Vec<f64> = (0..net.num_trainable()).map(|i| i as f64).collect();
    net.set_trainable_params(&values).unwrap();
    assert_eq!(net.trainable_params(), values);
    let flat = net.to_flat();
    assert_eq!(
        net.set_trainable_params(&values[1..]),
        Err(RefNetError::LengthMismatch {
            what: "trainable parameters",
            expected: values.len(),
            found: values.len() - 1,
        })
    );
    assert_eq!(net.to_flat(), flat);

    // A wrong optimizer size is refused, and nothing changes.
    let mut wrong = edgetune::reference::Reference::new(Kind::Sgd, hyper, 1);
    assert!(matches!(
        net.train_step(&mut wrong, &xs, &ts),
        Err(RefNetError::Optimizer(_))
    ));
    assert_eq!(net.to_flat(), flat);

    // Training decreases the loss and accuracy is a fraction.
    net.set_mode(3, true, true);
    let mut opt_all = net.optimizer(Kind::Adam, Hyper::defaults(Kind::Adam));
    let first = net.batch_loss_and_grads(&xs, &ts).unwrap().0;
    for _ in 0..200 {
        net.train_step(&mut opt_all, &xs, &ts).unwrap();
    }
    let last = net.batch_loss_and_grads(&xs, &ts).unwrap().0;
    assert!(last < first, "{last} !< {first}");
    let acc = net.accuracy(&xs, &[0, 1, 1]).unwrap();
    assert!((0.0..=1.0).contains(&acc));
}

#[test]
fn flat_round_trip_and_order() {
    let spec = vec![
        l(
            RefLayer::conv2d(2, 4, (2, 3), (1, 1), (0, 0, 1, 1), 2),
            Relu,
        ),
        l(RefLayer::BatchNorm { channels: 4 }, NONE),
        l(RefLayer::max_pool2d((1, 2), (1, 2), (0, 0, 0, 0)), NONE),
        l(RefLayer::Flatten, NONE),
        l(
            RefLayer::Dense {
                inputs: 2 * 2 * 4,
                outputs: 3,
            },
            NONE,
        ),
    ];
    let mut net = RefCnn::new([3, 4, 2], spec.clone()).unwrap();
    assert_eq!(
        net.shapes(),
        &[
            [3, 4, 2],
            [2, 4, 4],
            [2, 4, 4],
            [2, 2, 4],
            [1, 1, 16],
            [1, 1, 3]
        ]
    );
    // conv: 4·2·3·1 + 4 = 28; bn: 8; dense: 48 + 3.
    assert_eq!(net.num_params(), 28 + 8 + 51);
    let flat: Vec<f64> = (0..net.num_params())
        .map(|i| i as f64 * 0.25 - 3.0)
        .collect();
    net.load_flat(&flat).unwrap();
    assert_eq!(net.to_flat(), flat);
    let again = RefCnn::from_flat([3, 4, 2], spec, &flat).unwrap();
    assert_eq!(again, net);
    // A wrong length is refused and changes nothing.
    assert_eq!(
        net.load_flat(&flat[1..]),
        Err(RefNetError::LengthMismatch {
            what: "parameters",
            expected: flat.len(),
            found: flat.len() - 1,
        })
    );
    assert_eq!(net.to_flat(), flat);
}

/// A one-layer network with MSE against zeros: `forward` is the layer, and `loss_and_grads`' input gradient
/// with `dL/dy = 2y/N` checks the backward routing.
fn single(input: [usize; 3], layer: RefLayer, flat: &[f64]) -> RefCnn {
    RefCnn::from_flat(input, vec![l(layer, NONE)], flat).unwrap()
}

#[test]
fn conv_forward_by_hand() {
    // 1-D, k 2, stride 2, padding (1, 0): padded [0, 1, 2, 3, 4]; W = [1, 10] (OHWI [o][0][kj][ci]), b 0.5.
    let net = single(
        [1, 4, 1],
        RefLayer::conv1d(1, 1, 2, 2, (1, 0), 1),
        &[1.0, 10.0, 0.5],
    );
    assert_eq!(
        net.forward(&[1.0, 2.0, 3.0, 4.0]).unwrap(),
        vec![0.0 + 10.0 + 0.5, 2.0 + 30.0 + 0.5]
    );
    // Padding after only: (0, 1) → windows [1,2], [3,4]; out len (4 + 1 − 2)/2 + 1 = 2.
    let net = single(
        [1, 4, 1],
        RefLayer::conv1d(1, 1, 2, 2, (0, 1), 1),
        &[1.0, 10.0, 0.0],
    );
    assert_eq!(
        net.forward(&[1.0, 2.0, 3.0, 4.0]).unwrap(),
        vec![21.0, 43.0]
    );

    // Channels-last and OHWI: 1 × 2 input with 2 channels, kernel 1 × 2, one output. Weight index
    // (kj·C_in + ci): W[0][0][0][0] = 1, [0][0][0][1] = 2, [0][0][1][0] = 3, [0][0][1][1] = 4.
    // x[(w)·2 + c]: x[0][0] = 10, x[0][1] = 20, x[1][0] = 30, x[1][1] = 40.
    let net = single(
        [1, 2, 2],
        RefLayer::conv2d(2, 1, (1, 2), (1, 1), (0, 0, 0, 0), 1),
        &[1.0, 2.0, 3.0, 4.0, 0.0],
    );
    assert_eq!(
        net.forward(&[10.0, 20.0, 30.0, 40.0]).unwrap(),
        vec![10.0 + 40.0 + 90.0 + 160.0]
    );

    // Rows are H: a 2 × 1 kernel over a 2 × 1 input, W[0][ki][0][0] = [1, 100].
    let net = single(
        [2, 1, 1],
        RefLayer::conv2d(1, 1, (2, 1), (1, 1), (0, 0, 0, 0), 1),
        &[1.0, 100.0, 0.0],
    );
    assert_eq!(net.forward(&[3.0, 5.0]).unwrap(), vec![503.0]);

    // Groups: 4 → 4, groups 2, 1 × 1: output o uses input channels of group o / 2; W[o] = [1, 10].
    let net = single(
        [1, 1, 4],
        RefLayer::conv2d(4, 4, (1, 1), (1, 1), (0, 0, 0, 0), 2),
        &[
            1.0, 10.0, 1.0, 10.0, 1.0, 10.0, 1.0, 10.0, 0.0, 0.0, 0.0, 0.0,
        ],
    );
    assert_eq!(
        net.forward(&[1.0, 2.0, 3.0, 4.0]).unwrap(),
        vec![21.0, 21.0, 43.0, 43.0]
    );
    // Depthwise, multiplier 2: 2 → 4, groups 2; W[o] = o + 1; outputs 0, 1 read channel 0, outputs 2, 3
    // channel 1.
    let net = single(
        [1, 1, 2],
        RefLayer::conv2d(2, 4, (1, 1), (1, 1), (0, 0, 0, 0), 2),
        &[1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0],
    );
    assert_eq!(
        net.forward(&[5.0, 7.0]).unwrap(),
        vec![5.0, 10.0, 21.0, 28.0]
    );
}

#[test]
fn pools_batch_norm_dense_by_hand() {
    // Max pool tie: the first maximum gets the gradient. MSE against 0 on one output: dL/dy = 2y.
    let net = single([1, 4, 1], RefLayer::max_pool1d(4, 4, (0, 0)), &[]);
    let x = [1.0, 3.0, 3.0, 0.0];
    assert_eq!(net.forward(&x).unwrap(), vec![3.0]);
    let (_, _, dx) = net
        .loss_and_grads(&x, &RefTarget::Values(vec![0.0]))
        .unwrap();
    assert_eq!(dx, vec![0.0, 6.0, 0.0, 0.0]);
    // Padding never wins, even over negative inputs.
    let net = single([1, 2, 1], RefLayer::max_pool1d(2, 1, (1, 1)), &[]);
    assert_eq!(net.forward(&[-2.0, -1.0]).unwrap(), vec![-2.0, -1.0, -1.0]);
    // 2-D windows are row-major: on a 2 × 2 tie the top-right element is first after the top-left.
    let net = single(
        [2, 2, 1],
        RefLayer::max_pool2d((2, 2), (2, 2), (0, 0, 0, 0)),
        &[],
    );
    let (_, _, dx) = net
        .loss_and_grads(&[0.0, 5.0, 5.0, 5.0], &RefTarget::Values(vec![0.0]))
        .unwrap();
    assert_eq!(dx, vec![0.0, 10.0, 0.0, 0.0]);

    // Avg pool counts padding: [pad, 3] / 2 and [6, 9] / 2.
    let net = single([1, 3, 1], RefLayer::avg_pool1d(2, 2, (1, 0)), &[]);
    assert_eq!(net.forward(&[3.0, 6.0, 9.0]).unwrap(), vec![1.5, 7.5]);

    // Global average pool, channels-last: 2 pixels × 2 channels.
    let net = single([1, 2, 2], RefLayer::GlobalAvgPool, &[]);
    assert_eq!(
        net.forward(&[1.0, 10.0, 3.0, 30.0]).unwrap(),
        vec![2.0, 20.0]
    );

    // Batch norm: scale then shift, per channel (channels-last).
    let net = single(
        [1, 2, 2],
        RefLayer::BatchNorm { channels: 2 },
        &[2.0, 3.0, 0.5, -1.0],
    );
    assert_eq!(
        net.forward(&[1.0, 1.0, 2.0, 2.0]).unwrap(),
        vec![2.5, 2.0, 4.5, 5.0]
    );

    // Dense on a [1, 2, 2] map reads it flat in HWC order; W row-major [O][I].
    let net = single(
        [1, 2, 2],
        RefLayer::Dense {
            inputs: 4,
            outputs: 2,
        },
        &[1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 1.0, 0.5, -0.5],
    );
    assert_eq!(
        net.forward(&[1.0, 10.0, 100.0, 1000.0]).unwrap(),
        vec![1.0 + 20.0 + 300.0 + 4000.0 + 0.5, 1000.0 - 0.5]
    );
}

#[test]
fn relu6_follows_torch_at_the_kinks() {
    let a = RefActivation::Relu6;
    assert_eq!(a.apply(-1.0), 0.0);
    assert_eq!(a.apply(2.5), 2.5);
    assert_eq!(a.apply(7.0), 6.0);
    assert_eq!(a.derivative(0.0), 0.0);
    assert_eq!(a.derivative(6.0), 0.0);
    assert_eq!(a.derivative(1e-9), 1.0);
    assert_eq!(a.derivative(6.0 - 1e-9), 1.0);
    assert_eq!(a.derivative(-1.0), 0.0);
    assert_eq!(a.derivative(7.0), 0.0);
}

#[test]
fn same_padding_is_tensorflows() {
    // DS-CNN's first layer: 49 × 10, kernel 10 × 4, stride 2 → 4 before and 5 after in time, 1 and 1.
    assert_eq!(same_padding(49, 10, 2), (4, 5));
    assert_eq!(same_padding(10, 4, 2), (1, 1));
    assert_eq!(same_padding(9, 4, 1), (1, 2));
    assert_eq!(same_padding(25, 3, 1), (1, 1));
    assert_eq!(same_padding(5, 1, 1), (0, 0));
    assert_eq!(same_padding(7, 2, 2), (0, 1));
    assert_eq!(same_padding(4, 3, 0), (0, 0));
}

#[test]
fn bad_shapes_give_typed_errors() {
    let conv =
        |in_c, out_c, k, groups| l(RefLayer::conv1d(in_c, out_c, k, 1, (0, 0), groups), NONE);
    let err = |input: [usize; 3], spec: Spec| RefCnn::new(input, spec).unwrap_err();

    assert_eq!(err([1, 8, 2], vec![]), RefNetError::NoLayers);
    assert!(matches!(
        err([1, 0, 2], vec![conv(2, 2, 1, 1)]),
        RefNetError::InvalidLayer { layer: 0, .. }
    ));
    // in_c not the incoming C (layer 1 gets 3 channels from layer 0).
    assert_eq!(
        err([1, 8, 2], vec![conv(2, 3, 3, 1), conv(2, 3, 3, 1)]),
        RefNetError::Shape {
            layer: 1,
            expected: 3,
            found: 2
        }
    );
    // groups does not divide the channels; zero groups.
    assert!(matches!(
        err([1, 8, 4], vec![conv(4, 6, 3, 4)]),
        RefNetError::InvalidLayer { layer: 0, .. }
    ));
    assert!(matches!(
        err([1, 8, 4], vec![conv(4, 4, 3, 0)]),
        RefNetError::InvalidLayer { layer: 0, .. }
    ));
    // Kernel larger than the (padded) input; zero kernel; zero stride.
    assert!(matches!(
        err([1, 8, 2], vec![conv(2, 2, 3, 1), conv(2, 2, 7, 1)]),
        RefNetError::InvalidLayer { layer: 1, .. }
    ));
    assert!(matches!(
        err([1, 8, 2], vec![conv(2, 2, 0, 1)]),
        RefNetError::InvalidLayer { layer: 0, .. }
    ));
    assert!(matches!(
        err(
            [1, 8, 2],
            vec![l(RefLayer::conv1d(2, 2, 2, 0, (0, 0), 1), NONE)]
        ),
        RefNetError::InvalidLayer { layer: 0, .. }
    ));
    // A 2-D kernel taller than the input.
    assert!(matches!(
        err(
            [2, 8, 1],
            vec![l(
                RefLayer::conv2d(1, 1, (3, 1), (1, 1), (0, 0, 0, 0), 1),
                NONE
            )]
        ),
        RefNetError::InvalidLayer { layer: 0, .. }
    ));
    // Batch norm channels.
    assert_eq!(
        err(
            [1, 8, 2],
            vec![
                conv(2, 3, 1, 1),
                l(RefLayer::BatchNorm { channels: 2 }, NONE)
            ]
        ),
        RefNetError::Shape {
            layer: 1,
            expected: 3,
            found: 2
        }
    );
    // Pool padding not smaller than the window; window larger than the input.
    assert!(matches!(
        err([1, 8, 2], vec![l(RefLayer::max_pool1d(2, 2, (2, 0)), NONE)]),
        RefNetError::InvalidLayer { layer: 0, .. }
    ));
    assert!(matches!(
        err(
            [1, 8, 2],
            vec![
                conv(2, 2, 1, 1),
                l(RefLayer::avg_pool1d(3, 1, (0, 3)), NONE)
            ]
        ),
        RefNetError::InvalidLayer { layer: 1, .. }
    ));
    assert!(matches!(
        err([1, 3, 2], vec![l(RefLayer::max_pool1d(4, 4, (0, 0)), NONE)]),
        RefNetError::InvalidLayer { layer: 0, .. }
    ));
    // Dense inputs not H·W·C (after a 1-D conv of 8 → 6 positions × 3 channels = 18).
    assert_eq!(
        err(
            [1, 8, 2],
            vec![
                conv(2, 3, 3, 1),
                l(
                    RefLayer::Dense {
                        inputs: 16,
                        outputs: 2
                    },
                    NONE
                )
            ]
        ),
        RefNetError::Shape {
            layer: 1,
            expected: 18,
            found: 16
        }
    );

    // The shape errors convert into the crate's error types.
    let e: edgetune::Error = RefNetError::InvalidLayer {
        layer: 2,
        reason: "x",
    }
    .into();
    assert_eq!(e, edgetune::Error::Nn(edgetune::nn::NnError::InvalidShape));

    // Run-time errors: input length, NaN input, class out of range, target length.
    let net = RefCnn::new([1, 4, 1], vec![conv(1, 2, 4, 1)]).unwrap();
    assert_eq!(
        net.forward(&[0.0; 3]),
        Err(RefNetError::LengthMismatch {
            what: "input",
            expected: 4,
            found: 3
        })
    );
    assert!(matches!(
        net.forward(&[0.0, f64::NAN, 0.0, 0.0]),
        Err(RefNetError::InvalidInput { index: 1, .. })
    ));
    assert_eq!(
        net.loss(&[0.0; 4], &RefTarget::Class(2)),
        Err(RefNetError::ClassOutOfRange {
            class: 2,
            outputs: 2
        })
    );
    assert!(matches!(
        net.loss(&[0.0; 4], &RefTarget::Values(vec![0.0])),
        Err(RefNetError::LengthMismatch {
            what: "target values",
            ..
        })
    ));
    assert_eq!(
        net.batch_loss_and_grads(&[], &[]),
        Err(RefNetError::EmptyBatch)
    );
}
