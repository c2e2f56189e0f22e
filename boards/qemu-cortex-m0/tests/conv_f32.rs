//! On-target convolution tests on the Cortex-M0 (QEMU microbit, no FPU; f32 in soft-float), f32
//! part: conv1d (stride 2, padding 1), conv2d (stride (2, 1), SAME padding, 2 groups) and
//! depthwise conv2d (channel multiplier 2, padding 1), each one forward pass and two accumulated
//! backward passes (weight, bias and input gradients), and three training steps of a `cnn!`
//! network (strided SAME conv, batch norm, max pool, depthwise conv, average pool, pointwise conv,
//! global average pool, dense; Nesterov momentum): every output word against the host's results
//! (`boards/common-data/target_expect.rs`, from the same case code over the same input bits).
//! `conv_i16f16.rs` and `conv_i8f24.rs` run the same cases in fixed point: the three number types
//! in one binary overflow the microbit's 256 KiB of flash.
//!
//! f32: bound 0 ulp, as the layer tests (tests/layers.rs): only IEEE basic operations (never
//! fused), pure-Rust `libm` tanh/sigmoid/exp/log, and no square root (the network steps with
//! Nesterov momentum, not Adam).
#![no_std]
#![no_main]

// The test lists and helpers shared by both QEMU boards, with `cases`, `check` and `expect`.
#[path = "../../tools/target-expect/src/target_tests.rs"]
#[macro_use]
mod target_tests;

conv_tests!(f32);
