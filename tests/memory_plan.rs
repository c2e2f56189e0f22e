//! The memory plan of a declared network is exact: with the frozen parameters in RAM its total
//! is `size_of` of the network plus `size_of` of the optimizer; with them in flash, the network
//! shrinks by exactly the frozen part (plus a pointer, rounded to its alignment). The floor
//! never exceeds the plan, and only the scratch can differ.

#![allow(dead_code)]

#[path = "../examples/memory/dscnn.rs"]
mod dscnn;

use core::mem::{align_of, size_of};
use dscnn::{
    BiasOnly, BnAffine, BnAffineFused, Full, FullFused, LastBlock, LastLayer, LastTwoBlocks,
    SparseTail, SparseTailFused,
};
use edgetune::optim::{Adam, Sgd};
use fixed::types::{I16F16, I4F12};

macro_rules! check {
    ($net:ident, $s:ty) => {{
        type A = Adam<$s, { $net::<$s>::TRAINABLE }>;
        type G = Sgd<$s, { $net::<$s>::TRAINABLE }>;
        type Flash = $net<$s, &'static [$s; $net::<$s>::FROZEN]>;
        for (opt, ram, flash, floor) in [
            (
                size_of::<A>(),
                $net::<$s>::memory_plan::<A>(true),
                $net::<$s>::memory_plan::<A>(false),
                $net::<$s>::memory_floor::<A>(true),
            ),
            (
                size_of::<G>(),
                $net::<$s>::memory_plan::<G>(true),
                $net::<$s>::memory_plan::<G>(false),
                $net::<$s>::memory_floor::<G>(true),
            ),
        ] {
            assert_eq!(ram.total(), size_of::<$net<$s>>() + opt, stringify!($net));
            let pointer = size_of::<&[$s; 1]>();
            assert_eq!(
                (flash.total() - opt + pointer).next_multiple_of(align_of::<Flash>()),
                size_of::<Flash>(),
                stringify!($net)
            );
            assert!(floor.total() <= ram.total());
            assert_eq!(
                (floor.frozen, floor.trainable, floor.optimizer),
                (ram.frozen, ram.trainable, ram.optimizer)
            );
            assert_eq!((floor.gradients, floor.kept), (ram.gradients, ram.kept));
            assert_eq!(ram.gradients, $net::<$s>::GRADS * size_of::<$s>());
        }
    }};
}

#[test]
fn every_ds_cnn_mode_plan_is_size_of() {
    check!(Full, f32);
    check!(LastLayer, f32);
    check!(LastBlock, f32);
    check!(LastTwoBlocks, I16F16);
    check!(BiasOnly, I16F16);
    check!(BnAffine, f32);
    check!(SparseTail, I16F16);
    check!(FullFused, f32);
    check!(BnAffineFused, I16F16);
    check!(SparseTailFused, f32);
    // 16-bit storage: every part in values is 2 bytes per value (the kept part keeps its
    // 4-byte alignment), the optimizer state stays 32-bit.
    check!(Full, I4F12);
    check!(LastLayer, I4F12);
    check!(BiasOnly, I4F12);
    check!(BnAffine, I4F12);
    check!(SparseTail, I4F12);
    check!(FullFused, I4F12);
    check!(BnAffineFused, I4F12);
}

/// I4F12 halves the parameters, gradients, kept activation values and scratch of f32 (not the
/// 1-bit masks), and leaves the optimizer state (Adam's moments, 8 bytes per trainable
/// parameter) as it is: DS-CNN Small, full, Adam, 966.3 → 576.5 KiB.
#[test]
fn i4f12_halves_every_part_but_the_optimizer() {
    type A32 = Adam<f32, { Full::<f32>::TRAINABLE }>;
    type A16 = Adam<I4F12, { Full::<f32>::TRAINABLE }>;
    let p32 = Full::<f32>::memory_plan::<A32>(false);
    let p16 = Full::<I4F12>::memory_plan::<A16>(false);
    assert_eq!(p16.trainable * 2, p32.trainable);
    assert_eq!(p16.gradients * 2, p32.gradients);
    assert_eq!(p16.scratch * 2, p32.scratch);
    // Kept values halve; the 1-bit ReLU masks do not: between half and all of f32's.
    assert!(p16.kept * 2 >= p32.kept && p16.kept < p32.kept);
    // The optimizer is I16F16's to the byte (f32's has no rounding state: 8 bytes less).
    type AI16 = Adam<I16F16, { Full::<f32>::TRAINABLE }>;
    assert_eq!(p16.optimizer, size_of::<AI16>());
    assert_eq!(size_of::<A16>(), size_of::<A32>() + 8);
}

/// DS-CNN Small's published shape: 23,756 parameters (batch norms as scale and shift),
/// 2,656,768 MACs; every activation map after the first layer is 8,000 values, so the two
/// scratch buffers are 8,000 each and the scratch is at its floor.
#[test]
fn ds_cnn_small_has_its_published_shape() {
    assert_eq!(Full::<f32>::PARAMS, 23_756);
    assert_eq!(Full::<f32>::MACS, 2_656_768);
    assert_eq!(Full::<f32>::SCRATCH, 8_000 + 8_000 + 12);
    let plan = Full::<f32>::memory_plan::<Sgd<f32, { Full::<f32>::TRAINABLE }>>(true);
    assert_eq!(
        plan.per_mille_of(&Full::<f32>::memory_floor::<
            Sgd<f32, { Full::<f32>::TRAINABLE }>,
        >(true)),
        1000
    );
}

#[path = "../examples/memory/dscnn_int8.rs"]
mod dscnn_int8;

macro_rules! check_int8 {
    ($net:ident, $head:ident, $backbone:expr, $s:ty) => {{
        type A = Adam<$s, { dscnn_int8::$head::<$s>::TRAINABLE }>;
        let plan =
            dscnn_int8::$net::<$s>::memory_plan(dscnn_int8::$head::<$s>::memory_plan::<A>(true));
        assert_eq!(
            plan.total(),
            size_of::<dscnn_int8::$net<$s>>() + size_of::<A>()
        );
        // Two int8 buffers at one byte per activation, the dequantised features, the descriptor.
        let b = $backbone;
        let descriptor = size_of::<edgetune::nn::int8::Backbone>();
        let unpadded = 2 * b.buffer_len() + b.output_len() * size_of::<$s>() + descriptor;
        assert!(plan.int8 >= unpadded && plan.int8 < unpadded + align_of::<$s>().max(8));
    }};
}

#[test]
fn an_int8_backbone_plan_is_size_of_and_counts_int8_at_one_byte() {
    check_int8!(Int8LastLayer, LastLayerHead, dscnn_int8::TO_POOL, f32);
    check_int8!(Int8LastLayer, LastLayerHead, dscnn_int8::TO_POOL, I16F16);
    check_int8!(Int8LastBlock, LastBlockHead, dscnn_int8::TO_BLOCK4, f32);
    check_int8!(Int8LastBlock, LastBlockHead, dscnn_int8::TO_BLOCK4, I16F16);
    assert_eq!(dscnn_int8::TO_POOL.buffer_len(), 25 * 5 * 64);
}
