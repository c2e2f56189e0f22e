//! `update fused;`: each layer is stepped as soon as its gradient is complete, so the gradient
//! storage is the largest layer's, and the result is bit for bit `accumulate` then `step` on
//! the same sample, parameters and optimizer state, for floats and for fixed point with
//! stochastic rounding.

mod common;

use common::Rng;
use edgetune::nn::Scalar;
use edgetune::optim::{Adam, AdamConfig, Momentum, MomentumConfig, Optimizer};
use edgetune::Error;
use fixed::types::I16F16;

macro_rules! net {
    ($name:ident $($update:tt)*) => {
        edgetune::cnn! {
            /// Every kind of layer with parameters, one of them sparse.
            struct $name {
                input [12, 3];
                conv1d(3, 6, 3, padding = same), relu;
                batch_norm(6), relu, train(4);
                max_pool1d(2);
                conv1d(6, 8, 1), tanh, bias;
                conv1d(8, 8, 3, groups = 8), relu;
                global_avg_pool;
                dense(8, 3);
                $($update)*
                loss softmax_cross_entropy;
            }
        }
    };
}

net!(Accumulating);
net!(Fused update fused;);

const N: usize = Accumulating::<f32>::TRAINABLE;

/// `steps` samples, one optimizer step each, both ways; returns both trainable arenas and
/// optimizers.
fn both<S: Scalar, O: Optimizer<S, N> + Clone>(opt: O, steps: usize) -> ([S; N], [S; N], O, O) {
    let mut rng = Rng(23);
    let all: Vec<S> = rng
        .vec(Accumulating::<f64>::PARAMS, 0.5)
        .iter()
        .map(|&v| S::from_f64(v))
        .collect();
    let mut acc = Accumulating::<S>::zeroed();
    let mut fused = Fused::<S>::zeroed();
    acc.import(&all).unwrap();
    fused.import(&all).unwrap();
    let (mut oa, mut of) = (opt.clone(), opt);
    for i in 0..steps {
        let x: Vec<S> = rng.vec(36, 1.0).iter().map(|&v| S::from_f64(v)).collect();
        let x: &[S; 36] = x[..].try_into().unwrap();
        acc.zero_grad();
        let la = acc.accumulate(x, i % 3).unwrap();
        let (p, g) = acc.trainable_and_grads();
        oa.step(p, g).unwrap();
        let lf = fused.step(&mut of, x, i % 3).unwrap();
        assert_eq!(la, lf);
    }
    (*acc.trainable(), *fused.trainable(), oa, of)
}

#[test]
fn fused_steps_are_accumulate_then_step_bit_for_bit() {
    let (a, f, oa, of) = both::<f32, _>(Adam::<f32, N>::new(AdamConfig::adamw(1e-2)).unwrap(), 12);
    assert_eq!(a, f);
    assert_eq!(
        (oa.exp_avg(), oa.exp_avg_sq(), oa.step_count()),
        (of.exp_avg(), of.exp_avg_sq(), of.step_count())
    );
    let (a, f, oa, of) = both::<f64, _>(
        Momentum::<f64, N>::new(MomentumConfig::nesterov(0.05, 0.9)).unwrap(),
        12,
    );
    assert_eq!(a, f);
    assert_eq!(oa.momentum_buffer(), of.momentum_buffer());
    // Fixed point rounds stochastically: the parts draw exactly where the whole step would.
    let (a, f, oa, of) =
        both::<I16F16, _>(Adam::<I16F16, N>::new(AdamConfig::adam(1e-2)).unwrap(), 12);
    assert_eq!(a, f);
    assert_eq!(
        (oa.exp_avg(), oa.exp_avg_sq(), oa.aux()),
        (of.exp_avg(), of.exp_avg_sq(), of.aux())
    );
}

/// The gradient storage is the largest layer's trainable elements (the first convolution's
/// 6·3·3 + 6 = 60), not the network's.
#[test]
fn fused_gradient_storage_is_one_layer() {
    assert_eq!(Fused::<f32>::GRADS, 60);
    assert_eq!(Accumulating::<f32>::GRADS, N);
    assert_eq!(
        Fused::<f32>::TRAIN_BYTES,
        core::mem::size_of::<Fused<f32>>()
    );
    assert_eq!(
        Accumulating::<f32>::TRAIN_BYTES - Fused::<f32>::TRAIN_BYTES,
        (N - 60) * 4
    );
    type A = Adam<f32, N>;
    assert_eq!(Fused::<f32>::memory_plan::<A>(true).gradients, 60 * 4);
}

/// A gradient that is not finite stops the step at the first layer it reaches: nothing is
/// stepped, the error says so, and the parameters are as they were.
#[test]
fn a_non_finite_gradient_stops_the_fused_step() {
    let mut net = Fused::<f32>::zeroed();
    let mut all = Rng(2)
        .vec(Fused::<f64>::PARAMS, 0.5)
        .iter()
        .map(|&v| v as f32)
        .collect::<Vec<_>>();
    // The depthwise convolution's weights and biases (elements 128..160, after the first
    // convolution's 60, the batch norm's 12 and the pointwise convolution's 56) at f32::MAX:
    // its outputs overflow to +∞, the pooled features are ∞, and the logits and the head's
    // gradient NaN.
    for w in &mut all[128..160] {
        *w = f32::MAX;
    }
    net.import(&all).unwrap();
    let before = *net.trainable();
    let mut opt = Adam::<f32, N>::new(AdamConfig::adam(1e-2)).unwrap();
    let r = net.step(&mut opt, &[0.5; 36], 1);
    assert!(
        matches!(
            r,
            Err(Error::FusedStepStopped { layers: 0, .. }) | Err(Error::Nn(_))
        ),
        "{r:?}"
    );
    assert_eq!(*net.trainable(), before);
}
