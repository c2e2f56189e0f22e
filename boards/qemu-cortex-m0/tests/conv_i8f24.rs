//! On-target convolution tests on the Cortex-M0 (QEMU microbit), I8F24 part: the cases of
//! `conv_f32.rs` (conv1d, conv2d, depthwise conv2d forward and backward, three `cnn!` training
//! steps) in I8F24, every output word bit-identical to the host's results
//! (`boards/common-data/target_expect.rs`): integer arithmetic, exact 64-bit accumulation,
//! integer-only tanh and sigmoid. `conv_i16f16.rs` runs the other fixed-point format.
#![no_std]
#![no_main]

// The test lists and helpers shared by both QEMU boards, with `cases`, `check` and `expect`.
#[path = "../../tools/target-expect/src/target_tests.rs"]
#[macro_use]
mod target_tests;

conv_tests!(I8F24);
