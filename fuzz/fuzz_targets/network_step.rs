//! A training step of an `mlp!` network (forward, loss, backward, optimizer step) on arbitrary
//! weights, inputs and labels, in `f32` and I16F16.
//!
//! Invariants: no panic; an invalid label or a rejected step changes nothing (gradients,
//! parameters and optimizer state compared bit for bit).
#![no_main]

use edgetune::num::fixed::I16F16;
use edgetune::optim::{Adam, AdamConfig, Optimizer};
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

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    if b.bool() {
        let init: [f32; P] = core::array::from_fn(|_| f32::from_bits(b.u32()));
        let mut net = Net::<f32>::zeroed();
        net.import(&init).unwrap();
        let mut opt = Adam::<f32, T>::new(AdamConfig::adam(0.01)).unwrap();
        for _ in 0..2 {
            let x: [f32; 3] = core::array::from_fn(|_| f32::from_bits(b.u32()));
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
    } else {
        let init: [I16F16; P] = core::array::from_fn(|_| I16F16::from_bits(b.u32() as i32 >> 8));
        let mut net = Net::<I16F16>::zeroed();
        net.import(&init).unwrap();
        let mut opt = Adam::<I16F16, T>::new(AdamConfig::adam(0.01)).unwrap();
        for _ in 0..2 {
            let x: [I16F16; 3] = core::array::from_fn(|_| I16F16::from_bits(b.u32() as i32));
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
    }
});
