//! Bad input at the network boundary: NaN, ±∞ (f32) and the saturated MIN/MAX (I16F16) in an
//! input or an MSE target are typed errors, and a failed mini-batch leaves parameters and
//! optimizer state bit for bit as they were.

use edgetune::nn::{Init, Network, NnError, Scalar};
use edgetune::optim::{Adam, AdamConfig};
use edgetune::train::Trainer;
use edgetune::{Error, ValueFault};
use fixed::types::I16F16;

edgetune::mlp! {
    struct Clf {
        dense 3 -> 4, relu;
        dense 4 -> 2;
        loss softmax_cross_entropy;
    }
}

edgetune::mlp! {
    struct Reg {
        dense 3 -> 4, tanh;
        dense 4 -> 2;
        loss mse;
    }
}

fn good<S: Scalar>(i: usize) -> [S; 3] {
    core::array::from_fn(|d| S::from_f64(((i * 3 + d) % 5) as f64 * 0.2 - 0.4))
}

/// One good batch, then for each bad value at each position: the batch fails with the expected
/// error and the network's parameters and the optimizer (Debug prints every field) are unchanged.
fn check<S: Scalar + edgetune::optim::AdamNum>(bad: &[(S, ValueFault)]) {
    let mut net = Clf::<S>::zeroed();
    net.init(Init::TorchDefault, 3).unwrap();
    let mut trainer =
        Trainer::new(Adam::<S, { Clf::<f32>::TRAINABLE }>::new(AdamConfig::adam(0.01)).unwrap());
    let batch: Vec<([S; 3], usize)> = (0..4).map(|i| (good(i), i % 2)).collect();
    trainer.step_batch(&mut net, &batch).unwrap();
    let snapshot = |net: &Clf<S>, t: &Trainer<_>| {
        (
            format!("{:?}", net.trainable()),
            format!("{:?}", t.optimizer()),
        )
    };
    let before = snapshot(&net, &trainer);
    for &(v, fault) in bad {
        for index in 0..3 {
            let mut b = batch.clone();
            b[2].0[index] = v;
            assert_eq!(
                trainer.step_batch(&mut net, &b),
                Err(Error::InvalidInput { index, fault })
            );
            assert_eq!(snapshot(&net, &trainer), before);
            // Inference refuses it too, instead of answering class 0.
            assert_eq!(
                net.predict(&b[2].0),
                Err(Error::InvalidInput { index, fault })
            );
            assert_eq!(
                net.loss(&b[2].0, 0),
                Err(Error::InvalidInput { index, fault })
            );
        }
    }
    // A label out of range stays NnError::LabelOutOfRange, nothing changed.
    let mut b = batch.clone();
    b[3].1 = 2;
    assert_eq!(
        trainer.step_batch(&mut net, &b),
        Err(Error::Nn(NnError::LabelOutOfRange {
            label: 2,
            classes: 2
        }))
    );
    // A wrong input length through the trait.
    assert_eq!(
        Network::predict(&net, &[S::ZERO; 2]),
        Err(Error::LengthMismatch {
            expected: 3,
            found: 2
        })
    );
    assert_eq!(snapshot(&net, &trainer), before);

    // MSE: a bad target element is InvalidTarget.
    let mut reg = Reg::<S>::zeroed();
    reg.init(Init::TorchDefault, 4).unwrap();
    let mut trainer =
        Trainer::new(Adam::<S, { Reg::<f32>::TRAINABLE }>::new(AdamConfig::adam(0.01)).unwrap());
    let batch: Vec<([S; 3], [S; 2])> = (0..4).map(|i| (good(i), [S::ZERO, S::ONE])).collect();
    trainer.step_batch(&mut reg, &batch).unwrap();
    let before = (
        format!("{:?}", reg.trainable()),
        format!("{:?}", trainer.optimizer()),
    );
    for &(v, fault) in bad {
        let mut b = batch.clone();
        b[1].1[1] = v;
        assert_eq!(
            trainer.step_batch(&mut reg, &b),
            Err(Error::InvalidTarget { index: 1, fault })
        );
        assert_eq!(
            (
                format!("{:?}", reg.trainable()),
                format!("{:?}", trainer.optimizer())
            ),
            before
        );
    }
}

#[test]
fn f32_nan_and_infinities_are_refused_and_change_nothing() {
    check::<f32>(&[
        (f32::NAN, ValueFault::NotFinite),
        (f32::INFINITY, ValueFault::NotFinite),
        (f32::NEG_INFINITY, ValueFault::NotFinite),
    ]);
}

#[test]
fn i16f16_saturated_values_are_refused_and_change_nothing() {
    // What a NaN or an out-of-range f64 becomes through from_f64.
    assert_eq!(
        <I16F16 as edgetune::num::Scalar>::saturating_from_f64(f64::NAN),
        I16F16::MAX
    );
    check::<I16F16>(&[
        (I16F16::MIN, ValueFault::OutOfRange),
        (I16F16::MAX, ValueFault::OutOfRange),
    ]);
}

#[test]
fn crafted_layer_specs_saturate_instead_of_panicking() {
    use edgetune::nn::network::{chain_ok, params, LayerSpec, Mode};
    let huge = LayerSpec {
        inputs: usize::MAX,
        outputs: 2,
        mode: Mode::Train,
    };
    assert_eq!(huge.weights(), usize::MAX);
    assert_eq!(huge.params(), usize::MAX);
    assert_eq!(params(&[huge, huge]), usize::MAX);
    assert!(!chain_ok(&[huge]));
    let mut out = [0.0f32; 4];
    assert!(edgetune::nn::init::fill(&[huge], Init::TorchDefault, 1, &mut out).is_err());
}
