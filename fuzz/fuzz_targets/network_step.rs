//! A training step of an `mlp!` network on arbitrary weights, inputs and labels, in `f32` and
//! I16F16: first the low-level path (accumulate, then the optimizer's step), then a mini-batch
//! of two samples through `Trainer::step_batch`.
//!
//! Invariants: no panic; an invalid label or a rejected step changes nothing (gradients,
//! parameters and optimizer state compared bit for bit); a batch the trainer refuses leaves
//! parameters and optimizer state as they were.
#![no_main]

use edgetune::checkpoint::Checkpointable;
use edgetune::nn::Scalar;
use edgetune::num::fixed::I16F16;
use edgetune::optim::{Adam, AdamConfig, AdamNum, Optimizer};
use edgetune::train::Trainer;
use edgetune_fuzz::{words, Bytes};
use libfuzzer_sys::fuzz_target;

edgetune::mlp! {
    /// A small classifier.
    struct Net {
        dense 3 -> 4, relu;
        dense 4 -> 3;
        loss softmax_cross_entropy;
    }
}

const P: usize = Net::<f32>::PARAMS;
const T: usize = Net::<f32>::TRAINABLE;

/// The invariants at number type `S`; `weight` and `input` turn fuzz bytes into values.
fn check<S>(b: &mut Bytes<'_>, weight: fn(u32) -> S, input: fn(u32) -> S)
where
    S: Scalar + AdamNum,
    [S; T]: Checkpointable,
    Adam<S, T>: Checkpointable,
{
    let init: [S; P] = core::array::from_fn(|_| weight(b.u32()));
    let mut net = Net::<S>::zeroed();
    net.import(&init).unwrap();
    let mut opt = Adam::<S, T>::new(AdamConfig::adam(0.01)).unwrap();
    for _ in 0..2 {
        let x: [S; 3] = core::array::from_fn(|_| input(b.u32()));
        let label = usize::from(b.u8() % 4);
        let grads = words(net.grads());
        if net.accumulate(&x, label).is_err() {
            assert_eq!(
                words(net.grads()),
                grads,
                "a rejected sample changed gradients"
            );
        }
        let before = (words(net.trainable()), words(&opt));
        let (p, g) = net.trainable_and_grads();
        if opt.step(p, g).is_err() {
            assert_eq!((words(net.trainable()), words(&opt)), before);
        }
        net.zero_grad();
    }
    let batch: [([S; 3], usize); 2] = core::array::from_fn(|_| {
        (
            core::array::from_fn(|_| input(b.u32())),
            usize::from(b.u8() % 4),
        )
    });
    let mut trainer = Trainer::new(opt);
    let before = (words(net.trainable()), words(trainer.optimizer()));
    if trainer.step_batch(&mut net, &batch).is_err() {
        assert_eq!(
            (words(net.trainable()), words(trainer.optimizer())),
            before,
            "a refused batch changed parameters or optimizer state"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    if b.bool() {
        check::<f32>(&mut b, f32::from_bits, f32::from_bits);
    } else {
        check::<I16F16>(
            &mut b,
            |w| I16F16::from_bits(w as i32 >> 8),
            |x| I16F16::from_bits(x as i32),
        );
    }
});
