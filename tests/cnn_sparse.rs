//! Sub-tensor sparse updates: `train(k)` trains the first `k` output channels of a layer
//! (weights and bias; a batch norm's scale and shift), `bias(k)` their biases only. The
//! gradients are the full network's at those positions bit for bit (the same sums in the same
//! order), they match central differences, and the optimizer holds state for them only.

mod common;

use common::{assert_gradient, numeric_gradient, Rng};
use edgetune::nn::network::{LayerRanges, Network};
use edgetune::nn::{Init, Scalar};
use edgetune::optim::Adam;
use fixed::types::I16F16;

macro_rules! net {
    ($name:ident, $c:ident $(($ck:literal))?, $n:ident $(($nk:literal))?, $p:ident $(($pk:literal))?,
     $d:ident $(($dk:literal))?, $h:ident $(($hk:literal))?) => {
        edgetune::cnn! {
            /// A conv (weights OHWI), a batch norm, a pointwise conv, a depthwise conv, a dense
            /// head: every kind of layer with parameters and both kernels' paths.
            struct $name {
                input [12, 3];
                conv1d(3, 6, 3, padding = same), relu, $c $(($ck))?;
                batch_norm(6), relu, $n $(($nk))?;
                conv1d(6, 8, 1), tanh, $p $(($pk))?;
                conv1d(8, 8, 3, groups = 8), relu, $d $(($dk))?;
                global_avg_pool;
                dense(8, 3), $h $(($hk))?;
                loss softmax_cross_entropy;
            }
        }
    };
}

net!(Full, train, train, train, train, train);
net!(Sparse, train(2), train(4), train(3), bias(5), train(2));
net!(SparseBias, bias(1), bias(6), frozen, train(8), bias(3));

/// Which torch-order positions a network trains: export a network whose trainable arena is NaN.
fn trained<N: Network<f64>>(mut net: N) -> Vec<bool> {
    net.trainable_mut().fill(f64::NAN);
    let mut all = vec![0.0; N::PARAMS];
    net.export(&mut all).unwrap();
    all.iter().map(|v| v.is_nan()).collect()
}

#[test]
fn the_first_channels_are_what_trains() {
    // conv: 2 of 6 filters (3·3 weights each) and 2 biases; batch norm: 4 scales, 4 shifts;
    // pointwise: 3 of 8 rows of 6 and 3 biases; depthwise: 5 biases; dense: 2 of 3 rows of 8
    // and 2 biases.
    assert_eq!(
        Sparse::<f32>::TRAINABLE,
        (2 * 9 + 2) + (4 + 4) + (3 * 6 + 3) + 5 + (2 * 8 + 2)
    );
    let t = trained(Sparse::<f64>::zeroed());
    let conv = 6 * 9 + 6;
    assert!(t[..18].iter().all(|&b| b) && t[18..54].iter().all(|&b| !b));
    assert!(t[54..56].iter().all(|&b| b) && t[56..conv].iter().all(|&b| !b));
    assert_eq!(
        <Sparse<f32> as Network<f32>>::layer_ranges(0),
        Some(LayerRanges {
            weights: Some(0..18),
            bias: Some(18..20)
        })
    );
    assert_eq!(
        <Sparse<f32> as Network<f32>>::layer_ranges(3),
        Some(LayerRanges {
            weights: None,
            bias: Some(49..54)
        })
    );
    // Adam's moments cover exactly the trainable elements.
    type A = Adam<f32, { Sparse::<f32>::TRAINABLE }>;
    assert_eq!(
        Sparse::<f32>::memory_plan::<A>(true).optimizer,
        core::mem::size_of::<A>()
    );
    assert_eq!(
        Sparse::<f32>::TRAIN_BYTES,
        core::mem::size_of::<Sparse<f32>>()
    );
}

fn grads_at<S: Scalar, N: Network<S, Target = usize>>(
    mut net: N,
    all: &[S],
    xs: &[Vec<S>],
) -> Vec<S> {
    net.import(all).unwrap();
    for (i, x) in xs.iter().enumerate() {
        net.accumulate(x, &(i % 3)).unwrap();
    }
    net.grads().to_vec()
}

/// The sparse networks' gradients are the full network's, restricted, bit for bit, in f64,
/// f32 and I16F16.
#[test]
fn sparse_gradients_are_the_full_ones_bit_for_bit() {
    fn run<S: Scalar>() {
        let mut rng = Rng(17);
        let all: Vec<S> = rng
            .vec(Full::<f64>::PARAMS, 0.5)
            .iter()
            .map(|&v| S::from_f64(v + 0.0))
            .collect();
        let xs: Vec<Vec<S>> = (0..4)
            .map(|_| rng.vec(36, 1.0).iter().map(|&v| S::from_f64(v)).collect())
            .collect();
        let full = grads_at(Full::<S>::zeroed(), &all, &xs);
        for (positions, grads) in [
            (
                trained(Sparse::<f64>::zeroed()),
                grads_at(Sparse::<S>::zeroed(), &all, &xs),
            ),
            (
                trained(SparseBias::<f64>::zeroed()),
                grads_at(SparseBias::<S>::zeroed(), &all, &xs),
            ),
        ] {
            let expected: Vec<S> = positions
                .iter()
                .zip(&full)
                .filter(|(t, _)| **t)
                .map(|(_, g)| *g)
                .collect();
            assert_eq!(grads, expected);
            assert!(grads.iter().any(|g| g.to_f64() != 0.0));
        }
    }
    run::<f64>();
    run::<f32>();
    run::<I16F16>();
}

/// Finite differences of the sparse network's own loss (tolerance as in tests/cnn_network.rs).
/// Random parameters: with torch's initialisation (shift 0) the batch norm would pass the
/// exact zeros of the ReLU before it to the ReLU after it, a kink.
#[test]
fn sparse_gradients_match_finite_differences() {
    let mut net = Sparse::<f64>::zeroed();
    net.import(&Rng(5).vec(Sparse::<f64>::PARAMS, 0.5)).unwrap();
    let x = Rng(3).vec(36, 1.0);
    net.accumulate(&x[..].try_into().unwrap(), 1).unwrap();
    let analytic = net.grads().to_vec();
    let numeric = numeric_gradient(
        &|p| {
            let mut n = net.clone();
            n.trainable_mut().copy_from_slice(p);
            n.loss(&x[..].try_into().unwrap(), 1).unwrap()
        },
        net.trainable(),
    );
    assert_gradient("Sparse", &analytic, &numeric);
}

/// Initialisation draws every parameter in torch order whatever trains, so a sparse network
/// starts where the full one does.
#[test]
fn sparse_init_is_the_full_init() {
    let (mut a, mut b) = (Full::<f32>::zeroed(), Sparse::<f32>::zeroed());
    a.init(Init::TorchDefault, 9).unwrap();
    b.init(Init::TorchDefault, 9).unwrap();
    let (mut pa, mut pb) = (
        vec![0.0; Full::<f32>::PARAMS],
        vec![0.0; Full::<f32>::PARAMS],
    );
    a.export(&mut pa).unwrap();
    b.export(&mut pb).unwrap();
    assert_eq!(pa, pb);
}
